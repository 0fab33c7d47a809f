// `weft trace` for IPv6 pods on a dual-stack node (trace6.ts): the walk over
// the IPv6 route table and the IPv6 underlay, the engine's real headers, the
// receiver's checks, the packet-too-big refusal; parseTraceQuery takes IPv6.
import { describe, expect, it } from 'vitest';
import { parseIPv6 } from '../../native-free/addr.js';
import { LpmTable } from '../../native-free/table/lpm.js';
import { PeerTable } from '../../native-free/table/peers.js';
import { parseTraceQuery } from '../../src/daemon/trace-query.js';
import { trace6, type TraceNode6 } from '../../src/daemon/trace6.js';

function node(opts: { peerHasV6?: boolean } = {}): TraceNode6 {
  const routes6 = LpmTable.create({ family: 6, capacity: 10 });
  const peers = PeerTable.create({ capacity: 10 });
  const id = peers.add(0xc6336402, '02:00:00:00:02:02', 0, opts.peerHasV6 === false ? null : { underlay: 'fd00:198:51:100::2', mac: '02:00:00:00:06:02' });
  routes6.insert(parseIPv6('fd00:10:244:2::'), 64, id);
  return {
    backend: 'vxlan',
    config: {
      localUnderlay: 0xc6336401,
      localMac: Uint8Array.from([2, 0, 0, 0, 1, 1]),
      vni: 1,
      port: 4789,
      mtu: 1450,
      mtu6: 1430,
      outerHeaders: true,
      udpChecksum: true,
      ttl: 64,
      localUnderlay6: parseIPv6('fd00:198:51:100::1'),
    },
    subnet: 'fd00:10:244:1::/64',
    network: 'fd00:10:244::/56',
    tun: 'weft0',
    routes6,
    peers,
    peerSubnets: () => [{ subnet: '10.244.2.0/24', peer: id }, { subnet: 'fd00:10:244:2::/64', peer: id }],
  };
}
const req = (dst: string, extra: Partial<ReturnType<typeof parseTraceQuery>> = {}) => ({ src: 'fd00:10:244:1::5', dst, size: 104, df: true, protocol: 'icmp' as const, ...extra });

describe('trace over IPv6', () => {
  it('walks an IPv6 pod packet over the IPv6 underlay to delivery at the receiver', () => {
    const t = trace6(node(), req('fd00:10:244:2::9'));
    const text = t.steps.map((s) => `${s.step}: ${s.detail}`).join('\n');
    expect(t.verdict, text).toBe('delivered');
    expect(text).toContain('longest prefix fd00:10:244:2::/64');
    expect(text).toContain('node fd00:198:51:100::2, IPv6 VTEP MAC 02:00:00:00:06:02');
    expect(text).toMatch(/outer IPv6 {3}40 B {2}fd00:198:51:100::1 → fd00:198:51:100::2, next header 17, hop limit 64/);
    expect(text).toMatch(/VXLAN {9}8 B {2}flags 0x08 \(I\), VNI 1/);
    expect(text).toContain('174 bytes from fd00:198:51:100::1 to fd00:198:51:100::2 (70 bytes of tunnel overhead)');
  });

  it.each([
    ['fd00:10:244:1::7', 'local'],
    ['fd00:99::1', 'not-overlay'],
    ['fd00:10:244:3::1', 'drop: no_route'],
  ])('%s: %s', (dst, verdict) => {
    expect(trace6(node(), req(dst)).verdict).toBe(verdict);
  });

  it('a peer without a PublicIPv6 is no_underlay; over the IPv6 tunnel MTU is too_big with an ICMPv6 answer', () => {
    expect(trace6(node({ peerHasV6: false }), req('fd00:10:244:2::9')).verdict).toBe('drop: no_underlay');
    const big = trace6(node(), req('fd00:10:244:2::9', { size: 1431 }));
    expect(big.verdict).toBe('drop: too_big');
    expect(big.steps.at(-1)!.detail).toMatch(/1431 bytes > IPv6 tunnel MTU 1430.*packet too big/);
  });

  it('the query takes two IPv6 addresses, and refuses mixed families', () => {
    expect(parseTraceQuery(new URLSearchParams({ src: 'fd00:10:244:1::5', dst: 'fd00:10:244:2::9' })).dst).toBe('fd00:10:244:2::9');
    expect(() => parseTraceQuery(new URLSearchParams({ src: '10.244.1.5', dst: 'fd00:10:244:2::9' }))).toThrow(/two addresses of one family/);
    expect(() => parseTraceQuery(new URLSearchParams({ src: 'fd00::1', dst: 'fd00:::2' }))).toThrow();
  });
});
