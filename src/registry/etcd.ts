// The subnet registry on etcd v3, in flannel's layout (pkg/subnet/etcd/registry.go):
//   <prefix>/config                  the network config (JSON)
//   <prefix>/subnets/10.244.3.0-24   a lease: LeaseAttrs JSON, attached to a 24 h etcd lease
//   <prefix>/subnets/10.244.3.0-24&fd00:10:244:3::-64   the same with EnableIPv6 (codec.ts)
//
// Renewal, mapped from flannel: flannel does not keep etcd leases alive. Its
// updateSubnet grants a NEW 24 h lease and re-puts the value attached to it, and
// CompleteLease calls it when --subnet-lease-renew-margin (60 min) is left. weft
// does the same (see renew.ts), with two differences: the rewrite is a transaction
// conditional on the key's mod_revision, so a node never overwrites a lease someone
// else rewrote or deleted (LeaseLostError instead), and the superseded etcd lease is
// revoked at once rather than left to run out.
import { readFileSync } from 'node:fs';
import { noop } from 'cockatiel';
import { Etcd3, isRecoverableError, type IOptions, type IKeyValue, type ITxnResponse, type IWatchResponse, type Watcher } from 'etcd3';
import { configKey, decodeLeaseAttrs, DEFAULT_PREFIX, encodeLeaseAttrs, parseSubnetKey, subnetKey, subnetsPrefix } from './codec.js';
import { ConfigError, NoNetworkConfigError, RegistryError, RegistryUnavailableError } from './errors.js';
import { WeftError } from '../../native-free/errors.js';
import { StoreRegistry, diffLeases, leaseIdentity, sleep, type LeaseNames, type LeaseStore } from './registry.js';
import type { Lease, LeaseAttrs, LeaseEvent, RegistryLogger, SubnetRegistry } from './types.js';
import { Inbox } from './inbox.js';
import { WatchHomes, WATCH_CONNECT_MS, WATCH_IDLE_MS, WATCH_PROBE_MS } from './etcd-watch-home.js';
import { allResting, callOptions, defaultAttemptMs, doubling, GRPC_OPTIONS, hostPolicy, ALL_RESTING_PAUSE_MS, noLeader, REST_MAX_MS } from './etcd-endpoints.js';

export interface EtcdRegistryOptions {
  /** e.g. ["http://10.0.0.1:2379"]; https:// endpoints use TLS. */
  endpoints: string[];
  /** flannel's --etcd-prefix; default /coreos.com/network. */
  prefix?: string;
  /** flannel's --etcd-cafile, --etcd-certfile, --etcd-keyfile (PEM files). */
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** flannel's --etcd-username / --etcd-password. */
  username?: string;
  password?: string;
  /** Deadline of each etcd attempt (a read is tried up to 3 times), and so how fast "unreachable" is reported. Default 2000 ms with several endpoints, 5000 ms with one. */
  timeoutMs?: number;
  logger?: RegistryLogger;
}

/** Tries of a call that is safe to repeat (reads, grant, revoke, a lease write known not to have landed), each with its own deadline. */
const READ_ATTEMPTS = 3;
const RETRY_PAUSE_MS = 200;

