// The local listeners against hostile local clients: malformed requests (a
// table, sent as raw bytes), clients that are not root, and a capture client
// that never reads. Each case: refused with a 4xx, counted, and the listener
// still serves an honest client afterwards.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { Server, ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaptureRing, createCaptureState } from '../../src/dataplane/capture-ring.js';
import { CaptureService } from '../../src/daemon/capture.js';
import { createLocalServer, HttpStats, parseTarget, socketAddress } from '../../src/daemon/http.js';
import { LocalAccess, resolveGroup } from '../../src/daemon/local-access.js';
import { fetchStatus } from '../../src/cli/status.js';
import { LocalInterfaces } from '../../src/daemon/local.js';
import { parseTraceQuery } from '../../src/daemon/trace-query.js';

const quiet = pino({ level: 'silent' });
const root = process.getuid?.() === 0;

/** Sends raw bytes, returns the status code of the answer (0: closed without one). */
function raw(target: { path: string } | { port: number }, bytes: string | Buffer): Promise<number> {
  return new Promise((resolve) => {
    const c = 'path' in target ? connect(target.path) : connect(target.port, '127.0.0.1');
    let got = '';
    c.on('data', (d) => {
      got += d.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(got);
      if (m) {
        c.destroy();
        resolve(Number(m[1]));
      }
    });
    c.on('error', () => resolve(0));
    c.on('close', () => resolve(/^HTTP\/1\.1 (\d{3})/.exec(got) ? Number(/^HTTP\/1\.1 (\d{3})/.exec(got)![1]) : 0));
    c.write(bytes);
  });
}

const GET = (target: string, extra = '') => `GET ${target} HTTP/1.1\r\nhost: weft\r\n${extra}\r\n`;

