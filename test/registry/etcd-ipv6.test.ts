// IPv6 leases against a real etcd (issue 13): two weft nodes allocating dual-stack
// leases, a lease written by hand exactly as flanneld writes it (createSubnet: a
// 24 h etcd lease, MakeSubnetKey's "&" key, json.Marshal(LeaseAttrs)) read back,
// hostile IPv6 leases refused and counted by lease admission while honest ones
// keep flowing, and an IPv6-only network (flannel's "0.0.0.0-0&…" keys).
import { Etcd3 } from 'etcd3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LeaseAdmission, type AdmissionOptions } from '../../src/dataplane/lease-admission.js';
import { createEtcdRegistry } from '../../src/registry/etcd.js';
import type { Lease, LeaseAttrs, LeaseEvent, SubnetRegistry } from '../../src/registry/types.js';
import { startTestEtcd, type TestEtcd } from './etcd-server.js';
import { until } from './watch-helper.js';

const DUAL = '{"Network": "10.244.0.0/16", "EnableIPv6": true, "IPv6Network": "fd00:10:244::/56", "Backend": {"Type": "vxlan"}}';
const V6ONLY = '{"EnableIPv4": false, "EnableIPv6": true, "IPv6Network": "fd00:10:244::/56", "Backend": {"Type": "vxlan"}}';
const attrs = (n: number, v4 = true): LeaseAttrs => ({
  PublicIP: v4 ? `198.51.100.${n}` : '0.0.0.0',
  PublicIPv6: `fd00:198:51:100::${n}`,
  BackendType: 'vxlan',
  ...(v4 ? { BackendData: { VNI: 1, VtepMAC: `02:00:00:00:04:0${n}` } } : {}),
  BackendV6Data: { VNI: 1, VtepMAC: `02:00:00:00:06:0${n}` },
});
// What flanneld's vxlan backend writes for a dual-stack node (pkg/backend/vxlan newSubnetAttrs).
const FLANNEL_VALUE =
  '{"PublicIP":"198.51.100.9","PublicIPv6":"fd00:198:51:100::9","BackendType":"vxlan",' +
  '"BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"},"BackendV6Data":{"VNI":1,"VtepMAC":"5a:1f:00:11:22:33"}}';

let etcd: TestEtcd;
let admin: Etcd3;
let prefix: string;
let counter = 0;
const registries: SubnetRegistry[] = [];
const stops: AbortController[] = [];

function registry(): SubnetRegistry {
  const r = createEtcdRegistry({ endpoints: [etcd.endpoint], prefix, timeoutMs: 2000 });
  registries.push(r);
  return r;
}
/** flannel's createSubnet: Grant(24 h), then a put attached to it if the key does not exist. */
async function flannelPut(name: string, value: string): Promise<void> {
  const { ID } = await admin.leaseClient.leaseGrant({ TTL: 86400 });
  const key = Buffer.from(`${prefix}/subnets/${name}`);
  const res = await admin.kv.txn({ compare: [{ key, target: 'Version', result: 'Equal', version: 0 }], success: [{ request_put: { key, value: Buffer.from(value), lease: ID } }] });
  expect(res.succeeded).toBe(true);
}
async function subnetKeys(): Promise<Record<string, string>> {
  const all = await admin.getAll().prefix(`${prefix}/subnets/`).strings();
  return Object.fromEntries(Object.entries(all).map(([k, v]) => [k.slice(`${prefix}/subnets/`.length), v]));
}

/** A node's view: its registry's lease watch through lease admission, as the daemon filters it. */
function watchThroughAdmission(r: SubnetRegistry, self: Lease, over: Partial<AdmissionOptions> = {}) {
  const warnings: { reason: string; lease: string }[] = [];
  const admission = new LeaseAdmission({
    network: '10.244.0.0/16',
    subnetLen: 24,
    backend: 'vxlan',
    vni: 1,
    ipv6: { network: 'fd00:10:244::/56', subnetLen: 64 },
    self: { lease: self, publicIps: [self.attrs.PublicIP], mac: (self.attrs.BackendData as { VtepMAC?: string } | undefined)?.VtepMAC ?? null,
      publicIpv6s: [String(self.attrs.PublicIPv6)], macV6: (self.attrs.BackendV6Data as { VtepMAC: string }).VtepMAC },
    log: { info() {}, warn: (o) => warnings.push(o as { reason: string; lease: string }) },
    ...over,
  });
  const stop = new AbortController();
  stops.push(stop);
  const accepted = new Map<string, Lease>();
  let batches = 0;
  void (async () => {
    for await (const batch of r.watchLeases(stop.signal) as AsyncIterable<LeaseEvent[]>) {
      batches++;
      for (const e of admission.admit(batch).events) {
        const k = `${e.lease.subnet}&${e.lease.ipv6Subnet}`;
        if (e.type === 'added') accepted.set(k, e.lease);
        else accepted.delete(k);
      }
    }
  })();
  return { admission, accepted, warnings, batches: () => batches };
}

