// Pod-to-pod measurements: ping RTT percentiles, iperf3 TCP (1 and 4 streams) with
// the CPU time the system and the data-plane processes spent, iperf3 UDP with small
// datagrams (delivered packets/s), and HTTP requests/s with autocannon.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Daemon } from './daemon.js';
import type { Janitor } from './janitor.js';
import { systemCpu } from './proc.js';
import { inNs, ipn, runInNs, sleep, waitFor } from './sh.js';
import type { Topology } from './topology.js';

export interface PingResult {
  sent: number;
  received: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  maxMs: number;
}

export interface IperfResult {
  streams: number;
  seconds: number;
  bytes: number;
  gbps: number;
  retransmits: number | null;
  cpu: {
    /** Busy CPU-seconds of the whole machine (user+system+irq+softirq+steal) while iperf3 ran. */
    system: number;
    /** Of which softirq (where the kernel's forwarding and VXLAN run). */
    softirq: number;
    /** CPU-seconds of the data-plane processes (weft, quicktun), from /proc/<pid>/stat. */
    dataplane: number;
    iperfClient: number;
    iperfServer: number;
    /** Cores busy with other jobs, measured for 1 s just before the stream (the machine minus our data plane); NaN if not sampled. */
    backgroundCores: number;
    /** Cores the data-plane processes used in that same idle second. */
    dataplaneIdleCores: number;
  };
  wallSeconds: number;
}

/**
 * An AbortSignal that fires when a data-plane process exits, and a check that
 * turns such an exit into a clear error (instead of a hung or empty measurement).
 */
function watchDataplane(dataplane: Daemon[]): { signal: AbortSignal; check: (during: string) => void } {
  const ac = new AbortController();
  for (const d of dataplane) void d.exited.then(() => ac.abort());
  return {
    signal: ac.signal,
    check: (during) => {
      const dead = dataplane.find((d) => !d.running);
      if (dead) throw new Error(`${dead.what} exited during ${during} (stopped from outside the benchmark?):\n${dead.log(800)}`);
    },
  };
}

/** Nearest-rank percentile of a sorted array. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

/** The route each node uses for the other pod must go through the contender's device. */
export function checkPath(t: Topology, podIps: [string, string], viaDev: [string, string]): void {
  for (let i = 0; i < 2; i++) {
    const dst = podIps[1 - i]!;
    const r = JSON.parse(ipn(t.nodes[i]!.ns, '-j', 'route', 'get', dst)) as { dev: string }[];
    if (r[0]?.dev !== viaDev[i]) throw new Error(`${t.nodes[i]!.ns} routes ${dst} via ${r[0]?.dev}, expected ${viaDev[i]}`);
  }
}

/** One ping a time until a reply comes (ARP, peer discovery, first packets). */
export async function waitReachable(ns: string, dst: string, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  await waitFor(`${dst} to answer ping from ${ns}`, timeoutMs, async () => {
    const r = await runInNs(ns, 'ping', ['-n', '-c', '1', '-W', '1', dst], { timeoutMs: 3000 });
    return r.code === 0;
  }, 50);
  return (Date.now() - t0) / 1000;
}

export async function measurePing(j: Janitor, ns: string, dst: string, count: number, dataplane: Daemon[]): Promise<PingResult> {
  const watch = watchDataplane(dataplane);
  // -i 0.01 needs root (we are). Warm-up first, so no first-packet costs land in the figures.
  await runInNs(ns, 'ping', ['-n', '-q', '-c', '10', '-i', '0.01', '-W', '1', dst], { timeoutMs: 10_000, signal: watch.signal });
  const r = await runInNs(ns, 'ping', ['-n', '-c', String(count), '-i', '0.01', '-W', '1', dst], {
    timeoutMs: count * 50 + 5000,
    signal: watch.signal,
    onSpawn: (pid) => j.track(pid, 'ping'),
    onExit: (pid) => j.untrack(pid),
  });
  watch.check('ping');
  const times = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])).sort((a, b) => a - b);
  if (times.length === 0) throw new Error(`ping ${dst} from ${ns}: no replies\n${r.stdout}${r.stderr}`);
  return {
    sent: count,
    received: times.length,
    p50Ms: percentile(times, 0.5),
    p99Ms: percentile(times, 0.99),
    meanMs: times.reduce((a, b) => a + b, 0) / times.length,
    maxMs: times[times.length - 1]!,
  };
}