/** Malformed requests and the answer each must get. */
const MALFORMED: [string, string | Buffer, number][] = [
  ['double-slash target (crashed the daemon before: new URL threw)', GET('//'), 404],
  ['double-slash with a host-like part', GET('//weft:99999/status'), 404],
  ['absolute-form target', GET('http://weft/status'), 400],
  ['asterisk target', GET('*'), 400],
  ['target without a slash', GET('status'), 400],
  ['bad percent escapes', GET('/%zz%'), 404],
  ['target of 3000 bytes', GET(`/${'a'.repeat(3000)}`), 400],
  ['POST', 'POST /status HTTP/1.1\r\nhost: weft\r\ncontent-length: 2\r\n\r\n{}', 405],
  ['DELETE', 'DELETE /metrics HTTP/1.1\r\nhost: weft\r\n\r\n', 405],
  ['unknown method', 'BREW /healthz HTTP/1.1\r\nhost: weft\r\n\r\n', 400],
  ['headers over 8 KiB', GET('/healthz', `x-pad: ${'p'.repeat(9000)}\r\n`), 431],
  ['binary garbage', Buffer.from([0, 1, 2, 3, 0xff, 13, 10, 13, 10]), 400],
  ['HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 400],
  ['control character in a header', GET('/healthz', 'x-bad: a\x01b\r\n'), 400],
  ['bad content-length', 'GET /healthz HTTP/1.1\r\nhost: weft\r\ncontent-length: -5\r\n\r\n', 400],
  ['unknown path', GET('/etc/passwd'), 404],
];

/** Malformed queries, on the status socket only (private endpoints). */
const BAD_QUERIES: [string, string, number][] = [
  ['trace without addresses', '/trace', 400],
  ['trace with a bad address', '/trace?src=10.244.1.300&dst=10.244.2.2', 400],
  ['trace with size 1e400', '/trace?src=10.244.1.2&dst=10.244.2.2&size=1e400', 400],
  ['trace with size 1e9', '/trace?src=10.244.1.2&dst=10.244.2.2&size=1000000000', 400],
  ['trace with a bad protocol', '/trace?src=10.244.1.2&dst=10.244.2.2&proto=sctp', 400],
  ['capture on a made-up side', '/capture?side=sideways', 400],
  ['capture with a negative count', '/capture?count=-1', 400],
  ['capture with count 1e3', '/capture?count=1e3', 400],
  ['capture with seconds NaN', '/capture?seconds=NaN', 400],
  ['capture with seconds -1', '/capture?seconds=-1', 400],
];

function traceStub(q: URLSearchParams): unknown {
  const r = parseTraceQuery(q);
  if (r.size < 28 || r.size > 65535) throw new RangeError(`--size ${r.size}: give 28 to 65535 bytes`);
  return r;
}

describe('local listeners against malformed requests', () => {
  const name = `@wefttest-malformed-${process.pid}`;
  const path = socketAddress(name);
  let local: LocalInterfaces;
  let tcp: Server;
  const tcpStats = new HttpStats();
  let port = 0;
  const capture = new CaptureService(createCaptureState(1, 4096));
  const source = {
    ready: () => true,
    metrics: () => 'weft_peers 0\n',
    status: () => ({ ok: true }),
    trace: traceStub,
    capture: (q: URLSearchParams, res: ServerResponse) => capture.handle(q, res),
  };

  beforeAll(async () => {
    local = await LocalInterfaces.bind({ statusSocket: name, statusGroup: null, healthzIp: '127.0.0.1', healthzPort: 0 }, quiet);
    local.serve(source);
    tcp = createLocalServer(() => source, { listener: 'healthz', stats: tcpStats });
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    port = (tcp.address() as AddressInfo).port;
  });
  afterAll(() => {
    local.close();
    tcp.close();
  });

  it.each(MALFORMED)('status socket: %s', async (_, bytes, code) => {
    const before = local.stats.malformed.status;
    expect(await raw({ path }, bytes)).toBe(code);
    expect(local.stats.malformed.status).toBe(before + 1);
    expect(await raw({ path }, GET('/healthz'))).toBe(200);
  });

  it.each(MALFORMED)('healthz port: %s', async (_, bytes, code) => {
    const before = tcpStats.malformed.healthz;
    expect(await raw({ port }, bytes)).toBe(code);
    expect(tcpStats.malformed.healthz).toBe(before + 1);
    expect(await raw({ port }, GET('/healthz'))).toBe(200);
  });

  it.skipIf(!root).each(BAD_QUERIES)('status socket: %s', async (_, target, code) => {
    const before = local.stats.malformed.status;
    expect(await raw({ path }, GET(target))).toBe(code);
    expect(local.stats.malformed.status).toBe(before + 1);
    expect(await raw({ path }, GET('/status'))).toBe(200);
    expect(capture.running).toBe(false);
  });

  it('the healthz port never serves the private endpoints', async () => {
    for (const p of ['/status', '/trace?src=10.244.1.2&dst=10.244.2.2', '/capture']) expect(await raw({ port }, GET(p))).toBe(404);
  });

  it('a request head that never ends is cut off (408) and the listener keeps serving', async () => {
    const started = Date.now();
    const code = await raw({ path }, 'GET /healthz HTTP/1.1\r\nhost: weft\r\n');
    expect(code === 408 || code === 0).toBe(true);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(await raw({ path }, GET('/healthz'))).toBe(200);
  }, 30_000);

  it('parseTarget takes origin-form targets only', () => {
    expect(parseTarget('/trace?src=1&dst=2')?.query.get('dst')).toBe('2');
    for (const t of [undefined, '', '//'.slice(1, 1), 'http://x/', '*', '/a b', `/${'x'.repeat(3000)}`]) expect(parseTarget(t)).toBeNull();
  });

  it('metrics count what was refused', () => {
    expect(local.metrics()).toMatch(/weft_local_bad_requests_total\{listener="status"\} [1-9]\d*\n/);
  });
});

/** A client as uid/gid (and no supplementary groups: libuv clears them), asking the status socket for each path. */
function asUser(uid: number, gid: number, socket: string, paths: string[]): Promise<number[]> {
  const script = `
    const http = require('node:http');
    const ask = (p) => new Promise((r) => {
      const req = http.get({ socketPath: ${JSON.stringify(socket)}, path: p }, (res) => { res.resume(); res.on('end', () => r(res.statusCode)); res.on('aborted', () => r(res.statusCode)); });
      req.on('error', () => r(0));
      req.setTimeout(3000, () => req.destroy());
    });
    (async () => { const out = []; for (const p of ${JSON.stringify(paths)}) out.push(await ask(p)); console.log(JSON.stringify(out)); })();`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], { uid, gid, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', () => {
      try {
        resolve(JSON.parse(out) as number[]);
      } catch (e) {
        reject(new Error(`client as ${uid}:${gid} printed ${JSON.stringify(out)}: ${(e as Error).message}`));
      }
    });
  });
}

