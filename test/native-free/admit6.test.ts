// Decapsulation over IPv6 and anti-spoofing for IPv6 inner packets
// (native-free/decap/admit6.ts, deliver.ts checkSender6): the sender check
// by IPv6 underlay, the v6 VTEP MAC, the families a node carries, and the
// source/destination table, as admit.test.ts has it for IPv4.
//
// Nodes (test/helpers/engine.ts): A 2001:db8:100::1 holds fd00:244:1::/64,
// B ::2 holds fd00:244:2::/64. Packets arrive at B.
import { describe, expect, it } from 'vitest';
import { parseIPv6 } from '../../native-free/addr.js';
import { inPrefix6 } from '../../native-free/decap/admit6.js';
import { decapUdp6 } from '../../native-free/decap/udp.js';
import { decapVxlan, decapVxlan6 } from '../../native-free/decap/vxlan.js';
import { createDecapContext } from '../../native-free/decap/context.js';
import { reasonName } from '../../native-free/drop.js';
import { InvalidArgumentError } from '../../native-free/errors.js';
import { FAMILY_BOTH, FAMILY_V4, FAMILY_V6 } from '../../native-free/family.js';
import { A, B, decapAt6, peerLookup } from '../helpers/engine.js';
import { ipv4Packet, ipv6Packet } from '../helpers/packets.js';

const ETH_IPV4 = 0x0800;
const ETH_IPV6 = 0x86dd;
const ip6 = parseIPv6;

/** The UDP payload of a VXLAN datagram (VNI 1) to toMac, built by hand. */
function vxlanPayload(inner: Uint8Array, toMac: Uint8Array = B.mac6): Uint8Array {
  const etherType = inner[0]! >>> 4 === 6 ? ETH_IPV6 : ETH_IPV4;
  const p = new Uint8Array(8 + 14 + inner.length);
  p[0] = 0x08;
  p[6] = 1;
  p.set(toMac, 8);
  p.set(A.mac6, 14);
  p[20] = etherType >> 8;
  p[21] = etherType & 0xff;
  p.set(inner, 22);
  return p;
}

const v6 = (src: string, dst: string, hop = 64) => ipv6Packet(ip6(src), ip6(dst), new Uint8Array(16).fill(7), hop);
const v4 = (src: number, dst: number) => ipv4Packet({ src, dst });

/** Decapsulates at B a VXLAN payload that came over IPv6 from `from` (A's v6 underlay by default). */
function atB(inner: Uint8Array, opts: Parameters<typeof decapAt6>[1] = {}, from = A.underlay6, toMac = B.mac6): string {
  const ctx = decapAt6(B, opts);
  const p = vxlanPayload(inner, toMac);
  return reasonName(decapVxlan6(ctx, p, 0, p.length, from, 0));
}

describe('IPv6 anti-spoofing table (arriving at B from A over IPv6)', () => {
  it.each([
    ['A pod → B pod', 'fd00:244:1::5', 'fd00:244:2::7', 'forward'],
    ["A's tunnel address (its subnet's first) → B's", 'fd00:244:1::', 'fd00:244:2::', 'forward'],
    ['a B pod as source (ours, forged)', 'fd00:244:2::9', 'fd00:244:2::7', 'spoofed_source'],
    ['another node\'s pod as source', 'fd00:244:3::5', 'fd00:244:2::7', 'spoofed_source'],
    ['link-local source', 'fe80::1', 'fd00:244:2::7', 'spoofed_source'],
    ['an outside source', '2001:db8:ffff::1', 'fd00:244:2::7', 'spoofed_source'],
    ['A pod → A pod (relay back)', 'fd00:244:1::5', 'fd00:244:1::6', 'not_local'],
    ['A pod → outside (relay out)', 'fd00:244:1::5', '2001:4860::8888', 'not_local'],
    ['A pod → multicast', 'fd00:244:1::5', 'ff02::1', 'not_local'],
    ['A pod → B pod in the last /64 byte range', 'fd00:244:1::ffff', 'fd00:244:2:0:ffff:ffff:ffff:ffff', 'forward'],
  ])('%s: %s → %s is %s', (_n, src, dst, want) => {
    expect(atB(v6(src, dst))).toBe(want);
  });

  it('the same packets all pass with the check off, except families the node does not carry', () => {
    expect(atB(v6('fd00:244:2::9', 'fd00:244:1::6'), { spoofCheck: false })).toBe('forward');
    expect(atB(v6('fd00:244:1::5', 'fd00:244:2::7'), { spoofCheck: false, families: FAMILY_V4 })).toBe('family_disabled');
  });
});

