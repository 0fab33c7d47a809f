// IPv6 leases in the file registry (the same lease algorithms as etcd: registry.ts):
// dual-stack allocation beside the IPv4 subnet under one flannel key, renewal of
// both together, both-or-none when one family's pool is full, the subnet file's
// previous subnets, IPv6-only networks, and flannel-written leases read back.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileRegistry } from '../../src/registry/file.js';
import type { LeaseAttrs } from '../../src/registry/types.js';

const DUAL = '{"Network": "10.244.0.0/16", "EnableIPv6": true, "IPv6Network": "fd00:10:244::/56", "Backend": {"Type": "vxlan"}}';
const V6ONLY = '{"EnableIPv4": false, "EnableIPv6": true, "IPv6Network": "fd00:10:244::/56", "Backend": {"Type": "vxlan"}}';
const attrs = (n: number, v4 = true): LeaseAttrs => ({
  PublicIP: v4 ? `198.51.100.${n}` : '0.0.0.0',
  PublicIPv6: `fd00:198:51:100::${n}`,
  BackendType: 'vxlan',
  ...(v4 ? { BackendData: { VNI: 1, VtepMAC: `02:00:00:00:04:0${n}` } } : {}),
  BackendV6Data: { VNI: 1, VtepMAC: `02:00:00:00:06:0${n}` },
});

let dir: string;
let path: string;
const open: FileRegistry[] = [];
function registry(): FileRegistry {
  const r = new FileRegistry({ path, pollIntervalMs: 50 });
  open.push(r);
  return r;
}
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weft-v6-registry-'));
  path = join(dir, 'registry.json');
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.close()));
  await rm(dir, { recursive: true, force: true });
});
const stored = async (): Promise<Record<string, string>> => JSON.parse(await readFile(path, 'utf8')) as Record<string, string>;

