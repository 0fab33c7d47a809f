// The tunnel forwarder (vxlan, ipip, udp): the host programmed (host.ts: the
// TUN, its address and route, the underlay sockets bound in join()), the route
// and peer tables the workers read, the workers (dataplane/pool.ts), and
// DirectRouting's kernel routes for on-link peers. run.ts feeds it the admitted
// lease events; see forwarder.ts.
import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { formatIPv4, formatIPv6, ipv4Netmask, parseCidr, parseIPv4, parseIPv6, parseMac } from '../../native-free/addr.js';
import { WeftError } from '../../native-free/errors.js';
import { FAMILY_V4, FAMILY_V6 } from '../../native-free/family.js';
import { DROP_REASONS } from '../../native-free/drop.js';
import { LpmTable } from '../../native-free/table/lpm.js';
import { PeerTable } from '../../native-free/table/peers.js';
import { backendOf, type BackendConfig } from '../backend/index.js';
import { createCaptureState } from '../dataplane/capture-ring.js';
import { createCounters, DROPS, sumRows, WORKER_HEAP_USED, workerRow } from '../dataplane/counters.js';
import { PeerSync } from '../dataplane/peer-sync.js';
import { WorkerPool } from '../dataplane/pool.js';
import { ENCAP_LEAD } from '../dataplane/slab-layout.js';
import type { WorkerInit } from '../dataplane/worker-init.js';
import type { LeaseEvent } from '../registry/types.js';
import { CaptureService } from './capture.js';
import { DirectRoutes, ROUTE_CHECK_MS } from './direct-routing.js';
import type { Forwarder } from './forwarder.js';
import type { TableSnapshot } from './lease-metrics.js';
import type { RunFlags } from './flags.js';
import { Host, type UnderlaySockets } from './host.js';
import { receiveStats } from '../sys/deaf.js';
import { IpipHandover } from './ipip-handover.js';
import { renderMetrics } from './metrics.js';
import { trace, type TraceNode } from './trace.js';
import { trace6, type TraceNode6 } from './trace6.js';
import { parseTraceQuery } from './trace-query.js';

/** On stop, how long the workers go on draining their sockets after these left the port's selection. */
const QUIESCE_MS = 50;
const BATCH = 64;

/** The kernel's count of packets dropped at the TUN queue (not read in time), from sysfs. */
function tunDropped(tun: string): number | null {
  try {
    return Number(readFileSync(`/sys/class/net/${tun}/statistics/tx_dropped`, 'utf8'));
  } catch {
    return null;
  }
}

export interface TunnelOptions {
  flags: RunFlags;
  log: Logger;
  config: { Network: string; Backend: BackendConfig };
  /** This node's lease subnet, parsed. */
  subnet: { addr: number; len: number };
  network: { addr: number; len: number };
  underlay: { iface: string; address: string; mtu: number };
  mac: string;
  mtu: number;
  port: number;
  sockets: UnderlaySockets;
  /** EnableIPv6 (dual-stack), else null: see TunnelIpv6. */
  ipv6: TunnelIpv6 | null;
}

/** A dual-stack node's IPv6 side: flannel's flannel-v6.<VNI>, carried by the same TUN. */
export interface TunnelIpv6 {
  /** This node's IPv6 lease subnet, e.g. fd00:10:244:3::/64. */
  subnet: string;
  /** The cluster's IPv6Network, routed through the TUN. */
  network: string;
  /** The underlay interface's IPv6 address: the v6 sockets bind to it, the outer source. */
  address: string;
  /** Largest inner packet over the IPv6 underlay. */
  mtu: number;
}

