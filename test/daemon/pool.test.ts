// The pool watches its workers: a dead one is replaced after a growing delay,
// a silent one (no heartbeat) is terminated and replaced, and readiness says
// which worker is missing. The real worker dies at once on a TUN fd that does
// not exist (EBADF); a fake one (fixtures/fake-worker.mjs) keeps the heartbeat
// contract and can be made to spin or to never reach its loop.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LpmTable } from '../../native-free/table/lpm.js';
import { PeerTable } from '../../native-free/table/peers.js';
import { createCounters } from '../../src/dataplane/counters.js';
import { Backoff, DEFAULT_BACKOFF } from '../../src/dataplane/backoff.js';
import { createCaptureState } from '../../src/dataplane/capture-ring.js';
import { WorkerPool, type PoolOptions } from '../../src/dataplane/pool.js';
import type { WorkerInit } from '../../src/dataplane/worker-init.js';

const compiled = existsSync(new URL('../../dist/src/dataplane/worker.js', import.meta.url));
// The compiled worker: vitest cannot load .ts inside worker threads.
const REAL_WORKER = new URL('../../dist/src/dataplane/worker.js', import.meta.url);
const FAKE_WORKER = new URL('./fixtures/fake-worker.mjs', import.meta.url);
const skip = !compiled && !process.env['CI'];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

interface Logged {
  at: number;
  msg: string;
  obj: Record<string, unknown>;
}

function logger(): { log: { info(): void; error(o: object, msg: string): void }; lines: Logged[] } {
  const lines: Logged[] = [];
  return { lines, log: { info() {}, error: (o: object, msg: string) => lines.push({ at: Date.now(), msg, obj: o as Record<string, unknown> }) } };
}

function inits(n: number, extra: Record<string, unknown>[] = []): Omit<WorkerInit, 'control'>[] {
  const routes = LpmTable.create({ family: 4, capacity: 10, shared: true });
  const peers = PeerTable.create({ capacity: 10, shared: true });
  const capture = createCaptureState(n);
  const counters = createCounters(n);
  const badFd = 987_654; // no such descriptor
  return Array.from({ length: n }, (_, index) => ({
    index, backend: 'vxlan' as const, tunFd: badFd, txFd: badFd, rxFd: -1, sendFds: [], sendPorts: [], localUnderlay: 1, localMac: [2, 0, 0, 0, 0, 1],
    tunnelAddr: 1, vni: 1, port: 4789, mtu: 1450, acceptUnknownPeers: false, spoofCheck: null,
    routes: routes.state(), ipv6: null, innerFamilies: 1, peers: peers.state(), counters, batch: 8, slotSize: 2048,
    captureControl: capture.control, captureRing: capture.rings[index]!, offload: { tun: false, udpGso: false, udpGro: false },
    ...extra[index],
  }));
}

describe('Backoff', () => {
  it('doubles from 200 ms to a 10 s cap, and starts over after 30 s healthy', () => {
    const b = new Backoff();
    const seq = Array.from({ length: 9 }, () => b.next(0));
    expect(seq).toEqual([200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000]);
    // Healthy for a while, but not long enough: still at the cap.
    expect(b.next(DEFAULT_BACKOFF.resetAfterMs - 1)).toBe(10_000);
    // Healthy long enough: back to the first delay, and doubling again from there.
    expect(b.next(DEFAULT_BACKOFF.resetAfterMs)).toBe(200);
    expect(b.next(5)).toBe(400);
  });
});

