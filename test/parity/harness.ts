// Shared by the flanneld-parity tests: what they need, and a driver that runs
// weft's parity modules (from dist/) inside a test namespace.
//
// Namespaces follow the integration harness's rules (test/integration/harness/
// janitor.ts): named wefttest-<id>-<role>, recorded before they exist, removed
// on every way out (afterAll, exit/signal handlers, a reaper if the test process
// is killed). Nothing is done in the root namespace.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { cleanEnv, nsRun, Proc } from '../integration/harness/exec.js';
import type { Janitor } from '../integration/harness/janitor.js';
import { isCi } from '../helpers/tshark.js';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
const DRIVER = fileURLToPath(new URL('./fixtures/driver.mjs', import.meta.url));

const TOOLS: Array<[string, string[], string]> = [
  ['ip', ['-V'], 'apt-get install -y iproute2'],
  ['iptables', ['--version'], 'apt-get install -y iptables'],
  ['iptables-restore', ['--version'], 'apt-get install -y iptables'],
  ['tshark', ['-v'], 'apt-get install -y tshark'],
  ['ping', ['-V'], 'apt-get install -y iputils-ping'],
  ['curl', ['--version'], 'apt-get install -y curl'],
  ['sysctl', ['-V'], 'apt-get install -y procps'],
];

export function missing(): string[] {
  if (process.platform !== 'linux') return ['Linux (network namespaces)'];
  const out: string[] = [];
  if (process.getuid?.() !== 0) out.push('root (network namespaces, iptables, routes)');
  for (const [tool, args, fix] of TOOLS) {
    if (spawnSync(tool, args, { stdio: 'ignore', timeout: 30_000 }).error !== undefined) out.push(`${tool} (${fix})`);
  }
  if (!existsSync('/dev/net/tun')) out.push('/dev/net/tun (modprobe tun)');
  const built = fileURLToPath(new URL('../../dist/src/daemon/ipmasq.js', import.meta.url));
  if (!existsSync(built)) out.push(`${built} (build first: npx tsc -p tsconfig.json)`);
  return out;
}

/** For describe.skipIf: false when all is there; throws in CI, warns and skips locally. */
export function skipParity(suite: string): boolean {
  if (process.env['WEFT_SKIP_INTEGRATION'] === '1') {
    console.warn(`${suite}: skipped (WEFT_SKIP_INTEGRATION=1)`);
    return true;
  }
  const m = missing();
  if (m.length === 0) return false;
  const msg = `${suite} needs: ${m.join('; ')}`;
  if (isCi()) throw new Error(`${msg} (required in CI)`);
  console.warn(`${msg}: skipped`);
  return true;
}

/** The kernel's counters of a link in a namespace (ip -s). */
export async function linkCounters(ns: string, dev: string): Promise<{ txPackets: number; rxPackets: number }> {
  const out = (await nsRun(ns, 'ip', ['-j', '-s', 'link', 'show', 'dev', dev])).stdout;
  const st = (JSON.parse(out) as Array<{ stats64: { rx: { packets: number }; tx: { packets: number } } }>)[0]!.stats64;
  return { txPackets: st.tx.packets, rxPackets: st.rx.packets };
}

interface Reply {
  id?: number;
  ok?: boolean;
  value?: unknown;
  error?: string;
  log?: Record<string, unknown>;
  ready?: boolean;
}

/** driver.mjs in a namespace: call(op, args) runs one of weft's parity operations there. */
export class Driver {
  readonly logs: Record<string, unknown>[] = [];
  private readonly child: ChildProcess;
  private next = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly ready: Promise<void>;
  private stderr = '';

  constructor(janitor: Janitor, readonly ns: string) {
    this.child = spawn('ip', ['netns', 'exec', ns, process.execPath, DRIVER, REPO], { stdio: ['pipe', 'pipe', 'pipe'], env: cleanEnv() });
    janitor.track(this.child);
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-20_000)));
    let markReady!: () => void;
    let failReady!: (e: Error) => void;
    this.ready = new Promise((res, rej) => {
      markReady = res;
      failReady = rej;
    });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      let msg: Reply;
      try {
        msg = JSON.parse(line) as Reply;
      } catch {
        return;
      }
      if (msg.ready) markReady();
      if (msg.log) this.logs.push(msg.log);
      if (msg.id !== undefined) {
        const w = this.waiting.get(msg.id);
        this.waiting.delete(msg.id);
        if (msg.ok) w?.resolve(msg.value);
        else w?.reject(new Error(msg.error));
      }
    });
    this.child.once('exit', (code, signal) => {
      const err = new Error(`driver in ${ns} exited (${signal ?? code}): ${this.stderr.slice(-3000)}`);
      failReady(err);
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
    });
  }

  static async start(janitor: Janitor, ns: string): Promise<Driver> {
    const d = new Driver(janitor, ns);
    await d.ready;
    return d;
  }

  async call<T = unknown>(op: string, args: Record<string, unknown> = {}, timeoutMs = 30_000): Promise<T> {
    await this.ready;
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`driver ${op} in ${this.ns}: no answer in ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, {
        resolve: (v) => {
          clearTimeout(t);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(t);
          reject(e);
        },
      });
      this.child.stdin!.write(`${JSON.stringify({ id, op, ...args })}\n`);
    });
  }

  /** Closes its stdin (it exits) and waits. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const gone = new Promise((r) => this.child.once('exit', r));
    this.child.stdin!.end();
    const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(t);
  }
}

const PEER_ADDR = fileURLToPath(new URL('./fixtures/peer-addr.mjs', import.meta.url));
let nextPort = 7700;

/** Connects from namespace `from` to ip (a server in `to`) and returns the source address the server saw (null: no connection). */
export async function seenAs(janitor: Janitor, from: string, to: string, ip: string, timeoutMs = 5000): Promise<string | null> {
  const port = String(nextPort++);
  const server = new Proc(janitor, to, process.execPath, [PEER_ADDR, 'server', ip, port]);
  try {
    await server.waitOutput(/"listening"/, 10_000);
    const r = await nsRun(from, process.execPath, [PEER_ADDR, 'client', ip, port, String(timeoutMs)], { allowFail: true, timeoutMs: timeoutMs + 10_000 });
    if (r.code !== 0) return null;
    return (JSON.parse(r.stdout.trim().split('\n').pop()!) as { seenAs: string }).seenAs;
  } finally {
    await server.stop('SIGKILL', 1000);
  }
}
