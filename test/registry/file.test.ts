import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FileRegistry } from '../../src/registry/file.js';
import { keepLeaseRenewed, RenewTrigger } from '../../src/registry/renew.js';
import { SUBNET_LEASE_TTL_MS } from '../../src/registry/registry.js';
import type { LeaseAttrs } from '../../src/registry/types.js';
import { buildRegistryJs, removeDir, startRegistryChild, type RegistryChild } from './child.js';
import { consume, until } from './watch-helper.js';

const CONFIG = '{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan"}}';
const attrs = (ip: string): LeaseAttrs => ({ PublicIP: ip, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: '02:00:00:00:00:01' } });

let dir: string;
let path: string;
const open: FileRegistry[] = [];
function registry(extra: Partial<ConstructorParameters<typeof FileRegistry>[0]> = {}): FileRegistry {
  const r = new FileRegistry({ path, pollIntervalMs: 50, ...extra });
  open.push(r);
  return r;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weft-file-registry-'));
  path = join(dir, 'registry.json');
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.close()));
  await rm(dir, { recursive: true, force: true });
});

describe('file registry', () => {
  it('says how to add a missing config', async () => {
    await expect(registry().getNetworkConfig()).rejects.toMatchObject({
      code: 'ERR_WEFT_NO_NETWORK_CONFIG',
      message: expect.stringContaining(`no network config at /coreos.com/network/config in file ${path}`),
    });
  });

  it('acquires a lease stored with flannel keys and values, and reuses it after a restart', async () => {
    const a = registry();
    await a.putNetworkConfig(CONFIG);
    const lease = await a.acquireLease(attrs('192.168.1.10'));
    expect(lease.subnet).toMatch(/^10\.244\.(\d+)\.0\/24$/);
    expect(lease.subnet).not.toBe('10.244.0.0/24'); // flannel skips the first subnet
    expect(lease.expiration!.getTime() - Date.now()).toBeGreaterThan(SUBNET_LEASE_TTL_MS - 60_000);
    const doc = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    expect(doc['/coreos.com/network/config']).toBe(CONFIG);
    expect(doc[`/coreos.com/network/subnets/${lease.subnet.replace('/', '-')}`]).toBe(
      '{"PublicIP":"192.168.1.10","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"02:00:00:00:00:01"}}',
    );

    const again = await registry().acquireLease(attrs('192.168.1.10')); // a new process, same PublicIP
    expect(again.subnet).toBe(lease.subnet);
    expect(again.revision).toBeGreaterThan(lease.revision);
  });

  it('prefers the subnet from the subnet file when it is free, else picks another', async () => {
    const a = registry();
    await a.putNetworkConfig(CONFIG);
    const first = await a.acquireLease(attrs('192.168.1.10'), { preferSubnet: '10.244.7.1/24' });
    expect(first.subnet).toBe('10.244.7.0/24');
    const second = await a.acquireLease(attrs('192.168.1.11'), { preferSubnet: '10.244.7.1/24' });
    expect(second.subnet).not.toBe('10.244.7.0/24');
    const outside = await a.acquireLease(attrs('192.168.1.12'), { preferSubnet: '10.99.0.0/24' });
    expect(outside.subnet).toMatch(/^10\.244\./);
  });

  it('on restart, takes back its own subnet, not a hostile lease naming its PublicIP; a 0.0.0.0/0 lease blocks no allocation', async () => {
    const a = registry();
    await a.putNetworkConfig(CONFIG);
    const mine = await a.acquireLease(attrs('192.168.1.10'));
    // Hostile keys that sort before ours (etcd and the file list keys in order).
    const decoy = mine.subnet === '10.244.1.0/24' ? '10.244.2.0-24' : '10.244.1.0-24'; // fits the config, listed first
    const doc = {
      '/coreos.com/network/subnets/0.0.0.0-0': JSON.stringify({ PublicIP: '192.168.1.66', PublicIPv6: null, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: '02:00:00:00:00:66' } }),
      [`/coreos.com/network/subnets/${decoy}`]: JSON.stringify({ PublicIP: '192.168.1.10', PublicIPv6: null, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: '02:00:00:00:00:99' } }),
      ...(JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>),
    };
    await writeFile(path, JSON.stringify(doc));
    // With the subnet file's subnet, and without it (then our attrs, our MAC, decide).
    expect((await registry().acquireLease(attrs('192.168.1.10'), { preferSubnet: mine.subnet })).subnet).toBe(mine.subnet);
    expect((await registry().acquireLease(attrs('192.168.1.10'))).subnet).toBe(mine.subnet);
    // Another node still finds a free subnet.
    expect((await registry().acquireLease(attrs('192.168.1.11'))).subnet).toMatch(/^10\.244\.\d+\.0\/24$/);
  });

  it('hands out distinct subnets to concurrent nodes and reports exhaustion', async () => {
    // /28 network: SubnetLen 30, subnets .4, .8, .12.
    await registry().putNetworkConfig('{"Network": "10.0.0.0/28", "Backend": {"Type": "vxlan"}}');
    const leases = await Promise.all(['1', '2', '3'].map((n) => registry().acquireLease(attrs(`192.168.1.${n}`))));
    expect(leases.map((l) => l.subnet).sort()).toEqual(['10.0.0.12/30', '10.0.0.4/30', '10.0.0.8/30']);
    await expect(registry().acquireLease(attrs('192.168.1.4'))).rejects.toMatchObject({
      code: 'ERR_WEFT_SUBNETS_EXHAUSTED',
      message: expect.stringContaining('no free /30 subnet between 10.0.0.4 and 10.0.0.12 in 10.0.0.0/28: all 3 are leased'),
    });
  });

  it('renews only its own lease', async () => {
    const a = registry();
    await a.putNetworkConfig(CONFIG);
    const lease = await a.acquireLease(attrs('192.168.1.10'));
    const renewed = await a.renewLease(lease);
    expect(renewed.subnet).toBe(lease.subnet);
    expect(renewed.revision).toBeGreaterThan(lease.revision);
    await expect(a.renewLease(lease)).rejects.toMatchObject({ code: 'ERR_WEFT_LEASE_LOST' }); // stale revision
    expect(await a.releaseLease(renewed)).toBe(true);
    await expect(a.renewLease(renewed)).rejects.toMatchObject({ code: 'ERR_WEFT_LEASE_LOST' });
  });

  it('keepLeaseRenewed renews at expiry minus the margin and stops when the lease is lost', async () => {
    const a = registry();
    await a.putNetworkConfig(CONFIG);
    const lease = await a.acquireLease(attrs('192.168.1.10'));
    const renewed: number[] = [];
    const loop = keepLeaseRenewed(a, lease, {
      signal: new AbortController().signal,
      renewMarginMs: SUBNET_LEASE_TTL_MS - 100, // due 100 ms after each renewal
      onRenewed: (l) => renewed.push(l.revision),
    });
    await until(() => renewed.length >= 2, 2000, 'two renewals');
    // Someone deletes the lease behind our back: the loop must give up, like flannel's CompleteLease.
    const other = registry();
    const current = (await other.acquireLease(attrs('192.168.1.10'))); // same node, rewrites it
    await other.releaseLease(current);
    await expect(loop).rejects.toMatchObject({ code: 'ERR_WEFT_LEASE_LOST' });
  });

  it('keepLeaseRenewed renews at once when its trigger fires (then keeps its schedule)', async () => {
    const a = registry();
    await a.putNetworkConfig(CONFIG);
    const lease = await a.acquireLease(attrs('192.168.1.11'));
    const trigger = new RenewTrigger();
    const stop = new AbortController();
    const renewed: number[] = [];
    const loop = keepLeaseRenewed(a, lease, { signal: stop.signal, trigger, onRenewed: (l) => renewed.push(l.revision) });
    await new Promise((r) => setTimeout(r, 100));
    expect(renewed, 'nothing is due for 23 h').toEqual([]);
    trigger.fire();
    await until(() => renewed.length === 1, 2000, 'the triggered renewal');
    trigger.fire();
    await until(() => renewed.length === 2, 2000, 'the second triggered renewal');
    await new Promise((r) => setTimeout(r, 100));
    expect(renewed.length, 'no renewal without a fire').toBe(2);
    stop.abort();
    expect((await loop).revision).toBe(renewed[1]);
  });

  it('close() ends an open watch', async () => {
    const a = registry();
    await a.putNetworkConfig(CONFIG);
    const watch = consume(a.watchLeases(new AbortController().signal));
    await until(() => watch.batches.length >= 1, 1000, 'the snapshot');
    await a.close();
    await watch.done;
    expect(watch.error()).toBeUndefined();
  });

  it('breaks a lock left by a dead process and times out on a live one', async () => {
    const a = registry({ lockTimeoutMs: 300 });
    await a.putNetworkConfig(CONFIG);
    await writeFile(`${path}.lock`, JSON.stringify({ pid: 2 ** 22 + 12345, host: (await import('node:os')).hostname(), token: 'dead' }));
    await a.acquireLease(attrs('192.168.1.10')); // would time out if the dead lock were honoured
    await writeFile(`${path}.lock`, JSON.stringify({ pid: process.pid, host: (await import('node:os')).hostname(), token: 'busy' }));
    await expect(a.acquireLease(attrs('192.168.1.11'))).rejects.toMatchObject({
      code: 'ERR_WEFT_REGISTRY_UNAVAILABLE',
      message: expect.stringContaining(`registry lock ${path}.lock is held by pid ${process.pid}`),
    });
    await rm(`${path}.lock`);
  });
});

