// Independent check of the IPv6 paths: frames the engine builds over an IPv6
// underlay (v6 in v6, v4 in v6), the IPv6 inner over IPv4, the udp backend
// over IPv6 and an ICMPv6 Packet Too Big are decoded by Wireshark's tshark,
// whose reading of every header (and every checksum) must match what the
// engine meant. The frames are also frozen as golden bytes: a change to any
// byte the engine writes shows here, and the tshark check says whether the
// new bytes are still right.
import { describe, expect, it } from 'vitest';
import { parseIPv6 } from '../../native-free/addr.js';
import { decapVxlan6 } from '../../native-free/decap/vxlan.js';
import { FORWARD, reasonName } from '../../native-free/drop.js';
import type { EncapContext } from '../../native-free/encap/context.js';
import { encapUdp } from '../../native-free/encap/udp.js';
import { encapVxlan } from '../../native-free/encap/vxlan.js';
import { PACKET_TOO_BIG_MAX_LENGTH, writePacketTooBig } from '../../native-free/icmp-too-big.js';
import { LINKTYPE_RAW } from '../../native-free/pcap.js';
import { A, B, decapAt6, encapAt6, hex } from '../helpers/engine.js';
import { ipv4Packet, ipv6Packet } from '../helpers/packets.js';
import { TSHARK_CHECKSUM, decodeWithTshark, skipWithoutTshark } from '../helpers/tshark.js';

const ip6 = parseIPv6;
// A UDP datagram from pod fd00:244:1::5 to fd00:244:2::7 (ports 40001 → 53), ECT(0), and one from 10.244.1.5 to 10.244.2.7.
const udp6 = () => {
  const p = ipv6Packet(ip6('fd00:244:1::5'), ip6('fd00:244:2::7'), Uint8Array.from([0x9c, 0x41, 0x00, 0x35, 0x00, 0x0c, 0, 0, 1, 2, 3, 4]), 64, 0x02);
  return p;
};
const udp4 = () => ipv4Packet({ src: 0x0af40105, dst: 0x0af40207, df: true, tos: 0x01, payload: Uint8Array.from([0x9c, 0x41, 0x00, 0x35, 0, 12, 0, 0, 1, 2, 3, 4]) });

function build(encap: (c: EncapContext, b: Uint8Array, o: number, l: number) => number, inner: Uint8Array, over: 4 | 6, port = 4789): Uint8Array {
  const ctx = encapAt6(A, { outerFor4: over, outerFor6: over, port });
  const buf = new Uint8Array(80 + inner.length);
  buf.set(inner, 80);
  expect(encap(ctx, buf, 80, inner.length)).toBe(FORWARD);
  return buf.slice(ctx.result.offset, ctx.result.offset + ctx.result.length);
}

// Frozen from the engine after tshark and a reading by hand agreed:
//   outer IPv6: tc 0x02 (DSCP 0, the inner ECT(0)), flow label 0x836d6 (the flow hash), plen 82, UDP, hop limit 64, A → B
//   UDP 61640 → 4789, length 82, checksum 0xf6dc; VXLAN I flag, VNI 1
//   Ethernet 02:00:00:06:01:01 → 02:00:00:06:02:02 (the v6 VTEP MACs), 0x86dd; the inner packet as given.
const V6_IN_V6 = hex(
  '602836d600521140' + '20010db8010000000000000000000001' + '20010db8010000000000000000000002' +
    'f0c812b50052f6dc' + '0800000000000100' + '020000060202' + '020000060101' + '86dd' +
    '60200000000c1140' + 'fd000244000100000000000000000005' + 'fd000244000200000000000000000007' + '9c410035000c0000' + '01020304',
);

// v4 in v6, same nodes: tc 0x01 (the inner ECT(1)), label 0xe0e98, plen 62, UDP 59246 → 4789 checksum 0xef41, EtherType 0x0800.
const V4_IN_V6 = hex(
  '601e0e98003e1140' + '20010db8010000000000000000000001' + '20010db8010000000000000000000002' +
    'e76e12b5003eef41' + '0800000000000100' + '020000060202' + '020000060101' + '0800' +
    '4501002012344000' + '40110fa50af40105' + '0af40207' + '9c410035000c0000' + '01020304',
);
// Packet Too Big about the inner packet of V6_IN_V6 (52 bytes, quoted whole), MTU 1430, from A's tunnel
// address fd00:244:1:: to the pod: plen 60, next header 58, hop limit 64; type 2 code 0, checksum 0xe8d4.
const PTB = hex(
  '60000000003c3a40' + 'fd000244000100000000000000000000' + 'fd000244000100000000000000000005' +
    '0200e8d400000596' +
    '60200000000c1140' + 'fd000244000100000000000000000005' + 'fd000244000200000000000000000007' + '9c410035000c0000' + '01020304',
);

