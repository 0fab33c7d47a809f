// `npm run bench:net [-- --only routes,kernel-vxlan] [-- --runs 3] [-- --seconds 3]`
//
// weft against the kernel's VXLAN (and plain routes, quicktun and wireguard-go), measured pod to
// pod on one fixed topology of network namespaces that this run builds and removes.
// Per contender and run: ping RTT, iperf3 TCP with 1 and 4 streams, iperf3 UDP
// with 64-byte datagrams (delivered packets/s), HTTP req/s with autocannon.
// Progress goes to stderr, the table of medians to stdout, everything to
// bench/results/net-<ISO date>.json, and a chart to net-<ISO date>.svg. Needs root, iproute2, ping, iperf3, curl,
// quicktun and wireguard-go for their contenders (Debian packages of those names).
import { existsSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { allContenders, type Contender, type Ctx } from './contenders.js';
import { Janitor } from './janitor.js';
import { writeChart } from './chart.js';
import type { Daemon } from './daemon.js';
import {
  checkPath,
  diffDrops,
  HTTP_CONNECTIONS,
  kernelDrops,
  measureHttp,
  measureIperf,
  measurePing,
  measureUdp,
  startHttpServer,
  startIperfServer,
  waitReachable,
} from './measure.js';
import { derivePerGB, formatTable, medians, writeResults, type ContenderResult, type RunResult } from './report.js';
import { ipn, ipnMaybe, run } from './sh.js';
import { buildTopology, type Topology } from './topology.js';

const RESULTS_DIR = fileURLToPath(new URL('../../../bench/results/', import.meta.url));
const WEFT_MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const T0 = Date.now();
const UDP_PAYLOAD = 64;
const log = (m: string) => process.stderr.write(`[${((Date.now() - T0) / 1000).toFixed(1).padStart(5)}s] ${m}\n`);

const HELP = `usage: npm run bench:net -- [--only NAMES] [--runs N] [--seconds N] [--pings N]
  --only      comma-separated contenders (default: all): ${allContenders().map((c) => c.name).join(', ')}
  --runs      runs of every measurement per contender; the table shows medians (default 3)
  --seconds   duration of each iperf3 TCP ×1, TCP ×4, UDP 64 B and HTTP (autocannon) test (default 3)
  --pings     pings per run, 10 ms apart (default 100)
  --keep-logs keep the run dir (/tmp/weftbench/<id>: weft, quicktun, iperf3 logs); kept anyway on failure
`;

function options() {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      runs: { type: 'string', default: '3' },
      seconds: { type: 'string', default: '3' },
      pings: { type: 'string', default: '100' },
      'keep-logs': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const all = allContenders();
  let selected = all;
  if (values.only) {
    const names = values.only.split(',').map((s) => s.trim()).filter(Boolean);
    const unknown = names.filter((n) => !all.some((c) => c.name === n));
    if (unknown.length) throw new Error(`unknown contender(s) ${unknown.join(', ')}; have: ${all.map((c) => c.name).join(', ')}`);
    selected = all.filter((c) => names.includes(c.name));
  }
  const seconds = Number(values.seconds);
  const pings = Number(values.pings);
  const runs = Number(values.runs);
  if (!(Number.isInteger(runs) && runs >= 1 && runs <= 20)) throw new Error('--runs must be an integer 1..20');
  if (!(seconds >= 1 && seconds <= 60)) throw new Error('--seconds must be 1..60');
  if (!(Number.isInteger(pings) && pings >= 10 && pings <= 10_000)) throw new Error('--pings must be an integer 10..10000');
  return { contenders: selected, runs, seconds, pings, keepLogs: values['keep-logs'] };
}

function preflight(contenders: Contender[]): void {
  if (process.getuid?.() !== 0) throw new Error('bench:net needs root (it builds network namespaces)');
  if (!existsSync(WEFT_MAIN)) throw new Error(`${WEFT_MAIN} missing: compile first (npx tsc -p tsconfig.json)`);
  const tools = new Set(['ip', 'ping', 'iperf3', 'ss', 'sysctl', ...contenders.flatMap((c) => c.tools)]);
  const missing = [...tools].filter((t) => run('which', [t], { allowFail: true }).trim() === '');
  if (missing.length) {
    const pkgs = missing.filter((t) => t === 'quicktun' || t === 'wireguard-go');
    const hint = pkgs.length > 0 ? ` (DEBIAN_FRONTEND=noninteractive apt-get install -y ${pkgs.join(' ')}, or --only without ${pkgs.join(', ')})` : '';
    throw new Error(`missing tools: ${missing.join(', ')}${hint}`);
  }
}

/** After a teardown the nodes must hold only the topology: report and remove anything else. */
function checkClean(t: Topology): string[] {
  const problems: string[] = [];
  for (const n of t.nodes) {
    const links = (JSON.parse(ipn(n.ns, '-j', 'link', 'show')) as { ifname: string }[]).map((l) => l.ifname);
    for (const l of links.filter((l) => !['lo', n.underlayIf, n.podIf].includes(l))) {
      problems.push(`${n.ns}: device ${l} left behind; deleting it`);
      ipnMaybe(n.ns, 'link', 'del', l);
    }
    const routes = JSON.parse(ipn(n.ns, '-j', 'route', 'show')) as { dst: string; dev?: string }[];
    for (const r of routes.filter((r) => r.dev !== n.underlayIf && r.dev !== n.podIf)) {
      problems.push(`${n.ns}: route ${r.dst} dev ${r.dev} left behind; deleting it`);
      ipnMaybe(n.ns, 'route', 'del', r.dst);
    }
    for (const r of routes.filter((r) => r.dev === n.underlayIf && r.dst !== '198.51.100.0/24')) {
      problems.push(`${n.ns}: route ${r.dst} dev ${r.dev} left behind; deleting it`);
      ipnMaybe(n.ns, 'route', 'del', r.dst);
    }
  }
  return problems;
}

interface Plan {
  runs: number;
  seconds: number;
  pings: number;
}

/**
 * One measurement of a run. A failure is recorded in the run and the others go on,
 * unless a data-plane process has died (then nothing after it means anything).
 */
async function attempt<T>(c: Contender, run: RunResult, kind: string, daemons: Daemon[], f: () => Promise<T>): Promise<T | undefined> {
  try {
    return await f();
  } catch (e) {
    const dead = daemons.find((d) => !d.running);
    if (dead) throw e;
    run.errors[kind] = (e as Error).message;
    log(`${c.name}: run ${run.run} ${kind} FAILED: ${run.errors[kind]!.split('\n')[0]}`);
    return undefined;
  }
}

async function runContender(c: Contender, ctx: Ctx, plan: Plan): Promise<ContenderResult> {
  const res: ContenderResult = { name: c.name, ok: false, problems: [], runs: [] };
  const t0 = Date.now();
  const servers: Daemon[] = [];
  try {
    log(`${c.name}: setting up`);
    const s = await c.setup(ctx);
    res.setupSeconds = (Date.now() - t0) / 1000;
    res.subnets = s.addrs.subnets;
    res.podIps = s.addrs.ips;
    res.mtu = s.addrs.mtu;
    const [p1, p2] = ctx.t.pods;
    const far = { ns: p2.ns, ip: s.addrs.ips[1] };
    checkPath(ctx.t, s.addrs.ips, s.viaDev);
    res.reachSeconds = await waitReachable(p1.ns, s.addrs.ips[1], 10_000);
    log(`${c.name}: pods ${s.addrs.ips.join(' ↔ ')} (mtu ${s.addrs.mtu}) up after ${res.setupSeconds.toFixed(1)} s + ${res.reachSeconds.toFixed(1)} s`);
    const iperfSrv = await startIperfServer(ctx.j, far, c.name);
    servers.push(iperfSrv);
    const httpSrv = await startHttpServer(ctx.j, far, c.name);
    servers.push(httpSrv);
    const d = s.daemons;
    for (let i = 1; i <= plan.runs; i++) {
      const run: RunResult = { run: i, errors: {}, kernelDrops: {} };
      res.runs.push(run);
      const tag = `${c.name} [${i}/${plan.runs}]`;
      run.ping = await attempt(c, run, 'ping', d, () => measurePing(ctx.j, p1.ns, far.ip, plan.pings, d));
      let drops0 = kernelDrops(ctx.t);
      run.tcp1 = await attempt(c, run, 'tcp1', d, () => measureIperf(ctx.j, p1, far, iperfSrv, plan.seconds, d, { streams: 1, sampleBackground: true }));
      run.kernelDrops!.tcp1 = diffDrops(drops0, kernelDrops(ctx.t));
      if (run.tcp1) run.perGB = derivePerGB(run.tcp1);
      drops0 = kernelDrops(ctx.t);
      run.tcp4 = await attempt(c, run, 'tcp4', d, () => measureIperf(ctx.j, p1, far, iperfSrv, plan.seconds, d, { streams: 4, sampleBackground: false }));
      run.kernelDrops!.tcp4 = diffDrops(drops0, kernelDrops(ctx.t));
      drops0 = kernelDrops(ctx.t);
      run.udp = await attempt(c, run, 'udp', d, () => measureUdp(ctx.j, p1, far, iperfSrv, plan.seconds, d, UDP_PAYLOAD));
      run.kernelDrops!.udp = diffDrops(drops0, kernelDrops(ctx.t));
      run.http = await attempt(c, run, 'http', d, () => measureHttp(ctx.j, p1, far, httpSrv, plan.seconds, d));
      const f = (v: number | undefined, digits: number) => (v === undefined ? '-' : v.toFixed(digits));
      log(
        `${tag}: rtt p50 ${f(run.ping?.p50Ms, 3)} p99 ${f(run.ping?.p99Ms, 3)} ms; TCP×1 ${f(run.tcp1?.gbps, 2)} TCP×4 ${f(run.tcp4?.gbps, 2)} Gbit/s` +
          ` (bg ${f(run.tcp1?.cpu.backgroundCores, 2)} cores, ${f(run.perGB?.system, 2)} CPU-s/GB); UDP64 ${f(run.udp ? run.udp.deliveredPps / 1000 : undefined, 0)}` +
          `/${f(run.udp ? run.udp.sentPps / 1000 : undefined, 0)} kpps delivered/sent; HTTP ${f(run.http?.rps, 0)} req/s p99 ${f(run.http?.latencyMs.p99, 0)} ms`,
      );
      log(`${tag}: kernel drop counters ${JSON.stringify(run.kernelDrops)}`);
    }
    res.median = medians(res.runs);
    if (c.stats) {
      res.dataplaneStats = c.stats(ctx);
      log(`${c.name}: data plane counters ${JSON.stringify(res.dataplaneStats, (k, v) => (k === 'workers' ? undefined : v))}`);
    }
    const failedKinds = new Set(res.runs.flatMap((r) => Object.keys(r.errors)));
    const allFailed = [...failedKinds].filter((k) => res.runs.every((r) => k in r.errors));
    if (allFailed.length) throw new Error(`${allFailed.join(', ')} failed in every run: ${res.runs[0]!.errors[allFailed[0]!]!.split('\n')[0]}`);
    res.ok = true;
  } catch (e) {
    res.error = (e as Error).message;
    if (res.runs.length) res.median = medians(res.runs);
    log(`${c.name}: FAILED: ${res.error}`);
  } finally {
    for (const srv of servers) await srv.stop(2000);
    res.problems.push(...(await c.teardown(ctx)), ...checkClean(ctx.t));
    for (const p of res.problems) log(`${c.name}: teardown: ${p}`);
  }
  return res;
}

async function main(): Promise<number> {
  const opts = options();
  preflight(opts.contenders);
  const started = new Date();
  log(`node ${process.version}, ${cpus().length}× ${cpus()[0]?.model ?? '?'}, kernel ${release()}, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const j = Janitor.create(log);
  let failed = false;
  try {
    log(`run ${j.id}: building namespaces weftbench-${j.id}-{n1,n2,p1,p2}`);
    const t = buildTopology(j);
    const ctx: Ctx = { t, j, log };
    const results: ContenderResult[] = [];
    for (const c of opts.contenders) results.push(await runContender(c, ctx, opts));
    failed = results.some((r) => !r.ok);
    process.stdout.write(formatTable(results, opts.runs));
    const file = writeResults(
      RESULTS_DIR,
      {
        date: started.toISOString(),
        host: { node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model, kernel: release(), loadavgAtStart: loadavg() },
        options: { runs: opts.runs, seconds: opts.seconds, pings: opts.pings, udpPayloadBytes: UDP_PAYLOAD, httpConnections: HTTP_CONNECTIONS, only: opts.contenders.map((c) => c.name) },
        topology: { underlay: '198.51.100.0/24 veth, mtu 1500', pods: 'one veth per pod to its node', network: '10.244.0.0/16' },
        results,
      },
      started,
    );
    const svg = writeChart(RESULTS_DIR, results, started, opts.runs);
    log(`wrote ${file} and ${svg}; total ${((Date.now() - T0) / 1000).toFixed(0)} s`);
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    log('cleaning up');
    j.cleanupSync(failed || opts.keepLogs);
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`bench:net: ${(e as Error).message}\n`);
    process.exitCode = 1;
  },
);