function fail(message: string): never {
  throw new Error(message);
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Network or server trouble (etcd3's recoverable errors, an open circuit), not a refusal. */
function isTransient(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (isRecoverableError(err as Error) || 'isBrokenCircuitError' in err);
}

export function createEtcdRegistry(opts: EtcdRegistryOptions): SubnetRegistry {
  return new EtcdRegistry(opts);
}

function readPem(what: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(`etcd ${what} "${path}" cannot be read (${(err as Error).message}): give a readable PEM file`);
  }
}

function clientOptions(opts: EtcdRegistryOptions, timeoutMs: number): IOptions {
  if (opts.endpoints.length === 0) throw new ConfigError('etcd endpoints are empty: give at least one, e.g. http://127.0.0.1:2379');
  if ((opts.certFile === undefined) !== (opts.keyFile === undefined)) {
    throw new ConfigError('etcd certFile and keyFile must be given together (client certificate and its key)');
  }
  const options: IOptions = {
    hosts: opts.endpoints,
    // A deadline per attempt, set when the attempt starts; failover between endpoints: etcd-endpoints.ts.
    defaultCallOptions: callOptions(timeoutMs),
    grpcOptions: GRPC_OPTIONS,
    faultHandling: {
      // No blind retries inside etcd3: a transaction that timed out may have committed,
      // and a retry would then report "taken" for our own write. EtcdStore repeats
      // reads (rpc) and a lease write only once it knows the write did not land (putTxn).
      global: noop,
      host: hostPolicy(opts.endpoints.length),
      // Watch reconnects back off 100 ms .. 5 s, like flannel's watchSubnets.
      watchBackoff: doubling(100, 5000),
    },
  };
  if (opts.caFile !== undefined || opts.certFile !== undefined) {
    // Unlike flannel (TLS only with cert+key), a CA alone also turns TLS on: server-only TLS.
    // grpc's createSsl takes null for "the system roots"; etcd3's type insists on a Buffer.
    options.credentials = {
      rootCertificate: opts.caFile !== undefined ? readPem('caFile', opts.caFile) : (null as unknown as Buffer),
      ...(opts.keyFile !== undefined ? { privateKey: readPem('keyFile', opts.keyFile) } : {}),
      ...(opts.certFile !== undefined ? { certChain: readPem('certFile', opts.certFile) } : {}),
    };
  }
  if (opts.username !== undefined) options.auth = { username: opts.username, password: opts.password ?? '' };
  return options;
}

class EtcdStore implements LeaseStore {
  readonly where: string;
  constructor(
    readonly client: Etcd3,
    readonly prefix: string,
    endpoints: string[],
    private readonly timeoutMs: number,
    private readonly log?: RegistryLogger,
  ) {
    this.where = `etcd ${endpoints.join(',')}`;
    this.failover = endpoints.length > 1;
  }

  /** Several endpoints: a repeatable call goes on past READ_ATTEMPTS while its time lasts. */
  private readonly failover: boolean;

  /**
   * One etcd call; failures become WeftErrors that name the endpoint. Each attempt
   * has its own deadline (defaultCallOptions). A read (`repeatable`) that fails
   * transiently is tried up to READ_ATTEMPTS times: a disk stall or a lost SYN on a
   * busy etcd host can cost one attempt its deadline without etcd being down.
   * With several endpoints it goes on for as long as READ_ATTEMPTS deadlines would
   * last: failed attempts on other members (a dead one's probe, a read that meets
   * a leader change) are quick, and an election outlasts three of them.
   */
  async rpc<T>(what: string, call: () => Promise<T>, repeatable = false): Promise<T> {
    const attempts = repeatable ? READ_ATTEMPTS : 1;
    const triesUntil = repeatable && this.failover ? Date.now() + attempts * this.timeoutMs : 0;
    // While every endpoint rests after a failure nothing is sent, and a member without a
    // leader refuses before doing anything: ask again shortly, until the longest rest and
    // a probe are over, or as long as the attempts could have taken.
    const restingUntil = Date.now() + Math.max(REST_MAX_MS + this.timeoutMs, attempts * (this.timeoutMs + RETRY_PAUSE_MS * attempts));
    let electing = false;
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (err) {
        if (err instanceof WeftError) throw err;
        if (!isTransient(err)) throw this.failure(what, err);
        if ((allResting(err) || noLeader(err)) && Date.now() < restingUntil) {
          if (noLeader(err) && !electing) this.log?.warn(`${this.where}: ${what}: etcd is electing a leader (${errorMessage(err)}); asking again`);
          electing ||= noLeader(err);
          attempt--;
          await sleep(noLeader(err) ? RETRY_PAUSE_MS : ALL_RESTING_PAUSE_MS);
          continue;
        }
        if (attempt >= attempts && Date.now() >= triesUntil) throw this.unavailable(what, err, attempt);
        const next = attempt < attempts ? `${attempt + 1} of ${attempts}` : `${attempt + 1}, within ${attempts * this.timeoutMs} ms`;
        this.log?.warn(`${this.where}: ${what} failed (${errorMessage(err)}); trying again (${next})`);
        await sleep(RETRY_PAUSE_MS * Math.min(attempt, attempts));
      }
    }
  }

  private unavailable(what: string, err: unknown, attempts: number): RegistryUnavailableError {
    const tries = attempts === 1 ? `within ${this.timeoutMs} ms` : `${attempts} times, each within ${this.timeoutMs} ms`;
    return new RegistryUnavailableError(
      `${this.where} is unreachable (${what} failed ${tries}: ${errorMessage(err)}): check the endpoint and that etcd is running`,
      { cause: err },
    );
  }

  private failure(what: string, err: unknown): WeftError {
    const msg = errorMessage(err);
    if (/auth|permission/i.test(msg)) {
      return new RegistryUnavailableError(`${this.where} refused to ${what} (${msg}): check the username, password and role of this node`, { cause: err });
    }
    return new RegistryError(`${this.where}: could not ${what}: ${msg}`, { cause: err });
  }

  async readConfig(): Promise<string> {
    const key = configKey(this.prefix);
    const res = await this.rpc('read the network config', () => this.client.kv.range({ key: Buffer.from(key) }), true);
    const kv = res.kvs[0];
    if (!kv) {
      throw new NoNetworkConfigError(
        `no network config at ${key} in ${this.where}: write one with ` +
          `etcdctl put ${key} '{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan"}}' (etcd v3 API: keys written with the v2 API are not seen)`,
      );
    }
    return kv.value.toString();
  }

  async list(): Promise<{ leases: Lease[]; revision: number }> {
    const start = Buffer.from(subnetsPrefix(this.prefix));
    const end = Buffer.from(start);
    end[end.length - 1]! += 1; // "…/subnets/" → "…/subnets0": the whole prefix
    const res = await this.rpc('list the subnet leases', () => this.client.kv.range({ key: start, range_end: end }), true);
    const leases = await Promise.all(res.kvs.map((kv) => this.toLease(kv)));
    return { leases: leases.filter((l): l is Lease => l !== null), revision: Number(res.header.revision) };
  }

  /** A stored key/value as a Lease, or null (with a warning) when it is not one, as flannel skips bad nodes. */
  async toLease(kv: IKeyValue): Promise<Lease | null> {
    const key = kv.key.toString();
    const names = parseSubnetKey(this.prefix, key);
    if (!names) {
      this.log?.warn(`ignoring ${key} in ${this.where}: not a subnet key like ${subnetKey(this.prefix, '10.244.3.0/24')}`);
      return null;
    }
    let attrs: LeaseAttrs;
    try {
      attrs = decodeLeaseAttrs(kv.value.toString());
    } catch (err) {
      this.log?.warn(`ignoring ${key} in ${this.where}: ${(err as Error).message}`);
      return null;
    }
    return { ...names, attrs, expiration: await this.expiration(kv.lease), revision: Number(kv.mod_revision), created: Number(kv.create_revision) };
  }

  /**
   * A key's expiry from its etcd lease (flannel asks TimeToLive too); null for a key
   * without lease (a reservation). Throws when etcd cannot say: guessing would turn a
   * lease into a reservation on reuse.
   */
  private async expiration(leaseId: string): Promise<Date | null> {
    if (leaseId === '0') return null;
    const res = await this.rpc('read a lease TTL', () => this.client.leaseClient.leaseTimeToLive({ ID: leaseId }), true);
    return new Date(Date.now() + Math.max(0, Number(res.TTL)) * 1000); // -1: expired or revoked just now
  }

  private async grant(ttlMs: number): Promise<{ id: string; ttlMs: number }> {
    if (ttlMs === 0) return { id: '0', ttlMs: 0 };
    // Repeatable: a grant whose answer was lost only leaves an etcd lease without keys, which runs out.
    const res = await this.rpc('grant a lease', () => this.client.leaseClient.leaseGrant({ TTL: Math.round(ttlMs / 1000) }), true);
    return { id: res.ID, ttlMs: Number(res.TTL) * 1000 };
  }

  /** Best effort: an unrevoked lease only lingers until its TTL (flannel logs and moves on too). */
  private async revoke(id: string | undefined): Promise<void> {
    if (id === undefined || id === '0') return;
    try {
      await this.rpc('revoke a lease', () => this.client.leaseClient.leaseRevoke({ ID: id }), true);
    } catch (err) {
      this.log?.warn((err as Error).message);
    }
  }

  async create(names: LeaseNames, attrs: LeaseAttrs, ttlMs: number): Promise<Lease | null> {
    // flannel's createSubnet: one key for both subnets (MakeSubnetKey), one etcd lease.
    const key = Buffer.from(subnetKey(this.prefix, names.subnet, names.ipv6Subnet));
    const value = Buffer.from(encodeLeaseAttrs(attrs));
    const grant = await this.grant(ttlMs);
    // flannel's createSubnet: put only if Version(key) == 0, i.e. the key does not exist.
    const done = await this.putTxn('create a subnet lease', key, value, grant.id, () =>
      this.client.kv.txn({ compare: [{ key, target: 'Version', result: 'Equal', version: 0 }], success: [{ request_put: { key, value, lease: grant.id } }] }),
    );
    if (done === null) return null;
    // A key created by this transaction has create_revision = its revision.
    return { ...names, attrs: decodeLeaseAttrs(value.toString()), expiration: expiry(grant), revision: done.revision, created: done.revision };
  }

  async replace(lease: Lease, attrs: LeaseAttrs, ttlMs: number): Promise<Lease | null> {
    const key = Buffer.from(subnetKey(this.prefix, lease.subnet, lease.ipv6Subnet));
    const value = Buffer.from(encodeLeaseAttrs(attrs));
    const grant = await this.grant(ttlMs);
    const done = await this.putTxn('rewrite a subnet lease', key, value, grant.id, () =>
      this.client.kv.txn({
        compare: [{ key, target: 'Mod', result: 'Equal', mod_revision: lease.revision }],
        success: [{ request_range: { key } }, { request_put: { key, value, lease: grant.id } }],
      }),
    );
    if (done === null) return null;
    if (done.previous !== grant.id) await this.revoke(done.previous);
    // flannel's RenewLease (updateSubnet) rewrites the one key: both subnets are renewed together.
    const out: Lease = { subnet: lease.subnet, attrs: decodeLeaseAttrs(value.toString()), expiration: expiry(grant), revision: done.revision };
    if (lease.ipv6Subnet !== undefined) out.ipv6Subnet = lease.ipv6Subnet;
    if (lease.created !== undefined) out.created = lease.created;
    return out;
  }

  /**
   * A transaction that puts `value` on `key` attached to etcd lease `grantId` (a
   * fresh grant). null when its compare failed; the grant is then revoked. When
   * the answer is lost (timeout, broken connection) the put may still have
   * committed: the key holding our value on our grant, which nobody else has,
   * proves it, and then it counts as done. Otherwise it is tried again, up to
   * READ_ATTEMPTS times; a compare that fails on a retry is checked the same way,
   * since the earlier attempt may have committed late.
   */
  private async putTxn(
    what: string,
    key: Buffer,
    value: Buffer,
    grantId: string,
    txn: () => Promise<ITxnResponse>,
  ): Promise<{ revision: number; previous: string | undefined } | null> {
    for (let attempt = 1; ; attempt++) {
      let res: ITxnResponse;
      try {
        res = await this.rpc(what, txn);
      } catch (err) {
        if (!(err instanceof RegistryUnavailableError)) return this.abandon(grantId, err);
        const landed = await this.landed(what, key, value, grantId);
        if (landed !== null) return landed;
        if (attempt >= READ_ATTEMPTS) return this.abandon(grantId, this.unavailable(what, err.cause, attempt));
        this.log?.warn(`${this.where}: ${what} failed (${errorMessage(err.cause)}) and did not land; trying again (${attempt + 1} of ${READ_ATTEMPTS})`);
        await sleep(RETRY_PAUSE_MS * attempt);
        continue;
      }
      if (res.succeeded) return { revision: Number(res.header.revision), previous: res.responses[0]?.response_range?.kvs[0]?.lease };
      const landed = attempt > 1 ? await this.landed(what, key, value, grantId) : null;
      if (landed !== null) return landed;
      await this.revoke(grantId);
      return null;
    }
  }

  private async abandon(grantId: string, err: unknown): Promise<never> {
    await this.revoke(grantId);
    throw err;
  }

  /** Our write, found in place after its answer was lost; null when it is not there. */
  private async landed(what: string, key: Buffer, value: Buffer, grantId: string): Promise<{ revision: number; previous: undefined } | null> {
    const revision = await this.landedRevision(key, value, grantId);
    if (revision === null) return null;
    this.log?.warn(`${this.where}: ${what}: the answer was lost, but the write is there (revision ${revision})`);
    return { revision, previous: undefined };
  }

  /** The key's mod revision when it holds `value` on `grantId`; null when not, or when etcd cannot say. */
  private async landedRevision(key: Buffer, value: Buffer, grantId: string): Promise<number | null> {
    try {
      const res = await this.rpc('check a write whose answer was lost', () => this.client.kv.range({ key }), true);
      const kv = res.kvs[0];
      return kv !== undefined && kv.lease === grantId && kv.value.equals(value) ? Number(kv.mod_revision) : null;
    } catch {
      return null;
    }
  }

  async remove(lease: Lease): Promise<boolean> {
    const key = Buffer.from(subnetKey(this.prefix, lease.subnet, lease.ipv6Subnet));
    const res = await this.rpc('delete a subnet lease', () =>
      this.client.kv.txn(
        {
          compare: [{ key, target: 'Mod', result: 'Equal', mod_revision: lease.revision }],
          success: [{ request_range: { key } }, { request_delete_range: { key } }],
        },
      ),
    );
    if (res.succeeded) await this.revoke(res.responses[0]?.response_range?.kvs[0]?.lease);
    return res.succeeded;
  }
}

