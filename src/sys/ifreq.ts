// struct ifreq (40 bytes on x86_64): char ifr_name[16], then a union at 16 holding
// short flags | int mtu | int ifindex | struct sockaddr. Used by TUNSETIFF and the
// SIOC* interface ioctls. Each call fills a fresh one: configuration is not a hot path.

import { InvalidArgumentError } from '../../native-free/errors.js';
import { IFNAMSIZ, IFREQ_SIZE, IFREQ_UNION } from './constants.js';
import { scratch } from './libc.js';

export interface Ifreq {
  buf: Uint8Array;
  view: DataView;
  ptr: number;
}

/**
 * Longer names would be cut silently by the kernel (it NUL-terminates at 15), so
 * they are refused here; any other bad name ('a/b', 'a b') is left to the kernel,
 * whose EINVAL becomes a SyscallError naming the call.
 */
export function checkIfName(name: string): void {
  const bytes = Buffer.byteLength(name);
  if (bytes === 0 || bytes >= IFNAMSIZ) {
    throw new InvalidArgumentError(`interface name ${JSON.stringify(name)} must be 1–${IFNAMSIZ - 1} bytes`);
  }
}

export function ifreq(name?: string): Ifreq {
  const r = scratch(IFREQ_SIZE);
  if (name !== undefined) {
    checkIfName(name);
    Buffer.from(r.buf.buffer).write(name, 0, 'utf8');
  }
  return r;
}

export function ifreqName(r: Ifreq): string {
  const end = r.buf.indexOf(0);
  return Buffer.from(r.buf.buffer, 0, end < 0 || end > IFNAMSIZ ? IFNAMSIZ : end).toString('utf8');
}

export const UNION = IFREQ_UNION;
