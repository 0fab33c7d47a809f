// Ethernet II frame header (IEEE 802.3), as carried inside VXLAN (RFC 7348 §5).
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                 Destination MAC Address (48)                  |
//   +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                               |                               |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//   |                   Source MAC Address (48)                     |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |     EtherType / TPID (16)     |  (802.1Q: TCI, then EtherType)
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// An 802.1Q (0x8100) or 802.1ad (0x88A8) tag puts 4 more bytes before the real
// EtherType; weft never sends tagged frames and drops them on receive.

export const ETHERNET_HEADER_LENGTH = 14;
export const MAC_LENGTH = 6;

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_IPV6 = 0x86dd;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_QINQ = 0x88a8;

const DST = 0;
const SRC = 6;
const TYPE = 12;

export function etherType(b: Uint8Array, off: number): number {
  return (b[off + TYPE]! << 8) | b[off + TYPE + 1]!;
}

export function setEtherType(b: Uint8Array, off: number, type: number): void {
  b[off + TYPE] = type >>> 8;
  b[off + TYPE + 1] = type & 0xff;
}

/** True when the frame carries an 802.1Q or 802.1ad VLAN tag. */
export function isVlanTagged(b: Uint8Array, off: number): boolean {
  const t = etherType(b, off);
  return t === ETHERTYPE_VLAN || t === ETHERTYPE_QINQ;
}

/** The 12-bit VLAN id of a tagged frame (call only when isVlanTagged). */
export function vlanId(b: Uint8Array, off: number): number {
  return ((b[off + 14]! & 0x0f) << 8) | b[off + 15]!;
}

export function copyDst(b: Uint8Array, off: number, out: Uint8Array, outOff: number): void {
  for (let i = 0; i < MAC_LENGTH; i++) out[outOff + i] = b[off + DST + i]!;
}

export function copySrc(b: Uint8Array, off: number, out: Uint8Array, outOff: number): void {
  for (let i = 0; i < MAC_LENGTH; i++) out[outOff + i] = b[off + SRC + i]!;
}

export function setDst(b: Uint8Array, off: number, mac: Uint8Array, macOff: number): void {
  for (let i = 0; i < MAC_LENGTH; i++) b[off + DST + i] = mac[macOff + i]!;
}

export function setSrc(b: Uint8Array, off: number, mac: Uint8Array, macOff: number): void {
  for (let i = 0; i < MAC_LENGTH; i++) b[off + SRC + i] = mac[macOff + i]!;
}

/** Compares the destination MAC with mac[macOff, macOff+6) without allocating. */
export function dstEquals(b: Uint8Array, off: number, mac: Uint8Array, macOff: number): boolean {
  for (let i = 0; i < MAC_LENGTH; i++) if (b[off + DST + i] !== mac[macOff + i]) return false;
  return true;
}