export class Tunnel implements Forwarder {
  private readonly routes: LpmTable;
  private readonly routes6: LpmTable | null;
  private readonly peers: PeerTable;
  private readonly sync: PeerSync;
  private readonly direct: DirectRoutes | null;
  private readonly host: Host;
  private readonly pool: WorkerPool;
  private readonly handover: IpipHandover | null;
  private readonly counters: SharedArrayBuffer;
  private readonly inits: Omit<WorkerInit, 'control'>[];
  private readonly offload: { tun: boolean; udpGso: boolean; udpGro: boolean };
  private readonly traceNode: TraceNode;
  private readonly traceNode6: TraceNode6 | null;
  private readonly captureService: CaptureService;

  /** Programs the host (after the lease: a failed start before it changes nothing) and starts the workers, which forward after go(). */
  constructor(private readonly o: TunnelOptions) {
    const { flags, log, config, subnet, network, underlay } = o;
    const backend = config.Backend.Type;
    const spec = backendOf(backend);
    const vni = spec.vni(config.Backend);
    const subnetText = `${formatIPv4(subnet.addr)}/${subnet.len}`;
    const tunnelAddr = formatIPv4(subnet.addr);
    const v6 = o.ipv6;
    const subnet6 = v6 === null ? null : parseCidr(v6.subnet);
    const network6 = v6 === null ? null : parseCidr(v6.network);
    if (subnet6 !== null && (subnet6.family !== 6 || network6?.family !== 6)) throw new WeftError('ERR_WEFT_IPV6', `IPv6 subnet ${v6!.subnet} / network ${v6!.network} is not IPv6`);
    this.routes = LpmTable.create({ family: 4, capacity: flags.tableCapacity, shared: true });
    this.routes6 = v6 === null ? null : LpmTable.create({ family: 6, capacity: flags.tableCapacity, shared: true });
    this.peers = PeerTable.create({ capacity: flags.tableCapacity, shared: true });
    this.sync = new PeerSync(this.routes, this.peers, { subnet: subnetText, ipv6Subnet: v6?.subnet ?? null }, backend, vni, log, this.routes6);
    // DirectRouting (vxlan, ipip): on-link peers get a kernel route and bypass the tunnel.
    this.direct = spec.directRouting(config.Backend)
      ? new DirectRoutes({ iface: underlay.iface, self: { subnet: subnetText, ipv6Subnet: v6?.subnet ?? null }, ipv6: v6 !== null, backend, log })
      : null;

    this.host = Host.apply(
      {
        tunName: flags.tunName,
        queues: flags.workers,
        mtu: o.mtu,
        tunnelAddr,
        network: { addr: formatIPv4(network.addr), len: network.len },
        v6:
          v6 === null
            ? null
            : { tunnelAddr: formatIPv6(subnet6!.addr as Uint8Array), network: { addr: formatIPv6(network6!.addr as Uint8Array), len: network6!.len } },
        underlay: spec.underlay,
        bindAddr: underlay.address,
        bindAddr6: v6?.address ?? null,
        port: o.port,
        tunOffload: flags.offload.tun,
      },
      o.sockets,
    );
    const host = this.host;
    log.info({ tun: host.tun.name, queues: flags.workers, mtu: o.mtu, tunnelAddr, network: config.Network, tunFound: host.tunFound }, 'host programmed');
    if (host.tunFormatFollowed !== null) log.warn(host.tunFormatFollowed);
    this.offload = { tun: host.tunOffload, udpGso: o.sockets.udpGso, udpGro: o.sockets.udpGro };
    if (host.tunOffloadRefused !== null) log.warn({ reason: host.tunOffloadRefused }, 'the kernel refused TUN offloads: running without them');
    if (flags.offload.udpGso && spec.underlay === 'udp' && !this.offload.udpGso) log.warn('the kernel has no UDP_SEGMENT: one send per datagram');
    if (flags.offload.udpGro && spec.underlay === 'udp' && !this.offload.udpGro) log.warn('the kernel has no UDP_GRO: one datagram per receive');
    log.info({ offload: this.offload }, 'offloads');

    this.counters = createCounters(flags.workers);
    const capture = createCaptureState(flags.workers);
    const slotSize = ENCAP_LEAD + Math.ceil(Math.max(underlay.mtu, o.mtu + spec.overhead) / 64) * 64;
    this.inits = host.tun.fds.map((tunFd, index) => ({
      index,
      backend,
      tunFd,
      txFd: host.txFds[index]!,
      rxFd: host.rxFds[index]!,
      sendFds: host.sendFds,
      sendPorts: host.sendPorts,
      localUnderlay: parseIPv4(underlay.address),
      localMac: Array.from(parseMac(o.mac)),
      tunnelAddr: subnet.addr,
      vni,
      port: o.port,
      mtu: o.mtu,
      acceptUnknownPeers: flags.acceptUnknownPeers,
      spoofCheck: flags.spoofCheck ? { subnet: subnet.addr, mask: ipv4Netmask(subnet.len) } : null,
      routes: this.routes.state(),
      innerFamilies: FAMILY_V4 | (v6 !== null ? FAMILY_V6 : 0),
      ipv6:
        v6 === null
          ? null
          : {
              fd: host.fds6[index]!,
              localUnderlay: Array.from(parseIPv6(v6.address)),
              tunnelAddr: Array.from(subnet6!.addr as Uint8Array),
              mtu: v6.mtu,
              routes: this.routes6!.state(),
              spoofCheck: flags.spoofCheck ? { subnet: Array.from(subnet6!.addr as Uint8Array), prefix: subnet6!.len } : null,
            },
      peers: this.peers.state(),
      counters: this.counters,
      captureControl: capture.control,
      captureRing: capture.rings[index]!,
      batch: BATCH,
      slotSize,
      offload: this.offload,
    }));
    // The workers boot now and forward once the tables hold the registry's snapshot
    // (go()): beside a running weft, this one's queues and sockets take
    // traffic only from then on (host.ts, worker.ts).
    // Fault injection for tests of the pool's recovery only (an environment variable, so
    // nothing from the network reaches it): SIGUSR2 kills worker 0 as a crash would, SIGURG makes it spin.
    const faultInjection = process.env['WEFT_FAULT_INJECTION'] === '1';
    const pool = new WorkerPool(this.inits, log, { faultInjection });
    this.pool = pool;
    pool.start();
    // ipip: receive only while no other weft on the node does (a rolling update).
    this.handover = spec.underlay === 'ip-in-ip' ? new IpipHandover(flags.stateDir, host.rxFds[0]!, log) : null;
    if (faultInjection) {
      process.on('SIGUSR2', () => {
        log.warn({ worker: 0 }, 'fault injection: terminating a data-plane worker');
        void pool.kill(0);
      });
      process.on('SIGURG', () => {
        log.warn({ worker: 0 }, 'fault injection: making a data-plane worker hang');
        pool.hang(0);
      });
    }

    this.traceNode = {
      backend,
      config: {
        localUnderlay: parseIPv4(underlay.address),
        localMac: parseMac(o.mac),
        vni,
        port: o.port,
        mtu: o.mtu,
        outerHeaders: true,
        udpChecksum: true,
        ttl: 64,
      },
      network,
      subnet,
      tun: host.tun.name,
      routes: this.routes,
      peers: this.peers,
      peerSubnets: () => this.sync.routeEntries(),
      sourcePorts: host.sendPorts,
    };
    this.traceNode6 =
      v6 === null
        ? null
        : {
            backend,
            config: { ...this.traceNode.config, localUnderlay6: parseIPv6(v6.address), mtu6: v6.mtu },
            subnet: v6.subnet,
            network: v6.network,
            tun: host.tun.name,
            routes6: this.routes6!,
            peers: this.peers,
            peerSubnets: () => this.sync.routeEntries(),
          };
    this.captureService = new CaptureService(capture);
  }

