// Running commands for the lab: one-shot commands (optionally inside a lab
// namespace), `ip -n <lab namespace>`, and the checks on processes and
// namespaces that `down` and `status` rely on. A process is only ever signalled
// by pid, after its command line (or the namespace it runs in) shows it is ours.
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { assertLabNamespace, Interrupted, LAB_NS_RE, LabError, sleep } from './common.js';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  timeoutMs?: number;
  /** Resolve with a non-zero code instead of throwing. */
  allowFail?: boolean;
  /** Kill the command (SIGKILL) and reject with Interrupted when aborted. */
  signal?: AbortSignal;
}

/** The environment for lab children: no WEFT_* / FLANNELD_* that weft would read as flags. */
export function childEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('WEFT_') && !k.startsWith('FLANNELD_')));
}

export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) return reject(new Interrupted());
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv() });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout = (stdout + d.toString()).slice(-1_000_000)));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-100_000)));
    let why: 'timeout' | 'aborted' | null = null;
    const timer = setTimeout(() => {
      why = 'timeout';
      child.kill('SIGKILL');
    }, timeoutMs);
    const onAbort = (): void => {
      why = 'aborted';
      child.kill('SIGKILL');
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const line = `${cmd} ${args.join(' ')}`;
    child.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      reject(new LabError(e.code === 'ENOENT' ? `${cmd} is not installed (${line})` : `${line}: ${e.message}`));
    });
    child.once('close', (code, sig) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      if (why === 'aborted') return reject(new Interrupted());
      if (why === 'timeout') return reject(new LabError(`no answer within ${timeoutMs / 1000} s: ${line}`));
      const res = { code: code ?? 128 + (sig ? 9 : 0), stdout, stderr };
      if (res.code !== 0 && !opts.allowFail) {
        const said = (stderr.trim() || stdout.trim()).split('\n').slice(-3).join(' / ');
        return reject(new LabError(`${line} failed (exit ${res.code})${said ? `: ${said}` : ''}`));
      }
      resolve(res);
    });
  });
}

/** `ip netns exec <lab namespace> cmd args…` */
export function nsRun(ns: string, cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  assertLabNamespace(ns);
  return run('ip', ['netns', 'exec', ns, cmd, ...args], opts);
}

/** `ip -n <lab namespace> args…`: the only way the lab configures links, addresses and routes. */
export async function ipn(ns: string, ...args: string[]): Promise<void> {
  assertLabNamespace(ns);
  await run('ip', ['-n', ns, ...args]);
}

/** Is `tool` an executable on PATH? */
export function onPath(tool: string): boolean {
  for (const dir of (process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter)) {
    try {
      accessSync(join(dir, tool), constants.X_OK);
      return true;
    } catch {
      // next
    }
  }
  return false;
}

/** Every weftlab-* namespace that exists now. */
export function labNamespaces(): string[] {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (r.error) throw new LabError(`cannot list network namespaces: ${r.error.message} (apt-get install -y iproute2)`);
  return (r.stdout ?? '')
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => LAB_NS_RE.test(n));
}

/** Pids of the processes inside a lab namespace (ours by construction). */
export function nsPids(ns: string): number[] {
  assertLabNamespace(ns);
  const r = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
  return (r.stdout ?? '')
    .split(/\s+/)
    .filter((s) => /^\d+$/.test(s))
    .map(Number)
    .filter((p) => p > 1 && p !== process.pid);
}

export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return '';
  }
}

/** Alive and not a zombie. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Processes (not threads) whose command line satisfies `match`, from /proc. */
export function findProcesses(match: (cmd: string) => boolean): number[] {
  const out: number[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    if (pid === process.pid || pid <= 1) continue;
    const cmd = cmdline(pid);
    if (cmd !== '' && match(cmd)) out.push(pid);
  }
  return out;
}

export interface Victim {
  pid: number;
  what: string;
  /** Re-checked before every signal: is it still the process we mean? */
  isOurs: () => boolean;
}

function signal(v: Victim, sig: NodeJS.Signals): void {
  if (!alive(v.pid) || !v.isOurs()) return;
  try {
    process.kill(v.pid, sig);
  } catch {
    // gone meanwhile
  }
}

/** SIGTERM, then SIGKILL for what is left after graceMs; returns the ones that needed SIGKILL. */
export async function terminate(victims: Victim[], graceMs: number): Promise<Victim[]> {
  const live = victims.filter((v) => alive(v.pid) && v.isOurs());
  live.forEach((v) => signal(v, 'SIGTERM'));
  const deadline = Date.now() + graceMs;
  while (live.some((v) => alive(v.pid)) && Date.now() < deadline) await sleep(50);
  const stubborn = live.filter((v) => alive(v.pid));
  stubborn.forEach((v) => signal(v, 'SIGKILL'));
  const killDeadline = Date.now() + 3000;
  while (stubborn.some((v) => alive(v.pid)) && Date.now() < killDeadline) await sleep(20);
  return stubborn;
}
