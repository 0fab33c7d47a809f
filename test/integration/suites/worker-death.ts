// A data-plane worker that dies or hangs is replaced and counted, and the node
// keeps forwarding. With WEFT_FAULT_INJECTION=1 (set by the harness) SIGUSR2
// makes the daemon terminate worker 0 as a crash would, and SIGURG makes
// worker 0 spin forever (a busy loop: only worker.terminate() ends it).
import { expect, it } from 'vitest';
import type { Cluster } from '../harness/cluster.js';
import { TEST_TIMEOUT } from '../harness/context.js';
import { nsRun, sleep, waitFor } from '../harness/exec.js';
import { ping } from '../harness/traffic.js';
import { HEALTH, type WeftNode } from '../harness/weft-node.js';

function gauge(raw: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(raw);
  return m ? Number(m[1]) : NaN;
}

export function workerDeathTests(cluster: () => Cluster, backend: string): void {
  it('a worker that dies is replaced and counted; traffic keeps flowing', async () => {
    const c = cluster();
    const node = c.nodes[0]!;
    const [p1, p2, p3] = c.pods as [typeof c.pods[0], typeof c.pods[0], typeof c.pods[0]];
    const before = gauge((await node.metrics()).raw, 'weft_worker_restarts_total');
    node.signal('SIGUSR2');
    await waitFor(`${node.name} to count a worker restart`, async () => gauge((await node.metrics()).raw, 'weft_worker_restarts_total') === before + 1, 5000, 25);
    await waitFor(`${node.name} to run 2 workers again`, async () => gauge((await node.metrics()).raw, 'weft_workers') === 2, 5000, 25);
    console.log(`[${backend}] ${node.name}: worker 0 killed and replaced`);
    for (const [a, b] of [[p1, p2], [p2, p1], [p1, p3], [p3, p1]] as const) {
      const r = await ping(a.ns, b.ip, { count: 3 });
      expect(r.received, `${a.ip} → ${b.ip}:\n${r.output}`).toBe(3);
    }
    expect(node.running).toBe(true);
  }, TEST_TIMEOUT);

  it('a worker that hangs is terminated and replaced after the stall timeout, counted; /readyz false, then true; traffic keeps flowing', async () => {
    const c = cluster();
    // A node's receiving socket (SO_REUSEPORT) is picked per peer, the outer UDP ports
    // being 4789 both ways, and its TUN queue follows the replies (the kernel's tun
    // flow steering): so a flow's worker on node k is fixed by the peer node. Probe
    // every node's flows and hang worker 0 on a node whose peers land on different
    // workers, if there is one, so that some flows meet it and some do not.
    const probed: { k: number; flows: Flow[] }[] = [];
    for (let k = 0; k < c.nodes.length; k++) {
      const here = c.nodes[k]!;
      const others = c.pods.filter((_, j) => j !== k);
      let rows: WorkerRow[] = (await here.status()).workers!;
      const flows: Flow[] = [];
      for (const dst of others.flatMap((p) => [p.ip, p.gateway])) {
        const { flow, after } = await classify(here, c.pods[k]!.ns, dst, rows);
        flows.push(flow);
        rows = after;
      }
      probed.push({ k, flows });
    }
    const split = probed.find((p) => p.flows.some((f) => f.tx === 1 && f.rx === 1) && p.flows.some((f) => f.tx === 0 || f.rx === 0));
    const { k, flows } = split ?? probed.find((p) => p.flows.some((f) => f.tx === 0 || f.rx === 0)) ?? probed[0]!;
    const node = c.nodes[k]!;
    const src = c.pods[k]!;
    const [ctlFrom, ctlTo] = c.pods.filter((_, j) => j !== k) as [typeof src, typeof src];
    const probeText = probed.map((p) => `${c.nodes[p.k]!.name}: ${p.flows.map((f) => `${f.dst} tx w${f.tx} rx w${f.rx}`).join(', ')}`).join('\n  ');
    console.log(`[${backend}] probes (worker carrying each flow, on the pod's own node):\n  ${probeText}\n  → worker 0 of ${node.name} hangs${split ? '' : ' (no node has its peers on different workers)'}`);
    const m0 = (await node.metrics()).raw;
    const [stalls0, restarts0] = [gauge(m0, 'weft_worker_stalls_total'), gauge(m0, 'weft_worker_restarts_total')];

    // Pings at 10/s on every flow through the node, and one between the other two pods.
    const pingArgs = (dst: string): string[] => ['-n', '-D', '-i', '0.1', '-w', String(PING_S), dst];
    const opts = { allowFail: true, timeoutMs: (PING_S + 10) * 1000 };
    const pings = flows.map((f) => nsRun(src.ns, 'ping', pingArgs(f.dst), opts));
    const control = nsRun(ctlFrom.ns, 'ping', pingArgs(ctlTo.ip), opts);
    await sleep(1000);

    const t0 = Date.now();
    node.signal('SIGURG');
    let tFalse = 0;
    let tTrue = 0;
    const reasons = new Set<string>();
    await waitFor(`${node.name} /readyz to go false and back to true`, async () => {
      const r = await nsRun(node.ns, 'curl', ['-s', '-m', '1', '-w', '\\n%{http_code}', `${HEALTH}/readyz`], { allowFail: true });
      const [body, code] = [r.stdout.slice(0, r.stdout.lastIndexOf('\n')), r.stdout.slice(r.stdout.lastIndexOf('\n') + 1)];
      if (code === '503') {
        tFalse ||= Date.now();
        reasons.add(body.trim().replace(/\d+ ms/, 'N ms'));
      } else if (code === '200' && tFalse > 0) {
        tTrue = Date.now();
        return true;
      }
      return false;
    }, STALL_MS + 15_000, 25);
    const m1 = (await node.metrics()).raw;
    const results = await Promise.all(pings);
    const controlOut = (await control).stdout;

    const lines: string[] = [];
    const row = (label: string, f: { tx: number; rx: number } | null, out: string): { gap: number; received: number; sent: number; last: number } => {
      const { times, seqs } = replies(out);
      const sent = Number(/(\d+) packets transmitted/.exec(out)?.[1] ?? 0);
      const gap = maxGapMs(times);
      lines.push(`  ${label.padEnd(22)} ${f ? `tx w${f.tx} rx w${f.rx}` : 'not via it  '}  ${String(seqs.size).padStart(3)}/${String(sent).padEnd(3)} answered, longest gap ${gap} ms`);
      return { gap, received: seqs.size, sent, last: (times.at(-1) ?? 0) * 1000 };
    };
    const measured = flows.map((f, i) => ({ f, ...row(`${src.ip} → ${f.dst}`, f, results[i]!.stdout) }));
    const ctl = row(`${ctlFrom.ip} → ${ctlTo.ip}`, null, controlOut);
    console.log(
      `[${backend}] ${node.name}: worker 0 hung at 0 ms; /readyz false at ${tFalse - t0} ms (${[...reasons].join(' | ')}), ` +
        `true again at ${tTrue - t0} ms; stall timeout ${STALL_MS} ms\n${lines.join('\n')}`,
    );

    // Counted once, as a stall and as a restart; 2 workers again.
    expect(gauge(m1, 'weft_worker_stalls_total')).toBe(stalls0 + 1);
    expect(gauge(m1, 'weft_worker_restarts_total')).toBe(restarts0 + 1);
    expect(gauge(m1, 'weft_workers')).toBe(2);
    expect(node.log()).toMatch(/data-plane worker stalled \(no heartbeat\); terminating it/);
    // Not ready while worker 0 was silent, with the reason; ready again once replaced,
    // which is after the stall timeout (it went the stall way) and not long after it.
    expect([...reasons]).toContain('not ready: 1 of 2 data-plane workers running: worker 0 silent for N ms');
    expect(tTrue - t0).toBeGreaterThanOrEqual(STALL_MS - 300);
    expect(tTrue - t0).toBeLessThan(STALL_MS + 8000);
    // Traffic: the flow that does not cross the node, and the flows its other worker
    // carries both ways, never stopped; those meeting worker 0 stalled until the
    // replacement and then went on.
    expect(ctl.gap, 'between the other pods').toBeLessThan(1000);
    expect(ctl.received).toBeGreaterThanOrEqual(ctl.sent - 2);
    const hit = measured.filter((m) => m.f.tx === 0 || m.f.rx === 0);
    const clean = measured.filter((m) => m.f.tx === 1 && m.f.rx === 1);
    expect(hit.length, 'some flow meets worker 0').toBeGreaterThan(0);
    for (const m of hit) {
      expect(m.gap, `${m.f.dst} (on the hung worker)`).toBeGreaterThanOrEqual(1000);
      expect(m.gap, `${m.f.dst} (on the hung worker)`).toBeLessThan(tTrue - t0 + 1500);
      expect(m.last, `${m.f.dst}: answers after the replacement`).toBeGreaterThan(tTrue);
    }
    for (const m of clean) expect(m.gap, `${m.f.dst} (on worker 1 both ways)`).toBeLessThan(1000);
    if (clean.length === 0) console.log(`[${backend}] no node has its peers on different workers this run: only ${ctlFrom.ip} → ${ctlTo.ip} shows traffic going on`);
    for (const [a, b] of [[src, ctlFrom], [ctlFrom, src], [src, ctlTo], [ctlTo, src]] as const) {
      const r = await ping(a.ns, b.ip, { count: 3 });
      expect(r.received, `${a.ip} → ${b.ip}:\n${r.output}`).toBe(3);
    }
  }, TEST_TIMEOUT);
}

