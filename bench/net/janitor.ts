// Owns everything a benchmark run creates, and removes it on every way out:
// normal end, error, SIGINT/SIGTERM, process exit.
//
//   namespaces  weftbench-<id>-<role>          id: 4 hex digits
//   run dir     /tmp/weftbench/<id>/            owner.json (our pid + start time),
//                                               pids/<pid>.json, registry files, logs
//
// At start, runs whose owner is gone are reaped: the processes recorded in their
// pid files (only if pid and start time still match), then any process inside
// their namespaces, then the namespaces. Runs whose owner is alive are left alone.
// Nothing is ever killed by name.
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { alive, procStat } from './proc.js';
import { NS_PREFIX, run, sleepSync } from './sh.js';

export const RUNS_DIR = '/tmp/weftbench';
const NS_RE = /^weftbench-([0-9a-f]{4})-[a-z0-9]+$/;

interface PidRecord {
  pid: number;
  starttime: number;
  what: string;
}

function readJson<T>(path: string): T | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return null;
  }
}

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

function listNamespaces(): string[] {
  return run('ip', ['netns', 'list'], { allowFail: true })
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.startsWith(NS_PREFIX));
}

/** Kills every process inside one of our namespaces (by pid), then deletes it. */
function destroyNamespace(ns: string): void {
  if (!NS_RE.test(ns)) return;
  for (let i = 0; i < 5; i++) {
    let pids: number[] = [];
    try {
      pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
        .split(/\s+/)
        .filter((s) => /^\d+$/.test(s))
        .map(Number)
        .filter((p) => p !== process.pid);
    } catch {
      break;
    }
    if (pids.filter((p) => alive(p)).length === 0) break;
    pids.forEach((p) => kill(p, 'SIGKILL'));
    sleepSync(100);
  }
  run('ip', ['netns', 'del', ns], { allowFail: true });
}

/** Kills what pid-file-recorded processes of dead runs still live, and deletes their namespaces. */
function reapStale(log: (m: string) => void): void {
  mkdirSync(RUNS_DIR, { recursive: true });
  const live = new Set<string>();
  for (const id of readdirSync(RUNS_DIR)) {
    if (!/^[0-9a-f]{4}$/.test(id)) continue;
    const dir = join(RUNS_DIR, id);
    const owner = readJson<PidRecord>(join(dir, 'owner.json'));
    if (owner && alive(owner.pid, owner.starttime)) {
      live.add(id);
      log(`note: benchmark run ${id} (pid ${owner.pid}) is still running; leaving it alone, figures will be disturbed`);
      continue;
    }
    let pidFiles: string[] = [];
    try {
      pidFiles = readdirSync(join(dir, 'pids'));
    } catch {
      // no pids dir
    }
    for (const f of pidFiles) {
      const r = readJson<PidRecord>(join(dir, 'pids', f));
      if (r && alive(r.pid, r.starttime)) {
        log(`stale run ${id}: killing ${r.what} (pid ${r.pid})`);
        kill(r.pid, 'SIGKILL');
      }
    }
    // A failed run's dir is kept (marker file `kept`) for its logs; the next run only empties its pids.
    if (existsSync(join(dir, 'kept'))) rmSync(join(dir, 'pids'), { recursive: true, force: true });
    else rmSync(dir, { recursive: true, force: true });
  }
  for (const ns of listNamespaces()) {
    const m = NS_RE.exec(ns);
    if (!m || live.has(m[1]!)) continue;
    log(`stale namespace ${ns}: removing`);
    destroyNamespace(ns);
  }
}

export class Janitor {
  private readonly namespaces: string[] = [];
  private readonly procs = new Map<number, PidRecord>();
  private cleaned = false;

  private constructor(
    readonly id: string,
    readonly dir: string,
    private readonly log: (m: string) => void,
  ) {}

  static create(log: (m: string) => void): Janitor {
    reapStale(log);
    let id: string;
    do id = randomBytes(2).toString('hex');
    while (existsSync(join(RUNS_DIR, id)) || listNamespaces().some((n) => n.startsWith(`${NS_PREFIX}${id}-`)));
    const dir = join(RUNS_DIR, id);
    mkdirSync(join(dir, 'pids'), { recursive: true });
    const me = procStat(process.pid)!;
    writeFileSync(join(dir, 'owner.json'), JSON.stringify({ pid: process.pid, starttime: me.starttime, what: 'bench:net' }));
    const j = new Janitor(id, dir, log);
    j.installHandlers();
    return j;
  }

  /** Creates namespace weftbench-<id>-<role> (lo up) and remembers it. */
  addNamespace(role: string): string {
    const ns = `${NS_PREFIX}${this.id}-${role}`;
    if (!NS_RE.test(ns)) throw new Error(`bad namespace role ${role}`);
    run('ip', ['netns', 'add', ns]);
    this.namespaces.push(ns);
    run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    return ns;
  }

  /** Records a process we started (pid file), so a later run can reap it if we die. */
  track(pid: number, what: string): void {
    const s = procStat(pid);
    const r: PidRecord = { pid, starttime: s?.starttime ?? -1, what };
    this.procs.set(pid, r);
    writeFileSync(join(this.dir, 'pids', `${pid}.json`), JSON.stringify(r));
  }

  untrack(pid: number): void {
    this.procs.delete(pid);
    rmSync(join(this.dir, 'pids', `${pid}.json`), { force: true });
  }

  /** SIGTERM, then SIGKILL after graceMs; synchronous. */
  stopSync(pids: number[], graceMs: number): void {
    const mine = pids.filter((p) => {
      const r = this.procs.get(p);
      return r && alive(p, r.starttime);
    });
    mine.forEach((p) => kill(p, 'SIGTERM'));
    const deadline = Date.now() + graceMs;
    while (mine.some((p) => alive(p)) && Date.now() < deadline) sleepSync(50);
    mine.filter((p) => alive(p)).forEach((p) => kill(p, 'SIGKILL'));
  }

  /** Everything, synchronously: processes, namespaces, run dir. Idempotent. */
  cleanupSync(keepDir = false): void {
    if (this.cleaned) return;
    this.cleaned = true;
    this.stopSync([...this.procs.keys()], 4000);
    for (const ns of [...this.namespaces].reverse()) destroyNamespace(ns);
    this.namespaces.length = 0;
    if (keepDir) {
      writeFileSync(join(this.dir, 'kept'), '');
      this.log(`logs kept in ${this.dir}`);
    } else {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }

  private installHandlers(): void {
    const onSignal = (sig: NodeJS.Signals, code: number) => () => {
      this.log(`\n${sig}: cleaning up`);
      this.cleanupSync();
      process.exit(code);
    };
    process.once('SIGINT', onSignal('SIGINT', 130));
    process.once('SIGTERM', onSignal('SIGTERM', 143));
    process.once('SIGHUP', onSignal('SIGHUP', 129));
    process.once('exit', () => this.cleanupSync());
  }
}
