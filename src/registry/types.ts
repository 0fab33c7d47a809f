// The subnet registry, in the spirit of flannel's subnet.Manager
// (flannel pkg/subnet/subnet.go), shared by weft and flannel nodes.

import type { NetworkConfig } from './config.js';

/**
 * What a node publishes with its lease. Field names and casing are flannel's
 * LeaseAttrs (pkg/lease/lease.go) because the JSON is shared with flannel nodes.
 */
export interface LeaseAttrs {
  /**
   * The node's underlay IPv4 address, the tunnel endpoint. Leases are matched to nodes by it
   * (IPv6-only networks: by PublicIPv6). "0.0.0.0" (Go's zero IP4) on an IPv6-only lease.
   */
  PublicIP: string;
  /** The node's underlay IPv6 address (EnableIPv6), the IPv6 tunnel endpoint; flannel writes `null` when absent. */
  PublicIPv6?: string | null;
  /** "vxlan", "ipip"; flannel's udp backend leaves it empty (omitted). */
  BackendType?: string;
  /** Backend-specific JSON; for vxlan a VxlanLeaseData. */
  BackendData?: unknown;
  /** The same for the IPv6 tunnel (flannel's flannel-v6.<VNI> device): for vxlan a VxlanLeaseData with that device's VtepMAC. */
  BackendV6Data?: unknown;
}

export type { VxlanLeaseData } from '../backend/vxlan.js';

export interface Lease {
  /**
   * e.g. "10.244.3.0/24"; stored under the key `<prefix>/subnets/10.244.3.0-24`.
   * "" on an IPv6-only lease (key `0.0.0.0-0&…`, flannel's zero IPv4 subnet): no IPv4 subnet.
   */
  subnet: string;
  /**
   * EnableIPv6: the node's IPv6 subnet, e.g. "fd00:10:244:3::/64" (RFC 5952), leased together
   * with `subnet` under one key `…/10.244.3.0-24&fd00:10:244:3::-64` and renewed with it.
   */
  ipv6Subnet?: string;
  attrs: LeaseAttrs;
  /** When the lease runs out unless renewed; null for a key with no TTL (a reservation). */
  expiration: Date | null;
  /** Store revision at which this value was written (etcd mod_revision); renew and release compare it. */
  revision: number;
  /**
   * How old the key is, where the registry knows (etcd create_revision, kept across
   * renewals; kube: the Node's creation time in ms). Of two conflicting leases seen
   * together, the older is taken (src/dataplane/lease-admission.ts).
   */
  created?: number;
  /** kube subnet manager only: the Node the lease is on (its identity there; a podCIDR may repeat). */
  node?: string;
}

/** 'added' means created or rewritten (a renewal is an 'added' with a later expiration). */
export interface LeaseEvent {
  type: 'added' | 'removed';
  lease: Lease;
}

export interface AcquireOptions {
  /**
   * A subnet this node held before, e.g. FLANNEL_SUBNET from its subnet file
   * ("10.244.3.1/24" is fine: host bits are ignored). Used when this node has no
   * lease under its PublicIP and the subnet is free and fits the config.
   */
  preferSubnet?: string;
  /** The same for the IPv6 subnet (FLANNEL_IPV6_SUBNET); used only together with preferSubnet's rules, when both are free and fit. */
  preferIpv6Subnet?: string;
}

export interface SubnetRegistry {
  /** Reads and validates `<prefix>/config`. */
  getNetworkConfig(): Promise<NetworkConfig>;
  /**
   * Leases a subnet for this node with compare-and-create, like flannel's
   * LocalManager.AcquireLease: this node's earlier lease (same PublicIP) if it still
   * fits the config, else `preferSubnet`, else a random free subnet between SubnetMin
   * and SubnetMax. Throws SubnetsExhaustedError when none is free.
   */
  acquireLease(attrs: LeaseAttrs, opts?: AcquireOptions): Promise<Lease>;
  /**
   * Extends the lease to a fresh 24 h, only if it is still the value we wrote
   * (same revision); otherwise throws LeaseLostError. Returns the updated lease.
   */
  renewLease(lease: Lease): Promise<Lease>;
  /** Deletes the lease if it is still ours; false if it was already gone or taken over. */
  releaseLease(lease: Lease): Promise<boolean>;
  /**
   * Batches of lease events: first the current leases (one batch of 'added', possibly
   * empty), then changes as they happen. When the registry cannot replay what was
   * missed (etcd compaction), the next batch is the difference between what was last
   * emitted and a fresh listing, so a consumer that applies every batch converges.
   * Ends when `signal` aborts or the registry is closed.
   */
  watchLeases(signal: AbortSignal): AsyncIterable<LeaseEvent[]>;
  /**
   * A public IP an operator stored for this node in the registry (flannel's
   * GetStoredPublicIP: the kube node annotation `<prefix>/node-public-ip`), which takes
   * the place of --public-ip; null when there is none. Registries without such a place
   * (etcd, file) leave it out.
   */
  storedPublicIp?(): Promise<string | null>;
  /**
   * The same for IPv6 (flannel's GetStoredPublicIP, second value: the kube node
   * annotation `<prefix>/node-public-ipv6`), which takes the place of --public-ipv6.
   */
  storedPublicIpv6?(): Promise<string | null>;
  /**
   * The prefix length every node's subnet has, which lease admission holds
   * peers to: SubnetLen where the registry allocates (etcd, file); for kube the
   * length of this node's podCIDR (the controller manager's --node-cidr-mask-size).
   */
  subnetLen(config: NetworkConfig, own: Lease): number;
  /**
   * EnableIPv6: the same for IPv6 subnets: IPv6SubnetLen where the registry
   * allocates; for kube the length of this node's IPv6 podCIDR.
   */
  ipv6SubnetLen(config: NetworkConfig, own: Lease): number;
  /**
   * flannel's CompleteLease: called once, when the data plane forwards and the
   * subnet file is written (kube: NetworkUnavailable=False, if asked for).
   * Registries with nothing to do leave it out.
   */
  completeLease?(): Promise<void>;
  close(): Promise<void>;
}

/** Optional sink for the registry's own notices (pino's logger fits). */
export interface RegistryLogger {
  info(msg: string): void;
  warn(msg: string): void;
}
