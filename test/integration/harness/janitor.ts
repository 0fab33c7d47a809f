// Owns everything an integration run creates, and removes it on every way out.
//
// Naming (SAFETY rules of the integration suite):
//   namespaces  wefttest-<id>-<role>   id: 6 chars [a-z0-9], role: [a-z0-9]+ with a
//                                      non-hex letter (so test/sys/netns.ts's
//                                      `wefttest-<pid36>-<hex>` cleanup never matches ours)
//   run dir     <tmpdir>/weft-it-<id>/ holding `owner` (our pid), `namespaces`,
//                                      `pids` (one per line), logs and node state
//
// Removal paths:
//   - Janitor.cleanup() from afterAll;
//   - process 'exit', SIGINT, SIGTERM handlers (synchronous: kill, ip netns del);
//   - a detached reaper process (reaper.mjs) that does the same if this process
//     dies without running handlers (SIGKILL, crash of the worker);
//   - at start, reapStale(): runs whose owner pid is gone are cleaned up.
// Processes are only ever killed by pid: our children, pids recorded in a run dir
// whose command line still names that run dir, or processes inside our namespaces.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { alive } from '../../../src/lab/exec.js';

export const NS_PREFIX = 'wefttest-';
const RUN_DIR_PREFIX = 'weft-it-';
const ID_RE = /^[a-z0-9]{6}$/;
const NS_RE = /^wefttest-([a-z0-9]{6})-([a-z0-9]*[g-z][a-z0-9]*)$/;
const REAPER = fileURLToPath(new URL('./reaper.mjs', import.meta.url));

function newId(): string {
  // starts with a letter, 6 chars
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const b = randomBytes(6);
  return Array.from(b, (x, i) => alphabet[i === 0 ? x % 26 : x % 36]).join('');
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

function killPid(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
}

function nsPids(ns: string): number[] {
  try {
    return execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split(/\s+/)
      .filter((s) => /^\d+$/.test(s))
      .map(Number);
  } catch {
    return [];
  }
}

/** Kills every process inside the namespace (ours by construction), then deletes it. */
function destroyNamespace(ns: string): void {
  for (let i = 0; i < 3; i++) {
    const pids = nsPids(ns);
    if (pids.length === 0) break;
    pids.forEach(killPid);
    // give the kernel a moment to reap them
    execFileSync('sleep', ['0.1']);
  }
  try {
    execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  } catch {
    // already gone
  }
}

export function listNamespaces(): string[] {
  try {
    return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.split(' ')[0] ?? '')
      .filter((n) => n !== '');
  } catch {
    return [];
  }
}

/** Namespaces and processes of integration runs whose owner died; removes their run dirs when old. */
export function reapStale(log: (msg: string) => void = console.warn): void {
  const owners = new Map<string, number | null>();
  const ownerOf = (id: string): number | null => {
    if (!owners.has(id)) {
      let pid: number | null = null;
      try {
        pid = Number(readFileSync(join(tmpdir(), RUN_DIR_PREFIX + id, 'owner'), 'utf8').trim()) || null;
      } catch {
        pid = null;
      }
      owners.set(id, pid);
    }
    return owners.get(id)!;
  };
  const ownerAlive = (id: string): boolean => {
    const pid = ownerOf(id);
    return pid !== null && alive(pid) && cmdline(pid).includes('node');
  };
  for (const ns of listNamespaces()) {
    const m = NS_RE.exec(ns);
    if (!m || ownerAlive(m[1]!)) continue;
    log(`integration: removing stale namespace ${ns} (its run is gone)`);
    destroyNamespace(ns);
  }
  let entries: string[] = [];
  try {
    entries = readdirSync(tmpdir());
  } catch {
    return;
  }
  for (const e of entries) {
    if (!e.startsWith(RUN_DIR_PREFIX)) continue;
    const id = e.slice(RUN_DIR_PREFIX.length);
    if (!ID_RE.test(id) || ownerAlive(id)) continue;
    const dir = join(tmpdir(), e);
    for (const pid of readPids(dir)) {
      // Only a process whose command line names this run's directory is one we started.
      if (alive(pid) && cmdline(pid).includes(dir)) {
        log(`integration: killing stale process ${pid} (${cmdline(pid).slice(0, 120)})`);
        killPid(pid);
      }
    }
    for (const ns of readLines(join(dir, 'namespaces'))) if (listNamespaces().includes(ns)) destroyNamespace(ns);
    // Keep a crashed run's logs for a day; its bulk (random file, etcd data, captures) goes now.
    try {
      if (Date.now() - statSync(dir).mtimeMs > 24 * 3600_000) {
        rmSync(dir, { recursive: true, force: true });
      } else {
        for (const f of readdirSync(dir, { recursive: true }) as string[]) {
          if (/(^|\/)(random-\d+\.bin|etcd|[^/]*\.pcapng)$/.test(f)) rmSync(join(dir, f), { recursive: true, force: true });
        }
      }
    } catch {
      // ignore
    }
  }
}

