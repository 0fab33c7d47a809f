// The fixed set of reasons a packet is not forwarded. Encapsulation and
// decapsulation return one of these codes (0 means "forward"); workers count
// drops in a Float64Array indexed by code, and metrics export them by name.
// Codes are stable: add new ones at the end, never renumber.

export const FORWARD = 0;

/** Shorter than the headers it must carry. */
export const DROP_SHORT = 1;
/** VXLAN I flag clear (RFC 7348 §5: the VNI is not valid). */
export const DROP_BAD_FLAGS = 2;
/** VXLAN VNI is not this network's. */
export const DROP_BAD_VNI = 3;
/** Outer source address is not a known node (and unknown peers are refused). */
export const DROP_UNKNOWN_PEER = 4;
/** Inner destination MAC is not this node's VTEP MAC. */
export const DROP_NOT_FOR_US = 5;
/** Inner frame carries an 802.1Q / 802.1ad tag. */
export const DROP_VLAN_TAGGED = 6;
/** Inner IP version, header length, total length or header checksum wrong. */
export const DROP_BAD_INNER = 7;
/** TTL is zero (RFC 2003 §3.1: never encapsulate or deliver TTL 0). */
export const DROP_TTL_EXPIRED = 8;
/** Inner EtherType is neither IPv4 nor IPv6 (ARP and others are not tunnelled). */
export const DROP_NOT_IP = 9;
/** Outer IPv4 header of an IP-in-IP packet malformed, or its protocol is not 4. */
export const DROP_BAD_OUTER = 10;
/** Outer CE over an inner Not-ECT packet (RFC 6040 §4.2: the decapsulator drops). */
export const DROP_ECN_CE_NOT_ECT = 11;
/** No route: the inner destination is in no known peer's subnet. */
export const DROP_NO_ROUTE = 12;
/** Larger than the tunnel MTU with DF set: answered with ICMP "fragmentation needed". */
export const DROP_TOO_BIG = 13;
/** An IPv6 inner packet, or an IPv6 underlay, on a backend that carries only IPv4 (IP-in-IP is protocol 4, flannel's ipip is IPv4-only). */
export const DROP_UNSUPPORTED_FAMILY = 14;
/** The kernel refused to send it (sendmmsg error for that datagram, or the socket buffer stayed full). */
export const DROP_TX_ERROR = 15;
/** The kernel refused it on the TUN (write error). */
export const DROP_TUN_ERROR = 16;
/** A datagram longer than the receive buffer (cut by the kernel). */
export const DROP_TRUNCATED = 17;
/** A TUN read with offloads on that cannot be turned into packets (bad virtio_net_hdr, a super-packet that cannot be segmented): offload/reasons.ts says which. */
export const DROP_BAD_OFFLOAD = 18;
/** Anti-spoofing: the inner source is not inside a subnet of the peer the packet came from (route table says another node, or none, owns it). */
export const DROP_SPOOFED_SOURCE = 19;
/** Anti-spoofing: the inner destination is not inside this node's subnet (weft relays nothing for others). */
export const DROP_NOT_LOCAL = 20;
/** An inner packet of an address family this node does not carry (IPv6 while the node is IPv4-only). */
export const DROP_FAMILY_DISABLED = 21;
/** An inner TCP/UDP segment whose checksum is neither valid nor a kernel peer's partial (pseudo-header only) sum: damaged on the way. */
export const DROP_BAD_CHECKSUM = 22;
/** The destination's peer has no underlay address of the family this inner packet travels over (e.g. IPv6 pods of a peer that registered no PublicIPv6). */
export const DROP_NO_UNDERLAY = 23;

export const DROP_REASONS = [
  'forward',
  'short',
  'bad_flags',
  'bad_vni',
  'unknown_peer',
  'not_for_us',
  'vlan_tagged',
  'bad_inner',
  'ttl_expired',
  'not_ip',
  'bad_outer',
  'ecn_ce_not_ect',
  'no_route',
  'too_big',
  'unsupported_family',
  'tx_error',
  'tun_error',
  'truncated',
  'bad_offload',
  'spoofed_source',
  'not_local',
  'family_disabled',
  'bad_checksum',
  'no_underlay',
] as const;

export type DropReason = (typeof DROP_REASONS)[number];

/** Number of codes, for sizing counter arrays. */
export const REASON_COUNT = DROP_REASONS.length;

export function reasonName(code: number): DropReason {
  const name = DROP_REASONS[code];
  if (name === undefined) throw new RangeError(`unknown drop code ${code}`);
  return name;
}
