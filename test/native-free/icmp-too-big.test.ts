import { describe, expect, it } from 'vitest';
import { checksum } from '../../native-free/checksum.js';
import { DROP_TOO_BIG, FORWARD } from '../../native-free/drop.js';
import { encapVxlan } from '../../native-free/encap/vxlan.js';
import { encapIpip } from '../../native-free/encap/ipip.js';
import { FRAG_NEEDED_MAX_LENGTH, writeFragNeeded } from '../../native-free/icmp-too-big.js';
import { A, encapAt, withHeadroom } from '../helpers/engine.js';
import { ipv4Packet } from '../helpers/packets.js';

const POD = 0x0af40105; // 10.244.1.5 on node A
const REMOTE = 0x0af40207; // 10.244.2.7 on node B
const TUNNEL_ADDR = 0x0af40100; // node A's own tunnel address

describe('MTU check', () => {
  it('refuses a DF packet one byte over the tunnel MTU and accepts one that fits', () => {
    const ctx = encapAt(A, { mtu: 1450 });
    const fits = withHeadroom(ipv4Packet({ src: POD, dst: REMOTE, df: true, payload: new Uint8Array(1430) }));
    expect(encapVxlan(ctx, fits.buf, fits.off, fits.len)).toBe(FORWARD);
    const over = withHeadroom(ipv4Packet({ src: POD, dst: REMOTE, df: true, payload: new Uint8Array(1431) }));
    expect(encapVxlan(ctx, over.buf, over.off, over.len)).toBe(DROP_TOO_BIG);
  });

  it('lets a packet without DF through for the underlay to fragment, and IP-in-IP copies DF', () => {
    const ctx = encapAt(A, { mtu: 1480 });
    const noDf = withHeadroom(ipv4Packet({ src: POD, dst: REMOTE, df: false, payload: new Uint8Array(1600) }));
    expect(encapIpip(ctx, noDf.buf, noDf.off, noDf.len)).toBe(FORWARD);
    expect(noDf.buf[ctx.result.offset + 6]! & 0x40).toBe(0);
    const df = withHeadroom(ipv4Packet({ src: POD, dst: REMOTE, df: true, payload: new Uint8Array(100) }));
    expect(encapIpip(ctx, df.buf, df.off, df.len)).toBe(FORWARD);
    expect(df.buf[ctx.result.offset + 6]! & 0x40).toBe(0x40);
  });
});

describe('writeFragNeeded', () => {
  it('builds type 3 code 4 with the next-hop MTU, to the inner source, quoting the packet', () => {
    const packet = ipv4Packet({ src: POD, dst: REMOTE, df: true, protocol: 6, payload: new Uint8Array(1500).fill(7) });
    const out = new Uint8Array(FRAG_NEEDED_MAX_LENGTH);
    const n = writeFragNeeded(packet, 0, packet.length, 1450, TUNNEL_ADDR, out, 0);
    expect(n).toBe(576);
    expect(checksum(out, 0, 20)).toBe(0);
    expect(out[9]).toBe(1);
    expect(Array.from(out.subarray(12, 20))).toEqual([10, 244, 1, 0, 10, 244, 1, 5]);
    expect(out[20]).toBe(3);
    expect(out[21]).toBe(4);
    expect((out[26]! << 8) | out[27]!).toBe(1450);
    expect(checksum(out, 20, n - 20)).toBe(0);
    expect(out.subarray(28, 48)).toEqual(packet.subarray(0, 20));
  });

  it('quotes a short packet whole', () => {
    const packet = ipv4Packet({ src: POD, dst: REMOTE, df: true, payload: new Uint8Array(30) });
    const out = new Uint8Array(FRAG_NEEDED_MAX_LENGTH);
    expect(writeFragNeeded(packet, 0, packet.length, 1450, TUNNEL_ADDR, out, 0)).toBe(28 + 50);
  });

  it.each([
    ['an ICMP error', { protocol: 1, payload: Uint8Array.from([3, 1, 0, 0, 0, 0, 0, 0]) }],
    ['a multicast destination', { dst: 0xe0000001 }],
    ['a broadcast destination', { dst: 0xffffffff }],
    ['an unspecified source', { src: 0 }],
    ['a loopback source', { src: 0x7f000001 }],
    ['this node itself', { src: TUNNEL_ADDR }],
  ])('stays silent about %s (RFC 1122 §3.2.2)', (_name, spec) => {
    const packet = ipv4Packet({ src: POD, dst: REMOTE, df: true, ...spec });
    expect(writeFragNeeded(packet, 0, packet.length, 1450, TUNNEL_ADDR, new Uint8Array(576), 0)).toBe(0);
  });

  it('stays silent about a non-initial fragment', () => {
    const packet = ipv4Packet({ src: POD, dst: REMOTE });
    packet[7] = 0x10; // offset 16 units
    expect(writeFragNeeded(packet, 0, packet.length, 1450, TUNNEL_ADDR, new Uint8Array(576), 0)).toBe(0);
  });

  it('answers an ICMP echo', () => {
    const packet = ipv4Packet({ src: POD, dst: REMOTE, protocol: 1, payload: Uint8Array.from([8, 0, 0, 0, 0, 1, 0, 1]) });
    expect(writeFragNeeded(packet, 0, packet.length, 1450, TUNNEL_ADDR, new Uint8Array(576), 0)).toBeGreaterThan(0);
  });
});
