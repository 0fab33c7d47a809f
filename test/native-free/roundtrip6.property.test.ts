// Properties of the IPv6 paths: for every inner family (IPv4, IPv6) over
// every underlay family (IPv4, IPv6), vxlan and udp, decap(encap(p)) === p
// in place; the outer IPv6 UDP checksum always verifies; arbitrary bytes
// into decapVxlan6 / decapUdp6 never throw and always name a known reason;
// anti-spoofing for IPv6 inner packets agrees with a reference rule.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sum16 } from '../../native-free/checksum.js';
import type { DecapContext } from '../../native-free/decap/context.js';
import { decapUdp, decapUdp6 } from '../../native-free/decap/udp.js';
import { decapVxlan, decapVxlan6 } from '../../native-free/decap/vxlan.js';
import { DROP_REASONS, FORWARD, reasonName } from '../../native-free/drop.js';
import type { EncapContext } from '../../native-free/encap/context.js';
import { encapUdp } from '../../native-free/encap/udp.js';
import { encapVxlan } from '../../native-free/encap/vxlan.js';
import { ipv6PseudoHeaderSum } from '../../native-free/header/ipv6.js';
import { A, B, decapAt6, encapAt6 } from '../helpers/engine.js';
import { ipv4Packet, ipv6Packet } from '../helpers/packets.js';

const HEADROOM = 80;

const innerIpv4 = fc
  .record({
    srcHost: fc.integer({ min: 0, max: 255 }),
    dstHost: fc.integer({ min: 0, max: 255 }),
    protocol: fc.constantFrom(1, 6, 17, 47),
    ttl: fc.integer({ min: 1, max: 255 }),
    tos: fc.integer({ min: 0, max: 255 }),
    df: fc.boolean(),
    payload: fc.uint8Array({ minLength: 0, maxLength: 1380 }),
  })
  .map((r) => ipv4Packet({ src: (A.subnet | r.srcHost) >>> 0, dst: (B.subnet | r.dstHost) >>> 0, protocol: r.protocol, ttl: r.ttl, tos: r.tos, df: r.df, payload: r.payload }));

const host6 = (net: Uint8Array, iid: Uint8Array) => {
  const a = new Uint8Array(16);
  a.set(net.subarray(0, 8));
  a.set(iid, 8);
  return a;
};
const innerIpv6 = fc
  .record({
    src: fc.uint8Array({ minLength: 8, maxLength: 8 }),
    dst: fc.uint8Array({ minLength: 8, maxLength: 8 }),
    nh: fc.constantFrom(6, 17, 58, 59),
    hop: fc.integer({ min: 1, max: 255 }),
    tc: fc.integer({ min: 0, max: 255 }),
    flow: fc.integer({ min: 0, max: 0xfffff }),
    payload: fc.uint8Array({ minLength: 0, maxLength: 1380 }),
  })
  .map((r) => {
    const p = ipv6Packet(host6(A.subnet6, r.src), host6(B.subnet6, r.dst), r.payload, r.hop, r.tc);
    p[6] = r.nh;
    p[1] = (p[1]! & 0xf0) | (r.flow >>> 16);
    p[2] = (r.flow >>> 8) & 0xff;
    p[3] = r.flow & 0xff;
    return p;
  });

type Backend = {
  name: string;
  encap: (c: EncapContext, b: Uint8Array, o: number, l: number) => number;
  /** Decapsulates the whole outer packet at o: IPv4 (20 + 8 bytes) or IPv6 (40 + 8) in front of the payload. */
  decap: (c: DecapContext, b: Uint8Array, o: number, l: number, family: 4 | 6) => number;
};
const backends: Backend[] = [
  {
    name: 'vxlan',
    encap: encapVxlan,
    decap: (c, b, o, l, f) => (f === 4 ? decapVxlan(c, b, o + 28, l - 28, A.underlay) : decapVxlan6(c, b, o + 48, l - 48, A.underlay6, 0)),
  },
  {
    name: 'udp',
    encap: encapUdp,
    decap: (c, b, o, l, f) => (f === 4 ? decapUdp(c, b, o + 28, l - 28, A.underlay) : decapUdp6(c, b, o + 48, l - 48, A.underlay6, 0)),
  },
];

