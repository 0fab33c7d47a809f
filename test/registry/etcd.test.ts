// The etcd registry against a real etcd (Debian package etcd-server), started per file.
import { Etcd3, GRPCUnavailableError } from 'etcd3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createEtcdRegistry, type EtcdRegistryOptions } from '../../src/registry/etcd.js';
import type { LeaseAttrs, SubnetRegistry } from '../../src/registry/types.js';
import { freePort, startTestEtcd, type TestEtcd } from './etcd-server.js';
import { startTcpProxy } from './tcp-proxy.js';
import { consume, until } from './watch-helper.js';

const CONFIG = '{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan"}}';
// What flannel's vxlan backend stores (flannel Documentation/reservations.md).
const flannelValue = (ip: string, mac: string): string =>
  `{"PublicIP":"${ip}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${mac}"}}`;
const attrs = (ip: string): LeaseAttrs => ({ PublicIP: ip, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: '02:00:00:00:00:01' } });

let etcd: TestEtcd;
let admin: Etcd3;
let prefix: string;
let counter = 0;
const registries: SubnetRegistry[] = [];

function registry(extra: Partial<EtcdRegistryOptions> = {}): SubnetRegistry {
  const r = createEtcdRegistry({ endpoints: [etcd.endpoint], prefix, timeoutMs: 2000, ...extra });
  registries.push(r);
  return r;
}
/** A lease put the way flannel's createSubnet does: granted 24 h lease, then put attached to it. */
async function flannelPut(subnet: string, value: string): Promise<string> {
  const { ID } = await admin.leaseClient.leaseGrant({ TTL: 86400 });
  await admin.kv.put({ key: Buffer.from(`${prefix}/subnets/${subnet.replace('/', '-')}`), value: Buffer.from(value), lease: ID });
  return ID;
}
async function keyOf(subnet: string): Promise<{ value: string; lease: string } | undefined> {
  const res = await admin.kv.range({ key: Buffer.from(`${prefix}/subnets/${subnet.replace('/', '-')}`) });
  const kv = res.kvs[0];
  return kv && { value: kv.value.toString(), lease: kv.lease };
}

beforeAll(async () => {
  etcd = await startTestEtcd();
  admin = new Etcd3({ hosts: etcd.endpoint });
}, 60_000);
afterAll(async () => {
  admin?.close();
  await etcd?.stop();
});
beforeEach(async () => {
  prefix = `/wefttest-${++counter}/network`; // each test its own network
  await admin.put(`${prefix}/config`).value(CONFIG);
});
afterEach(async () => {
  await Promise.all(registries.splice(0).map((r) => r.close()));
});

