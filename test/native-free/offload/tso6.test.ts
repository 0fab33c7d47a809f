// TSO6 (tso6.ts): a TCP/IPv6 super-packet from the TUN (GSO_TCPV6) cut into
// MSS-sized segments, checked field by field and with an independent word
// sum (ip6.ts), as the kernel's tcp_gso_segment / ipv6_gso_segment would cut it.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { VIRTIO_NET_HDR_GSO_TCPV6, VIRTIO_NET_HDR_GSO_UDP_L4 } from '../../../native-free/offload/virtio-net-hdr.js';
import {
  OFFLOAD_BAD_IP,
  OFFLOAD_BAD_TCP,
  OFFLOAD_IPV6_EXTENSION,
  OFFLOAD_NOT_TCP,
  OFFLOAD_OK,
  OFFLOAD_REASON_COUNT,
  OFFLOAD_SEGMENT_TOO_BIG,
  OFFLOAD_TOO_MANY_SEGMENTS,
  VNET_BAD_CSUM_START,
  VNET_BAD_GSO_SIZE,
  VNET_BAD_HDR_LEN,
} from '../../../native-free/offload/reasons.js';
import { type TsoSlab, createOffloadResult, createTsoSlab, packedStride, tunReadToPackets } from '../../../native-free/offload/tso.js';
import { type Spec6, TCP, base6, pseudo6, spec6Arb, tcp6ChecksumOk, tcp6Packet, tcp6Super, u16, u32 } from './ip6.js';
import { VNET, wordSum } from './tcp4.js';

const HEADROOM = 64;
const FIN = 1;
const PSH = 8;
const CWR = 0x80;

function segments(read: Uint8Array, slab: TsoSlab = createTsoSlab(160, 1900, HEADROOM, 2048)) {
  const r = createOffloadResult(160);
  const code = tunReadToPackets(read, 0, read.length, slab, r);
  const pkts: Uint8Array[] = [];
  if (code === OFFLOAD_OK) for (let i = 0; i < r.count; i++) pkts.push(r.buf.slice(r.offsets[i]!, r.offsets[i]! + r.lengths[i]!));
  return { code, r, pkts, slab };
}

/** Every property a segmentation of `s` must have. */
export function checkSegmentation6(s: Spec6, pkts: Uint8Array[]): void {
  const n = s.payload.length;
  const thl = 20 + s.tcpOptions.length;
  const count = n === 0 ? 1 : Math.ceil(n / s.gsoSize);
  expect(pkts.length).toBe(count);
  const joined: number[] = [];
  const head = tcp6Packet(s, 'full');
  pkts.forEach((pkt, i) => {
    expect(tcp6ChecksumOk(pkt)).toBe(true);
    expect(u16(pkt, 4)).toBe(pkt.length - 40); // payload length
    // Version, traffic class, flow label, next header, hop limit, addresses: copied.
    expect(Buffer.from(pkt.subarray(0, 4)).equals(Buffer.from(head.subarray(0, 4)))).toBe(true);
    expect(Buffer.from(pkt.subarray(6, 40)).equals(Buffer.from(head.subarray(6, 40)))).toBe(true);
    const want = Math.min(s.gsoSize, n - i * s.gsoSize);
    expect(pkt.length - 40 - thl).toBe(Math.max(0, want));
    expect(u32(pkt, 44)).toBe((s.seq + i * s.gsoSize) >>> 0);
    let flags = s.flags;
    if (i > 0) flags &= ~CWR;
    if (i < count - 1) flags &= ~(FIN | PSH);
    expect(pkt[53]).toBe(flags);
    // Ports, ack, data offset, window, urgent pointer, options: copied.
    expect([u16(pkt, 40), u16(pkt, 42), u32(pkt, 48), pkt[52], u16(pkt, 54), u16(pkt, 58)]).toEqual([s.sport, s.dport, s.ack, head[52], s.window, 0]);
    expect(Buffer.from(pkt.subarray(60, 40 + thl)).equals(Buffer.from(s.tcpOptions))).toBe(true);
    for (const x of pkt.subarray(40 + thl)) joined.push(x);
  });
  expect(Buffer.from(joined).equals(Buffer.from(s.payload))).toBe(true);
}

