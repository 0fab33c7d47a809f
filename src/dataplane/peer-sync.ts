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
import { backendOf, leaseBackendType, type BackendType } from '../backend/index.js';
import { parseCidr, parseIPv4, formatIPv4 } from '../../native-free/addr.js';
import { CapacityError } from '../../native-free/errors.js';
import type { LpmTable } from '../../native-free/table/lpm.js';
import type { PeerTable } from '../../native-free/table/peers.js';
import type { Lease, LeaseEvent } from '../registry/types.js';

export interface PeerInfo {
  subnet: string;
  publicIp: string;
  vtepMac: string | null;
  since: string;
}

export interface SyncLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

interface Route {
  peer: number;
  publicIp: number;
  mac: string | null;
  since: Date;
}

export class PeerSync {
  private readonly routes = new Map<string, Route>();
  private readonly refs = new Map<number, number>(); // peer id → routes using it
  /** Accepted leases that did not fit in the tables, by subnet, oldest first. */
  private readonly waiting = new Map<string, Lease>();
  /** Leases that found a table full (each counted once until it is installed or gone). */
  tableFull = 0;
  /** Peers publish a VTEP MAC and VNI (vxlan), which the peer table takes. */
  private readonly vtepPeers: boolean;

  constructor(
    private readonly routeTable: LpmTable,
    private readonly peerTable: PeerTable,
    private readonly self: { subnet: string },
    private readonly backend: BackendType,
    private readonly vni: number,
    private readonly log: SyncLogger,
  ) {
    this.vtepPeers = backendOf(backend).vtepPeers;
  }

  /** Applies one batch; a bad lease is logged and skipped, the rest still apply. */
  apply(batch: readonly LeaseEvent[]): void {
    // Removals first (the batch holds one event per subnet, as lease-admission.ts emits
    // it), then the leases already waiting for room, oldest first, then the new ones.
    for (const ev of batch) {
      if (ev.type !== 'removed' || ev.lease.subnet === this.self.subnet) continue;
      this.waiting.delete(ev.lease.subnet);
      this.remove(ev.lease.subnet);
    }
    const rewritten = new Set(batch.filter((ev) => ev.type === 'added').map((ev) => ev.lease.subnet));
    for (const lease of [...this.waiting.values()]) {
      if (rewritten.has(lease.subnet)) continue; // superseded below
      this.waiting.delete(lease.subnet);
      if (this.install(lease, false)) this.log.info({ subnet: lease.subnet }, 'peer subnet installed after room was made in the tables');
    }
    for (const ev of batch) {
      if (ev.type !== 'added' || ev.lease.subnet === this.self.subnet) continue;
      const queued = this.waiting.delete(ev.lease.subnet);
      this.install(ev.lease, !queued);
    }
  }

  /** Accepted leases not installed for lack of room in the route or peer table. */
  get pending(): number {
    return this.waiting.size;
  }

  /** Installs one lease, or queues it when a table is full; true when installed. */
  private install(lease: Lease, fresh: boolean): boolean {
    try {
      this.upsert(lease);
      return true;
    } catch (e) {
      if (!(e instanceof CapacityError)) {
        this.log.warn({ subnet: lease.subnet, err: (e as Error).message }, 'lease skipped');
        return false;
      }
      this.waiting.set(lease.subnet, lease);
      if (fresh) {
        this.tableFull++;
        this.log.warn({ subnet: lease.subnet, publicIp: lease.attrs.PublicIP, err: e.message }, 'lease not installed: table full (raise --table-capacity); not ready until it is');
      }
      return false;
    }
  }

  get size(): number {
    return this.refs.size;
  }

  /** Each peer subnet with the peer id its route points at. */
  routeEntries(): { subnet: string; peer: number }[] {
    return [...this.routes].map(([subnet, r]) => ({ subnet, peer: r.peer }));
  }

  list(): PeerInfo[] {
    return [...this.routes].map(([subnet, r]) => ({ subnet, publicIp: formatIPv4(r.publicIp), vtepMac: r.mac, since: r.since.toISOString() }));
  }

