// The results: one record per contender (every run, and the medians), a plain-text
// table of the medians with each figure's ratio to kernel-vxlan, and the JSON file.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HTTP_CONNECTIONS, QUIET_CORES, type HttpResult, type IperfResult, type KernelDrops, type PingResult, type UdpResult } from './measure.js';

/** One pass of every measurement; a measurement that failed has its error in `errors` instead. */
export interface RunResult {
  run: number;
  ping?: PingResult;
  /** One TCP stream; its CPU figures feed perGB. */
  tcp1?: IperfResult;
  tcp4?: IperfResult;
  udp?: UdpResult;
  http?: HttpResult;
  /** Node namespaces' kernel drop counters (UDP socket errors, per-device drops) that grew during each iperf3 test. */
  kernelDrops?: { tcp1?: KernelDrops; tcp4?: KernelDrops; udp?: KernelDrops };
  perGB?: PerGB;
  errors: Record<string, string>;
}

export interface PerGB {
  /** Whole-machine busy CPU-seconds per GB received. */
  system: number;
  /** The same, minus what the background load measured just before would have used (an estimate; meaningless once the machine is saturated). */
  systemNetOfBackground: number;
  /** Data-plane processes + both iperf3 ends. */
  processes: number;
}

/** Medians over the runs (of the runs where that measurement succeeded). */
export interface Medians {
  rttP50Ms?: number;
  rttP99Ms?: number;
  tcp1Gbps?: number;
  tcp1Retransmits?: number;
  tcp4Gbps?: number;
  tcp4Retransmits?: number;
  udpDeliveredKpps?: number;
  udpSentKpps?: number;
  udpLostPercent?: number;
  httpRps?: number;
  httpP99Ms?: number;
  /** Sum of the node kernels' drop counters during the 1-stream TCP test. */
  tcp1KernelDrops?: number;
  cpuSystemPerGB?: number;
  cpuProcessesPerGB?: number;
  backgroundCores?: number;
  dataplaneIdleCores?: number;
}

export interface ContenderResult {
  name: string;
  ok: boolean;
  error?: string;
  /** Teardown findings (a daemon that did not stop cleanly, leftovers). */
  problems: string[];
  setupSeconds?: number;
  /** From setup done to the first ping reply. */
  reachSeconds?: number;
  subnets?: [string, string];
  podIps?: [string, string];
  mtu?: number;
  /** Every run's raw figures. */
  runs: RunResult[];
  /** What the table and the chart show. */
  median?: Medians;
  /** The data plane's own counters afterwards (weft: drops, worker restarts, per-worker packets). */
  dataplaneStats?: Record<string, unknown>;
}

export function derivePerGB(r: IperfResult): PerGB {
  const gb = r.bytes / 1e9;
  const c = r.cpu;
  return {
    system: c.system / gb,
    systemNetOfBackground: Math.max(0, c.system - (Number.isFinite(c.backgroundCores) ? c.backgroundCores : 0) * r.wallSeconds) / gb,
    processes: (c.dataplane + c.iperfClient + c.iperfServer) / gb,
  };
}

