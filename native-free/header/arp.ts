// ARP for IPv4 over Ethernet (RFC 826).
//
// RFC 826 lists the packet's fields in order:
//
//   16.bit: (ar$hrd) Hardware address space (e.g., Ethernet, Packet Radio Net.)
//   16.bit: (ar$pro) Protocol address space.  For Ethernet hardware, this is
//                    from the set of type fields ether_typ$<protocol>.
//    8.bit: (ar$hln) byte length of each hardware address
//    8.bit: (ar$pln) byte length of each protocol address
//   16.bit: (ar$op)  opcode (ares_op$REQUEST | ares_op$REPLY)
//   nbytes: (ar$sha) Hardware address of sender of this packet, n from the
//                    ar$hln field.
//   mbytes: (ar$spa) Protocol address of sender of this packet, m from the
//                    ar$pln field.
//   nbytes: (ar$tha) Hardware address of target of this packet (if known).
//   mbytes: (ar$tpa) Protocol address of target.
//
// With Ethernet hardware (n = 6) and IPv4 protocol addresses (m = 4) that is
// 28 bytes, the only layout this module reads:
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |      Hardware Type (hrd)      |      Protocol Type (pro)      |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |  HW Len (hln) | Proto Len(pln)|         Operation (op)        |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |            Sender Hardware Address (sha), bytes 0-3           |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |     sha, bytes 4-5            | Sender Protocol Addr (spa) 0-1|
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |     spa, bytes 2-3            | Target Hardware Addr (tha) 0-1|
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                      tha, bytes 2-5                           |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                Target Protocol Address (tpa)                  |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// MAC addresses are copied into / out of a caller's Uint8Array at an offset
// (6 bytes); IPv4 addresses travel as unsigned 32-bit numbers.

/** Length of an ARP packet for IPv4 over Ethernet. */
export const ARP_LEN = 28;
/** Hardware type for Ethernet (ar$hrd). */
export const ARP_HARDWARE_ETHERNET = 1;
/** Protocol type for IPv4 (ar$pro), the IPv4 EtherType. */
export const ARP_PROTOCOL_IPV4 = 0x0800;
/** Hardware address length of Ethernet (ar$hln). */
export const ARP_ETHERNET_ADDR_LEN = 6;
/** Protocol address length of IPv4 (ar$pln). */
export const ARP_IPV4_ADDR_LEN = 4;
/** ares_op$REQUEST. */
export const ARP_OP_REQUEST = 1;
/** ares_op$REPLY. */
export const ARP_OP_REPLY = 2;

// validateArp reasons.
export const ARP_OK = 0;
/** Fewer than ARP_LEN bytes. */
export const ARP_TOO_SHORT = 1;
/** Hardware type is not Ethernet. */
export const ARP_BAD_HARDWARE_TYPE = 2;
/** Protocol type is not IPv4. */
export const ARP_BAD_PROTOCOL_TYPE = 3;
/** hln is not 6 or pln is not 4. */
export const ARP_BAD_ADDR_LEN = 4;
/** Operation is neither request nor reply. */
export const ARP_BAD_OP = 5;

const HARDWARE_TYPE = 0;
const PROTOCOL_TYPE = 2;
const HARDWARE_LEN = 4;
const PROTOCOL_LEN = 5;
const OP = 6;
const SENDER_MAC = 8;
const SENDER_IP = 14;
const TARGET_MAC = 18;
const TARGET_IP = 24;

/**
 * Checks an IPv4-over-Ethernet ARP packet of `len` bytes at `off` once; the
 * accessors trust the bytes afterwards. Returns ARP_OK or a reason.
 * Trailing bytes (Ethernet padding up to 60 bytes) are allowed.
 */
export function validateArp(b: Uint8Array, off: number, len: number): number {
  if (off < 0 || Math.min(len, b.length - off) < ARP_LEN) return ARP_TOO_SHORT;
  if (arpHardwareType(b, off) !== ARP_HARDWARE_ETHERNET) return ARP_BAD_HARDWARE_TYPE;
  if (arpProtocolType(b, off) !== ARP_PROTOCOL_IPV4) return ARP_BAD_PROTOCOL_TYPE;
  if (b[off + HARDWARE_LEN] !== ARP_ETHERNET_ADDR_LEN || b[off + PROTOCOL_LEN] !== ARP_IPV4_ADDR_LEN) {
    return ARP_BAD_ADDR_LEN;
  }
  const op = arpOp(b, off);
  if (op !== ARP_OP_REQUEST && op !== ARP_OP_REPLY) return ARP_BAD_OP;
  return ARP_OK;
}

