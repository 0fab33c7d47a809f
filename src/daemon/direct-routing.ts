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
//
// IPv6 (EnableIPv6, option ipv6): as flannel's route_network.go and
// vxlan_network.go do for their v6 routes, a peer lease's IPv6Subnet gets
//
//     <peer IPv6 subnet> via <PublicIPv6> dev <underlay iface>
//
// under the same rules (the kernel's on-link answer for the PublicIPv6, the
// same refusals). A lease is followed by all the subnets it carries: when a
// lease drops its IPv6 subnet (or a node turns IPv6 off), that route goes too.
import { parseCidr, parseIPv4, parseIPv6 } from '../../native-free/addr.js';
import { leaseBackendType, type BackendType } from '../backend/index.js';
import type { LeaseEvent } from '../registry/types.js';
import { RT_TABLE_MAIN, RTN_UNICAST } from '../sys/constants.js';
import { ifIndex } from '../sys/link.js';
import { deleteRoute, listRoutes, listRoutes6, replaceRoute, routeGet, type RouteEntry } from '../sys/netlink.js';

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
  /** This node's lease subnets: its events are skipped. */
  self: { subnet: string; ipv6Subnet?: string | null };
  /** EnableIPv6: peers' IPv6 subnets get routes via their PublicIPv6 too. Default false. */
  ipv6?: boolean;
  /** Leases of another backend are skipped, as flannel's vxlan backend skips them. */
  backend: BackendType;
  log: DirectLogger;
  /** Is this PublicIP reachable without a gateway out of iface? Default: the kernel's answer (routeGet). */
  isDirect?: (publicIp: string) => boolean;
  /** Route writers; default rtnetlink (src/sys/netlink.ts). */
  routes?: { replace: typeof replaceRoute; remove: typeof deleteRoute; list?: typeof listRoutes; list6?: typeof listRoutes6 };
  /**
   * 'on-link-peers' (DirectRouting, the default): peers not on-link keep the tunnel.
   * 'every-peer' (host-gw): there is no tunnel; such a peer is refused.
   */
  mode?: 'on-link-peers' | 'every-peer';
}

/** Why host-gw gave a peer no route: a stable label of weft_host_gw_peers_refused_total. */
export const ROUTE_REFUSALS = ['not_on_link', 'lookup_failed', 'kernel_refused', 'no_public_ip'] as const;
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
  private readonly routes = new Map<string, DirectRoute>(); // subnet (either family) → route
  /** Lease (its IPv4 subnet, or its IPv6 one on an IPv6-only lease) → the subnets it was last routed or refused for. */
  private readonly leases = new Map<string, string[]>();
  private readonly isDirect: (publicIp: string) => boolean;
  private readonly replace: typeof replaceRoute;
  private readonly remove: typeof deleteRoute;
  private readonly list4: typeof listRoutes;
  private readonly list6: typeof listRoutes6;
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
    this.list6 = opts.routes?.list6 ?? listRoutes6;
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
    const self = this.opts.self;
    for (const ev of batch) {
      const l = ev.lease;
      const v6 = this.opts.ipv6 === true && l.ipv6Subnet ? l.ipv6Subnet : null;
      const key = l.subnet !== '' ? l.subnet : (l.ipv6Subnet ?? '');
      if (key === '' || key === self.subnet || (self.ipv6Subnet && key === self.ipv6Subnet)) continue;
      // What the lease asks for now: its IPv4 subnet via PublicIP, its IPv6 one via PublicIPv6.
      const want: Array<[string, string]> = [];
      if (ev.type !== 'removed') {
        if (l.subnet !== '') want.push([l.subnet, l.attrs.PublicIP]);
        if (v6 !== null) want.push([v6, l.attrs.PublicIPv6 ?? '']);
      }
      // Subnets this lease no longer carries (removed, or its IPv6 subnet dropped) lose their route.
      for (const old of this.leases.get(key) ?? []) {
        if (want.some(([s]) => s === old)) continue;
        this.refusedPeers.delete(old);
        try {
          this.drop(old, ev.type === 'removed' ? 'lease removed' : 'no longer in the lease');
        } catch (e) {
          this.opts.log.warn({ subnet: old, err: (e as Error).message }, 'direct route not changed');
        }
      }
      if (want.length === 0) this.leases.delete(key);
      else this.leases.set(key, want.map(([s]) => s));
      for (const [subnet, via] of want) {
        try {
          this.upsert(subnet, via, leaseBackendType(l.attrs));
        } catch (e) {
          this.opts.log.warn({ subnet, err: (e as Error).message }, 'direct route not changed');
        }
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
      const all = this.opts.ipv6 === true ? [...this.list4(), ...this.list6()] : this.list4();
      rows = all.filter((r) => r.table === RT_TABLE_MAIN && r.protocol === DIRECT_ROUTE_PROTOCOL);
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
    const family = cidrOf(subnet).family;
    if (publicIp === '' || publicIp === '0.0.0.0') {
      // A dual-stack lease without a PublicIPv6 (or an IPv6-only one without a PublicIP): nothing to route via.
      if (this.everyPeer) this.refuse(subnet, publicIp, 'no_public_ip', `the lease has no ${family === 6 ? 'PublicIPv6' : 'PublicIP'} to route ${subnet} via`);
      else this.drop(subnet, `no ${family === 6 ? 'PublicIPv6' : 'PublicIP'} in the lease`);
      return;
    }
    if (family === 6) parseIPv6(publicIp);
    else parseIPv4(publicIp);
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
    const cidr = cidrOf(subnet);
    this.replace({ dst: cidr.addr, prefixLen: cidr.len, gateway: via, dev: this.opts.iface, protocol: DIRECT_ROUTE_PROTOCOL });
  }

  private drop(subnet: string, why: string): void {
    const r = this.routes.get(subnet);
    if (!r) return;
    this.routes.delete(subnet);
    const cidr = cidrOf(subnet);
    try {
      this.remove({ dst: cidr.addr, prefixLen: cidr.len, gateway: r.via, dev: this.opts.iface });
    } catch (e) {
      // already gone (deleted by hand, or with the interface): nothing left to undo
      if ((e as { code?: string; errnoName?: string }).errnoName !== 'ESRCH') throw e;
    }
    this.opts.log.info({ subnet, via: r.via, why }, 'direct route removed');
  }
}

/** A route destination of either family: IPv4 as u32, IPv6 as its 16 bytes. */
function cidrOf(text: string): { family: 4 | 6; addr: number | Uint8Array; len: number } {
  const c = parseCidr(text);
  return c.family === 4 ? { family: 4, addr: c.addr, len: c.len } : { family: 6, addr: c.addr, len: c.len };
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
