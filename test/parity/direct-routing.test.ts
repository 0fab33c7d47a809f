// flanneld parity, DirectRouting: a peer whose PublicIP is on-link gets a kernel
// route `<subnet> via <PublicIP> dev <underlay>`, so its pods' traffic bypasses
// the tunnel; a peer behind a router keeps the tunnel.
//
// The namespace test runs real weft nodes (file registry, vxlan) and, next to each,
// the DirectRoutes class fed from the same registry as run.ts feeds PeerSync
// (test/parity/fixtures/driver.mjs "direct.watch"): the class, not the wiring.
// test/parity/daemon.test.ts checks the same through `weft run` once wired.
//
//   wefttest-<id>-drul     underlay router: bridge wtbr0 198.51.100.254/24 (node1, node2),
//                          bridge wtbr1 203.0.113.254/24 (node3), ip_forward=1
//   wefttest-<id>-drn1/2   weft on wtn1/wtn2 198.51.100.1/.2 (same L2: direct to each other)
//   wefttest-<id>-drn3     weft on wtn3 203.0.113.3 (via the router: tunnel)
//   wefttest-<id>-drp1/2/3 one pod per node
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIRECT_ROUTE_PROTOCOL, DirectRoutes } from '../../src/daemon/direct-routing.js';
import type { Route, RouteEntry } from '../../src/sys/netlink.js';
import type { LeaseEvent } from '../../src/registry/types.js';
import { FileRegistry } from '../../src/registry/index.js';
import { addPod, hostIn, type Pod } from '../integration/harness/cluster.js';
import { useJanitor, HOOK_TIMEOUT } from '../integration/harness/context.js';
import { ipn, nsRun, sleep, sysctl, waitFor } from '../integration/harness/exec.js';
import { Capture } from '../integration/harness/capture.js';
import { ping } from '../integration/harness/traffic.js';
import { WeftNode } from '../integration/harness/weft-node.js';
import { Driver, linkCounters, skipParity } from './harness.js';

// ---- the class alone ----

const lease = (subnet: string, PublicIP: string, BackendType = 'vxlan'): LeaseEvent['lease'] => ({ subnet, attrs: { PublicIP, BackendType }, expiration: null, revision: 1 });
const added = (subnet: string, ip: string, type?: string): LeaseEvent => ({ type: 'added', lease: lease(subnet, ip, type) });
const removed = (subnet: string, ip: string): LeaseEvent => ({ type: 'removed', lease: lease(subnet, ip) });

function fixture(onLink: (ip: string) => boolean = (ip) => ip.startsWith('198.51.100.'), listed: RouteEntry[] = []) {
  const calls: string[] = [];
  const logs: string[] = [];
  const kernel = new Map<string, string>();
  const describeRoute = (r: Route) => `${String(r.dst)}/${r.prefixLen} via ${String(r.gateway)} dev ${r.dev}${r.protocol !== undefined ? ` proto ${r.protocol}` : ''}`;
  const routes = new DirectRoutes({
    iface: 'wtn1',
    self: { subnet: '10.244.1.0/24' },
    backend: 'vxlan',
    isDirect: onLink,
    log: { info: (_o, m) => logs.push(m), warn: (o, m) => logs.push(`WARN ${m} ${JSON.stringify(o)}`) },
    routes: {
      replace: (r) => {
        calls.push(`replace ${describeRoute(r)}`);
        kernel.set(`${String(r.dst)}/${r.prefixLen}`, String(r.gateway));
      },
      remove: (r) => {
        calls.push(`delete ${describeRoute(r)}`);
        if (!kernel.delete(`${String(r.dst)}/${r.prefixLen}`)) throw Object.assign(new Error('no such route'), { errnoName: 'ESRCH' });
      },
      list: () => listed,
    },
  });
  return { routes, calls, logs, kernel };
}

const N2 = (10 << 24) + (244 << 16) + (2 << 8);
const N3 = (10 << 24) + (244 << 16) + (3 << 8);

