// Independent check of segmentation: tshark verifies the IPv4 and TCP
// checksums of segments tso.ts made and reads their sequence numbers.
import { describe, expect, it } from 'vitest';

import { OFFLOAD_OK } from '../../../native-free/offload/reasons.js';
import { createOffloadResult, createTsoSlab, tunReadToPackets } from '../../../native-free/offload/tso.js';
import { LINKTYPE_RAW } from '../../../native-free/pcap.js';
import { TSHARK_CHECKSUM, decodeWithTshark, skipWithoutTshark } from '../../helpers/tshark.js';
import { baseSpec, superPacket } from './tcp4.js';

describe.skipIf(skipWithoutTshark('offload tshark cross-check'))('tshark reads the segments tso.ts writes', () => {
  it('checksums good, seq / length / id / flags as expected', async () => {
    const specs = [
      baseSpec(),
      baseSpec({ gsoSize: 1001, seq: 0xfffff000, id: 0xffff, flags: 0xd9, gsoType: 0x81, payload: Uint8Array.from({ length: 4003 }, (_, i) => (i * 11) & 255) }),
      baseSpec({ ipOptions: Uint8Array.from([1, 1, 1, 0]), tcpOptions: new Uint8Array(0), df: false, payload: new Uint8Array(3000).fill(0xa5) }),
    ];
    const frames: Uint8Array[] = [];
    const expected: Array<{ seq: number; len: number; id: number; flags: number }> = [];
    const slab = createTsoSlab(64, 1900, 64, 2048);
    const r = createOffloadResult(64);
    for (const s of specs) {
      const read = superPacket(s);
      expect(tunReadToPackets(read, 0, read.length, slab, r)).toBe(OFFLOAD_OK);
      for (let i = 0; i < r.count; i++) {
        frames.push(r.buf.slice(r.offsets[i]!, r.offsets[i]! + r.lengths[i]!));
        let flags = s.flags;
        if (i > 0) flags &= ~0x80;
        if (i < r.count - 1) flags &= ~0x09;
        expected.push({ seq: (s.seq + i * s.gsoSize) >>> 0, len: Math.min(s.gsoSize, s.payload.length - i * s.gsoSize), id: (s.id + i) & 0xffff, flags });
      }
    }
    const rows = await decodeWithTshark(frames, {
      linktype: LINKTYPE_RAW,
      fields: ['ip.checksum.status', 'ip.id', 'ip.len', 'tcp.checksum.status', 'tcp.seq_raw', 'tcp.len', 'tcp.flags', 'tcp.srcport', 'tcp.dstport'],
      prefs: ['tcp.relative_sequence_numbers:FALSE', 'tcp.analyze_sequence_numbers:FALSE'],
    });
    expect(rows.length).toBe(7 + 4 + 3);
    rows.forEach((row, i) => {
      const e = expected[i]!;
      expect(row['ip.checksum.status']).toEqual([TSHARK_CHECKSUM.GOOD]);
      expect(row['tcp.checksum.status']).toEqual([TSHARK_CHECKSUM.GOOD]);
      expect(row['tcp.seq_raw']).toEqual([String(e.seq)]);
      expect(row['tcp.len']).toEqual([String(e.len)]);
      expect(row['ip.id']).toEqual([`0x${e.id.toString(16).padStart(4, '0')}`]);
      expect(row['tcp.flags']).toEqual([`0x${e.flags.toString(16).padStart(4, '0')}`]);
      expect(row['tcp.srcport']).toEqual(['40000']);
      expect(row['tcp.dstport']).toEqual(['5201']);
    });
  });
});
