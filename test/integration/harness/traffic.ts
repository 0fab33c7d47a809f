// Traffic between pods: ping, a TCP file transfer checked by sha256, iperf3.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nsRun, Proc, sleep } from './exec.js';
import type { Janitor } from './janitor.js';
import type { Pod } from './cluster.js';

const TCP_FIXTURE = fileURLToPath(new URL('../fixtures/tcp.mjs', import.meta.url));

export interface PingResult {
  sent: number;
  received: number;
  code: number;
  output: string;
}

export async function ping(ns: string, dst: string, opts: { count?: number; intervalS?: number; waitS?: number } = {}): Promise<PingResult> {
  const count = opts.count ?? 3;
  const args = ['-n', '-q', '-c', String(count), '-i', String(opts.intervalS ?? 0.2), '-W', String(opts.waitS ?? 2), dst];
  const r = await nsRun(ns, 'ping', args, { allowFail: true, timeoutMs: 10_000 + count * 3000 });
  const m = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(r.stdout);
  return { sent: Number(m?.[1] ?? 0), received: Number(m?.[2] ?? 0), code: r.code, output: r.stdout + r.stderr };
}

/** Pings until one answer comes back (after a restart, say), up to timeoutMs. */
export async function pingUntilReachable(ns: string, dst: string, timeoutMs = 10_000): Promise<number> {
  const start = Date.now();
  for (;;) {
    const r = await ping(ns, dst, { count: 1, waitS: 1 });
    if (r.received === 1) return Date.now() - start;
    if (Date.now() - start > timeoutMs) throw new Error(`${dst} not reachable from ${ns} within ${timeoutMs} ms:\n${r.output}`);
    await sleep(100);
  }
}

/** A random file of `bytes`, made once per run dir, and its sha256. */
export function randomFile(dir: string, bytes: number): { path: string; sha256: string } {
  const path = join(dir, `random-${bytes}.bin`);
  if (!existsSync(path)) {
    const chunks: Buffer[] = [];
    for (let left = bytes; left > 0; left -= 1 << 20) chunks.push(randomBytes(Math.min(left, 1 << 20)));
    writeFileSync(path, Buffer.concat(chunks));
  }
  return { path, sha256: createHash('sha256').update(readFileSync(path)).digest('hex') };
}

export interface TransferResult {
  bytes: number;
  sha256: string;
  ms: number;
}

let nextPort = 7000;

/** Sends the file from pod `from` to pod `to` over TCP; returns what the sink received. */
export async function tcpTransfer(janitor: Janitor, from: Pod, to: Pod, file: string, timeoutMs = 60_000): Promise<TransferResult> {
  const port = nextPort++;
  const sink = new Proc(janitor, to.ns, process.execPath, [TCP_FIXTURE, 'sink', to.ip, String(port)]);
  try {
    await sink.waitOutput(/"listening"/, 10_000);
    const start = Date.now();
    const source = new Proc(janitor, from.ns, process.execPath, [TCP_FIXTURE, 'source', file, to.ip, String(port)]);
    try {
      await source.result(timeoutMs);
    } finally {
      await source.stop('SIGKILL');
    }
    const out = await sink.result(10_000);
    const ms = Date.now() - start;
    const line = out.split('\n').find((l) => l.includes('sha256'));
    if (!line) throw new Error(`sink printed no digest: ${out}`);
    const { bytes, sha256 } = JSON.parse(line) as { bytes: number; sha256: string };
    return { bytes, sha256, ms };
  } finally {
    await sink.stop('SIGKILL');
  }
}

export interface StreamResult {
  /** What the source sent, and the sha256 of it. */
  sent: number;
  sentSha256: string;
  /** What the sink received, and the sha256 of it. */
  bytes: number;
  sha256: string;
  ms: number;
}

/**
 * Streams `bytes` pseudo-random bytes (fixtures/tcp.mjs `stream`: an AES-CTR keystream
 * made on the fly, nothing on disk) from pod `from` to pod `to` over one TCP
 * connection; both ends hash what passes through them.
 */
export async function tcpStream(janitor: Janitor, from: Pod, to: Pod, bytes: number, timeoutMs = 120_000): Promise<StreamResult> {
  const port = nextPort++;
  const sink = new Proc(janitor, to.ns, process.execPath, [TCP_FIXTURE, 'sink', to.ip, String(port)]);
  try {
    await sink.waitOutput(/"listening"/, 10_000);
    const start = Date.now();
    const source = new Proc(janitor, from.ns, process.execPath, [TCP_FIXTURE, 'stream', String(bytes), to.ip, String(port)]);
    let sourceOut: string;
    try {
      sourceOut = await source.result(timeoutMs);
    } finally {
      await source.stop('SIGKILL');
    }
    const out = await sink.result(10_000);
    const ms = Date.now() - start;
    const json = (text: string, key: string, who: string): Record<string, unknown> => {
      const line = text.split('\n').find((l) => l.includes(`"${key}"`));
      if (!line) throw new Error(`${who} printed no ${key}: ${text.slice(-2000)}`);
      return JSON.parse(line) as Record<string, unknown>;
    };
    const s = json(sourceOut, 'sent', 'stream source') as { sent: number; sha256: string };
    const r = json(out, 'sha256', 'sink') as { bytes: number; sha256: string };
    return { sent: s.sent, sentSha256: s.sha256, bytes: r.bytes, sha256: r.sha256, ms };
  } finally {
    await sink.stop('SIGKILL');
  }
}

export interface IperfResult {
  gbps: number;
  bytesReceived: number;
  seconds: number;
  retransmits: number | null;
}

let nextIperfPort = 5201;

/** iperf3 TCP from pod `from` to pod `to` for `seconds`. */
export async function iperf(janitor: Janitor, from: Pod, to: Pod, seconds = 3): Promise<IperfResult> {
  const port = String(nextIperfPort++);
  const server = new Proc(janitor, to.ns, 'iperf3', ['-s', '-1', '--forceflush', '-B', to.ip, '-p', port]);
  try {
    await server.waitOutput(/Server listening/, 10_000);
    const r = await nsRun(from.ns, 'iperf3', ['-c', to.ip, '-p', port, '-t', String(seconds), '-J'], { allowFail: true, timeoutMs: (seconds + 30) * 1000 });
    let doc: any;
    try {
      doc = JSON.parse(r.stdout);
    } catch {
      throw new Error(`iperf3 printed no JSON (exit ${r.code}): ${r.stdout}${r.stderr}`);
    }
    if (doc.error) throw new Error(`iperf3: ${doc.error}`);
    const recv = doc.end?.sum_received;
    return {
      gbps: (recv?.bits_per_second ?? 0) / 1e9,
      bytesReceived: recv?.bytes ?? 0,
      seconds: recv?.seconds ?? 0,
      retransmits: doc.end?.sum_sent?.retransmits ?? null,
    };
  } finally {
    await server.stop('SIGKILL', 1000);
  }
}