function expiry(grant: { ttlMs: number }): Date | null {
  return grant.ttlMs === 0 ? null : new Date(Date.now() + grant.ttlMs);
}

type WatchItem =
  | { kind: 'data'; res: IWatchResponse }
  | { kind: 'canceled'; err: Error }
  | { kind: 'connected' }
  | { kind: 'lost'; why: string };

class EtcdRegistry extends StoreRegistry<EtcdStore> {
  private readonly closing = new AbortController();
  private readonly watchers = new Set<Watcher>();
  /** Several endpoints: the watch's own member, chosen and probed (etcd-watch-home.ts). */
  private readonly homes: WatchHomes | null;

  constructor(opts: EtcdRegistryOptions) {
    const timeoutMs = opts.timeoutMs ?? defaultAttemptMs(opts.endpoints.length);
    const client = new Etcd3(clientOptions(opts, timeoutMs));
    const prefix = opts.prefix ?? DEFAULT_PREFIX;
    super(new EtcdStore(client, prefix, opts.endpoints, timeoutMs, opts.logger), opts.logger);
    this.homes =
      opts.endpoints.length > 1
        ? new WatchHomes(opts.endpoints, (e) => new Etcd3(clientOptions({ ...opts, endpoints: [e] }, Math.min(timeoutMs, WATCH_PROBE_MS))), configKey(prefix))
        : null;
  }

