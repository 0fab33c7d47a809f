// The registry's view of IPv6, the counterpart of ipv4.ts: values another node
// wrote (a lease key, PublicIPv6, an annotation, IPv6Network) are data, so these
// answer null instead of throwing. The text forms are native-free/addr.ts's
// (RFC 4291 in, RFC 5952 out — what Go's net.IP.String() prints, and so what
// flannel puts in keys and JSON: pkg/ip/ip6net.go IP6.String). Addresses are
// 128-bit unsigned bigints here, as flannel's IP6 is a big.Int: allocation walks
// them (pkg/subnet/etcd/local_manager.go allocateSubnet, IP6Net.Next).
//
// One difference in text, outside what weft accepts: flannel's IP6.ToIP builds the
// net.IP from big.Int.Bytes(), so an address below 2^32 (and Go's net.IP.String
// for ::ffff:0:0/96) prints as a dotted quad. IPv6Network must lie in fc00::/7 or
// 2000::/3 (config.ts) and PublicIPv6 be global or unique-local (lease admission),
// where both spellings agree.
import { formatIPv6 as formatIPv6Bytes, parseIPv6 as parseIPv6Bytes, tryParseIPv4 } from '../../native-free/addr.js';

export interface Cidr6 {
  /** Network address, host bits cleared. */
  readonly ip: bigint;
  readonly len: number;
}

const ALL = (1n << 128n) - 1n;

/** IPv6 text to a 128-bit number, or null (IPv4 text is not IPv6). */
export function parseIPv6(s: string): bigint | null {
  if (typeof s !== 'string' || !s.includes(':')) return null;
  let b: Uint8Array;
  try {
    b = parseIPv6Bytes(s);
  } catch {
    return null;
  }
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v;
}

export function formatIPv6(ip: bigint): string {
  const b = new Uint8Array(16);
  let v = ip & ALL;
  for (let i = 15; i >= 0; i--) {
    b[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return formatIPv6Bytes(b);
}

export function maskOf6(len: number): bigint {
  return len === 0 ? 0n : (ALL << BigInt(128 - len)) & ALL;
}

/** Number of addresses in a /len. */
export function sizeOf6(len: number): bigint {
  return 1n << BigInt(128 - len);
}

/**
 * "addr/len" to a Cidr6 with host bits cleared (as Go's net.ParseCIDR does for
 * IPv6Network), or null. An IPv4 CIDR is not one.
 */
export function parseCidr6(s: string): Cidr6 | null {
  if (typeof s !== 'string') return null;
  const slash = s.indexOf('/');
  if (slash < 0) return null;
  const ip = parseIPv6(s.slice(0, slash));
  const lenText = s.slice(slash + 1);
  if (ip === null || !/^(0|[1-9][0-9]{0,2})$/.test(lenText)) return null;
  const len = Number(lenText);
  if (len > 128) return null;
  return { ip: ip & maskOf6(len), len };
}

export function formatCidr6(c: Cidr6): string {
  return `${formatIPv6(c.ip)}/${c.len}`;
}

/** The canonical text of a subnet someone else wrote, or null when it is not canonical (host bits, "0::", upper case…). */
export function canonicalCidr6(s: string): Cidr6 | null {
  const c = parseCidr6(s);
  return c !== null && formatCidr6(c) === s ? c : null;
}

export function overlaps6(a: Cidr6, b: Cidr6): boolean {
  const m = maskOf6(Math.min(a.len, b.len));
  return (a.ip & m) === (b.ip & m);
}

export function contains6(net: Cidr6, ip: bigint): boolean {
  const m = maskOf6(net.len);
  return (net.ip & m) === (ip & m);
}

/**
 * An address a node can be reached at over IPv6: global unicast (2000::/3) or
 * unique-local (fc00::/7, RFC 4193), the two kinds weft's interface selection
 * takes for PublicIPv6 (src/daemon/iface-select.ts). Not ::, loopback, v4-mapped,
 * link-local (fe80::/10: needs a zone, meaningless in a lease), multicast.
 */
export function isUnicastIPv6(s: string): boolean {
  const ip = parseIPv6(s);
  if (ip === null) return false;
  const top = Number(ip >> 120n);
  return (top & 0xe0) === 0x20 || (top & 0xfe) === 0xfc;
}

/** True when the text is an IPv4 dotted quad (a PodCIDR/annotation family check). */
export function looksIPv4(s: string): boolean {
  return tryParseIPv4(s) >= 0;
}
