// weft's local interfaces under attack from inside the node (issue 9): an
// unprivileged client against every endpoint, malformed requests, a capture
// client that never reads while pod traffic flows, and a process squatting the
// status socket name before weft starts. Each test asserts that the attack
// fails, that it is counted, and that honest pod traffic keeps flowing.
// Own file, own 2-node vxlan cluster (tag la): see README.md here.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HOOK_TIMEOUT, TEST_TIMEOUT, useJanitor } from './harness/context.js';
import { nsRun, Proc, sleep, waitFor } from './harness/exec.js';
import { skipIntegration } from './harness/requirements.js';
import { useCluster } from './suites/backend.js';
import { iperf, ping } from './harness/traffic.js';
import { WEFT_BIN, type WeftNode } from './harness/weft-node.js';

const CLIENT = fileURLToPath(new URL('./fixtures/local-client.mjs', import.meta.url));
const NOBODY = ['setpriv', '--reuid', '65534', '--regid', '65534', '--clear-groups'];
const PORT = '10250'; // the harness's --healthz-port

/** One sample of a metric line (exact labels), from the node's /metrics. */
async function metric(node: WeftNode, name: string): Promise<number> {
  const text = await node.get('/metrics');
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (line === undefined) throw new Error(`no ${name} in /metrics:\n${text.slice(0, 3000)}`);
  return Number(line.slice(name.length + 1));
}

/** Resident memory of a process, in KiB. */
function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? NaN);
}