describe('DirectRoutes (no root)', () => {
  it('routes an on-link peer directly, leaves others to the tunnel, skips itself', () => {
    const { routes, calls } = fixture();
    routes.apply([added('10.244.1.0/24', '198.51.100.1'), added('10.244.2.0/24', '198.51.100.2'), added('10.244.3.0/24', '203.0.113.3')]);
    expect(calls).toEqual([`replace ${N2}/24 via 198.51.100.2 dev wtn1 proto ${DIRECT_ROUTE_PROTOCOL}`]);
    expect(routes.list()).toMatchObject([{ subnet: '10.244.2.0/24', via: '198.51.100.2', dev: 'wtn1' }]);
  });

  it('a renewal writes nothing; a removed lease deletes its route; removeAll deletes the rest', () => {
    const { routes, calls, kernel } = fixture();
    routes.apply([added('10.244.2.0/24', '198.51.100.2'), added('10.244.4.0/24', '198.51.100.4')]);
    routes.apply([added('10.244.2.0/24', '198.51.100.2')]);
    expect(calls).toHaveLength(2);
    routes.apply([removed('10.244.2.0/24', '198.51.100.2')]);
    expect(calls[2]).toBe(`delete ${N2}/24 via 198.51.100.2 dev wtn1`);
    routes.removeAll();
    expect(kernel.size).toBe(0);
    expect(routes.size).toBe(0);
  });

  it('a peer that moves off-link goes back to the tunnel; one that moves on-link gets a route', () => {
    const { routes, calls, kernel } = fixture();
    routes.apply([added('10.244.3.0/24', '198.51.100.3')]);
    routes.apply([added('10.244.3.0/24', '203.0.113.3')]);
    expect(calls).toEqual([`replace ${N3}/24 via 198.51.100.3 dev wtn1 proto ${DIRECT_ROUTE_PROTOCOL}`, `delete ${N3}/24 via 198.51.100.3 dev wtn1`]);
    expect(kernel.size).toBe(0);
    routes.apply([added('10.244.3.0/24', '198.51.100.33')]);
    expect(kernel.get(`${N3}/24`)).toBe('198.51.100.33');
  });

  it('a new PublicIP on-link replaces the route in one step', () => {
    const { routes, calls } = fixture();
    routes.apply([added('10.244.2.0/24', '198.51.100.2'), added('10.244.2.0/24', '198.51.100.22')]);
    expect(calls).toEqual([
      `replace ${N2}/24 via 198.51.100.2 dev wtn1 proto ${DIRECT_ROUTE_PROTOCOL}`,
      `replace ${N2}/24 via 198.51.100.22 dev wtn1 proto ${DIRECT_ROUTE_PROTOCOL}`,
    ]);
  });

  it('skips leases of another backend (as flannel vxlan does) and bad leases, applying the rest', () => {
    const { routes, calls, logs } = fixture();
    routes.apply([added('10.244.5.0/24', '198.51.100.5', 'ipip'), added('10.244.6.0/24', 'not-an-ip'), added('10.244.2.0/24', '198.51.100.2')]);
    expect(calls).toEqual([`replace ${N2}/24 via 198.51.100.2 dev wtn1 proto ${DIRECT_ROUTE_PROTOCOL}`]);
    expect(logs.some((l) => l.startsWith('WARN direct route not changed') && l.includes('10.244.6.0/24'))).toBe(true);
  });

  it('a failed on-link lookup means the tunnel (as flannel), and drops a direct route held before', () => {
    let fail = false;
    const { routes, kernel, logs } = fixture((ip) => {
      if (fail) throw new Error('ENETUNREACH');
      return ip.startsWith('198.51.100.');
    });
    routes.apply([added('10.244.2.0/24', '198.51.100.2')]);
    fail = true;
    routes.apply([added('10.244.2.0/24', '198.51.100.2')]);
    expect(kernel.size).toBe(0);
    expect(logs.some((l) => l.startsWith('WARN cannot tell whether the peer is on-link'))).toBe(true);
  });

  it('a route deleted by hand: resync() writes it again, and removing it later does not fail', () => {
    const { routes, kernel, logs } = fixture();
    routes.apply([added('10.244.2.0/24', '198.51.100.2')]);
    kernel.clear();
    routes.resync();
    expect(kernel.get(`${N2}/24`)).toBe('198.51.100.2');
    kernel.clear();
    routes.apply([removed('10.244.2.0/24', '198.51.100.2')]);
    expect(logs.filter((l) => l.startsWith('WARN'))).toEqual([]);
  });

  it("removeStale() deletes weft's routes a killed weft left (main table, weft's protocol) that no lease holds, and nothing else", () => {
    const entry = (dst: string, protocol: number, table = 254): RouteEntry => ({ dst, prefixLen: 24, table, protocol, type: 1, oif: 7, gateway: '198.51.100.9', prefsrc: null, metric: 0 });
    const listed = [entry('10.244.2.0', DIRECT_ROUTE_PROTOCOL), entry('10.244.9.0', DIRECT_ROUTE_PROTOCOL), entry('10.244.8.0', 4), entry('10.244.7.0', DIRECT_ROUTE_PROTOCOL, 100)];
    const { routes, calls, kernel } = fixture(undefined, listed);
    routes.apply([added('10.244.2.0/24', '198.51.100.2')]);
    kernel.set('10.244.9.0/24', '198.51.100.9');
    calls.length = 0;
    expect(routes.removeStale()).toBe(1);
    expect(calls).toEqual(['delete 10.244.9.0/24 via 198.51.100.9 dev undefined']);
    expect(kernel.has(`${N2}/24`)).toBe(true);
  });
});

