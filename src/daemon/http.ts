// /healthz (the process answers), /readyz (routes and subnet file in place, every worker running)
// and /metrics (Prometheus text) on --healthz-ip:--healthz-port; the same plus
// /status, /trace and /capture (the CLI's) on the local --status-socket only,
// for root or --status-group (local-access.ts).
//
// Everything a client sends is hostile: a request target that is no path, a
// method other than GET, headers over 8 KiB, a slow or half-sent request, bad
// query values — each gets a 4xx, is counted, and never throws out of here.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { LocalAccess, PrivateEndpoint } from './local-access.js';

export interface HealthSource {
  /** true when ready; false, or a string saying why, when not (the /readyz body). */
  ready(): boolean | string;
  metrics(): string;
  /** Optional JSON status for `weft status`. */
  status?(): unknown;
  /** Optional packet walk for `weft trace`; throws RangeError/WeftError on bad parameters. */
  trace?(query: URLSearchParams): unknown;
  /** Optional pcap stream for `weft capture`; throws (before writing) on bad parameters. */
  capture?(query: URLSearchParams, res: ServerResponse): void;
}

export type ListenerName = 'status' | 'healthz';

/** Counts of what the local listeners refused, for /metrics. */
export class HttpStats {
  /** Requests answered 4xx for their form (not for who sent them), by listener. */
  readonly malformed: Record<ListenerName, number> = { status: 0, healthz: 0 };
}

const MAX_HEADER_BYTES = 8 * 1024;
const MAX_TARGET = 2048;
/** A local client that has not sent its whole request head by then is cut off. */
const HEADERS_TIMEOUT_MS = 5_000;
const MAX_CONNECTIONS = 256;
/**
 * On the status socket, connections of clients that may not use the private
 * endpoints (not root, not --status-group) at once: a local user opening idle
 * connections cannot crowd root out.
 */
export const MAX_UNPRIVILEGED_CONNECTIONS = 16;

export interface HandlerOptions {
  listener: ListenerName;
  stats: HttpStats;
  /** The status socket's check; absent on the healthz port (which has no private endpoints). */
  access?: LocalAccess;
}

/**
 * An HTTP server for one local listener. `source()` is null until the data
 * plane is up (the listeners are bound before the host is touched): until then
 * /healthz answers, and everything else 503.
 */
export function createLocalServer(source: () => HealthSource | null, opts: HandlerOptions): Server {
  const server = createServer(
    // connectionsCheckingInterval: how often the two timeouts are checked (Node's default, 30 s, lets a slow client sit that long).
    { maxHeaderSize: MAX_HEADER_BYTES, headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: 10_000, connectionsCheckingInterval: 1_000 },
    handler(source, opts),
  );
  server.maxConnections = MAX_CONNECTIONS;
  const access = opts.access;
  if (access) {
    let unprivileged = 0;
    server.on('connection', (socket: Socket) => {
      if (access.check(socket).ok) return;
      if (unprivileged >= MAX_UNPRIVILEGED_CONNECTIONS) {
        access.crowded++;
        socket.destroy();
        return;
      }
      unprivileged++;
      socket.once('close', () => unprivileged--);
    });
  }
  server.keepAliveTimeout = 5_000;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    opts.stats.malformed[opts.listener]++;
    const code = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
    if (socket.writable && !socket.writableEnded) socket.end(`HTTP/1.1 ${code}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    else socket.destroy();
  });
  return server;
}

/** Path and query of an origin-form request target ("/status?x=1"), or null. */
export function parseTarget(raw: string | undefined): { path: string; query: URLSearchParams } | null {
  if (raw === undefined || raw.length === 0 || raw.length > MAX_TARGET || raw[0] !== '/') return null;
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  if (!/^[\x21-\x7e]*$/.test(path)) return null;
  return { path, query: new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)) };
}

function text(res: ServerResponse, code: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(code, { 'content-type': 'text/plain', ...headers }).end(body);
}

function handler(source: () => HealthSource | null, opts: HandlerOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const bad = (res: ServerResponse, code: number, body: string, headers?: Record<string, string>): void => {
    opts.stats.malformed[opts.listener]++;
    text(res, code, body, headers);
  };
  return (req, res) => {
    try {
      const target = parseTarget(req.url);
      if (target === null) return bad(res, 400, 'bad request target: give a path such as /healthz\n');
      if (req.method !== 'GET') return bad(res, 405, 'method not allowed\n', { allow: 'GET' });
      const { path, query } = target;
      if (path === '/healthz') return text(res, 200, 'ok\n');
      const src = source();
      const isPrivate = opts.access !== undefined && (path === '/status' || path === '/trace' || path === '/capture');
      if (isPrivate) {
        const endpoint = path.slice(1) as PrivateEndpoint;
        const v = opts.access!.check(req.socket);
        if (!v.ok) {
          opts.access!.count(endpoint);
          return text(res, 403, `forbidden: ${path} ${v.why}\n`);
        }
      }
      if (src === null) return text(res, 503, 'starting: the data plane is not up yet\n');
      if (path === '/readyz') {
        const r = src.ready();
        return text(res, r === true ? 200 : 503, r === true ? 'ready\n' : r === false ? 'not ready\n' : `not ready: ${r}\n`);
      }
      if (path === '/metrics') return text(res, 200, src.metrics(), { 'content-type': 'text/plain; version=0.0.4' });
      if (isPrivate && path === '/status' && src.status) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(src.status()));
        return;
      }
      if (isPrivate && path === '/capture' && src.capture) {
        try {
          return src.capture(query, res);
        } catch (e) {
          if (res.headersSent) throw e;
          return bad(res, 400, `${(e as Error).message}\n`);
        }
      }
      if (isPrivate && path === '/trace' && src.trace) {
        let body: string;
        try {
          body = JSON.stringify(src.trace(query));
        } catch (e) {
          return bad(res, 400, `${(e as Error).message}\n`);
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(body);
        return;
      }
      const more = opts.access ? ', /status, /trace or /capture' : '';
      return bad(res, 404, `not found: try /healthz, /readyz, /metrics${more}\n`);
    } catch (e) {
      // A bug, not a bad request: answered, never thrown into the event loop.
      if (!res.headersSent) text(res, 500, `internal error: ${(e as Error).message}\n`);
      else res.destroy();
    }
  };
}

/** "@name" (abstract, per network namespace, gone with the process) or a file path. */
export function socketAddress(name: string): string {
  return name.startsWith('@') ? `\0${name.slice(1)}` : name;
}
