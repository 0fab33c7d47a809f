// flannel's lease algorithms (pkg/subnet/etcd/local_manager.go), written once over a
// small LeaseStore that etcd.ts and file.ts implement.
import { randomInt } from 'node:crypto';
import { parseNetworkConfig, type NetworkConfig } from './config.js';
import { configKey, encodeLeaseAttrs, subnetsPrefix } from './codec.js';
import { ConfigError, LeaseLostError, RegistryError, SubnetsExhaustedError } from './errors.js';
import { formatCidr4, formatIPv4, overlaps, parseCidr4, parseIPv4, sizeOf } from './ipv4.js';
import { canonicalCidr6, formatCidr6, formatIPv6, overlaps6, parseCidr6, parseIPv6, sizeOf6, type Cidr6 } from './ipv6.js';
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
  /** Creates the key of `names` (codec.ts subnetKey) only if it does not exist; null when it does. */
  create(names: LeaseNames, attrs: LeaseAttrs, ttlMs: number): Promise<Lease | null>;
  /** Rewrites the lease only if its revision is still `lease.revision`; ttlMs 0 = no TTL. Null when it changed. */
  replace(lease: Lease, attrs: LeaseAttrs, ttlMs: number): Promise<Lease | null>;
  /** Deletes the lease only if its revision is still `lease.revision`. */
  remove(lease: Lease): Promise<boolean>;
}

/** The subnets a lease key names: IPv4 ("" on an IPv6-only lease) and, with EnableIPv6, IPv6. */
export interface LeaseNames {
  subnet: string;
  ipv6Subnet?: string;
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

/**
 * Does the lease still fit the config? flannel's isSubnetConfigCompat and
 * isIPv6SubnetConfigCompat (pkg/subnet/etcd/local_manager.go): each enabled
 * family's subnet present, of its SubnetLen, between its SubnetMin and SubnetMax;
 * a disabled family's absent (flannel: IPv6 disabled means an empty IPv6Subnet).
 */
function fits(config: NetworkConfig, subnet: string, ipv6Subnet?: string): boolean {
  return fits4(config, subnet) && fits6(config, ipv6Subnet);
}

function fits4(config: NetworkConfig, subnet: string): boolean {
  if (!config.EnableIPv4) return subnet === '';
  const sn = parseCidr4(subnet);
  const min = parseIPv4(config.SubnetMin) ?? 0;
  const max = parseIPv4(config.SubnetMax) ?? 0;
  return sn !== null && sn.len === config.SubnetLen && sn.ip >= min && sn.ip <= max;
}

function fits6(config: NetworkConfig, ipv6Subnet: string | undefined): boolean {
  if (!config.EnableIPv6) return ipv6Subnet === undefined;
  const sn = ipv6Subnet === undefined ? null : canonicalCidr6(ipv6Subnet);
  const min = parseIPv6(config.IPv6SubnetMin ?? '') ?? 0n;
  const max = parseIPv6(config.IPv6SubnetMax ?? '') ?? 0n;
  return sn !== null && sn.len === config.IPv6SubnetLen && sn.ip >= min && sn.ip <= max;
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

/** IPv6 leases that block allocation: like holding(), those no shorter than IPv6SubnetLen. */
function holding6(config: NetworkConfig, leases: readonly Lease[]): Cidr6[] {
  const out: Cidr6[] = [];
  for (const l of leases) {
    const c = l.ipv6Subnet === undefined ? null : parseCidr6(l.ipv6Subnet);
    if (c !== null && c.len >= (config.IPv6SubnetLen ?? 128)) out.push(c);
  }
  return out.sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0));
}

/** flannel's allocateSubnet, the IPv6 loop: from IPv6SubnetMin up, up to 100 free subnets, one at random. */
export function pickFreeIpv6Subnet(config: NetworkConfig, leases: readonly Lease[], where = 'the registry'): string {
  const len = config.IPv6SubnetLen!;
  const size = sizeOf6(len);
  const min = parseIPv6(config.IPv6SubnetMin!)!;
  const max = parseIPv6(config.IPv6SubnetMax!)!;
  const taken = holding6(config, leases);
  const free: bigint[] = [];
  let j = 0;
  for (let ip = min; ip <= max && free.length < MAX_CANDIDATES; ip += size) {
    while (j < taken.length && taken[j]!.ip + sizeOf6(taken[j]!.len) - 1n < ip) j++;
    if (j < taken.length && taken[j]!.ip <= ip + size - 1n) continue;
    free.push(ip);
  }
  if (free.length === 0) {
    const total = (max - min) / size + 1n;
    throw new SubnetsExhaustedError(
      `no free /${len} IPv6 subnet between ${config.IPv6SubnetMin} and ${config.IPv6SubnetMax} in ${config.IPv6Network}: ` +
        `all ${total} are leased; delete stale leases under ${where} or widen IPv6Network, IPv6SubnetMin or IPv6SubnetMax`,
    );
  }
  return formatCidr6({ ip: free[randomInt(free.length)]!, len });
}