const IPERF_PORT = 5201;
/** A second with other jobs using at most this many cores counts as quiet. */
export const QUIET_CORES = 0.25;
const QUIET_SAMPLES = 3;

interface IperfJson {
  error?: string;
  end?: {
    /** UDP: the sender's packet count with the receiver's loss figures. */
    sum?: { seconds: number; bytes: number; packets?: number; lost_packets?: number; lost_percent?: number };
    sum_sent?: { seconds: number; bytes: number; retransmits?: number };
    sum_received?: { seconds: number; bytes: number; bits_per_second: number };
    cpu_utilization_percent?: { host_total: number; remote_total: number };
  };
}

/** Starts a server in the server pod and waits until it listens on `port`; stopped again if it never does. */
async function startListener(j: Janitor, ns: string, port: number, what: string, cmd: string, args: string[], log: string): Promise<Daemon> {
  const srv = Daemon.start(j, ns, what, cmd, args, log);
  try {
    await waitFor(`${what} to listen`, 5000, () => {
      srv.assertRunning();
      return inNs(ns, 'ss', ['-Hltn', `sport = :${port}`]).trim() !== '';
    });
  } catch (e) {
    await srv.stop(2000);
    throw e;
  }
  return srv;
}

/** iperf3 -s in the server pod, kept for all of a contender's iperf3 runs (it serves one test at a time). */
export function startIperfServer(j: Janitor, server: { ns: string; ip: string }, label: string): Promise<Daemon> {
  return startListener(j, server.ns, IPERF_PORT, `iperf3 -s (${label})`, 'iperf3', ['-s', '-B', server.ip, '-p', String(IPERF_PORT)], join(j.dir, `iperf3-server-${label}.log`));
}

/** Runs `iperf3 -c ... -J` in the client pod; the parsed JSON, or a clear error. */
async function runIperfClient(j: Janitor, client: { ns: string }, server: { ip: string }, srv: Daemon, args: string[], seconds: number, dataplane: Daemon[], what: string): Promise<IperfJson> {
  srv.assertRunning();
  const watch = watchDataplane(dataplane);
  const r = await runInNs(client.ns, 'iperf3', ['-c', server.ip, '-p', String(IPERF_PORT), '-t', String(seconds), '-J', ...args], {
    timeoutMs: (seconds + 20) * 1000,
    signal: watch.signal,
    onSpawn: (pid) => j.track(pid, `iperf3 -c (${what})`),
    onExit: (pid) => j.untrack(pid),
  });
  watch.check(what);
  let doc: IperfJson;
  try {
    doc = JSON.parse(r.stdout) as IperfJson;
  } catch {
    throw new Error(`${what}: iperf3 printed no JSON (exit ${r.code ?? r.signal}): ${r.stdout.slice(0, 500)} ${r.stderr.slice(0, 500)}`);
  }
  if (doc.error) throw new Error(`${what}: iperf3: ${doc.error}`);
  return doc;
}

/**
 * TCP from the client pod for `seconds`, with `streams` parallel streams. With
 * sampleBackground, first waits for (up to 3 s) a quiet second and records how
 * busy the machine was, so the CPU figures of this stream can be judged.
 */