beforeAll(async () => {
  etcd = await startTestEtcd();
  admin = new Etcd3({ hosts: etcd.endpoint });
}, 60_000);
afterAll(async () => {
  admin?.close();
  await etcd?.stop();
});
beforeEach(() => {
  prefix = `/wefttest-v6-${++counter}/network`;
});
afterEach(async () => {
  for (const s of stops.splice(0)) s.abort();
  await Promise.all(registries.splice(0).map((r) => r.close()));
});

describe('etcd registry, dual stack', () => {
  it('two nodes lease distinct dual-stack subnets under flannel keys and values, renewed together', async () => {
    await admin.put(`${prefix}/config`).value(DUAL);
    const [a, b] = await Promise.all([registry().acquireLease(attrs(1)), registry().acquireLease(attrs(2))]);
    expect(a!.subnet).not.toBe(b!.subnet);
    expect(a!.ipv6Subnet).not.toBe(b!.ipv6Subnet);
    const keys = await subnetKeys();
    const keyA = `${a!.subnet.replace('/', '-')}&${a!.ipv6Subnet!.replace('/', '-')}`;
    expect(Object.keys(keys).sort()).toEqual([keyA, `${b!.subnet.replace('/', '-')}&${b!.ipv6Subnet!.replace('/', '-')}`].sort());
    expect(keyA).toMatch(/^10\.244\.\d+\.0-24&fd00:10:244:[0-9a-f]{1,2}::-64$/);
    expect(keys[keyA]).toBe(
      '{"PublicIP":"198.51.100.1","PublicIPv6":"fd00:198:51:100::1","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"02:00:00:00:04:01"},"BackendV6Data":{"VNI":1,"VtepMAC":"02:00:00:00:06:01"}}',
    );
    // Renewal rewrites the one key on a fresh 24 h etcd lease: both subnets live on together.
    const before = (await admin.kv.range({ key: Buffer.from(`${prefix}/subnets/${keyA}`) })).kvs[0]!;
    const renewed = await registries[0]!.renewLease(a!);
    expect(renewed).toMatchObject({ subnet: a!.subnet, ipv6Subnet: a!.ipv6Subnet });
    const after = (await admin.kv.range({ key: Buffer.from(`${prefix}/subnets/${keyA}`) })).kvs[0]!;
    expect(after.lease).not.toBe(before.lease);
    expect(Number((await admin.leaseClient.leaseTimeToLive({ ID: after.lease })).TTL)).toBeGreaterThan(86000);
    expect(Object.keys(await subnetKeys())).toHaveLength(2);
  });

  it('reads back a lease flanneld wrote, and allocates around it', async () => {
    await admin.put(`${prefix}/config`).value(DUAL);
    await flannelPut('10.244.9.0-24&fd00:10:244:9::-64', FLANNEL_VALUE);
    const r = registry();
    const self = await r.acquireLease(attrs(1));
    expect(self.subnet).not.toBe('10.244.9.0/24');
    expect(self.ipv6Subnet).not.toBe('fd00:10:244:9::/64');
    const view = watchThroughAdmission(r, self);
    await until(() => view.accepted.size === 1, 10_000, 'the flannel lease accepted');
    expect([...view.accepted.values()][0]).toMatchObject({
      subnet: '10.244.9.0/24',
      ipv6Subnet: 'fd00:10:244:9::/64',
      attrs: { PublicIP: '198.51.100.9', PublicIPv6: 'fd00:198:51:100::9', BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: 'c6:d2:32:6f:8f:44' }, BackendV6Data: { VNI: 1, VtepMAC: '5a:1f:00:11:22:33' } },
    });
    expect(view.warnings).toEqual([]);
  });

  it('refuses and counts hostile IPv6 leases, listed and live, while honest ones are kept and still get in', async () => {
    await admin.put(`${prefix}/config`).value(DUAL);
    const r = registry();
    const self = await r.acquireLease(attrs(1));
    const honest = await registry().acquireLease(attrs(2));
    // Hostile leases already there when the node starts.
    const v = (n: number, ip6: string, mac6 = `5a:00:00:00:00:0${n}`): string =>
      `{"PublicIP":"198.51.100.${n}","PublicIPv6":${JSON.stringify(ip6)},"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:00:00:00:00:0${n}"},"BackendV6Data":{"VNI":1,"VtepMAC":"${mac6}"}}`;
    await flannelPut('10.244.200.0-24&fd00:99::-64', v(3, 'fd00:198:51:100::3')); // IPv6 subnet outside IPv6Network
    await flannelPut('10.244.201.0-24&fd00:10:244:c9::-80', v(4, 'fd00:198:51:100::4')); // wrong length
    await flannelPut(`10.244.202.0-24&${honest.ipv6Subnet!.replace('/', '-')}`, v(5, 'fd00:198:51:100::5')); // the honest node's IPv6 subnet
    const view = watchThroughAdmission(r, self);
    await until(() => view.batches() >= 1 && view.accepted.size === 1, 10_000, 'the first listing admitted');
    expect([...view.accepted.values()].map((l) => l.ipv6Subnet)).toEqual([honest.ipv6Subnet]);
    const counts = view.admission.rejections();
    expect(counts.get('ipv6_outside_network')).toBe(1);
    expect(counts.get('ipv6_wrong_prefix_len')).toBe(1);
    expect(counts.get('ipv6_overlaps_peer')).toBe(1);
    // Live: a link-local PublicIPv6 and a multicast v6 VTEP MAC; then an honest newcomer.
    await flannelPut('10.244.203.0-24&fd00:10:244:cb::-64', v(6, 'fe80::6'));
    await flannelPut('10.244.204.0-24&fd00:10:244:cc::-64', v(7, 'fd00:198:51:100::7', '33:33:00:00:00:01'));
    const newcomer = await registry().acquireLease(attrs(8));
    await until(() => view.accepted.size === 2, 10_000, 'the newcomer accepted');
    expect(counts.get('bad_public_ipv6')).toBe(1);
    expect(counts.get('bad_v6_mac')).toBe(1);
    expect([...view.accepted.values()].map((l) => l.ipv6Subnet).sort()).toEqual([honest.ipv6Subnet, newcomer.ipv6Subnet].sort());
    expect([...counts.values()].reduce((x, y) => x + y, 0)).toBe(5);
    // Nothing hostile blocked allocation: the newcomer got a subnet of its own.
    expect(newcomer.ipv6Subnet).toMatch(/^fd00:10:244:[0-9a-f]{1,2}::\/64$/);
  });
});

