// Running commands inside namespaces: one-shot (run, nsRun, ipn) and long-lived
// (Proc, tracked by the janitor so that it is always killed).
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import type { Janitor } from './janitor.js';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  timeoutMs?: number;
  /** Resolve with a non-zero code instead of throwing. */
  allowFail?: boolean;
  input?: string;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Environment for children: no WEFT_* / FLANNELD_* that would act as flags. */
export function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('WEFT_') && !k.startsWith('FLANNELD_')));
}

export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], env: cleanEnv() });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} ${args.join(' ')}: ${e.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const res = { code: code ?? (signal ? 128 : -1), stdout, stderr };
      if (timedOut) reject(new Error(`timed out after ${timeoutMs} ms: ${cmd} ${args.join(' ')}\n${stdout}\n${stderr}`));
      else if (res.code !== 0 && !opts.allowFail) reject(new Error(`exit ${res.code}: ${cmd} ${args.join(' ')}\n${stdout}${stderr}`));
      else resolve(res);
    });
  });
}

/** `ip netns exec <ns> cmd args...` */
export function nsRun(ns: string, cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return run('ip', ['netns', 'exec', ns, cmd, ...args], opts);
}

/** `ip -n <ns> args...`, throwing on failure; returns stdout. */
export async function ipn(ns: string, ...args: string[]): Promise<string> {
  return (await run('ip', ['-n', ns, ...args])).stdout;
}

export async function sysctl(ns: string, key: string, value: string): Promise<void> {
  await nsRun(ns, 'sysctl', ['-qw', `${key}=${value}`]);
}

/** `ethtool -k <dev>` in ns: feature name → 'on' / 'off' ("[fixed]" and "[requested …]" dropped). */
export async function ethtoolFeatures(ns: string, dev: string): Promise<Record<string, string>> {
  const out = (await nsRun(ns, 'ethtool', ['-k', dev])).stdout;
  const features: Record<string, string> = {};
  for (const m of out.matchAll(/^\s*([a-z0-9-]+): (on|off)\b/gm)) features[m[1]!] = m[2]!;
  return features;
}

/** Polls `check` until it returns a value other than undefined/false, or throws after timeoutMs. */
/** Tcp InCsumErrors of a namespace's kernel (/proc/net/snmp is per network namespace). */
export async function tcpChecksumErrors(ns: string): Promise<number> {
  const r = await nsRun(ns, 'cat', ['/proc/net/snmp']);
  const [names, values] = r.stdout.split('\n').filter((l) => l.startsWith('Tcp:'));
  const i = (names ?? '').trim().split(/\s+/).indexOf('InCsumErrors');
  if (i <= 0 || values === undefined) throw new Error(`no Tcp InCsumErrors in ${ns}'s /proc/net/snmp`);
  return Number(values.trim().split(/\s+/)[i]);
}

export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(everyMs);
  }
}

export interface ProcOptions {
  /** Extra environment for the child (on top of the cleaned one). */
  env?: Record<string, string>;
  /** Output goes to this file (append) instead of being kept in memory. */
  logFile?: string;
}

/** A long-lived process inside a namespace (`ip netns exec` execs, so pid is the command's). */
export class Proc {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private out = '';
  private listeners: Array<() => void> = [];
  private logFd: number | null = null;

  constructor(
    janitor: Janitor,
    readonly ns: string,
    readonly cmd: string,
    readonly args: string[],
    private readonly opts: ProcOptions = {},
  ) {
    if (opts.logFile) this.logFd = openSync(opts.logFile, 'a');
    const stdio = this.logFd !== null ? (['ignore', this.logFd, this.logFd] as const) : (['ignore', 'pipe', 'pipe'] as const);
    this.child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: [...stdio], env: { ...cleanEnv(), ...opts.env } });
    janitor.track(this.child);
    const keep = (d: Buffer): void => {
      this.out = (this.out + d.toString()).slice(-200_000);
      this.listeners.forEach((l) => l());
    };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        if (this.logFd !== null) {
          closeSync(this.logFd);
          this.logFd = null;
        }
        this.listeners.forEach((l) => l());
        resolve({ code, signal });
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Output so far (memory, or the log file). */
  output(): string {
    if (this.opts.logFile) {
      try {
        return readFileSync(this.opts.logFile, 'utf8');
      } catch {
        return '';
      }
    }
    return this.out;
  }

  /** Waits until the output matches re (memory-kept output only). */
  async waitOutput(re: RegExp, timeoutMs = 10_000): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.output());
      if (m) return m;
      if (!this.running) throw new Error(`${this.cmd} exited before printing ${re}: ${this.output().slice(-2000)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.cmd} did not print ${re} within ${timeoutMs} ms: ${this.output().slice(-2000)}`);
      await new Promise<void>((r) => {
        const t = setTimeout(done, Math.min(left, 200));
        function done(): void {
          clearTimeout(t);
          r();
        }
        this.listeners.push(done);
      });
      this.listeners = [];
    }
  }

  /** Sends sig, then SIGKILL after graceMs; resolves when gone. */
  async stop(sig: NodeJS.Signals = 'SIGTERM', graceMs = 3000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.running) {
      this.child.kill(sig);
      const t = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
      const r = await this.exited;
      clearTimeout(t);
      return r;
    }
    return this.exited;
  }

  /** Waits for a clean exit (code 0) within timeoutMs; returns the output. */
  async result(timeoutMs = 30_000): Promise<string> {
    const t = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const { code, signal } = await this.exited;
    clearTimeout(t);
    if (code !== 0) throw new Error(`${this.cmd} ${this.args.join(' ')} exited ${code ?? signal}: ${this.output().slice(-3000)}`);
    return this.output();
  }
}