export async function measureIperf(
  j: Janitor,
  client: { ns: string },
  server: { ns: string; ip: string },
  srv: Daemon,
  seconds: number,
  dataplane: Daemon[],
  opts: { streams: number; sampleBackground: boolean },
): Promise<IperfResult> {
  const dpCpu = () => dataplane.reduce((sum, d) => sum + d.cpuSeconds(), 0);
  // Background: 1 s samples of what other jobs use; if busy, wait for a quieter second (at most 3 samples).
  let backgroundCores = NaN;
  let dataplaneIdleCores = NaN;
  for (let sample = 0; opts.sampleBackground && sample < QUIET_SAMPLES; sample++) {
    const bg0 = systemCpu();
    const idle0 = dpCpu();
    const bgT0 = process.hrtime.bigint();
    await sleep(1000);
    const bg1 = systemCpu();
    const idle1 = dpCpu();
    const bgWall = Number(process.hrtime.bigint() - bgT0) / 1e9;
    dataplaneIdleCores = (idle1 - idle0) / bgWall;
    backgroundCores = Math.max(0, (bg1.busy - bg0.busy - (idle1 - idle0)) / bgWall);
    if (backgroundCores <= QUIET_CORES) break;
  }

  const dp0 = dpCpu();
  const srv0 = srv.cpuSeconds();
  const sys0 = systemCpu();
  const t0 = process.hrtime.bigint();
  const doc = await runIperfClient(j, client, server, srv, ['-P', String(opts.streams)], seconds, dataplane, `iperf3 TCP ×${opts.streams}`);
  const wallSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const sys1 = systemCpu();
  const dp1 = dpCpu();
  const srv1 = srv.cpuSeconds();
  if (!doc.end?.sum_received || !doc.end.sum_sent) throw new Error('iperf3 TCP: no end summary');
  const sent = doc.end.sum_sent;
  const recv = doc.end.sum_received;
  return {
    streams: opts.streams,
    seconds: recv.seconds,
    bytes: recv.bytes,
    gbps: recv.bits_per_second / 1e9,
    retransmits: sent.retransmits ?? null,
    cpu: {
      system: sys1.busy - sys0.busy,
      softirq: sys1.softirq - sys0.softirq,
      dataplane: dp1 - dp0,
      iperfClient: ((doc.end.cpu_utilization_percent?.host_total ?? 0) / 100) * sent.seconds,
      iperfServer: srv1 - srv0,
      backgroundCores,
      dataplaneIdleCores,
    },
    wallSeconds,
  };
}

export interface UdpResult {
  payloadBytes: number;
  seconds: number;
  /** Datagrams the client sent. */
  sentPackets: number;
  /** Datagrams the server received: received payload bytes / payload size. */
  deliveredPackets: number;
  /** iperf3's own loss count (from sequence numbers, as the server reports it). */
  lostPackets: number | null;
  lostPercent: number | null;
  /** Delivered datagrams per second over the receiver's measured time. */
  deliveredPps: number;
  sentPps: number;
  /** Whole-machine busy CPU-seconds during the test. */
  cpuSystem: number;
  dataplaneCpu: number;
}

/** UDP with small datagrams, sent as fast as the client can (-b 0): what gets through, per second. */
export async function measureUdp(
  j: Janitor,
  client: { ns: string },
  server: { ns: string; ip: string },
  srv: Daemon,
  seconds: number,
  dataplane: Daemon[],
  payloadBytes: number,
): Promise<UdpResult> {
  const dpCpu = () => dataplane.reduce((sum, d) => sum + d.cpuSeconds(), 0);
  const dp0 = dpCpu();
  const sys0 = systemCpu();
  const doc = await runIperfClient(j, client, server, srv, ['-u', '-l', String(payloadBytes), '-b', '0'], seconds, dataplane, `iperf3 UDP ${payloadBytes} B`);
  const sys1 = systemCpu();
  const dp1 = dpCpu();
  const end = doc.end;
  const sum = end?.sum;
  const recv = end?.sum_received;
  const sent = end?.sum_sent;
  if (!sum || !recv || !sent) throw new Error('iperf3 UDP: no end summary');
  const deliveredPackets = Math.round(recv.bytes / payloadBytes);
  const sentPackets = sum.packets ?? Math.round(sent.bytes / payloadBytes);
  return {
    payloadBytes,
    seconds: recv.seconds,
    sentPackets,
    deliveredPackets,
    lostPackets: sum.lost_packets ?? null,
    lostPercent: sum.lost_percent ?? null,
    deliveredPps: deliveredPackets / recv.seconds,
    sentPps: sentPackets / sent.seconds,
    cpuSystem: sys1.busy - sys0.busy,
    dataplaneCpu: dp1 - dp0,
  };
}

