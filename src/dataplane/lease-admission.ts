// Which leases from the registry may reach the route table, the peer table and
// DirectRouting's kernel routes. Every registry (etcd, the file, kube node
// annotations) is written by every node, so a lease is hostile until checked:
// `0.0.0.0/0` would capture all traffic, a subnet inside ours would steal our
// pods' replies, another node's PublicIP with a new MAC would rewrite that
// node's VTEP MAC for all its routes, and with DirectRouting any of these
// becomes a route in the host's main table.
//
// A peer lease is accepted only when
//   - its subnet is IPv4, inside Network, exactly /SubnetLen long
//     (kube mode: the length of this node's podCIDR, which the controller
//     manager hands every node alike),
//   - it overlaps neither this node's subnet nor another accepted lease,
//   - its backend and VNI are this network's,
//   - its PublicIP is a unicast address (not 0/8, 127/8, 169.254/16, multicast,
//     240/4 or broadcast: registry/ipv4.ts isUnicastIPv4), not inside Network (a tunnel endpoint inside the overlay
//     loops), not this node's, not another accepted lease's (one PublicIP,
//     one lease, one MAC),
//   - (vxlan) its VtepMAC is a unicast, non-zero MAC, not ours, not another
//     accepted lease's.
//
// With EnableIPv6 (issue 13) every lease also carries an IPv6 subnet, a
// PublicIPv6 and (vxlan) BackendV6Data {VNI, VtepMAC} for the IPv6 tunnel, as
// flannel writes them (pkg/lease/lease.go, pkg/backend/vxlan/vxlan.go
// newSubnetAttrs), and the same rules hold for them:
//   - its IPv6 subnet is canonical (RFC 5952, no host bits), inside
//     IPv6Network, exactly /IPv6SubnetLen, overlapping neither ours nor an
//     accepted lease's,
//   - its PublicIPv6 is global unicast (2000::/3) or unique-local (fc00::/7),
//     not inside IPv6Network, not ours, not another accepted lease's,
//   - (vxlan) BackendV6Data's VNI is the network's and its VtepMAC a unicast
//     MAC, not ours (our IPv6 VTEP's), not another accepted lease's IPv6 VTEP's.
// On an IPv6-only network (EnableIPv4 false) the IPv4 half is not checked: a
// lease must carry no IPv4 subnet (flannel's key "0.0.0.0-0&…", subnet "" here)
// and its PublicIP (0.0.0.0) and BackendData are ignored.
//
// First accepted wins: a lease that conflicts with an accepted one is rejected
// and never displaces it. When an accepted lease is deleted from the registry
// (its node is gone), the rejected leases that conflicted with it are
// evaluated again, in the order they first appeared (a node re-registered in
// kube under a new name gets in once the old Node is deleted; kube annotations
// are never renewed, so nothing else would bring it back). A rewrite of an
// accepted lease does not do that: its node still exists (restarted with a new
// MAC, or its lease tampered with), and a conflicting lease written beforehand
// must not slip into its place, e.g. one carrying its MAC, which would then lock
// the node out when it comes back with that MAC. A rejected lease is evaluated
// afresh whenever it is itself rewritten. A rewrite of an accepted lease into
// something that fails the checks withdraws it (the registry no longer backs
// the old value).
//
// A rejection is counted once per lease value (a renewal of a rejected lease
// does not count again) and logged once per (lease key, reason).
//
// This node's own lease is not a peer: admit() reports whether someone else
// removed or changed it (anything but our own renewal: the same PublicIP,
// backend, MAC and VNI), and the daemon stops on that (run.ts).
import { backendOf, leaseBackendType, type BackendType } from '../backend/index.js';
import { formatIPv4 } from '../../native-free/addr.js';
import { contains, isUnicastIPv4, overlaps, parseCidr4, parseIPv4, type Cidr4 } from '../registry/ipv4.js';
import { canonicalCidr6, contains6, formatIPv6, isUnicastIPv6, overlaps6, parseCidr6, parseIPv6, type Cidr6 } from '../registry/ipv6.js';
import { leaseIdentity } from '../registry/registry.js';
import type { Lease, LeaseEvent } from '../registry/types.js';