describe('etcd registry', () => {
  it('reads and checks the network config, and says how to write a missing one', async () => {
    expect((await registry().getNetworkConfig()).SubnetMin).toBe('10.244.1.0');
    await admin.delete().key(`${prefix}/config`);
    await expect(registry().getNetworkConfig()).rejects.toMatchObject({
      code: 'ERR_WEFT_NO_NETWORK_CONFIG',
      message: expect.stringContaining(`no network config at ${prefix}/config in etcd ${etcd.endpoint}: write one with etcdctl put ${prefix}/config '{`),
    });
    await admin.put(`${prefix}/config`).value('{"Network": "10.244.0.0/16", "SubnetLen": 33}');
    await expect(registry().getNetworkConfig()).rejects.toMatchObject({ code: 'ERR_WEFT_CONFIG', message: expect.stringContaining('"SubnetLen" is 33') });
  });

  it('stores the lease as flannel does, attached to a 24 h etcd lease', async () => {
    const lease = await registry().acquireLease(attrs('192.168.1.10'));
    const stored = await keyOf(lease.subnet);
    expect(stored?.value).toBe(flannelValue('192.168.1.10', '02:00:00:00:00:01'));
    const ttl = await admin.leaseClient.leaseTimeToLive({ ID: stored!.lease });
    expect(Number(ttl.grantedTTL)).toBe(86400);
    expect(Number(ttl.TTL)).toBeGreaterThan(86400 - 60);
    expect(lease.expiration!.getTime() - Date.now()).toBeGreaterThan(86_340_000);
  });

  it('lets exactly one of two racing registries create the last free subnet', async () => {
    await admin.put(`${prefix}/config`).value('{"Network": "10.0.0.0/28", "SubnetMin": "10.0.0.4", "SubnetMax": "10.0.0.4", "Backend": {"Type": "vxlan"}}');
    const results = await Promise.allSettled([registry().acquireLease(attrs('192.168.1.1')), registry().acquireLease(attrs('192.168.1.2'))]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost[0]?.reason).toMatchObject({ code: 'ERR_WEFT_SUBNETS_EXHAUSTED' });
  });

  it('gives racing nodes that prefer the same subnet distinct subnets, one of them the preferred', async () => {
    const leases = await Promise.all([1, 2, 3, 4, 5].map((n) => registry().acquireLease(attrs(`192.168.1.${n}`), { preferSubnet: '10.244.42.1/24' })));
    const subnets = leases.map((l) => l.subnet);
    expect(new Set(subnets).size).toBe(5);
    expect(subnets.filter((s) => s === '10.244.42.0/24')).toHaveLength(1);
  });

  it('reuses the lease after a restart and revokes the etcd lease it replaced', async () => {
    const first = registry();
    const lease = await first.acquireLease(attrs('192.168.1.10'));
    const before = await keyOf(lease.subnet);
    await first.close();
    const again = await registry().acquireLease(attrs('192.168.1.10'));
    expect(again.subnet).toBe(lease.subnet);
    const after = await keyOf(lease.subnet);
    expect(after!.lease).not.toBe(before!.lease);
    expect(Number((await admin.leaseClient.leaseTimeToLive({ ID: before!.lease })).TTL)).toBe(-1); // revoked
  });

  it('reuses a lease flannel wrote for the same PublicIP', async () => {
    await flannelPut('10.244.77.0/24', flannelValue('192.168.1.30', 'c6:d2:32:6f:8f:44'));
    const lease = await registry().acquireLease(attrs('192.168.1.30'));
    expect(lease.subnet).toBe('10.244.77.0/24');
  });

  it('renews by re-putting on a fresh 24 h lease, only while the lease is ours', async () => {
    const r = registry();
    const lease = await r.acquireLease(attrs('192.168.1.10'));
    const before = await keyOf(lease.subnet);
    const renewed = await r.renewLease(lease);
    const after = await keyOf(lease.subnet);
    expect(after!.value).toBe(before!.value);
    expect(after!.lease).not.toBe(before!.lease);
    expect(Number((await admin.leaseClient.leaseTimeToLive({ ID: after!.lease })).grantedTTL)).toBe(86400);
    expect(renewed.revision).toBeGreaterThan(lease.revision);
    await admin.delete().key(`${prefix}/subnets/${lease.subnet.replace('/', '-')}`);
    await expect(r.renewLease(renewed)).rejects.toMatchObject({ code: 'ERR_WEFT_LEASE_LOST' });
  });

  // The answer of a transaction lost on the way back (etcd stalled past the deadline,
  // a connection reset): the registry's own client is wrapped so that the real
  // transaction runs against etcd (or not) and then the caller sees a transport error.
  function loseTxnAnswers(r: SubnetRegistry, commit: boolean): () => void {
    const kv = (r as unknown as { store: { client: Etcd3 } }).store.client.kv;
    const real = kv.txn.bind(kv);
    kv.txn = async (req) => {
      if (commit) await real(req);
      throw new GRPCUnavailableError('14 UNAVAILABLE: connection reset (the test dropped the answer)');
    };
    return () => {
      kv.txn = real;
    };
  }

  it('a renewal that committed but whose answer was lost counts as done (not as a lost lease)', async () => {
    const warnings: string[] = [];
    const r = registry({ logger: { info: () => {}, warn: (m) => warnings.push(m) } });
    const lease = await r.acquireLease(attrs('192.168.1.10'));
    const restore = loseTxnAnswers(r, true);
    const renewed = await r.renewLease(lease);
    restore();
    const stored = await keyOf(lease.subnet);
    expect(stored?.value).toBe(flannelValue('192.168.1.10', '02:00:00:00:00:01'));
    expect(Number((await admin.leaseClient.leaseTimeToLive({ ID: stored!.lease })).TTL), 'the new grant was kept').toBeGreaterThan(86400 - 60);
    expect(warnings.join('\n')).toMatch(/rewrite a subnet lease: the answer was lost, but the write is there/);
    expect((await r.renewLease(renewed)).revision, 'the revision it returned is the key\'s: the next renewal compares right').toBeGreaterThan(renewed.revision);
  });

  it('a create that committed but whose answer was lost is this node\'s lease, kept', async () => {
    const r = registry();
    const restore = loseTxnAnswers(r, true);
    const lease = await r.acquireLease(attrs('192.168.1.11'));
    restore();
    expect((await keyOf(lease.subnet))?.value).toBe(flannelValue('192.168.1.11', '02:00:00:00:00:01'));
    expect((await r.renewLease(lease)).subnet).toBe(lease.subnet);
  });

  it('a renewal that did not commit fails as unavailable, revokes its grant and leaves the lease as it was', async () => {
    const r = registry();
    const lease = await r.acquireLease(attrs('192.168.1.12'));
    const before = await keyOf(lease.subnet);
    const grants = (await admin.leaseClient.leaseLeases({})).leases.length;
    const restore = loseTxnAnswers(r, false);
    await expect(r.renewLease(lease)).rejects.toMatchObject({ code: 'ERR_WEFT_REGISTRY_UNAVAILABLE', message: expect.stringContaining('rewrite a subnet lease failed 3 times') });
    restore();
    expect(await keyOf(lease.subnet)).toEqual(before);
    expect((await admin.leaseClient.leaseLeases({})).leases.length, 'the fresh grant was revoked').toBe(grants);
    expect((await r.renewLease(lease)).revision).toBeGreaterThan(lease.revision);
  });

  it('a renewal whose first answer was lost before it committed is tried again and succeeds', async () => {
    const warnings: string[] = [];
    const r = registry({ logger: { info: () => {}, warn: (m) => warnings.push(m) } });
    const lease = await r.acquireLease(attrs('192.168.1.13'));
    const kv = (r as unknown as { store: { client: Etcd3 } }).store.client.kv;
    const real = kv.txn.bind(kv);
    let lost = 0;
    kv.txn = async (req) => {
      if (lost++ === 0) throw new GRPCUnavailableError('14 UNAVAILABLE: connection reset (the test dropped the request)');
      return real(req);
    };
    const renewed = await r.renewLease(lease);
    kv.txn = real;
    expect(lost).toBe(2);
    expect(warnings.join('\n')).toMatch(/rewrite a subnet lease failed \(.*\) and did not land; trying again \(2 of 3\)/);
    expect((await keyOf(lease.subnet))?.lease).not.toBe('0');
    expect((await r.renewLease(renewed)).revision).toBeGreaterThan(renewed.revision);
  });

  it('a renewal that commits only after its answer was lost and checked (late) is found when the retry\'s compare fails', async () => {
    const r = registry();
    const lease = await r.acquireLease(attrs('192.168.1.14'));
    const kv = (r as unknown as { store: { client: Etcd3 } }).store.client.kv;
    const [realTxn, realRange] = [kv.txn.bind(kv), kv.range.bind(kv)];
    let late: (() => Promise<unknown>) | null = null;
    let calls = 0;
    kv.txn = async (req) => {
      if (calls++ > 0) return realTxn(req);
      late = () => realTxn(req); // held back: etcd applies it after the check below has read
      throw new GRPCUnavailableError('14 UNAVAILABLE: connection reset (the test held the request back)');
    };
    kv.range = async (req) => {
      const res = await realRange(req);
      const commit = late;
      late = null;
      if (commit) await commit(); // the check saw the old key; now the first attempt lands
      return res;
    };
    const renewed = await r.renewLease(lease);
    [kv.txn, kv.range] = [realTxn, realRange];
    expect(calls).toBe(2);
    const stored = await keyOf(lease.subnet);
    expect(Number((await admin.leaseClient.leaseTimeToLive({ ID: stored!.lease })).TTL), 'the grant the key is on was kept').toBeGreaterThan(86400 - 60);
    expect((await r.renewLease(renewed)).revision).toBeGreaterThan(renewed.revision);
  });

  it('keeps a reservation (a key without TTL) a reservation', async () => {
    await admin.put(`${prefix}/subnets/10.244.9.0-24`).value(flannelValue('192.168.1.40', 'c6:d2:32:6f:8f:44'));
    const lease = await registry().acquireLease(attrs('192.168.1.40'));
    expect(lease).toMatchObject({ subnet: '10.244.9.0/24', expiration: null });
    expect((await keyOf('10.244.9.0/24'))!.lease).toBe('0');
  });

  it('watch: snapshot first, then a lease written by flannel, then its deletion, each within a second', async () => {
    const r = registry();
    const mine = await r.acquireLease(attrs('192.168.1.10'));
    const stop = new AbortController();
    const watch = consume(r.watchLeases(stop.signal));
    await until(() => watch.batches.length >= 1, 2000, 'the snapshot');
    expect(watch.batches[0]!.map((e) => [e.type, e.lease.subnet])).toEqual([['added', mine.subnet]]);

    await flannelPut('10.244.200.0/24', flannelValue('192.168.1.50', '6e:52:f6:1b:1e:83'));
    await until(() => watch.state.has('10.244.200.0/24'), 1000, 'the flannel lease');
    const seen = watch.state.get('10.244.200.0/24')!;
    expect(seen.attrs).toEqual({ PublicIP: '192.168.1.50', PublicIPv6: null, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: '6e:52:f6:1b:1e:83' } });
    expect(seen.expiration!.getTime() - Date.now()).toBeGreaterThan(86_340_000);

    await admin.delete().key(`${prefix}/subnets/10.244.200.0-24`);
    await until(() => !watch.state.has('10.244.200.0/24'), 1000, 'the deletion');
    stop.abort();
    await watch.done;
    expect(watch.error()).toBeUndefined();
  });

  it('watch: resyncs after the revision it resumes from was compacted, and carries on', async () => {
    const proxy = await startTcpProxy(etcd.clientPort);
    const warnings: string[] = [];
    try {
      await flannelPut('10.244.1.0/24', flannelValue('192.168.1.1', '02:00:00:00:00:0a'));
      await flannelPut('10.244.2.0/24', flannelValue('192.168.1.2', '02:00:00:00:00:0b'));
      const r = registry({ endpoints: [proxy.endpoint], logger: { info: () => {}, warn: (m) => warnings.push(m) } });
      const stop = new AbortController();
      const watch = consume(r.watchLeases(stop.signal));
      await until(() => watch.state.size === 2, 2000, 'the snapshot');

      proxy.cut(); // the watcher is disconnected; meanwhile the cluster moves on and compacts
      await flannelPut('10.244.3.0/24', flannelValue('192.168.1.3', '02:00:00:00:00:0c'));
      await admin.delete().key(`${prefix}/subnets/10.244.2.0-24`);
      for (let i = 0; i < 5; i++) await admin.put(`${prefix}/unrelated`).value(String(i));
      const rev = (await admin.kv.range({ key: Buffer.from(`${prefix}/config`) })).header.revision;
      await admin.kv.compact({ revision: rev, physical: true });
      proxy.restore();

      await until(() => [...watch.state.keys()].sort().join() === '10.244.1.0/24,10.244.3.0/24', 20_000, 'convergence after compaction');
      expect(warnings.some((w) => w.includes('canceled the lease watch') && w.includes('compacted'))).toBe(true);
      const resync = watch.batches.at(-1)!;
      expect(resync.map((e) => `${e.type} ${e.lease.subnet}`).sort()).toEqual(['added 10.244.3.0/24', 'removed 10.244.2.0/24']);

      await flannelPut('10.244.4.0/24', flannelValue('192.168.1.4', '02:00:00:00:00:0d'));
      await until(() => watch.state.has('10.244.4.0/24'), 1000, 'a change after the resync');
      stop.abort();
      await watch.done;
      expect(watch.error()).toBeUndefined();
    } finally {
      await proxy.close();
    }
  });

  it('close() ends an open watch', async () => {
    const r = registry();
    const watch = consume(r.watchLeases(new AbortController().signal));
    await until(() => watch.batches.length >= 1, 2000, 'the snapshot');
    await r.close();
    await watch.done;
    expect(watch.error()).toBeUndefined();
  });

  it('a read that outlives its deadline (etcd stalled) is tried again with a fresh deadline', async () => {
    const warnings: string[] = [];
    const r = registry({ timeoutMs: 1000, logger: { warn: (m: string) => warnings.push(m), info: () => {} } });
    process.kill(etcd.pid, 'SIGSTOP'); // as a disk stall would: connections open, nothing answered
    const resume = setTimeout(() => process.kill(etcd.pid, 'SIGCONT'), 1300);
    try {
      expect((await r.getNetworkConfig()).Network).toBe('10.244.0.0/16');
    } finally {
      clearTimeout(resume);
      process.kill(etcd.pid, 'SIGCONT');
    }
    expect(warnings[0]).toMatch(/read the network config failed \(.*DEADLINE_EXCEEDED.*\); trying again \(2 of 3\)/);
  });

  it('reports an unreachable endpoint quickly and by name', async () => {
    const port = await freePort();
    const started = Date.now();
    await expect(registry({ endpoints: [`http://127.0.0.1:${port}`], timeoutMs: 1000 }).getNetworkConfig()).rejects.toMatchObject({
      code: 'ERR_WEFT_REGISTRY_UNAVAILABLE',
      message: expect.stringContaining(`etcd http://127.0.0.1:${port} is unreachable`),
    });
    expect(Date.now() - started).toBeLessThan(3000);
  });
});