describe('families a node carries', () => {
  it.each([
    ['v4-only node, v6 inner', FAMILY_V4, () => v6('fd00:244:1::5', 'fd00:244:2::7'), 'family_disabled'],
    ['v4-only node, v4 inner', FAMILY_V4, () => v4(0x0af40105, 0x0af40207), 'forward'],
    ['v6-only node, v4 inner', FAMILY_V6, () => v4(0x0af40105, 0x0af40207), 'family_disabled'],
    ['v6-only node, v6 inner', FAMILY_V6, () => v6('fd00:244:1::5', 'fd00:244:2::7'), 'forward'],
    ['dual-stack, v4 inner over v6', FAMILY_BOTH, () => v4(0x0af40105, 0x0af40207), 'forward'],
    ['dual-stack, v4 inner spoofed over v6', FAMILY_BOTH, () => v4(0x0af40305, 0x0af40207), 'spoofed_source'],
  ] as const)('%s: %s', (_n, families, make, want) => {
    expect(atB(make(), { families })).toBe(want);
  });

  it('a node with no innerFamilies keeps the old rule: IPv4 only', () => {
    const ctx = createDecapContext({ vni: 1, localMac: B.mac, acceptUnknownPeers: false, admission: null }, peerLookup([A, B]));
    const p = vxlanPayload(v6('fd00:244:1::5', 'fd00:244:2::7'), B.mac);
    expect(reasonName(decapVxlan(ctx, p, 0, p.length, A.underlay))).toBe('family_disabled');
  });
});