  async *watchLeases(signal: AbortSignal): AsyncGenerator<LeaseEvent[]> {
    const stop = AbortSignal.any([signal, this.closing.signal]);
    const known = new Map<string, Lease>();
    const first = await this.store.list();
    yield diffLeases(known, first.leases);
    let next = first.revision + 1;
    let quickCancels = 0;
    let left: string | undefined; // the member a lost watch was on
    while (!stop.aborted) {
      const home = this.homes === null ? undefined : await this.pickHome(left, stop);
      if (stop.aborted) return;
      const client = home === undefined ? this.store.client : this.homes!.client(home);
      const inbox = new Inbox<WatchItem>();
      const watcher = client.watch().prefix(subnetsPrefix(this.store.prefix)).startRevision(String(next)).watcher();
      this.watchers.add(watcher);
      // Listeners go on before any response can arrive: an 'error' without one would crash the process.
      watcher.on('data', (res) => inbox.push({ kind: 'data', res }));
      watcher.on('error', (err) => inbox.push({ kind: 'canceled', err }));
      if (home !== undefined) {
        watcher.on('connected', () => inbox.push({ kind: 'connected' }));
        watcher.on('disconnected', (err: Error) => inbox.push({ kind: 'lost', why: `disconnected: ${errorMessage(err)}` }));
      }
      let canceled = false;
      let lost = false;
      let delivered = false;
      let created = false;
      try {
        watching: for (;;) {
          // With a home, silence is checked: not created in time, or a member that no longer answers.
          const items = await inbox.takeAll(stop, home === undefined ? undefined : created ? WATCH_IDLE_MS : WATCH_CONNECT_MS);
          if (items === undefined) return;
          if (items.length === 0 && home !== undefined) {
            const why = created ? await this.homes!.probe(home) : `not created within ${WATCH_CONNECT_MS} ms`;
            if (stop.aborted) return;
            if (why !== undefined) items.push({ kind: 'lost', why });
          }
          for (const item of items) {
            if (item.kind === 'connected') {
              created = true;
              continue;
            }
            if (item.kind === 'lost') {
              lost = true;
              this.log?.warn(`${this.store.where}: the lease watch on ${home} is lost (${item.why}): moving it to another member from revision ${next}`);
              break watching;
            }
            if (item.kind === 'canceled') {
              canceled = true;
              this.log?.warn(
                `${this.store.where} canceled the lease watch from revision ${next} (${item.err.message.replace(/:\s*$/, '')}), ` +
                  'most likely compacted: listing the leases again',
              );
              break watching;
            }
            created = true;
            delivered = true;
            let events: LeaseEvent[];
            try {
              events = await this.toEvents(item.res, known);
            } catch (err) {
              // Most likely etcd went away mid-batch: a fresh listing below converges instead.
              this.log?.warn(`${(err as Error).message}: listing the leases again`);
              break watching;
            }
            next = Number(item.res.header.revision) + 1;
            if (events.length > 0) yield events;
          }
        }
      } finally {
        // A canceled watcher is already gone from etcd3's manager (cancel() would wait
        // forever), and one close() took is being canceled there: cancel each once.
        const ours = this.watchers.delete(watcher);
        if (lost && home !== undefined) {
          // Not awaited: on a silent member the cancel waits for an answer that never
          // comes; closing the member's client ends the stream and the wait.
          if (ours) void cancelQuietly(watcher);
          this.homes!.discard(home);
        } else if (ours && !canceled) await cancelQuietly(watcher);
      }
      left = lost ? home : undefined;
      // A watch canceled again and again before delivering anything (e.g. no permission
      // to watch) must not spin: back off like flannel, 100 ms .. 5 s.
      quickCancels = delivered ? 0 : quickCancels + 1;
      if (quickCancels > 1) await sleep(Math.min(100 * 2 ** (quickCancels - 2), 5000), stop);
      const fresh = await this.relist(stop);
      if (fresh === undefined) return;
      next = fresh.revision + 1;
      const events = diffLeases(known, fresh.leases);
      if (events.length > 0) yield events;
    }
  }

