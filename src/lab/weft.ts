// The lab's view of weft: `weft run` started in a node namespace as a detached
// background process, and `weft status --json` asked in that namespace.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { assertLabNamespace, LAB_DIR, LabError, WEFT_BIN } from './common.js';
import { childEnv, cmdline, nsRun } from './exec.js';

/** What the lab reads of `weft status --json` (see src/cli/status.ts). */
export interface NodeStatus {
  ready: boolean;
  lease: { subnet: string; publicIp: string };
  backend: string;
  mtu: number;
  peers: { subnet: string; publicIp: string }[];
  /** Absent on a host-gw node: no tunnel, no workers, the kernel forwards. */
  tun?: string;
  workers?: { txPackets: number; rxPackets: number }[];
  drops?: Record<string, number>;
}

/** Starts a detached background process in `ns`, output appended to `logFile`; returns its pid. */
export function spawnDetached(ns: string, cmd: string, args: string[], logFile: string): number {
  assertLabNamespace(ns); // never in the namespace `weft lab` runs in
  const fd = openSync(logFile, 'a');
  try {
    // `ip netns exec` execs the command: the pid is the command's own.
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { detached: true, stdio: ['ignore', fd, fd], env: childEnv() });
    child.on('error', () => {}); // reported through the missing pid / readiness
    child.unref();
    if (child.pid === undefined) throw new LabError(`cannot start ${cmd} in ${ns}`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

export interface WeftRunPlan {
  ns: string;
  iface: string;
  dir: string;
  subnetFile: string;
  stateDir: string;
  logFile: string;
  workers: number;
  /** null: the file registry. */
  etcdEndpoint: string | null;
  registryFile: string;
}

export function weftRunArgs(p: WeftRunPlan): string[] {
  return [
    WEFT_BIN, 'run',
    '--iface', p.iface,
    ...(p.etcdEndpoint ? ['--etcd-endpoints', p.etcdEndpoint] : ['--registry-file', p.registryFile]),
    '--subnet-file', p.subnetFile,
    '--state-dir', p.stateDir,
    '--workers', String(p.workers),
    // /metrics on the node's own loopback: weft lab exec node1 -- curl -s 127.0.0.1:10250/metrics
    '--healthz-ip', '127.0.0.1',
    '--healthz-port', '10250',
    '--log-level', 'info',
  ];
}

export function startWeft(p: WeftRunPlan): number {
  mkdirSync(p.dir, { recursive: true });
  return spawnDetached(p.ns, process.execPath, weftRunArgs(p), p.logFile);
}

/** Is `pid` still a `weft run` of this lab? (pids get reused) */
export function isLabWeft(pid: number): boolean {
  const cmd = cmdline(pid);
  return cmd.includes(`${LAB_DIR}/`) && / run( |$)/.test(cmd) && cmd.includes('weft');
}

export function isLabEtcd(pid: number): boolean {
  const cmd = cmdline(pid);
  return cmd.includes('etcd') && cmd.includes(`--data-dir ${LAB_DIR}/`);
}

/** `weft status --json` inside `ns`; null when no daemon answers (yet). */
export async function nodeStatus(ns: string, signal?: AbortSignal): Promise<NodeStatus | null> {
  const r = await nsRun(ns, process.execPath, [WEFT_BIN, 'status', '--json'], { allowFail: true, timeoutMs: 15_000, ...(signal ? { signal } : {}) });
  if (r.code !== 0) return null;
  try {
    return JSON.parse(r.stdout) as NodeStatus;
  } catch {
    return null;
  }
}

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

/** The last lines of a log, pino JSON lines made readable. */
export function logTail(file: string, lines = 4): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return '(no log)';
  }
  const out = text
    .trim()
    .split('\n')
    .filter((l) => l.trim() !== '')
    .slice(-lines)
    .map((l) => {
      try {
        const j = JSON.parse(l) as Record<string, unknown>;
        const extra = typeof j['err'] === 'string' ? `: ${j['err']}` : '';
        return `${LEVELS[j['level'] as number] ?? j['level']} ${String(j['msg'] ?? '')}${extra}`;
      } catch {
        return l.slice(0, 300);
      }
    });
  return out.length === 0 ? '(empty log)' : out.join(' | ');
}
