// `weft status`: asks the daemon of this network namespace (over its status
// socket) for its lease, peers, counters and drops, and prints them.
import { backendOf, isBackendType } from '../backend/index.js';
import { request, type ClientRequest } from 'node:http';
import { parseArgs } from 'node:util';
import { socketAddress } from '../daemon/http.js';
import { untrustedServer } from '../daemon/local-access.js';
import { table } from './table.js';

export interface DaemonStatus {
  lease: { subnet: string; publicIp: string; expiration: string | null };
  backend: string;
  vni: number;
  port: number;
  vtepMac: string;
  mtu: number;
  ready: boolean;
  peers: { subnet: string; publicIp: string; vtepMac: string | null; since: string }[];
  /** A tunnel node (vxlan, ipip, udp): its TUN, offloads in effect (asked for and accepted by the kernel), workers, drops. */
  tun?: string;
  offload?: { tun: boolean; udpGso: boolean; udpGro: boolean };
  /** The outer UDP source ports flows leave from (--source-ports; [] or absent: all from `port`), and datagrams sent to them that the kernel dropped. */
  sourcePorts?: number[];
  sourcePortDrops?: number;
  workers?: { index: number; txPackets: number; txBytes: number; rxPackets: number; rxBytes: number }[];
  workerRestarts?: number;
  /** Of those, workers terminated for a stalled heartbeat (absent from older daemons). */
  workerStalls?: number;
  drops?: Record<string, number>;
  /** A host-gw node: its kernel routes, and the peers refused one (not on-link). */
  routes?: { subnet: string; via: string; dev: string; since: string }[];
  refused?: { subnet: string; publicIp: string; reason: string; detail: string; since: string }[];
}

export function fetchStatus(socket: string, timeoutMs = 3000): Promise<DaemonStatus> {
  return daemonGet<DaemonStatus>(socket, '/status', timeoutMs);
}

/** GET a JSON document from the daemon of this network namespace. */
export function daemonGet<T>(socket: string, path: string, timeoutMs = 3000): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socketAddress(socket), path, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(res.statusCode === 400 ? body.trim() : `the daemon answered ${res.statusCode}: ${body.trim()}`));
        try {
          resolve(JSON.parse(body) as T);
        } catch (e) {
          reject(new Error(`the daemon's answer to ${path} is not JSON: ${(e as Error).message}`));
        }
      });
    });
    guardDaemonSocket(req);
    req.on('timeout', () => req.destroy(new Error(`no answer on ${socket} within ${timeoutMs} ms`)));
    req.on('error', (e: NodeJS.ErrnoException) => {
      const why = e.code === 'ECONNREFUSED' || e.code === 'ENOENT' ? 'no weft daemon is running in this network namespace' : e.message;
      reject(new Error(`${why} (status socket ${socket}; run this where "weft run" runs, e.g. ip netns exec <node> weft status)`));
    });
    req.end();
  });
}

/** Refuses a status socket served by anyone but root (or this user): see untrustedServer. */
export function guardDaemonSocket(req: ClientRequest): void {
  req.once('socket', (sock) => {
    const check = (): void => {
      const why = untrustedServer(sock);
      if (why) req.destroy(new Error(why));
    };
    if (sock.connecting) sock.once('connect', check);
    else check();
  });
}

function offloads(o: NonNullable<DaemonStatus['offload']>): string {
  const on = (b: boolean) => (b ? 'on' : 'off');
  return `tun (TSO, checksum, GRO writes) ${on(o.tun)}, udp gso ${on(o.udpGso)}, udp gro ${on(o.udpGro)}`;
}

function sourcePorts(ports: number[], dropped: number): string {
  const sorted = [...ports].sort((a, b) => a - b);
  return `${ports.length} source ports by inner flow: ${sorted.join(' ')}${dropped > 0 ? ` (${dropped} datagrams sent to them dropped unread)` : ''}`;
}

export function formatStatus(s: DaemonStatus): string {
  // A daemon of another version may name a backend this one does not know: shown as it is.
  const backend = isBackendType(s.backend) ? backendOf(s.backend).describe({ vni: s.vni, port: s.port }) : String(s.backend);
  const state = s.ready ? 'ready' : 'NOT READY';
  const out = [
    `lease     ${s.lease.subnet} on ${s.lease.publicIp} (${backend})`,
    `expires   ${s.lease.expiration ?? 'never (a reservation, or a Kubernetes podCIDR)'}`,
    s.tun !== undefined ? `vtep mac  ${s.vtepMac}    mtu ${s.mtu}    tun ${s.tun}    ${state}` : `mtu       ${s.mtu}    no tunnel: the kernel forwards    ${state}`,
    ...(s.offload ? [`offloads  ${offloads(s.offload)}`] : []),
    ...(s.sourcePorts !== undefined && s.sourcePorts.length > 0 ? [`sports    ${sourcePorts(s.sourcePorts, s.sourcePortDrops ?? 0)}`] : []),
    '',
  ];
  if (s.routes !== undefined) {
    const refused = s.refused ?? [];
    out.push(
      `routes (${s.routes.length})`,
      s.routes.length === 0 ? '  none' : table(['SUBNET', 'VIA', 'DEV', 'SINCE'], s.routes.map((r) => [r.subnet, r.via, r.dev, r.since])),
      '',
      `refused (${refused.length})`,
      refused.length === 0 ? '  none' : table(['SUBNET', 'PUBLIC IP', 'REASON', 'DETAIL'], refused.map((r) => [r.subnet, r.publicIp, r.reason, r.detail])),
    );
    return out.join('\n');
  }
  const workers = s.workers ?? [];
  out.push(
    `peers (${s.peers.length})`,
    s.peers.length === 0 ? '  none' : table(['SUBNET', 'PUBLIC IP', 'VTEP MAC', 'SINCE'], s.peers.map((p) => [p.subnet, p.publicIp, p.vtepMac ?? '-', p.since])),
    '',
    `workers (${workers.length}, ${s.workerRestarts ?? 0} restarted${s.workerStalls ? `, ${s.workerStalls} of them stalled` : ''})`,
    table(['#', 'TX PACKETS', 'TX BYTES', 'RX PACKETS', 'RX BYTES'], workers.map((w) => [w.index, w.txPackets, w.txBytes, w.rxPackets, w.rxBytes])),
    '',
  );
  const drops = Object.entries(s.drops ?? {}).filter(([, n]) => n > 0);
  out.push('drops', drops.length === 0 ? '  none' : table(['REASON', 'PACKETS'], drops.map(([r, n]) => [r, n])));
  return out.join('\n');
}

export async function statusCommand(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { json: { type: 'boolean', default: false }, 'status-socket': { type: 'string', default: '@weft' }, help: { type: 'boolean', default: false } },
    }));
  } catch (e) {
    console.error(`weft status: ${(e as Error).message}`);
    return 2;
  }
  if (values.help) {
    console.log('usage: weft status [--json] [--status-socket @weft]\n\nShows the local daemon\'s lease, peers, per-worker counters and drops.');
    return 0;
  }
  try {
    const s = await fetchStatus(values['status-socket']!);
    console.log(values.json ? JSON.stringify(s, null, 2) : formatStatus(s));
    return 0;
  } catch (e) {
    console.error(`weft status: ${(e as Error).message}`);
    return 1;
  }
}