interface WorkerRow {
  txPackets: number;
  rxPackets: number;
}

interface Flow {
  dst: string;
  /** The worker on the hung node that encapsulates the requests (its TUN queue) and the one that decapsulates the replies (its socket). */
  tx: number;
  rx: number;
}

/**
 * Which of the node's 2 workers carries src → dst each way: 10 pings, then whose
 * per-worker counters (`weft status`) grew by most of them (-1: neither). `before` is the rows before the
 * pings; the rows after are returned, to serve as the next probe's before.
 */
async function classify(node: WeftNode, src: string, dst: string, before: WorkerRow[]): Promise<{ flow: Flow; after: WorkerRow[] }> {
  const r = await nsRun(src, 'ping', ['-n', '-q', '-c', '10', '-i', '0.02', '-W', '2', dst], { allowFail: true });
  expect(r.stdout, `probe ${dst}`).toMatch(/10 packets transmitted, 10 received/);
  const after = (await node.status()).workers!;
  const grew = (k: 'txPackets' | 'rxPackets'): number => {
    const d = after.map((w, i) => w[k] - before[i]![k]);
    // Most, not all: the first packet of a flow takes the TUN queue of its hash, the
    // rest follow the queue its replies were written to (the kernel's tun flow steering).
    return d.findIndex((x) => x >= 6);
  };
  return { flow: { dst, tx: grew('txPackets'), rx: grew('rxPackets') }, after };
}

/** `ping -D` reply lines: receive times (s) by icmp_seq. */
function replies(out: string): { times: number[]; seqs: Set<number> } {
  const times: number[] = [];
  const seqs = new Set<number>();
  for (const m of out.matchAll(/^\[(\d+\.\d+)\] \d+ bytes from [\d.]+: icmp_seq=(\d+)/gm)) {
    times.push(Number(m[1]));
    seqs.add(Number(m[2]));
  }
  return { times, seqs };
}

function maxGapMs(times: number[]): number {
  let gap = 0;
  for (let i = 1; i < times.length; i++) gap = Math.max(gap, (times[i]! - times[i - 1]!) * 1000);
  return Math.round(gap);
}

const STALL_MS = 3000; // src/dataplane/pool.ts
const PING_S = 14;
