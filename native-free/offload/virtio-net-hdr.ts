// struct virtio_net_hdr (legacy, without num_buffers), as the TUN device puts
// it in front of every packet read and expects in front of every packet
// written once IFF_VNET_HDR is set (linux/virtio_net.h, virtio spec 1.x §5.1.6):
//
//   struct virtio_net_hdr {
//       __u8       flags;        // VIRTIO_NET_HDR_F_*
//       __u8       gso_type;     // VIRTIO_NET_HDR_GSO_*
//       __virtio16 hdr_len;      // Ethernet + IP + tcp/udp headers
//       __virtio16 gso_size;     // bytes to append to hdr_len per frame
//       __virtio16 csum_start;   // position to start checksumming from
//       __virtio16 csum_offset;  // offset after that to place checksum
//   };
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |     flags     |   gso_type    |        hdr_len (LE)           |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |        gso_size (LE)          |       csum_start (LE)         |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |       csum_offset (LE)        |  IP packet ...
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Unlike every other header in the engine the 16-bit fields are
// LITTLE-endian: __virtio16 on a legacy device is the host's order, which is
// little-endian on x86-64 and arm64 (a big-endian host would need
// TUNSETVNETLE). On a TUN (no Ethernet header) csum_start counts from the
// first byte of the IP header. Reading, the kernel fills hdr_len with the
// length of the linear part of the packet, which can be more than the
// headers: do not use it as the header length.

import {
  OFFLOAD_OK,
  VNET_BAD_CSUM_START,
  VNET_BAD_FLAGS,
  VNET_BAD_GSO_SIZE,
  VNET_BAD_GSO_TYPE,
  VNET_BAD_HDR_LEN,
  VNET_SHORT,
} from './reasons.js';

export const VIRTIO_NET_HDR_LEN = 10;

/** flags: the checksum from csum_start to the end must be completed and stored at csum_start + csum_offset. */
export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
/** flags: the checksum has been validated. */
export const VIRTIO_NET_HDR_F_DATA_VALID = 2;

export const VIRTIO_NET_HDR_GSO_NONE = 0;
export const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
export const VIRTIO_NET_HDR_GSO_UDP = 3;
export const VIRTIO_NET_HDR_GSO_TCPV6 = 4;
export const VIRTIO_NET_HDR_GSO_UDP_L4 = 5;
/** gso_type bit: the TCP super-packet has CWR set (ECN). */
export const VIRTIO_NET_HDR_GSO_ECN = 0x80;

/** TUNSETOFFLOAD bits (linux/if_tun.h) the data plane asks for. */
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;
export const TUN_F_TSO_ECN = 0x08;
/** UDP segmentation offload (Linux 6.2); the kernel takes the two only together. */
export const TUN_F_USO4 = 0x20;
export const TUN_F_USO6 = 0x40;

const FLAGS = 0;
const GSO_TYPE = 1;
const HDR_LEN = 2;
const GSO_SIZE = 4;
const CSUM_START = 6;
const CSUM_OFFSET = 8;

function le16(b: Uint8Array, at: number): number {
  return b[at]! | (b[at + 1]! << 8);
}

function setLe16(b: Uint8Array, at: number, v: number): void {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
}

export function vnetFlags(b: Uint8Array, off: number): number {
  return b[off + FLAGS]!;
}

export function vnetGsoType(b: Uint8Array, off: number): number {
  return b[off + GSO_TYPE]!;
}

export function vnetHdrLen(b: Uint8Array, off: number): number {
  return le16(b, off + HDR_LEN);
}

export function vnetGsoSize(b: Uint8Array, off: number): number {
  return le16(b, off + GSO_SIZE);
}

export function vnetCsumStart(b: Uint8Array, off: number): number {
  return le16(b, off + CSUM_START);
}

export function vnetCsumOffset(b: Uint8Array, off: number): number {
  return le16(b, off + CSUM_OFFSET);
}

export function setVnetFlags(b: Uint8Array, off: number, v: number): void {
  b[off + FLAGS] = v;
}

export function setVnetGsoType(b: Uint8Array, off: number, v: number): void {
  b[off + GSO_TYPE] = v;
}

export function setVnetHdrLen(b: Uint8Array, off: number, v: number): void {
  setLe16(b, off + HDR_LEN, v);
}

export function setVnetGsoSize(b: Uint8Array, off: number, v: number): void {
  setLe16(b, off + GSO_SIZE, v);
}

export function setVnetCsumStart(b: Uint8Array, off: number, v: number): void {
  setLe16(b, off + CSUM_START, v);
}

export function setVnetCsumOffset(b: Uint8Array, off: number, v: number): void {
  setLe16(b, off + CSUM_OFFSET, v);
}

/** Writes all six fields. */
export function writeVirtioNetHdr(
  b: Uint8Array,
  off: number,
  flags: number,
  gsoType: number,
  hdrLen: number,
  gsoSize: number,
  csumStart: number,
  csumOffset: number,
): void {
  b[off + FLAGS] = flags;
  b[off + GSO_TYPE] = gsoType;
  setLe16(b, off + HDR_LEN, hdrLen);
  setLe16(b, off + GSO_SIZE, gsoSize);
  setLe16(b, off + CSUM_START, csumStart);
  setLe16(b, off + CSUM_OFFSET, csumOffset);
}

/** The header for a packet written as it is: no GSO, checksums already complete (all zero). */
export function clearVirtioNetHdr(b: Uint8Array, off: number): void {
  for (let i = 0; i < VIRTIO_NET_HDR_LEN; i++) b[off + i] = 0;
}

/**
 * Checks a TUN read of `len` bytes at `off` (header + packet) once: length,
 * flags, gso_type, gso_size, and that hdr_len and the checksum position are
 * inside the packet. Says nothing about the packet itself. Returns OFFLOAD_OK
 * or a VNET_* reason.
 */
export function validateVirtioNetHdr(b: Uint8Array, off: number, len: number): number {
  if (off < 0 || len < VIRTIO_NET_HDR_LEN || off + len > b.length) return VNET_SHORT;
  const packetLen = len - VIRTIO_NET_HDR_LEN;
  const flags = b[off + FLAGS]!;
  if ((flags & ~(VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID)) !== 0) return VNET_BAD_FLAGS;
  const gsoType = b[off + GSO_TYPE]!;
  const base = gsoType & ~VIRTIO_NET_HDR_GSO_ECN;
  if (base === VIRTIO_NET_HDR_GSO_NONE) {
    if (gsoType !== VIRTIO_NET_HDR_GSO_NONE) return VNET_BAD_GSO_TYPE;
  } else if (
    base !== VIRTIO_NET_HDR_GSO_TCPV4 &&
    base !== VIRTIO_NET_HDR_GSO_UDP &&
    base !== VIRTIO_NET_HDR_GSO_TCPV6 &&
    base !== VIRTIO_NET_HDR_GSO_UDP_L4
  ) {
    return VNET_BAD_GSO_TYPE;
  } else if (vnetGsoSize(b, off) === 0) {
    return VNET_BAD_GSO_SIZE;
  }
  if (vnetHdrLen(b, off) > packetLen) return VNET_BAD_HDR_LEN;
  if ((flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0 && vnetCsumStart(b, off) + vnetCsumOffset(b, off) + 2 > packetLen) {
    return VNET_BAD_CSUM_START;
  }
  return OFFLOAD_OK;
}