const HTTP_PORT = 8080;
const HTTP_SERVER_JS = fileURLToPath(new URL('./http-server.js', import.meta.url));
const HTTP_LOAD_JS = fileURLToPath(new URL('./http-load.js', import.meta.url));
export const HTTP_CONNECTIONS = 10;

/** The tiny node HTTP server in the server pod, kept for all of a contender's HTTP runs. */
export function startHttpServer(j: Janitor, server: { ns: string; ip: string }, label: string): Promise<Daemon> {
  return startListener(j, server.ns, HTTP_PORT, `http server (${label})`, process.execPath, [HTTP_SERVER_JS, server.ip, String(HTTP_PORT)], join(j.dir, `http-server-${label}.log`));
}

export interface HttpResult {
  connections: number;
  seconds: number;
  requests: number;
  rps: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  errors: number;
  timeouts: number;
  non2xx: number;
}

/** autocannon (http-load.js) in the client pod against the server pod's HTTP server for `seconds`. */
export async function measureHttp(j: Janitor, client: { ns: string }, server: { ip: string }, srv: Daemon, seconds: number, dataplane: Daemon[]): Promise<HttpResult> {
  srv.assertRunning();
  const watch = watchDataplane(dataplane);
  const url = `http://${server.ip}:${HTTP_PORT}/`;
  const r = await runInNs(client.ns, process.execPath, [HTTP_LOAD_JS, url, String(seconds), String(HTTP_CONNECTIONS)], {
    timeoutMs: (seconds + 20) * 1000,
    signal: watch.signal,
    onSpawn: (pid) => j.track(pid, 'autocannon'),
    onExit: (pid) => j.untrack(pid),
  });
  watch.check('autocannon');
  srv.assertRunning();
  let doc: Omit<HttpResult, 'connections'>;
  try {
    doc = JSON.parse(r.stdout) as Omit<HttpResult, 'connections'>;
  } catch {
    throw new Error(`autocannon printed no JSON (exit ${r.code ?? r.signal}): ${r.stdout.slice(0, 500)} ${r.stderr.slice(0, 500)}`);
  }
  if (doc.requests === 0) throw new Error(`autocannon: no requests completed (errors ${doc.errors}, timeouts ${doc.timeouts})`);
  return { connections: HTTP_CONNECTIONS, ...doc };
}

/** Kernel-side drop counters of the node namespaces, where a data plane's losses show when it is too slow. */
export type KernelDrops = Record<string, Record<string, number>>;

export function kernelDrops(t: Topology): KernelDrops {
  const out: KernelDrops = {};
  t.nodes.forEach((n, i) => {
    const c: Record<string, number> = {};
    const snmp = inNs(n.ns, 'cat', ['/proc/net/snmp']).split('\n');
    const udp = snmp.filter((l) => l.startsWith('Udp:'));
    if (udp.length === 2) {
      const keys = udp[0]!.split(/\s+/).slice(1);
      const vals = udp[1]!.split(/\s+/).slice(1).map(Number);
      for (const k of ['InErrors', 'RcvbufErrors', 'SndbufErrors']) c[`udp.${k}`] = vals[keys.indexOf(k)] ?? 0;
    }
    const links = JSON.parse(ipn(n.ns, '-s', '-j', 'link', 'show')) as { ifname: string; stats64?: { rx: { dropped: number }; tx: { dropped: number } } }[];
    for (const l of links) {
      if (l.ifname === 'lo' || !l.stats64) continue;
      c[`${l.ifname}.rx_dropped`] = l.stats64.rx.dropped;
      c[`${l.ifname}.tx_dropped`] = l.stats64.tx.dropped;
    }
    out[`n${i + 1}`] = c;
  });
  return out;
}

/** after − before, non-zero entries only. */
export function diffDrops(before: KernelDrops, after: KernelDrops): KernelDrops {
  const out: KernelDrops = {};
  for (const [node, counters] of Object.entries(after)) {
    const d: Record<string, number> = {};
    for (const [k, v] of Object.entries(counters)) {
      const delta = v - (before[node]?.[k] ?? 0);
      if (delta !== 0) d[k] = delta;
    }
    out[node] = d;
  }
  return out;
}
