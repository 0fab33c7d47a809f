// What groAdd / udpGroAdd answer (gro.ts explains the calls), why a packet
// passed, and the limits both IP versions share: the one home of these for
// the IPv4 coalescers (gro.ts, gro-udp.ts) and the IPv6 ones (gro6.ts,
// gro-udp6.ts). gro.ts and gro-udp.ts re-export them.
// Pass reasons are stable: add new ones at the end, never renumber.

import { TCP_ACK, TCP_ECE, TCP_PSH } from './tcp.js';

export const GRO_HELD = 0;
export const GRO_FLUSH = 1;
export const GRO_PASS = 2;

// Why a packet passed (g.passReason), for counters and tests.
export const GRO_PASS_NONE = 0;
/** Not an IP header GRO reads: malformed IPv4 or IPv6, IPv4 options, or neither version 4 nor 6. */
export const GRO_PASS_NOT_IPV4 = 1;
/** Not TCP, or its header is malformed. */
export const GRO_PASS_NOT_TCP = 2;
/** A fragment, or DF clear. */
export const GRO_PASS_FRAGMENTABLE = 3;
/** SYN, FIN, RST, URG or CWR set, or ACK clear. */
export const GRO_PASS_FLAGS = 4;
/** No payload (a pure ACK). */
export const GRO_PASS_NO_PAYLOAD = 5;
/** The segment's TCP (UDP) checksum neither verifies nor is partial: damaged, to be dropped (DROP_BAD_CHECKSUM). */
export const GRO_PASS_BAD_CHECKSUM = 6;
/** Larger than a super-packet can hold. */
export const GRO_PASS_TOO_BIG = 7;
/** Not UDP, or its header or length field is wrong (gro-udp.ts). */
export const GRO_PASS_NOT_UDP = 8;
/** IPv6 with an extension header before TCP/UDP (offload/ipv6.ts): written alone. */
export const GRO_PASS_IPV6_EXTENSION = 9;
/**
 * UDP/IPv6 with checksum 0: invalid over IPv6 (RFC 8200 §8.1) unless the
 * receiving socket allows it (RFC 6935). Coalescing would give it a real
 * checksum; written alone instead, for the receiving kernel to judge, as
 * prepareTunWrite does (partial-checksum.ts).
 */
export const GRO_PASS_NO_CHECKSUM = 10;

export const GRO_PASS_REASONS = [
  'none',
  'not_ipv4',
  'not_tcp',
  'fragmentable',
  'flags',
  'no_payload',
  'bad_checksum',
  'too_big',
  'not_udp',
  'ipv6_extension',
  'no_checksum',
] as const;

/** TCP flags a segment may carry and still join: ACK (required), PSH, ECE. */
export const MERGEABLE_FLAGS = TCP_ACK | TCP_PSH | TCP_ECE;

/** Datagrams per UDP super-packet: UDP_MAX_SEGMENTS of kernels before 2024. */
export const UDP_GRO_MAX_SEGMENTS = 64;
