// Failover between --etcd-endpoints (src/registry/etcd-endpoints.ts), against a real
// etcd on loopback behind endpoints that refuse, that answer nothing, or that are
// cut under an open watch. The 3-member cluster with members killed and frozen is
// test/integration/etcd-failover.test.ts.
import { createServer, type Server, type Socket } from 'node:net';
import { Etcd3 } from 'etcd3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createEtcdRegistry, type EtcdRegistryOptions } from '../../src/registry/etcd.js';
import type { LeaseAttrs, SubnetRegistry } from '../../src/registry/types.js';
import { freePort, startTestEtcd, type TestEtcd } from './etcd-server.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';
import { consume, until } from './watch-helper.js';

const CONFIG = '{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan"}}';
const attrs = (ip: string): LeaseAttrs => ({ PublicIP: ip, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: '02:00:00:00:00:01' } });

let etcd: TestEtcd;
let admin: Etcd3;
let prefix: string;
let counter = 0;
const registries: SubnetRegistry[] = [];
const cleanups: Array<() => Promise<void>> = [];

function registry(endpoints: string[], extra: Partial<EtcdRegistryOptions> = {}): { r: SubnetRegistry; warnings: string[] } {
  const warnings: string[] = [];
  const r = createEtcdRegistry({ endpoints, prefix, timeoutMs: 1000, logger: { info: () => {}, warn: (m) => warnings.push(m) }, ...extra });
  registries.push(r);
  return { r, warnings };
}

/** A port nothing listens on: connections are refused, as to a killed member. */
async function refusing(): Promise<string> {
  return `http://127.0.0.1:${await freePort()}`;
}

/** Accepts connections and never answers, as a frozen member (SIGSTOP) does. */
async function silent(): Promise<string> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const addr = server.address();
  return `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
}

async function proxy(): Promise<TcpProxy> {
  const p = await startTcpProxy(etcd.clientPort);
  cleanups.push(() => p.close());
  return p;
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
  prefix = `/wefttest-endpoints-${++counter}/network`;
  await admin.put(`${prefix}/config`).value(CONFIG);
});
afterEach(async () => {
  await Promise.all(registries.splice(0).map((r) => r.close()));
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

describe('etcd endpoints: failover', () => {
  it('with two of three endpoints refusing, every read, start and renewal reaches the live one', async () => {
    const { r, warnings } = registry([await refusing(), etcd.endpoint, await refusing()]);
    const started = Date.now();
    for (let i = 0; i < 30; i++) expect((await r.getNetworkConfig()).Network).toBe('10.244.0.0/16');
    let lease = await r.acquireLease(attrs('192.168.7.1'));
    for (let i = 0; i < 10; i++) lease = await r.renewLease(lease);
    // Each dead endpoint costs a refused attempt now and then (after each rest), never a failed call.
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(warnings.length, warnings.join('\n')).toBeLessThan(20);
    for (const w of warnings) expect(w).toMatch(/ECONNREFUSED|circuit/);
  });

  it('an endpoint that answers nothing costs one deadline, then rests while the others serve', async () => {
    const { r, warnings } = registry([await silent(), etcd.endpoint]);
    const started = Date.now();
    for (let i = 0; i < 20; i++) expect((await r.getNetworkConfig()).Network).toBe('10.244.0.0/16');
    const took = Date.now() - started;
    // At most the first attempt and one probe after its 3 s rest hit the silent one.
    expect(took).toBeLessThan(4500);
    expect(warnings.filter((w) => /DEADLINE_EXCEEDED/.test(w)).length).toBeLessThanOrEqual(2);
  });

  it('a watch whose endpoint goes away carries on through another, missing nothing', async () => {
    const [a, b] = [await proxy(), await proxy()];
    const { r } = registry([a.endpoint, b.endpoint]);
    const watch = consume(r.watchLeases(new AbortController().signal));
    await until(() => watch.batches.length >= 1, 3000, 'the snapshot');
    const put = async (subnet: string): Promise<void> => {
      await admin.kv.put({ key: Buffer.from(`${prefix}/subnets/${subnet.replace('/', '-')}`), value: Buffer.from(JSON.stringify(attrs('192.168.7.9'))) });
    };
    // Whichever proxy carries the watch, one of the two cuts drops it.
    for (const [cut, subnet] of [[a, '10.244.1.0/24'], [b, '10.244.2.0/24']] as const) {
      cut.cut();
      await put(subnet);
      const t = Date.now();
      await until(() => watch.state.has(subnet), 4000, `${subnet} through the other endpoint`);
      expect(Date.now() - t).toBeLessThan(4000);
      cut.restore();
    }
    expect([...watch.state.keys()].sort()).toEqual(['10.244.1.0/24', '10.244.2.0/24']);
    expect(watch.error()).toBeUndefined();
  });

  it('a watch starts on a member that answers, never on a silent one, and leaves one that goes silent under it, missing nothing', async () => {
    const put = async (subnet: string): Promise<void> => {
      await admin.kv.put({ key: Buffer.from(`${prefix}/subnets/${subnet.replace('/', '-')}`), value: Buffer.from(JSON.stringify(attrs('192.168.7.9'))) });
    };
    const [a, b] = [await proxy(), await proxy()];
    b.freeze();
    const quiet = await silent();
    // Drawn at random, as etcd3 draws, the watch would land on b or `quiet` two times in three
    // and wait there for grpc's 20 s connect timeout: three watches in a row make that near certain.
    for (let i = 1; i <= 3; i++) {
      const { r } = registry([b.endpoint, quiet, a.endpoint]);
      const watch = consume(r.watchLeases(new AbortController().signal));
      await until(() => watch.batches.length >= 1, 8000, 'the snapshot');
      const subnet = `10.244.${10 + i}.0/24`;
      await put(subnet);
      await until(() => watch.state.has(subnet), 3000, `${subnet} in watch ${i}, which must live on the member that answers`);
    }
    // Now the member under a watch freezes (b thaws): the watch moves, from the revision it had reached.
    const { r, warnings } = registry([b.endpoint, a.endpoint]);
    const watch = consume(r.watchLeases(new AbortController().signal));
    await until(() => watch.batches.length >= 1, 8000, 'the snapshot');
    await put('10.244.1.0/24');
    await until(() => watch.state.has('10.244.1.0/24'), 3000, '10.244.1.0/24 through a');
    b.thaw();
    a.freeze();
    await put('10.244.2.0/24');
    const took = await until(() => watch.state.has('10.244.2.0/24'), 9000, '10.244.2.0/24 after a froze');
    console.log(`[etcd endpoints] a watch whose member froze saw the next lease after ${took} ms`);
    expect(warnings.join('\n')).toMatch(new RegExp(`the lease watch on ${a.endpoint} is lost`));
    expect(watch.error()).toBeUndefined();
    a.thaw();
  });

  it('with one endpoint, a refused call is still tried 3 times (no circuit to skip it)', async () => {
    const { r, warnings } = registry([await refusing()]);
    await expect(r.getNetworkConfig()).rejects.toMatchObject({ code: 'ERR_WEFT_REGISTRY_UNAVAILABLE', message: expect.stringContaining('failed 3 times') });
    expect(warnings.filter((w) => /ECONNREFUSED/.test(w)).length).toBe(2);
  });
});
