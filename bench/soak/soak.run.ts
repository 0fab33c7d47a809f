// The soak (`npm run bench:soak [-- --minutes 20]`, see run.mjs): 3 weft nodes and a
// 3-member etcd in namespaces, pods pinging each other every 20 ms and a 20 Mbit/s
// TCP stream, while, one at a time every 15 s:
//   weft restarts (SIGTERM; kill -9), a node leaves and rejoins (kill -9, its lease
//   deleted, started again), a fake lease is written and deleted, an etcd member
//   (leader or follower) is killed and comes back, a data-plane worker is killed.
// n1 is never restarted: its RSS over the whole run says whether weft leaks. Writes
// bench/results/soak-<date>.json and prints a summary. Topology (203.0.113.0/24):
//   wefttest-<id>-skul bridge; -ske<i> etcd members .11-.13; -skn<i> weft nodes .1-.3;
//   -skp<i> pods behind each node.
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { addPod, type Pod } from '../../test/integration/harness/cluster.js';
import { EtcdCluster } from '../../test/integration/harness/etcd-cluster.js';
import { NETWORK_PREFIX, readLeases, SUBNETS_PREFIX } from '../../test/integration/harness/etcd.js';
import { sleep, sysctl, waitFor } from '../../test/integration/harness/exec.js';
import { Janitor } from '../../test/integration/harness/janitor.js';
import { WeftNode } from '../../test/integration/harness/weft-node.js';
import { PING_INTERVAL_S, Pinger, type Gap } from './pinger.js';
import { fit, RSS_EVERY_MS, rssKiB, type RssSeries } from './rss.js';
import { Stream, STREAM_MBIT } from './stream.js';

const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));
const MINUTES = Number(process.env['WEFT_SOAK_MINUTES'] ?? '20');
const EVENT_EVERY_MS = 15_000;
const NET = '203.0.113';
const CONFIG = { Network: '10.244.0.0/16', Backend: { Type: 'vxlan', Port: 4789 } };

interface EventRecord {
  /** ms since the soak's traffic started */
  at: number;
  kind: string;
  target: string;
  ms: number;
  ok: boolean;
  error?: string;
}

const log = (m: string): void => {
  process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
};

