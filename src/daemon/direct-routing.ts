// DirectRouting (Backend config `"DirectRouting": true`, vxlan and ipip), as
// flannel does it (pkg/backend/vxlan/vxlan_network.go handleSubnetEvents,
// pkg/backend/ipip/ipip.go GetRoute): a peer whose PublicIP the kernel reaches
// directly (flannel's ip.DirectRouting: the route to it has no gateway) gets a
// plain kernel route
//
//     <peer subnet> via <PublicIP> dev <underlay iface>
//
// and its pods' traffic bypasses weft entirely: the TUN's route covers the whole
// cluster Network, so the peer's /24 is more specific and wins. The peer's
// replies come back the same way (it has the mirror route), unencapsulated.
//
// Fed with the same lease event batches as PeerSync (call apply(batch) next to
// sync.apply(batch)); PeerSync still puts every peer in weft's own tables, which
// is harmless: the kernel no longer hands weft packets for a direct peer.
//
// The on-link test is the kernel's own: one RTM_GETROUTE for the PublicIP; the
// peer is direct when the answer is a unicast route with no gateway out of the
// underlay interface. (flannel asks the same question and does not check the
// interface; weft does, because it installs the route on that interface.)
// The routes carry rtm_protocol DIRECT_ROUTE_PROTOCOL, so removeStale() finds
// those a killed weft left behind.
//
// host-gw (mode 'every-peer', daemon/kernel-routes.ts) is the same routes for
// every peer, with no tunnel to fall back on: a peer that is not on-link (or
// whose route the kernel refuses) is refused, logged with the reason and
// counted (refusals()), and has no route until a lease that works replaces its
// lease. flannel writes the route anyway and logs the kernel's refusal; weft
// asks the kernel first, so the log says which gateway stands in the way.
import { parseCidr, parseIPv4 } from '../../native-free/addr.js';
import { leaseBackendType, type BackendType } from '../backend/index.js';
import type { LeaseEvent } from '../registry/types.js';
import { RT_TABLE_MAIN, RTN_UNICAST } from '../sys/constants.js';
import { ifIndex } from '../sys/link.js';
import { deleteRoute, listRoutes, replaceRoute, routeGet, type RouteEntry } from '../sys/netlink.js';

/** flannel's route check (routeCheckRetries, 10 s): every held route written again, so one deleted by hand comes back. */
export const ROUTE_CHECK_MS = 10_000;

/** rtm_protocol of weft's direct routes ("W"; unassigned in iproute2's rt_protos). */
export const DIRECT_ROUTE_PROTOCOL = 87;

/** The kernel's answer for one address (`ip route get`): sys/netlink.ts. */
export type RouteAnswer = RouteEntry;
export { routeGet };

export interface DirectLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface DirectRoutingOptions {
  /** The underlay interface the routes go out of. */
  iface: string;
  /** This node's lease subnet: its events are skipped. */
  self: { subnet: string };
  /** Leases of another backend are skipped, as flannel's vxlan backend skips them. */
  backend: BackendType;
  log: DirectLogger;
  /** Is this PublicIP reachable without a gateway out of iface? Default: the kernel's answer (routeGet). */
  isDirect?: (publicIp: string) => boolean;
  /** Route writers; default rtnetlink (src/sys/netlink.ts). */
  routes?: { replace: typeof replaceRoute; remove: typeof deleteRoute; list?: typeof listRoutes };
  /**
   * 'on-link-peers' (DirectRouting, the default): peers not on-link keep the tunnel.
   * 'every-peer' (host-gw): there is no tunnel; such a peer is refused.
   */
  mode?: 'on-link-peers' | 'every-peer';
}

/** Why host-gw gave a peer no route: a stable label of weft_host_gw_peers_refused_total. */
export const ROUTE_REFUSALS = ['not_on_link', 'lookup_failed', 'kernel_refused'] as const;
export type RouteRefusal = (typeof ROUTE_REFUSALS)[number];

interface Refused {
  publicIp: string;
  reason: RouteRefusal;
  detail: string;
  since: Date;
}

interface DirectRoute {
  via: string;
  since: Date;
}

export class DirectRoutes {
  private readonly routes = new Map<string, DirectRoute>(); // subnet → route
  private readonly isDirect: (publicIp: string) => boolean;
  private readonly replace: typeof replaceRoute;
  private readonly remove: typeof deleteRoute;
  private readonly list4: typeof listRoutes;
  private readonly everyPeer: boolean;
  private readonly offLink: (publicIp: string) => string;
  /** host-gw: peers with no route, and why (subnet → refusal). */
  private readonly refusedPeers = new Map<string, Refused>();
  private readonly refusalCounts = new Map<RouteRefusal, number>(ROUTE_REFUSALS.map((r) => [r, 0]));

