// flanneld parity through `weft run` itself: --iface (several) / --iface-regex /
// --iface-can-reach, --ip-masq (+ the default forward rules, --iptables-resync),
// and Backend.DirectRouting, on three weft nodes sharing a file registry.
//
// Needs the wiring of src/daemon/ipmasq.ts, iface-select.ts and
// src/daemon/direct-routing.ts into flags.ts and run.ts. Until `weft run --help`
// lists --ip-masq, this file is skipped locally and fails in CI.
//
//   wefttest-<id>-dmul   router: bridge wtbr0 198.51.100.254/24 (node1, node2), bridge
//                        wtbr1 203.0.113.126/25 (node3), and "the internet" 203.0.113.254/25
//                        (on wtinet0, a veth end of its own); ip_forward=1; no route to
//                        the cluster Network
//   wefttest-<id>-dmn1   weft --iface wtnone --iface-regex '^198\.51\.100\.' --ip-masq
//                        on wtn1 198.51.100.1; decoy wtx0 198.18.0.1/24 holds the default route
//   wefttest-<id>-dmn2   weft --iface wtnone --iface-can-reach 198.51.100.254 on wtn2
//                        198.51.100.2; decoy wtx0 198.18.0.2/24 holds the default route
//   wefttest-<id>-dmn3   weft --iface wtn3 on 203.0.113.3 (behind the router: tunnel)
//   wefttest-<id>-dmp1/2/3  one pod per node
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIRECT_ROUTE_PROTOCOL } from '../../src/daemon/direct-routing.js';
import { FileRegistry } from '../../src/registry/index.js';
import { addPod, hostIn, type Pod } from '../integration/harness/cluster.js';
import { useJanitor, HOOK_TIMEOUT } from '../integration/harness/context.js';
import { ipn, nsRun, sleep, sysctl, waitFor } from '../integration/harness/exec.js';
import { ping } from '../integration/harness/traffic.js';
import { WEFT_BIN, WeftNode } from '../integration/harness/weft-node.js';
import { isCi } from '../helpers/tshark.js';
import { Driver, linkCounters, seenAs as seenAsFrom, skipParity } from './harness.js';

const CONFIG = { Network: '10.244.0.0/16', Backend: { Type: 'vxlan', Port: 4789, DirectRouting: true } };

function notWired(): boolean {
  if (skipParity('weft run parity')) return true;
  const help = spawnSync(process.execPath, [WEFT_BIN, 'run', '--help'], { encoding: 'utf8' });
  const text = `${help.stdout}${help.stderr}`;
  if (['--ip-masq', '--iface-regex', '--iface-can-reach', '--iptables-resync'].every((f) => text.includes(f))) return false;
  const msg = 'weft run parity: `weft run --help` lacks --ip-masq / --iface-regex / --iface-can-reach / --iptables-resync: wire src/daemon/ipmasq.ts, iface-select.ts and src/daemon/direct-routing.ts into flags.ts and run.ts';
  if (isCi()) throw new Error(msg);
  console.warn(`${msg}: skipped`);
  return true;
}

interface RouteRow {
  dst: string;
  gateway?: string;
  dev: string;
  protocol?: string | number;
}

const directRoutes = async (ns: string): Promise<RouteRow[]> =>
  (JSON.parse((await nsRun(ns, 'ip', ['-j', '-4', 'route', 'show', 'table', 'main'])).stdout) as RouteRow[]).filter((r) => String(r.protocol) === String(DIRECT_ROUTE_PROTOCOL));

const blackholes = async (ns: string): Promise<Array<{ dst: string; metric: number }>> =>
  (JSON.parse((await nsRun(ns, 'ip', ['-j', '-4', 'route', 'show', 'type', 'blackhole'])).stdout) as Array<{ dst: string; metric?: number }>).map((r) => ({
    dst: r.dst,
    metric: r.metric ?? 0,
  }));

async function natRules(ns: string, chain: string): Promise<string[] | null> {
  const r = await nsRun(ns, 'iptables', ['-w', '-t', 'nat', '-S', chain], { allowFail: true });
  return r.code === 0 ? r.stdout.trim().split('\n') : null;
}

