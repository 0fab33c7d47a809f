// `weft lab down`: stops every weft and etcd of the lab (SIGTERM, SIGKILL after a
// grace period), deletes every weftlab-* namespace and removes /run/weft-lab.
// Works from the state file when there is one, and without it from what is
// there: the weftlab-* namespaces, the processes inside them (`ip netns pids`),
// and processes whose command line names /run/weft-lab. A pid is signalled only
// while its command line is still the one that showed it to be ours.
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { LAB_DIR, LabError, NS_PREFIX, ns as names, sleep } from './common.js';
import { alive, cmdline, findProcesses, labNamespaces, nsPids, terminate, type Victim } from './exec.js';
import { readState, type LabState } from './state.js';
import { isLabEtcd, isLabWeft } from './weft.js';

export interface DownOptions {
  say: (line: string) => void;
  /** SIGTERM → SIGKILL delay. Default 5 s. */
  graceMs?: number;
}

export interface DownReport {
  /** Was there anything to remove? */
  found: boolean;
  namespaces: string[];
  stopped: number;
  killed: number;
}

/** The command line as it is now: the victim is ours while it stays the same. */
function byCmdline(pid: number, what: string): Victim | null {
  const seen = cmdline(pid);
  if (seen === '' || !alive(pid)) return null;
  return { pid, what, isOurs: () => cmdline(pid) === seen };
}

/** `weft lab up`/`demo` still at work in another process: let it clean up after itself first. */
async function stopBuilder(state: LabState, say: (l: string) => void): Promise<boolean> {
  const pid = state.upPid;
  if (pid === process.pid || !alive(pid) || !/\blab(\.mjs)? (up|demo)\b/.test(cmdline(pid))) return false;
  say(`weft lab (pid ${pid}) is still ${state.phase === 'building' ? 'building the lab' : 'running'}: stopping it (it cleans up after itself)`);
  const v = byCmdline(pid, `weft lab (pid ${pid})`);
  if (v) await terminate([v], 20_000);
  return true;
}

function order(namespaces: string[]): string[] {
  const rank = (n: string): number => (n.startsWith(`${NS_PREFIX}pod`) ? 0 : n === names.underlay ? 2 : 1);
  return [...namespaces].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b, 'en', { numeric: true }));
}

export async function labDown(opts: DownOptions): Promise<DownReport> {
  const say = opts.say;
  const graceMs = opts.graceMs ?? 5000;
  let { state, problem } = readState();
  if (problem) say(`${problem}: cleaning up by namespace names`);
  let stoppedBuilder = false;
  if (state) {
    stoppedBuilder = await stopBuilder(state, say);
    ({ state } = readState()); // it may have removed everything itself
  }

  const existing = new Set(labNamespaces());
  const namespaces = order([...new Set([...(state?.namespaces ?? []).filter((n) => existing.has(n)), ...existing])]);
  const victims = new Map<number, Victim>();
  const etcdVictims = new Map<number, Victim>();
  const add = (into: Map<number, Victim>, v: Victim | null): void => {
    if (v && !victims.has(v.pid) && !etcdVictims.has(v.pid)) into.set(v.pid, v);
  };

  // etcd first into its own wave: weft nodes stop while their registry still answers.
  if (state?.registry.kind === 'etcd' && state.registry.pid !== null && isLabEtcd(state.registry.pid)) {
    add(etcdVictims, byCmdline(state.registry.pid, `etcd (pid ${state.registry.pid})`));
  }
  for (const pid of findProcesses((c) => c.includes('etcd') && c.includes(`--data-dir ${LAB_DIR}/`))) add(etcdVictims, byCmdline(pid, `etcd (pid ${pid})`));
  for (const n of state?.nodes ?? []) {
    if (n.pid !== null && isLabWeft(n.pid)) add(victims, byCmdline(n.pid, `weft on ${n.name} (pid ${n.pid})`));
  }
  for (const pid of findProcesses((c) => c.includes(`${LAB_DIR}/`) && / run( |$)/.test(c) && c.includes('weft'))) {
    add(victims, byCmdline(pid, `weft (pid ${pid})`));
  }
  for (const n of namespaces) {
    for (const pid of nsPids(n)) {
      const cmd = cmdline(pid);
      const what = `${cmd.split(' ')[0]?.split('/').pop() ?? 'process'} in ${n} (pid ${pid})`;
      add(n === names.underlay ? etcdVictims : victims, byCmdline(pid, what));
    }
  }

  const found = state !== null || namespaces.length > 0 || victims.size > 0 || etcdVictims.size > 0 || existsSync(LAB_DIR);
  if (!found) {
    say(stoppedBuilder ? 'it removed the lab: nothing left to remove' : 'no weft lab here: nothing to remove');
    return { found, namespaces: [], stopped: 0, killed: 0 };
  }

  let stopped = 0;
  let killed = 0;
  for (const wave of [victims, etcdVictims]) {
    if (wave.size === 0) continue;
    const list = [...wave.values()];
    say(`stopping ${list.map((v) => v.what).join(', ')}`);
    const stubborn = await terminate(list, graceMs);
    stopped += list.length - stubborn.length;
    killed += stubborn.length;
    if (stubborn.length > 0) say(`  killed with SIGKILL after ${graceMs / 1000} s: ${stubborn.map((v) => v.what).join(', ')}`);
  }

  const deleted: string[] = [];
  for (const n of namespaces) {
    // Anything started in it meanwhile (a `weft lab exec` shell, …) goes first.
    for (let i = 0; i < 3; i++) {
      const late = nsPids(n).map((pid) => byCmdline(pid, `pid ${pid} in ${n}`)).filter((v): v is Victim => v !== null);
      if (late.length === 0) break;
      await terminate(late, 1000);
    }
    const r = spawnSync('ip', ['netns', 'del', n], { encoding: 'utf8' });
    if (r.status === 0 || !labNamespaces().includes(n)) deleted.push(n);
  }
  if (deleted.length > 0) say(`deleted namespaces ${deleted.join(' ')}`);

  // Give the kernel a moment to let go of the devices before checking.
  for (let i = 0; i < 10 && labNamespaces().length > 0; i++) await sleep(50);
  const left = labNamespaces();
  const stillRunning = [...victims.values(), ...etcdVictims.values()].filter((v) => alive(v.pid) && v.isOurs());
  if (left.length > 0 || stillRunning.length > 0) {
    const parts = [
      left.length > 0 ? `namespaces ${left.join(' ')}` : '',
      stillRunning.length > 0 ? `processes ${stillRunning.map((v) => v.what).join(', ')}` : '',
    ].filter((s) => s !== '');
    throw new LabError(`could not remove ${parts.join(' and ')}; ${LAB_DIR} kept: run weft lab down again`);
  }
  rmSync(LAB_DIR, { recursive: true, force: true });
  say(`removed ${LAB_DIR}`);
  return { found, namespaces: deleted, stopped, killed };
}
