// The subnet registry in one local JSON file, for machines without etcd (a lab of
// network namespaces, a single host). It holds the same keys and values as etcd:
//   {
//     "/coreos.com/network/config": "{\"Network\":\"10.244.0.0/16\",...}",
//     "/coreos.com/network/subnets/10.244.1.0-24": "{\"PublicIP\":\"10.0.0.1\",...}",
//     "weft:meta": {"revision": 7, "keys": {"/coreos.com/network/subnets/10.244.1.0-24":
//                   {"revision": 7, "expiration": "2030-01-02T03:04:05.000Z"}}}
//   }
// "weft:meta" stands in for what etcd keeps beside the values: the store revision,
// each key's mod revision and its TTL (a key without an entry has revision 0 and no
// TTL). Writers take a lock file and replace the file by rename, so readers never
// see half a file; watchers poll it.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { configKey, decodeLeaseAttrs, DEFAULT_PREFIX, encodeLeaseAttrs, isObject, parseSubnetKey, subnetKey, subnetsPrefix } from './codec.js';
import { parseNetworkConfig } from './config.js';
import { NoNetworkConfigError, RegistryError } from './errors.js';
import { withFileLock } from './file-lock.js';
import { StoreRegistry, diffLeases, sleep, type LeaseNames, type LeaseStore } from './registry.js';
import type { Lease, LeaseAttrs, LeaseEvent, RegistryLogger } from './types.js';

export interface FileRegistryOptions {
  path: string;
  /** Key prefix, as in etcd; default /coreos.com/network. */
  prefix?: string;
  /** How often watchers look at the file. Default 200 ms. */
  pollIntervalMs?: number;
  /** Give up waiting for the lock file after this long. Default 5000 ms. */
  lockTimeoutMs?: number;
  /** A lock older than this was left by a crashed or hung writer. Default 10000 ms. */
  staleLockMs?: number;
  logger?: RegistryLogger;
}

export const DEFAULT_REGISTRY_FILE = '/var/lib/weft/registry.json';
const META = 'weft:meta';

interface KeyMeta {
  revision: number;
  expiration: string | null;
}
interface Doc {
  values: Map<string, string>;
  revision: number;
  keys: Map<string, KeyMeta>;
}

class FileStore implements LeaseStore {
  readonly where: string;
  constructor(
    readonly path: string,
    readonly prefix: string,
    private readonly lockTimeoutMs: number,
    private readonly staleLockMs: number,
    private readonly log?: RegistryLogger,
  ) {
    this.where = `file ${path}`;
  }

