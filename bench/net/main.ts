// `npm run bench:net [-- --only routes,kernel-vxlan] [-- --seconds 5]`
//
// weft against the kernel's VXLAN (and plain routes and quicktun), measured pod to
// pod on one fixed topology of network namespaces that this run builds and removes.
// Progress goes to stderr, the table to stdout, everything to
// bench/results/net-<ISO date>.json. Needs root, iproute2, ping, iperf3, curl,
// and quicktun for the quicktun contender.
import { existsSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { allContenders, type Contender, type Ctx } from './contenders.js';
import { Janitor } from './janitor.js';
import { checkPath, diffDrops, kernelDrops, measureIperf, measurePing, waitReachable } from './measure.js';
import { derivePerGB, formatTable, writeResults, type ContenderResult } from './report.js';
import { ipn, ipnMaybe, run } from './sh.js';
import { buildTopology, type Topology } from './topology.js';

const RESULTS_DIR = fileURLToPath(new URL('../../../bench/results/', import.meta.url));
const WEFT_MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const T0 = Date.now();
const log = (m: string) => process.stderr.write(`[${((Date.now() - T0) / 1000).toFixed(1).padStart(5)}s] ${m}\n`);

const HELP = `usage: npm run bench:net -- [--only NAMES] [--seconds N] [--pings N]
  --only      comma-separated contenders (default: all): ${allContenders().map((c) => c.name).join(', ')}
  --seconds   iperf3 duration per contender (default 5)
  --pings     pings per contender, 10 ms apart (default 200)
  --keep-logs keep the run dir (/tmp/weftbench/<id>: weft, quicktun, iperf3 logs); kept anyway on failure
`;

function options() {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      seconds: { type: 'string', default: '5' },
      pings: { type: 'string', default: '200' },
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
  if (!(seconds >= 1 && seconds <= 60)) throw new Error('--seconds must be 1..60');
  if (!(Number.isInteger(pings) && pings >= 10 && pings <= 10_000)) throw new Error('--pings must be an integer 10..10000');
  return { contenders: selected, seconds, pings, keepLogs: values['keep-logs'] };
}

function preflight(contenders: Contender[]): void {
  if (process.getuid?.() !== 0) throw new Error('bench:net needs root (it builds network namespaces)');
  if (!existsSync(WEFT_MAIN)) throw new Error(`${WEFT_MAIN} missing: compile first (npx tsc -p tsconfig.json)`);
  const tools = new Set(['ip', 'ping', 'iperf3', 'ss', 'sysctl', ...contenders.flatMap((c) => c.tools)]);
  const missing = [...tools].filter((t) => run('which', [t], { allowFail: true }).trim() === '');
  if (missing.length) {
    const hint = missing.includes('quicktun') ? ' (DEBIAN_FRONTEND=noninteractive apt-get install -y quicktun, or --only without quicktun)' : '';
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

async function runContender(c: Contender, ctx: Ctx, seconds: number, pings: number): Promise<ContenderResult> {
  const res: ContenderResult = { name: c.name, ok: false, problems: [] };
  const t0 = Date.now();
  try {
    log(`${c.name}: setting up`);
    const s = await c.setup(ctx);
    res.setupSeconds = (Date.now() - t0) / 1000;
    res.subnets = s.addrs.subnets;
    res.podIps = s.addrs.ips;
    res.mtu = s.addrs.mtu;
    const [p1, p2] = ctx.t.pods;
    checkPath(ctx.t, s.addrs.ips, s.viaDev);
    res.reachSeconds = await waitReachable(p1.ns, s.addrs.ips[1], 10_000);
    log(`${c.name}: pods ${s.addrs.ips.join(' ↔ ')} (mtu ${s.addrs.mtu}) up after ${res.setupSeconds.toFixed(1)} s + ${res.reachSeconds.toFixed(1)} s; ping ×${pings}`);
    res.ping = await measurePing(ctx.j, p1.ns, s.addrs.ips[1], pings, s.daemons);
    log(`${c.name}: rtt p50 ${res.ping.p50Ms.toFixed(3)} ms, p99 ${res.ping.p99Ms.toFixed(3)} ms (${res.ping.received}/${res.ping.sent}); iperf3 ${seconds} s`);
    const drops0 = kernelDrops(ctx.t);
    res.iperf = await measureIperf(ctx.j, p1, { ns: p2.ns, ip: s.addrs.ips[1] }, seconds, s.daemons, c.name);
    res.kernelDrops = diffDrops(drops0, kernelDrops(ctx.t));
    log(`${c.name}: kernel drop counters during iperf3 ${JSON.stringify(res.kernelDrops)}`);
    res.perGB = derivePerGB(res.iperf);
    if (c.stats) {
      res.dataplaneStats = c.stats(ctx);
      log(`${c.name}: data plane counters ${JSON.stringify(res.dataplaneStats, (k, v) => (k === 'workers' ? undefined : v))}`);
    }
    log(`${c.name}: ${res.iperf.gbps.toFixed(2)} Gbit/s, ${res.iperf.cpu.system.toFixed(2)} CPU-s system (background ${res.iperf.cpu.backgroundCores.toFixed(2)} cores), ${res.perGB.system.toFixed(2)} CPU-s/GB`);
    res.ok = true;
  } catch (e) {
    res.error = (e as Error).message;
    log(`${c.name}: FAILED: ${res.error}`);
  } finally {
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
    for (const c of opts.contenders) results.push(await runContender(c, ctx, opts.seconds, opts.pings));
    failed = results.some((r) => !r.ok);
    process.stdout.write(formatTable(results));
    const file = writeResults(
      RESULTS_DIR,
      {
        date: started.toISOString(),
        host: { node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model, kernel: release(), loadavgAtStart: loadavg() },
        options: { seconds: opts.seconds, pings: opts.pings, only: opts.contenders.map((c) => c.name) },
        topology: { underlay: '198.51.100.0/24 veth, mtu 1500', pods: 'one veth per pod to its node', network: '10.244.0.0/16' },
        results,
      },
      started,
    );
    log(`wrote ${file}; total ${((Date.now() - T0) / 1000).toFixed(0)} s`);
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
