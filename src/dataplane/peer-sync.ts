// Turns batches of lease events from the registry into route and peer table
// updates that workers see at once (the tables live in shared memory).
//
// A peer is a node, keyed by its underlay address; a node may hold more than
// one lease for a while (an old one not yet expired), so routes are per
// subnet and point at the node's peer id, which lives while any route does.
//
// It is fed accepted leases only (lease-admission.ts checks them first). A lease
// is installed whole or not at all: its route and its peer together, so a full
// table never leaves a peer without a route (a "known sender" with nowhere to
// send) or a route naming no peer. A lease that does not fit waits in `pending`
// (the daemon is not ready meanwhile) and is tried again after every batch.
//
// IPv6 (a node with EnableIPv6, given an IPv6 route table): a lease's
// IPv6Subnet gets a route in that table to the same peer id, and the peer its
// IPv6 underlay (PublicIPv6) and v6 VTEP MAC (BackendV6Data.VtepMAC), as
// flannel programs flannel-v6.1 next to flannel.1. An IPv6-only lease (no
// IPv4 subnet, PublicIP 0.0.0.0) is keyed by its IPv6 subnet and its node by
// its IPv6 underlay. A lease is keyed by its IPv4 subnet, else its IPv6 one.
import { backendOf, leaseBackendType, type BackendType } from '../backend/index.js';
import { parseCidr, parseIPv4, parseIPv6, formatIPv4 } from '../../native-free/addr.js';
import { CapacityError } from '../../native-free/errors.js';
import type { LpmTable } from '../../native-free/table/lpm.js';
import type { PeerTable } from '../../native-free/table/peers.js';
import type { Lease, LeaseEvent } from '../registry/types.js';

export interface PeerInfo {
  subnet: string;
  publicIp: string;
  vtepMac: string | null;
  since: string;
  /** With IPv6: the lease's IPv6 subnet and PublicIPv6, when it has them. */
  ipv6Subnet?: string;
  publicIpv6?: string;
}

export interface SyncLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** What one installed lease holds in the tables. */
interface Route {
  peer: number;
  /** The lease's IPv4 subnet ("" on an IPv6-only lease) and PublicIP (u32, 0 without). */
  subnet: string;
  publicIp: number;
  mac: string | null;
  /** Its IPv6 subnet, PublicIPv6 and v6 VTEP MAC, when this node carries IPv6 and the lease has them. */
  subnet6: string | null;
  publicIp6: string | null;
  mac6: string | null;
  since: Date;
}

/** What a lease asks the tables for. */
interface Endpoint {
  subnet: string;
  publicIp: number;
  mac: string | null;
  subnet6: string | null;
  publicIp6: string | null;
  mac6: string | null;
}

/** A lease's key: its IPv4 subnet, else (IPv6-only) its IPv6 subnet. */
export function leaseKey(lease: Lease): string {
  return lease.subnet !== '' ? lease.subnet : (lease.ipv6Subnet ?? '');
}

export class PeerSync {
  private readonly routes = new Map<string, Route>(); // lease key → what it holds
  private readonly refs = new Map<number, number>(); // peer id → leases using it
  /** Accepted leases that did not fit in the tables, by key, oldest first. */
  private readonly waiting = new Map<string, Lease>();
  /** Leases that found a table full (each counted once until it is installed or gone). */
  tableFull = 0;
  /** Peers publish a VTEP MAC and VNI (vxlan), which the peer table takes. */
  private readonly vtepPeers: boolean;
  private readonly selfKeys: Set<string>;

  constructor(
    private readonly routeTable: LpmTable,
    private readonly peerTable: PeerTable,
    self: { subnet: string; ipv6Subnet?: string | null },
    private readonly backend: BackendType,
    private readonly vni: number,
    private readonly log: SyncLogger,
    /** The IPv6 route table (EnableIPv6), or null: leases' IPv6 halves are ignored. */
    private readonly routeTable6: LpmTable | null = null,
  ) {
    this.vtepPeers = backendOf(backend).vtepPeers;
    this.selfKeys = new Set([self.subnet, self.ipv6Subnet ?? ''].filter((k) => k !== ''));
  }

  /** Applies one batch; a bad lease is logged and skipped, the rest still apply. */
  apply(batch: readonly LeaseEvent[]): void {
    // Removals first (the batch holds one event per subnet, as lease-admission.ts emits
    // it), then the leases already waiting for room, oldest first, then the new ones.
    for (const ev of batch) {
      const key = leaseKey(ev.lease);
      if (ev.type !== 'removed' || this.selfKeys.has(key)) continue;
      this.waiting.delete(key);
      this.remove(key);
    }
    const rewritten = new Set(batch.filter((ev) => ev.type === 'added').map((ev) => leaseKey(ev.lease)));
    for (const [key, lease] of [...this.waiting]) {
      if (rewritten.has(key)) continue; // superseded below
      this.waiting.delete(key);
      if (this.install(lease, false)) this.log.info({ subnet: key }, 'peer subnet installed after room was made in the tables');
    }
    for (const ev of batch) {
      const key = leaseKey(ev.lease);
      if (ev.type !== 'added' || this.selfKeys.has(key)) continue;
      const queued = this.waiting.delete(key);
      this.install(ev.lease, !queued);
    }
  }