describe.skipIf(!root)('the status socket answers root or --status-group only (SO_PEERCRED)', () => {
  const paths = ['/status', '/trace?src=10.244.1.2&dst=10.244.2.2', '/capture?count=1&seconds=1', '/metrics', '/healthz'];
  const serve = async (name: string, statusGroup: string | null): Promise<LocalInterfaces> => {
    const local = await LocalInterfaces.bind({ statusSocket: name, statusGroup, healthzIp: '127.0.0.1', healthzPort: 0 }, quiet);
    const capture = new CaptureService(createCaptureState(1, 4096));
    local.serve({ ready: () => true, metrics: () => '', status: () => ({}), trace: traceStub, capture: (q, res) => capture.handle(q, res) });
    return local;
  };

  it('nobody (65534) is refused /status /trace /capture with 403, counted; /metrics and /healthz still answer; root is served', async () => {
    const name = `@wefttest-cred-${process.pid}`;
    const local = await serve(name, null);
    try {
      expect(await asUser(65534, 65534, socketAddress(name), paths)).toEqual([403, 403, 403, 200, 200]);
      expect(local.access.refused).toEqual({ status: 1, trace: 1, capture: 1 });
      expect(local.metrics()).toContain('weft_local_refused_total{endpoint="capture"} 1\n');
      expect(await asUser(0, 0, socketAddress(name), paths)).toEqual([200, 200, 200, 200, 200]);
      expect(local.access.refused).toEqual({ status: 1, trace: 1, capture: 1 });
    } finally {
      local.close();
    }
  });

  it('--status-group lets a member in (gid), and nobody else', async () => {
    const name = `@wefttest-group-${process.pid}`;
    const local = await serve(name, '4242');
    try {
      expect(await asUser(65534, 4242, socketAddress(name), paths.slice(0, 2))).toEqual([200, 200]);
      expect(await asUser(65534, 65534, socketAddress(name), paths.slice(0, 2))).toEqual([403, 403]);
      expect(local.access.refused.status).toBe(1);
    } finally {
      local.close();
    }
  });

  it('the CLI does not trust a status socket served by a non-root process (a squatter)', async () => {
    const name = `@wefttest-squatcli-${process.pid}`;
    const script = `require('node:http').createServer((q, r) => r.end('{"lease":{}}')).listen({ path: ${JSON.stringify(socketAddress(name))} }, () => console.log('up'))`;
    const child = spawn(process.execPath, ['-e', script], { uid: 65534, gid: 65534, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise((r) => child.stdout.once('data', r));
      await expect(fetchStatus(name)).rejects.toThrow(/runs as uid 65534, not root: it is not weft/);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('nobody holding many idle connections cannot crowd root out (closed beyond the limit, counted)', async () => {
    const name = `@wefttest-crowd-${process.pid}`;
    const local = await serve(name, null);
    const script = `
      const net = require('node:net'); let open = 0, closed = 0;
      for (let i = 0; i < 40; i++) { const c = net.connect(${JSON.stringify(socketAddress(name))}); c.on('connect', () => open++); c.on('close', () => closed++); c.on('error', () => {}); }
      setTimeout(() => { console.log(JSON.stringify({ open, closed })); }, 1500); setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['-e', script], { uid: 65534, gid: 65534, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const out = await new Promise<string>((r) => child.stdout.once('data', (d) => r(String(d))));
      const { closed } = JSON.parse(out) as { closed: number };
      expect(closed).toBe(40 - 16);
      expect(local.access.crowded).toBe(24);
      expect(local.metrics()).toContain('weft_local_refused_connections_total 24\n');
      // The 16 idle ones are still open, and root is served.
      expect(await raw({ path: socketAddress(name) }, GET('/status'))).toBe(200);
    } finally {
      child.kill('SIGKILL');
      local.close();
    }
  });

  it('--status-group takes a name from the group file, and refuses an unknown one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wefttest-group-'));
    writeFileSync(join(dir, 'group'), 'root:x:0:\nweft-status:x:4243:alice,bob\n');
    expect(resolveGroup('weft-status', join(dir, 'group'))).toBe(4243);
    expect(resolveGroup('77', join(dir, 'group'))).toBe(77);
    expect(() => resolveGroup('nosuch', join(dir, 'group'))).toThrow(/--status-group is "nosuch": no such group/);
  });
});

describe.skipIf(!root)('capture against a client that never reads', () => {
  const listen = async (server: Server, name: string): Promise<string> => {
    await new Promise<void>((r) => server.listen({ path: socketAddress(name) }, r));
    return socketAddress(name);
  };

  it('buffers at most the bound, drops and counts the rest, ends at the time limit and frees the slot', async () => {
    const state = createCaptureState(1, 1 << 20);
    const producer = new CaptureRing(state.rings[0]!);
    const maxBuffered = 64 * 1024;
    const capture = new CaptureService(state, { maxBuffered, maxSeconds: 1.5 });
    let biggest = 0;
    const server = createLocalServer(
      () => ({
        ready: () => true,
        metrics: () => '',
        capture: (q, res) => {
          capture.handle(q, res);
          const probe = setInterval(() => {
            biggest = Math.max(biggest, res.writableLength);
            if (res.destroyed || res.writableFinished) clearInterval(probe);
          }, 5);
        },
      }),
      { listener: 'status', stats: new HttpStats(), access: new LocalAccess(null) },
    );
    const path = await listen(server, `@wefttest-capbound-${process.pid}`);
    const packet = new Uint8Array(1400).fill(7);
    const flood = setInterval(() => {
      for (let i = 0; i < 200; i++) producer.push(packet, 0, packet.length, 65535);
    }, 5);
    try {
      const c = connect(path);
      await new Promise((r) => c.once('connect', r));
      c.pause(); // reads nothing, ever
      c.write(GET('/capture?side=outer'));
      await new Promise((r) => setTimeout(r, 300));
      expect(capture.running).toBe(true);
      expect(await raw({ path }, GET('/capture'))).toBe(409);
      const deadline = Date.now() + 5000;
      while (capture.running && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(capture.running).toBe(false);
      expect(capture.timedOut).toBe(1);
      expect(capture.dropped).toBeGreaterThan(100);
      console.log(`never-reading capture client: at most ${biggest} bytes queued in the response (bound ${maxBuffered}), ${capture.dropped} packets dropped`);
      expect(biggest).toBeLessThanOrEqual(maxBuffered);
      expect(capture.metrics()).toContain(`weft_capture_dropped_total ${capture.dropped}\n`);
      // The slot is free: the next capture (which reads) gets its packets.
      const again = await raw({ path }, GET('/capture?count=1&seconds=1'));
      expect(again).toBe(200);
      c.destroy();
    } finally {
      clearInterval(flood);
      server.closeAllConnections();
      server.close();
    }
  }, 20_000);

  it('a client that goes away frees the slot at once', async () => {
    const state = createCaptureState(1, 1 << 16);
    const capture = new CaptureService(state);
    const server = createLocalServer(() => ({ ready: () => true, metrics: () => '', capture: (q, res) => capture.handle(q, res) }), {
      listener: 'status',
      stats: new HttpStats(),
      access: new LocalAccess(null),
    });
    const path = await listen(server, `@wefttest-capgone-${process.pid}`);
    try {
      const c = connect(path);
      c.write(GET('/capture'));
      await new Promise((r) => setTimeout(r, 200));
      expect(capture.running).toBe(true);
      c.destroy();
      const deadline = Date.now() + 2000;
      while (capture.running && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(capture.running).toBe(false);
    } finally {
      server.close();
    }
  });
});