  /** The file's contents with expired keys dropped; an absent file is an empty registry. */
  async read(): Promise<Doc> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { values: new Map(), revision: 0, keys: new Map() };
      throw new RegistryError(`cannot read registry ${this.path}: ${(err as Error).message}`, { cause: err });
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new RegistryError(`registry ${this.path} is not valid JSON (${(err as Error).message}): repair it or delete it to start empty`);
    }
    if (!isObject(raw)) throw new RegistryError(`registry ${this.path} must hold a JSON object of key → value strings`);
    const doc: Doc = { values: new Map(), revision: 0, keys: new Map() };
    const meta = raw[META];
    if (isObject(meta)) {
      doc.revision = typeof meta.revision === 'number' ? meta.revision : 0;
      for (const [k, m] of Object.entries(isObject(meta.keys) ? meta.keys : {})) {
        if (isObject(m) && typeof m.revision === 'number') {
          doc.keys.set(k, { revision: m.revision, expiration: typeof m.expiration === 'string' ? m.expiration : null });
        }
      }
    }
    const now = Date.now();
    for (const [k, v] of Object.entries(raw)) {
      if (k === META) continue;
      if (typeof v !== 'string') {
        this.log?.warn(`ignoring ${k} in ${this.where}: its value must be a string (JSON text), as in etcd`);
        continue;
      }
      const exp = doc.keys.get(k)?.expiration;
      if (exp && Date.parse(exp) <= now) continue; // expired, like an etcd key whose lease ran out
      doc.values.set(k, v);
    }
    for (const k of doc.keys.keys()) if (!doc.values.has(k)) doc.keys.delete(k);
    return doc;
  }

  private async write(doc: Doc): Promise<void> {
    const out: Record<string, unknown> = {};
    for (const k of [...doc.values.keys()].sort()) out[k] = doc.values.get(k);
    out[META] = { revision: doc.revision, keys: Object.fromEntries([...doc.keys].sort(([a], [b]) => (a < b ? -1 : 1))) };
    const tmp = `${this.path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    const fh = await open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(`${JSON.stringify(out, null, 2)}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await rename(tmp, this.path);
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw err;
    }
  }

  /** Read-modify-write under the lock; `fn` returns what to report and whether it changed the doc. */
  async mutate<T>(fn: (doc: Doc) => { result: T; changed: boolean }): Promise<T> {
    await mkdir(dirname(this.path), { recursive: true });
    return withFileLock(`${this.path}.lock`, { timeoutMs: this.lockTimeoutMs, staleMs: this.staleLockMs }, async () => {
      const doc = await this.read();
      const { result, changed } = fn(doc);
      if (changed) await this.write(doc);
      return result;
    });
  }

  async readConfig(): Promise<string> {
    const key = configKey(this.prefix);
    const value = (await this.read()).values.get(key);
    if (value === undefined) {
      throw new NoNetworkConfigError(
        `no network config at ${key} in ${this.where}: add it, e.g. ` +
          `{${JSON.stringify(key)}: ${JSON.stringify('{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan"}}')}} ` +
          '(or call FileRegistry.putNetworkConfig)',
      );
    }
    return value;
  }

  async list(): Promise<{ leases: Lease[]; revision: number }> {
    const doc = await this.read();
    const leases: Lease[] = [];
    for (const [key, value] of doc.values) {
      if (!key.startsWith(subnetsPrefix(this.prefix))) continue;
      const names = parseSubnetKey(this.prefix, key);
      if (!names) {
        this.log?.warn(`ignoring ${key} in ${this.where}: not a subnet key like ${subnetKey(this.prefix, '10.244.3.0/24')}`);
        continue;
      }
      try {
        const meta = doc.keys.get(key);
        const exp = meta?.expiration;
        leases.push({ ...names, attrs: decodeLeaseAttrs(value), expiration: exp ? new Date(exp) : null, revision: meta?.revision ?? 0 });
      } catch (err) {
        this.log?.warn(`ignoring ${key} in ${this.where}: ${(err as Error).message}`);
      }
    }
    return { leases, revision: doc.revision };
  }

  /** Writes a lease value as revision doc.revision+1 and returns the Lease. */
  private put(doc: Doc, names: { subnet: string; ipv6Subnet?: string }, attrs: LeaseAttrs, ttlMs: number): Lease {
    const value = encodeLeaseAttrs(attrs);
    const key = subnetKey(this.prefix, names.subnet, names.ipv6Subnet);
    const expiration = ttlMs === 0 ? null : new Date(Date.now() + ttlMs);
    doc.revision += 1;
    doc.values.set(key, value);
    doc.keys.set(key, { revision: doc.revision, expiration: expiration?.toISOString() ?? null });
    return { ...names, attrs: decodeLeaseAttrs(value), expiration, revision: doc.revision };
  }

  /** Is `lease` still the current value of its key? Keys without meta have revision 0. */
  private current(doc: Doc, lease: Lease): boolean {
    const key = subnetKey(this.prefix, lease.subnet, lease.ipv6Subnet);
    return doc.values.has(key) && (doc.keys.get(key)?.revision ?? 0) === lease.revision;
  }

  create(names: LeaseNames, attrs: LeaseAttrs, ttlMs: number): Promise<Lease | null> {
    const key = subnetKey(this.prefix, names.subnet, names.ipv6Subnet);
    return this.mutate((doc) => (doc.values.has(key) ? { result: null, changed: false } : { result: this.put(doc, names, attrs, ttlMs), changed: true }));
  }

  replace(lease: Lease, attrs: LeaseAttrs, ttlMs: number): Promise<Lease | null> {
    return this.mutate((doc) => {
      if (!this.current(doc, lease)) return { result: null, changed: false };
      const names = lease.ipv6Subnet === undefined ? { subnet: lease.subnet } : { subnet: lease.subnet, ipv6Subnet: lease.ipv6Subnet };
      return { result: this.put(doc, names, attrs, ttlMs), changed: true };
    });
  }

  remove(lease: Lease): Promise<boolean> {
    return this.mutate((doc) => {
      if (!this.current(doc, lease)) return { result: false, changed: false };
      const key = subnetKey(this.prefix, lease.subnet, lease.ipv6Subnet);
      doc.values.delete(key);
      doc.keys.delete(key);
      doc.revision += 1;
      return { result: true, changed: true };
    });
  }

  /** Cheap change detector for the poller: rename gives a new inode, writes a new mtime/size. */
  async signature(): Promise<string> {
    const st = await stat(this.path).catch(() => null);
    return st ? `${st.ino}:${st.size}:${st.mtimeMs}` : 'absent';
  }
}

export class FileRegistry extends StoreRegistry<FileStore> {
  private readonly pollMs: number;
  private readonly closing = new AbortController();

  constructor(opts: FileRegistryOptions) {
    super(new FileStore(opts.path, opts.prefix ?? DEFAULT_PREFIX, opts.lockTimeoutMs ?? 5000, opts.staleLockMs ?? 10_000, opts.logger), opts.logger);
    this.pollMs = opts.pollIntervalMs ?? 200;
  }

  /** Writes `<prefix>/config` after checking it (ConfigError if invalid): the file's `etcdctl put`. */
  async putNetworkConfig(json: string): Promise<void> {
    parseNetworkConfig(json);
    const key = configKey(this.store.prefix);
    await this.store.mutate((doc) => {
      if (doc.values.get(key) === json) return { result: undefined, changed: false };
      doc.revision += 1;
      doc.values.set(key, json);
      doc.keys.set(key, { revision: doc.revision, expiration: null });
      return { result: undefined, changed: true };
    });
  }

  async *watchLeases(signal: AbortSignal): AsyncGenerator<LeaseEvent[]> {
    const stop = AbortSignal.any([signal, this.closing.signal]);
    const known = new Map<string, Lease>();
    let seen = await this.store.signature();
    yield diffLeases(known, (await this.store.list()).leases);
    while (!stop.aborted) {
      await sleep(this.pollMs, stop);
      if (stop.aborted) return;
      const sig = await this.store.signature();
      // Expiry changes the listing without touching the file.
      const expired = [...known.values()].some((l) => l.expiration !== null && l.expiration.getTime() <= Date.now());
      if (sig === seen && !expired) continue;
      let fresh: Lease[];
      try {
        fresh = (await this.store.list()).leases;
      } catch (err) {
        this.log?.warn(`${(err as Error).message}; keeping the last good state`);
        continue;
      }
      seen = sig;
      const events = diffLeases(known, fresh);
      if (events.length > 0) yield events;
    }
  }

  async close(): Promise<void> {
    this.closing.abort();
  }
}
