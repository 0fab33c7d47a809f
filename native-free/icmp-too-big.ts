// ICMP "fragmentation needed and DF set" (RFC 792 type 3 code 4, with the
// next-hop MTU of RFC 1191 §4) for an inner IPv4 packet too large for the
// tunnel, and ICMPv6 Packet Too Big (RFC 4443 §3.2) for an IPv6 one (below). Written back into the TUN, it reaches the pod through the kernel
// and lowers the pod's path MTU, as a router on the path would.
//
// RFC 1122 §3.2.2 forbids an ICMP error about: an ICMP error, a non-initial
// fragment, a packet to or from a broadcast, multicast, loopback or
// unspecified address. We also answer nothing about a packet whose source is
// this node itself.

import { checksum } from './checksum.js';
import * as icmp from './header/icmpv4.js';
import * as icmp6 from './header/icmpv6.js';
import * as ip from './header/ipv4.js';
import * as ipv6 from './header/ipv6.js';

/** RFC 1812 §4.3.2.3: an ICMP error carries as much as fits in 576 bytes. */
const MAX_ICMP_PACKET = 576;
const HEADERS = ip.IPV4_MIN_HEADER_LENGTH + icmp.ICMPV4_HEADER_LEN;

/** Room `writeFragNeeded` may use. */
export const FRAG_NEEDED_MAX_LENGTH = MAX_ICMP_PACKET;

function isUnicastHost(a: number): boolean {
  const first = a >>> 24;
  return a !== 0 && first !== 127 && first < 224 && a !== 0xffffffff;
}

/** Whether RFC 1122 lets us send an ICMP error about this (validated) packet. */
export function mayAnswerWithIcmp(b: Uint8Array, off: number): boolean {
  if (ip.fragmentOffset(b, off) !== 0) return false;
  if (!isUnicastHost(ip.src(b, off)) || !isUnicastHost(ip.dst(b, off))) return false;
  if (ip.protocol(b, off) === ip.PROTO_ICMP) {
    const t = b[off + ip.headerLength(b, off)];
    if (t === undefined || icmp.isIcmpv4Error(t)) return false;
  }
  return true;
}

/**
 * Writes at out[outOff..] an IPv4 ICMP type 3 code 4 message from `from`
 * (this node's tunnel address) to the source of the validated packet
 * b[off..off+len), with next-hop MTU `mtu`. Returns its length, or 0 when
 * RFC 1122 says not to answer. out needs FRAG_NEEDED_MAX_LENGTH bytes.
 */
export function writeFragNeeded(
  b: Uint8Array,
  off: number,
  len: number,
  mtu: number,
  from: number,
  out: Uint8Array,
  outOff: number,
): number {
  if (!mayAnswerWithIcmp(b, off) || ip.src(b, off) === from) return 0;
  const quoted = Math.min(len, MAX_ICMP_PACKET - HEADERS);
  const total = HEADERS + quoted;
  ip.setVersionIhl(out, outOff, ip.IPV4_MIN_HEADER_LENGTH);
  ip.setTos(out, outOff, 0xc0); // CS6, network control, as Linux marks ICMP errors
  ip.setTotalLength(out, outOff, total);
  ip.setId(out, outOff, 0);
  ip.setFlagsFragment(out, outOff, false, false, 0);
  ip.setTtl(out, outOff, 64);
  ip.setProtocol(out, outOff, ip.PROTO_ICMP);
  ip.setSrc(out, outOff, from);
  ip.setDst(out, outOff, ip.src(b, off));
  ip.fillHeaderChecksum(out, outOff);
  const m = outOff + ip.IPV4_MIN_HEADER_LENGTH;
  icmp.setIcmpv4Type(out, m, icmp.ICMPV4_DEST_UNREACHABLE);
  icmp.setIcmpv4Code(out, m, icmp.ICMPV4_FRAG_NEEDED);
  icmp.setIcmpv4RestOfHeader(out, m, 0);
  icmp.setIcmpv4Mtu(out, m, mtu);
  out.set(b.subarray(off, off + quoted), m + icmp.ICMPV4_HEADER_LEN);
  icmp.setIcmpv4Checksum(out, m, 0);
  icmp.setIcmpv4Checksum(out, m, checksum(out, m, icmp.ICMPV4_HEADER_LEN + quoted));
  return total;
}

// ---- IPv6: ICMPv6 Packet Too Big (RFC 4443 §3.2) ----
//
// RFC 4443 §2.4 (e): no ICMPv6 error about an ICMPv6 error or a Redirect
// (e.1, e.2), nor about a packet whose source is not one unicast node (e.6:
// ::, multicast; we add ::1 and this node itself, like IPv4). A multicast
// destination is no bar for Packet Too Big (e.3 exception 2), but weft routes
// no multicast. The extension header chain is walked to find out whether the
// packet is ICMPv6 at all; a chain that runs past the packet gets no answer.

