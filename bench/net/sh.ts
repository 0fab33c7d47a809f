// Running commands. Every command that touches the network goes through
// `ip -n <ns>` or `ip netns exec <ns>`, and ns() refuses any namespace that is
// not one of this benchmark's, so nothing runs in (or changes) the root
// namespace.
import { execFileSync, spawn } from 'node:child_process';

export const NS_PREFIX = 'weftbench-';
const OUR_NS = /^weftbench-[0-9a-f]{4}-[a-z0-9]+$/;

function checkNs(ns: string): string {
  if (!OUR_NS.test(ns)) throw new Error(`refusing to run in namespace '${ns}': not a weftbench-<id>-<role> namespace`);
  return ns;
}

/** Runs a command synchronously; throws with its stderr on a non-zero exit. */
export function run(cmd: string, args: string[], opts: { allowFail?: boolean; env?: NodeJS.ProcessEnv } = {}): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env, timeout: 30_000 });
  } catch (e) {
    if (opts.allowFail) return '';
    const err = e as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${(err.stderr ?? '').trim() || err.message}`);
  }
}

/** `ip -n <ns> ...` */
export function ipn(ns: string, ...args: string[]): string {
  return run('ip', ['-n', checkNs(ns), ...args]);
}

/** `ip -n <ns> ...`, or null if it fails. */
export function ipnMaybe(ns: string, ...args: string[]): string | null {
  try {
    return ipn(ns, ...args);
  } catch {
    return null;
  }
}

/** `ip netns exec <ns> cmd ...`, synchronously. */
export function inNs(ns: string, cmd: string, args: string[], opts: { allowFail?: boolean } = {}): string {
  return run('ip', ['netns', 'exec', checkNs(ns), cmd, ...args], opts);
}

export function sysctl(ns: string, key: string, value: string): void {
  inNs(ns, 'sysctl', ['-q', '-w', `${key}=${value}`]);
}

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * `ip netns exec <ns> cmd ...` without blocking the event loop (so SIGINT is
 * handled at once). `ip netns exec` execs the command, so the child's pid is
 * the command's own; onSpawn gets it for the janitor.
 */
export function runInNs(
  ns: string,
  cmd: string,
  args: string[],
  opts: { timeoutMs: number; signal?: AbortSignal; onSpawn?: (pid: number) => void; onExit?: (pid: number) => void },
): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', checkNs(ns), cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    if (child.pid !== undefined) opts.onSpawn?.(child.pid);
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    opts.signal?.addEventListener('abort', () => child.kill('SIGKILL'), { once: true });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (child.pid !== undefined) opts.onExit?.(child.pid);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Blocks the thread (for the synchronous cleanup path, e.g. in an 'exit' handler). */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Polls until check() returns a value (not undefined/false), or throws after timeoutMs. */
export async function waitFor<T>(what: string, timeoutMs: number, check: () => T | undefined | false | Promise<T | undefined | false>, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