describe.skipIf(skipWithoutTshark('tshark v6 cross-check'))('tshark reads the IPv6 paths', () => {
  const fields = [
    'ipv6.src', 'ipv6.dst', 'ipv6.nxt', 'ipv6.hlim', 'ipv6.tclass.ecn', 'ipv6.tclass.dscp', 'ipv6.flow', 'ipv6.plen',
    'ip.src', 'ip.dst', 'ip.checksum.status',
    'udp.srcport', 'udp.dstport', 'udp.length', 'udp.checksum.status',
    'vxlan.flag_i', 'vxlan.vni', 'eth.src', 'eth.dst', 'eth.type',
  ] as const;

  it('vxlan v6 in v6 and v4 in v6: outer IPv6 from A to B, UDP checksum good, v6 VTEP MACs, inner intact', async () => {
    const v6in6 = build(encapVxlan, udp6(), 6);
    const v4in6 = build(encapVxlan, udp4(), 6);
    // What tshark reads here are the golden frames.
    expect(v6in6).toEqual(V6_IN_V6);
    expect(v4in6).toEqual(V4_IN_V6);
    const [a, b] = await decodeWithTshark([v6in6, v4in6], { linktype: LINKTYPE_RAW, fields });
    const label = (f: Uint8Array) => `0x${(((f[1]! & 0x0f) << 16) | (f[2]! << 8) | f[3]!).toString(16).padStart(6, '0')}`;
    expect(a!['ipv6.src']).toEqual(['2001:db8:100::1', 'fd00:244:1::5']);
    expect(a!['ipv6.dst']).toEqual(['2001:db8:100::2', 'fd00:244:2::7']);
    expect(a!['ipv6.nxt']).toEqual(['17', '17']);
    expect(a!['ipv6.hlim']).toEqual(['64', '64']);
    expect(a!['ipv6.tclass.ecn']).toEqual(['2', '2']); // ECT(0) copied out (RFC 6040)
    expect(a!['ipv6.tclass.dscp']![0]).toBe('0');
    expect(a!['ipv6.flow']![0]).toBe(label(v6in6));
    expect(a!['ipv6.plen']).toEqual([String(v6in6.length - 40), '12']);
    expect(a!['udp.dstport']).toEqual(['4789', '53']);
    expect(Number(a!['udp.srcport']![0])).toBeGreaterThanOrEqual(49152);
    expect(a!['udp.checksum.status']![0]).toBe(TSHARK_CHECKSUM.GOOD);
    expect(a!['vxlan.flag_i']).toEqual(['1']);
    expect(a!['vxlan.vni']).toEqual(['1']);
    expect(a!['eth.src']).toEqual(['02:00:00:06:01:01']);
    expect(a!['eth.dst']).toEqual(['02:00:00:06:02:02']);
    expect(a!['eth.type']).toEqual(['0x86dd']);

    expect(b!['ipv6.src']).toEqual(['2001:db8:100::1']);
    expect(b!['ipv6.dst']).toEqual(['2001:db8:100::2']);
    expect(b!['ipv6.tclass.ecn']).toEqual(['1']); // ECT(1) of the inner IPv4
    expect(b!['ip.src']).toEqual(['10.244.1.5']);
    expect(b!['ip.dst']).toEqual(['10.244.2.7']);
    expect(b!['ip.checksum.status']).toEqual([TSHARK_CHECKSUM.GOOD]);
    expect(b!['udp.checksum.status']![0]).toBe(TSHARK_CHECKSUM.GOOD);
    expect(b!['eth.type']).toEqual(['0x0800']);
    expect(b!['eth.dst']).toEqual(['02:00:00:06:02:02']);
  });

  it('vxlan v6 in v4: outer IPv4 with the v4 VTEP MACs, inner IPv6 intact', async () => {
    const f = build(encapVxlan, udp6(), 4);
    const [r] = await decodeWithTshark([f], { linktype: LINKTYPE_RAW, fields });
    expect(r!['ip.src']).toEqual(['198.51.100.1']);
    expect(r!['ip.dst']).toEqual(['198.51.100.2']);
    expect(r!['ip.checksum.status']).toEqual([TSHARK_CHECKSUM.GOOD]);
    expect(r!['udp.checksum.status']![0]).toBe(TSHARK_CHECKSUM.GOOD);
    expect(r!['ipv6.src']).toEqual(['fd00:244:1::5']);
    expect(r!['eth.dst']).toEqual(['02:00:00:00:02:02']);
    expect(r!['eth.type']).toEqual(['0x86dd']);
  });

  it('udp backend over IPv6: port 8285 both ways, the payload is the inner packet', async () => {
    const f = build(encapUdp, udp6(), 6, 8285);
    const [r] = await decodeWithTshark([f], { linktype: LINKTYPE_RAW, fields, decodeAs: ['udp.port==8285,ipv6'] });
    expect(r!['ipv6.src']).toEqual(['2001:db8:100::1', 'fd00:244:1::5']);
    expect(r!['udp.srcport']![0]).toBe('8285');
    expect(r!['udp.dstport']![0]).toBe('8285');
    expect(r!['udp.length']![0]).toBe(String(udp6().length + 8));
    expect(r!['udp.checksum.status']![0]).toBe(TSHARK_CHECKSUM.GOOD);
  });

  it('ICMPv6 Packet Too Big (golden): type 2 code 0, MTU 1430, checksum good, the quoted packet whole', async () => {
    const [g] = await decodeWithTshark([PTB], {
      linktype: LINKTYPE_RAW,
      fields: ['ipv6.src', 'ipv6.plen', 'icmpv6.type', 'icmpv6.code', 'icmpv6.mtu', 'icmpv6.checksum.status', 'udp.dstport'],
    });
    expect(g!['ipv6.src']).toEqual(['fd00:244:1::', 'fd00:244:1::5']);
    expect(g!['ipv6.plen']).toEqual(['60', '12']);
    expect(g!['icmpv6.type']).toEqual(['2']);
    expect(g!['icmpv6.mtu']).toEqual(['1430']);
    expect(g!['icmpv6.checksum.status']).toEqual([TSHARK_CHECKSUM.GOOD]);
    expect(g!['udp.dstport']).toEqual(['53']);
  });

  it('ICMPv6 Packet Too Big of a large packet: 1280 bytes, the MTU, checksum good, the quoted packet decoded', async () => {
    const big = ipv6Packet(ip6('fd00:244:1::5'), ip6('fd00:244:2::7'), new Uint8Array(1400).fill(0x11));
    const out = new Uint8Array(PACKET_TOO_BIG_MAX_LENGTH);
    const n = writePacketTooBig(big, 0, big.length, 1430, ip6('fd00:244:1::'), 0, out, 0);
    expect(n).toBe(1280);
    const [r] = await decodeWithTshark([out.subarray(0, n)], {
      linktype: LINKTYPE_RAW,
      fields: ['ipv6.src', 'ipv6.dst', 'ipv6.plen', 'ipv6.hlim', 'icmpv6.type', 'icmpv6.code', 'icmpv6.mtu', 'icmpv6.checksum.status'],
    });
    expect(r!['ipv6.src']).toEqual(['fd00:244:1::', 'fd00:244:1::5']);
    expect(r!['ipv6.dst']).toEqual(['fd00:244:1::5', 'fd00:244:2::7']);
    expect(r!['ipv6.plen']![0]).toBe('1240');
    expect(r!['icmpv6.type']).toEqual(['2']);
    expect(r!['icmpv6.code']).toEqual(['0']);
    expect(r!['icmpv6.mtu']).toEqual(['1430']);
    expect(r!['icmpv6.checksum.status']).toEqual([TSHARK_CHECKSUM.GOOD]);
  });
});

describe('golden bytes (without tshark too)', () => {
  it.each([
    ['v6 in v6', V6_IN_V6, udp6],
    ['v4 in v6', V4_IN_V6, udp4],
  ] as const)('vxlan %s: the engine writes exactly these bytes, and B decapsulates them to the inner packet', (_n, golden, inner) => {
    expect(Buffer.from(build(encapVxlan, inner(), 6)).toString('hex')).toBe(Buffer.from(golden).toString('hex'));
    const frame = Uint8Array.from(golden);
    const ctx = decapAt6(B);
    expect(reasonName(decapVxlan6(ctx, frame, 48, frame.length - 48, A.underlay6, 0))).toBe('forward');
    expect(frame.subarray(ctx.result.offset, ctx.result.offset + ctx.result.length)).toEqual(inner());
  });

  it('packet too big: the engine writes exactly these bytes', () => {
    const out = new Uint8Array(PACKET_TOO_BIG_MAX_LENGTH);
    const n = writePacketTooBig(udp6(), 0, udp6().length, 1430, ip6('fd00:244:1::'), 0, out, 0);
    expect(Buffer.from(out.subarray(0, n)).toString('hex')).toBe(Buffer.from(PTB).toString('hex'));
  });
});
