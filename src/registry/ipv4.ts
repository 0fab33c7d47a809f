// Just enough IPv4/CIDR handling for the registry. Private on purpose: the shared
// parser lives in native-free/addr.ts once merged; replace these then.
// Addresses are unsigned 32-bit numbers, as in the packet engine.

export interface Cidr4 {
  /** Network address, host bits cleared. */
  readonly ip: number;
  readonly len: number;
}

const OCTET = /^(0|[1-9][0-9]{0,2})$/;

/** Dotted quad to u32, or null. Like Go's net.ParseIP for IPv4: no leading zeros. */
export function parseIPv4(s: string): number | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  let n = 0;
  for (const p of parts) {
    if (!OCTET.test(p)) return null;
    const v = Number(p);
    if (v > 255) return null;
    n = n * 256 + v;
  }
  return n;
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

export function formatIPv4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export function maskOf(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
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
  return { ip: (ip & maskOf(len)) >>> 0, len };
}

export function formatCidr4(c: Cidr4): string {
  return `${formatIPv4(c.ip)}/${c.len}`;
}

export function overlaps(a: Cidr4, b: Cidr4): boolean {
  const m = maskOf(Math.min(a.len, b.len));
  return ((a.ip & m) >>> 0) === ((b.ip & m) >>> 0);
}

export function contains(net: Cidr4, ip: number): boolean {
  const m = maskOf(net.len);
  return ((net.ip & m) >>> 0) === ((ip & m) >>> 0);
}