/**
 * The subnets of a new lease, one per enabled family. As flannel's allocateSubnet,
 * both or none: when one family's pool is full the lease is not taken at all
 * (flannel: "out of subnets"; weft names the family), never a half lease.
 */
export function pickFreeSubnets(config: NetworkConfig, leases: readonly Lease[], where = 'the registry'): LeaseNames {
  const subnet = config.EnableIPv4 ? pickFreeSubnet(config, leases, where) : '';
  if (!config.EnableIPv6) return { subnet };
  return { subnet, ipv6Subnet: pickFreeIpv6Subnet(config, leases, where) };
}

/** Do two leases' subnets collide in either family? */
function collide(a: LeaseNames, b: LeaseNames): boolean {
  const a4 = a.subnet === '' ? null : parseCidr4(a.subnet);
  const b4 = b.subnet === '' ? null : parseCidr4(b.subnet);
  if (a4 !== null && b4 !== null && overlaps(a4, b4)) return true;
  const a6 = a.ipv6Subnet === undefined ? null : parseCidr6(a.ipv6Subnet);
  const b6 = b.ipv6Subnet === undefined ? null : parseCidr6(b.ipv6Subnet);
  return a6 !== null && b6 !== null && overlaps6(a6, b6);
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
  let prefer6: string | undefined;
  if (opts.preferIpv6Subnet !== undefined) {
    const c = parseCidr6(opts.preferIpv6Subnet);
    if (!c) throw new ConfigError(`preferIpv6Subnet "${opts.preferIpv6Subnet}" is not an IPv6 subnet in CIDR notation, e.g. "fd00:10:244:3::/64"`);
    prefer6 = formatCidr6(c);
  }
  if (config.EnableIPv6 && !attrs.PublicIPv6) {
    throw new ConfigError(`the network config enables IPv6 (${config.IPv6Network}) but this node's lease has no PublicIPv6: give the interface a global or unique-local IPv6 address, or --public-ipv6`);
  }
  // flannel's findLeaseByIP matches on PublicIP alone, which on an IPv6-only network is
  // 0.0.0.0 for every node (flannel would hand node B node A's lease): weft matches on
  // PublicIPv6 there.
  const publicIP = formatIPv4(parseIPv4(attrs.PublicIP) ?? 0);
  const publicIPv6 = attrs.PublicIPv6 ? formatIPv6(parseIPv6(attrs.PublicIPv6) ?? 0n) : null;
  const sameNode = (l: Lease): boolean =>
    config.EnableIPv4 ? l.attrs.PublicIP === publicIP : typeof l.attrs.PublicIPv6 === 'string' && formatIPv6(parseIPv6(l.attrs.PublicIPv6) ?? -1n) === publicIPv6;
  const whoAmI = config.EnableIPv4 ? publicIP : String(publicIPv6);

  for (let attempt = 0; attempt < RACE_RETRIES; attempt++) {
    const { leases } = await store.list();
    // Anyone can write a lease naming our PublicIP: take the subnet we held (subnet
    // file), else the one carrying our attrs (our VtepMAC), and only then the first.
    const mine = leases.filter(sameNode);
    const ours = encodeLeaseAttrs(attrs);
    const preferred = (l: Lease): boolean =>
      (prefer !== undefined || prefer6 !== undefined) && (prefer === undefined || l.subnet === prefer) && (prefer6 === undefined || l.ipv6Subnet === prefer6);
    const own =
      mine.find(preferred) ??
      mine.find((l) => safeEncode(l.attrs) === ours) ??
      mine[0];
    if (own) {
      if (fits(config, own.subnet, own.ipv6Subnet)) {
        // A key without TTL is a reservation (flannel Documentation/reservations.md): keep
        // it one. (flannel's etcd v3 code reads TTL -1 for it and re-puts it on a 24 h lease.)
        const renewed = await store.replace(own, attrs, own.expiration === null ? 0 : SUBNET_LEASE_TTL_MS);
        if (renewed) {
          log?.info(`reusing lease ${leaseIdentity(own)} of ${whoAmI} (${store.where})`);
          return renewed;
        }
        continue; // it changed under us: look again
      }
      log?.warn(`lease ${leaseIdentity(own)} of ${whoAmI} does not fit the network config any more: deleting it (${store.where})`);
      await store.remove(own);
    }
    let names: LeaseNames | undefined;
    // flannel's tryAcquireLease reuses the previous subnets (the subnet file's) when the
    // IPv4 one is not taken; weft also asks that the IPv6 one be free and both fit.
    const wanted: LeaseNames | null =
      (config.EnableIPv4 ? prefer !== undefined : prefer6 !== undefined) && (!config.EnableIPv6 || prefer6 !== undefined)
        ? { subnet: config.EnableIPv4 ? prefer! : '', ...(config.EnableIPv6 ? { ipv6Subnet: prefer6! } : {}) }
        : null;
    if (wanted !== null) {
      // Each family against the leases that hold in it (a hostile ::/0 or /8 blocks nothing).
      const others = leases.filter((l) => l !== own);
      const w4 = wanted.subnet === '' ? null : parseCidr4(wanted.subnet);
      const w6 = wanted.ipv6Subnet === undefined ? null : parseCidr6(wanted.ipv6Subnet);
      const free4 = w4 === null || !holding(config, others).some((l) => {
        const c = parseCidr4(l.subnet);
        return c !== null && overlaps(c, w4);
      });
      const free6 = w6 === null || !holding6(config, others).some((c) => overlaps6(c, w6));
      const free = free4 && free6;
      if (free && fits(config, wanted.subnet, wanted.ipv6Subnet)) names = wanted;
      else log?.info(`previous subnet ${leaseIdentity(wanted)} is taken or does not fit the network config: picking another`);
    }
    names ??= pickFreeSubnets(config, leases, `${subnetsPrefix(store.prefix)} in ${store.where}`);
    const lease = await store.create(names, attrs, SUBNET_LEASE_TTL_MS);
    if (lease) {
      // A dual-stack key names two subnets: another node may have created a different key
      // with one of them at the same moment (compare-and-create guards only the key). The
      // older lease keeps it; the younger gives way and picks again.
      if (names.ipv6Subnet !== undefined && (await lostRace(store, config, lease))) {
        log?.warn(`lease ${leaseIdentity(lease)} collides with one another node created just before: picking again (${store.where})`);
        await store.remove(lease);
        continue;
      }
      log?.info(`leased ${leaseIdentity(names)} to ${whoAmI} (${store.where})`);
      return lease;
    }
    // Another node created the same key first: list again and pick anew.
  }
  throw new RegistryError(`could not lease a subnet after ${RACE_RETRIES} attempts: other nodes kept taking the same subnets (${store.where})`);
}