/** RFC 8200 §5: the minimum IPv6 MTU, the most a Packet Too Big may take. */
export const PACKET_TOO_BIG_MAX_LENGTH = 1280;
const HEADERS6 = ipv6.IPV6_HEADER_LEN + icmp6.ICMPV6_HEADER_LEN;
const HOP_BY_HOP = 0;
const ROUTING = 43;
const FRAGMENT = 44;
const DEST_OPTIONS = 60;
/** Longest extension header chain walked; RFC 8200 §4.1 orders at most a handful. */
const MAX_EXT_HEADERS = 8;

function isUnicastSource6(b: Uint8Array, off: number): boolean {
  if (b[off] === 0xff) return false; // multicast
  for (let i = 0; i < 15; i++) if (b[off + i] !== 0) return true;
  return b[off + 15]! > 1; // :: and ::1
}

/** Whether RFC 4443 lets us answer the validated IPv6 packet b[off..off+len) with an ICMPv6 error. */
export function mayAnswerWithIcmpv6(b: Uint8Array, off: number, len: number): boolean {
  if (!isUnicastSource6(b, off + 8)) return false;
  const end = off + len;
  let nh = b[off + 6]!;
  let p = off + ipv6.IPV6_HEADER_LEN;
  for (let n = 0; n < MAX_EXT_HEADERS; n++) {
    if (nh === ipv6.IPV6_NEXT_HEADER_ICMPV6) {
      if (p >= end) return false;
      const t = b[p]!;
      return !icmp6.isIcmpv6Error(t) && t !== icmp6.ICMPV6_REDIRECT;
    }
    if (nh === HOP_BY_HOP || nh === ROUTING || nh === DEST_OPTIONS) {
      if (p + 2 > end) return false;
      nh = b[p]!;
      p += (b[p + 1]! + 1) * 8;
    } else if (nh === FRAGMENT) {
      if (p + 8 > end) return false;
      // A later fragment does not say what it carries (Linux answers it too).
      if ((((b[p + 2]! << 8) | b[p + 3]!) & 0xfff8) !== 0) return true;
      nh = b[p]!;
      p += 8;
    } else return true; // an upper layer other than ICMPv6 (or no next header)
  }
  return false;
}

/**
 * Writes at out[outOff..] an ICMPv6 Packet Too Big from `from` (this node's
 * IPv6 tunnel address, 16 bytes at from[fromOff]) to the source of the
 * validated IPv6 packet b[off..off+len), with MTU `mtu`, quoting as much of
 * it as keeps the message within 1280 bytes. Returns its length, or 0 when
 * RFC 4443 says not to answer. out needs PACKET_TOO_BIG_MAX_LENGTH bytes.
 */
export function writePacketTooBig(
  b: Uint8Array,
  off: number,
  len: number,
  mtu: number,
  from: Uint8Array,
  fromOff: number,
  out: Uint8Array,
  outOff: number,
): number {
  if (!mayAnswerWithIcmpv6(b, off, len)) return 0;
  let self = true;
  for (let i = 0; i < 16 && self; i++) self = b[off + 8 + i] === from[fromOff + i];
  if (self) return 0;
  const quoted = Math.min(len, PACKET_TOO_BIG_MAX_LENGTH - HEADERS6);
  const icmpLen = icmp6.ICMPV6_HEADER_LEN + quoted;
  out[outOff] = 0x60; // version 6, traffic class 0, flow label 0
  out[outOff + 1] = 0;
  out[outOff + 2] = 0;
  out[outOff + 3] = 0;
  ipv6.setIpv6PayloadLength(out, outOff, icmpLen);
  ipv6.setIpv6NextHeader(out, outOff, ipv6.IPV6_NEXT_HEADER_ICMPV6);
  ipv6.setIpv6HopLimit(out, outOff, 64);
  ipv6.setIpv6Src(out, outOff, from, fromOff);
  ipv6.setIpv6Dst(out, outOff, b, off + 8);
  const m = outOff + ipv6.IPV6_HEADER_LEN;
  icmp6.writeIcmpv6Header(out, m, icmp6.ICMPV6_PACKET_TOO_BIG, 0, mtu);
  out.set(b.subarray(off, off + quoted), m + icmp6.ICMPV6_HEADER_LEN);
  const sum = ipv6.ipv6PseudoHeaderSum(out, outOff, ipv6.IPV6_NEXT_HEADER_ICMPV6, icmpLen);
  icmp6.setIcmpv6Checksum(out, m, checksum(out, m, icmpLen, sum));
  return ipv6.IPV6_HEADER_LEN + icmpLen;
}