describe('etcd registry, IPv6-only', () => {
  it('leases under flannel\'s 0.0.0.0-0&… keys, each node its own, and admits peers without IPv4', async () => {
    await admin.put(`${prefix}/config`).value(V6ONLY);
    const ra = registry();
    const [a, b] = await Promise.all([ra.acquireLease(attrs(1, false)), registry().acquireLease(attrs(2, false))]);
    expect(a!.subnet).toBe('');
    expect(b!.subnet).toBe('');
    expect(a!.ipv6Subnet).not.toBe(b!.ipv6Subnet);
    const keys = await subnetKeys();
    expect(Object.keys(keys).sort()).toEqual([`0.0.0.0-0&${a!.ipv6Subnet!.replace('/', '-')}`, `0.0.0.0-0&${b!.ipv6Subnet!.replace('/', '-')}`].sort());
    expect(keys[`0.0.0.0-0&${b!.ipv6Subnet!.replace('/', '-')}`]).toBe(
      '{"PublicIP":"0.0.0.0","PublicIPv6":"fd00:198:51:100::2","BackendType":"vxlan","BackendV6Data":{"VNI":1,"VtepMAC":"02:00:00:00:06:02"}}',
    );
    const view = watchThroughAdmission(ra, a!, { ipv4: false, network: '', subnetLen: 0 });
    await until(() => view.accepted.size === 1, 10_000, 'the peer accepted');
    expect([...view.accepted.values()][0]).toMatchObject({ subnet: '', ipv6Subnet: b!.ipv6Subnet, attrs: { PublicIPv6: 'fd00:198:51:100::2' } });
    // A restart of node 2 gets its own lease back, not node 1's (both publish PublicIP 0.0.0.0).
    expect((await registry().acquireLease(attrs(2, false))).ipv6Subnet).toBe(b!.ipv6Subnet);
  });
});
