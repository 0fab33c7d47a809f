// flanneld parity, host-gw (flannel pkg/backend/hostgw): no encapsulation; each
// node routes every other node's subnet via that node's PublicIP, so all nodes
// must share one L2 segment. weft opens no TUN and no socket and starts no
// worker; a peer that is not on-link is refused with the reason and counted.
//
// The class alone (DirectRoutes in mode 'every-peer'), then `weft run` itself:
//
//   wefttest-<id>-hgul      router: bridge wtbr0 198.51.100.254/24 (nodes 1-3),
//                           bridge wtbr1 203.0.113.126/25 (node 4), ip_forward=1
//   wefttest-<id>-hgn1/2/3  weft (host-gw) on wtn1/2/3 198.51.100.1-3, one L2 segment
//   wefttest-<id>-hgn4      weft (host-gw) on wtn4 203.0.113.4, behind the router:
//                           not on-link for anyone, and nobody is for it
//   wefttest-<id>-hgn5      a node behind NAT (--public-ip not its own): refused to start
//   wefttest-<id>-hgp1/2/3/4 one pod per node
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIRECT_ROUTE_PROTOCOL, DirectRoutes } from '../../src/daemon/direct-routing.js';
import type { LeaseEvent } from '../../src/registry/types.js';
import { FileRegistry, type Lease } from '../../src/registry/index.js';
import { addPod, hostIn, type Pod } from '../integration/harness/cluster.js';
import { useJanitor, HOOK_TIMEOUT, TEST_TIMEOUT } from '../integration/harness/context.js';
import { ipn, nsRun, Proc, sleep, sysctl, waitFor } from '../integration/harness/exec.js';
import { Capture } from '../integration/harness/capture.js';
import { ping, randomFile, tcpTransfer } from '../integration/harness/traffic.js';
import { WEFT_BIN, WeftNode } from '../integration/harness/weft-node.js';
import { skipParity } from './harness.js';
import { formatIPv6 } from '../../native-free/addr.js';

// ---- the class alone ----

const lease = (subnet: string, PublicIP: string): LeaseEvent['lease'] => ({ subnet, attrs: { PublicIP, BackendType: 'host-gw' }, expiration: null, revision: 1 });
const added = (subnet: string, ip: string): LeaseEvent => ({ type: 'added', lease: lease(subnet, ip) });
const removed = (subnet: string, ip: string): LeaseEvent => ({ type: 'removed', lease: lease(subnet, ip) });

function everyPeer(opts: { onLink?: (ip: string) => boolean; refuse?: (gw: string) => string | null; ipv6?: boolean } = {}) {
  const kernel = new Map<string, string>();
  const warnings: Array<Record<string, unknown>> = [];
  const onLink = opts.onLink ?? ((ip: string) => ip.startsWith('198.51.100.') || ip.startsWith('fd00:198:51:100:'));
  const routes = new DirectRoutes({
    iface: 'wtn1',
    self: { subnet: '10.244.1.0/24', ipv6Subnet: 'fd00:10:244:1::/64' },
    ipv6: opts.ipv6 ?? false,
    backend: 'host-gw',
    mode: 'every-peer',
    isDirect: (ip) => {
      if (ip === '198.51.100.66') throw new Error('netlink: no answer');
      return onLink(ip);
    },
    log: { info: () => undefined, warn: (o) => warnings.push(o as Record<string, unknown>) },
    routes: {
      replace: (r) => {
        const why = opts.refuse?.(String(r.gateway)) ?? null;
        if (why) throw new Error(why);
        kernel.set(`${dstText(r.dst)}/${r.prefixLen}`, String(r.gateway));
      },
      remove: (r) => {
        kernel.delete(`${dstText(r.dst)}/${r.prefixLen}`);
      },
      list: () => [],
    },
  });
  return { routes, kernel, warnings };
}

const N2 = (10 << 24) + (244 << 16) + (2 << 8);
/** IPv6 destinations reach the route writer as 16 bytes. */
const dstText = (d: unknown): string => (d instanceof Uint8Array ? formatIPv6(d) : String(d));

