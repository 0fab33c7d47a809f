// Address text: IPv4 dotted quads, IPv6 (RFC 4291 §2.2 in, RFC 5952 out),
// CIDR prefixes and MAC addresses.
//
// This is configuration-side code (CLI flags, etcd leases, peer announcements):
// it may allocate, and every malformed input throws InvalidArgumentError quoting
// the text, so an operator sees which value was wrong. The hot path never parses
// text: it works on the u32 / byte forms produced here.

import { InvalidArgumentError } from './errors.js';

export type Cidr =
  | { family: 4; addr: number; len: number }
  | { family: 6; addr: Uint8Array; len: number };

function quote(text: unknown): string {
  return typeof text === 'string' ? JSON.stringify(text) : String(text);
}

function requireString(text: unknown, what: string): string {
  if (typeof text !== 'string') throw new InvalidArgumentError(`invalid ${what} ${quote(text)}: not a string`);
  return text;
}

// Decimal with no sign, no leading zero (so "010" is not silently read as 10 or 8).
function parseDecimal(s: string, max: number): number {
  if (s.length === 0 || s.length > 3 || (s.length > 1 && s[0] === '0')) return -1;
  let v = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v <= max ? v : -1;
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  if (l >= 97 && l <= 102) return l - 87;
  return -1;
}

// ---- IPv4 ----

/** "10.244.1.0" → 0x0af40100 (unsigned). Exactly four decimal octets. */
export function parseIPv4(text: string): number {
  const t = requireString(text, 'IPv4 address');
  const v = tryParseIPv4(t);
  if (v < 0) throw new InvalidArgumentError(`invalid IPv4 address ${quote(t)}: expected four decimal octets 0-255 like "10.244.1.0"`);
  return v;
}

/** The u32, or -1 when the text is not a dotted quad (for callers that answer null, not throw). */
export function tryParseIPv4(t: string): number {
  const parts = t.split('.');
  if (parts.length !== 4) return -1;
  let v = 0;
  for (const p of parts) {
    const o = parseDecimal(p, 255);
    if (o < 0) return -1;
    v = v * 256 + o;
  }
  return v;
}

export function formatIPv4(addr: number): string {
  if (!Number.isInteger(addr) || addr < -0x80000000 || addr > 0xffffffff) {
    throw new InvalidArgumentError(`invalid IPv4 address value ${quote(addr)}: expected a 32-bit integer`);
  }
  const a = addr >>> 0;
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/** The netmask of a prefix length 0..32 as a u32 (len 0 → 0). */
export function ipv4Netmask(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

// ---- IPv6 ----

/** RFC 4291 §2.2 text (incl. "::" and an embedded dotted-quad tail) → 16 bytes. */
export function parseIPv6(text: string): Uint8Array {
  const t = requireString(text, 'IPv6 address');
  const out = new Uint8Array(16);
  const why = fillIPv6(t, out);
  if (why !== '') throw new InvalidArgumentError(`invalid IPv6 address ${quote(t)}: ${why}`);
  return out;
}

// Returns '' on success, else the reason. The groups before "::" fill the
// address from the left, the groups after it from the right.
function fillIPv6(t: string, out: Uint8Array): string {
  if (t.includes('%')) return 'zone indices (%...) are not supported';
  const dbl = t.indexOf('::');
  if (dbl !== -1 && t.indexOf('::', dbl + 1) !== -1) return '"::" may appear only once';
  const head: number[] = [];
  const whyHead = parseWords(dbl === -1 ? t : t.slice(0, dbl), head, dbl === -1);
  if (whyHead !== '') return whyHead;
  if (dbl === -1) {
    if (head.length !== 8) return `expected 8 groups, got ${head.length}`;
    head.forEach((w, i) => writeWord(out, i, w));
    return '';
  }
  const tail: number[] = [];
  const whyTail = parseWords(t.slice(dbl + 2), tail, true);
  if (whyTail !== '') return whyTail;
  if (head.length + tail.length > 7) return 'too many groups around "::"';
  head.forEach((w, i) => writeWord(out, i, w));
  tail.forEach((w, i) => writeWord(out, 8 - tail.length + i, w));
  return '';
}

// Colon-separated groups → 16-bit words; a dotted quad counts as two words and
// is allowed only as the very last group of the address.
function parseWords(s: string, words: number[], endsAddress: boolean): string {
  if (s === '') return '';
  const groups = s.split(':');
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i]!;
    if (g.includes('.')) {
      if (!endsAddress || i !== groups.length - 1) return 'an embedded IPv4 address must come last';
      const v4 = tryParseIPv4(g);
      if (v4 < 0) return `bad embedded IPv4 address "${g}"`;
      words.push(v4 >>> 16, v4 & 0xffff);
      continue;
    }
    const w = parseGroup(g);
    if (w < 0) return g === '' ? 'empty group' : `bad group "${g}" (1-4 hex digits)`;
    words.push(w);
  }
  return '';
}

function parseGroup(g: string): number {
  if (g.length === 0 || g.length > 4) return -1;
  let v = 0;
  for (let i = 0; i < g.length; i++) {
    const d = hexDigit(g.charCodeAt(i));
    if (d < 0) return -1;
    v = (v << 4) | d;
  }
  return v;
}

function writeWord(out: Uint8Array, i: number, w: number): void {
  out[2 * i] = w >>> 8;
  out[2 * i + 1] = w & 0xff;
}

