// `weft lab demo`: up (3 nodes, vxlan), a ping across every pair of pods, a short
// throughput check, one traced packet, then down: always, also on failure or
// Ctrl-C.
import { spawn } from 'node:child_process';
import { Interrupted, LabError, seconds, WEFT_BIN } from './common.js';
import { childEnv, nsRun, onPath, run } from './exec.js';
import { labDown } from './down.js';
import type { LabPod, LabState } from './state.js';
import { assertNoLab, labUp } from './up.js';

export interface DemoOptions {
  say: (line: string) => void;
  signal: AbortSignal;
}

const ip = (p: LabPod): string => p.address.split('/')[0]!;

export async function labDemo(opts: DemoOptions): Promise<boolean> {
  const { say, signal } = opts;
  const t0 = Date.now();
  // Refusals first, before anything is made or said.
  if (!onPath('ping')) throw new LabError('weft lab demo needs ping: apt-get install -y iputils-ping');
  assertNoLab();
  say('weft lab demo: a 3-node vxlan cluster in network namespaces, pings, throughput, one traced packet, then down');
  say('');
  let ok = true;
  let upDone = false;
  try {
    const state = await labUp({ nodes: 3, backend: 'vxlan', etcd: false, say, signal });
    upDone = true;
    say('');
    ok = (await pings(state, opts)) && ok;
    say('');
    ok = (await throughput(state, opts)) && ok;
    say('');
    ok = (await trace(state, opts)) && ok;
    say('');
  } catch (e) {
    ok = false;
    if (e instanceof Interrupted) say('demo interrupted');
    else say(`demo failed: ${(e as Error).message}`);
    // `up` already removed what it made when it failed.
  } finally {
    // Only a lab this demo made: a refused `up` (a lab exists) leaves that lab alone.
    if (upDone) {
      say('weft lab down:');
      try {
        await labDown({ say: (l) => say(`  ${l}`) });
      } catch (e) {
        ok = false;
        say(`  ${(e as Error).message}`);
      }
    }
  }
  say(`demo ${signal.aborted ? 'interrupted' : ok ? 'done' : 'FAILED'} in ${seconds(Date.now() - t0)}`);
  return ok;
}

async function pings(state: LabState, { say, signal }: DemoOptions): Promise<boolean> {
  say('ping between every pair of pods (through weft0, VXLAN over the underlay bridge):');
  let ok = true;
  for (let i = 0; i < state.pods.length; i++) {
    for (let j = i + 1; j < state.pods.length; j++) {
      const a = state.pods[i]!;
      const b = state.pods[j]!;
      const r = await nsRun(a.ns, 'ping', ['-n', '-q', '-c', '3', '-i', '0.2', '-W', '2', ip(b)], { allowFail: true, timeoutMs: 15_000, signal });
      const m = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(r.stdout);
      const rtt = /= [\d.]+\/([\d.]+)\//.exec(r.stdout);
      const got = m ? `${m[2]}/${m[1]} answered` : 'no answer';
      const good = r.code === 0 && m !== null && m[1] === m[2];
      ok &&= good;
      say(`  ${good ? 'ok  ' : 'FAIL'} ${a.name} ${ip(a)} → ${b.name} ${ip(b)}: ${got}${rtt ? `, avg rtt ${rtt[1]} ms` : ''}`);
    }
  }
  return ok;
}

async function throughput(state: LabState, opts: DemoOptions): Promise<boolean> {
  const [a, b] = [state.pods[0]!, state.pods[1]!];
  try {
    if (onPath('iperf3')) {
      opts.say(`throughput: iperf3 for 2 s, ${a.name} → ${b.name} (TCP, one stream):`);
      const bps = await iperf(a, b, opts.signal);
      opts.say(`  ${(bps / 1e6).toFixed(0)} Mbit/s`);
    } else {
      opts.say(`throughput: iperf3 is not installed (apt-get install -y iperf3): 20 MB over TCP, ${a.name} → ${b.name}, timed in node:`);
      const { bytes, ms } = await transfer(a, b, 20 * 1024 * 1024, opts.signal);
      opts.say(`  ${(bytes / 1048576).toFixed(0)} MB in ${(ms / 1000).toFixed(2)} s = ${((bytes * 8) / (ms / 1000) / 1e6).toFixed(0)} Mbit/s`);
    }
    return true;
  } catch (e) {
    if (e instanceof Interrupted) throw e;
    opts.say(`  FAIL ${(e as Error).message}`);
    return false;
  }
}

/** A long-lived command in a lab namespace, its output kept; killed by stop(). */
function background(ns: string, cmd: string, args: string[]) {
  const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv() });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  child.on('error', (e) => (out += `\n${e.message}`));
  const exited = new Promise<void>((r) => child.once('close', () => r()));
  let gone = false;
  void exited.then(() => (gone = true));
  return {
    output: () => out,
    gone: () => gone,
    exited,
    async stop(): Promise<void> {
      if (!gone) child.kill('SIGKILL');
      await exited;
    },
  };
}

