import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { formatSubnetFile, readPreviousIpv6Subnet, readPreviousSubnet, subnetFileFor, writeSubnetFile } from '../../src/daemon/subnet-file.js';
import { parseNetworkConfig } from '../../src/registry/config.js';
import type { Lease } from '../../src/registry/types.js';
import { loadOrCreateVtepMac } from '../../src/daemon/vtep-mac.js';

let dir: string;
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'weft-subnetfile-')); });
afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

it('writes flannel\'s subnet.env and reads the subnet back', async () => {
  const path = join(dir, 'run/flannel/subnet.env');
  await writeSubnetFile(path, { network: '10.244.0.0/16', subnet: '10.244.7.1/24', mtu: 1450, ipMasq: false });
  expect(await readFile(path, 'utf8')).toBe('FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.7.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n');
  expect(await readPreviousSubnet(path)).toBe('10.244.7.0/24');
  expect(await readdir(join(dir, 'run/flannel'))).toEqual(['subnet.env']); // no temp file left
});

it('treats a missing or unreadable subnet file as no preference', async () => {
  expect(await readPreviousSubnet(join(dir, 'none'))).toBeNull();
  await writeFile(join(dir, 'bad'), 'FLANNEL_SUBNET=banana\n');
  expect(await readPreviousSubnet(join(dir, 'bad'))).toBeNull();
});

it('keeps the VTEP MAC across restarts and refuses a corrupt one', async () => {
  const first = await loadOrCreateVtepMac(dir);
  expect(first.created).toBe(true);
  expect(first.mac).toMatch(/^[0-9a-f][26ae](:[0-9a-f]{2}){5}$/);
  const again = await loadOrCreateVtepMac(dir);
  expect(again).toEqual({ mac: first.mac, created: false });
  await writeFile(join(dir, 'vtep-mac'), 'zz\n');
  await expect(loadOrCreateVtepMac(dir)).rejects.toThrow(/not a MAC address/);
});

// flannel pkg/subnet/subnet.go WriteSubnetFile: the IPv4 pair when EnableIPv4, then the
// IPv6 pair when EnableIPv6 (IPv6Network, first address of the IPv6 subnet), then MTU and
// IPMASQ. The expected texts are what its fmt.Appendf lines produce for these values.
const lease = (subnet: string, ipv6Subnet?: string): Lease => ({ subnet, ...(ipv6Subnet ? { ipv6Subnet } : {}), attrs: { PublicIP: '198.51.100.7' }, expiration: null, revision: 1 });
const cases: Array<[string, object, Lease, string]> = [
  ['IPv4 only', { Network: '10.244.0.0/16', Backend: { Type: 'vxlan' } }, lease('10.244.7.0/24'),
    'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.7.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n'],
  ['dual stack', { Network: '10.244.0.0/16', EnableIPv6: true, IPv6Network: 'fd00:10:244::/56', Backend: { Type: 'vxlan' } }, lease('10.244.7.0/24', 'fd00:10:244:7::/64'),
    'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.7.1/24\nFLANNEL_IPV6_NETWORK=fd00:10:244::/56\nFLANNEL_IPV6_SUBNET=fd00:10:244:7::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n'],
  ['IPv6 only: no FLANNEL_NETWORK/FLANNEL_SUBNET', { EnableIPv4: false, EnableIPv6: true, IPv6Network: 'fd00:10:244::/56', Backend: { Type: 'vxlan' } }, lease('', 'fd00:10:244:ff::/64'),
    'FLANNEL_IPV6_NETWORK=fd00:10:244::/56\nFLANNEL_IPV6_SUBNET=fd00:10:244:ff::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n'],
  ['a /126 (first address + 1 across a zero run)', { Network: '10.244.0.0/16', EnableIPv6: true, IPv6Network: 'fd00::/124', Backend: { Type: 'vxlan' } }, lease('10.244.7.0/24', 'fd00::4/126'),
    'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.7.1/24\nFLANNEL_IPV6_NETWORK=fd00::/124\nFLANNEL_IPV6_SUBNET=fd00::5/126\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n'],
];

it.each(cases)('subnet file as flannel writes it: %s', async (_name, doc, l, expected) => {
  const file = subnetFileFor(parseNetworkConfig(JSON.stringify(doc)), l, 1450, true);
  expect(formatSubnetFile(file)).toBe(expected);
  const path = join(dir, 'subnet.env');
  await writeSubnetFile(path, file);
  expect(await readFile(path, 'utf8')).toBe(expected);
  expect(await readPreviousSubnet(path)).toBe(l.subnet === '' ? null : l.subnet);
  expect(await readPreviousIpv6Subnet(path)).toBe(l.ipv6Subnet ?? null);
});

it('refuses to write a subnet file for a lease missing an enabled family', () => {
  const dual = parseNetworkConfig(JSON.stringify({ Network: '10.244.0.0/16', EnableIPv6: true, IPv6Network: 'fd00::/56', Backend: { Type: 'vxlan' } }));
  expect(() => subnetFileFor(dual, lease('10.244.7.0/24'), 1450, false)).toThrow(/no IPv6 subnet/);
  expect(() => subnetFileFor(dual, lease('', 'fd00:0:0:1::/64'), 1450, false)).toThrow(/no IPv4 subnet/);
});

it('reads a previous IPv6 subnet only when it is one', async () => {
  const path = join(dir, 'v6.env');
  await writeFile(path, 'FLANNEL_IPV6_SUBNET=fd00:10:244:7::1/64\n');
  expect(await readPreviousIpv6Subnet(path)).toBe('fd00:10:244:7::/64');
  await writeFile(path, 'FLANNEL_IPV6_SUBNET=10.244.7.1/24\n');
  expect(await readPreviousIpv6Subnet(path)).toBeNull();
  await writeFile(path, 'FLANNEL_IPV6_SUBNET=fd00::1/129\n');
  expect(await readPreviousIpv6Subnet(path)).toBeNull();
});