describe('file registry shared between processes', () => {
  let js: string;
  let child: RegistryChild | undefined;
  beforeAll(async () => {
    js = await buildRegistryJs();
  });
  afterAll(async () => {
    await removeDir(js);
  });
  afterEach(async () => {
    await child?.kill();
    child = undefined;
  });

  it("sees another process's lease appear and vanish within a second", async () => {
    const a = registry({ pollIntervalMs: 200 }); // the default
    await a.putNetworkConfig(CONFIG);
    const mine = await a.acquireLease(attrs('192.168.1.10'));
    const stop = new AbortController();
    const watch = consume(a.watchLeases(stop.signal));
    await until(() => watch.batches.length >= 1, 1000, 'the snapshot');
    expect(watch.batches[0]!.map((e) => [e.type, e.lease.subnet])).toEqual([['added', mine.subnet]]);

    child = startRegistryChild(js, path);
    const got = await child.send('acquire 192.168.1.20');
    expect(got.ok).toBe(true);
    const theirs = got.lease!.subnet;
    expect(theirs).not.toBe(mine.subnet);
    const appeared = await until(() => watch.state.get(theirs)?.attrs.PublicIP === '192.168.1.20', 1000, 'the lease to appear');
    expect((await child.send('release')).ok).toBe(true);
    const vanished = await until(() => !watch.state.has(theirs), 1000, 'the lease to vanish');
    expect(appeared + vanished).toBeLessThan(2000);
    expect([...watch.state.keys()]).toEqual([mine.subnet]);
    stop.abort();
    await watch.done;
    expect(watch.error()).toBeUndefined();
  });

  it('never hands one subnet to two processes racing for it', async () => {
    await registry().putNetworkConfig('{"Network": "10.0.0.0/26", "SubnetLen": 28, "Backend": {"Type": "vxlan"}}'); // 3 subnets
    const children = [startRegistryChild(js, path), startRegistryChild(js, path), startRegistryChild(js, path), startRegistryChild(js, path)];
    try {
      const answers = await Promise.all(children.map((c, i) => c.send(`acquire 192.168.2.${i + 1}`)));
      const subnets = answers.filter((a) => a.ok).map((a) => a.lease!.subnet);
      expect(new Set(subnets).size).toBe(3);
      expect(answers.filter((a) => !a.ok).map((a) => a.code)).toEqual(['ERR_WEFT_SUBNETS_EXHAUSTED']);
    } finally {
      await Promise.all(children.map((c) => c.kill()));
    }
  });
});
