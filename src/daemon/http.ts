// /healthz (the process answers), /readyz (routes and subnet file in place, every worker running)
// and /metrics (Prometheus text) on --healthz-ip:--healthz-port; the same plus
// /status, /trace and /capture (the CLI's) on the local --status-socket only.
import { mkdirSync, rmSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { dirname } from 'node:path';

export interface HealthSource {
  /** true when ready; false, or a string saying why, when not (the /readyz body). */
  ready(): boolean | string;
  metrics(): string;
  /** Optional JSON status for `weft status`. */
  status?(): unknown;
  /** Optional packet walk for `weft trace`; throws RangeError/WeftError on bad parameters. */
  trace?(query: URLSearchParams): unknown;
  /** Optional pcap stream for `weft capture`. */
  capture?(query: URLSearchParams, res: ServerResponse): void;
}

export function startHealthServer(ip: string, port: number, src: HealthSource): Promise<Server> {
  // The TCP listener may face the network: probes and metrics only. Status,
  // trace and capture (which streams pod traffic) stay on the local socket.
  const server = createServer(handler({ ready: src.ready, metrics: src.metrics }));
  return new Promise((resolve, reject) => {
    server.once('error', (e) => reject(new Error(`cannot serve health on ${ip}:${port}: ${(e as Error).message}`)));
    server.listen(port, ip, () => resolve(server));
  });
}

/** True when something accepts connections on the unix socket. */
function socketInUse(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

/** "@name" (abstract, per network namespace, gone with the process) or a file path. */
export function socketAddress(name: string): string {
  return name.startsWith('@') ? `\0${name.slice(1)}` : name;
}

/**
 * Serves the same endpoints on a unix socket. The default is abstract: each
 * network namespace has its own (one weft per namespace, as in a lab) and a
 * killed daemon leaves no file behind. A file socket left by a killed daemon is
 * replaced; a live one means another weft runs here.
 */
export async function startStatusSocket(name: string, src: HealthSource): Promise<Server> {
  const path = socketAddress(name);
  if (await socketInUse(path)) {
    throw new Error(`another weft is answering on ${name}: stop it, or give this one its own --status-socket`);
  }
  const file = !name.startsWith('@');
  if (file) {
    mkdirSync(dirname(path), { recursive: true });
    rmSync(path, { force: true });
  }
  const server = createServer(handler(src));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new Error(`cannot serve status on ${name}: ${(e as Error).message}`)));
    server.listen({ path }, () => resolve());
  });
  if (file) server.once('close', () => rmSync(path, { force: true }));
  return server;
}

function handler(src: HealthSource): Parameters<typeof createServer>[1] {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://weft');
    const path = url.pathname;
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end('method not allowed\n');
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const r = src.ready();
      res.writeHead(r === true ? 200 : 503, { 'content-type': 'text/plain' }).end(r === true ? 'ready\n' : r === false ? 'not ready\n' : `not ready: ${r}\n`);
    } else if (path === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(src.metrics());
    } else if (path === '/status' && src.status) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(src.status()));
    } else if (path === '/capture' && src.capture) {
      src.capture(url.searchParams, res);
    } else if (path === '/trace' && src.trace) {
      try {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(src.trace(url.searchParams)));
      } catch (e) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end(`${(e as Error).message}\n`);
      }
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /healthz, /readyz, /metrics or /status\n');
    }
  };
}
