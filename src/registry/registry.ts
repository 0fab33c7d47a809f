// flannel's lease algorithms (pkg/subnet/etcd/local_manager.go), written once over a
// small LeaseStore that etcd.ts and file.ts implement.
import { randomInt } from 'node:crypto';
import { parseNetworkConfig, type NetworkConfig } from './config.js';
import { configKey, encodeLeaseAttrs, subnetsPrefix } from './codec.js';
import { ConfigError, LeaseLostError, RegistryError, SubnetsExhaustedError } from './errors.js';
import { formatCidr4, formatIPv4, overlaps, parseCidr4, parseIPv4, sizeOf } from './ipv4.js';
import type { AcquireOptions, Lease, LeaseAttrs, LeaseEvent, RegistryLogger, SubnetRegistry } from './types.js';

/** flannel's subnetTTL: every lease lives 24 h unless renewed. */
export const SUBNET_LEASE_TTL_MS = 24 * 60 * 60 * 1000;
/** flannel's raceRetries: compare-and-create attempts before giving up. */
const RACE_RETRIES = 10;
/** flannel's allocateSubnet picks at random among the first 100 free subnets from SubnetMin up. */
const MAX_CANDIDATES = 100;

/** The storage primitives; everything flannel-specific is above them. */
export interface LeaseStore {
  readonly prefix: string;
  /** For messages: "etcd http://10.0.0.1:2379" or "file /var/lib/weft/registry.json". */
  readonly where: string;
  /** Raw value of `<prefix>/config`; throws NoNetworkConfigError when absent. */
  readConfig(): Promise<string>;
  /** Every valid lease, and the store revision the listing is consistent with. */
  list(): Promise<{ leases: Lease[]; revision: number }>;
  /** Creates the key only if it does not exist; null when it does. */
  create(subnet: string, attrs: LeaseAttrs, ttlMs: number): Promise<Lease | null>;
  /** Rewrites the lease only if its revision is still `lease.revision`; ttlMs 0 = no TTL. Null when it changed. */
  replace(lease: Lease, attrs: LeaseAttrs, ttlMs: number): Promise<Lease | null>;
  /** Deletes the lease only if its revision is still `lease.revision`. */
  remove(lease: Lease): Promise<boolean>;
}

export async function loadNetworkConfig(store: LeaseStore): Promise<NetworkConfig> {
  const text = await store.readConfig();
  try {
    return parseNetworkConfig(text);
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(`${err.message} (network config at ${configKey(store.prefix)} in ${store.where})`);
    throw err;
  }
}

/** Does the lease still fit the config (flannel's isSubnetConfigCompat, IPv4 only)? */
function fits(config: NetworkConfig, subnet: string, ipv6Subnet?: string): boolean {
  const sn = parseCidr4(subnet);
  const min = parseIPv4(config.SubnetMin) ?? 0;
  const max = parseIPv4(config.SubnetMax) ?? 0;
  return sn !== null && ipv6Subnet === undefined && sn.len === config.SubnetLen && sn.ip >= min && sn.ip <= max;
}

/** Intervals [first, last] of the leased address space, sorted by first address. */
function takenRanges(leases: readonly Lease[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const l of leases) {
    const c = parseCidr4(l.subnet);
    if (c) out.push([c.ip, c.ip + sizeOf(c.len) - 1]);
  }
  return out.sort((a, b) => a[0] - b[0]);
}

/**
 * Leases that block allocation: those no shorter than SubnetLen. Any node can write
 * a lease, and one for 0.0.0.0/0 (or any prefix shorter than a node's subnet) would
 * otherwise make every subnet it covers look taken; peers reject such leases anyway
 * (src/dataplane/lease-admission.ts).
 */
function holding(config: NetworkConfig, leases: readonly Lease[]): Lease[] {
  return leases.filter((l) => (parseCidr4(l.subnet)?.len ?? 0) >= config.SubnetLen);
}

/** flannel's allocateSubnet: walk from SubnetMin, collect up to 100 free subnets, pick one at random. */
export function pickFreeSubnet(config: NetworkConfig, leases: readonly Lease[], where = 'the registry'): string {
  const size = sizeOf(config.SubnetLen);
  const min = parseIPv4(config.SubnetMin) ?? 0;
  const max = parseIPv4(config.SubnetMax) ?? 0;
  const taken = takenRanges(holding(config, leases));
  const free: number[] = [];
  let j = 0;
  for (let ip = min; ip <= max && free.length < MAX_CANDIDATES; ip += size) {
    while (j < taken.length && taken[j]![1] < ip) j++;
    // taken[j] is the first range ending at or after ip; later ones start no earlier.
    if (j < taken.length && taken[j]![0] <= ip + size - 1) continue;
    free.push(ip);
  }
  if (free.length === 0) {
    const total = (max - min) / size + 1;
    throw new SubnetsExhaustedError(
      `no free /${config.SubnetLen} subnet between ${config.SubnetMin} and ${config.SubnetMax} in ${config.Network}: ` +
        `all ${total} are leased; delete stale leases under ${where} or widen Network, SubnetMin or SubnetMax`,
    );
  }
  return formatCidr4({ ip: free[randomInt(free.length)]!, len: config.SubnetLen });
}