describe('the IPv6 outer: sender, MAC, hop limit', () => {
  it('an unknown IPv6 sender is unknown_peer; a v4 peer address in v6 form is no peer either', () => {
    expect(atB(v6('fd00:244:1::5', 'fd00:244:2::7'), {}, ip6('2001:db8:100::99'))).toBe('unknown_peer');
    expect(atB(v6('fd00:244:1::5', 'fd00:244:2::7'), {}, ip6('::ffff:198.51.100.1'))).toBe('unknown_peer');
  });

  it('with acceptUnknownPeers an unknown sender passes only with a source no known node owns', () => {
    const stranger = ip6('2001:db8:100::99');
    expect(atB(v6('fd00:244:1::5', 'fd00:244:2::7'), { acceptUnknownPeers: true }, stranger)).toBe('spoofed_source');
    expect(atB(v6('fd00:99::5', 'fd00:244:2::7'), { acceptUnknownPeers: true }, stranger)).toBe('forward');
  });

  it("frames over IPv6 must be addressed to our v6 device's MAC, over IPv4 to the v4 one", () => {
    const inner = v6('fd00:244:1::5', 'fd00:244:2::7');
    expect(atB(inner, {}, A.underlay6, B.mac)).toBe('not_for_us');
    const ctx = decapAt6(B);
    const p = vxlanPayload(inner, B.mac);
    expect(reasonName(decapVxlan(ctx, p, 0, p.length, A.underlay))).toBe('forward');
    const q = vxlanPayload(inner, B.mac6);
    expect(reasonName(decapVxlan(ctx, q, 0, q.length, A.underlay))).toBe('not_for_us');
  });

  it('hop limit 0 is ttl_expired, as TTL 0', () => {
    expect(atB(v6('fd00:244:1::5', 'fd00:244:2::7', 0))).toBe('ttl_expired');
  });

  it('an IPv6 payload length past the datagram is bad_inner, shorter is fine (padding)', () => {
    const long = v6('fd00:244:1::5', 'fd00:244:2::7');
    long[5] = long[5]! + 1;
    expect(atB(long)).toBe('bad_inner');
    const padded = new Uint8Array(long.length + 8);
    padded.set(v6('fd00:244:1::5', 'fd00:244:2::7'));
    const ctx = decapAt6(B);
    const p = vxlanPayload(padded);
    expect(reasonName(decapVxlan6(ctx, p, 0, p.length, A.underlay6, 0))).toBe('forward');
    expect(ctx.result.length).toBe(56);
  });

  it('udp backend over IPv6: the same sender and admission checks', () => {
    const ctx = decapAt6(B);
    const ok = v6('fd00:244:1::5', 'fd00:244:2::7');
    expect(reasonName(decapUdp6(ctx, ok, 0, ok.length, A.underlay6, 0))).toBe('forward');
    expect(reasonName(decapUdp6(ctx, ok, 0, ok.length, ip6('2001:db8::9'), 0))).toBe('unknown_peer');
    const spoof = v6('fd00:244:2::5', 'fd00:244:2::7');
    expect(reasonName(decapUdp6(ctx, spoof, 0, spoof.length, A.underlay6, 0))).toBe('spoofed_source');
    expect(reasonName(decapUdp6(ctx, ok, 0, 10, A.underlay6, 0))).toBe('short');
  });

  it('honest traffic keeps flowing between attacks, each counted by its reason', () => {
    const counts = new Map<string, number>();
    const ctx = decapAt6(B);
    for (let i = 0; i < 300; i++) {
      const attack = i % 3 === 0;
      const inner = attack ? v6('fd00:244:2::66', 'fd00:244:2::7') : v6('fd00:244:1::5', 'fd00:244:2::7');
      const p = vxlanPayload(inner);
      const r = reasonName(decapVxlan6(ctx, p, 0, p.length, A.underlay6, 0));
      counts.set(r, (counts.get(r) ?? 0) + 1);
    }
    expect(Object.fromEntries(counts)).toEqual({ spoofed_source: 100, forward: 200 });
  });

  it('IPv6 admission is a config error without routes6 / subnet6 / prefix6', () => {
    const base = { routes: { lookup: () => -1 }, subnet: 0, mask: 0 };
    const mk = (adm: object) => () =>
      createDecapContext({ vni: 1, localMac: B.mac, acceptUnknownPeers: false, admission: { ...base, ...adm }, innerFamilies: FAMILY_BOTH }, peerLookup([A, B]));
    expect(mk({})).toThrow(InvalidArgumentError);
    expect(mk({ routes6: { lookup: () => -1 }, subnet6: B.subnet6, prefix6: 0 })).toThrow(InvalidArgumentError);
    expect(mk({ routes6: { lookup: () => -1 }, subnet6: new Uint8Array(4), prefix6: 64 })).toThrow(InvalidArgumentError);
    expect(mk({ routes6: { lookup: () => -1 }, subnet6: B.subnet6, prefix6: 64 })).not.toThrow();
    expect(() => createDecapContext({ vni: 1, localMac: B.mac, acceptUnknownPeers: false, admission: null, innerFamilies: 4 }, peerLookup([A]))).toThrow(InvalidArgumentError);
  });
});

describe('inPrefix6', () => {
  it.each([
    ['fd00:244:2::1', 'fd00:244:2::', 64, true],
    ['fd00:244:3::1', 'fd00:244:2::', 64, false],
    ['fd00:244:2::1', 'fd00:244::', 36, true], // the 5th byte is 0x00: its high nibble matches
    ['fd00:244:1000::1', 'fd00:244::', 36, false],
    ['fd00:244:0fff::1', 'fd00:244::', 36, true],
    ['2001:db8::1', '2001:db8::1', 128, true],
    ['2001:db8::2', '2001:db8::1', 128, false],
    ['8000::', '::', 1, false],
    ['7fff::', '::', 1, true],
  ] as const)('%s in %s/%d: %s', (a, net, len, want) => {
    expect(inPrefix6(ip6(a), 0, ip6(net), len)).toBe(want);
  });
});