const lease6 = (subnet: string, PublicIP: string, ipv6Subnet?: string, PublicIPv6?: string | null): LeaseEvent['lease'] => ({
  subnet,
  ...(ipv6Subnet !== undefined ? { ipv6Subnet } : {}),
  attrs: { PublicIP, BackendType: 'host-gw', ...(PublicIPv6 !== undefined ? { PublicIPv6 } : {}) },
  expiration: null,
  revision: 1,
});

describe("DirectRoutes, host-gw's mode 'every-peer' (no root)", () => {
  it('routes every on-link peer; refuses one that is not on-link, with the reason, counted once per lease change', () => {
    const { routes, kernel, warnings } = everyPeer();
    routes.apply([added('10.244.1.0/24', '198.51.100.1'), added('10.244.2.0/24', '198.51.100.2'), added('10.244.4.0/24', '203.0.113.4')]);
    expect(routes.list().map((r) => [r.subnet, r.via])).toEqual([['10.244.2.0/24', '198.51.100.2']]);
    expect(kernel.size).toBe(1);
    expect(routes.refused()).toMatchObject([{ subnet: '10.244.4.0/24', publicIp: '203.0.113.4', reason: 'not_on_link' }]);
    expect(routes.refusals()).toEqual({ not_on_link: 1, lookup_failed: 0, kernel_refused: 0, no_public_ip: 0 });
    expect(warnings).toMatchObject([{ subnet: '10.244.4.0/24', reason: 'not_on_link' }]);
    // its renewal is refused again, not counted again
    routes.apply([added('10.244.4.0/24', '203.0.113.4')]);
    expect(routes.refusals().not_on_link).toBe(1);
    expect(warnings).toHaveLength(1);
  });

  it('a peer that moves off the link loses its route; moving back brings it back; its lease removed clears the refusal', () => {
    const { routes, kernel } = everyPeer();
    routes.apply([added('10.244.2.0/24', '198.51.100.2')]);
    routes.apply([added('10.244.2.0/24', '203.0.113.2')]);
    expect(kernel.size, 'no route to an address that no longer answers for the subnet').toBe(0);
    expect(routes.refused()).toHaveLength(1);
    routes.apply([added('10.244.2.0/24', '198.51.100.2')]);
    expect([...kernel]).toEqual([[`${N2}/24`, '198.51.100.2']]);
    expect(routes.refused()).toEqual([]);
    routes.apply([added('10.244.5.0/24', '203.0.113.5')]);
    routes.apply([removed('10.244.5.0/24', '203.0.113.5'), removed('10.244.2.0/24', '198.51.100.2')]);
    expect(routes.refused()).toEqual([]);
    expect(kernel.size).toBe(0);
  });

  it("a failed lookup and the kernel's refusal are refusals with their reason; the other peers keep their routes", () => {
    const { routes, kernel } = everyPeer({ refuse: (gw) => (gw === '198.51.100.9' ? 'ENETUNREACH: Nexthop has invalid gateway' : null) });
    routes.apply([added('10.244.2.0/24', '198.51.100.2'), added('10.244.6.0/24', '198.51.100.66'), added('10.244.9.0/24', '198.51.100.9')]);
    expect(kernel.size).toBe(1);
    expect(routes.refused().map((r) => [r.subnet, r.reason])).toEqual([
      ['10.244.6.0/24', 'lookup_failed'],
      ['10.244.9.0/24', 'kernel_refused'],
    ]);
    expect(routes.refused()[1]!.detail).toMatch(/Nexthop has invalid gateway/);
    expect(routes.refusals()).toEqual({ not_on_link: 0, lookup_failed: 1, kernel_refused: 1, no_public_ip: 0 });
  });
});