function readLines(path: string): string[] {
  try {
    return readFileSync(path, 'utf8').split('\n').filter((l) => l !== '');
  } catch {
    return [];
  }
}

function readPids(dir: string): number[] {
  return readLines(join(dir, 'pids')).map(Number).filter((n) => Number.isInteger(n) && n > 1);
}

export class Janitor {
  readonly id = newId();
  readonly dir = join(tmpdir(), RUN_DIR_PREFIX + this.id);
  private readonly namespaces: string[] = [];
  private readonly children = new Set<ChildProcess>();
  private reaper: ChildProcess | null = null;
  private cleaned = false;
  private readonly onExit = (): void => this.cleanupSync();
  private readonly onSignal = (sig: NodeJS.Signals): void => {
    this.cleanupSync();
    process.kill(process.pid, sig);
  };

  constructor() {
    reapStale();
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(join(this.dir, 'owner'), `${process.pid}\n`);
    process.once('exit', this.onExit);
    process.once('SIGINT', this.onSignal);
    process.once('SIGTERM', this.onSignal);
    this.reaper = spawn(process.execPath, [REAPER, String(process.pid), this.dir], { detached: true, stdio: 'ignore' });
    this.reaper.unref();
  }

  /** wefttest-<id>-<role>; role must hold a letter g-z. */
  nsName(role: string): string {
    if (!/^[a-z0-9]*[g-z][a-z0-9]*$/.test(role)) throw new Error(`namespace role "${role}" must be [a-z0-9] with a letter g-z`);
    return `${NS_PREFIX}${this.id}-${role}`;
  }

  /** Creates a namespace with lo up. */
  addNamespace(role: string): string {
    const ns = this.nsName(role);
    appendFileSync(join(this.dir, 'namespaces'), `${ns}\n`); // recorded before it exists: never lost
    this.namespaces.push(ns);
    execFileSync('ip', ['netns', 'add', ns], { stdio: ['ignore', 'ignore', 'pipe'] });
    execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    return ns;
  }

  /** Deletes one of our namespaces (and whatever runs in it) now. */
  removeNamespace(ns: string): void {
    const i = this.namespaces.indexOf(ns);
    if (i < 0) throw new Error(`${ns} is not ours`);
    destroyNamespace(ns);
    this.namespaces.splice(i, 1);
  }

  track(child: ChildProcess): void {
    if (child.pid === undefined) return;
    this.children.add(child);
    appendFileSync(join(this.dir, 'pids'), `${child.pid}\n`);
    child.once('exit', () => this.children.delete(child));
  }

  get liveChildren(): number {
    return this.children.size;
  }

  /** Kills children, deletes namespaces, stops the reaper. Idempotent. Keeps the run dir if keepDir. */
  cleanupSync(keepDir = false): void {
    if (this.cleaned) return;
    this.cleaned = true;
    for (const c of this.children) if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) killPid(c.pid);
    this.children.clear();
    for (const ns of [...this.namespaces].reverse()) destroyNamespace(ns);
    this.namespaces.length = 0;
    if (this.reaper?.pid !== undefined) killPid(this.reaper.pid);
    process.removeListener('exit', this.onExit);
    process.removeListener('SIGINT', this.onSignal);
    process.removeListener('SIGTERM', this.onSignal);
    if (!keepDir) rmSync(this.dir, { recursive: true, force: true });
  }

  /** Our namespaces that still exist (for the "nothing left" check). */
  leftovers(): string[] {
    const all = listNamespaces();
    return all.filter((n) => n.startsWith(`${NS_PREFIX}${this.id}-`));
  }
}