/** flannel's LocalManager.AcquireLease/tryAcquireLease, with compare-and-swap where flannel overwrites. */
export async function acquireLease(store: LeaseStore, attrs: LeaseAttrs, opts: AcquireOptions, log?: RegistryLogger): Promise<Lease> {
  encodeLeaseAttrs(attrs); // reject a bad PublicIP before touching the store
  const config = await loadNetworkConfig(store);
  let prefer: string | undefined;
  if (opts.preferSubnet !== undefined) {
    const c = parseCidr4(opts.preferSubnet);
    if (!c) throw new ConfigError(`preferSubnet "${opts.preferSubnet}" is not an IPv4 subnet in CIDR notation, e.g. "10.244.3.0/24"`);
    prefer = formatCidr4(c);
  }
  const publicIP = formatIPv4(parseIPv4(attrs.PublicIP) ?? 0);

  for (let attempt = 0; attempt < RACE_RETRIES; attempt++) {
    const { leases } = await store.list();
    // Anyone can write a lease naming our PublicIP: take the subnet we held (subnet
    // file), else the one carrying our attrs (our VtepMAC), and only then the first.
    const mine = leases.filter((l) => l.attrs.PublicIP === publicIP);
    const ours = encodeLeaseAttrs(attrs);
    const own = mine.find((l) => l.subnet === prefer) ?? mine.find((l) => encodeLeaseAttrs(l.attrs) === ours) ?? mine[0];
    if (own) {
      if (fits(config, own.subnet, own.ipv6Subnet)) {
        // A key without TTL is a reservation (flannel Documentation/reservations.md): keep
        // it one. (flannel's etcd v3 code reads TTL -1 for it and re-puts it on a 24 h lease.)
        const renewed = await store.replace(own, attrs, own.expiration === null ? 0 : SUBNET_LEASE_TTL_MS);
        if (renewed) {
          log?.info(`reusing lease ${own.subnet} of ${publicIP} (${store.where})`);
          return renewed;
        }
        continue; // it changed under us: look again
      }
      log?.warn(`lease ${own.subnet} of ${publicIP} does not fit the network config any more: deleting it (${store.where})`);
      await store.remove(own);
    }
    let subnet: string | undefined;
    if (prefer !== undefined) {
      const p = parseCidr4(prefer)!;
      const free = !holding(config, leases).some((l) => {
        const c = parseCidr4(l.subnet);
        return l !== own && c !== null && overlaps(c, p);
      });
      if (free && fits(config, prefer)) subnet = prefer;
      else log?.info(`previous subnet ${prefer} is taken or outside SubnetMin..SubnetMax/${config.SubnetLen}: picking another`);
    }
    subnet ??= pickFreeSubnet(config, leases, `${subnetsPrefix(store.prefix)} in ${store.where}`);
    const lease = await store.create(subnet, attrs, SUBNET_LEASE_TTL_MS);
    if (lease) {
      log?.info(`leased ${subnet} to ${publicIP} (${store.where})`);
      return lease;
    }
    // Another node created the same key first: list again and pick anew.
  }
  throw new RegistryError(`could not lease a subnet after ${RACE_RETRIES} attempts: other nodes kept taking the same subnets (${store.where})`);
}

/** Identity of a lease across events: its subnet(s), i.e. its key. */
export function leaseIdentity(l: { subnet: string; ipv6Subnet?: string | undefined }): string {
  return l.ipv6Subnet === undefined ? l.subnet : `${l.subnet}&${l.ipv6Subnet}`;
}

/**
 * Events that take a consumer from `known` to `fresh`, and updates `known`.
 * A lease whose revision changed counts as 'added' (rewritten).
 */
export function diffLeases(known: Map<string, Lease>, fresh: readonly Lease[]): LeaseEvent[] {
  const events: LeaseEvent[] = [];
  const seen = new Set<string>();
  for (const lease of fresh) {
    const id = leaseIdentity(lease);
    seen.add(id);
    const before = known.get(id);
    if (!before || before.revision !== lease.revision) {
      known.set(id, lease);
      events.push({ type: 'added', lease });
    }
  }
  for (const [id, lease] of known) {
    if (!seen.has(id)) {
      known.delete(id);
      events.push({ type: 'removed', lease });
    }
  }
  return events;
}

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * What every registry does the same way over its LeaseStore; an
 * implementation adds only how it watches and how it closes.
 */
export abstract class StoreRegistry<S extends LeaseStore> implements SubnetRegistry {
  protected constructor(
    protected readonly store: S,
    protected readonly log: RegistryLogger | undefined,
  ) {}

  getNetworkConfig(): Promise<NetworkConfig> {
    return loadNetworkConfig(this.store);
  }

  /** The registry allocates: every lease is SubnetLen long. */
  subnetLen(config: NetworkConfig): number {
    return config.SubnetLen;
  }

  acquireLease(attrs: LeaseAttrs, opts: AcquireOptions = {}): Promise<Lease> {
    return acquireLease(this.store, attrs, opts, this.log);
  }

  async renewLease(lease: Lease): Promise<Lease> {
    const renewed = await this.store.replace(lease, lease.attrs, lease.expiration === null ? 0 : SUBNET_LEASE_TTL_MS);
    if (!renewed) {
      throw new LeaseLostError(
        `lease ${lease.subnet} in ${this.store.where} was deleted, expired or rewritten by another node since revision ${lease.revision}: stop using it and acquire a new one`,
      );
    }
    return renewed;
  }

  releaseLease(lease: Lease): Promise<boolean> {
    return this.store.remove(lease);
  }

  abstract watchLeases(signal: AbortSignal): AsyncIterable<LeaseEvent[]>;
  abstract close(): Promise<void>;
}
