// The registry's view of IPv4: a lease, annotation or config value another
// node wrote is data, not a flag, so these answer null instead of throwing and
// the caller says which field was wrong. The text forms are native-free/addr.ts's
// (the one IPv4 parser: four decimal octets, no leading zeros, as Go's
// net.ParseIP that flannel uses). Addresses are unsigned 32-bit numbers.
import { formatIPv4, ipv4Netmask, tryParseIPv4 } from '../../native-free/addr.js';

export { formatIPv4, ipv4Netmask as maskOf };

export interface Cidr4 {
  /** Network address, host bits cleared. */
  readonly ip: number;
  readonly len: number;
}

/** Dotted quad to u32, or null. */
export function parseIPv4(s: string): number | null {
  const v = typeof s === 'string' ? tryParseIPv4(s) : -1;
  return v < 0 ? null : v;
}

/**
 * An address a node can be reached at: not 0.0.0.0/8 ("this network"), loopback
 * (127/8), link-local (169.254/16), multicast or reserved (224/3, broadcast included).
 */
export function isUnicastIPv4(s: string): boolean {
  const n = parseIPv4(s);
  if (n === null) return false;
  const a = n >>> 24;
  return a !== 0 && a !== 127 && a < 224 && n >>> 16 !== 0xa9fe;
}

/** Number of addresses in a /len. */
export function sizeOf(len: number): number {
  return 2 ** (32 - len);
}

/**
 * "a.b.c.d/len" to a Cidr4 with host bits cleared (as Go's net.ParseCIDR does,
 * which flannel uses for Network and the subnet file), or null.
 */
export function parseCidr4(s: string): Cidr4 | null {
  const slash = s.indexOf('/');
  if (slash < 0) return null;
  const ip = parseIPv4(s.slice(0, slash));
  const lenText = s.slice(slash + 1);
  if (ip === null || !/^(0|[1-9][0-9]?)$/.test(lenText)) return null;
  const len = Number(lenText);
  if (len > 32) return null;
  return { ip: (ip & ipv4Netmask(len)) >>> 0, len };
}

export function formatCidr4(c: Cidr4): string {
  return `${formatIPv4(c.ip)}/${c.len}`;
}

export function overlaps(a: Cidr4, b: Cidr4): boolean {
  const m = ipv4Netmask(Math.min(a.len, b.len));
  return ((a.ip & m) >>> 0) === ((b.ip & m) >>> 0);
}

export function contains(net: Cidr4, ip: number): boolean {
  const m = ipv4Netmask(net.len);
  return ((net.ip & m) >>> 0) === ((ip & m) >>> 0);
}