/** Why a lease was refused: a stable contract (metric label, log field). Append only. */
export const LEASE_REJECT_REASONS = [
  'bad_subnet',
  'outside_network',
  'wrong_prefix_len',
  'overlaps_self',
  'overlaps_peer',
  'backend_mismatch',
  'vni_mismatch',
  'bad_public_ip',
  'public_ip_in_network',
  'own_public_ip',
  'public_ip_taken',
  'bad_mac',
  'own_mac',
  'mac_taken',
  // IPv6 (issue 13): the same checks on the IPv6 half of a lease.
  'bad_ipv6_subnet',
  'ipv6_outside_network',
  'ipv6_wrong_prefix_len',
  'ipv6_overlaps_self',
  'ipv6_overlaps_peer',
  'bad_public_ipv6',
  'public_ipv6_in_network',
  'own_public_ipv6',
  'public_ipv6_taken',
  'v6_vni_mismatch',
  'bad_v6_mac',
  'own_v6_mac',
  'v6_mac_taken',
] as const;
export type LeaseRejectReason = (typeof LEASE_REJECT_REASONS)[number];

/** Reasons that depend on other accepted leases: these are evaluated again when one goes away. */
const CONFLICTS: ReadonlySet<LeaseRejectReason> = new Set(['overlaps_peer', 'public_ip_taken', 'mac_taken', 'ipv6_overlaps_peer', 'public_ipv6_taken', 'v6_mac_taken']);

export interface AdmissionLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface AdmissionOptions {
  /** Network of the config, e.g. "10.244.0.0/16". */
  network: string;
  /** The prefix length every peer subnet must have. */
  subnetLen: number;
  backend: BackendType;
  /** The network's VNI (vxlan), else ignored. */
  vni: number;
  /** EnableIPv4; default true. False: an IPv6-only network (`network`, `subnetLen` and PublicIP unused). */
  ipv4?: boolean;
  /** EnableIPv6: IPv6Network and the IPv6 prefix length every peer's IPv6 subnet must have (IPv6SubnetLen). */
  ipv6?: { network: string; subnetLen: number };
  /** This node's lease as it acquired it, and what else is its own. */
  self: {
    lease: Lease;
    /** Every address that is this node's (the underlay address, and what the lease publishes). */
    publicIps: readonly string[];
    /** This node's VTEP MAC (vxlan), else null. */
    mac: string | null;
    /** EnableIPv6: this node's IPv6 addresses (the underlay's, and the PublicIPv6 it publishes). */
    publicIpv6s?: readonly string[];
    /** EnableIPv6 with vxlan: the MAC of this node's IPv6 VTEP (flannel's flannel-v6.<VNI>). */
    macV6?: string | null;
  };
  log: AdmissionLogger;
}

/** Someone other than this node removed or changed its lease. */
export interface OwnLeaseChange {
  type: 'removed' | 'changed';
  /** What differs, for the error message, e.g. `VtepMAC 0a:.. → 0a:..`. */
  detail: string;
  lease: Lease;
}

export interface Admitted {
  /** Events for the accepted set only, in the order to apply them. */
  events: LeaseEvent[];
  /** Non-null when this node's own lease was removed or rewritten by someone else. */
  own: OwnLeaseChange | null;
}

/** A lease's fields as the data plane uses them, parsed once. */
interface Endpoint {
  /** null on an IPv6-only network. */
  subnet: Cidr4 | null;
  publicIp: number;
  type: string;
  mac: string | null;
  vni: number | null;
  /** The IPv6 half (null when absent or malformed; checked only with EnableIPv6). */
  subnet6: Cidr6 | null;
  publicIp6: bigint | null;
  mac6: string | null;
  vni6: number | null;
}

interface Accepted {
  lease: Lease;
  ep: Endpoint;
  fingerprint: string;
}

