// A node behind NAT, as flanneld runs one: --public-ip is the NAT's address, which
// is on no interface of the node. weft publishes it in its lease and binds and sends
// from the interface address; the NAT maps one to the other.
//
//   wefttest-<id>-ntul   "public" segment: bridge wtbr0 203.0.113.254/24
//   wefttest-<id>-ntrt   NAT router: wtr0 203.0.113.1/24 on wtbr0, wtr1 198.51.100.254/24
//                        to node1; SNAT 198.51.100.1 → 203.0.113.1, DNAT udp 4789 back
//   wefttest-<id>-ntn1   weft --iface wtn1 --public-ip 203.0.113.1 on 198.51.100.1/24
//                        (default via the router)
//   wefttest-<id>-ntn2   weft --iface wtn2 on 203.0.113.2/24
//   wefttest-<id>-ntp1/2 one pod per node
// Both nodes share a file registry (one machine, two namespaces).
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileRegistry } from '../../src/registry/index.js';
import { addPod, type Pod } from '../integration/harness/cluster.js';
import { useJanitor, HOOK_TIMEOUT } from '../integration/harness/context.js';
import { ipn, nsRun, sysctl, waitFor } from '../integration/harness/exec.js';
import { ping } from '../integration/harness/traffic.js';
import { WeftNode } from '../integration/harness/weft-node.js';
import { skipParity } from './harness.js';

const CONFIG = { Network: '10.244.0.0/16', Backend: { Type: 'vxlan', Port: 4789 } };

describe.skipIf(skipParity('weft behind NAT'))('weft run behind NAT: --public-ip published, interface address bound (root)', () => {
  const janitor = useJanitor();
  const nodes: WeftNode[] = [];
  const pods: Pod[] = [];
  let rt = '';

  beforeAll(async () => {
    const j = janitor();
    const dir = join(j.dir, 'nt');
    const registryFile = join(dir, 'registry.json');
    const ul = j.addNamespace('ntul');
    rt = j.addNamespace('ntrt');
    const n1 = j.addNamespace('ntn1');
    const n2 = j.addNamespace('ntn2');
    await ipn(ul, 'link', 'add', 'wtbr0', 'type', 'bridge');
    await ipn(ul, 'addr', 'add', '203.0.113.254/24', 'dev', 'wtbr0');
    await ipn(ul, 'link', 'set', 'wtbr0', 'up');
    // router and node2 on the public bridge
    for (const [ns, dev, ip] of [[rt, 'wtr0', '203.0.113.1/24'], [n2, 'wtn2', '203.0.113.2/24']] as const) {
      await ipn(ul, 'link', 'add', `${dev}p`, 'type', 'veth', 'peer', 'name', dev, 'netns', ns);
      await ipn(ul, 'link', 'set', `${dev}p`, 'master', 'wtbr0', 'up');
      await ipn(ns, 'addr', 'add', ip, 'dev', dev);
      await ipn(ns, 'link', 'set', dev, 'up');
    }
    // node1 behind the router
    await ipn(rt, 'link', 'add', 'wtr1', 'type', 'veth', 'peer', 'name', 'wtn1', 'netns', n1);
    await ipn(rt, 'addr', 'add', '198.51.100.254/24', 'dev', 'wtr1');
    await ipn(rt, 'link', 'set', 'wtr1', 'up');
    await ipn(n1, 'addr', 'add', '198.51.100.1/24', 'dev', 'wtn1');
    await ipn(n1, 'link', 'set', 'wtn1', 'up');
    await ipn(n1, 'route', 'add', 'default', 'via', '198.51.100.254');
    await sysctl(rt, 'net.ipv4.ip_forward', '1');
    for (const rule of [
      ['-t', 'nat', '-A', 'POSTROUTING', '-o', 'wtr0', '-s', '198.51.100.1', '-j', 'SNAT', '--to-source', '203.0.113.1'],
      ['-t', 'nat', '-A', 'PREROUTING', '-i', 'wtr0', '-d', '203.0.113.1', '-p', 'udp', '--dport', '4789', '-j', 'DNAT', '--to-destination', '198.51.100.1'],
    ]) {
      await nsRun(rt, 'iptables', ['-w', ...rule]);
    }
    for (const ns of [n1, n2]) await sysctl(ns, 'net.ipv4.ip_forward', '1');
    const reg = new FileRegistry({ path: registryFile });
    await reg.putNetworkConfig(JSON.stringify(CONFIG));
    await reg.close();
    nodes.push(new WeftNode(j, 'nt1', n1, 'wtn1', '198.51.100.1', dir, '', ['--registry-file', registryFile, '--public-ip', '203.0.113.1']));
    nodes.push(new WeftNode(j, 'nt2', n2, 'wtn2', '203.0.113.2', dir, '', ['--registry-file', registryFile]));
    await Promise.all(nodes.map((n) => n.start()));
    for (const [i, n] of nodes.entries()) {
      const env = n.subnetEnv();
      pods.push(await addPod(j, n.ns, `ntp${i + 1}`, env.subnet, env.mtu));
    }
    for (const n of nodes) await waitFor(`${n.name} sees its peer`, async () => (await n.status()).peers.length === 1, 10_000);
  }, HOOK_TIMEOUT);

  afterAll(async () => {
    for (const n of nodes) await n.stop().catch(() => undefined);
  }, HOOK_TIMEOUT);

  it('node1 publishes the NAT address and binds its own; node2 knows it by the NAT address', async () => {
    const [n1, n2] = nodes as [WeftNode, WeftNode];
    expect((await n1.status()).lease.publicIp).toBe('203.0.113.1');
    expect((await n2.status()).peers.map((p) => p.publicIp)).toEqual(['203.0.113.1']);
    const sockets = (await nsRun(n1.ns, 'ss', ['-H', '-u', '-a', '-n'])).stdout;
    expect(sockets).toContain('198.51.100.1:4789');
    expect(sockets).not.toContain('203.0.113.1:4789');
  });

  it('pods reach each other both ways through the NAT; nothing is dropped as an unknown peer', async () => {
    const [p1, p2] = pods as [Pod, Pod];
    expect((await ping(p1.ns, p2.ip, { count: 10, intervalS: 0.05 })).received).toBe(10);
    expect((await ping(p2.ns, p1.ip, { count: 10, intervalS: 0.05 })).received).toBe(10);
    // node2 takes tunnel packets only from known PublicIPs: node1's arrive from the
    // NAT's address (the router's SNAT), not from 198.51.100.1, which node2 cannot even reach.
    for (const n of nodes) expect((await n.metrics()).drops['unknown_peer'] ?? 0, n.name).toBe(0);
    const snat = (await nsRun(rt, 'iptables', ['-w', '-t', 'nat', '-L', 'POSTROUTING', '-v', '-x', '-n'])).stdout;
    expect(Number(/^\s*(\d+)\s+\d+\s+SNAT/m.exec(snat)?.[1] ?? 0), 'packets through the SNAT rule').toBeGreaterThan(0);
  });
});
