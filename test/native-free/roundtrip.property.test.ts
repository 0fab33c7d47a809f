// Properties: decap(encap(p)) === p for every valid inner packet and backend;
// decapsulating arbitrary bytes never throws and always names a known reason.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decapIpip } from '../../native-free/decap/ipip.js';
import { decapUdp } from '../../native-free/decap/udp.js';
import { decapVxlan } from '../../native-free/decap/vxlan.js';
import { DROP_REASONS, FORWARD } from '../../native-free/drop.js';
import { encapIpip } from '../../native-free/encap/ipip.js';
import { encapUdp } from '../../native-free/encap/udp.js';
import { encapVxlan } from '../../native-free/encap/vxlan.js';
import type { EncapContext } from '../../native-free/encap/context.js';
import type { DecapContext } from '../../native-free/decap/context.js';
import { A, B, decapAt, encapAt, withHeadroom } from '../helpers/engine.js';
import { ipv4Packet } from '../helpers/packets.js';
import { flowHash4, sourcePortFor } from '../../native-free/flow-hash.js';

const innerIpv4 = fc
  .record({
    srcHost: fc.integer({ min: 0, max: 255 }),
    dstHost: fc.integer({ min: 0, max: 255 }),
    protocol: fc.constantFrom(1, 6, 17, 47, 132),
    ttl: fc.integer({ min: 1, max: 255 }),
    tos: fc.integer({ min: 0, max: 255 }),
    df: fc.boolean(),
    id: fc.integer({ min: 0, max: 0xffff }),
    payload: fc.uint8Array({ minLength: 0, maxLength: 1400 }),
    optionWords: fc.integer({ min: 0, max: 10 }),
  })
  .map((r) =>
    ipv4Packet({
      src: (0x0af40100 | r.srcHost) >>> 0,
      dst: (0x0af40200 | r.dstHost) >>> 0,
      protocol: r.protocol,
      ttl: r.ttl,
      tos: r.tos,
      df: r.df,
      id: r.id,
      payload: r.payload,
      // NOP options (type 1), a legal filler of any length.
      options: new Uint8Array(r.optionWords * 4).fill(1),
    }),
  );

type Backend = {
  name: string;
  encap: (c: EncapContext, b: Uint8Array, o: number, l: number) => number;
  /** Decapsulates what encap produced (a whole outer IPv4 packet at o). */
  decap: (c: DecapContext, b: Uint8Array, o: number, l: number) => number;
};

const backends: Backend[] = [
  { name: 'vxlan', encap: encapVxlan, decap: (c, b, o, l) => decapVxlan(c, b, o + 28, l - 28, A.underlay) },
  { name: 'ipip', encap: encapIpip, decap: decapIpip },
  { name: 'udp', encap: encapUdp, decap: (c, b, o, l) => decapUdp(c, b, o + 28, l - 28, A.underlay) },
];

describe.each(backends)('$name', ({ encap, decap }) => {
  it('decap(encap(p)) gives p back unchanged, in place', () => {
    const enc = encapAt(A, { mtu: 1500 });
    const dec = decapAt(B);
    fc.assert(
      fc.property(innerIpv4, (packet) => {
        const { buf, off, len } = withHeadroom(packet);
        expect(encap(enc, buf, off, len)).toBe(FORWARD);
        const { offset, length } = enc.result;
        expect(decap(dec, buf, offset, length)).toBe(FORWARD);
        expect(dec.result.offset).toBe(off);
        expect(buf.subarray(dec.result.offset, dec.result.offset + dec.result.length)).toEqual(packet);
      }),
      { numRuns: 500 },
    );
  });

  it('never throws on arbitrary bytes and always names a known reason', () => {
    const dec = decapAt(B);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 200 }), fc.boolean(), (bytes, fromPeer) => {
        // Prepend a plausible outer IPv4+UDP so the decap sees the bytes where a payload goes.
        const buf = new Uint8Array(28 + bytes.length);
        buf.set(bytes, 28);
        buf[0] = 0x45;
        buf[9] = 4;
        buf[12] = 198; buf[13] = 51; buf[14] = 100; buf[15] = fromPeer ? 1 : 77;
        const code = decap(dec, buf, 0, buf.length);
        expect(DROP_REASONS[code]).toBeDefined();
        if (code === FORWARD) {
          expect(dec.result.offset + dec.result.length).toBeLessThanOrEqual(buf.length);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe.each(backends.filter((b) => b.name !== 'ipip'))('$name: source-port entropy', ({ name, encap }) => {
  it("leaves the inner flow's hash in the result, the same with or without outer headers (the worker picks the source port from it)", () => {
    const whole = encapAt(A, { mtu: 1500 });
    const payloadOnly = encapAt(A, { mtu: 1500, outerHeaders: false, udpChecksum: false });
    fc.assert(
      fc.property(innerIpv4, (packet) => {
        const want = flowHash4(packet, 0, packet.length);
        for (const ctx of [whole, payloadOnly]) {
          const { buf, off, len } = withHeadroom(packet);
          expect(encap(ctx, buf, off, len)).toBe(FORWARD);
          expect(ctx.result.flowHash).toBe(want);
        }
        // VXLAN's own outer header (pcap, trace) carries the RFC 7348 port of that hash; udp's keeps flannel's port.
        if (name === 'vxlan') expect(whole.result.sourcePort).toBe(sourcePortFor(want));
      }),
      { numRuns: 300 },
    );
  });
});

it('arbitrary bytes straight into every decapsulation, at any offset and length', () => {
  const dec = decapAt(B, true);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.nat(), fc.integer(), (bytes, o, l, src) => {
      const off = bytes.length ? o % bytes.length : 0;
      const len = Math.min(l, bytes.length - off);
      for (const code of [
        decapVxlan(dec, bytes, off, len, src >>> 0),
        decapIpip(dec, bytes, off, len),
        decapUdp(dec, bytes, off, len, src >>> 0),
      ]) {
        expect(DROP_REASONS[code]).toBeDefined();
      }
    }),
    { numRuns: 3000 },
  );
});
