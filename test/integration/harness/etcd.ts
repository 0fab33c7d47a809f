// A real etcd (Debian etcd-server) inside the underlay namespace, on the bridge
// address, and a tiny client for it over etcd's JSON gateway (/v3/kv/...), run
// with curl inside that namespace (the test process itself lives in the root
// namespace and cannot reach it, on purpose).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { nsRun, Proc, waitFor } from './exec.js';
import type { Janitor } from './janitor.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const unb64 = (s: string): string => Buffer.from(s, 'base64').toString();

/** The key right after every key with this prefix (etcd range_end). */
function prefixEnd(prefix: string): string {
  const b = Buffer.from(prefix);
  b[b.length - 1]! += 1;
  return b.toString();
}

export interface KeyValue {
  key: string;
  value: string;
  lease: string;
}

export class Etcd {
  constructor(
    readonly ns: string,
    readonly endpoint: string,
    readonly proc: Proc,
  ) {}

  static async start(janitor: Janitor, ns: string, address: string, dir: string): Promise<Etcd> {
    const dataDir = join(dir, 'etcd');
    mkdirSync(dataDir, { recursive: true });
    const endpoint = `http://${address}:2379`;
    const peer = 'http://127.0.0.1:2380';
    const proc = new Proc(
      janitor,
      ns,
      'etcd',
      [
        '--name', 'weftit',
        '--data-dir', dataDir,
        '--listen-client-urls', endpoint,
        '--advertise-client-urls', endpoint,
        '--listen-peer-urls', peer,
        '--initial-advertise-peer-urls', peer,
        '--initial-cluster', `weftit=${peer}`,
        '--initial-cluster-state', 'new',
        '--logger', 'zap',
        '--log-level', 'warn',
      ],
      { logFile: join(dir, 'etcd.log') },
    );
    const etcd = new Etcd(ns, endpoint, proc);
    await waitFor(
      'etcd /health',
      async () => {
        if (!proc.running) throw new Error(`etcd exited:\n${proc.output().slice(-3000)}`);
        const r = await nsRun(ns, 'curl', ['-s', '-m', '1', `${endpoint}/health`], { allowFail: true });
        return /"health":\s*"?true/.test(r.stdout);
      },
      20_000,
      100,
    );
    return etcd;
  }

  private async call(path: string, body: unknown): Promise<any> {
    const r = await nsRun(this.ns, 'curl', ['-sS', '-m', '5', '-X', 'POST', `${this.endpoint}${path}`, '-d', JSON.stringify(body)]);
    const doc = JSON.parse(r.stdout);
    if (doc.error || doc.code) throw new Error(`etcd ${path}: ${r.stdout}`);
    return doc;
  }

  async put(key: string, value: string, lease?: string): Promise<void> {
    await this.call('/v3/kv/put', { key: b64(key), value: b64(value), ...(lease ? { lease } : {}) });
  }

  async get(key: string): Promise<KeyValue | null> {
    const doc = await this.call('/v3/kv/range', { key: b64(key) });
    const kv = doc.kvs?.[0];
    return kv ? { key: unb64(kv.key), value: unb64(kv.value ?? ''), lease: String(kv.lease ?? '0') } : null;
  }

  async list(prefix: string): Promise<KeyValue[]> {
    const doc = await this.call('/v3/kv/range', { key: b64(prefix), range_end: b64(prefixEnd(prefix)) });
    return (doc.kvs ?? []).map((kv: any) => ({ key: unb64(kv.key), value: unb64(kv.value ?? ''), lease: String(kv.lease ?? '0') }));
  }

  async del(key: string): Promise<number> {
    const doc = await this.call('/v3/kv/deleterange', { key: b64(key) });
    return Number(doc.deleted ?? 0);
  }

  /** A new etcd lease; returns its id (decimal string, as the gateway prints it). */
  async grant(ttlSeconds: number): Promise<string> {
    const doc = await this.call('/v3/lease/grant', { TTL: String(ttlSeconds) });
    return String(doc.ID);
  }

  async stop(): Promise<void> {
    await this.proc.stop('SIGTERM', 3000);
  }
}

export const NETWORK_PREFIX = '/coreos.com/network';
export const SUBNETS_PREFIX = `${NETWORK_PREFIX}/subnets/`;

export interface LeaseRecord {
  /** The IPv4 subnet ("0.0.0.0/0" on flannel's IPv6-only keys). */
  subnet: string;
  /** Dual-stack and IPv6-only keys (`…-24&fd00:…::-64`): the IPv6 subnet. */
  ipv6Subnet?: string;
  key: string;
  value: string;
  lease: string;
  attrs: {
    PublicIP: string;
    PublicIPv6?: string | null;
    BackendType?: string;
    BackendData?: { VNI?: number; VtepMAC?: string };
    BackendV6Data?: { VNI?: number; VtepMAC?: string };
  };
}

export async function readLeases(etcd: Etcd): Promise<LeaseRecord[]> {
  const kvs = await etcd.list(SUBNETS_PREFIX);
  return kvs.map((kv) => ({
    subnet: kv.key.slice(SUBNETS_PREFIX.length).split('&')[0]!.replace('-', '/'),
    ...(kv.key.includes('&') ? { ipv6Subnet: kv.key.split('&')[1]!.replace(/-(\d+)$/, '/$1') } : {}),
    key: kv.key,
    value: kv.value,
    lease: kv.lease,
    attrs: JSON.parse(kv.value),
  }));
}
