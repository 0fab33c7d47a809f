import { describe, expect, it } from 'vitest';
import { LpmTable } from '../../native-free/table/lpm.js';
import { PeerTable } from '../../native-free/table/peers.js';
import { trace, type TraceNode } from '../../src/daemon/trace.js';
import { parseTraceQuery } from '../../src/daemon/trace-query.js';

function node(backend: 'vxlan' | 'ipip' | 'udp'): TraceNode {
  const routes = LpmTable.create({ family: 4, capacity: 10 });
  const peers = PeerTable.create({ capacity: 10 });
  const id = peers.add(0xc6336402, '02:00:00:00:02:02');
  routes.insert(0x0af40200, 24, id);
  return {
    backend,
    config: { localUnderlay: 0xc6336401, localMac: Uint8Array.from([2, 0, 0, 0, 1, 1]), vni: 1, port: backend === 'udp' ? 8285 : 4789, mtu: 1450, outerHeaders: true, udpChecksum: true, ttl: 64 },
    network: { addr: 0x0af40000, len: 16 },
    subnet: { addr: 0x0af40100, len: 24 },
    tun: 'weft0',
    routes,
    peers,
    peerSubnets: () => [{ subnet: '10.244.2.0/24', peer: id }],
  };
}
const req = (dst: string, extra: Partial<ReturnType<typeof parseTraceQuery>> = {}) => ({ src: '10.244.1.5', dst, size: 84, df: true, protocol: 'icmp' as const, ...extra });

describe('trace', () => {
  it.each(['vxlan', 'ipip', 'udp'] as const)('%s: walks a packet to delivery at the receiver', (backend) => {
    const t = trace(node(backend), req('10.244.2.9'));
    expect(t.verdict).toBe('delivered');
    const text = t.steps.map((s) => `${s.step}: ${s.detail}`).join('\n');
    expect(text).toContain('longest prefix 10.244.2.0/24');
    expect(text).toContain('node 198.51.100.2');
    expect(text).toMatch(/outer IPv4 {3}20 B {2}198\.51\.100\.1 → 198\.51\.100\.2/);
    if (backend === 'vxlan') expect(text).toMatch(/VXLAN {9}8 B {2}flags 0x08 \(I\), VNI 1/);
    const overhead = { vxlan: 50, ipip: 20, udp: 28 }[backend];
    expect(text).toContain(`${84 + overhead} bytes from 198.51.100.1 to 198.51.100.2 (${overhead} bytes of tunnel overhead)`);
  });

  it.each(['vxlan', 'udp'] as const)("%s with --source-ports: the socket step names the flow's send-only port, picked by its hash as a worker picks it", (backend) => {
    const ports = [40001, 40002, 40003];
    const seen = new Set<number>();
    for (let host = 2; host < 10; host++) {
      const r = req('10.244.2.9', { protocol: 'udp', src: `10.244.1.${host}` });
      const socket = trace({ ...node(backend), sourcePorts: ports }, r).steps.find((s) => s.step === 'socket')!.detail;
      const port = Number(/with source port (\d+): the send-only socket/.exec(socket)?.[1]);
      expect(ports, socket).toContain(port);
      seen.add(port);
      // The same flow traced again: the same port.
      expect(trace({ ...node(backend), sourcePorts: ports }, r).steps.find((s) => s.step === 'socket')!.detail).toBe(socket);
    }
    expect(trace(node(backend), req('10.244.2.9')).steps.find((s) => s.step === 'socket')!.detail).toContain(`source port ${backend === 'udp' ? 8285 : 4789} (the socket's)`);
    expect(seen.size, '8 flows (8 pod sources) over 3 ports').toBeGreaterThan(1);
  });

  it('explains the MTU refusal and the ICMP answer', () => {
    const t = trace(node('vxlan'), req('10.244.2.9', { size: 1451 }));
    expect(t.verdict).toBe('drop: too_big');
    expect(t.steps.at(-1)!.detail).toMatch(/1451 bytes > tunnel MTU 1450 with DF set.*fragmentation needed/);
  });

  it.each([
    ['10.244.3.9', 'drop: no_route'],
    ['203.0.113.9', 'not-overlay'],
    ['10.244.1.77', 'local'],
  ])('%s → %s', (dst, verdict) => {
    expect(trace(node('vxlan'), req(dst)).verdict).toBe(verdict);
  });

  it('rejects bad parameters with the flag named', () => {
    expect(() => parseTraceQuery(new URLSearchParams({ src: '10.244.1.5', dst: 'nowhere' }))).toThrow(/nowhere/);
    expect(() => parseTraceQuery(new URLSearchParams({ src: '10.244.1.5', dst: '10.244.2.1', proto: 'sctp' }))).toThrow(/--proto "sctp"/);
    expect(() => trace(node('vxlan'), req('10.244.2.9', { size: 10 }))).toThrow(/--size 10/);
  });
});
