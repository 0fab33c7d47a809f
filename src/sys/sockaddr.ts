// struct sockaddr_in in raw memory: u16 family (host order), u16 port (big-endian),
// u32 address (big-endian), 8 bytes of zero. IPv4 addresses are unsigned 32-bit
// numbers as in native-free (10.244.0.1 = 0x0af40001); their text form is
// native-free/addr.ts's, the one IPv4 parser and formatter.

import { parseIPv4 } from '../../native-free/addr.js';
import { InvalidArgumentError } from '../../native-free/errors.js';
import { AF_INET, SOCKADDR_IN_SIZE } from './constants.js';

export function writeSockaddrIn(b: Uint8Array, off: number, addr: number, port: number): void {
  b[off] = AF_INET; // little-endian u16
  b[off + 1] = 0;
  b[off + 2] = port >>> 8;
  b[off + 3] = port & 0xff;
  b[off + 4] = addr >>> 24;
  b[off + 5] = (addr >>> 16) & 0xff;
  b[off + 6] = (addr >>> 8) & 0xff;
  b[off + 7] = addr & 0xff;
  b.fill(0, off + 8, off + SOCKADDR_IN_SIZE);
}

export function sockaddrAddr(b: Uint8Array, off: number): number {
  return ((b[off + 4]! << 24) | (b[off + 5]! << 16) | (b[off + 6]! << 8) | b[off + 7]!) >>> 0;
}

export function sockaddrPort(b: Uint8Array, off: number): number {
  return (b[off + 2]! << 8) | b[off + 3]!;
}

/** Accepts 0x0af40001 or "10.244.0.1". */
export function toAddr(a: number | string): number {
  if (typeof a === 'string') return parseIPv4(a);
  if (!Number.isInteger(a) || a < 0 || a > 0xffffffff) {
    throw new InvalidArgumentError(`not an IPv4 address: ${a}`);
  }
  return a;
}

export function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidArgumentError(`not a UDP port: ${port}`);
  }
}