  get peerCount(): number {
    return this.sync.size;
  }

  apply(events: readonly LeaseEvent[]): void {
    this.sync.apply(events);
    this.direct?.apply(events);
  }

  go(): void {
    this.pool.go();
    this.handover?.start();
  }

  settled(signal: AbortSignal): void {
    const direct = this.direct;
    if (!direct) return;
    direct.removeStale(); // what a killed weft left behind
    const timer = setInterval(() => direct.resync(), ROUTE_CHECK_MS);
    timer.unref();
    signal.addEventListener('abort', () => clearInterval(timer), { once: true });
  }

  notReady(): string | null {
    const pending = this.sync.pending;
    return (
      this.pool.notReady() ??
      (pending > 0 ? `${pending} accepted lease(s) wait for room in the route and peer tables (--table-capacity ${this.o.flags.tableCapacity})` : null)
    );
  }

  async stop(): Promise<void> {
    // A weft started beside this one (a rolling update) takes the underlay
    // traffic from here on; the workers drain what is queued, then detach their
    // TUN queues as they stop (worker.ts), so the kernel steers flows to it.
    this.host.quiesce();
    this.handover?.release();
    await new Promise((r) => setTimeout(r, QUIESCE_MS));
    await this.pool.stop();
    this.host.teardown();
  }