it(`soak: ${MINUTES} min of traffic through restarts, lease churn, etcd and worker deaths`, async () => {
  const janitor = new Janitor();
  log(`run ${janitor.id}: namespaces wefttest-${janitor.id}-*, files in ${janitor.dir}`);
  const nodes: WeftNode[] = [];
  const pods: Pod[] = [];
  const events: EventRecord[] = [];
  const rss = new Map<string, RssSeries>();
  let failed = true;
  let etcd: EtcdCluster | undefined;
  try {
    etcd = await EtcdCluster.create(janitor, { tag: 'sk', net: NET });
    const ec = etcd;
    await ec.retrying('write the network config', (c) => c.put(`${NETWORK_PREFIX}/config`, JSON.stringify(CONFIG)));
    for (let i = 1; i <= 3; i++) {
      const ns = ec.addNamespace(`n${i}`);
      await ec.attach(ns, `wtn${i}`, `${NET}.${i}`);
      await sysctl(ns, 'net.ipv4.ip_forward', '1');
      nodes.push(new WeftNode(janitor, `n${i}`, ns, `wtn${i}`, `${NET}.${i}`, ec.dir, ec.endpoints.join(',')));
    }
    await Promise.all(nodes.map((n) => n.start()));
    for (let i = 0; i < 3; i++) {
      const env = nodes[i]!.subnetEnv();
      pods.push(await addPod(ec, nodes[i]!.ns, `p${i + 1}`, env.subnet, env.mtu));
    }
    for (const n of nodes) await waitFor(`${n.name} to see 2 peers`, async () => (await n.status()).peers.length >= 2, 10_000);
    const subnets = nodes.map((n) => n.subnetEnv().subnet);

    const start = Date.now();
    const end = start + MINUTES * 60_000;
    const pingers = pods.map((p, i) => {
      const to = pods[(i + 1) % 3]!;
      return new Pinger(janitor, `p${i + 1}→p${((i + 1) % 3) + 1}`, p.ns, to.ip, join(ec.dir, `ping-p${i + 1}.log`));
    });
    const stream = new Stream(janitor, pods[0]!.ns, pods[2]!.ns, pods[2]!.ip, ec.dir, Math.round((end - Date.now()) / 1000));
    const sample = (): void => {
      const t = Date.now() - start;
      const procs: Array<[string, number]> = [
        ...nodes.filter((n) => n.running).map((n) => [`weft ${n.name}`, n.proc!.pid] as [string, number]),
        ...ec.members.filter((m) => m.running).map((m) => [`etcd ${m.name}`, m.proc!.pid] as [string, number]),
      ];
      for (const [name, pid] of procs) {
        const kib = rssKiB(pid);
        if (kib === null) continue;
        const key = `${name}#${pid}`;
        if (!rss.has(key)) rss.set(key, { name, pid, samples: [] });
        rss.get(key)!.samples.push([t, kib]);
      }
    };
    // n1's heaps, from its /metrics: RSS alone cannot tell a leak from garbage not yet collected.
    const HEAPS: Array<[string, string]> = [
      ['main heap', 'nodejs_heap_size_used_bytes'],
      ['main heap reserved', 'nodejs_heap_size_total_bytes'],
      ['workers heap', 'weft_worker_heap_used_bytes'],
      ['external', 'nodejs_external_memory_bytes'],
    ];
    const sampleHeaps = async (): Promise<void> => {
      const n = nodes[0]!;
      if (!n.running) return;
      const t = Date.now() - start;
      const raw = (await n.metrics().catch(() => null))?.raw;
      if (!raw) return;
      for (const [label, metricName] of HEAPS) {
        const m = new RegExp(`^${metricName} (\\S+)$`, 'm').exec(raw);
        if (!m) continue;
        const key = `weft ${n.name} ${label}#${n.proc!.pid}`;
        if (!rss.has(key)) rss.set(key, { name: `weft ${n.name} ${label}`, pid: n.proc!.pid, samples: [] });
        rss.get(key)!.samples.push([t, Number(m[1]) / 1024]);
      }
    };
    sample();
    void sampleHeaps();
    const sampler = setInterval(() => {
      sample();
      void sampleHeaps();
    }, RSS_EVERY_MS);

    const [n1, n2, n3] = nodes as [WeftNode, WeftNode, WeftNode];
    let fakes = 0;
    const restartSame = async (n: WeftNode, how: 'SIGTERM' | 'SIGKILL', dropLease = false): Promise<void> => {
      const before = n.subnetEnv().subnet;
      if (how === 'SIGTERM') {
        const r = await n.stop(5000);
        if (r?.code !== 0) throw new Error(`${n.name} exited ${r?.code ?? r?.signal} on SIGTERM`);
      } else await n.kill9();
      if (dropLease) {
        const own = (await ec.retrying('list the leases', (c) => readLeases(c))).find((l) => l.attrs.PublicIP === n.underlayIp);
        if (own) await ec.retrying('delete the lease', (c) => c.del(own.key));
      }
      await n.start(30_000);
      const after = n.subnetEnv().subnet;
      if (after !== before) throw new Error(`${n.name} came back with ${after}, not ${before}`);
    };
    const actions: Array<{ kind: string; target: () => string; run: () => Promise<void> }> = [];
    const cycle = (k: number): WeftNode => (k % 2 === 0 ? n2 : n3);
    for (let k = 0; k < 2; k++) {
      actions.push(
        { kind: 'weft SIGTERM and start', target: () => cycle(k).name, run: () => restartSame(cycle(k), 'SIGTERM') },
        {
          kind: 'etcd leader killed and back',
          target: () => 'leader',
          run: async () => {
            const m = await ec.leader();
            await ec.kill(m);
            await sleep(5000);
            await ec.restart(m);
          },
        },
        { kind: 'weft kill -9 and start', target: () => cycle(k + 1).name, run: () => restartSame(cycle(k + 1), 'SIGKILL') },
        {
          kind: 'fake lease written and deleted',
          target: () => 'etcd',
          run: async () => {
            const subnet = `10.244.${250 - (fakes++ % 5)}.0/24`;
            const key = `${SUBNETS_PREFIX}${subnet.replace('/', '-')}`;
            await ec.retrying('write a fake lease', (c) => c.put(key, JSON.stringify({ PublicIP: `${NET}.200`, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: '0a:00:00:00:00:c8' } })));
            await waitFor(`n1 to see ${subnet}`, async () => (await n1.status()).peers.some((p) => p.subnet === subnet), 10_000, 100);
            await ec.retrying('delete the fake lease', (c) => c.del(key));
            await waitFor(`n1 to forget ${subnet}`, async () => !(await n1.status()).peers.some((p) => p.subnet === subnet), 10_000, 100);
          },
        },
        {
          kind: 'worker killed',
          target: () => [n1, n2, n3][k % 3]!.name,
          run: async () => {
            const n = [n1, n2, n3][k % 3]!;
            const restarts = async () => Number(/^weft_worker_restarts_total (\S+)$/m.exec((await n.metrics()).raw)?.[1] ?? NaN);
            const before = await restarts();
            n.signal('SIGUSR2');
            await waitFor(`${n.name} to replace the worker`, async () => (await restarts()) === before + 1, 10_000, 100);
          },
        },
        { kind: 'node leaves (kill -9, lease deleted) and rejoins', target: () => cycle(k).name, run: () => restartSame(cycle(k), 'SIGKILL', true) },
        {
          kind: 'etcd follower killed and back',
          target: () => 'follower',
          run: async () => {
            const m = await ec.follower();
            await ec.kill(m);
            await sleep(5000);
            await ec.restart(m);
          },
        },
      );
    }

    for (let i = 0; Date.now() < end - 5000; i++) {
      const a = actions[i % actions.length]!;
      const at = Date.now();
      const rec: EventRecord = { at: at - start, kind: a.kind, target: a.target(), ms: 0, ok: true };
      try {
        await a.run();
      } catch (e) {
        rec.ok = false;
        rec.error = (e as Error).message.slice(0, 500);
      }
      rec.ms = Date.now() - at;
      events.push(rec);
      log(`+${Math.round(rec.at / 1000)}s ${rec.kind} (${rec.target}): ${rec.ok ? 'ok' : `FAILED: ${rec.error}`} in ${rec.ms} ms`);
      const next = at + EVENT_EVERY_MS;
      while (Date.now() < Math.min(next, end)) await sleep(200);
    }
    while (Date.now() < end) await sleep(200);
    clearInterval(sampler);
    sample();
    await sampleHeaps();

    const pings = await Promise.all(pingers.map((p) => p.stop()));
    const tcp = await stream.stop();
    const fits = [...rss.values()].map(fit);
    const allGaps = pings.flatMap((p) => p.gaps).sort((a, b) => b.ms - a.ms);
    const during = (g: Gap): string => {
      const e = [...events].reverse().find((ev) => start + ev.at <= g.to && start + ev.at + ev.ms + 1000 >= g.from);
      return e ? `${e.kind} (${e.target})` : 'no event';
    };
    const died = nodes.filter((n) => !n.running).map((n) => n.name);
    const result = {
      when: new Date(start).toISOString(),
      minutes: MINUTES,
      load: loadavg(),
      topology: { etcdMembers: 3, weftNodes: 3, subnets, pingIntervalS: PING_INTERVAL_S, streamMbit: STREAM_MBIT },
      events,
      eventsFailed: events.filter((e) => !e.ok).length,
      pings: pings.map((p) => ({ ...p, gaps: p.gaps.slice(0, 20) })),
      longestPingGap: allGaps[0] ? { ...allGaps[0], during: during(allGaps[0]) } : null,
      worstGaps: allGaps.slice(0, 10).map((g) => ({ ...g, at: g.from - start, during: during(g) })),
      tcp,
      rss: fits,
      rssSeries: [...rss.values()],
      weftDied: died,
    };
    mkdirSync(RESULTS_DIR, { recursive: true });
    const file = join(RESULTS_DIR, `soak-${result.when.replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 1)}\n`);

    const lost = pings.reduce((a, p) => a + p.lost, 0);
    const sent = pings.reduce((a, p) => a + p.sent, 0);
    const lines = [
      `soak ${MINUTES} min, ${events.length} events (${result.eventsFailed} failed), load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`,
      `pings every ${PING_INTERVAL_S * 1000} ms, 3 flows: ${sent} sent, ${lost} lost (${((100 * lost) / Math.max(1, sent)).toFixed(2)} %); longest gap ${allGaps[0]?.ms ?? 0} ms (${allGaps[0] ? during(allGaps[0]) : '-'})`,
      ...allGaps.slice(0, 5).map((g) => `  gap ${g.ms} ms on ${g.flow} at +${((g.from - start) / 1000).toFixed(1)} s: ${during(g)}`),
      `TCP ${STREAM_MBIT} Mbit/s p1→p3: ${tcp.seconds} s, mean ${tcp.meanMbit} Mbit/s, ${tcp.stalledSeconds} s stalled, longest stall ${tcp.longestStallS} s, client restarts ${tcp.clientRestarts}`,
      'RSS, and n1\'s heaps from /metrics (MiB: first → last, max; slope of the fit over the second half, MiB/min, R²):',
      ...fits
        .filter((f) => f.name.startsWith('weft') || f.samples > 0)
        .map((f) => `  ${f.name} pid ${f.pid}: ${f.firstMiB} → ${f.lastMiB}, max ${f.maxMiB}; ${f.verdict === 'too short' ? 'too short to fit' : `second half ${f.slopeMiBPerMin} MiB/min over ${f.minutes} min, R² ${f.r2} (whole run ${f.wholeSlopeMiBPerMin}): ${f.verdict}`}`),
      died.length ? `weft not running at the end: ${died.join(', ')}` : 'every weft ran to the end',
      `written to ${file}`,
    ];
    console.log(lines.join('\n'));
    expect(result.eventsFailed, 'events that failed').toBe(0);
    // n1 runs from start to end: its memory, settled, must not rise (rss.ts).
    expect(fits.filter((f) => f.name.startsWith('weft n1') && f.verdict !== 'flat').map((f) => `${f.name}: ${f.verdict}`), "n1's memory over the second half").toEqual([]);
    expect(died, 'weft nodes that died').toEqual([]);
    failed = false;
  } finally {
    await Promise.all(nodes.map((n) => (n.running ? n.stop(5000) : undefined)));
    await etcd?.destroy();
    janitor.cleanupSync(failed);
    if (failed) log(`failed: logs kept in ${janitor.dir}`);
  }
});