describe.each(backends)('$name', ({ encap, decap }) => {
  it('decap(encap(p)) gives p back unchanged, in place, for inner v4/v6 × underlay v4/v6', () => {
    const dec = decapAt6(B);
    fc.assert(
      fc.property(fc.oneof(innerIpv4, innerIpv6), fc.constantFrom(4, 6) as fc.Arbitrary<4 | 6>, (packet, outer) => {
        const enc = encapAt6(A, { mtu: 1500, mtu6: 1500, outerFor4: outer, outerFor6: outer, port: 4789 });
        const buf = new Uint8Array(HEADROOM + packet.length);
        buf.set(packet, HEADROOM);
        expect(reasonName(encap(enc, buf, HEADROOM, packet.length))).toBe('forward');
        const { offset, length, family } = enc.result;
        expect(family).toBe(outer);
        if (family === 6) {
          // The checksum is always there over IPv6, and good.
          const udp = offset + 40;
          expect(sum16(buf, udp, length - 40, ipv6PseudoHeaderSum(buf, offset, 17, length - 40))).toBe(0xffff);
        }
        // The inner ECN combined with its own copy in the outer header changes nothing (RFC 6040).
        const code = decap(dec, buf, offset, length, family);
        expect(reasonName(code)).toBe('forward');
        expect(dec.result.offset).toBe(HEADROOM);
        expect(buf.subarray(dec.result.offset, dec.result.offset + dec.result.length)).toEqual(packet);
      }),
      { numRuns: 600 },
    );
  });

  it('never throws on arbitrary bytes over IPv6 and always names a known reason', () => {
    const dec = decapAt6(B);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 200 }), fc.boolean(), fc.boolean(), (bytes, fromPeer, plausible) => {
        const buf = new Uint8Array(48 + bytes.length);
        buf.set(bytes, 48);
        if (plausible && bytes.length > 30) {
          // A VXLAN header with our VNI and our v6 MAC, so the checks past them get random input too.
          buf.set([0x08, 0, 0, 0, 0, 0, 1, 0], 48);
          buf.set(B.mac6, 56);
        }
        const src = fromPeer ? A.underlay6 : Uint8Array.from(bytes.subarray(0, 16).length === 16 ? bytes.subarray(0, 16) : new Uint8Array(16));
        const code = decap(dec, buf, 0, buf.length, 6);
        expect(DROP_REASONS[code]).toBeDefined();
        if (code === FORWARD) expect(dec.result.offset + dec.result.length).toBeLessThanOrEqual(buf.length);
        const code2 = decapVxlan6(dec, buf, 48, buf.length - 48, src, 0);
        expect(DROP_REASONS[code2]).toBeDefined();
      }),
      { numRuns: 3000 },
    );
  });
});

it('arbitrary bytes straight into the v6 decapsulations, at any offset and length', () => {
  const dec = decapAt6(B, { acceptUnknownPeers: true });
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.nat(), fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes, o, l, src) => {
      const off = bytes.length ? o % bytes.length : 0;
      const len = Math.min(l, bytes.length - off);
      for (const code of [decapVxlan6(dec, bytes, off, len, src, 0), decapUdp6(dec, bytes, off, len, src, 0)]) {
        expect(DROP_REASONS[code]).toBeDefined();
      }
    }),
    { numRuns: 3000 },
  );
});

it('IPv6 anti-spoofing agrees with the rule: source in the sender\'s /64, destination in ours', () => {
  const dec = decapAt6(B);
  const prefixes = [A.subnet6, B.subnet6, Uint8Array.from([0xfd, 0, 2, 0x44, 0, 3, 0, 0]), Uint8Array.from([0xfe, 0x80, 0, 0, 0, 0, 0, 0])];
  const addr = fc.record({ p: fc.nat(prefixes.length - 1), iid: fc.uint8Array({ minLength: 8, maxLength: 8 }) }).map(({ p, iid }) => ({ p, a: host6(prefixes[p]!, iid) }));
  fc.assert(
    fc.property(addr, addr, ({ p: ps, a: src }, { p: pd, a: dst }) => {
      const inner = ipv6Packet(src, dst, new Uint8Array(8));
      const payload = new Uint8Array(22 + inner.length);
      payload.set([0x08, 0, 0, 0, 0, 0, 1, 0]);
      payload.set(B.mac6, 8);
      payload[20] = 0x86;
      payload[21] = 0xdd;
      payload.set(inner, 22);
      const want = ps !== 0 ? 'spoofed_source' : pd !== 1 ? 'not_local' : 'forward';
      expect(reasonName(decapVxlan6(dec, payload, 0, payload.length, A.underlay6, 0))).toBe(want);
    }),
    { numRuns: 1000 },
  );
});
