// VXLAN header (RFC 7348 §5).
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |R|R|R|R|I|R|R|R|            Reserved                           |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                VXLAN Network Identifier (VNI) |   Reserved    |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The I flag must be 1 for a valid VNI. Reserved fields "MUST be set to zero
// on transmission and ignored on receipt" (§5): weft checks only I and the VNI.
// IANA port 4789; Linux's own default is 8472 (what flannel gets with Port 0).

export const VXLAN_HEADER_LENGTH = 8;
export const VXLAN_PORT = 4789;
export const VNI_MAX = 0xffffff;

const FLAGS = 0;
const VNI = 4;
const FLAG_I = 0x08;

/** The flags byte (only I is defined). */
export function vxlanFlags(b: Uint8Array, off: number): number {
  return b[off + FLAGS]!;
}

export function hasValidVniFlag(b: Uint8Array, off: number): boolean {
  return (b[off + FLAGS]! & FLAG_I) !== 0;
}

export function vni(b: Uint8Array, off: number): number {
  return (b[off + VNI]! << 16) | (b[off + VNI + 1]! << 8) | b[off + VNI + 2]!;
}

/** Writes the header with the I flag, the VNI and every reserved bit zero. */
export function writeVxlanHeader(b: Uint8Array, off: number, id: number): void {
  b[off + FLAGS] = FLAG_I;
  b[off + 1] = 0;
  b[off + 2] = 0;
  b[off + 3] = 0;
  b[off + VNI] = id >>> 16;
  b[off + VNI + 1] = (id >>> 8) & 0xff;
  b[off + VNI + 2] = id & 0xff;
  b[off + 7] = 0;
}