interface Rejected {
  reason: LeaseRejectReason;
  fingerprint: string;
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** VtepMAC and VNI of BackendData or BackendV6Data ({"VNI":1,"VtepMAC":"…"}), as far as they are there. */
function vtepOf(data: unknown): { mac: string | null; vni: number | null } {
  const d = typeof data === 'object' && data !== null ? (data as { VNI?: unknown; VtepMAC?: unknown }) : undefined;
  const mac = typeof d?.VtepMAC === 'string' ? d.VtepMAC.toLowerCase() : null;
  const vni = typeof d?.VNI === 'number' ? d.VNI : d?.VNI === undefined ? null : NaN;
  return { mac, vni };
}

/** The fields compared for "the same lease value" (renewals change only the revision and expiry). */
function endpointOf(lease: Lease, ipv4 = true): { ep: Endpoint | null; fingerprint: string } {
  const a = lease.attrs;
  const type = leaseBackendType(a);
  const { mac, vni } = vtepOf(a.BackendData);
  const v6 = vtepOf(a.BackendV6Data);
  const ip6Text = typeof a.PublicIPv6 === 'string' ? a.PublicIPv6 : null;
  const fingerprint =
    `${lease.subnet} ${String(a.PublicIP)} ${type} ${mac ?? '-'} ${vni ?? '-'}` +
    (lease.ipv6Subnet !== undefined || ip6Text !== null || a.BackendV6Data !== undefined
      ? ` ${String(lease.ipv6Subnet ?? '-')} ${ip6Text ?? '-'} ${v6.mac ?? '-'} ${v6.vni ?? '-'}`
      : '');
  const subnet6 = typeof lease.ipv6Subnet === 'string' ? canonicalCidr6(lease.ipv6Subnet) : null;
  const publicIp6 = ip6Text === null ? null : parseIPv6(ip6Text);
  const six = { subnet6, publicIp6, mac6: v6.mac, vni6: v6.vni };
  if (!ipv4) {
    // IPv6-only: no IPv4 subnet may be there ("" from the key 0.0.0.0-0&…).
    if (lease.subnet !== '') return { ep: null, fingerprint };
    return { ep: { subnet: null, publicIp: -1, type, mac, vni, ...six }, fingerprint };
  }
  const subnet = typeof lease.subnet === 'string' ? parseCidr4(lease.subnet) : null;
  const publicIp = typeof a.PublicIP === 'string' ? parseIPv4(a.PublicIP) : null;
  if (subnet === null) return { ep: null, fingerprint };
  return { ep: { subnet, publicIp: publicIp ?? -1, type, mac, vni, ...six }, fingerprint };
}

function unicastMac(mac: string): boolean {
  if (!MAC.test(mac) || mac === '00:00:00:00:00:00') return false;
  return (parseInt(mac.slice(0, 2), 16) & 1) === 0; // group bit: multicast, broadcast
}

export class LeaseAdmission {
  private readonly network: Cidr4 | null;
  private readonly selfSubnet: Cidr4 | null;
  /** EnableIPv6: IPv6Network and this node's IPv6 subnet. */
  private readonly network6: Cidr6 | null;
  private readonly selfSubnet6: Cidr6 | null;
  private readonly ownIps6: Set<bigint>;
  private readonly ipv4: boolean;
  private readonly selfKey: string;
  private readonly selfFingerprint: string;
  private readonly ownIps: Set<number>;
  /** Every peer lease the registry holds now, by key, in the order first seen. */
  private readonly present = new Map<string, Lease>();
  private readonly accepted = new Map<string, Accepted>();
  private readonly rejected = new Map<string, Rejected>();
  private readonly bySubnet = new Map<number, string>(); // accepted subnets all have one length
  private readonly byIp = new Map<number, string>();
  private readonly byMac = new Map<string, string>();
  private readonly bySubnet6 = new Map<bigint, string>(); // accepted IPv6 subnets all have one length too
  private readonly byIp6 = new Map<bigint, string>();
  private readonly byMac6 = new Map<string, string>();
  /** (key, reason) pairs already logged. */
  private readonly logged = new Set<string>();
  private readonly counts = new Map<LeaseRejectReason, number>(LEASE_REJECT_REASONS.map((r) => [r, 0]));