function requireBytes(b: unknown, n: number, what: string): Uint8Array {
  if (!(b instanceof Uint8Array) || b.length !== n) {
    const got = b instanceof Uint8Array ? `${b.length} bytes` : quote(b);
    throw new InvalidArgumentError(`invalid ${what}: expected ${n} bytes, got ${got}`);
  }
  return b;
}

/** RFC 5952 canonical text: lowercase, no leading zeros, longest zero run (≥ 2 groups, first on a tie) as "::". */
export function formatIPv6(bytes: Uint8Array): string {
  const b = requireBytes(bytes, 16, 'IPv6 address');
  if (isV4Mapped(b)) return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((b[2 * i]! << 8) | b[2 * i + 1]!);
  let runAt = -1;
  let runLen = 1; // a single zero group is never compressed (RFC 5952 §4.2.2)
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > runLen) {
      runAt = i;
      runLen = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  const hex = (ws: number[]): string => ws.map((x) => x.toString(16)).join(':');
  if (runAt < 0) return hex(w);
  return `${hex(w.slice(0, runAt))}::${hex(w.slice(runAt + runLen))}`;
}

// RFC 5952 §5: IPv4-mapped addresses (::ffff:0:0/96) keep the dotted quad.
function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/** True when `bytes` has a one bit after the first `len` bits. */
export function ipv6HasHostBits(bytes: Uint8Array, len: number): boolean {
  for (let i = 0; i < 16; i++) {
    const keep = len >= 8 * (i + 1) ? 8 : Math.max(0, len - 8 * i);
    const hostMask = 0xff >>> keep;
    if ((bytes[i]! & hostMask) !== 0) return true;
  }
  return false;
}

/** A copy of `bytes` with every bit after the first `len` cleared. */
export function ipv6Mask(bytes: Uint8Array, len: number): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) {
    const keep = len >= 8 * (i + 1) ? 8 : Math.max(0, len - 8 * i);
    out[i] = bytes[i]! & ((0xff00 >>> keep) & 0xff);
  }
  return out;
}

// ---- CIDR ----

/** "10.244.1.0/24" or "fd00:10:244::/56". Host bits set → error naming the network meant. */
export function parseCidr(text: string): Cidr {
  const t = requireString(text, 'CIDR prefix');
  const slash = t.indexOf('/');
  if (slash < 0 || slash !== t.lastIndexOf('/')) {
    throw new InvalidArgumentError(`invalid CIDR prefix ${quote(t)}: expected address/length like "10.244.1.0/24"`);
  }
  const addrText = t.slice(0, slash);
  const v6 = addrText.includes(':');
  const max = v6 ? 128 : 32;
  const len = parseDecimal(t.slice(slash + 1), max);
  if (len < 0) throw new InvalidArgumentError(`invalid CIDR prefix ${quote(t)}: length must be a decimal 0-${max}`);
  return v6 ? cidr6(t, addrText, len) : cidr4(t, addrText, len);
}

function cidr4(t: string, addrText: string, len: number): Cidr {
  const addr = tryParseIPv4(addrText);
  if (addr < 0) throw new InvalidArgumentError(`invalid CIDR prefix ${quote(t)}: bad IPv4 address`);
  const net = (addr & ipv4Netmask(len)) >>> 0;
  if (net !== addr) throw hostBits(t, `${formatIPv4(net)}/${len}`);
  return { family: 4, addr, len };
}

function cidr6(t: string, addrText: string, len: number): Cidr {
  const addr = new Uint8Array(16);
  const why = fillIPv6(addrText, addr);
  if (why !== '') throw new InvalidArgumentError(`invalid CIDR prefix ${quote(t)}: ${why}`);
  if (ipv6HasHostBits(addr, len)) throw hostBits(t, `${formatIPv6(ipv6Mask(addr, len))}/${len}`);
  return { family: 6, addr, len };
}

function hostBits(t: string, meant: string): InvalidArgumentError {
  return new InvalidArgumentError(`${t} has host bits set; did you mean ${meant}?`);
}

export function formatCidr(c: Cidr): string {
  return c.family === 4 ? `${formatIPv4(c.addr)}/${c.len}` : `${formatIPv6(c.addr)}/${c.len}`;
}

// ---- MAC ----

/** "aa:bb:cc:dd:ee:ff" (either case) → 6 bytes. */
export function parseMac(text: string): Uint8Array {
  const t = requireString(text, 'MAC address');
  const parts = t.split(':');
  const out = new Uint8Array(6);
  const ok = parts.length === 6 && parts.every((p, i) => {
    const v = p.length === 2 ? parseGroup(p) : -1;
    out[i] = v;
    return v >= 0;
  });
  if (!ok) throw new InvalidArgumentError(`invalid MAC address ${quote(t)}: expected six hex pairs like "aa:bb:cc:dd:ee:ff"`);
  return out;
}

/** Lowercase colon form of the 6 bytes at `off`. */
export function formatMac(bytes: Uint8Array, off = 0): string {
  if (!(bytes instanceof Uint8Array) || !Number.isInteger(off) || off < 0 || off + 6 > bytes.length) {
    throw new InvalidArgumentError(`invalid MAC address: expected 6 bytes at offset ${quote(off)}`);
  }
  let s = '';
  for (let i = 0; i < 6; i++) s += (i ? ':' : '') + bytes[off + i]!.toString(16).padStart(2, '0');
  return s;
}