  constructor(private readonly opts: DirectRoutingOptions) {
    this.everyPeer = opts.mode === 'every-peer';
    this.isDirect = opts.isDirect ?? ((ip) => kernelSaysDirect(ip, opts.iface));
    // The kernel's own words on why, when the kernel was asked.
    this.offLink = opts.isDirect ? (ip) => `${ip} is not on-link on ${opts.iface}` : (ip) => notOnLinkDetail(ip, opts.iface);
    this.replace = opts.routes?.replace ?? replaceRoute;
    this.remove = opts.routes?.remove ?? deleteRoute;
    this.list4 = opts.routes?.list ?? listRoutes;
  }

  get size(): number {
    return this.routes.size;
  }

  /** The direct routes weft holds now. */
  list(): { subnet: string; via: string; dev: string; since: string }[] {
    return [...this.routes].map(([subnet, r]) => ({ subnet, via: r.via, dev: this.opts.iface, since: r.since.toISOString() }));
  }

  /** host-gw: the peers refused a route now, with the reason. */
  refused(): { subnet: string; publicIp: string; reason: RouteRefusal; detail: string; since: string }[] {
    return [...this.refusedPeers].map(([subnet, r]) => ({ subnet, publicIp: r.publicIp, reason: r.reason, detail: r.detail, since: r.since.toISOString() }));
  }

  /** host-gw: how many times a peer was refused a route, by reason, since the start. */
  refusals(): Record<RouteRefusal, number> {
    return Object.fromEntries(this.refusalCounts) as Record<RouteRefusal, number>;
  }

  /** Applies one batch of lease events; a failing lease is logged and skipped. */
  apply(batch: readonly LeaseEvent[]): void {
    for (const ev of batch) {
      const subnet = ev.lease.subnet;
      if (subnet === this.opts.self.subnet) continue;
      try {
        if (ev.type === 'removed') {
          this.refusedPeers.delete(subnet);
          this.drop(subnet, 'lease removed');
        } else this.upsert(subnet, ev.lease.attrs.PublicIP, leaseBackendType(ev.lease.attrs));
      } catch (e) {
        this.opts.log.warn({ subnet, err: (e as Error).message }, 'direct route not changed');
      }
    }
  }

  /** Removes every direct route weft holds (on shutdown, as weft undoes what it adds). */
  removeAll(): void {
    for (const subnet of [...this.routes.keys()]) {
      try {
        this.drop(subnet, 'stopping');
      } catch (e) {
        this.opts.log.warn({ subnet, err: (e as Error).message }, 'could not remove direct route');
      }
    }
  }

  /** Writes every held route again (RTM_NEWROUTE replace): one deleted by hand comes back. */
  resync(): void {
    for (const [subnet, r] of this.routes) {
      try {
        this.write(subnet, r.via);
      } catch (e) {
        this.opts.log.warn({ subnet, via: r.via, err: (e as Error).message }, 'could not restore direct route');
      }
    }
  }

  /**
   * Deletes direct routes (our rtm_protocol) on the interface that no lease
   * backs: what a killed weft left. Call after the first batch (the snapshot).
   */
  removeStale(): number {
    let rows: RouteEntry[];
    try {
      rows = this.list4().filter((r) => r.table === RT_TABLE_MAIN && r.protocol === DIRECT_ROUTE_PROTOCOL);
    } catch (e) {
      this.opts.log.warn({ err: (e as Error).message }, 'could not list leftover direct routes');
      return 0;
    }
    let removed = 0;
    for (const r of rows) {
      const dst = `${r.dst}/${r.prefixLen}`;
      if (this.routes.has(dst)) continue;
      try {
        this.remove({ dst: r.dst, prefixLen: r.prefixLen, ...(r.gateway ? { gateway: r.gateway } : {}), ...(r.oif !== null ? { ifindex: r.oif } : {}) });
        removed++;
        this.opts.log.info({ subnet: dst, via: r.gateway, oif: r.oif }, 'leftover direct route removed');
      } catch (e) {
        this.opts.log.warn({ subnet: dst, err: (e as Error).message }, 'could not remove leftover direct route');
      }
    }
    return removed;
  }

