// Golden bytes for TSO6 and USO6: a small TCP/IPv6 super-packet and a UDP/IPv6
// one cut by the engine must give exactly the segments scapy builds for the
// same fields (checksums computed by scapy: the literals below came from
//   IPv6(src="fd00:0:0:1::5", dst="fd00:0:0:2::7", tc=0xb8, fl=0x9abcd, hlim=63)
//   / TCP(sport=40000, dport=5201, seq=0x10000000 + 16*i, ack=0x20000000,
//         flags=..., window=502, options=[NOP, NOP, Timestamp(1, 2)]) / payload
//   / UDP(sport=4433, dport=50000) / payload
// ), and tshark must read them with their checksums good.
import { describe, expect, it } from 'vitest';

import { OFFLOAD_OK } from '../../../native-free/offload/reasons.js';
import { createOffloadResult, createTsoSlab, tunReadToPackets } from '../../../native-free/offload/tso.js';
import { LINKTYPE_RAW } from '../../../native-free/pcap.js';
import { TSHARK_CHECKSUM, decodeWithTshark, skipWithoutTshark } from '../../helpers/tshark.js';
import { base6, tcp6Super, udp6Super } from './ip6.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

const TSO6 = [
  '6b89abcd0030063ffd000000000000010000000000000005fd0000000000000200000000000000079c4014511000000020000000801001f6f83800000101080a0000000100000002030a11181f262d343b424950575e656c',
  null,
  '6b89abcd0028063ffd000000000000010000000000000005fd0000000000000200000000000000079c4014511000002020000000801801f6b7f300000101080a0000000100000002e3eaf1f8ff060d14',
];
const USO6 = [
  '6b89abcd0014113ffd000000000000010000000000000005fd0000000000000200000000000000071151c35000148b2005121f2c394653606d7a8794',
  null,
  '6b89abcd000e113ffd000000000000010000000000000005fd0000000000000200000000000000071151c350000e2af33d4a5764717e',
];

function cut(read: Uint8Array): Uint8Array[] {
  const slab = createTsoSlab(8, 256, 32, 256);
  const r = createOffloadResult(8);
  expect(tunReadToPackets(read, 0, read.length, slab, r)).toBe(OFFLOAD_OK);
  return Array.from({ length: r.count }, (_, i) => r.buf.slice(r.offsets[i]!, r.offsets[i]! + r.lengths[i]!));
}

const tcpRead = () => tcp6Super(base6({ payload: Uint8Array.from({ length: 40 }, (_, i) => (i * 7 + 3) & 255), gsoSize: 16 }));
const udpRead = () => udp6Super(base6({ sport: 4433, dport: 50000, payload: Uint8Array.from({ length: 30 }, (_, i) => (i * 13 + 5) & 255), gsoSize: 12 }));

describe('TSO6 / USO6 golden bytes', () => {
  it('a TCP/IPv6 super-packet of 40 bytes at gso_size 16: the first and last segments are scapy\'s, byte for byte', () => {
    const segs = cut(tcpRead());
    expect(segs.length).toBe(3);
    expect(hex(segs[0]!)).toBe(TSO6[0]);
    expect(hex(segs[2]!)).toBe(TSO6[2]);
  });

  it('a UDP/IPv6 super-packet of 30 bytes at gso_size 12: the first and last datagrams are scapy\'s, byte for byte', () => {
    const d = cut(udpRead());
    expect(d.length).toBe(3);
    expect(hex(d[0]!)).toBe(USO6[0]);
    expect(hex(d[2]!)).toBe(USO6[2]);
  });
});

describe.skipIf(skipWithoutTshark('offload IPv6 tshark cross-check'))('tshark reads the TSO6 segments and USO6 datagrams', () => {
  it('checksums good; seq, lengths, flags, traffic class, flow label, hop limit as cut', async () => {
    const segs = cut(tcpRead());
    const dgrams = cut(udpRead());
    const rows = await decodeWithTshark([...segs, ...dgrams], {
      linktype: LINKTYPE_RAW,
      fields: ['ipv6.plen', 'ipv6.tclass', 'ipv6.flow', 'ipv6.hlim', 'tcp.checksum.status', 'tcp.seq_raw', 'tcp.len', 'tcp.flags', 'udp.checksum.status', 'udp.length'],
      prefs: ['tcp.relative_sequence_numbers:FALSE', 'tcp.analyze_sequence_numbers:FALSE'],
    });
    expect(rows.length).toBe(6);
    const tcpLens = [16, 16, 8];
    const tcpFlags = ['0x0010', '0x0010', '0x0018'];
    rows.slice(0, 3).forEach((row, i) => {
      expect(row['tcp.checksum.status']).toEqual([TSHARK_CHECKSUM.GOOD]);
      expect(row['tcp.seq_raw']).toEqual([String(0x10000000 + 16 * i)]);
      expect(row['tcp.len']).toEqual([String(tcpLens[i])]);
      expect(row['tcp.flags']).toEqual([tcpFlags[i]]);
      expect(row['ipv6.plen']).toEqual([String(32 + tcpLens[i]!)]);
    });
    const udpLens = [12, 12, 6];
    rows.slice(3).forEach((row, i) => {
      expect(row['udp.checksum.status']).toEqual([TSHARK_CHECKSUM.GOOD]);
      expect(row['udp.length']).toEqual([String(8 + udpLens[i]!)]);
      expect(row['ipv6.plen']).toEqual([String(8 + udpLens[i]!)]);
    });
    for (const row of rows) {
      expect(row['ipv6.tclass']).toEqual(['0x000000b8']);
      expect(row['ipv6.flow']).toEqual(['0x09abcd']);
      expect(row['ipv6.hlim']).toEqual(['63']);
    }
  });
});
