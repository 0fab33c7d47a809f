// A kernel VXLAN peer's TCP/IPv6 TSO super-packet that a veth passed whole
// (longer than the tunnel MTU): prepareSuperPacket hands it to the kernel as
// GSO_TCPV6 with vnet, cuts it with tso6.ts on a plain TUN; damaged ones are
// dropped, others written as they are.
import { describe, expect, it } from 'vitest';

import { DROP_BAD_CHECKSUM, FORWARD } from '../../../native-free/drop.js';
import { NOT_SUPER_PACKET, prepareSuperPacket } from '../../../native-free/offload/peer-super-packet.js';
import { createOffloadResult, createTsoSlab } from '../../../native-free/offload/tso.js';
import { TCP, base6, pseudo6, tcp6ChecksumOk, tcp6Packet, u16, u32, udp6Packet } from './ip6.js';
import { VNET } from './tcp4.js';

const MTU = 1450;
const le16 = (b: Uint8Array, at: number) => b[at]! | (b[at + 1]! << 8);
const spec = base6({ flags: 0x10, payload: Uint8Array.from({ length: 20000 }, (_, i) => (i * 3) & 255) });

function inBuffer(p: Uint8Array): Uint8Array {
  const b = new Uint8Array(16 + p.length);
  b.set(p, 16);
  return b;
}

describe('peer super-packets over IPv6', () => {
  it.each(['full', 'partial'] as const)('vnet, checksum %s: GSO_TCPV6, gso_size = MTU - 40 - TCP header, the field the pseudo-header sum', (check) => {
    const p = tcp6Packet(spec, check);
    const b = inBuffer(p);
    expect(prepareSuperPacket(b, 16, p.length, MTU, null, null)).toBe(FORWARD);
    const h = 16 - VNET;
    expect([b[h], b[h + 1], le16(b, h + 2), le16(b, h + 4), le16(b, h + 6), le16(b, h + 8)]).toEqual([1, 4, 72, MTU - 72, 40, 16]);
    const pkt = b.subarray(16);
    expect(u16(pkt, 56)).toBe(pseudo6(pkt, TCP, pkt.length - 40));
    // Nothing else changed.
    expect(Buffer.from(pkt.subarray(0, 56)).equals(Buffer.from(p.subarray(0, 56)))).toBe(true);
    expect(Buffer.from(pkt.subarray(58)).equals(Buffer.from(p.subarray(58)))).toBe(true);
  });

  it('vnet, CWR set: the ECN bit in gso_type', () => {
    const p = tcp6Packet(base6({ flags: 0x90, payload: new Uint8Array(5000) }), 'full');
    const b = inBuffer(p);
    expect(prepareSuperPacket(b, 16, p.length, MTU, null, null)).toBe(FORWARD);
    expect(b[16 - VNET + 1]).toBe(0x84);
  });

  it.each(['full', 'partial'] as const)('plain TUN, checksum %s: cut into MTU-sized segments with full checksums', (check) => {
    const p = tcp6Packet(spec, check);
    const slab = createTsoSlab(32, MTU, 0);
    const r = createOffloadResult(32);
    expect(prepareSuperPacket(inBuffer(p), 16, p.length, MTU, slab, r)).toBe(FORWARD);
    expect(r.count).toBe(Math.ceil(20000 / (MTU - 72)));
    const joined: number[] = [];
    for (let i = 0; i < r.count; i++) {
      const seg = r.buf.subarray(r.offsets[i]!, r.offsets[i]! + r.lengths[i]!);
      expect(seg.length).toBeLessThanOrEqual(MTU);
      expect(tcp6ChecksumOk(seg)).toBe(true);
      expect(u32(seg, 44)).toBe((spec.seq + i * (MTU - 72)) >>> 0);
      joined.push(...seg.subarray(72));
    }
    expect(Buffer.from(joined).equals(Buffer.from(spec.payload))).toBe(true);
  });

  it('damaged: dropped as bad_checksum, vnet or not', () => {
    const p = tcp6Packet(spec, 'damaged');
    expect(prepareSuperPacket(inBuffer(p), 16, p.length, MTU, null, null)).toBe(DROP_BAD_CHECKSUM);
    expect(prepareSuperPacket(inBuffer(p), 16, p.length, MTU, createTsoSlab(32, MTU, 0), createOffloadResult(32))).toBe(DROP_BAD_CHECKSUM);
  });

  it('UDP, or an extension header before TCP: not one to cut, written as it is (untouched)', () => {
    const udp = udp6Packet(base6({ payload: new Uint8Array(5000) }), 'full');
    const b = inBuffer(udp);
    expect(prepareSuperPacket(b, 16, udp.length, MTU, null, null)).toBe(NOT_SUPER_PACKET);
    expect(Buffer.from(b.subarray(16)).equals(Buffer.from(udp))).toBe(true);
    const ext = tcp6Packet(base6({ nextHeader: 0, payload: new Uint8Array(5000) }), 'full');
    const e = inBuffer(ext);
    expect(prepareSuperPacket(e, 16, ext.length, MTU, null, null)).toBe(NOT_SUPER_PACKET);
    expect(Buffer.from(e.subarray(16)).equals(Buffer.from(ext))).toBe(true);
  });
});
