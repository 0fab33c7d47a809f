// Network namespaces for the syscall-layer tests. Safety rules, enforced here:
// - every namespace is named wefttest-sys-<owner pid, base 36>-<6 hex>; nothing is ever
//   configured in the root namespace (links are created with `ip -n`, both veth ends
//   inside test namespaces);
// - underlay addresses come from 198.51.100.0/24 / 203.0.113.0/24 and pod-like ones
//   from 10.244.0.0/16, IPv6 ones from fd00::/8 (ULA) only; fixtures only send to
//   addresses inside these namespaces;
// - everything is removed in afterAll, on process exit/signals, and namespaces left
//   by a dead test process (its pid is in the name) are removed at start.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { alive } from '../../src/lab/exec.js';

export const PREFIX = 'wefttest-';
const created = new Set<string>();
const children = new Set<ChildProcess>();

export function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Deletes namespaces of this helper (and measure.mjs) whose creating process is gone. */
export function cleanupStale(): void {
  for (const line of sh('ip', ['netns', 'list']).split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const m = /^wefttest-sys-([0-9a-z]{1,7})-[0-9a-f]{6}$/.exec(name); // ours only, never other suites'
    if (m && !alive(parseInt(m[1]!, 36))) {
      // Fixtures left running inside keep the namespace (and its TUNs) alive after `del`.
      for (const pid of sh('ip', ['netns', 'pids', name]).split('\n').filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
      deleteNs(name);
    }
  }
}

export function makeNs(): string {
  const name = `${PREFIX}sys-${process.pid.toString(36)}-${randomBytes(3).toString('hex')}`;
  sh('ip', ['netns', 'add', name]);
  created.add(name);
  sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}

function deleteNs(name: string): void {
  try {
    sh('ip', ['netns', 'del', name]);
  } catch {
    // already gone
  }
}

/** Kills fixture processes and deletes every namespace this process made. */
export function cleanupAll(): void {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  children.clear();
  for (const name of created) deleteNs(name);
  created.clear();
}

process.once('exit', cleanupAll);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    cleanupAll();
    process.kill(process.pid, sig);
  });
}

/** A veth pair with one end in each namespace, addressed and up. */
export function veth(a: string, addrA: string, b: string, addrB: string, prefixLen = 24): void {
  sh('ip', ['-n', a, 'link', 'add', 'wt0', 'type', 'veth', 'peer', 'name', 'wt0', 'netns', b]);
  sh('ip', ['-n', a, 'addr', 'add', `${addrA}/${prefixLen}`, 'dev', 'wt0']);
  sh('ip', ['-n', b, 'addr', 'add', `${addrB}/${prefixLen}`, 'dev', 'wt0']);
  sh('ip', ['-n', a, 'link', 'set', 'wt0', 'up']);
  sh('ip', ['-n', b, 'link', 'set', 'wt0', 'up']);
}

/**
 * A veth pair as veth() makes it, addressed with IPv6 (fd00::/8 only) and, when given,
 * IPv4 too. The v6 addresses are added `nodad`: usable at once (no tentative phase);
 * each side knows the other's MAC for its v6 address (a permanent neighbour entry).
 */
export function veth6(a: string, addrA: string, b: string, addrB: string, v4?: [string, string]): void {
  if (!addrA.startsWith('fd') || !addrB.startsWith('fd')) throw new Error('test IPv6 addresses come from fd00::/8');
  sh('ip', ['-n', a, 'link', 'add', 'wt0', 'type', 'veth', 'peer', 'name', 'wt0', 'netns', b]);
  for (const [ns, addr, addr4] of [
    [a, addrA, v4?.[0]],
    [b, addrB, v4?.[1]],
  ] as const) {
    sh('ip', ['-n', ns, '-6', 'addr', 'add', `${addr}/64`, 'dev', 'wt0', 'nodad']);
    if (addr4 !== undefined) sh('ip', ['-n', ns, 'addr', 'add', `${addr4}/24`, 'dev', 'wt0']);
    sh('ip', ['-n', ns, 'link', 'set', 'wt0', 'up']);
  }
  // Neighbours known from the start: a burst sent before neighbour discovery ends
  // would otherwise be dropped beyond the unresolved queue (the same holds for ARP).
  const mac = (ns: string): string => (JSON.parse(sh('ip', ['-n', ns, '-j', 'link', 'show', 'wt0'])) as Array<{ address: string }>)[0]!.address;
  const [macA, macB] = [mac(a), mac(b)];
  sh('ip', ['-n', a, '-6', 'neigh', 'replace', addrB, 'lladdr', macB, 'dev', 'wt0', 'nud', 'permanent']);
  sh('ip', ['-n', b, '-6', 'neigh', 'replace', addrA, 'lladdr', macA, 'dev', 'wt0', 'nud', 'permanent']);
}

export function inNs(ns: string, cmd: string, args: string[]): string {
  return sh('ip', ['netns', 'exec', ns, cmd, ...args]);
}

export const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

/** A fixture script running inside a namespace; it speaks JSON, one object per line. */
export class Fixture {
  readonly lines: unknown[] = [];
  private stderr = '';
  private waiters: Array<() => void> = [];
  readonly done: Promise<number>;
  private readonly child: ChildProcess;

  constructor(ns: string, script: string, arg: unknown, wrap: string[] = []) {
    this.child = spawn('ip', ['netns', 'exec', ns, ...wrap, process.execPath, FIXTURES + script, JSON.stringify(arg)], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, WEFTTEST_STDIN: '1' },
    });
    children.add(this.child);
    let buf = '';
    this.child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        this.lines.push(JSON.parse(buf.slice(0, i)));
        buf = buf.slice(i + 1);
        this.waiters.forEach((w) => w());
      }
    });
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.done = new Promise((resolve) => {
      this.child.on('exit', (code) => {
        children.delete(this.child);
        this.waiters.forEach((w) => w());
        resolve(code ?? -1);
      });
    });
  }

  /** One JSON line to the fixture's stdin. */
  send(msg: unknown): void {
    this.child.stdin!.write(JSON.stringify(msg) + '\n');
  }

  /** The first line for which pick() returns something, within timeoutMs. */
  async waitFor<T>(pick: (line: any) => T | undefined, timeoutMs = 10_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const l of this.lines) {
        const v = pick(l);
        if (v !== undefined) return v;
      }
      if (this.child.exitCode !== null) throw new Error(`fixture exited ${this.child.exitCode}: ${this.stderr}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`fixture timed out; stderr: ${this.stderr}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
      this.waiters = [];
    }
  }

  /** The last line printed, after a clean exit. */
  async result<T = any>(): Promise<T> {
    const code = await this.done;
    if (code !== 0) throw new Error(`fixture exited ${code}: ${this.stderr}`);
    return this.lines[this.lines.length - 1] as T;
  }
}