describe.skipIf(skipIntegration('weft local access'))('weft local interfaces under local attack (namespaces, etcd)', () => {
  const janitor = useJanitor();
  const cluster = useCluster(janitor, 'vxlan', 2, { tag: 'la', label: 'local access' });

  it('nobody (uid 65534) is refused status, trace and capture on the status socket (403, counted); root is served; pods keep talking', async () => {
    const c = cluster();
    const [n1] = c.nodes as [WeftNode];
    const [p1, p2] = c.pods as [typeof c.pods[0], typeof c.pods[0]];
    const before = await Promise.all(['status', 'trace', 'capture'].map((e) => metric(n1, `weft_local_refused_total{endpoint="${e}"}`)));
    const traffic = ping(p1.ns, p2.ip, { count: 15, intervalS: 0.2 });
    const paths = [
      'sock:/status',
      `sock:/trace?src=${p1.ip}&dst=${p2.ip}`,
      'sock:/capture?count=1&seconds=1',
      'sock:/healthz',
      'sock:/metrics',
      'tcp:/healthz',
      'tcp:/readyz',
      'tcp:/metrics',
      'tcp:/status',
      'tcp:/capture',
    ];
    const asNobody = await nsRun(n1.ns, NOBODY[0]!, [...NOBODY.slice(1), process.execPath, CLIENT, 'codes', '@weft', PORT, ...paths]);
    expect(JSON.parse(asNobody.stdout), paths.join(' ')).toEqual([403, 403, 403, 200, 200, 200, 200, 200, 404, 404]);
    // The CLI as nobody says why.
    const cli = await nsRun(n1.ns, NOBODY[0]!, [...NOBODY.slice(1), process.execPath, WEFT_BIN, 'status'], { allowFail: true });
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/403: forbidden: \/status needs root; this client is uid 65534/);
    const after = await Promise.all(['status', 'trace', 'capture'].map((e) => metric(n1, `weft_local_refused_total{endpoint="${e}"}`)));
    expect(after).toEqual([before[0]! + 2, before[1]! + 1, before[2]! + 1]);
    // Root is served: the same endpoints answer.
    const asRoot = await nsRun(n1.ns, process.execPath, [CLIENT, 'codes', '@weft', PORT, ...paths.slice(0, 3)]);
    expect(JSON.parse(asRoot.stdout)).toEqual([200, 200, 200]);
    expect((await n1.status()).peers.length).toBe(1);
    expect((await traffic).received, 'pings during the attack').toBe(15);
    expect(await metric(n1, 'weft_capture_running')).toBe(0);
  }, TEST_TIMEOUT);

  it('malformed requests on the status socket and the healthz port: 4xx each, counted, the daemon alive and forwarding', async () => {
    const c = cluster();
    const [n1] = c.nodes as [WeftNode];
    const [p1, p2] = c.pods as [typeof c.pods[0], typeof c.pods[0]];
    const cases: [string, string, number][] = [
      ['GET // HTTP/1.1\r\nhost: x\r\n\r\n', 'double slash (crashed weft before)', 404],
      ['GET http://x/status HTTP/1.1\r\nhost: x\r\n\r\n', 'absolute-form target', 400],
      ['PUT /status HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n', 'PUT', 405],
      [`GET /healthz HTTP/1.1\r\nhost: x\r\nx-pad: ${'p'.repeat(9000)}\r\n\r\n`, 'headers over 8 KiB', 431],
      ['\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n', 'a TLS client hello', 400],
      ['GET /trace?src=10.244.1.2&dst=10.244.2.2&size=1e400 HTTP/1.1\r\nhost: x\r\n\r\n', 'trace size 1e400 (status socket) / 404 (healthz)', 400],
      ['GET /capture?count=-1 HTTP/1.1\r\nhost: x\r\n\r\n', 'capture count -1 (status socket) / 404 (healthz)', 400],
      ['GET /trace?src=10.244.1.2&dst=10.244.2.2&size=1000000000 HTTP/1.1\r\nhost: x\r\n\r\n', 'trace size 1e9 (status socket) / 404 (healthz)', 400],
    ];
    const beforeSock = await metric(n1, 'weft_local_bad_requests_total{listener="status"}');
    const beforeTcp = await metric(n1, 'weft_local_bad_requests_total{listener="healthz"}');
    const traffic = ping(p1.ns, p2.ip, { count: 15, intervalS: 0.2 });
    for (const [bytes, what, code] of cases) {
      const b64 = Buffer.from(bytes, 'latin1').toString('base64');
      const sock = await nsRun(n1.ns, process.execPath, [CLIENT, 'raw', '@weft', b64]);
      expect(Number(sock.stdout.trim()), `status socket: ${what}`).toBe(code);
      const tcp = await nsRun(n1.ns, process.execPath, [CLIENT, 'raw', PORT, b64]);
      const tcpCode = what.includes('/ 404 (healthz)') ? 404 : code;
      expect(Number(tcp.stdout.trim()), `healthz port: ${what}`).toBe(tcpCode);
    }
    expect(n1.running).toBe(true);
    expect(await metric(n1, 'weft_local_bad_requests_total{listener="status"}')).toBe(beforeSock + cases.length);
    expect(await metric(n1, 'weft_local_bad_requests_total{listener="healthz"}')).toBe(beforeTcp + cases.length);
    expect((await n1.status()).ready).toBe(true);
    expect((await traffic).received, 'pings during the malformed requests').toBe(15);
  }, TEST_TIMEOUT);

  it('a capture client that never reads while iperf3 runs: bounded memory, drops counted, slot freed when it goes; pods keep talking', async () => {
    const c = cluster();
    const [n1] = c.nodes as [WeftNode];
    const [p1, p2] = c.pods as [typeof c.pods[0], typeof c.pods[0]];
    const pid = n1.proc!.pid;
    const droppedBefore = await metric(n1, 'weft_capture_dropped_total');
    const rssBefore = rssKiB(pid);
    const holder = new Proc(janitor(), n1.ns, process.execPath, [CLIENT, 'hold-capture', '@weft', 'side=inner']);
    let peakRss = rssBefore;
    let peakBuffered = 0;
    try {
      await holder.waitOutput(/holding/, 5000);
      await waitFor('the capture to start', async () => (await metric(n1, 'weft_capture_running')) === 1, 5000);
      const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssKiB(pid))), 100);
      const load = iperf(janitor(), p1, p2, 4);
      const samples = (async () => {
        for (let i = 0; i < 12; i++) {
          peakBuffered = Math.max(peakBuffered, await metric(n1, 'weft_capture_buffered_bytes'));
          await sleep(300);
        }
      })();
      const [result] = await Promise.all([load, samples]);
      clearInterval(sampler);
      const dropped = (await metric(n1, 'weft_capture_dropped_total')) - droppedBefore;
      console.log(
        `[local access] never-reading capture during iperf3 ${result.gbps.toFixed(2)} Gbit/s (${(result.bytesReceived / 2 ** 20).toFixed(0)} MiB): ` +
          `weft RSS ${(rssBefore / 1024).toFixed(0)} → peak ${(peakRss / 1024).toFixed(0)} MiB, capture buffered at most ${peakBuffered} bytes (bound 1 MiB), ${dropped} packets dropped from the capture`,
      );
      expect(result.bytesReceived, 'iperf3 moved data while the capture was stuck').toBeGreaterThan(10 * 2 ** 20);
      expect(dropped, 'packets dropped from the capture and counted').toBeGreaterThan(0);
      expect(peakBuffered, 'bytes queued for the capture client').toBeLessThanOrEqual(1 << 20);
      // iperf3 moved far more than this through the capture tap: had it been queued, RSS would show it.
      expect(peakRss - rssBefore, 'RSS growth in KiB').toBeLessThan(Math.min(64 * 1024, result.bytesReceived / 1024 / 2));
      // The slot is held while the client is connected...
      const second = await nsRun(n1.ns, process.execPath, [CLIENT, 'codes', '@weft', PORT, 'sock:/capture?count=1&seconds=1']);
      expect(JSON.parse(second.stdout)).toEqual([409]);
    } finally {
      await holder.stop('SIGKILL', 1000);
    }
    // ...and freed when it goes.
    await waitFor('the capture slot to be freed', async () => (await metric(n1, 'weft_capture_running')) === 0, 5000);
    const file = join(janitor().dir, 'la-after.pcap');
    const cap = new Proc(janitor(), n1.ns, process.execPath, [WEFT_BIN, 'capture', '--inner', '-w', file, '--count', '3', '--seconds', '10']);
    await cap.waitOutput(/capturing inner packets/, 10_000);
    expect((await ping(p1.ns, p2.ip, { count: 5, intervalS: 0.2 })).received).toBe(5);
    expect(await cap.result(15_000)).toMatch(/wrote 3 packets/);
  }, TEST_TIMEOUT);

  it('a squatter on the status socket name before weft starts: the data plane still forwards; status comes once the squatter goes', async () => {
    const c = cluster();
    const n2 = c.nodes[1]!;
    const [p1, p2] = c.pods as [typeof c.pods[0], typeof c.pods[0]];
    await n2.stop();
    // As nobody: an unprivileged local process is the attacker here.
    const squatter = new Proc(janitor(), n2.ns, NOBODY[0]!, [...NOBODY.slice(1), process.execPath, CLIENT, 'squat', '@weft']);
    try {
      await squatter.waitOutput(/squatting/, 5000);
      await n2.start(); // waits for /readyz on the healthz port
      expect(n2.log()).toMatch(/status socket @weft is taken by another process \(EADDRINUSE\): the data plane starts anyway/);
      expect(await metric(n2, 'weft_local_listener_up{listener="status"}')).toBe(0);
      // The CLI (as root) does not trust what a non-root process serves on the name.
      const cli = await nsRun(n2.ns, process.execPath, [WEFT_BIN, 'status'], { allowFail: true });
      expect(cli.code).toBe(1);
      expect(cli.stderr).toMatch(/runs as uid 65534, not root: it is not weft \(a squatter\?\)/);
      const file = join(janitor().dir, 'la-squat.pcap');
      const cap = await nsRun(n2.ns, process.execPath, [WEFT_BIN, 'capture', '-w', file, '--count', '1', '--seconds', '3'], { allowFail: true });
      expect(cap.code).toBe(1);
      expect(cap.stderr).toMatch(/not root: it is not weft/);
      // The data plane forwards both ways.
      expect((await ping(p1.ns, p2.ip, { count: 5, intervalS: 0.2 })).received).toBe(5);
      expect((await ping(p2.ns, p1.ip, { count: 5, intervalS: 0.2 })).received).toBe(5);
    } finally {
      await squatter.stop('SIGKILL', 1000);
    }
    const t0 = Date.now();
    await waitFor('weft to take the status socket back', async () => (await metric(n2, 'weft_local_listener_up{listener="status"}')) === 1, 10_000, 100);
    console.log(`[local access] status socket taken back ${Date.now() - t0} ms after the squatter went`);
    expect((await n2.status()).peers.length).toBe(1);
    expect(n2.log()).toMatch(/status socket now served on @weft/);
    expect((await ping(p1.ns, p2.ip, { count: 3 })).received).toBe(3);
  }, TEST_TIMEOUT);

  it('a healthz address weft cannot bind (not on this host) refuses the start before the host is touched: no TUN', async () => {
    const c = cluster();
    const n2 = c.nodes[1]!;
    await n2.stop();
    // The TUN is persistent (it outlives a stop): uninstall it, so that a TUN after the failed start would be its doing.
    const un = await nsRun(n2.ns, process.execPath, [WEFT_BIN, 'uninstall', '--keep-subnet-file'], { allowFail: true });
    expect(un.code, `weft uninstall: ${un.stdout}${un.stderr}`).toBe(0);
    expect(await n2.hasTun()).toBe(false);
    const failed = new Proc(janitor(), n2.ns, process.execPath, [...n2.args(), '--healthz-ip', '203.0.113.9']);
    const { code } = await failed.exited;
    expect(code).toBe(1);
    expect(failed.output()).toMatch(/cannot serve healthz on 203\.0\.113\.9:10250: .*EADDRNOTAVAIL/);
    expect(await n2.hasTun(), 'weft0 was never created').toBe(false);
    await n2.start();
    expect((await ping(c.pods[0]!.ns, c.pods[1]!.ip, { count: 3 })).received).toBe(3);
  }, TEST_TIMEOUT);
}, HOOK_TIMEOUT);
