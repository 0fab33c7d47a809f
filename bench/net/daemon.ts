// A long-running process inside one of our namespaces (weft, quicktun, iperf3 -s),
// logged to a file and recorded by the janitor until it has exited.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import type { Janitor } from './janitor.js';
import { procStat } from './proc.js';
import { NS_PREFIX } from './sh.js';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class Daemon {
  private exit: Exit | null = null;
  readonly exited: Promise<Exit>;

  private constructor(
    readonly what: string,
    readonly child: ChildProcess,
    readonly pid: number,
    readonly logFile: string,
  ) {
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
  }

  static start(j: Janitor, ns: string, what: string, cmd: string, args: string[], logFile: string, env: NodeJS.ProcessEnv = {}): Daemon {
    if (!ns.startsWith(NS_PREFIX)) throw new Error(`refusing to start ${what} outside our namespaces`);
    const fd = openSync(logFile, 'a');
    // `ip netns exec` execs the command: the child's pid is the daemon's own.
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', fd, fd], env: { ...process.env, ...env } });
    closeSync(fd);
    if (child.pid === undefined) throw new Error(`could not start ${what}`);
    j.track(child.pid, what);
    const d = new Daemon(what, child, child.pid, logFile);
    void d.exited.then(() => j.untrack(d.pid));
    return d;
  }

  get running(): boolean {
    return this.exit === null;
  }

  /** utime + stime of all its threads so far, in seconds. */
  cpuSeconds(): number {
    return procStat(this.pid)?.cpuSeconds ?? 0;
  }

  log(maxChars = 3000): string {
    try {
      return readFileSync(this.logFile, 'utf8').slice(-maxChars);
    } catch {
      return '';
    }
  }

  /** Throws, with the tail of its log, if it has exited. */
  assertRunning(): void {
    if (this.exit) throw new Error(`${this.what} exited (${this.exit.code ?? this.exit.signal}):\n${this.log()}`);
  }

  /** SIGTERM; SIGKILL after graceMs. Resolves with how it exited. */
  async stop(graceMs = 5000): Promise<Exit & { killed: boolean }> {
    if (this.exit) return { ...this.exit, killed: false };
    this.child.kill('SIGTERM');
    let killed = false;
    const t = setTimeout(() => {
      killed = true;
      this.child.kill('SIGKILL');
    }, graceMs);
    const e = await this.exited;
    clearTimeout(t);
    return { ...e, killed };
  }
}