// ---- in namespaces, next to real weft nodes ----

const CONFIG = { Network: '10.244.0.0/16', Backend: { Type: 'vxlan', Port: 4789, DirectRouting: true } };

interface RouteRow {
  dst: string;
  gateway?: string;
  dev: string;
  protocol?: string | number;
}

async function routesIn(ns: string): Promise<RouteRow[]> {
  return JSON.parse((await nsRun(ns, 'ip', ['-j', '-4', 'route', 'show', 'table', 'main'])).stdout) as RouteRow[];
}

function subnetOf(n: WeftNode): string {
  return `${hostIn(n.subnetEnv().subnet, -1)}/24`;
}

describe.skipIf(skipParity('DirectRouting parity'))('DirectRouting next to weft nodes (root)', () => {
  const janitor = useJanitor();
  let ul: string;
  const nodes: WeftNode[] = [];
  const pods: Pod[] = [];
  const drivers: Driver[] = [];
  let registryFile: string;

  beforeAll(async () => {
    const j = janitor();
    const dir = join(j.dir, 'dr');
    registryFile = join(dir, 'registry.json');
    ul = j.addNamespace('drul');
    await sysctl(ul, 'net.ipv4.ip_forward', '1');
    for (const [br, ip] of [['wtbr0', '198.51.100.254/24'], ['wtbr1', '203.0.113.254/24']] as const) {
      await ipn(ul, 'link', 'add', br, 'type', 'bridge');
      await ipn(ul, 'addr', 'add', ip, 'dev', br);
      await ipn(ul, 'link', 'set', br, 'up');
    }
    const plan = [
      { i: 1, br: 'wtbr0', ip: '198.51.100.1', via: ['203.0.113.0/24', '198.51.100.254'] },
      { i: 2, br: 'wtbr0', ip: '198.51.100.2', via: ['203.0.113.0/24', '198.51.100.254'] },
      { i: 3, br: 'wtbr1', ip: '203.0.113.3', via: ['198.51.100.0/24', '203.0.113.254'] },
    ];
    const reg = new FileRegistry({ path: registryFile });
    await reg.putNetworkConfig(JSON.stringify(CONFIG));
    await reg.close();
    for (const p of plan) {
      const ns = j.addNamespace(`drn${p.i}`);
      const dev = `wtn${p.i}`;
      await ipn(ul, 'link', 'add', `${dev}p`, 'type', 'veth', 'peer', 'name', dev, 'netns', ns);
      await ipn(ul, 'link', 'set', `${dev}p`, 'master', p.br, 'up');
      await ipn(ns, 'addr', 'add', `${p.ip}/24`, 'dev', dev);
      await ipn(ns, 'link', 'set', dev, 'up');
      await ipn(ns, 'route', 'add', p.via[0]!, 'via', p.via[1]!);
      await sysctl(ns, 'net.ipv4.ip_forward', '1');
      nodes.push(new WeftNode(j, `dr${p.i}`, ns, dev, p.ip, dir, '', ['--registry-file', registryFile]));
    }
    await Promise.all(nodes.map((n) => n.start()));
    for (const [i, n] of nodes.entries()) {
      const env = n.subnetEnv();
      pods.push(await addPod(j, n.ns, `drp${i + 1}`, env.subnet, env.mtu));
    }
    for (const n of nodes) {
      await waitFor(`${n.name} sees 2 peers`, async () => (await n.status()).peers.length === 2, 10_000);
    }
    // What run.ts would do with DirectRouting: a DirectRoutes fed by the lease watch, in each node's namespace.
    for (const n of nodes) {
      const d = await Driver.start(j, n.ns);
      drivers.push(d);
      await d.call('direct.watch', { registryFile, iface: n.iface, self: { subnet: subnetOf(n) }, backend: 'vxlan' });
    }
  }, HOOK_TIMEOUT);

  afterAll(async () => {
    for (const d of drivers) await d.close().catch(() => undefined);
    for (const n of nodes) await n.stop().catch(() => undefined);
  }, HOOK_TIMEOUT);

  it('node1 and node2 get a direct route to each other; node3, behind a router, gets none', async () => {
    const [n1, n2, n3] = nodes as [WeftNode, WeftNode, WeftNode];
    const r1 = await routesIn(n1.ns);
    expect(r1.filter((r) => String(r.protocol) === String(DIRECT_ROUTE_PROTOCOL))).toEqual([
      expect.objectContaining({ dst: subnetOf(n2), gateway: '198.51.100.2', dev: 'wtn1' }),
    ]);
    const r2 = await routesIn(n2.ns);
    expect(r2.filter((r) => String(r.protocol) === String(DIRECT_ROUTE_PROTOCOL))).toEqual([
      expect.objectContaining({ dst: subnetOf(n1), gateway: '198.51.100.1', dev: 'wtn2' }),
    ]);
    expect((await routesIn(n3.ns)).filter((r) => String(r.protocol) === String(DIRECT_ROUTE_PROTOCOL))).toEqual([]);
    // the tunnel route for the whole Network is still there, less specific
    expect(r1).toContainEqual(expect.objectContaining({ dst: '10.244.0.0/16', dev: 'weft0' }));
    // the kernel agrees: node2's pod goes out of the underlay, node3's into weft0
    const get = async (ns: string, dst: string) => (JSON.parse((await nsRun(ns, 'ip', ['-j', 'route', 'get', dst])).stdout) as RouteRow[])[0]!;
    expect(await get(n1.ns, pods[1]!.ip)).toMatchObject({ dev: 'wtn1', gateway: '198.51.100.2' });
    expect(await get(n1.ns, pods[2]!.ip)).toMatchObject({ dev: 'weft0' });
  });

  it('pod traffic between on-link nodes flows without weft0, unencapsulated; to node3 it takes the tunnel', async () => {
    const [n1, n2] = nodes as [WeftNode, WeftNode];
    const [p1, p2, p3] = pods as [Pod, Pod, Pod];
    const before1 = await linkCounters(n1.ns, 'weft0');
    const before2 = await linkCounters(n2.ns, 'weft0');
    const cap = await Capture.start(janitor(), n1.ns, 'wtn1', `icmp or udp port 4789`, join(janitor().dir, 'dr', 'direct.pcapng'));
    const r = await ping(p1.ns, p2.ip, { count: 20, intervalS: 0.05 });
    await sleep(300);
    await cap.stop();
    expect(r.received).toBe(20);
    const after1 = await linkCounters(n1.ns, 'weft0');
    const after2 = await linkCounters(n2.ns, 'weft0');
    // weft0's tx: what the kernel queued for weft. Flat on both ends (±2 for stray control traffic, none expected).
    expect(after1.txPackets - before1.txPackets).toBeLessThanOrEqual(2);
    expect(after2.txPackets - before2.txPackets).toBeLessThanOrEqual(2);
    // On the underlay: the pods' ICMP as plain IP, and no VXLAN at all.
    const out = await nsRun(n1.ns, 'tshark', ['-n', '-r', cap.file, '-d', 'udp.port==4789,vxlan', '-T', 'fields', '-e', 'vxlan.vni', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'icmp.type']);
    const rows = out.stdout.split('\n').filter((l) => l.trim() !== '');
    expect(rows.filter((l) => l === `\t${p1.ip}\t${p2.ip}\t8`).length).toBeGreaterThanOrEqual(15); // tshark may miss the first few
    expect(rows.filter((l) => l === `\t${p2.ip}\t${p1.ip}\t0`).length).toBeGreaterThanOrEqual(15);
    expect(rows.filter((l) => !l.startsWith('\t'))).toEqual([]); // no VXLAN frame

    const t0 = await linkCounters(n1.ns, 'weft0');
    expect((await ping(p1.ns, p3.ip, { count: 10, intervalS: 0.05 })).received).toBe(10);
    expect((await linkCounters(n1.ns, 'weft0')).txPackets - t0.txPackets).toBeGreaterThanOrEqual(10);
  });

  it("a removed lease takes its direct route with it; traffic to that node's pod goes back to weft0 (and fails: the node is gone)", async () => {
    const [n1, n2] = nodes as [WeftNode, WeftNode];
    const gone = subnetOf(n2);
    expect(await drivers[0]!.call('registry.release', { registryFile, subnet: gone })).toBe(true);
    await waitFor('node1 drops its direct route', async () => !(await routesIn(n1.ns)).some((r) => r.dst === gone), 5000);
    await n2.proc?.exited; // weft stops when its own lease is revoked, as flanneld
    const get = (JSON.parse((await nsRun(n1.ns, 'ip', ['-j', 'route', 'get', pods[1]!.ip])).stdout) as RouteRow[])[0]!;
    expect(get.dev).toBe('weft0');
  });

  it('removeAll() (shutdown) leaves no direct route behind', async () => {
    for (const d of drivers) await d.call('direct.unwatch');
    for (const n of nodes) expect((await routesIn(n.ns)).filter((r) => String(r.protocol) === String(DIRECT_ROUTE_PROTOCOL))).toEqual([]);
  });
});