describe("DirectRoutes for IPv6 (EnableIPv6), as flannel's route_network.go v6 routes (no root)", () => {
  it('routes a dual-stack peer by both subnets, each via its own family\'s PublicIP; the own lease is skipped', () => {
    const { routes, kernel } = everyPeer({ ipv6: true });
    routes.apply([
      { type: 'added', lease: lease6('10.244.1.0/24', '198.51.100.1', 'fd00:10:244:1::/64', 'fd00:198:51:100::1') },
      { type: 'added', lease: lease6('10.244.2.0/24', '198.51.100.2', 'fd00:10:244:2::/64', 'fd00:198:51:100::2') },
    ]);
    expect(routes.list().map((r) => [r.subnet, r.via])).toEqual([
      ['10.244.2.0/24', '198.51.100.2'],
      ['fd00:10:244:2::/64', 'fd00:198:51:100::2'],
    ]);
    expect(kernel.get('fd00:10:244:2::/64')).toBe('fd00:198:51:100::2');
  });

  it('an IPv6-only lease (no IPv4 subnet) gets its IPv6 route; removed, it goes', () => {
    const { routes, kernel } = everyPeer({ ipv6: true });
    routes.apply([{ type: 'added', lease: lease6('', '0.0.0.0', 'fd00:10:244:3::/64', 'fd00:198:51:100::3') }]);
    expect([...kernel]).toEqual([['fd00:10:244:3::/64', 'fd00:198:51:100::3']]);
    routes.apply([{ type: 'removed', lease: lease6('', '0.0.0.0', 'fd00:10:244:3::/64', 'fd00:198:51:100::3') }]);
    expect(kernel.size).toBe(0);
    expect(routes.size).toBe(0);
  });

  it('a lease that drops its IPv6 subnet loses that route and keeps the IPv4 one', () => {
    const { routes, kernel } = everyPeer({ ipv6: true });
    routes.apply([{ type: 'added', lease: lease6('10.244.2.0/24', '198.51.100.2', 'fd00:10:244:2::/64', 'fd00:198:51:100::2') }]);
    routes.apply([{ type: 'added', lease: lease6('10.244.2.0/24', '198.51.100.2') }]);
    expect([...kernel]).toEqual([[`${N2}/24`, '198.51.100.2']]);
  });

  it('refuses an IPv6 subnet without a PublicIPv6, and one whose PublicIPv6 is not on-link, with the reason; the IPv4 route stays', () => {
    const { routes, kernel } = everyPeer({ ipv6: true });
    routes.apply([
      { type: 'added', lease: lease6('10.244.2.0/24', '198.51.100.2', 'fd00:10:244:2::/64', null) },
      { type: 'added', lease: lease6('10.244.4.0/24', '198.51.100.4', 'fd00:10:244:4::/64', 'fd00:203:0:113::4') },
    ]);
    expect([...kernel.keys()].sort()).toEqual([`${N2}/24`, `${N2 + (2 << 8)}/24`]);
    expect(routes.refused().map((r) => [r.subnet, r.reason])).toEqual([
      ['fd00:10:244:2::/64', 'no_public_ip'],
      ['fd00:10:244:4::/64', 'not_on_link'],
    ]);
    expect(routes.refusals()).toMatchObject({ not_on_link: 1, no_public_ip: 1 });
  });

  it('without EnableIPv6 the IPv6 subnets of leases are left alone', () => {
    const { routes, kernel } = everyPeer();
    routes.apply([{ type: 'added', lease: lease6('10.244.2.0/24', '198.51.100.2', 'fd00:10:244:2::/64', 'fd00:198:51:100::2') }]);
    expect([...kernel]).toEqual([[`${N2}/24`, '198.51.100.2']]);
  });
});

// ---- `weft run` in namespaces ----

const CONFIG = { Network: '10.244.0.0/16', Backend: { Type: 'host-gw' } };

interface RouteRow {
  dst: string;
  gateway?: string;
  dev: string;
  protocol?: string | number;
}

async function hostGwRoutes(ns: string): Promise<RouteRow[]> {
  const rows = JSON.parse((await nsRun(ns, 'ip', ['-j', '-4', 'route', 'show', 'table', 'main'])).stdout) as RouteRow[];
  return rows.filter((r) => String(r.protocol) === String(DIRECT_ROUTE_PROTOCOL));
}

function subnetOf(n: WeftNode): string {
  return `${hostIn(n.subnetEnv().subnet, -1)}/24`;
}

/** The registry's leases now: the first batch of a watch is its snapshot. */
async function leasesIn(registryFile: string): Promise<Lease[]> {
  const reg = new FileRegistry({ path: registryFile });
  const abort = new AbortController();
  try {
    for await (const batch of reg.watchLeases(abort.signal)) return batch.filter((ev) => ev.type === 'added').map((ev) => ev.lease);
    return [];
  } finally {
    abort.abort();
    await reg.close();
  }
}