  /** Accepted leases not installed for lack of room in the route or peer table. */
  get pending(): number {
    return this.waiting.size;
  }

  /** Installs one lease, or queues it when a table is full; true when installed. */
  private install(lease: Lease, fresh: boolean): boolean {
    const key = leaseKey(lease);
    try {
      this.upsert(key, lease);
      return true;
    } catch (e) {
      if (!(e instanceof CapacityError)) {
        this.log.warn({ subnet: key, err: (e as Error).message }, 'lease skipped');
        return false;
      }
      this.waiting.set(key, lease);
      if (fresh) {
        this.tableFull++;
        this.log.warn({ subnet: key, publicIp: lease.attrs.PublicIP, err: e.message }, 'lease not installed: table full (raise --table-capacity); not ready until it is');
      }
      return false;
    }
  }

  get size(): number {
    return this.refs.size;
  }

  /** Each peer subnet (IPv4 and IPv6) with the peer id its route points at. */
  routeEntries(): { subnet: string; peer: number }[] {
    const out: { subnet: string; peer: number }[] = [];
    for (const r of this.routes.values()) {
      if (r.subnet !== '') out.push({ subnet: r.subnet, peer: r.peer });
      if (r.subnet6 !== null) out.push({ subnet: r.subnet6, peer: r.peer });
    }
    return out;
  }

  list(): PeerInfo[] {
    return [...this.routes].map(([key, r]) => ({
      subnet: key,
      publicIp: formatIPv4(r.publicIp),
      vtepMac: r.mac ?? r.mac6,
      since: r.since.toISOString(),
      ...(r.subnet6 !== null ? { ipv6Subnet: r.subnet6 } : {}),
      ...(r.publicIp6 !== null ? { publicIpv6: r.publicIp6 } : {}),
    }));
  }

  private upsert(key: string, lease: Lease): void {
    const e = this.endpointOf(lease);
    const cur = this.routes.get(key);
    if (cur && cur.publicIp === e.publicIp && cur.mac === e.mac && cur.subnet6 === e.subnet6 && cur.publicIp6 === e.publicIp6 && cur.mac6 === e.mac6) return; // a renewal
    const cidr = e.subnet !== '' ? parseCidr(e.subnet) : null;
    if (cidr !== null && cidr.family !== 4) throw new Error(`subnet ${e.subnet} is not IPv4`);
    const cidr6 = e.subnet6 !== null ? parseCidr(e.subnet6) : null;
    if (cidr6 !== null && cidr6.family !== 6) throw new Error(`IPv6 subnet ${e.subnet6} is not IPv6`);
    const table6 = this.routeTable6;
    // Room first, so that nothing is half installed: a new route needs a free
    // prefix slot (a rewrite of a held subnet replaces its own), a new node a free peer id.
    const known = this.findPeer(e);
    if (cidr !== null && !cur?.subnet && this.routeTable.size >= this.routeTable.capacity) throw new CapacityError(`route table is full (${this.routeTable.capacity} prefixes)`);
    if (cidr6 !== null && table6 !== null && !cur?.subnet6 && table6.size >= table6.capacity) throw new CapacityError(`IPv6 route table is full (${table6.capacity} prefixes)`);
    if (known < 0 && this.peerTable.size >= this.peerTable.capacity) throw new CapacityError(`peer table is full (${this.peerTable.capacity} peers)`);
    const old = known >= 0 ? this.peerTable.get(known)! : null;
    const peer = this.peerFor(known, e);
    let inserted4 = false;
    try {
      // Insert replaces the old route in one step: no window without a route.
      if (cidr !== null) {
        this.routeTable.insert(cidr.addr, cidr.len, peer);
        inserted4 = true;
      }
      if (cidr6 !== null && table6 !== null) table6.insert(cidr6.addr, cidr6.len, peer);
    } catch (err) {
      // e.g. out of trie nodes: undo, so no peer stays without its route.
      if (inserted4 && cidr !== null && !cur?.subnet) this.routeTable.remove(cidr.addr, cidr.len);
      if (known < 0) this.peerTable.remove(peer);
      else if (old !== null) this.peerTable.update(known, { mac: old.mac });
      throw err;
    }
    // An IPv6 subnet the lease no longer carries (or a new one) loses its old route.
    if (cur?.subnet6 && cur.subnet6 !== e.subnet6 && table6 !== null) {
      const c6 = parseCidr(cur.subnet6);
      if (c6.family === 6) table6.remove(c6.addr, c6.len);
    }
    if (known >= 0) {
      for (const r of this.routes.values()) {
        if (r.peer !== known) continue;
        r.mac = e.mac;
        r.mac6 = e.mac6;
      }
    }
    this.refs.set(peer, (this.refs.get(peer) ?? 0) + 1);
    if (cur) this.release(cur.peer);
    this.routes.set(key, { peer, ...e, since: new Date() });
    this.log.info(
      { subnet: key, publicIp: lease.attrs.PublicIP, vtepMac: e.mac, ...(e.subnet6 !== null ? { ipv6Subnet: e.subnet6, publicIpv6: e.publicIp6 } : {}) },
      'peer subnet added',
    );
  }

