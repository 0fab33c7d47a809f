// ICMP "fragmentation needed and DF set" (RFC 792 type 3 code 4, with the
// next-hop MTU of RFC 1191 §4) for an inner IPv4 packet too large for the
// tunnel. Written back into the TUN, it reaches the pod through the kernel
// and lowers the pod's path MTU, as a router on the path would.
//
// RFC 1122 §3.2.2 forbids an ICMP error about: an ICMP error, a non-initial
// fragment, a packet to or from a broadcast, multicast, loopback or
// unspecified address. We also answer nothing about a packet whose source is
// this node itself.

import { checksum } from './checksum.js';
import * as icmp from './header/icmpv4.js';
import * as ip from './header/ipv4.js';

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