/** encodeLeaseAttrs, or null for attrs another node wrote that do not encode. */
function safeEncode(attrs: LeaseAttrs): string | null {
  try {
    return encodeLeaseAttrs(attrs);
  } catch {
    return null;
  }
}

/**
 * Did another node create a colliding lease before ours (lower creation revision)?
 * Only leases of the config's lengths count: a hostile ::/0 or 0.0.0.0/0 lease, which
 * blocks no allocation (holding), must not make every new lease give way either.
 */
async function lostRace(store: LeaseStore, config: NetworkConfig, ours: Lease): Promise<boolean> {
  const { leases } = await store.list();
  const mine = leaseIdentity(ours);
  const born = ours.created ?? ours.revision;
  return leases.some((l) => leaseIdentity(l) !== mine && fitsLengths(config, l) && collide(l, ours) && (l.created ?? l.revision) < born);
}

/** Are a lease's subnets exactly of SubnetLen / IPv6SubnetLen (where enabled)? */
function fitsLengths(config: NetworkConfig, l: Lease): boolean {
  const ok4 = !config.EnableIPv4 || parseCidr4(l.subnet)?.len === config.SubnetLen;
  const ok6 = !config.EnableIPv6 || (l.ipv6Subnet !== undefined && parseCidr6(l.ipv6Subnet)?.len === config.IPv6SubnetLen);
  return ok4 && ok6;
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

  /** The same for IPv6: IPv6SubnetLen (0 when IPv6 is off). */
  ipv6SubnetLen(config: NetworkConfig): number {
    return config.IPv6SubnetLen ?? 0;
  }

  acquireLease(attrs: LeaseAttrs, opts: AcquireOptions = {}): Promise<Lease> {
    return acquireLease(this.store, attrs, opts, this.log);
  }

  async renewLease(lease: Lease): Promise<Lease> {
    const renewed = await this.store.replace(lease, lease.attrs, lease.expiration === null ? 0 : SUBNET_LEASE_TTL_MS);
    if (!renewed) {
      throw new LeaseLostError(
        `lease ${leaseIdentity(lease)} in ${this.store.where} was deleted, expired or rewritten by another node since revision ${lease.revision}: stop using it and acquire a new one`,
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
