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
import { execFileSync } from 'node:child_process';
import { parseCidr, parseIPv4, formatIPv4 } from '../../native-free/addr.js';
import type { LeaseEvent } from '../registry/types.js';
import { addressOf, closeQuietly, libc, pollFd, sysError } from '../sys/libc.js';
import {
  AF_INET,
  AF_NETLINK,
  NETLINK_ROUTE,
  NLMSG_ERROR,
  NLMSG_HDRLEN,
  NLM_F_REQUEST,
  POLLIN,
  RTA_DST,
  RTA_GATEWAY,
  RTA_OIF,
  RTA_PREFSRC,
  RTMSG_SIZE,
  RTM_NEWROUTE,
  RTN_UNICAST,
  SOCKADDR_NL_SIZE,
  SOCK_CLOEXEC,
  SOCK_RAW,
} from '../sys/constants.js';
import { ifIndex } from '../sys/link.js';
import { deleteRoute, replaceRoute } from '../sys/netlink.js';

/** rtm_protocol of weft's direct routes ("W"; unassigned in iproute2's rt_protos). */
export const DIRECT_ROUTE_PROTOCOL = 87;

const RTM_GETROUTE = 26;

export interface RouteAnswer {
  /** rtm_type: 1 unicast, 2 local, ... */
  type: number;
  oif: number | null;
  gateway: string | null;
  prefsrc: string | null;
}

/**
 * The kernel's route to one IPv4 address (as `ip route get`), over rtnetlink in
 * the calling thread's network namespace. Throws the kernel's error (e.g.
 * ENETUNREACH) when there is none.
 */
