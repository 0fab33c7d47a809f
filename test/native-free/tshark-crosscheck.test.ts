// Independent check: frames the engine builds are decoded by Wireshark's
// tshark, whose reading of every header must match what the engine meant.
import { describe, expect, it } from 'vitest';
import { FORWARD } from '../../native-free/drop.js';
import type { EncapContext } from '../../native-free/encap/context.js';
import { encapIpip } from '../../native-free/encap/ipip.js';
import { encapUdp } from '../../native-free/encap/udp.js';
import { encapVxlan } from '../../native-free/encap/vxlan.js';
import { LINKTYPE_RAW } from '../../native-free/pcap.js';
import { A, encapAt, withHeadroom } from '../helpers/engine.js';
import { ipv4Packet } from '../helpers/packets.js';
import { TSHARK_CHECKSUM, decodeWithTshark, skipWithoutTshark } from '../helpers/tshark.js';

// Inner packets from pods on A (10.244.1.x) to pods on B (10.244.2.x): UDP, TCP-ish, ICMP; ECN and DF vary.
const inners = [
  ipv4Packet({ src: 0x0af40105, dst: 0x0af40207, protocol: 17, df: true, tos: 0x02, payload: Uint8Array.from([0x9c, 0x41, 0x00, 0x35, 0, 12, 0, 0, 1, 2, 3, 4]) }),
  ipv4Packet({ src: 0x0af40106, dst: 0x0af402fe, protocol: 6, ttl: 3, tos: 0x01, payload: new Uint8Array(200).fill(0xab) }),
  ipv4Packet({ src: 0x0af40107, dst: 0x0af40201, protocol: 1, df: false, payload: Uint8Array.from([8, 0, 0xf7, 0xfe, 0, 1, 0, 0]) }),
];

function build(encap: (c: EncapContext, b: Uint8Array, o: number, l: number) => number, port: number) {
  const ctx = encapAt(A, { port, udpChecksum: true });
  return inners.map((p) => {
    const { buf, off, len } = withHeadroom(p);
    expect(encap(ctx, buf, off, len)).toBe(FORWARD);
    return { frame: buf.slice(ctx.result.offset, ctx.result.offset + ctx.result.length), sport: ctx.result.sourcePort, inner: p };
  });
}

const dotted = (a: number) => [a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255].join('.');
const innerSrc = (p: Uint8Array) => Array.from(p.subarray(12, 16)).join('.');
const innerDst = (p: Uint8Array) => Array.from(p.subarray(16, 20)).join('.');

describe.skipIf(skipWithoutTshark('tshark cross-check'))('tshark reads what the engine writes', () => {
  it('vxlan: outer IPv4/UDP, VNI, inner Ethernet and IPv4, all checksums good', async () => {
    const built = build(encapVxlan, 4789);
    const rows = await decodeWithTshark(built.map((b) => b.frame), {
      linktype: LINKTYPE_RAW,
      fields: ['ip.src', 'ip.dst', 'ip.proto', 'ip.ttl', 'ip.dsfield.ecn', 'ip.flags.df', 'ip.checksum.status', 'udp.srcport', 'udp.dstport', 'udp.checksum.status', 'vxlan.flag_i', 'vxlan.flags_reserved', 'vxlan.reserved8', 'vxlan.vni', 'eth.src', 'eth.dst', 'eth.type'],
    });
    rows.forEach((row, i) => {
      const { inner, sport } = built[i]!;
      expect(row['ip.src']).toEqual(['198.51.100.1', innerSrc(inner)]);
      expect(row['ip.dst']).toEqual(['198.51.100.2', innerDst(inner)]);
      expect(row['ip.proto']).toEqual(['17', String(inner[9])]);
      expect(row['ip.ttl']).toEqual(['64', String(inner[8])]);
      expect(row['ip.dsfield.ecn']).toEqual([String(inner[1]! & 3), String(inner[1]! & 3)]);
      expect(row['ip.flags.df']![0]).toBe('0');
      expect(row['ip.checksum.status']).toEqual([TSHARK_CHECKSUM.GOOD, TSHARK_CHECKSUM.GOOD]);
      expect(row['udp.srcport']![0]).toBe(String(sport));
      expect(Number(row['udp.srcport']![0])).toBeGreaterThanOrEqual(49152);
      expect(row['udp.dstport']![0]).toBe('4789');
      expect(row['udp.checksum.status']![0]).toBe(TSHARK_CHECKSUM.GOOD);
      expect(row['vxlan.flag_i']).toEqual(['1']);
      expect(row['vxlan.flags_reserved']).toEqual(['0x0000']);
      expect(row['vxlan.reserved8']).toEqual(['0']);
      expect(row['vxlan.vni']).toEqual(['1']);
      expect(row['eth.src']).toEqual(['02:00:00:00:01:01']);
      expect(row['eth.dst']).toEqual(['02:00:00:00:02:02']);
      expect(row['eth.type']).toEqual(['0x0800']);
    });
  });

  it('ipip: protocol 4, DF copied from the inner header, both checksums good', async () => {
    const built = build(encapIpip, 0);
    const rows = await decodeWithTshark(built.map((b) => b.frame), {
      linktype: LINKTYPE_RAW,
      fields: ['ip.src', 'ip.dst', 'ip.proto', 'ip.flags.df', 'ip.dsfield.ecn', 'ip.checksum.status', 'ip.len'],
    });
    rows.forEach((row, i) => {
      const { inner } = built[i]!;
      expect(row['ip.src']).toEqual(['198.51.100.1', innerSrc(inner)]);
      expect(row['ip.dst']).toEqual(['198.51.100.2', innerDst(inner)]);
      expect(row['ip.proto']).toEqual(['4', String(inner[9])]);
      const df = String((inner[6]! >> 6) & 1);
      expect(row['ip.flags.df']).toEqual([df, df]);
      expect(row['ip.dsfield.ecn']![0]).toBe(String(inner[1]! & 3));
      expect(row['ip.len']).toEqual([String(inner.length + 20), String(inner.length)]);
      expect(row['ip.checksum.status']).toEqual([TSHARK_CHECKSUM.GOOD, TSHARK_CHECKSUM.GOOD]);
    });
  });

  it('udp (flannel legacy): the UDP payload is the inner IP packet', async () => {
    const built = build(encapUdp, 8285);
    const rows = await decodeWithTshark(built.map((b) => b.frame), {
      linktype: LINKTYPE_RAW,
      decodeAs: ['udp.port==8285,ip'],
      fields: ['ip.src', 'ip.dst', 'udp.srcport', 'udp.dstport', 'udp.length', 'udp.checksum.status', 'ip.checksum.status'],
    });
    rows.forEach((row, i) => {
      const { inner } = built[i]!;
      expect(row['ip.src']).toEqual([dotted(A.underlay), innerSrc(inner)]);
      expect(row['ip.dst']).toEqual(['198.51.100.2', innerDst(inner)]);
      expect(row['udp.srcport']![0]).toBe('8285');
      expect(row['udp.dstport']![0]).toBe('8285');
      expect(row['udp.length']![0]).toBe(String(inner.length + 8));
      expect(row['udp.checksum.status']![0]).toBe(TSHARK_CHECKSUM.GOOD);
      expect(row['ip.checksum.status']).toEqual([TSHARK_CHECKSUM.GOOD, TSHARK_CHECKSUM.GOOD]);
    });
  });
});