function flannelPostrtg(subnet: string): string[] {
  const n = '10.244.0.0/16';
  const c = '-m comment --comment "flanneld masq"';
  return [
    '-N FLANNEL-POSTRTG',
    `-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 ${c} -j RETURN`,
    `-A FLANNEL-POSTRTG -s ${subnet} -d ${n} ${c} -j RETURN`,
    `-A FLANNEL-POSTRTG -s ${n} -d ${subnet} ${c} -j RETURN`,
    `-A FLANNEL-POSTRTG ! -s ${n} -d ${subnet} ${c} -j RETURN`,
    `-A FLANNEL-POSTRTG -s ${n} ! -d 224.0.0.0/4 ${c} -j MASQUERADE --random-fully`,
    `-A FLANNEL-POSTRTG ! -s ${n} -d ${n} ${c} -j MASQUERADE --random-fully`,
  ];
}

describe.skipIf(notWired())('weft run: flanneld parity flags (root)', () => {
  const janitor = useJanitor();
  let ul: string;
  const nodes: WeftNode[] = [];
  const pods: Pod[] = [];
  let registryFile: string;
  const subnetOf = (n: WeftNode): string => `${hostIn(n.subnetEnv().subnet, -1)}/24`;

  const seenAs = (from: string, to: string, ip: string, timeoutMs?: number) => seenAsFrom(janitor(), from, to, ip, timeoutMs);

  beforeAll(async () => {
    const j = janitor();
    const dir = join(j.dir, 'dm');
    registryFile = join(dir, 'registry.json');
    ul = j.addNamespace('dmul');
    await sysctl(ul, 'net.ipv4.ip_forward', '1');
    for (const [br, ip] of [['wtbr0', '198.51.100.254/24'], ['wtbr1', '203.0.113.126/25']] as const) {
      await ipn(ul, 'link', 'add', br, 'type', 'bridge');
      await ipn(ul, 'addr', 'add', ip, 'dev', br);
      await ipn(ul, 'link', 'set', br, 'up');
    }
    await ipn(ul, 'link', 'add', 'wtinet0', 'type', 'veth', 'peer', 'name', 'wtinet1');
    await ipn(ul, 'addr', 'add', '203.0.113.254/25', 'dev', 'wtinet0');
    await ipn(ul, 'link', 'set', 'wtinet0', 'up');
    await ipn(ul, 'link', 'set', 'wtinet1', 'up');
    const reg = new FileRegistry({ path: registryFile });
    await reg.putNetworkConfig(JSON.stringify(CONFIG));
    await reg.close();
    const plan = [
      { i: 1, br: 'wtbr0', ip: '198.51.100.1', gw: '198.51.100.254', decoy: '198.18.0.1', flag: 'wtnone', extra: ['--iface-regex', '^198\\.51\\.100\\.', '--ip-masq', '--iptables-resync', '1', '--ip-blackhole-route'] },
      { i: 2, br: 'wtbr0', ip: '198.51.100.2', gw: '198.51.100.254', decoy: '198.18.0.2', flag: 'wtnone', extra: ['--iface-can-reach', '198.51.100.254'] },
      { i: 3, br: 'wtbr1', ip: '203.0.113.3', gw: '203.0.113.126', decoy: null, flag: 'wtn3', extra: [] },
    ];
    for (const p of plan) {
      const ns = j.addNamespace(`dmn${p.i}`);
      const dev = `wtn${p.i}`;
      await ipn(ul, 'link', 'add', `${dev}p`, 'type', 'veth', 'peer', 'name', dev, 'netns', ns);
      await ipn(ul, 'link', 'set', `${dev}p`, 'master', p.br, 'up');
      await ipn(ns, 'addr', 'add', `${p.ip}/${p.br === 'wtbr1' ? 25 : 24}`, 'dev', dev);
      await ipn(ns, 'link', 'set', dev, 'up');
      if (p.decoy) {
        // the default route points elsewhere: only the flags can find wtn<i>
        await ipn(ns, 'link', 'add', 'wtx0', 'type', 'veth', 'peer', 'name', 'wtx1');
        await ipn(ns, 'addr', 'add', `${p.decoy}/24`, 'dev', 'wtx0');
        await ipn(ns, 'link', 'set', 'wtx0', 'up');
        await ipn(ns, 'link', 'set', 'wtx1', 'up');
        await ipn(ns, 'route', 'add', 'default', 'via', '198.18.0.254', 'dev', 'wtx0');
        for (const net of ['203.0.113.0/24']) await ipn(ns, 'route', 'add', net, 'via', p.gw);
      } else {
        await ipn(ns, 'route', 'add', 'default', 'via', p.gw);
      }
      await sysctl(ns, 'net.ipv4.ip_forward', '1');
      nodes.push(new WeftNode(j, `dm${p.i}`, ns, p.flag, p.ip, dir, '', ['--registry-file', registryFile, ...p.extra]));
    }
    await Promise.all(nodes.map((n) => n.start()));
    for (const [i, n] of nodes.entries()) {
      const env = n.subnetEnv();
      pods.push(await addPod(j, n.ns, `dmp${i + 1}`, env.subnet, env.mtu));
    }
    for (const n of nodes) await waitFor(`${n.name} sees 2 peers`, async () => (await n.status()).peers.length === 2, 10_000);
  }, HOOK_TIMEOUT);

  afterAll(async () => {
    for (const n of nodes) await n.stop().catch(() => undefined);
  }, HOOK_TIMEOUT);

  it('--iface (failing) then --iface-regex / --iface-can-reach pick the underlay, not the default route', async () => {
    const [n1, n2, n3] = nodes as [WeftNode, WeftNode, WeftNode];
    expect((await n1.status()).lease.publicIp).toBe('198.51.100.1');
    expect((await n2.status()).lease.publicIp).toBe('198.51.100.2');
    expect((await n3.status()).lease.publicIp).toBe('203.0.113.3');
    expect(n1.log()).toMatch(/"by":"--iface-regex \^198\\\\\.51\\\\\.100\\\\\."/);
    expect(n2.log()).toMatch(/"by":"--iface-can-reach 198\.51\.100\.254"/);
    expect(n1.log()).toMatch(/--iface wtnone: no such interface/);
  });

  it('--ip-masq: FLANNEL_IPMASQ=true, flannel rules exactly, forward rules by default', async () => {
    const [n1, n2] = nodes as [WeftNode, WeftNode];
    expect(readFileSync(n1.subnetFile, 'utf8')).toMatch(/^FLANNEL_IPMASQ=true$/m);
    expect(readFileSync(n2.subnetFile, 'utf8')).toMatch(/^FLANNEL_IPMASQ=false$/m);
    expect(await natRules(n1.ns, 'FLANNEL-POSTRTG')).toEqual(flannelPostrtg(subnetOf(n1)));
    expect(await natRules(n2.ns, 'FLANNEL-POSTRTG')).toBeNull();
    for (const n of nodes) {
      const fwd = await nsRun(n.ns, 'iptables', ['-w', '-S', 'FLANNEL-FWD']);
      expect(fwd.stdout).toContain('-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT');
    }
  });

  it('pod1 reaches the internet masqueraded; its pod-to-pod traffic (direct and tunnelled) keeps its address', async () => {
    const [p1, p2, p3] = pods as [Pod, Pod, Pod];
    expect(await seenAs(p1.ns, ul, '203.0.113.254')).toBe('198.51.100.1');
    expect(await seenAs(p1.ns, p2.ns, p2.ip)).toBe(p1.ip);
    expect(await seenAs(p1.ns, p3.ns, p3.ip)).toBe(p1.ip);
    expect(await seenAs(p2.ns, ul, '203.0.113.254', 2000)).toBeNull(); // node2 has no --ip-masq: no way back
  });

  it('a deleted masquerade rule is back within --iptables-resync', async () => {
    const n1 = nodes[0]!;
    await nsRun(n1.ns, 'iptables', ['-w', '-t', 'nat', '-D', 'FLANNEL-POSTRTG', '6']);
    await waitFor('rules restored', async () => JSON.stringify(await natRules(n1.ns, 'FLANNEL-POSTRTG')) === JSON.stringify(flannelPostrtg(subnetOf(n1))), 3000);
  });

  it('--ip-blackhole-route: a blackhole for the own subnet behind every real route, back within --iptables-resync', async () => {
    const [n1, n2] = nodes as [WeftNode, WeftNode];
    const subnet = subnetOf(n1);
    expect(await blackholes(n1.ns)).toEqual([{ dst: subnet, metric: 4294967295 }]);
    expect(await blackholes(n2.ns)).toEqual([]);
    // Without the bridge's route, the subnet is discarded; with it back (added after
    // the blackhole, as when the bridge plugin sets up cni0 after weft starts), the
    // bridge wins: the blackhole shadows nothing, where flanneld's (metric 0) would.
    const bridgeAddr = n1.subnetEnv().subnet;
    await nsRun(n1.ns, 'ip', ['addr', 'del', bridgeAddr, 'dev', 'wtcni0']);
    try {
      const r = await nsRun(n1.ns, 'ip', ['route', 'get', pods[0]!.ip], { allowFail: true });
      expect(r.code, 'blackholed without the bridge').not.toBe(0);
    } finally {
      await nsRun(n1.ns, 'ip', ['addr', 'add', bridgeAddr, 'dev', 'wtcni0']);
    }
    expect((await nsRun(n1.ns, 'ip', ['-j', 'route', 'get', pods[0]!.ip])).stdout).toContain('"dev":"wtcni0"');
    expect((await ping(n1.ns, pods[0]!.ip, { count: 3, intervalS: 0.05 })).received).toBe(3);
    await nsRun(n1.ns, 'ip', ['route', 'del', 'blackhole', subnet, 'metric', '4294967295']);
    expect(await blackholes(n1.ns)).toEqual([]);
    await waitFor('blackhole route back', async () => (await blackholes(n1.ns)).length === 1, 3000);
  });

  it('DirectRouting: kernel routes between on-link nodes, none to node3; pod traffic skips weft0', async () => {
    const [n1, n2, n3] = nodes as [WeftNode, WeftNode, WeftNode];
    const [p1, p2, p3] = pods as [Pod, Pod, Pod];
    expect(await directRoutes(n1.ns)).toEqual([expect.objectContaining({ dst: subnetOf(n2), gateway: '198.51.100.2', dev: 'wtn1' })]);
    expect(await directRoutes(n2.ns)).toEqual([expect.objectContaining({ dst: subnetOf(n1), gateway: '198.51.100.1', dev: 'wtn2' })]);
    expect(await directRoutes(n3.ns)).toEqual([]);
    const b1 = await linkCounters(n1.ns, 'weft0');
    const b2 = await linkCounters(n2.ns, 'weft0');
    expect((await ping(p1.ns, p2.ip, { count: 20, intervalS: 0.05 })).received).toBe(20);
    expect((await linkCounters(n1.ns, 'weft0')).txPackets - b1.txPackets).toBeLessThanOrEqual(2);
    expect((await linkCounters(n2.ns, 'weft0')).txPackets - b2.txPackets).toBeLessThanOrEqual(2);
    const t = await linkCounters(n1.ns, 'weft0');
    expect((await ping(p1.ns, p3.ip, { count: 10, intervalS: 0.05 })).received).toBe(10);
    expect((await linkCounters(n1.ns, 'weft0')).txPackets - t.txPackets).toBeGreaterThanOrEqual(10);
  });

  it("node2's lease deleted: node1 drops the direct route (node2's weft stops, as flanneld)", async () => {
    const [n1, n2] = nodes as [WeftNode, WeftNode];
    const gone = subnetOf(n2);
    const d = await Driver.start(janitor(), n1.ns);
    try {
      expect(await d.call('registry.release', { registryFile, subnet: gone })).toBe(true);
    } finally {
      await d.close();
    }
    await waitFor('direct route gone', async () => (await directRoutes(n1.ns)).length === 0, 5000);
    await n2.proc?.exited;
  });

  it('SIGTERM: weft0, the direct routes and the iptables rules stay (as flanneld leaves them, for the next weft)', async () => {
    const n1 = nodes[0]!;
    const subnet = subnetOf(n1);
    const routes = await directRoutes(n1.ns);
    const r = await n1.stop();
    expect(r?.code).toBe(0);
    expect(await n1.hasTun()).toBe(true); // persistent (README "Restarts and upgrades")
    expect(await directRoutes(n1.ns)).toEqual(routes);
    await sleep(100);
    expect(await natRules(n1.ns, 'FLANNEL-POSTRTG')).toEqual(flannelPostrtg(subnet));
    expect(await blackholes(n1.ns), 'the blackhole stays, as flanneld leaves it').toEqual([{ dst: subnet, metric: 4294967295 }]);
  });
});
