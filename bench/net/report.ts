// The results: one record per contender, a plain-text table with each figure's
// ratio to kernel-vxlan, and the JSON file.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { QUIET_CORES, type IperfResult, type PingResult } from './measure.js';

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
  ping?: PingResult;
  iperf?: IperfResult;
  /** Node namespaces' kernel drop counters (UDP socket errors, per-device drops) that grew during iperf3. */
  kernelDrops?: Record<string, Record<string, number>>;
  /** The data plane's own counters afterwards (weft: drops, worker restarts, per-worker packets). */
  dataplaneStats?: Record<string, unknown>;
  perGB?: {
    /** Whole-machine busy CPU-seconds per GB received. */
    system: number;
    /** The same, minus what the background load measured just before would have used (an estimate; meaningless once the machine is saturated). */
    systemNetOfBackground: number;
    /** Data-plane processes + both iperf3 ends. */
    processes: number;
  };
}

export function derivePerGB(r: IperfResult): NonNullable<ContenderResult['perGB']> {
  const gb = r.bytes / 1e9;
  const c = r.cpu;
  return {
    system: c.system / gb,
    systemNetOfBackground: Math.max(0, c.system - c.backgroundCores * r.wallSeconds) / gb,
    processes: (c.dataplane + c.iperfClient + c.iperfServer) / gb,
  };
}

const BASE = 'kernel-vxlan';
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
  { head: 'RTT p50 ms', value: (r) => r.ping?.p50Ms, digits: 3, ratio: true },
  { head: 'RTT p99 ms', value: (r) => r.ping?.p99Ms, digits: 3, ratio: true },
  { head: 'TCP Gbit/s', value: (r) => r.iperf?.gbps, digits: 2, ratio: true },
  { head: 'retr', value: (r) => r.iperf?.retransmits ?? undefined, digits: 0, ratio: false },
  {
    head: 'kdrops',
    value: (r) => (r.kernelDrops ? Object.values(r.kernelDrops).reduce((sum, c) => sum + Object.values(c).reduce((a, b) => a + b, 0), 0) : undefined),
    digits: 0,
    ratio: false,
  },
  { head: 'CPU s/GB sys', value: (r) => r.perGB?.system, digits: 2, ratio: true },
  { head: 'CPU s/GB procs', value: (r) => r.perGB?.processes, digits: 2, ratio: true },
  { head: 'bg cores', value: (r) => r.iperf?.cpu.backgroundCores, digits: 2, ratio: false },
  { head: 'idle cores', value: (r) => r.iperf?.cpu.dataplaneIdleCores, digits: 2, ratio: false },
];

export function formatTable(results: ContenderResult[]): string {
  const base = results.find((r) => r.name === BASE && r.ok);
  const rows: string[][] = [['contender', ...COLUMNS.map((c) => c.head)]];
  for (const r of results) {
    if (!r.ok) {
      rows.push([r.name, `FAILED: ${(r.error ?? '').split('\n')[0]!.slice(0, 100)}`]);
      continue;
    }
    const disturbed = (r.iperf?.cpu.backgroundCores ?? 0) > DISTURBED_CORES;
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
    base
      ? `×: ratio to ${BASE} (Gbit/s: higher is better; RTT and CPU s/GB: lower is better).`
      : `(no ${BASE} result: no ratios)`,
    'retr: TCP retransmits; kdrops: packets the node namespaces\' kernels dropped (TUN queue full, UDP buffer full; details in the JSON).',
    'CPU s/GB sys: busy CPU-seconds of the whole machine during the iperf3 stream, per GB received;',
    '  procs: weft/quicktun + both iperf3 ends (kernel softirq work charged to no process is missing there).',
    'bg cores: cores busy with other jobs in the second before the stream (weft/quicktun excluded; up to 3 s waited for a quiet one);',
    `  * = over ${DISTURBED_CORES}: that row's figures are disturbed. idle cores: what weft/quicktun used in that second.`,
  ];
  const problems = results.flatMap((r) => r.problems.map((p) => `${r.name}: ${p}`));
  if (problems.length) notes.push('', 'teardown problems:', ...problems.map((p) => `  ${p}`));
  return `${lines.join('\n')}\n${notes.join('\n')}\n`;
}

export function writeResults(dir: string, doc: unknown, date: Date): string {
  mkdirSync(dir, { recursive: true });
  const stamp = date.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
  const file = join(dir, `net-${stamp}.json`);
  writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
  return file;
}