export function arpHardwareType(b: Uint8Array, off: number): number {
  return (b[off + HARDWARE_TYPE]! << 8) | b[off + HARDWARE_TYPE + 1]!;
}

export function setArpHardwareType(b: Uint8Array, off: number, v: number): void {
  b[off + HARDWARE_TYPE] = v >>> 8;
  b[off + HARDWARE_TYPE + 1] = v;
}

export function arpProtocolType(b: Uint8Array, off: number): number {
  return (b[off + PROTOCOL_TYPE]! << 8) | b[off + PROTOCOL_TYPE + 1]!;
}

export function setArpProtocolType(b: Uint8Array, off: number, v: number): void {
  b[off + PROTOCOL_TYPE] = v >>> 8;
  b[off + PROTOCOL_TYPE + 1] = v;
}

export function arpHardwareLen(b: Uint8Array, off: number): number {
  return b[off + HARDWARE_LEN]!;
}

export function setArpHardwareLen(b: Uint8Array, off: number, v: number): void {
  b[off + HARDWARE_LEN] = v;
}

export function arpProtocolLen(b: Uint8Array, off: number): number {
  return b[off + PROTOCOL_LEN]!;
}

export function setArpProtocolLen(b: Uint8Array, off: number, v: number): void {
  b[off + PROTOCOL_LEN] = v;
}

/** Writes the fixed part for IPv4 over Ethernet: hrd 1, pro 0x0800, hln 6, pln 4. */
export function setArpIpv4OverEthernet(b: Uint8Array, off: number): void {
  setArpHardwareType(b, off, ARP_HARDWARE_ETHERNET);
  setArpProtocolType(b, off, ARP_PROTOCOL_IPV4);
  b[off + HARDWARE_LEN] = ARP_ETHERNET_ADDR_LEN;
  b[off + PROTOCOL_LEN] = ARP_IPV4_ADDR_LEN;
}

export function arpOp(b: Uint8Array, off: number): number {
  return (b[off + OP]! << 8) | b[off + OP + 1]!;
}

export function setArpOp(b: Uint8Array, off: number, v: number): void {
  b[off + OP] = v >>> 8;
  b[off + OP + 1] = v;
}

/** Copies the sender MAC (6 bytes) into `dst` at `dstOff`. */
export function arpSenderMac(b: Uint8Array, off: number, dst: Uint8Array, dstOff: number): void {
  copyMac(b, off + SENDER_MAC, dst, dstOff);
}

/** Copies 6 bytes of `src` at `srcOff` into the sender MAC. */
export function setArpSenderMac(b: Uint8Array, off: number, src: Uint8Array, srcOff: number): void {
  copyMac(src, srcOff, b, off + SENDER_MAC);
}

export function arpSenderIp(b: Uint8Array, off: number): number {
  return readU32(b, off + SENDER_IP);
}

export function setArpSenderIp(b: Uint8Array, off: number, ip: number): void {
  writeU32(b, off + SENDER_IP, ip);
}

/** Copies the target MAC (6 bytes) into `dst` at `dstOff`. */
export function arpTargetMac(b: Uint8Array, off: number, dst: Uint8Array, dstOff: number): void {
  copyMac(b, off + TARGET_MAC, dst, dstOff);
}

/** Copies 6 bytes of `src` at `srcOff` into the target MAC. */
export function setArpTargetMac(b: Uint8Array, off: number, src: Uint8Array, srcOff: number): void {
  copyMac(src, srcOff, b, off + TARGET_MAC);
}

export function arpTargetIp(b: Uint8Array, off: number): number {
  return readU32(b, off + TARGET_IP);
}

export function setArpTargetIp(b: Uint8Array, off: number, ip: number): void {
  writeU32(b, off + TARGET_IP, ip);
}

function copyMac(from: Uint8Array, fromOff: number, to: Uint8Array, toOff: number): void {
  to[toOff] = from[fromOff]!;
  to[toOff + 1] = from[fromOff + 1]!;
  to[toOff + 2] = from[fromOff + 2]!;
  to[toOff + 3] = from[fromOff + 3]!;
  to[toOff + 4] = from[fromOff + 4]!;
  to[toOff + 5] = from[fromOff + 5]!;
}

function readU32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}
