// /healthz (the process answers), /readyz (routes and subnet file in place)
// and /metrics (Prometheus text), on --healthz-ip:--healthz-port.
import { createServer, type Server } from 'node:http';

export interface HealthSource {
  ready(): boolean;
  metrics(): string;
  /** Optional JSON status for `weft status`. */
  status?(): unknown;
}

export function startHealthServer(ip: string, port: number, src: HealthSource): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end('method not allowed\n');
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const ok = src.ready();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ready\n' : 'not ready\n');
    } else if (path === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(src.metrics());
    } else if (path === '/status' && src.status) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(src.status()));
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /healthz, /readyz or /metrics\n');
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', (e) => reject(new Error(`cannot serve health on ${ip}:${port}: ${(e as Error).message}`)));
    server.listen(port, ip, () => resolve(server));
  });
}