  private upsert(subnet: string, publicIp: string, type: string): void {
    if (type !== this.opts.backend) {
      this.drop(subnet, `lease backend "${type}"`);
      return;
    }
    cidr4(subnet);
    parseIPv4(publicIp);
    const cur = this.routes.get(subnet);
    let onLink: boolean;
    try {
      onLink = this.isDirect(publicIp);
    } catch (e) {
      if (this.everyPeer) {
        this.refuse(subnet, publicIp, 'lookup_failed', `the kernel's route lookup for ${publicIp} failed: ${(e as Error).message}`);
        return;
      }
      // as flannel: a failed lookup means no direct route (the tunnel still works)
      this.opts.log.warn({ subnet, publicIp, err: (e as Error).message }, 'cannot tell whether the peer is on-link; using the tunnel');
      onLink = false;
    }
    if (!onLink) {
      if (this.everyPeer) {
        this.refuse(subnet, publicIp, 'not_on_link', this.offLink(publicIp));
        return;
      }
      // A node that moved off our link goes back to the tunnel.
      this.drop(subnet, `${publicIp} is not on-link`);
      return;
    }
    if (cur?.via === publicIp) return; // a renewal
    try {
      this.write(subnet, publicIp); // replaces the old one, if any, in one step
    } catch (e) {
      if (!this.everyPeer) throw e;
      this.refuse(subnet, publicIp, 'kernel_refused', `the kernel refused the route ${subnet} via ${publicIp} dev ${this.opts.iface}: ${(e as Error).message}`);
      return;
    }
    this.refusedPeers.delete(subnet);
    this.routes.set(subnet, { via: publicIp, since: new Date() });
    this.opts.log.info(
      { subnet, via: publicIp, dev: this.opts.iface },
      this.everyPeer ? 'route added (host-gw)' : 'direct route added (DirectRouting: peer on-link, no tunnel)',
    );
  }

  /**
   * host-gw: the peer gets no route (any route it had is removed, so its pods'
   * traffic is not sent to an address that no longer answers for them), counted
   * once per lease change, logged with the reason.
   */
  private refuse(subnet: string, publicIp: string, reason: RouteRefusal, detail: string): void {
    this.drop(subnet, detail);
    const was = this.refusedPeers.get(subnet);
    if (was?.publicIp === publicIp && was.reason === reason) return; // a renewal of a refused lease
    this.refusedPeers.set(subnet, { publicIp, reason, detail, since: new Date() });
    this.refusalCounts.set(reason, this.refusalCounts.get(reason)! + 1);
    this.opts.log.warn({ subnet, publicIp, reason, detail }, 'peer refused: host-gw needs every node on one L2 segment; no route to its pods');
  }

  private write(subnet: string, via: string): void {
    const cidr = cidr4(subnet);
    this.replace({ dst: cidr.addr, prefixLen: cidr.len, gateway: via, dev: this.opts.iface, protocol: DIRECT_ROUTE_PROTOCOL });
  }

  private drop(subnet: string, why: string): void {
    const r = this.routes.get(subnet);
    if (!r) return;
    this.routes.delete(subnet);
    const cidr = cidr4(subnet);
    try {
      this.remove({ dst: cidr.addr, prefixLen: cidr.len, gateway: r.via, dev: this.opts.iface });
    } catch (e) {
      // already gone (deleted by hand, or with the interface): nothing left to undo
      if ((e as { code?: string; errnoName?: string }).errnoName !== 'ESRCH') throw e;
    }
    this.opts.log.info({ subnet, via: r.via, why }, 'direct route removed');
  }
}

function cidr4(text: string): { addr: number; len: number } {
  const c = parseCidr(text);
  if (c.family !== 4) throw new Error(`subnet ${text} is not IPv4`);
  return { addr: c.addr, len: c.len };
}

/** What the kernel says of a PublicIP that is not on-link, for the log and `weft status`. */
function notOnLinkDetail(publicIp: string, iface: string): string {
  try {
    const r = routeGet(publicIp);
    if (r.gateway !== null) return `${publicIp} is reached through gateway ${r.gateway}, not on-link on ${iface}`;
    if (r.oif !== ifIndex(iface)) return `${publicIp} is reached out of another interface (index ${r.oif}), not ${iface}`;
    return `${publicIp} is not a unicast on-link address on ${iface} (route type ${r.type})`;
  } catch (e) {
    return `${publicIp} is not on-link on ${iface} (${(e as Error).message})`;
  }
}

/** flannel's ip.DirectRouting, restricted to the underlay interface. */
export function kernelSaysDirect(publicIp: string, iface: string): boolean {
  const r = routeGet(publicIp);
  return r.type === RTN_UNICAST && r.gateway === null && r.oif === ifIndex(iface);
}