  /** Peers publish a VTEP MAC and VNI (vxlan): both are checked, MACs kept unique. */
  private readonly vtep: boolean;

  constructor(private readonly opts: AdmissionOptions) {
    this.ipv4 = opts.ipv4 ?? true;
    if (this.ipv4) {
      const net = parseCidr4(opts.network);
      const self = parseCidr4(opts.self.lease.subnet);
      if (!net || !self) throw new Error(`lease admission needs IPv4 subnets: network ${opts.network}, own lease ${opts.self.lease.subnet}`);
      this.network = net;
      this.selfSubnet = self;
    } else {
      if (!opts.ipv6) throw new Error('lease admission: an IPv6-only network (ipv4 false) needs the ipv6 options');
      this.network = null;
      this.selfSubnet = null;
    }
    if (opts.ipv6) {
      const net6 = parseCidr6(opts.ipv6.network);
      const self6 = opts.self.lease.ipv6Subnet === undefined ? null : parseCidr6(opts.self.lease.ipv6Subnet);
      if (!net6 || !self6) throw new Error(`lease admission needs IPv6 subnets: IPv6Network ${opts.ipv6.network}, own lease ${String(opts.self.lease.ipv6Subnet)}`);
      this.network6 = net6;
      this.selfSubnet6 = self6;
    } else {
      this.network6 = null;
      this.selfSubnet6 = null;
    }
    this.ownIps6 = new Set((opts.self.publicIpv6s ?? []).map((ip) => parseIPv6(ip)).filter((ip): ip is bigint => ip !== null));
    this.selfKey = leaseIdentity(opts.self.lease);
    this.selfFingerprint = endpointOf(opts.self.lease, this.ipv4).fingerprint;
    this.ownIps = new Set(opts.self.publicIps.map((ip) => parseIPv4(ip)).filter((ip): ip is number => ip !== null));
    this.vtep = backendOf(opts.backend).vtepPeers;
  }

  /** Rejections so far, by reason (every reason present, 0 when none). */
  rejections(): ReadonlyMap<LeaseRejectReason, number> {
    return this.counts;
  }

  /** Leases refused now, with their reason. */
  rejectedLeases(): { key: string; reason: LeaseRejectReason }[] {
    return [...this.rejected].map(([key, r]) => ({ key, reason: r.reason }));
  }

  /** The accepted peer leases. */
  acceptedLeases(): Lease[] {
    return [...this.accepted.values()].map((a) => a.lease);
  }

  /** Is this lease this node's own (its key; in kube mode its Node)? */
  isOwn(lease: Lease): boolean {
    const mine = this.opts.self.lease;
    if (mine.node !== undefined && lease.node !== undefined) return lease.node === mine.node;
    return leaseIdentity(lease) === this.selfKey;
  }

  /** Filters one batch of registry events down to the accepted set's events. */
  admit(batch: readonly LeaseEvent[]): Admitted {
    let own: OwnLeaseChange | null = null;
    // The net effect per key: its last event (events of one key are in order).
    const last = new Map<string, LeaseEvent>();
    for (const ev of batch) {
      if (this.isOwn(ev.lease)) {
        own ??= this.ownChange(ev);
        continue;
      }
      const key = leaseIdentity(ev.lease);
      last.delete(key); // keep the position of the last event
      last.set(key, ev);
    }
    const out: LeaseEvent[] = [];
    let deleted = false;
    // Removals first, so that a lease moving between keys in one batch finds its old place free.
    for (const [key, ev] of last) {
      if (ev.type !== 'removed') continue;
      this.present.delete(key);
      this.rejected.delete(key);
      for (const r of LEASE_REJECT_REASONS) this.logged.delete(`${key} ${r}`);
      if (this.withdraw(key, out)) deleted = true;
    }
    // Then the oldest keys first: of two conflicting leases in one batch (a restart's
    // first listing, above all) the one created first wins, as it would have live.
    // Without a creation revision (file registry) the listing order decides.
    const adds = [...last].filter(([, ev]) => ev.type === 'added');
    adds.sort(([, a], [, b]) => (a.lease.created ?? Infinity) - (b.lease.created ?? Infinity));
    for (const [key, ev] of adds) {
      this.present.set(key, ev.lease);
      this.consider(key, ev.lease, out);
    }
    if (deleted) this.reconsider(out);
    return { events: out, own };
  }