  private remove(key: string): void {
    const r = this.routes.get(key);
    if (!r) return;
    if (r.subnet !== '') {
      const cidr = parseCidr(r.subnet);
      if (cidr.family === 4) this.routeTable.remove(cidr.addr, cidr.len);
    }
    if (r.subnet6 !== null && this.routeTable6 !== null) {
      const c6 = parseCidr(r.subnet6);
      if (c6.family === 6) this.routeTable6.remove(c6.addr, c6.len);
    }
    this.routes.delete(key);
    this.release(r.peer);
    this.log.info({ subnet: key }, 'peer subnet removed');
  }

  /** Drops one lease's hold on a peer; the last one removes the peer. */
  private release(peer: number): void {
    const left = (this.refs.get(peer) ?? 1) - 1;
    if (left > 0) {
      this.refs.set(peer, left);
      return;
    }
    this.refs.delete(peer);
    this.peerTable.remove(peer);
  }

  /** The node's peer id: by its IPv4 underlay, else (IPv6-only) its IPv6 one; -1 when new. */
  private findPeer(e: Endpoint): number {
    if (e.publicIp !== 0) return this.peerTable.findByUnderlay(e.publicIp);
    if (e.publicIp6 === null) return -1;
    const a = parseIPv6(e.publicIp6);
    return this.peerTable.findByUnderlay6(a, 0);
  }

  /** The peer id for a node, created or updated (a restarted node may bring a new MAC, or gain or lose IPv6). */
  private peerFor(id: number, e: Endpoint): number {
    const mac = e.mac ?? e.mac6 ?? syntheticMac(e.publicIp !== 0 ? e.publicIp : hash6(e.publicIp6!));
    const v6 = e.publicIp6 === null ? null : { underlay: e.publicIp6, mac: e.mac6 ?? mac };
    if (id < 0) return this.peerTable.add(e.publicIp, mac, 0, v6);
    this.peerTable.update(id, { mac, v6 });
    return id;
  }

  private endpointOf(lease: Lease): Endpoint {
    const type = leaseBackendType(lease.attrs);
    if (type !== this.backend) throw new Error(`lease backend "${type}" differs from this network's "${this.backend}"`);
    const subnet = lease.subnet;
    const publicIp = subnet !== '' ? parseIPv4(lease.attrs.PublicIP) : 0;
    const v6 = this.routeTable6 !== null && lease.ipv6Subnet !== undefined && lease.ipv6Subnet !== '' && typeof lease.attrs.PublicIPv6 === 'string';
    const subnet6 = v6 ? lease.ipv6Subnet! : null;
    const publicIp6 = v6 ? (lease.attrs.PublicIPv6 as string) : null;
    if (subnet === '' && subnet6 === null) throw new Error('lease has no IPv4 subnet and no IPv6 subnet this node carries');
    if (!this.vtepPeers) return { subnet, publicIp, mac: null, subnet6, publicIp6, mac6: null };
    const mac = subnet !== '' ? this.vtepMac(lease.attrs.BackendData, 'BackendData') : null;
    const mac6 = v6 ? this.vtepMac(lease.attrs.BackendV6Data, 'BackendV6Data') : null;
    return { subnet, publicIp, mac, subnet6, publicIp6, mac6 };
  }

  private vtepMac(d: unknown, what: string): string {
    const data = d as { VNI?: unknown; VtepMAC?: unknown } | null | undefined;
    if (typeof data?.VtepMAC !== 'string') throw new Error(`vxlan lease has no ${what}.VtepMAC`);
    if (data.VNI !== undefined && data.VNI !== this.vni) throw new Error(`vxlan lease has ${what}.VNI ${String(data.VNI)}, this network uses ${this.vni}`);
    return data.VtepMAC.toLowerCase();
  }
}

/** ipip and udp peers have no MAC; the peer table wants a unique one: 02:ff + the address. */
function syntheticMac(addr: number): Uint8Array {
  return Uint8Array.from([0x02, 0xff, addr >>> 24, (addr >>> 16) & 255, (addr >>> 8) & 255, addr & 255]);
}

/** An IPv6-only udp peer's synthetic MAC comes from its address's last 32 bits. */
function hash6(text: string): number {
  const b = parseIPv6(text);
  return ((b[12]! << 24) | (b[13]! << 16) | (b[14]! << 8) | b[15]!) >>> 0;
}