describe('tso6: a TCP/IPv6 super-packet from the TUN → MSS-sized segments', () => {
  it('10000 bytes at 1428: 7 segments of 1500 bytes and one of 76, headroom kept, checksums over the IPv6 pseudo-header', () => {
    const s = base6();
    const { code, r, pkts, slab } = segments(tcp6Super(s));
    expect(code).toBe(OFFLOAD_OK);
    expect(r.inPlace).toBe(false);
    expect(r.buf).toBe(slab.b);
    checkSegmentation6(s, pkts);
    expect(Array.from(r.lengths.subarray(0, r.count))).toEqual([1500, 1500, 1500, 1500, 1500, 1500, 1500, 10000 - 7 * 1428 + 72]);
    for (let i = 0; i < r.count; i++) expect(r.offsets[i]).toBe(i * 2048 + HEADROOM);
  });

  // [name, spec change, why]
  const cases: Array<[string, Partial<Spec6>]> = [
    ['FIN and PSH only on the last segment', { flags: 0x19 }],
    ['CWR only on the first (GSO ECN)', { flags: 0xd0 }],
    ['sequence numbers wrap past 2^32', { seq: 0xfffff000 }],
    ['one byte more than one segment', { payload: new Uint8Array(1429).fill(0xee) }],
    ['exactly two segments', { payload: new Uint8Array(2856).fill(0x11) }],
    ['no payload: one segment', { payload: new Uint8Array(0), flags: 0x11 }],
    ['no TCP options', { tcpOptions: new Uint8Array(0) }],
    ['a 64 KB super-packet (65535 bytes in all)', { payload: Uint8Array.from({ length: 65535 - 72 }, (_, i) => (i * 31) & 255) }],
  ];
  it.each(cases)('%s', (_name, over) => {
    const s = base6(over);
    const { code, pkts } = segments(tcp6Super(s, VIRTIO_NET_HDR_GSO_TCPV6 | (((over.flags ?? 0) & CWR) !== 0 ? 0x80 : 0)));
    expect(code).toBe(OFFLOAD_OK);
    checkSegmentation6(s, pkts);
  });

  it('any spec: segments valid, in order, the payload reassembles (property)', () => {
    fc.assert(
      fc.property(spec6Arb(), (s) => {
        const { code, pkts } = segments(tcp6Super(s), createTsoSlab(160, 1900, HEADROOM, 2048));
        expect(code).toBe(OFFLOAD_OK);
        checkSegmentation6(s, pkts);
      }),
      { numRuns: 300 },
    );
  });

  it('the read in the slab itself (native copy) gives the same bytes', () => {
    const s = base6({ payload: Uint8Array.from({ length: 30000 }, (_, i) => (i * 5) & 255) });
    const read = tcp6Super(s);
    const stride = packedStride(read, 0, read.length, HEADROOM);
    expect(stride).toBe(HEADROOM + 40 + 32 + 1428);
    const slots = 24;
    const b = new Uint8Array(slots * stride + read.length);
    b.set(read, slots * stride);
    const r = createOffloadResult(64);
    expect(tunReadToPackets(b, slots * stride, read.length, { b, offset: 0, stride, headroom: HEADROOM, capacity: slots }, r)).toBe(OFFLOAD_OK);
    const pkts: Uint8Array[] = [];
    for (let i = 0; i < r.count; i++) pkts.push(b.slice(r.offsets[i]!, r.offsets[i]! + r.lengths[i]!));
    checkSegmentation6(s, pkts);
    expect(pkts).toEqual(segments(read).pkts);
  });

  it('packedStride for UDP/IPv6: 40 + 8 + gso_size', () => {
    const read = tcp6Super(base6());
    read[1] = VIRTIO_NET_HDR_GSO_UDP_L4;
    expect(packedStride(read, 0, read.length, 22)).toBe(22 + 48 + 1428);
  });

  it('NEEDS_CSUM without GSO over IPv6: the checksum is completed in place (the field held the v6 pseudo-header sum)', () => {
    const pkt = tcp6Packet(base6({ payload: new Uint8Array(333).fill(7) }), 'partial');
    const read = new Uint8Array(VNET + pkt.length);
    read.set([1, 0, 72, 0, 0, 0, 40, 0, 16, 0]);
    read.set(pkt, VNET);
    const { code, r } = segments(read);
    expect(code).toBe(OFFLOAD_OK);
    expect(r.inPlace).toBe(true);
    expect(tcp6ChecksumOk(read.subarray(VNET))).toBe(true);
  });

  const fixPartial = (b: Uint8Array) => {
    const p = b.subarray(VNET);
    const c = pseudo6(p, TCP, u16(p, 4));
    p[56] = c >> 8;
    p[57] = c & 255;
  };
  // [name, how to break the read, reason]
  const bad: Array<[string, (r: Uint8Array) => void, number]> = [
    ['hop-by-hop options first: extension headers are refused, not cut', (r) => { r[VNET + 6] = 0; }, OFFLOAD_IPV6_EXTENSION],
    ['a fragment header first', (r) => { r[VNET + 6] = 44; }, OFFLOAD_IPV6_EXTENSION],
    ['a routing header first', (r) => { r[VNET + 6] = 43; }, OFFLOAD_IPV6_EXTENSION],
    ['next header UDP', (r) => { r[VNET + 6] = 17; }, OFFLOAD_NOT_TCP],
    ['IP version 4 under GSO_TCPV6', (r) => { r[VNET] = 0x45; }, OFFLOAD_BAD_IP],
    ['payload length past the read', (r) => { r[VNET + 4]! += 1; }, OFFLOAD_BAD_IP],
    ['payload length shorter than a TCP header', (r) => { r[VNET + 4] = 0; r[VNET + 5] = 19; }, OFFLOAD_BAD_TCP],
    ['data offset 4 (16 bytes)', (r) => { r[VNET + 52] = 0x40; }, OFFLOAD_BAD_TCP],
    ['data offset past the payload', (r) => { r[VNET + 4] = 0; r[VNET + 5] = 40; r[VNET + 52] = 0xf0; }, OFFLOAD_BAD_TCP],
    ['gso_size 0', (r) => { r[4] = 0; r[5] = 0; }, VNET_BAD_GSO_SIZE],
    ['hdr_len past the packet', (r) => { r[2] = 0xff; r[3] = 0xff; }, VNET_BAD_HDR_LEN],
    ['csum_start + csum_offset past the packet', (r) => { r[6] = 0xf0; r[7] = 0xff; }, VNET_BAD_CSUM_START],
    ['gso_size 2: more segments than the slab holds', (r) => { r[4] = 2; r[5] = 0; }, OFFLOAD_TOO_MANY_SEGMENTS],
    ['gso_size larger than a slot', (r) => { r[4] = 0x00; r[5] = 0x10; }, OFFLOAD_SEGMENT_TOO_BIG],
  ];
  it.each(bad)('refused: %s', (_name, breakIt, reason) => {
    const read = tcp6Super(base6());
    breakIt(read);
    fixPartial(read);
    expect(segments(read).code).toBe(reason);
  });

  it('random virtio headers in front of IPv6 packets, and random bytes: never a throw, always OK or a known reason (property)', () => {
    const slab = createTsoSlab(48, 1900, HEADROOM, 2048);
    const r = createOffloadResult(48);
    const pkt = tcp6Super(base6({ payload: new Uint8Array(5000).fill(3) }));
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 10, maxLength: 10 }),
        fc.constantFrom(4, 5, 0x84, 0, 1),
        fc.integer({ min: 0, max: pkt.length - VNET }),
        fc.array(fc.tuple(fc.nat(pkt.length - 1), fc.nat(255)), { maxLength: 6 }),
        (hdr, gso, cutAt, pokes) => {
          const read = pkt.slice(0, VNET + cutAt);
          read.set(hdr, 0);
          if (hdr[0]! & 1) read[1] = gso;
          for (const [at, v] of pokes) if (at >= VNET && at < read.length) read[at] = v;
          const code = tunReadToPackets(read, 0, read.length, slab, r);
          expect(Number.isInteger(code) && code >= 0 && code < OFFLOAD_REASON_COUNT).toBe(true);
          if (code === OFFLOAD_OK && !r.inPlace) {
            for (let i = 0; i < r.count; i++) {
              expect(r.offsets[i]! + r.lengths[i]!).toBeLessThanOrEqual(slab.b.length);
              const seg = r.buf.subarray(r.offsets[i]!, r.offsets[i]! + r.lengths[i]!);
              // Whatever was cut is a well-formed IPv6 segment with a checksum that verifies.
              expect(u16(seg, 4)).toBe(seg.length - 40);
              const proto = seg[6]!;
              expect(wordSum(seg.subarray(40), pseudo6(seg, proto, seg.length - 40))).toBe(0xffff);
            }
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
