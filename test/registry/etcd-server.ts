// A throwaway etcd for tests: its own data dir, random loopback ports, killed and
// removed by stop(). Needs the `etcd` binary (Debian: etcd-server) on PATH or in
// $WEFT_TEST_ETCD.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

export interface TestEtcd {
  /** Client URL, e.g. http://127.0.0.1:41237 (https:// with `tls`). */
  readonly endpoint: string;
  readonly clientPort: number;
  readonly dataDir: string;
  readonly pid: number;
  /** Kills etcd (SIGTERM, then SIGKILL) and removes its data dir. Idempotent. */
  stop(): Promise<void>;
}

export interface StartTestEtcdOptions {
  /** How long to wait for /health to answer true. Default 20 s. */
  readyTimeoutMs?: number;
  /** Serve clients over https with these PEM files and require client certificates signed by `caFile`. */
  tls?: TestEtcdTls;
}

export interface TestEtcdTls {
  caFile: string;
  certFile: string;
  keyFile: string;
  /** A client certificate for the health check. */
  clientCertFile: string;
  clientKeyFile: string;
}

const live = new Set<ChildProcess>();
// Last resort when a test runner exits without afterAll: never leave etcd behind.
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** A port that was free a moment ago (etcd binds it right after; we retry on a clash). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function startTestEtcd(opts: StartTestEtcdOptions = {}): Promise<TestEtcd> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(opts.readyTimeoutMs ?? 20_000, opts.tls);
    } catch (err) {
      lastError = err; // most likely a port taken between freePort() and etcd's bind
    }
  }
  throw lastError;
}

async function startOnce(readyTimeoutMs: number, tls: TestEtcdTls | undefined): Promise<TestEtcd> {
  const name = `wefttest-${randomBytes(4).toString('hex')}`;
  const dataDir = await mkdtemp(join(tmpdir(), `${name}-`));
  const clientPort = await freePort();
  const peerPort = await freePort();
  const endpoint = `${tls ? 'https' : 'http'}://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const bin = process.env.WEFT_TEST_ETCD ?? 'etcd';
  const child = spawn(
    bin,
    [
      '--name', name,
      '--data-dir', dataDir,
      '--listen-client-urls', endpoint,
      '--advertise-client-urls', endpoint,
      '--listen-peer-urls', peer,
      '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `${name}=${peer}`,
      '--initial-cluster-state', 'new',
      '--logger', 'zap',
      '--log-level', 'error',
      ...(tls ? ['--cert-file', tls.certFile, '--key-file', tls.keyFile, '--client-cert-auth', '--trusted-ca-file', tls.caFile] : []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  live.add(child);
  // Keep the tail of etcd's output for the error message; draining also keeps the pipe from filling.
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let gone = false;
  const exited = new Promise<void>((resolve) => {
    const done = (): void => {
      gone = true;
      live.delete(child);
      resolve();
    };
    child.once('exit', done);
    child.once('error', (err) => {
      output += `\nspawn ${bin}: ${err.message}`;
      done();
    });
  });
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (!stopped) {
      stopped = true;
      if (!gone) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
    }
    await rm(dataDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + readyTimeoutMs;
  while (!(await healthy(endpoint, tls))) {
    if (gone || Date.now() > deadline) {
      await stop();
      const why = gone ? 'exited' : `not healthy after ${readyTimeoutMs} ms`;
      throw new Error(`test etcd ${why} (${bin}, client ${endpoint}, peer ${peer}):\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { endpoint, clientPort, dataDir, pid: child.pid ?? -1, stop };
}

function healthy(endpoint: string, tls: TestEtcdTls | undefined): Promise<boolean> {
  const url = `${endpoint}/health`;
  return new Promise((resolve) => {
    const done = (res: IncomingMessage): void => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(/"health":\s*"?true/.test(body)));
      res.on('error', () => resolve(false));
    };
    const req = tls
      ? httpsGet(url, { ca: readFileSync(tls.caFile), cert: readFileSync(tls.clientCertFile), key: readFileSync(tls.clientKeyFile), servername: '', timeout: 1000 }, done)
      : httpGet(url, { timeout: 1000 }, done);
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}