describe('dual stack', () => {
  it('leases an IPv6 subnet beside the IPv4 one under one flannel key, and renews both together', async () => {
    const a = registry();
    await a.putNetworkConfig(DUAL);
    const lease = await a.acquireLease(attrs(1));
    expect(lease.subnet).toMatch(/^10\.244\.\d+\.0\/24$/);
    expect(lease.ipv6Subnet).toMatch(/^fd00:10:244:[0-9a-f]{1,2}::\/64$/);
    expect(lease.ipv6Subnet).not.toBe('fd00:10:244::/64'); // the first subnet is skipped, as for IPv4
    const key = `/coreos.com/network/subnets/${lease.subnet.replace('/', '-')}&${lease.ipv6Subnet!.replace('/', '-')}`;
    expect((await stored())[key]).toBe(
      '{"PublicIP":"198.51.100.1","PublicIPv6":"fd00:198:51:100::1","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"02:00:00:00:04:01"},"BackendV6Data":{"VNI":1,"VtepMAC":"02:00:00:00:06:01"}}',
    );
    const renewed = await a.renewLease(lease);
    expect(renewed).toMatchObject({ subnet: lease.subnet, ipv6Subnet: lease.ipv6Subnet });
    expect(Object.keys(await stored()).filter((k) => k.includes('/subnets/'))).toEqual([key]); // one key, rewritten
    // A restart finds it again by PublicIP.
    expect(await registry().acquireLease(attrs(1))).toMatchObject({ subnet: lease.subnet, ipv6Subnet: lease.ipv6Subnet });
  });

  it('gives concurrent nodes distinct subnets in both families', async () => {
    await registry().putNetworkConfig(DUAL);
    const leases = await Promise.all([1, 2, 3, 4, 5, 6].map((n) => registry().acquireLease(attrs(n))));
    expect(new Set(leases.map((l) => l.subnet)).size).toBe(6);
    expect(new Set(leases.map((l) => l.ipv6Subnet)).size).toBe(6);
  });

  it('takes the subnet file\'s previous pair when both are free, else picks another', async () => {
    const a = registry();
    await a.putNetworkConfig(DUAL);
    const first = await a.acquireLease(attrs(1), { preferSubnet: '10.244.7.1/24', preferIpv6Subnet: 'fd00:10:244:7::1/64' });
    expect(first).toMatchObject({ subnet: '10.244.7.0/24', ipv6Subnet: 'fd00:10:244:7::/64' });
    // Another node with the same IPv6 preference but a free IPv4 one: the pair is not free.
    const second = await a.acquireLease(attrs(2), { preferSubnet: '10.244.8.1/24', preferIpv6Subnet: 'fd00:10:244:7::1/64' });
    expect(second.ipv6Subnet).not.toBe('fd00:10:244:7::/64');
    // A previous pair outside IPv6SubnetMin..Max is not taken.
    const third = await a.acquireLease(attrs(3), { preferSubnet: '10.244.9.0/24', preferIpv6Subnet: 'fd00:99::/64' });
    expect(third.ipv6Subnet).toMatch(/^fd00:10:244:/);
  });

  it('a hostile ::/0 lease does not take the previous pair away', async () => {
    const a = registry();
    await a.putNetworkConfig(DUAL);
    const hostile = '{"PublicIP":"198.51.100.66","PublicIPv6":"fd00:198:51:100::66","BackendType":"vxlan"}';
    await writeFile(path, JSON.stringify({ ...(await stored()), '/coreos.com/network/subnets/10.244.66.0-24&::-0': hostile }));
    const lease = await a.acquireLease(attrs(1), { preferSubnet: '10.244.7.0/24', preferIpv6Subnet: 'fd00:10:244:7::/64' });
    expect(lease).toMatchObject({ subnet: '10.244.7.0/24', ipv6Subnet: 'fd00:10:244:7::/64' });
  });

  it('takes no lease at all when the IPv6 pool is full, though IPv4 subnets are left (flannel: "out of subnets")', async () => {
    // /124: four /126s, the first skipped: three leases. IPv4 /16 has 255.
    await registry().putNetworkConfig('{"Network": "10.244.0.0/16", "EnableIPv6": true, "IPv6Network": "fd00::/124", "Backend": {"Type": "vxlan"}}');
    const leases = await Promise.all([1, 2, 3].map((n) => registry().acquireLease(attrs(n))));
    expect(leases.map((l) => l.ipv6Subnet).sort()).toEqual(['fd00::4/126', 'fd00::8/126', 'fd00::c/126']);
    await expect(registry().acquireLease(attrs(4))).rejects.toMatchObject({
      code: 'ERR_WEFT_SUBNETS_EXHAUSTED',
      message: expect.stringContaining('no free /126 IPv6 subnet between fd00::4 and fd00::c in fd00::/124: all 3 are leased'),
    });
    expect(Object.keys(await stored()).filter((k) => k.includes('/subnets/'))).toHaveLength(3); // no half lease
  });

  it('refuses a dual-stack lease without PublicIPv6', async () => {
    const a = registry();
    await a.putNetworkConfig(DUAL);
    await expect(a.acquireLease({ PublicIP: '198.51.100.1', BackendType: 'vxlan' })).rejects.toMatchObject({ code: 'ERR_WEFT_CONFIG', message: expect.stringContaining('no PublicIPv6') });
  });

  it('an IPv4-only lease of an earlier config does not fit a dual-stack one: deleted and replaced (flannel isIPv6SubnetConfigCompat)', async () => {
    const a = registry();
    await a.putNetworkConfig('{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan"}}');
    const old = await a.acquireLease(attrs(1));
    expect(old.ipv6Subnet).toBeUndefined();
    await a.putNetworkConfig(DUAL);
    const fresh = await a.acquireLease(attrs(1));
    expect(fresh.ipv6Subnet).toBeDefined();
    expect(Object.keys(await stored()).filter((k) => k.includes('/subnets/'))).toEqual([
      `/coreos.com/network/subnets/${fresh.subnet.replace('/', '-')}&${fresh.ipv6Subnet!.replace('/', '-')}`,
    ]);
  });

  it('a hostile /0 or short IPv6 lease blocks no allocation; a flannel-written dual-stack lease is read back whole', async () => {
    const a = registry();
    await a.putNetworkConfig(DUAL);
    const flannel =
      '{"PublicIP":"198.51.100.9","PublicIPv6":"fd00:198:51:100::9","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"},"BackendV6Data":{"VNI":1,"VtepMAC":"5a:1f:00:11:22:33"}}';
    await writeFile(path, JSON.stringify({
      ...(await stored()),
      '/coreos.com/network/subnets/10.244.9.0-24&fd00:10:244:9::-64': flannel,
      '/coreos.com/network/subnets/10.244.10.0-24&::-0': flannel,
      '/coreos.com/network/subnets/10.244.11.0-24&fd00:10:244::-56': flannel,
    }));
    const all = await (async () => {
      const r = registry();
      const it = r.watchLeases(new AbortController().signal)[Symbol.asyncIterator]();
      const first = await it.next();
      await it.return?.(undefined);
      return (first.value as { lease: { subnet: string; ipv6Subnet?: string; attrs: LeaseAttrs } }[]).map((e) => e.lease);
    })();
    expect(all.find((l) => l.subnet === '10.244.9.0/24')).toMatchObject({
      ipv6Subnet: 'fd00:10:244:9::/64',
      attrs: { PublicIP: '198.51.100.9', PublicIPv6: 'fd00:198:51:100::9', BackendV6Data: { VNI: 1, VtepMAC: '5a:1f:00:11:22:33' } },
    });
    const leases = await Promise.all([1, 2, 3].map((n) => registry().acquireLease(attrs(n))));
    for (const l of leases) expect(l.ipv6Subnet).not.toBe('fd00:10:244:9::/64');
  });
});

describe('IPv6-only', () => {
  it('writes flannel\'s 0.0.0.0-0&… key, matches its own lease by PublicIPv6 (every PublicIP is 0.0.0.0)', async () => {
    await registry().putNetworkConfig(V6ONLY);
    const [a, b] = await Promise.all([1, 2].map((n) => registry().acquireLease(attrs(n, false))));
    for (const l of [a!, b!]) {
      expect(l.subnet).toBe('');
      expect(l.ipv6Subnet).toMatch(/^fd00:10:244:[0-9a-f]{1,2}::\/64$/);
    }
    expect(a!.ipv6Subnet).not.toBe(b!.ipv6Subnet);
    const doc = await stored();
    expect(doc[`/coreos.com/network/subnets/0.0.0.0-0&${a!.ipv6Subnet!.replace('/', '-')}`]).toBe(
      '{"PublicIP":"0.0.0.0","PublicIPv6":"fd00:198:51:100::1","BackendType":"vxlan","BackendV6Data":{"VNI":1,"VtepMAC":"02:00:00:00:06:01"}}',
    );
    // Restarts: each node gets its own lease back (flannel's PublicIP match would give node 2 node 1's).
    expect((await registry().acquireLease(attrs(2, false))).ipv6Subnet).toBe(b!.ipv6Subnet);
    expect((await registry().acquireLease(attrs(1, false))).ipv6Subnet).toBe(a!.ipv6Subnet);
  });
});
