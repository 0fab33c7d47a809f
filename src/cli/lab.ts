// `weft lab`: a virtual cluster on one machine, made of network namespaces only.
//   weft lab up [--nodes N] [--backend vxlan|ipip|udp|host-gw] [--etcd]
//   weft lab status [--json]
//   weft lab exec <pod1|node1|ul|weftlab-…> -- <command…>
//   weft lab down
//   weft lab demo
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { BACKENDS, type Backend, LAB_DIR, LabError, MAX_NODES, MIN_NODES, resolveTarget, WEFT_BIN } from '../lab/common.js';
import { labDemo } from '../lab/demo.js';
import { labDown } from '../lab/down.js';
import { childEnv, labNamespaces } from '../lab/exec.js';
import { labStatus } from '../lab/status.js';
import { formatLabReport } from './lab-report.js';
import { labUp } from '../lab/up.js';

const USAGE = `usage: weft lab <command>

A virtual cluster on this machine, made of network namespaces only: an underlay
bridge (198.51.100.0/24), N nodes each running weft, one pod per node
(10.244.0.0/16). Needs root. Nothing is added to this machine's own network.

  up [--nodes N] [--backend vxlan|ipip|udp|host-gw] [--etcd]
        build the lab (default 3 nodes, vxlan, the file registry; --etcd: a real
        etcd in the underlay namespace on 198.51.100.2:2379)
  status [--json]
        nodes (namespace, underlay address, subnet, weft pid, ready, peers, drops) and pods
  exec <pod1|node1|ul> -- <command...>
        run a command inside a lab namespace, e.g. weft lab exec pod1 -- ping 10.244.7.2
        ("weft" as the command runs this weft: weft lab exec node1 -- weft status)
  down
        stop every weft and etcd of the lab, delete its namespaces and ${LAB_DIR}
  demo
        up (3 nodes, vxlan), ping every pair of pods, a throughput check, one
        traced packet, then down`;

function say(line: string): void {
  console.log(line);
}

function fail(msg: string, code = 1): number {
  console.error(`weft lab: ${msg}`);
  return code;
}

/** Said as is: "weft lab needs root (…)" reads well without the "weft lab:" prefix. */
function refuse(msg: string): number {
  console.error(msg);
  return 1;
}

function needRoot(): string | null {
  if (process.platform !== 'linux') return 'weft lab needs Linux (network namespaces)';
  if (process.getuid?.() !== 0) return 'weft lab needs root (network namespaces): run it with sudo';
  return null;
}

/**
 * SIGINT/SIGTERM abort the work; the work then removes what it made. A second
 * signal only says so: stopping half-way through the clean-up would leave a mess.
 */
function abortOnSignals(): { signal: AbortSignal; dispose(): void } {
  const ctl = new AbortController();
  const on = (sig: NodeJS.Signals): void => {
    if (!ctl.signal.aborted) {
      console.error(`weft lab: ${sig}: stopping and cleaning up (this takes a few seconds)`);
      ctl.abort();
    } else console.error(`weft lab: ${sig}: still cleaning up, please wait`);
  };
  const sigs: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  sigs.forEach((s) => process.on(s, on));
  return { signal: ctl.signal, dispose: () => sigs.forEach((s) => process.off(s, on)) };
}

async function up(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        nodes: { type: 'string', default: '3' },
        backend: { type: 'string', default: 'vxlan' },
        etcd: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (e) {
    return fail(`up: ${(e as Error).message.replace(/\. To specify.*$/s, '')}`, 2);
  }
  if (values.help) {
    say('usage: weft lab up [--nodes N (2-8, default 3)] [--backend vxlan|ipip|udp|host-gw (default vxlan)] [--etcd]');
    return 0;
  }
  const nodes = Number(values.nodes);
  if (!/^\d+$/.test(values.nodes!) || nodes < MIN_NODES || nodes > MAX_NODES) {
    return fail(`--nodes is "${values.nodes}": give a whole number from ${MIN_NODES} to ${MAX_NODES}`, 2);
  }
  if (!(BACKENDS as readonly string[]).includes(values.backend!)) {
    return fail(`--backend is "${values.backend}": use one of ${BACKENDS.join(', ')}`, 2);
  }
  const root = needRoot();
  if (root) return refuse(root);
  const { signal, dispose } = abortOnSignals();
  try {
    const state = await labUp({ nodes, backend: values.backend as Backend, etcd: values.etcd!, say, signal });
    const [a, b] = [state.pods[0], state.pods[1]];
    say('');
    say('next:');
    say('  weft lab status');
    if (a && b) say(`  weft lab exec ${a.name} -- ping -c 3 ${b.address.split('/')[0]}`);
    say(`  weft lab exec ${state.nodes[0]?.name ?? 'node1'} -- weft status`);
    say('  weft lab down');
    return 0;
  } catch (e) {
    return signal.aborted ? 130 : fail((e as Error).message);
  } finally {
    dispose();
  }
}