  /** The reason this lease cannot be accepted now, or null. `key`'s own accepted entry does not count as a conflict. */
  check(key: string, lease: Lease): { reason: LeaseRejectReason; detail: string } | null {
    const { ep } = endpointOf(lease, this.ipv4);
    const o = this.opts;
    if (ep === null) {
      return {
        reason: 'bad_subnet',
        detail: this.ipv4 ? `subnet ${JSON.stringify(lease.subnet)} is not an IPv4 network` : `subnet ${JSON.stringify(lease.subnet)} on an IPv6-only network, where leases carry no IPv4 subnet`,
      };
    }
    if (ep.subnet !== null) {
      const sn = ep.subnet;
      const subnet = `${formatIPv4(sn.ip)}/${sn.len}`;
      if (sn.len < this.network!.len || !contains(this.network!, sn.ip)) return { reason: 'outside_network', detail: `${subnet} is not inside Network ${o.network}` };
      if (sn.len !== o.subnetLen) return { reason: 'wrong_prefix_len', detail: `${subnet} is not a /${o.subnetLen}` };
      if (overlaps(sn, this.selfSubnet!)) return { reason: 'overlaps_self', detail: `${subnet} overlaps this node's ${o.self.lease.subnet}` };
      const holder = this.bySubnet.get(sn.ip);
      if (holder !== undefined && holder !== key) return { reason: 'overlaps_peer', detail: `${subnet} is already the lease ${holder}` };
    }
    const six = this.check6Subnet(key, lease, ep);
    if (six !== null) return six;
    if (ep.type !== o.backend) return { reason: 'backend_mismatch', detail: `backend "${ep.type}", this network's is "${o.backend}"` };
    if (this.ipv4 && this.vtep && ep.vni !== null && ep.vni !== o.vni) return { reason: 'vni_mismatch', detail: `VNI ${String(ep.vni)}, this network's is ${o.vni}` };
    if (this.network6 !== null && this.vtep && ep.vni6 !== null && ep.vni6 !== o.vni) {
      return { reason: 'v6_vni_mismatch', detail: `BackendV6Data VNI ${String(ep.vni6)}, this network's is ${o.vni}` };
    }
    if (this.ipv4) {
      const ipText = String(lease.attrs.PublicIP);
      if (ep.publicIp < 0 || !isUnicastIPv4(ipText)) return { reason: 'bad_public_ip', detail: `PublicIP ${JSON.stringify(lease.attrs.PublicIP)} is not a unicast IPv4 address` };
      if (contains(this.network!, ep.publicIp)) return { reason: 'public_ip_in_network', detail: `PublicIP ${ipText} is inside the overlay Network ${o.network}` };
      if (this.ownIps.has(ep.publicIp)) return { reason: 'own_public_ip', detail: `PublicIP ${ipText} is this node's` };
      const ipHolder = this.byIp.get(ep.publicIp);
      if (ipHolder !== undefined && ipHolder !== key) return { reason: 'public_ip_taken', detail: `PublicIP ${ipText} already has the lease ${ipHolder}` };
    }
    const six2 = this.check6Endpoint(key, lease, ep);
    if (six2 !== null) return six2;
    if (this.vtep && this.ipv4) {
      if (ep.mac === null || !unicastMac(ep.mac)) return { reason: 'bad_mac', detail: `VtepMAC ${JSON.stringify((lease.attrs.BackendData as { VtepMAC?: unknown } | null)?.VtepMAC ?? null)} is not a unicast MAC` };
      if (ep.mac === o.self.mac) return { reason: 'own_mac', detail: `VtepMAC ${ep.mac} is this node's` };
      const macHolder = this.byMac.get(ep.mac);
      if (macHolder !== undefined && macHolder !== key) return { reason: 'mac_taken', detail: `VtepMAC ${ep.mac} already belongs to the lease ${macHolder}` };
    }
    if (this.vtep && this.network6 !== null) {
      const raw = (lease.attrs.BackendV6Data as { VtepMAC?: unknown } | null | undefined)?.VtepMAC ?? null;
      if (ep.mac6 === null || !unicastMac(ep.mac6)) return { reason: 'bad_v6_mac', detail: `BackendV6Data VtepMAC ${JSON.stringify(raw)} is not a unicast MAC` };
      if (ep.mac6 === (o.self.macV6 ?? null)?.toLowerCase()) return { reason: 'own_v6_mac', detail: `BackendV6Data VtepMAC ${ep.mac6} is this node's IPv6 VTEP's` };
      const holder6 = this.byMac6.get(ep.mac6);
      if (holder6 !== undefined && holder6 !== key) return { reason: 'v6_mac_taken', detail: `BackendV6Data VtepMAC ${ep.mac6} already belongs to the lease ${holder6}` };
    }
    return null;
  }

