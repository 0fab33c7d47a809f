// ICMPv6 Packet Too Big (RFC 4443 §3.2), native-free/icmp-too-big.ts: the
// message field by field, the checksum over the pseudo-header, the 1280-byte
// limit, and the packets RFC 4443 §2.4 (e) says never to answer.
import { describe, expect, it } from 'vitest';
import { parseIPv6 } from '../../native-free/addr.js';
import { sum16 } from '../../native-free/checksum.js';
import { DROP_TOO_BIG } from '../../native-free/drop.js';
import { innerMtu } from '../../native-free/encap/route.js';
import { encapVxlan } from '../../native-free/encap/vxlan.js';
import { ipv6PseudoHeaderSum } from '../../native-free/header/ipv6.js';
import { PACKET_TOO_BIG_MAX_LENGTH, mayAnswerWithIcmpv6, writePacketTooBig } from '../../native-free/icmp-too-big.js';
import { A, encapAt6 } from '../helpers/engine.js';
import { ipv6Packet } from '../helpers/packets.js';

const ip6 = parseIPv6;
const POD = ip6('fd00:244:1::5');
const REMOTE = ip6('fd00:244:2::7');
const TUNNEL = ip6('fd00:244:1::'); // A's own tunnel address

/** An IPv6 packet with next header `nh` and `payload`. */
function packet(nh: number, payload: Uint8Array, src = POD, dst = REMOTE): Uint8Array {
  const p = ipv6Packet(src, dst, payload);
  p[6] = nh;
  return p;
}

const ptb = (p: Uint8Array, mtu = 1430) => {
  const out = new Uint8Array(PACKET_TOO_BIG_MAX_LENGTH + 8);
  const n = writePacketTooBig(p, 0, p.length, mtu, TUNNEL, 0, out, 0);
  return { out, n };
};

describe('writePacketTooBig', () => {
  it('type 2 code 0, MTU, from our tunnel address to the source, quoting up to 1280 bytes in all, checksum good', () => {
    const p = packet(17, new Uint8Array(1460).fill(9));
    const { out, n } = ptb(p, 1430);
    expect(n).toBe(1280);
    expect(out[0]! >>> 4).toBe(6);
    expect((out[4]! << 8) | out[5]!).toBe(1240); // payload length
    expect(out[6]).toBe(58);
    expect(out[7]).toBe(64);
    expect(out.subarray(8, 24)).toEqual(TUNNEL);
    expect(out.subarray(24, 40)).toEqual(POD);
    expect(out[40]).toBe(2);
    expect(out[41]).toBe(0);
    expect(((out[44]! << 24) | (out[45]! << 16) | (out[46]! << 8) | out[47]!) >>> 0).toBe(1430);
    expect(out.subarray(48, 1280)).toEqual(p.subarray(0, 1232));
    expect(sum16(out, 40, 1240, ipv6PseudoHeaderSum(out, 0, 58, 1240))).toBe(0xffff);
  });

  it('quotes a short packet whole', () => {
    const p = packet(6, new Uint8Array(20).fill(3));
    const { out, n } = ptb(p);
    expect(n).toBe(40 + 8 + p.length);
    expect(out.subarray(48, n)).toEqual(p);
    expect(sum16(out, 40, n - 40, ipv6PseudoHeaderSum(out, 0, 58, n - 40))).toBe(0xffff);
  });

  const echo = Uint8Array.from([128, 0, 0, 0, 0, 1, 0, 1]);
  it.each([
    ['an echo request', packet(58, echo), true],
    ['a UDP packet', packet(17, new Uint8Array(8)), true],
    ['an ICMPv6 error (destination unreachable, type 1)', packet(58, Uint8Array.from([1, 4, 0, 0, 0, 0, 0, 0])), false],
    ['an ICMPv6 packet too big', packet(58, Uint8Array.from([2, 0, 0, 0, 0, 0, 5, 0])), false],
    ['a redirect (137)', packet(58, Uint8Array.from([137, 0, 0, 0, 0, 0, 0, 0])), false],
    ['an ICMPv6 error behind a hop-by-hop header', packet(0, Uint8Array.from([58, 0, 1, 4, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0])), false],
    ['an echo behind hop-by-hop and destination options', packet(0, Uint8Array.from([60, 0, 1, 4, 0, 0, 0, 0, 58, 0, 1, 4, 0, 0, 0, 0, 128, 0, 0, 0, 0, 0, 0, 0])), true],
    ['an ICMPv6 error in a first fragment', packet(44, Uint8Array.from([58, 0, 0, 1, 0, 0, 0, 9, 3, 0, 0, 0, 0, 0, 0, 0])), false],
    ['a later fragment (its upper layer is unknown)', packet(44, Uint8Array.from([58, 0, 0, 0x11, 0, 0, 0, 9, 3, 0, 0, 0])), true],
    ['a chain that runs past the packet', packet(0, Uint8Array.from([58, 4, 1, 4, 0, 0, 0, 0])), false],
    ['ICMPv6 with no message byte', packet(58, new Uint8Array(0)), false],
    ['from ::', packet(17, new Uint8Array(8), ip6('::')), false],
    ['from ::1', packet(17, new Uint8Array(8), ip6('::1')), false],
    ['from multicast', packet(17, new Uint8Array(8), ip6('ff02::1')), false],
    ['from ::2 (unicast)', packet(17, new Uint8Array(8), ip6('::2')), true],
  ] as const)('about %s: answered %s', (_n, p, want) => {
    expect(mayAnswerWithIcmpv6(p, 0, p.length)).toBe(want);
    expect(ptb(p).n > 0).toBe(want);
  });

  it('never answers a packet from this node itself', () => {
    expect(ptb(packet(17, new Uint8Array(8), TUNNEL)).n).toBe(0);
  });

  it('a too-big IPv6 packet on encapsulation gets the MTU of its underlay family', () => {
    const ctx = encapAt6(A, { mtu: 1450, mtu6: 1430 });
    const p = packet(17, new Uint8Array(1400));
    const big = new Uint8Array(80 + p.length);
    big.set(p, 80);
    expect(encapVxlan(ctx, big, 80, p.length)).toBe(DROP_TOO_BIG);
    const mtu = innerMtu(ctx, big, 80);
    expect(mtu).toBe(1430);
    const out = new Uint8Array(PACKET_TOO_BIG_MAX_LENGTH);
    const n = writePacketTooBig(big, 80, p.length, mtu, TUNNEL, 0, out, 0);
    expect(n).toBe(1280);
    expect((out[46]! << 8) | out[47]!).toBe(1430);
  });
});