async function status(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: { json: { type: 'boolean', default: false }, help: { type: 'boolean', default: false } } }));
  } catch (e) {
    return fail(`status: ${(e as Error).message.replace(/\. To specify.*$/s, '')}`, 2);
  }
  if (values.help) {
    say('usage: weft lab status [--json]\n\nExit status 0 when every node runs, is ready and sees every other; 1 otherwise.');
    return 0;
  }
  const root = needRoot();
  if (root) return refuse(root);
  const r = await labStatus();
  if (values.json) {
    console.log(JSON.stringify(r.kind === 'lab' ? { lab: true, ...r.report } : { lab: false, ...(r.kind === 'broken' ? { problem: r.why } : {}) }, null, 2));
    return r.kind === 'lab' && r.report.healthy ? 0 : 1;
  }
  if (r.kind === 'none') return fail('no lab is running: start one with weft lab up');
  if (r.kind === 'broken') return fail(`${r.why}: remove it with weft lab down`);
  say(formatLabReport(r.report));
  return r.report.healthy ? 0 : 1;
}

async function exec(argv: string[]): Promise<number> {
  const [target, ...rest] = argv;
  if (target === undefined || target === '--help' || target === '-h') {
    say('usage: weft lab exec <pod1|node1|ul|weftlab-…> -- <command...>');
    return target === undefined ? 2 : 0;
  }
  const command = rest[0] === '--' ? rest.slice(1) : rest;
  if (command.length === 0) return fail(`exec: give a command, e.g. weft lab exec ${target} -- ip addr`, 2);
  const root = needRoot();
  if (root) return refuse(root);
  let ns: string;
  try {
    ns = resolveTarget(target);
  } catch (e) {
    return fail((e as Error).message, 2);
  }
  if (!labNamespaces().includes(ns)) {
    return fail(`there is no ${ns}${existsSync(LAB_DIR) ? ' in this lab (see weft lab status)' : ': start a lab with weft lab up'}`);
  }
  // "weft" is this weft, even when it is not on PATH.
  const argvIn = command[0] === 'weft' ? [process.execPath, WEFT_BIN, ...command.slice(1)] : command;
  const child = spawn('ip', ['netns', 'exec', ns, ...argvIn], { stdio: 'inherit', env: command[0] === 'weft' ? childEnv() : process.env });
  // The terminal sends Ctrl-C to the command too; we wait for it to finish.
  const forward = (sig: NodeJS.Signals): void => {
    if (sig !== 'SIGINT') child.kill(sig);
  };
  const sigs: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  sigs.forEach((s) => process.on(s, forward));
  try {
    return await new Promise<number>((resolve) => {
      child.once('error', (e) => {
        console.error(`weft lab exec: ${e.message}`);
        resolve(127);
      });
      child.once('close', (code, sig) => resolve(code ?? 128 + (sig === 'SIGKILL' ? 9 : sig === 'SIGTERM' ? 15 : sig === 'SIGINT' ? 2 : 1)));
    });
  } finally {
    sigs.forEach((s) => process.off(s, forward));
  }
}

async function down(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    say(`usage: weft lab down\n\nStops every weft and etcd of the lab, deletes every weftlab-* namespace and ${LAB_DIR}.\nAlso cleans up after an \`up\` that crashed or a missing state file.`);
    return 0;
  }
  if (argv.length > 0) return fail(`down takes no arguments (got ${argv.join(' ')})`, 2);
  const root = needRoot();
  if (root) return refuse(root);
  // Not interruptible: a half-done clean-up is worse than a few more seconds.
  const ignore = (): void => console.error('weft lab: still cleaning up, please wait');
  const sigs: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  sigs.forEach((s) => process.on(s, ignore));
  try {
    await labDown({ say });
    return 0;
  } catch (e) {
    return fail((e as Error).message);
  } finally {
    sigs.forEach((s) => process.off(s, ignore));
  }
}

async function demo(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    say('usage: weft lab demo\n\nBuilds a 3-node vxlan lab, pings every pair of pods, measures throughput for 2 s,\ntraces one packet, and removes the lab again (also on failure or Ctrl-C).');
    return 0;
  }
  if (argv.length > 0) return fail(`demo takes no arguments (got ${argv.join(' ')})`, 2);
  const root = needRoot();
  if (root) return refuse(root);
  const { signal, dispose } = abortOnSignals();
  try {
    const ok = await labDemo({ say, signal });
    return signal.aborted ? 130 : ok ? 0 : 1;
  } finally {
    dispose();
  }
}

export async function labCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    switch (sub) {
      case 'up':
        return await up(rest);
      case 'status':
        return await status(rest);
      case 'exec':
        return await exec(rest);
      case 'down':
        return await down(rest);
      case 'demo':
        return await demo(rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        say(USAGE);
        return sub === undefined ? 2 : 0;
      default:
        return fail(`unknown command "${sub}": use up, status, exec, down or demo (weft lab --help)`, 2);
    }
  } catch (e) {
    return fail(e instanceof LabError ? e.message : `${(e as Error).message}`);
  }
}