export function routeGet(dst: string | number): RouteAnswer {
  const addr = typeof dst === 'number' ? dst : parseIPv4(dst);
  const seq = (Date.now() & 0x7fffffff) >>> 0;
  const req = new Uint8Array(NLMSG_HDRLEN + RTMSG_SIZE + 8);
  const v = new DataView(req.buffer);
  v.setUint32(0, req.length, true);
  v.setUint16(4, RTM_GETROUTE, true);
  v.setUint16(6, NLM_F_REQUEST, true);
  v.setUint32(8, seq, true);
  req[NLMSG_HDRLEN] = AF_INET;
  req[NLMSG_HDRLEN + 1] = 32; // rtm_dst_len
  v.setUint16(NLMSG_HDRLEN + RTMSG_SIZE, 8, true);
  v.setUint16(NLMSG_HDRLEN + RTMSG_SIZE + 2, RTA_DST, true);
  v.setUint32(NLMSG_HDRLEN + RTMSG_SIZE + 4, addr, false);
  const label = `netlink RTM_GETROUTE ${formatIPv4(addr)}`;

  const fd = libc.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) throw sysError('socket', 'socket AF_NETLINK NETLINK_ROUTE');
  try {
    const to = new Uint8Array(SOCKADDR_NL_SIZE);
    to[0] = AF_NETLINK;
    if (libc.sendto(fd, addressOf(req), req.length, 0, addressOf(to), to.length) < 0) throw sysError('sendto', label);
    const buf = new Uint8Array(8192);
    const deadline = Date.now() + 5000;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${label}: no answer from the kernel in 5 s`);
      if (pollFd(fd, POLLIN, left) === 0) continue;
      const n = libc.recvfrom(fd, addressOf(buf), buf.length, 0, 0, 0);
      if (n < 0) throw sysError('recvfrom', label);
      const r = new DataView(buf.buffer, 0, n);
      for (let off = 0; off + NLMSG_HDRLEN <= n; ) {
        const len = r.getUint32(off, true);
        if (len < NLMSG_HDRLEN || off + len > n) break;
        const type = r.getUint16(off + 4, true);
        if (r.getUint32(off + 8, true) === seq) {
          if (type === NLMSG_ERROR) {
            const errno = -r.getInt32(off + NLMSG_HDRLEN, true);
            if (errno !== 0) throw sysError('netlink', label, undefined, errno);
          } else if (type === RTM_NEWROUTE) {
            return parseRoute(buf, off + NLMSG_HDRLEN, off + len);
          }
        }
        off += (len + 3) & ~3;
      }
    }
  } finally {
    closeQuietly(fd);
  }
}

function parseRoute(buf: Uint8Array, start: number, end: number): RouteAnswer {
  const v = new DataView(buf.buffer);
  const out: RouteAnswer = { type: buf[start + 7]!, oif: null, gateway: null, prefsrc: null };
  for (let a = start + RTMSG_SIZE; a + 4 <= end; ) {
    const alen = v.getUint16(a, true);
    if (alen < 4) break;
    const t = v.getUint16(a + 2, true) & 0x3fff;
    if (alen >= 8) {
      if (t === RTA_OIF) out.oif = v.getUint32(a + 4, true);
      else if (t === RTA_GATEWAY) out.gateway = formatIPv4(v.getUint32(a + 4, false));
      else if (t === RTA_PREFSRC) out.prefsrc = formatIPv4(v.getUint32(a + 4, false));
    }
    a += (alen + 3) & ~3;
  }
  return out;
}

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
  backend: 'vxlan' | 'ipip';
  log: DirectLogger;
  /** Is this PublicIP reachable without a gateway out of iface? Default: the kernel's answer (routeGet). */
  isDirect?: (publicIp: string) => boolean;
  /** Route writers; default rtnetlink (src/sys/netlink.ts). */
  routes?: { replace: typeof replaceRoute; remove: typeof deleteRoute };
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

  constructor(private readonly opts: DirectRoutingOptions) {
    this.isDirect = opts.isDirect ?? ((ip) => kernelSaysDirect(ip, opts.iface));
    this.replace = opts.routes?.replace ?? replaceRoute;
    this.remove = opts.routes?.remove ?? deleteRoute;
  }

  get size(): number {
    return this.routes.size;
  }

  /** The direct routes weft holds now. */
  list(): { subnet: string; via: string; dev: string; since: string }[] {
    return [...this.routes].map(([subnet, r]) => ({ subnet, via: r.via, dev: this.opts.iface, since: r.since.toISOString() }));
  }

  /** Applies one batch of lease events; a failing lease is logged and skipped. */
  apply(batch: readonly LeaseEvent[]): void {
    for (const ev of batch) {
      const subnet = ev.lease.subnet;
      if (subnet === this.opts.self.subnet) continue;
      try {
        if (ev.type === 'removed') this.drop(subnet, 'lease removed');
        else this.upsert(subnet, ev.lease.attrs.PublicIP, ev.lease.attrs.BackendType || 'udp');
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
    let out: string;
    try {
      out = execFileSync('ip', ['-j', '-4', 'route', 'show', 'table', 'main', 'proto', String(DIRECT_ROUTE_PROTOCOL)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      this.opts.log.warn({ err: (e as Error).message }, 'could not list leftover direct routes');
      return 0;
    }
    let rows: Array<{ dst: string; gateway?: string; dev?: string }>;
    try {
      rows = JSON.parse(out.trim() || '[]') as typeof rows;
    } catch (e) {
      this.opts.log.warn({ err: (e as Error).message }, 'could not read the list of leftover direct routes');
      return 0;
    }
    let removed = 0;
    for (const r of rows) {
      const dst = r.dst.includes('/') ? r.dst : `${r.dst}/32`;
      if (this.routes.has(dst)) continue;
      const c = cidr4(dst);
      try {
        this.remove({ dst: c.addr, prefixLen: c.len, ...(r.gateway ? { gateway: r.gateway } : {}), ...(r.dev ? { dev: r.dev } : {}) });
        removed++;
        this.opts.log.info({ subnet: dst, via: r.gateway, dev: r.dev }, 'leftover direct route removed');
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
      // as flannel: a failed lookup means no direct route (the tunnel still works)
      this.opts.log.warn({ subnet, publicIp, err: (e as Error).message }, 'cannot tell whether the peer is on-link; using the tunnel');
      onLink = false;
    }
    if (!onLink) {
      // A node that moved off our link goes back to the tunnel.
      this.drop(subnet, `${publicIp} is not on-link`);
      return;
    }
    if (cur?.via === publicIp) return; // a renewal
    this.write(subnet, publicIp); // replaces the old one, if any, in one step
    this.routes.set(subnet, { via: publicIp, since: new Date() });
    this.opts.log.info({ subnet, via: publicIp, dev: this.opts.iface }, 'direct route added (DirectRouting: peer on-link, no tunnel)');
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

/** flannel's ip.DirectRouting, restricted to the underlay interface. */
export function kernelSaysDirect(publicIp: string, iface: string): boolean {
  const r = routeGet(publicIp);
  return r.type === RTN_UNICAST && r.gateway === null && r.oif === ifIndex(iface);
}
