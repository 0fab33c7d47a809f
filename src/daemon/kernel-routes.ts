// The host-gw forwarder (flannel's RouteNetwork, pkg/backend/route_network.go):
// no TUN, no socket, no worker. Each admitted peer lease becomes a kernel route
//
//     <peer subnet> via <PublicIP> dev <underlay iface>
//     <peer IPv6 subnet> via <PublicIPv6> dev <underlay iface>    (EnableIPv6)
//
// (direct-routing.ts in mode 'every-peer'), removed when the lease goes; a peer
// that is not on-link is refused with the reason and counted. Every 10 s the
// routes are written again, as flannel's routeCheck does, so one deleted by
// hand comes back. On stop the routes stay (as flanneld leaves them): pods keep
// their traffic while weft restarts, and the next weft's snapshot sweeps out
// the routes of leases that went meanwhile (removeStale).
import { WeftError } from '../../native-free/errors.js';
import { metric } from './metrics.js';
import { DirectRoutes, ROUTE_CHECK_MS, ROUTE_REFUSALS, type DirectLogger } from './direct-routing.js';
import type { Forwarder } from './forwarder.js';
import type { LeaseEvent } from '../registry/types.js';

export interface KernelRoutesOptions {
  iface: string;
  /** This node's lease subnet ("" on an IPv6-only lease). */
  subnet: string;
  /** EnableIPv6: this node's IPv6 subnet; peers' IPv6 subnets get routes via their PublicIPv6. null: IPv4 only. */
  ipv6Subnet: string | null;
  log: DirectLogger;
}

export class KernelRoutes implements Forwarder {
  private readonly routes: DirectRoutes;

  constructor(private readonly o: KernelRoutesOptions) {
    this.routes = new DirectRoutes({
      iface: o.iface,
      self: { subnet: o.subnet, ipv6Subnet: o.ipv6Subnet },
      ipv6: o.ipv6Subnet !== null,
      backend: 'host-gw',
      log: o.log,
      mode: 'every-peer',
    });
  }

  get peerCount(): number {
    return this.routes.size;
  }

  apply(events: readonly LeaseEvent[]): void {
    this.routes.apply(events);
  }

  /** The kernel forwards as soon as a route is in. */
  go(): void {}

  settled(signal: AbortSignal): void {
    this.routes.removeStale();
    const timer = setInterval(() => this.routes.resync(), ROUTE_CHECK_MS);
    timer.unref();
    signal.addEventListener('abort', () => clearInterval(timer), { once: true });
  }

  notReady(): null {
    return null;
  }

  async stop(): Promise<void> {}

  status(): Record<string, unknown> {
    return {
      peers: this.routes.list().map((r) => ({ subnet: r.subnet, publicIp: r.via, vtepMac: null, since: r.since })),
      routes: this.routes.list(),
      refused: this.routes.refused(),
    };
  }

  metrics(): string {
    const n = this.routes.refusals();
    return (
      [
        metric('weft_host_gw_routes', 'gauge', 'Peer subnets with a host-gw kernel route.', [['', this.routes.size]]),
        metric('weft_host_gw_peers_refused', 'gauge', 'Peers refused a host-gw route now (not on-link, or the kernel refused it).', [['', this.routes.refused().length]]),
        metric('weft_host_gw_peers_refused_total', 'counter', 'Times a peer lease was refused a host-gw route, by reason.', ROUTE_REFUSALS.map((r) => [`{reason="${r}"}`, n[r]])),
      ].join('\n') + '\n'
    );
  }

  tables(): null {
    return null;
  }

  workerHeapUsed(): null {
    return null;
  }

  trace(): never {
    throw new WeftError('ERR_WEFT_NO_TUNNEL', `host-gw: weft forwards no packet of this node; the kernel does, by its routes (ip route get <pod address>, on ${this.o.iface})`);
  }

  capture(): never {
    throw new WeftError('ERR_WEFT_NO_TUNNEL', `host-gw: no packet passes through weft on this node; capture on ${this.o.iface} (tcpdump -i ${this.o.iface})`);
  }
}