  /** EnableIPv6: the IPv6 subnet's checks (the IPv4 subnet's counterpart). */
  private check6Subnet(key: string, lease: Lease, ep: Endpoint): { reason: LeaseRejectReason; detail: string } | null {
    const net6 = this.network6;
    if (net6 === null) return null;
    const o = this.opts;
    const sn = ep.subnet6;
    if (sn === null) return { reason: 'bad_ipv6_subnet', detail: `IPv6 subnet ${JSON.stringify(lease.ipv6Subnet ?? null)} is not an IPv6 network in canonical form` };
    const text = lease.ipv6Subnet!;
    if (sn.len < net6.len || !contains6(net6, sn.ip)) return { reason: 'ipv6_outside_network', detail: `${text} is not inside IPv6Network ${o.ipv6!.network}` };
    if (sn.len !== o.ipv6!.subnetLen) return { reason: 'ipv6_wrong_prefix_len', detail: `${text} is not a /${o.ipv6!.subnetLen}` };
    if (overlaps6(sn, this.selfSubnet6!)) return { reason: 'ipv6_overlaps_self', detail: `${text} overlaps this node's ${o.self.lease.ipv6Subnet}` };
    const holder = this.bySubnet6.get(sn.ip);
    if (holder !== undefined && holder !== key) return { reason: 'ipv6_overlaps_peer', detail: `${text} is already the lease ${holder}` };
    return null;
  }

  /** EnableIPv6: PublicIPv6's checks (the PublicIP's counterpart). */
  private check6Endpoint(key: string, lease: Lease, ep: Endpoint): { reason: LeaseRejectReason; detail: string } | null {
    const net6 = this.network6;
    if (net6 === null) return null;
    const raw = lease.attrs.PublicIPv6;
    const ip = ep.publicIp6;
    if (ip === null || !isUnicastIPv6(String(raw))) {
      return { reason: 'bad_public_ipv6', detail: `PublicIPv6 ${JSON.stringify(raw ?? null)} is not a global or unique-local unicast IPv6 address` };
    }
    const text = formatIPv6(ip);
    if (contains6(net6, ip)) return { reason: 'public_ipv6_in_network', detail: `PublicIPv6 ${text} is inside the overlay IPv6Network ${this.opts.ipv6!.network}` };
    if (this.ownIps6.has(ip)) return { reason: 'own_public_ipv6', detail: `PublicIPv6 ${text} is this node's` };
    const holder = this.byIp6.get(ip);
    if (holder !== undefined && holder !== key) return { reason: 'public_ipv6_taken', detail: `PublicIPv6 ${text} already has the lease ${holder}` };
    return null;
  }

