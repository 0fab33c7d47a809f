// Why a TUN read (virtio_net_hdr + packet) could not be turned into packets
// for the tunnel. 0 is "fine"; the others are drops, counted by the caller.
// Codes are stable: add new ones at the end, never renumber.

export const OFFLOAD_OK = 0;
/** Fewer bytes than the 10-byte virtio_net_hdr. */
export const VNET_SHORT = 1;
/** A flag bit other than NEEDS_CSUM and DATA_VALID. */
export const VNET_BAD_FLAGS = 2;
/** gso_type is not NONE, TCPV4, UDP, TCPV6 or UDP_L4 (ECN bit aside), or ECN without a GSO type. */
export const VNET_BAD_GSO_TYPE = 3;
/** A GSO type with gso_size 0. */
export const VNET_BAD_GSO_SIZE = 4;
/** hdr_len beyond the packet. */
export const VNET_BAD_HDR_LEN = 5;
/** NEEDS_CSUM with csum_start + csum_offset + 2 beyond the packet. */
export const VNET_BAD_CSUM_START = 6;
/** A valid GSO type the engine does not segment (UDP fragmentation offload). */
export const OFFLOAD_UNSUPPORTED_GSO = 7;
/**
 * The IP header of a super-packet is malformed or of the wrong version: IPv4
 * (TCPV4, UDP_L4) version, IHL, total length, checksum, or a fragment; IPv6
 * (TCPV6, UDP_L4) version, or 40 + payload length beyond the read.
 */
export const OFFLOAD_BAD_IP = 8;
/** A TCPV4 (TCPV6) super-packet whose IPv4 protocol (IPv6 next header) is not TCP. */
export const OFFLOAD_NOT_TCP = 9;
/** TCP header shorter than 20 bytes or its data offset beyond the packet. */
export const OFFLOAD_BAD_TCP = 10;
/** More segments than the result / slab can hold (gso_size too small for the payload). */
export const OFFLOAD_TOO_MANY_SEGMENTS = 11;
/** A segment (headroom + headers + gso_size) larger than the slab stride. */
export const OFFLOAD_SEGMENT_TOO_BIG = 12;
/** A UDP_L4 super-packet whose IPv4 protocol (IPv6 next header) is not UDP. */
export const OFFLOAD_NOT_UDP = 13;
/** A UDP_L4 super-packet whose UDP header is cut or whose length field disagrees with the IP length. */
export const OFFLOAD_BAD_UDP = 14;
/**
 * An IPv6 super-packet with an extension header between the fixed header and
 * TCP/UDP (ipv6.ts says why none is cut).
 */
export const OFFLOAD_IPV6_EXTENSION = 15;

export const OFFLOAD_REASONS = [
  'ok',
  'vnet_short',
  'vnet_bad_flags',
  'vnet_bad_gso_type',
  'vnet_bad_gso_size',
  'vnet_bad_hdr_len',
  'vnet_bad_csum_start',
  'unsupported_gso',
  'bad_ip',
  'not_tcp',
  'bad_tcp',
  'too_many_segments',
  'segment_too_big',
  'not_udp',
  'bad_udp',
  'ipv6_extension',
] as const;

export type OffloadReason = (typeof OFFLOAD_REASONS)[number];

export const OFFLOAD_REASON_COUNT = OFFLOAD_REASONS.length;