async function waitFor(what: string, test: () => boolean, failed: () => boolean, signal: AbortSignal, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (signal.aborted) throw new Interrupted();
    if (failed() || Date.now() > deadline) throw new LabError(`${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function iperf(from: LabPod, to: LabPod, signal: AbortSignal): Promise<number> {
  const server = background(to.ns, 'iperf3', ['-s', '-1', '--forceflush', '-B', ip(to), '-p', '5201']);
  try {
    await waitFor('iperf3 server did not start', () => /listening/i.test(server.output()), server.gone, signal);
    const r = await nsRun(from.ns, 'iperf3', ['-c', ip(to), '-p', '5201', '-t', '2', '-J'], { allowFail: true, timeoutMs: 30_000, signal });
    let doc: { error?: string; end?: { sum_received?: { bits_per_second?: number } } };
    try {
      doc = JSON.parse(r.stdout) as typeof doc;
    } catch {
      throw new LabError(`iperf3 printed no result (exit ${r.code}): ${(r.stdout + r.stderr).trim().slice(-300)}`);
    }
    if (doc.error) throw new LabError(`iperf3: ${doc.error}`);
    return doc.end?.sum_received?.bits_per_second ?? 0;
  } finally {
    await server.stop();
  }
}

const SINK = `
const net = require('node:net');
const [host, port] = process.argv.slice(1);
let bytes = 0, t0 = 0;
const srv = net.createServer((s) => {
  t0 = Date.now();
  s.on('data', (d) => { bytes += d.length; });
  s.on('end', () => { console.log(JSON.stringify({ bytes, ms: Date.now() - t0 })); srv.close(); });
});
srv.listen(Number(port), host, () => console.log('listening'));
`;

const SOURCE = `
const net = require('node:net');
const [host, port, total] = process.argv.slice(1);
const chunk = Buffer.alloc(65536, 120);
let left = Number(total);
const s = net.connect(Number(port), host, () => {
  const pump = () => {
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      left -= n;
      if (!s.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return s.once('drain', pump);
    }
    s.end();
  };
  pump();
});
s.on('error', (e) => { console.error(e.message); process.exit(1); });
`;

async function transfer(from: LabPod, to: LabPod, total: number, signal: AbortSignal): Promise<{ bytes: number; ms: number }> {
  const sink = background(to.ns, process.execPath, ['-e', SINK, ip(to), '5201']);
  try {
    await waitFor('the TCP sink did not start', () => sink.output().includes('listening'), sink.gone, signal);
    await nsRun(from.ns, process.execPath, ['-e', SOURCE, ip(to), '5201', String(total)], { timeoutMs: 60_000, signal });
    await waitFor('the TCP sink printed no result', () => /"bytes"/.test(sink.output()), () => sink.gone() && !/"bytes"/.test(sink.output()), signal);
    const line = sink.output().split('\n').find((l) => l.includes('"bytes"'))!;
    const r = JSON.parse(line) as { bytes: number; ms: number };
    if (r.bytes !== total) throw new LabError(`the sink got ${r.bytes} of ${total} bytes`);
    return { bytes: r.bytes, ms: Math.max(r.ms, 1) };
  } finally {
    await sink.stop();
  }
}

/** Does this weft have `weft trace` yet? (asked in the root namespace: --help runs nothing) */
async function haveTrace(): Promise<boolean> {
  const r = await run(process.execPath, [WEFT_BIN, '--help'], { allowFail: true, timeoutMs: 15_000 });
  return /^\s+trace\s/m.test(r.stdout);
}

async function trace(state: LabState, opts: DemoOptions): Promise<boolean> {
  const [a, b] = [state.pods[0]!, state.pods[1]!];
  const node = state.nodes.find((n) => n.ns === a.node)!;
  const shown = `ip netns exec ${node.ns} weft trace ${ip(a)} ${ip(b)}`;
  opts.say(`one packet traced, ${a.name} → ${b.name}, as ${node.name} sees it: ${shown}`);
  if (!(await haveTrace())) {
    opts.say('  (this weft has no `weft trace` command yet: that is what would run)');
    return true;
  }
  const r = await nsRun(node.ns, process.execPath, [WEFT_BIN, 'trace', ip(a), ip(b)], { allowFail: true, timeoutMs: 20_000, signal: opts.signal });
  for (const line of (r.stdout + r.stderr).trimEnd().split('\n')) opts.say(`  ${line}`);
  if (r.code !== 0) opts.say(`  FAIL weft trace exited ${r.code}`);
  return r.code === 0;
}
