// struct sockaddr_in in raw memory: u16 family (host order), u16 port (big-endian),
// u32 address (big-endian), 8 bytes of zero. IPv4 addresses are unsigned 32-bit
// numbers as in native-free (10.244.0.1 = 0x0af40001); their text form is
// native-free/addr.ts's, the one IPv4 parser and formatter.
//
// struct sockaddr_in6 (28 bytes): u16 family (host order), u16 port (big-endian),
// u32 flowinfo (big-endian), the 16-byte address, u32 scope_id (host order: an
// interface index, only meaningful for link-local destinations). IPv6 addresses are
// 16 bytes in network order, read from and written to caller-owned buffers at an
// offset, so that the hot path allocates nothing; text goes through native-free/addr.ts
// (parseIPv6 / formatIPv6, RFC 4291 in, RFC 5952 out).

import { parseIPv4, parseIPv6 } from '../../native-free/addr.js';
import { InvalidArgumentError } from '../../native-free/errors.js';
import { AF_INET, AF_INET6, SOCKADDR_IN6_SIZE, SOCKADDR_IN_SIZE } from './constants.js';

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

/** The port of a sockaddr_in or sockaddr_in6 (same place in both). */
export function sockaddrPort(b: Uint8Array, off: number): number {
  return (b[off + 2]! << 8) | b[off + 3]!;
}

/** sa_family of the sockaddr at off: AF_INET (2), AF_INET6 (10), ... */
export function sockaddrFamily(b: Uint8Array, off: number): number {
  return b[off]! | (b[off + 1]! << 8);
}

/**
 * Writes a sockaddr_in6 for addr[addrOff, addrOff+16) and port at b[off, off+28).
 * flowinfo (the 20-bit flow label and traffic class; 0 lets the kernel choose) and
 * scopeId (an ifindex, needed only for link-local destinations) default to 0.
 * No allocation, no range check beyond the typed array's own (callers own both buffers).
 */
export function writeSockaddrIn6(
  b: Uint8Array,
  off: number,
  addr: Uint8Array,
  addrOff: number,
  port: number,
  flowinfo = 0,
  scopeId = 0,
): void {
  b[off] = AF_INET6; // little-endian u16
  b[off + 1] = 0;
  b[off + 2] = port >>> 8;
  b[off + 3] = port & 0xff;
  b[off + 4] = flowinfo >>> 24;
  b[off + 5] = (flowinfo >>> 16) & 0xff;
  b[off + 6] = (flowinfo >>> 8) & 0xff;
  b[off + 7] = flowinfo & 0xff;
  for (let k = 0; k < 16; k++) b[off + 8 + k] = addr[addrOff + k]!;
  b[off + 24] = scopeId & 0xff;
  b[off + 25] = (scopeId >>> 8) & 0xff;
  b[off + 26] = (scopeId >>> 16) & 0xff;
  b[off + 27] = scopeId >>> 24;
}

/** Copies the 16 address bytes of the sockaddr_in6 at b[off] to dst[dstOff, dstOff+16). */
export function sockaddr6Addr(b: Uint8Array, off: number, dst: Uint8Array, dstOff: number): void {
  for (let k = 0; k < 16; k++) dst[dstOff + k] = b[off + 8 + k]!;
}

/** True when the sockaddr_in6 at b[off] holds addr[addrOff, addrOff+16): compares in place. */
export function sockaddr6AddrEquals(b: Uint8Array, off: number, addr: Uint8Array, addrOff: number): boolean {
  for (let k = 0; k < 16; k++) if (b[off + 8 + k] !== addr[addrOff + k]) return false;
  return true;
}

export function sockaddr6FlowInfo(b: Uint8Array, off: number): number {
  return ((b[off + 4]! << 24) | (b[off + 5]! << 16) | (b[off + 6]! << 8) | b[off + 7]!) >>> 0;
}

export function sockaddr6ScopeId(b: Uint8Array, off: number): number {
  return (b[off + 24]! | (b[off + 25]! << 8) | (b[off + 26]! << 16) | (b[off + 27]! << 24)) >>> 0;
}

/** The size of a sockaddr of this family: 16 for 4, 28 for 6. */
export function sockaddrSize(family: 4 | 6): number {
  return family === 6 ? SOCKADDR_IN6_SIZE : SOCKADDR_IN_SIZE;
}

/** Accepts 0x0af40001 or "10.244.0.1". */
export function toAddr(a: number | string): number {
  if (typeof a === 'string') return parseIPv4(a);
  if (!Number.isInteger(a) || a < 0 || a > 0xffffffff) {
    throw new InvalidArgumentError(`not an IPv4 address: ${a}`);
  }
  return a;
}

/**
 * Accepts "fd00:198:51:100::1" (RFC 4291 text, no zone) or 16 bytes; returns 16 bytes
 * (a fresh copy either way: configuration side, not per packet).
 */
export function toAddr6(a: string | Uint8Array): Uint8Array {
  if (typeof a === 'string') return parseIPv6(a);
  if (!(a instanceof Uint8Array) || a.length !== 16) {
    throw new InvalidArgumentError(`not an IPv6 address: expected text or 16 bytes, got ${a instanceof Uint8Array ? `${a.length} bytes` : String(a)}`);
  }
  return Uint8Array.from(a);
}

export function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidArgumentError(`not a UDP port: ${port}`);
  }
}