  status(): Record<string, unknown> {
    const counters = this.counters;
    return {
      tun: this.host.tun.name,
      offload: this.offload,
      // Source-port entropy: the ports datagrams leave from (one per inner flow); [] when off (all from `port`).
      sourcePorts: this.host.sendPorts,
      sourcePortDrops: this.sendPortDrops(),
      peers: this.sync.list(),
      workers: this.inits.map((_, i) => {
        const row = workerRow(counters, i);
        return { index: i, txPackets: row[0], txBytes: row[1], rxPackets: row[2], rxBytes: row[3] };
      }),
      workerRestarts: this.pool.restarts,
      workerStalls: this.pool.stalls,
      drops: Object.fromEntries(DROP_REASONS.slice(1).map((r, i) => [r, sumRows(counters)[DROPS + i + 1]])),
    };
  }

  /** What arrived at the send-only ports, summed: the kernel's drop count of each socket (its filter drops everything). */
  private sendPortDrops(): number {
    let n = 0;
    for (const fd of this.host.sendFds) {
      try {
        n += receiveStats(fd).drops;
      } catch {
        // a socket closed by teardown while a scrape runs: nothing to add
      }
    }
    return n;
  }

  workerHeapUsed(): number {
    return sumRows(this.counters)[WORKER_HEAP_USED]!;
  }

  metrics(): string {
    const totals = sumRows(this.counters);
    const pool = this.pool;
    return (
      renderMetrics({
        backend: this.o.config.Backend.Type,
        totals,
        peers: this.sync.size,
        workers: pool.running,
        workerRestarts: pool.restarts,
        workerStalls: pool.stalls,
        tunDropped: tunDropped(this.host.tun.name),
        ...(this.host.plan.underlay === 'udp' ? { sourcePorts: { sockets: this.host.sendFds.length, dropped: this.sendPortDrops() } } : {}),
      }) + this.captureService.metrics()
    );
  }

  tables(): TableSnapshot {
    return {
      routes: { entries: this.routes.size, capacity: this.routes.capacity },
      peers: { entries: this.peers.size, capacity: this.peers.capacity },
      tableFull: this.sync.tableFull,
      pending: this.sync.pending,
    };
  }

  trace(q: URLSearchParams): unknown {
    const req = parseTraceQuery(q);
    if (!req.src.includes(':')) return trace(this.traceNode, req);
    if (this.traceNode6 === null) throw new WeftError('ERR_WEFT_NO_IPV6', 'this node carries IPv4 only (the network config has no "EnableIPv6": true): nothing to trace for IPv6');
    return trace6(this.traceNode6, req);
  }

  capture(q: URLSearchParams, res: ServerResponse): void {
    this.captureService.handle(q, res);
  }
}