async function leaseOf(registryFile: string, subnet: string): Promise<Lease | undefined> {
  return (await leasesIn(registryFile)).find((l) => l.subnet === subnet);
}

describe.skipIf(skipParity('host-gw parity'))('host-gw: weft run on nodes of one L2 segment (root)', () => {
  const janitor = useJanitor();
  const nodes: WeftNode[] = [];
  const pods: Pod[] = [];
  let registryFile: string;
  let dir: string;

  beforeAll(async () => {
    const j = janitor();
    dir = join(j.dir, 'hg');
    registryFile = join(dir, 'registry.json');
    const ul = j.addNamespace('hgul');
    await sysctl(ul, 'net.ipv4.ip_forward', '1');
    for (const [br, ip] of [['wtbr0', '198.51.100.254/24'], ['wtbr1', '203.0.113.126/25']] as const) {
      await ipn(ul, 'link', 'add', br, 'type', 'bridge');
      await ipn(ul, 'addr', 'add', ip, 'dev', br);
      await ipn(ul, 'link', 'set', br, 'up');
    }
    const reg = new FileRegistry({ path: registryFile });
    await reg.putNetworkConfig(JSON.stringify(CONFIG));
    await reg.close();
    const plan = [
      { i: 1, br: 'wtbr0', ip: '198.51.100.1/24', gw: '198.51.100.254' },
      { i: 2, br: 'wtbr0', ip: '198.51.100.2/24', gw: '198.51.100.254' },
      { i: 3, br: 'wtbr0', ip: '198.51.100.3/24', gw: '198.51.100.254' },
      { i: 4, br: 'wtbr1', ip: '203.0.113.4/25', gw: '203.0.113.126' },
    ];
    for (const p of plan) {
      const ns = j.addNamespace(`hgn${p.i}`);
      const dev = `wtn${p.i}`;
      await ipn(ul, 'link', 'add', `${dev}p`, 'type', 'veth', 'peer', 'name', dev, 'netns', ns);
      await ipn(ul, 'link', 'set', `${dev}p`, 'master', p.br, 'up');
      await ipn(ns, 'addr', 'add', p.ip, 'dev', dev);
      await ipn(ns, 'link', 'set', dev, 'up');
      await ipn(ns, 'route', 'add', 'default', 'via', p.gw);
      await sysctl(ns, 'net.ipv4.ip_forward', '1');
      nodes.push(new WeftNode(j, `hg${p.i}`, ns, dev, p.ip.split('/')[0]!, dir, '', ['--registry-file', registryFile]));
    }
    await Promise.all(nodes.map((n) => n.start()));
    for (const [i, n] of nodes.entries()) {
      const env = n.subnetEnv();
      pods.push(await addPod(j, n.ns, `hgp${i + 1}`, env.subnet, env.mtu));
    }
    for (const n of nodes.slice(0, 3)) await waitFor(`${n.name} routes 2 peers`, async () => (await n.status()).routes?.length === 2, 10_000);
  }, HOOK_TIMEOUT);

  afterAll(async () => {
    for (const n of nodes) await n.stop().catch(() => undefined);
  }, HOOK_TIMEOUT);

  it("no TUN, no socket, no worker: the lease, the subnet file and the MTU are flannel's", async () => {
    const n1 = nodes[0]!;
    expect(await n1.hasTun()).toBe(false);
    const udp = (await nsRun(n1.ns, 'ss', ['-H', '-u', '-a', '-n'])).stdout.trim();
    expect(udp, 'no UDP socket in the node').toBe('');
    const raw = (await nsRun(n1.ns, 'ss', ['-H', '-w', '-a', '-n'])).stdout.trim();
    expect(raw, 'no raw socket in the node').toBe('');
    const l = await leaseOf(registryFile, subnetOf(n1));
    expect(l?.attrs).toMatchObject({ PublicIP: '198.51.100.1', BackendType: 'host-gw' });
    expect(l?.attrs.BackendData, 'host-gw publishes no BackendData').toBeUndefined();
    // flannel's RouteNetwork MTU: the interface's, nothing taken off
    expect(n1.subnetEnv()).toMatchObject({ network: '10.244.0.0/16', mtu: 1500 });
    const s = await n1.status();
    expect(s.backend).toBe('host-gw');
    expect(s.workers).toBeUndefined();
    const m = await n1.get('/metrics');
    expect(m).not.toContain('weft_worker_heap_used_bytes');
    expect(m).toContain('weft_host_gw_routes 2');
    // nothing to trace or capture in weft: said so, with where to look instead
    const tr = await nsRun(n1.ns, process.execPath, [WEFT_BIN, 'trace', '10.244.1.2', '10.244.2.2'], { allowFail: true });
    expect(tr.code).not.toBe(0);
    expect(tr.stdout + tr.stderr).toMatch(/host-gw: weft forwards no packet of this node; the kernel does/);
  });

  it('each node routes every other on-link node\'s subnet via its PublicIP, on its underlay interface', async () => {
    for (const [k, n] of nodes.slice(0, 3).entries()) {
      const want = nodes
        .slice(0, 3)
        .filter((_, i) => i !== k)
        .map((o) => ({ dst: subnetOf(o), gateway: o.underlayIp, dev: `wtn${k + 1}` }));
      const got = (await hostGwRoutes(n.ns)).map((r) => ({ dst: r.dst, gateway: r.gateway, dev: r.dev }));
      expect(got.sort((a, b) => a.dst.localeCompare(b.dst))).toEqual(want.sort((a, b) => a.dst.localeCompare(b.dst)));
    }
  });

  it('pods on the three nodes talk unencapsulated: ping both ways, a sha256-checked TCP transfer', async () => {
    const [p1, p2, p3] = pods as [Pod, Pod, Pod];
    const cap = await Capture.start(janitor(), nodes[0]!.ns, 'wtn1', 'icmp or udp', join(dir, 'host-gw.pcapng'));
    for (const [a, b] of [[p1, p2], [p2, p3], [p3, p1]] as const) {
      expect((await ping(a.ns, b.ip, { count: 5, intervalS: 0.05 })).received, `${a.ip} → ${b.ip}`).toBe(5);
    }
    await sleep(300);
    await cap.stop();
    const rows = (await nsRun(nodes[0]!.ns, 'tshark', ['-n', '-r', cap.file, '-T', 'fields', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'udp.dstport', '-e', 'icmp.type'])).stdout
      .trim()
      .split('\n');
    // the pods' own addresses on the wire, no UDP around them
    expect(rows.filter((l) => l === `${p1.ip}\t${p2.ip}\t\t8`).length).toBeGreaterThanOrEqual(4);
    expect(rows.filter((l) => l === `${p2.ip}\t${p1.ip}\t\t0`).length).toBeGreaterThanOrEqual(4);
    expect(rows.filter((l) => l.split('\t')[2] !== '')).toEqual([]);
    const f = randomFile(dir, 4 << 20);
    const t = await tcpTransfer(janitor(), p1, p3, f.path);
    expect(t).toMatchObject({ bytes: 4 << 20, sha256: f.sha256 });
  }, TEST_TIMEOUT);

  it('a peer that is not on-link is refused with the reason and counted; the others keep flowing', async () => {
    const n4 = nodes[3]!;
    const gone = subnetOf(n4);
    for (const n of nodes.slice(0, 3)) {
      const s = await n.status();
      expect(s.refused, n.name).toEqual([expect.objectContaining({ subnet: gone, publicIp: '203.0.113.4', reason: 'not_on_link', detail: expect.stringMatching(/gateway 198\.51\.100\.254/) })]);
      expect((await hostGwRoutes(n.ns)).some((r) => r.dst === gone), `${n.name} has no route to ${gone}`).toBe(false);
      expect(await n.get('/metrics')).toContain('weft_host_gw_peers_refused_total{reason="not_on_link"} 1');
      expect(n.log()).toMatch(/peer refused: host-gw needs every node on one L2 segment/);
    }
    // node 4 sees every other node behind its router: three refusals, no route, and it is still up and ready
    const s4 = await n4.status();
    expect(s4.refused?.map((r) => r.reason)).toEqual(['not_on_link', 'not_on_link', 'not_on_link']);
    expect(await hostGwRoutes(n4.ns)).toEqual([]);
    expect(s4.ready).toBe(true);
    // pod 4 cannot reach the others (no route: its traffic goes to the router, which has none for the cluster)
    expect((await ping(pods[3]!.ns, pods[0]!.ip, { count: 2, intervalS: 0.05, waitS: 1 })).received).toBe(0);
    expect((await ping(pods[0]!.ns, pods[1]!.ip, { count: 5, intervalS: 0.05 })).received).toBe(5);
  }, TEST_TIMEOUT);

  it('a route deleted by hand comes back (flannel\'s 10 s route check)', async () => {
    const [n1, n2] = nodes as [WeftNode, WeftNode];
    await ipn(n1.ns, 'route', 'del', subnetOf(n2));
    expect((await hostGwRoutes(n1.ns)).some((r) => r.dst === subnetOf(n2))).toBe(false);
    await waitFor('the route is written again', async () => (await hostGwRoutes(n1.ns)).some((r) => r.dst === subnetOf(n2)), 15_000);
    expect((await ping(pods[0]!.ns, pods[1]!.ip, { count: 3, intervalS: 0.05 })).received).toBe(3);
  }, TEST_TIMEOUT);

  it('SIGTERM leaves the routes (pods keep talking while weft is away, as with flanneld); the next weft takes them over', async () => {
    const n1 = nodes[0]!;
    const before = await hostGwRoutes(n1.ns);
    expect(before).toHaveLength(2);
    await n1.stop();
    expect(await hostGwRoutes(n1.ns)).toEqual(before);
    expect((await ping(pods[0]!.ns, pods[1]!.ip, { count: 3, intervalS: 0.05 })).received, 'while weft is down').toBe(3);
    await n1.start();
    expect(await hostGwRoutes(n1.ns)).toEqual(before);
    expect((await n1.status()).routes).toHaveLength(2);
  }, TEST_TIMEOUT);

  it("a removed lease takes its route with it on every node; the rest keep flowing", async () => {
    const [n1, n2, n3] = nodes as [WeftNode, WeftNode, WeftNode];
    const gone = subnetOf(n3);
    const l = (await leaseOf(registryFile, gone))!;
    const reg = new FileRegistry({ path: registryFile });
    try {
      expect(await reg.releaseLease(l)).toBe(true);
    } finally {
      await reg.close();
    }
    for (const n of [n1, n2]) await waitFor(`${n.name} drops the route to ${gone}`, async () => !(await hostGwRoutes(n.ns)).some((r) => r.dst === gone), 5000);
    await n3.proc?.exited; // its own lease revoked: it stops, as flanneld
    expect((await ping(pods[0]!.ns, pods[1]!.ip, { count: 3, intervalS: 0.05 })).received).toBe(3);
  }, TEST_TIMEOUT);

  it('a node behind NAT (--public-ip not its own address) is refused before it writes a lease, as flannel refuses it', async () => {
    const j = janitor();
    const ns = j.addNamespace('hgn5');
    await ipn(ns, 'link', 'add', 'wtn5', 'type', 'veth', 'peer', 'name', 'wtn5p');
    await ipn(ns, 'link', 'set', 'wtn5p', 'up');
    await ipn(ns, 'addr', 'add', '198.51.100.5/24', 'dev', 'wtn5');
    await ipn(ns, 'link', 'set', 'wtn5', 'up');
    const n5 = new WeftNode(j, 'hg5', ns, 'wtn5', '198.51.100.5', dir, '', ['--registry-file', registryFile, '--public-ip', '203.0.113.77']);
    const before = (await leasesIn(registryFile)).length;
    const failed = new Proc(j, ns, process.execPath, n5.args());
    const { code } = await failed.exited;
    expect(code).toBe(1);
    expect(failed.output()).toMatch(/host-gw: the public IP 203\.0\.113\.77 is not the address of wtn5 \(198\.51\.100\.5\).*behind NAT/);
    expect(await leasesIn(registryFile)).toHaveLength(before);
  }, TEST_TIMEOUT);
});