describe.skipIf(skip)('WorkerPool', () => {
  it('replaces a worker that dies after growing delays, counts it, and stops', async () => {
    const { log, lines } = logger();
    const opts: PoolOptions = { workerUrl: REAL_WORKER, backoff: { initialMs: 40, maxMs: 160, resetAfterMs: 60_000 } };
    const pool = new WorkerPool(inits(1), log, opts);
    pool.start();
    pool.go(); // workers boot, then wait for the tables (run.ts) before they touch their fds
    try {
      await until('5 restarts', () => pool.restarts >= 5, 20_000);
    } finally {
      await pool.stop();
    }
    expect(pool.running).toBe(0);
    const text = lines.map((l) => `${l.msg} ${JSON.stringify(l.obj)}`).join('\n');
    expect(text).toMatch(/EBADF/);
    const deaths = lines.filter((l) => l.msg === 'data-plane worker died; replacing it');
    expect(deaths.map((d) => d.obj['delayMs']).slice(0, 5)).toEqual([40, 80, 160, 160, 160]);
    // Each death comes at least its predecessor's delay after it (the worker also needs time to start and fail).
    for (let k = 1; k < 5; k++) expect(deaths[k]!.at - deaths[k - 1]!.at).toBeGreaterThanOrEqual((deaths[k - 1]!.obj['delayMs'] as number) - 2);
    expect(pool.stalls).toBe(0);
  });

  it('terminates a worker that spins (stale heartbeat), counts the stall, replaces it; readiness says so meanwhile', async () => {
    const { log, lines } = logger();
    const pool = new WorkerPool(inits(2, [{ fake: 'loop' }, { fake: 'loop' }]), log, {
      workerUrl: FAKE_WORKER, faultInjection: true, staleMs: 150, stallMs: 400, backoff: { initialMs: 300, maxMs: 1000, resetAfterMs: 60_000 },
    });
    pool.start();
    try {
      await until('2 workers running', () => pool.running === 2);
      expect(pool.notReady()).toBeNull();
      const t0 = Date.now();
      pool.hang(0);
      const reasons = new Set<string>();
      let sawOne = false;
      await until('the stall to be detected and the worker replaced', () => {
        const r = pool.notReady();
        if (r !== null) reasons.add(r.replace(/\d+ ms/, 'N ms'));
        if (pool.running === 1) sawOne = true;
        return pool.stalls === 1 && pool.restarts === 1 && pool.running === 2;
      });
      const elapsed = Date.now() - t0;
      expect(sawOne).toBe(true);
      expect([...reasons]).toEqual(expect.arrayContaining([
        '1 of 2 data-plane workers running: worker 0 silent for N ms',
        '1 of 2 data-plane workers running: worker 0 restarting in N ms',
      ]));
      expect(pool.notReady()).toBeNull();
      // Not before the stall timeout plus the first backoff delay.
      expect(elapsed).toBeGreaterThanOrEqual(400 + 300);
      const stall = lines.find((l) => l.msg === 'data-plane worker stalled (no heartbeat); terminating it');
      expect(stall?.obj).toMatchObject({ worker: 0, stalls: 1, started: true });
      expect(stall!.obj['silentMs'] as number).toBeGreaterThan(400);
      expect(lines.some((l) => l.msg === 'stalled data-plane worker terminated; replacing it' && l.obj['worker'] === 0)).toBe(true);
      // Worker 1 was never touched; the replacement of worker 0 does not hang again.
      await sleep(600);
      expect(pool.stalls).toBe(1);
      expect(pool.running).toBe(2);
    } finally {
      await pool.stop();
    }
    expect(pool.running).toBe(0);
  });

  it('terminates a worker that never reaches its loop, after the startup timeout', async () => {
    const { log, lines } = logger();
    const pool = new WorkerPool(inits(1, [{ fake: 'silent' }]), log, {
      workerUrl: FAKE_WORKER, startupMs: 300, stallMs: 5000, backoff: { initialMs: 50, maxMs: 50, resetAfterMs: 60_000 },
    });
    pool.start();
    try {
      expect(pool.notReady()).toBe('0 of 1 data-plane workers running: worker 0 starting');
      await until('two stalls', () => pool.stalls >= 2);
    } finally {
      await pool.stop();
    }
    expect(lines.filter((l) => l.msg === 'data-plane worker never reached its loop; terminating it').length).toBeGreaterThanOrEqual(2);
    expect(pool.running).toBe(0);
  });

  it('stop() ends a hung worker too', async () => {
    const { log, lines } = logger();
    // Stopped while the worker spins but before the stall timeout: stop() itself terminates it.
    const pool = new WorkerPool(inits(1, [{ fake: 'loop' }]), log, { workerUrl: FAKE_WORKER, faultInjection: true, staleMs: 100, stallMs: 1500 });
    pool.start();
    await until('the worker running', () => pool.running === 1);
    pool.hang(0);
    await until('the worker silent', () => pool.running === 0);
    await pool.stop();
    expect(lines.map((l) => l.msg)).toEqual(['data-plane worker did not stop; terminating it']);
    expect(pool.restarts).toBe(0);
    expect(pool.stalls).toBe(0);
  });

  it('refuses hang() without fault injection', () => {
    const pool = new WorkerPool(inits(1), logger().log, { workerUrl: FAKE_WORKER });
    expect(() => pool.hang(0)).toThrow(/fault injection is off/);
  });
});