export function median(values: (number | null | undefined)[]): number | undefined {
  const v = values.filter((x): x is number => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

const sumDrops = (d: KernelDrops | undefined) => (d ? Object.values(d).reduce((sum, c) => sum + Object.values(c).reduce((a, b) => a + b, 0), 0) : undefined);

export function medians(runs: RunResult[]): Medians {
  const m = (f: (r: RunResult) => number | null | undefined) => median(runs.map(f));
  return {
    rttP50Ms: m((r) => r.ping?.p50Ms),
    rttP99Ms: m((r) => r.ping?.p99Ms),
    tcp1Gbps: m((r) => r.tcp1?.gbps),
    tcp1Retransmits: m((r) => r.tcp1?.retransmits),
    tcp4Gbps: m((r) => r.tcp4?.gbps),
    tcp4Retransmits: m((r) => r.tcp4?.retransmits),
    udpDeliveredKpps: m((r) => (r.udp ? r.udp.deliveredPps / 1000 : undefined)),
    udpSentKpps: m((r) => (r.udp ? r.udp.sentPps / 1000 : undefined)),
    udpLostPercent: m((r) => r.udp?.lostPercent),
    httpRps: m((r) => r.http?.rps),
    httpP99Ms: m((r) => r.http?.latencyMs.p99),
    tcp1KernelDrops: m((r) => sumDrops(r.kernelDrops?.tcp1)),
    cpuSystemPerGB: m((r) => r.perGB?.system),
    cpuProcessesPerGB: m((r) => r.perGB?.processes),
    backgroundCores: m((r) => r.tcp1?.cpu.backgroundCores),
    dataplaneIdleCores: m((r) => r.tcp1?.cpu.dataplaneIdleCores),
  };
}

export const BASE = 'kernel-vxlan';
/** Above this many cores busy with other jobs just before the stream, a row is marked disturbed. */
const DISTURBED_CORES = QUIET_CORES;

interface Column {
  head: string;
  value: (r: ContenderResult) => number | undefined;
  digits: number;
  ratio: boolean;
}

const COLUMNS: Column[] = [
  { head: 'MTU', value: (r) => r.mtu, digits: 0, ratio: false },
  { head: 'RTT p50 ms', value: (r) => r.median?.rttP50Ms, digits: 3, ratio: true },
  { head: 'RTT p99 ms', value: (r) => r.median?.rttP99Ms, digits: 3, ratio: true },
  { head: 'TCP×1 Gbit/s', value: (r) => r.median?.tcp1Gbps, digits: 2, ratio: true },
  { head: 'retr', value: (r) => r.median?.tcp1Retransmits, digits: 0, ratio: false },
  { head: 'kdrops', value: (r) => r.median?.tcp1KernelDrops, digits: 0, ratio: false },
  { head: 'TCP×4 Gbit/s', value: (r) => r.median?.tcp4Gbps, digits: 2, ratio: true },
  { head: 'UDP64 kpps', value: (r) => r.median?.udpDeliveredKpps, digits: 0, ratio: true },
  { head: 'sent kpps', value: (r) => r.median?.udpSentKpps, digits: 0, ratio: false },
  { head: 'HTTP req/s', value: (r) => r.median?.httpRps, digits: 0, ratio: true },
  { head: 'HTTP p99 ms', value: (r) => r.median?.httpP99Ms, digits: 0, ratio: true },
  { head: 'CPU s/GB sys', value: (r) => r.median?.cpuSystemPerGB, digits: 2, ratio: true },
  { head: 'CPU s/GB procs', value: (r) => r.median?.cpuProcessesPerGB, digits: 2, ratio: true },
  { head: 'bg cores', value: (r) => r.median?.backgroundCores, digits: 2, ratio: false },
  { head: 'idle cores', value: (r) => r.median?.dataplaneIdleCores, digits: 2, ratio: false },
];

export function formatTable(results: ContenderResult[], runs: number): string {
  const base = results.find((r) => r.name === BASE && r.ok);
  const rows: string[][] = [['contender', ...COLUMNS.map((c) => c.head)]];
  for (const r of results) {
    if (!r.ok) {
      rows.push([r.name, `FAILED: ${(r.error ?? '').split('\n')[0]!.slice(0, 100)}`]);
      continue;
    }
    const disturbed = (r.median?.backgroundCores ?? 0) > DISTURBED_CORES;
    rows.push([
      `${r.name}${disturbed ? ' *' : ''}`,
      ...COLUMNS.map((c) => {
        const v = c.value(r);
        if (v === undefined || !Number.isFinite(v)) return '-';
        let cell = v.toFixed(c.digits);
        const b = base ? c.value(base) : undefined;
        if (c.ratio && b !== undefined && b > 0) cell += ` ×${(v / b).toFixed(2)}`;
        return cell;
      }),
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.filter((row) => row.length > 2).map((row) => (row[i] ?? '').length)));
  const lines = rows.map((row) => (row.length > 2 ? row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ') : row.join('  ')));
  lines.splice(1, 0, '-'.repeat(lines[0]!.length));
  const notes = [
    '',
    `Each figure is the median of ${runs} run(s); every run's figures are in the JSON.`,
    base
      ? `×: ratio to ${BASE} (Gbit/s, kpps, req/s: higher is better; RTT, p99 and CPU s/GB: lower is better).`
      : `(no ${BASE} result: no ratios)`,
    'TCP×1 / TCP×4: iperf3 TCP with 1 / 4 parallel streams. retr: TCP×1 retransmits; kdrops: packets the node namespaces\' kernels',
    '  dropped during TCP×1 (TUN queue full, UDP buffer full; details in the JSON).',
    'UDP64 kpps: thousand 64-byte UDP datagrams per second DELIVERED to the receiver (iperf3 -u -l 64 -b 0); sent kpps: what the sender offered.',
    `HTTP req/s, p99 ms: autocannon, ${HTTP_CONNECTIONS} connections, from pod 1 to a tiny node HTTP server in pod 2 (autocannon's latency resolution: 1 ms).`,
    'CPU s/GB sys: busy CPU-seconds of the whole machine during the TCP×1 stream, per GB received;',
    '  procs: weft/quicktun/wireguard-go + both iperf3 ends (kernel softirq work charged to no process is missing there).',
    'bg cores: cores busy with other jobs in the second before TCP×1 (weft/quicktun/wireguard-go excluded; up to 3 s waited for a quiet one);',
    `  * = over ${DISTURBED_CORES}: that row's figures are disturbed. idle cores: what weft/quicktun/wireguard-go used in that second.`,
  ];
  const errors = results.flatMap((r) => r.runs.flatMap((run) => Object.entries(run.errors).map(([k, e]) => `${r.name} run ${run.run} ${k}: ${e.split('\n')[0]!.slice(0, 160)}`)));
  if (errors.length) notes.push('', 'failed measurements (left out of the medians):', ...errors.map((p) => `  ${p}`));
  const problems = results.flatMap((r) => r.problems.map((p) => `${r.name}: ${p}`));
  if (problems.length) notes.push('', 'teardown problems:', ...problems.map((p) => `  ${p}`));
  return `${lines.join('\n')}\n${notes.join('\n')}\n`;
}

export function resultStamp(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
}

export function writeResults(dir: string, doc: unknown, date: Date): string {
  mkdirSync(dir, { recursive: true });
  const stamp = resultStamp(date);
  const file = join(dir, `net-${stamp}.json`);
  writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
  return file;
}