  /** A member for the watch (etcd-watch-home.ts), or undefined when stopped. */
  private pickHome(leaving: string | undefined, stop: AbortSignal): Promise<string | undefined> {
    return this.untilDone(async () => (await this.homes!.pick(leaving)) ?? fail(`${this.store.where}: no member answers for the lease watch`), stop);
  }

  /** The leases and their revision, or undefined when stopped. */
  private relist(stop: AbortSignal): Promise<{ leases: Lease[]; revision: number } | undefined> {
    return this.untilDone(() => this.store.list(), stop);
  }

  /** `attempt` until it works, backing off 100 ms .. 5 s like flannel; undefined when stopped. */
  private async untilDone<T>(attempt: () => Promise<T>, stop: AbortSignal): Promise<T | undefined> {
    for (let delay = 100; !stop.aborted; delay = Math.min(delay * 2, 5000)) {
      try {
        return await attempt();
      } catch (err) {
        this.log?.warn(`${errorMessage(err)}; retrying in ${delay} ms`);
        await sleep(delay, stop);
      }
    }
    return undefined;
  }

  private async toEvents(res: IWatchResponse, known: Map<string, Lease>): Promise<LeaseEvent[]> {
    // Decode (and look up TTLs) in parallel, then apply strictly in order.
    const decoded = await Promise.all(res.events.map((ev) => (ev.type === 'Delete' ? null : this.store.toLease(ev.kv))));
    const events: LeaseEvent[] = [];
    res.events.forEach((ev, i) => {
      const names = parseSubnetKey(this.store.prefix, ev.kv.key.toString());
      if (!names) return;
      const id = leaseIdentity(names);
      const lease = ev.type === 'Delete' ? known.get(id) : decoded[i];
      if (!lease) return;
      if (ev.type === 'Delete') known.delete(id);
      else known.set(id, lease);
      events.push({ type: ev.type === 'Delete' ? 'removed' : 'added', lease });
    });
    return events;
  }

  async close(): Promise<void> {
    if (this.closing.signal.aborted) return;
    this.closing.abort();
    // Detach watchers first: a watcher left on a closed client retries forever.
    const watchers = [...this.watchers];
    this.watchers.clear();
    await Promise.all(watchers.map(cancelQuietly));
    this.homes?.close();
    this.store.client.close();
  }
}

async function cancelQuietly(watcher: Watcher): Promise<void> {
  watcher.removeAllListeners('error');
  watcher.on('error', () => {});
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    watcher.cancel().catch(() => {}),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, 1000))),
  ]);
  clearTimeout(timer);
}