  /** Accepts or rejects one present lease. */
  private consider(key: string, lease: Lease, out: LeaseEvent[]): void {
    const { ep, fingerprint } = endpointOf(lease, this.ipv4);
    const cur = this.accepted.get(key);
    const verdict = this.check(key, lease);
    if (verdict === null) {
      this.rejected.delete(key);
      if (cur && cur.fingerprint === fingerprint) {
        cur.lease = lease; // a renewal: nothing changes downstream
        return;
      }
      if (cur) this.unindex(key, cur);
      const entry: Accepted = { lease, ep: ep!, fingerprint };
      this.accepted.set(key, entry);
      this.index(key, entry);
      out.push({ type: 'added', lease });
      return;
    }
    const before = this.rejected.get(key);
    if (!before || before.fingerprint !== fingerprint || before.reason !== verdict.reason) {
      this.counts.set(verdict.reason, this.counts.get(verdict.reason)! + 1);
    }
    this.rejected.set(key, { reason: verdict.reason, fingerprint });
    const once = `${key} ${verdict.reason}`;
    if (!this.logged.has(once)) {
      this.logged.add(once);
      this.opts.log.warn(
        { lease: key, reason: verdict.reason, publicIp: lease.attrs.PublicIP, detail: verdict.detail, ...(cur ? { withdrawn: cur.lease.attrs.PublicIP } : {}) },
        'lease rejected',
      );
    }
    this.withdraw(key, out);
  }

  /** Takes an accepted lease out (emits its removal); false when it was not accepted. */
  private withdraw(key: string, out: LeaseEvent[]): boolean {
    const cur = this.accepted.get(key);
    if (!cur) return false;
    this.accepted.delete(key);
    this.unindex(key, cur);
    out.push({ type: 'removed', lease: cur.lease });
    return true;
  }

  /** Leases rejected for a conflict, evaluated again after an accepted one was deleted. */
  private reconsider(out: LeaseEvent[]): void {
    for (const [key, lease] of this.present) {
      const r = this.rejected.get(key);
      if (!r || !CONFLICTS.has(r.reason)) continue;
      if (this.check(key, lease) !== null) continue;
      this.opts.log.info({ lease: key, publicIp: lease.attrs.PublicIP, was: r.reason }, 'lease accepted after the lease it conflicted with was deleted');
      this.consider(key, lease, out);
    }
  }

  private index(key: string, a: Accepted): void {
    if (this.ipv4) {
      this.bySubnet.set(a.ep.subnet!.ip, key);
      this.byIp.set(a.ep.publicIp, key);
      if (a.ep.mac !== null && this.vtep) this.byMac.set(a.ep.mac, key);
    }
    if (this.network6 !== null) {
      this.bySubnet6.set(a.ep.subnet6!.ip, key);
      this.byIp6.set(a.ep.publicIp6!, key);
      if (a.ep.mac6 !== null && this.vtep) this.byMac6.set(a.ep.mac6, key);
    }
  }

  private unindex(key: string, a: Accepted): void {
    const drop = <K>(m: Map<K, string>, k: K | null): void => {
      if (k !== null && m.get(k) === key) m.delete(k);
    };
    drop(this.bySubnet, a.ep.subnet?.ip ?? null);
    drop(this.byIp, a.ep.publicIp);
    drop(this.byMac, a.ep.mac);
    drop(this.bySubnet6, a.ep.subnet6?.ip ?? null);
    drop(this.byIp6, a.ep.publicIp6);
    drop(this.byMac6, a.ep.mac6);
  }

  /**
   * An event on this node's own lease: a removal, or a value other than ours.
   * The same PublicIP, backend, MAC and VNI is our own renewal (or a successor
   * of this process that kept the state dir): never a change.
   */
  private ownChange(ev: LeaseEvent): OwnLeaseChange | null {
    const mine = this.opts.self.lease;
    if (ev.type === 'removed') return { type: 'removed', detail: `lease ${leaseIdentity(mine)} was removed from the registry`, lease: ev.lease };
    const theirs = endpointOf(ev.lease, this.ipv4).fingerprint;
    if (theirs === this.selfFingerprint) return null;
    return { type: 'changed', detail: `lease ${leaseIdentity(mine)} was rewritten by someone else: ours is "${this.selfFingerprint}", the registry now holds "${theirs}"`, lease: ev.lease };
  }
}