  private upsert(lease: Lease): void {
    const { publicIp, mac } = this.endpointOf(lease);
    const cur = this.routes.get(lease.subnet);
    if (cur && cur.publicIp === publicIp && cur.mac === mac) return; // a renewal
    const cidr = parseCidr(lease.subnet);
    if (cidr.family !== 4) throw new Error(`subnet ${lease.subnet} is not IPv4`);
    // Room first, so that nothing is half installed: a new route needs a free
    // prefix slot (a rewrite of a held subnet replaces its own), a new node a free peer id.
    const known = this.peerTable.findByUnderlay(publicIp);
    if (!cur && this.routeTable.size >= this.routeTable.capacity) throw new CapacityError(`route table is full (${this.routeTable.capacity} prefixes)`);
    if (known < 0 && this.peerTable.size >= this.peerTable.capacity) throw new CapacityError(`peer table is full (${this.peerTable.capacity} peers)`);
    const oldMac = known >= 0 ? this.peerTable.get(known)!.mac : null;
    const peer = this.peerFor(publicIp, mac);
    try {
      // Insert replaces the old route in one step: no window without a route.
      this.routeTable.insert(cidr.addr, cidr.len, peer);
    } catch (e) {
      // e.g. out of trie nodes: undo the peer, so no peer stays without its route.
      if (known < 0) this.peerTable.remove(peer);
      else if (oldMac) this.peerTable.update(known, { mac: oldMac });
      throw e;
    }
    if (known >= 0) for (const r of this.routes.values()) if (r.peer === known) r.mac = mac;
    this.refs.set(peer, (this.refs.get(peer) ?? 0) + 1);
    if (cur) this.release(cur.peer);
    this.routes.set(lease.subnet, { peer, publicIp, mac, since: new Date() });
    this.log.info({ subnet: lease.subnet, publicIp: lease.attrs.PublicIP, vtepMac: mac }, 'peer subnet added');
  }

  private remove(subnet: string): void {
    const r = this.routes.get(subnet);
    if (!r) return;
    const cidr = parseCidr(subnet);
    if (cidr.family === 4) this.routeTable.remove(cidr.addr, cidr.len);
    this.routes.delete(subnet);
    this.release(r.peer);
    this.log.info({ subnet }, 'peer subnet removed');
  }

  /** Drops one route's hold on a peer; the last one removes the peer. */
  private release(peer: number): void {
    const left = (this.refs.get(peer) ?? 1) - 1;
    if (left > 0) {
      this.refs.set(peer, left);
      return;
    }
    this.refs.delete(peer);
    this.peerTable.remove(peer);
  }

  /** The peer id for a node, created or updated (a restarted node may bring a new MAC). */
  private peerFor(publicIp: number, mac: string | null): number {
    const macBytes = mac ?? syntheticMac(publicIp);
    const id = this.peerTable.findByUnderlay(publicIp);
    if (id < 0) return this.peerTable.add(publicIp, macBytes);
    this.peerTable.update(id, { mac: macBytes });
    return id;
  }

  private endpointOf(lease: Lease): { publicIp: number; mac: string | null } {
    const publicIp = parseIPv4(lease.attrs.PublicIP);
    const type = leaseBackendType(lease.attrs);
    if (type !== this.backend) throw new Error(`lease backend "${type}" differs from this network's "${this.backend}"`);
    if (!this.vtepPeers) return { publicIp, mac: null };
    const data = lease.attrs.BackendData as { VNI?: unknown; VtepMAC?: unknown } | null | undefined;
    if (typeof data?.VtepMAC !== 'string') throw new Error('vxlan lease has no BackendData.VtepMAC');
    if (data.VNI !== undefined && data.VNI !== this.vni) throw new Error(`vxlan lease has VNI ${String(data.VNI)}, this network uses ${this.vni}`);
    return { publicIp, mac: data.VtepMAC.toLowerCase() };
  }
}

/** ipip and udp peers have no MAC; the peer table wants a unique one: 02:ff + the address. */
function syntheticMac(addr: number): Uint8Array {
  return Uint8Array.from([0x02, 0xff, addr >>> 24, (addr >>> 16) & 255, (addr >>> 8) & 255, addr & 255]);
}
