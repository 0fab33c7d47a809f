import { describe, expect, it } from 'vitest';
import { parseIPv6 } from '../../native-free/addr.js';
import { LpmTable } from '../../native-free/table/lpm.js';
import { PeerTable } from '../../native-free/table/peers.js';
import { PeerSync } from '../../src/dataplane/peer-sync.js';
import type { Lease, LeaseEvent } from '../../src/registry/types.js';

function lease(subnet: string, ip: string, mac = '0a:00:00:00:00:01', type = 'vxlan', vni = 1): Lease {
  return { subnet, attrs: { PublicIP: ip, BackendType: type, BackendData: { VNI: vni, VtepMAC: mac } }, expiration: null, revision: 1 };
}
const add = (l: Lease): LeaseEvent => ({ type: 'added', lease: l });
const del = (l: Lease): LeaseEvent => ({ type: 'removed', lease: l });
const ip4 = (s: string) => s.split('.').reduce((a, x) => a * 256 + Number(x), 0);

function setup() {
  const routes = LpmTable.create({ family: 4, capacity: 100 });
  const peers = PeerTable.create({ capacity: 100 });
  const warnings: string[] = [];
  const sync = new PeerSync(routes, peers, { subnet: '10.244.1.0/24' }, 'vxlan', 1, { info() {}, warn: (o) => warnings.push((o as { err: string }).err) });
  return { routes, peers, sync, warnings };
}

it('adds, renews, moves and removes peers; skips its own lease', () => {
  const { routes, peers, sync } = setup();
  sync.apply([add(lease('10.244.1.0/24', '198.51.100.1')), add(lease('10.244.2.0/24', '198.51.100.2', '0a:00:00:00:00:02'))]);
  expect(routes.lookup4(ip4('10.244.1.9'))).toBe(-1);
  const id = routes.lookup4(ip4('10.244.2.9'));
  expect(peers.underlayOf(id)).toBe(ip4('198.51.100.2'));
  sync.apply([add(lease('10.244.2.0/24', '198.51.100.2', '0a:00:00:00:00:02'))]); // renewal
  expect(sync.size).toBe(1);
  // The node comes back with a new MAC (lost its state): same peer, new MAC.
  sync.apply([add(lease('10.244.2.0/24', '198.51.100.2', '0a:00:00:00:00:22'))]);
  expect(peers.get(routes.lookup4(ip4('10.244.2.9')))!.mac).toEqual(Uint8Array.from([10, 0, 0, 0, 0, 0x22]));
  sync.apply([del(lease('10.244.2.0/24', '198.51.100.2'))]);
  expect(routes.lookup4(ip4('10.244.2.9'))).toBe(-1);
  expect(peers.findByUnderlay(ip4('198.51.100.2'))).toBe(-1);
  expect(sync.size).toBe(0);
});

it('keeps a node while any of its leases lives', () => {
  const { peers, sync } = setup();
  sync.apply([add(lease('10.244.2.0/24', '198.51.100.2')), add(lease('10.244.3.0/24', '198.51.100.2'))]);
  sync.apply([del(lease('10.244.2.0/24', '198.51.100.2'))]);
  expect(peers.findByUnderlay(ip4('198.51.100.2'))).toBeGreaterThanOrEqual(0);
  sync.apply([del(lease('10.244.3.0/24', '198.51.100.2'))]);
  expect(peers.findByUnderlay(ip4('198.51.100.2'))).toBe(-1);
});

it('skips leases it cannot use, with a warning, and applies the rest of the batch', () => {
  const { sync, warnings } = setup();
  sync.apply([
    add(lease('10.244.4.0/24', '198.51.100.4', '0a:00:00:00:00:04', 'ipip')),
    add(lease('10.244.5.0/24', '198.51.100.5', '0a:00:00:00:00:05', 'vxlan', 7)),
    add(lease('10.244.6.0/24', 'not-an-ip')),
    add({ ...lease('10.244.7.0/24', '198.51.100.7'), attrs: { PublicIP: '198.51.100.7', BackendType: 'vxlan' } }),
    add(lease('10.244.8.0/24', '198.51.100.8', '0a:00:00:00:00:08')),
  ]);
  expect(warnings.length).toBe(4);
  expect(warnings.join()).toMatch(/"ipip" differs/);
  expect(warnings.join()).toMatch(/VNI 7/);
  expect(warnings.join()).toMatch(/VtepMAC/);
  expect(sync.list().map((p) => p.subnet)).toEqual(['10.244.8.0/24']);
});

it('installs a lease whole or not at all: a full table leaves no peer without its route, the lease waits and goes in when room is made', () => {
  const routes = LpmTable.create({ family: 4, capacity: 2 });
  const peers = PeerTable.create({ capacity: 2 });
  const sync = new PeerSync(routes, peers, { subnet: '10.244.1.0/24' }, 'vxlan', 1, { info() {}, warn() {} });
  const b = lease('10.244.2.0/24', '198.51.100.2', '0a:00:00:00:00:02');
  const c = lease('10.244.3.0/24', '198.51.100.3', '0a:00:00:00:00:03');
  const d = lease('10.244.4.0/24', '198.51.100.4', '0a:00:00:00:00:04');
  sync.apply([add(b), add(c), add(d)]);
  expect(sync.size).toBe(2);
  expect(sync.pending).toBe(1);
  expect(sync.tableFull).toBe(1);
  // d is neither a route nor a known sender.
  expect(routes.lookup4(ip4('10.244.4.9'))).toBe(-1);
  expect(peers.findByUnderlay(ip4('198.51.100.4'))).toBe(-1);
  expect(peers.size).toBe(2);
  // Renewals and other batches do not count it again.
  sync.apply([add(b)]);
  expect(sync.tableFull).toBe(1);
  // A second subnet of a known node needs a route slot but no peer: waits too, the node keeps its one route.
  const full = new PeerSync(LpmTable.create({ family: 4, capacity: 1 }), PeerTable.create({ capacity: 5 }), { subnet: '10.244.1.0/24' }, 'vxlan', 1, { info() {}, warn() {} });
  full.apply([add(b), add(lease('10.244.9.0/24', '198.51.100.2', '0a:00:00:00:00:02'))]);
  expect(full.pending).toBe(1);
  expect(full.size).toBe(1);
  // Room made: d goes in, with its peer.
  sync.apply([del(c)]);
  expect(sync.pending).toBe(0);
  expect(peers.underlayOf(routes.lookup4(ip4('10.244.4.9')))).toBe(ip4('198.51.100.4'));
  expect(peers.findByUnderlay(ip4('198.51.100.3'))).toBe(-1);
  expect(routes.size).toBe(2);
  expect(peers.size).toBe(2);
});

it('a lease waiting for room goes in before a new one of the same batch', () => {
  const routes = LpmTable.create({ family: 4, capacity: 1 });
  const peers = PeerTable.create({ capacity: 1 });
  const sync = new PeerSync(routes, peers, { subnet: '10.244.1.0/24' }, 'vxlan', 1, { info() {}, warn() {} });
  const b = lease('10.244.2.0/24', '198.51.100.2', '0a:00:00:00:00:02');
  const c = lease('10.244.3.0/24', '198.51.100.3', '0a:00:00:00:00:03');
  const d = lease('10.244.4.0/24', '198.51.100.4', '0a:00:00:00:00:04');
  sync.apply([add(b), add(c)]);
  expect(sync.pending).toBe(1);
  sync.apply([del(b), add(d)]);
  expect(sync.list().map((p) => p.subnet)).toEqual(['10.244.3.0/24']);
  expect(sync.pending).toBe(1);
  expect(sync.tableFull).toBe(2);
  // A waiting lease rewritten (a new MAC) is not counted again, and is installed as rewritten once there is room.
  sync.apply([add(lease('10.244.4.0/24', '198.51.100.4', '0a:00:00:00:00:44'))]);
  expect(sync.tableFull).toBe(2);
  sync.apply([del(c)]);
  expect(sync.list()).toEqual([expect.objectContaining({ subnet: '10.244.4.0/24', vtepMac: '0a:00:00:00:00:44' })]);
});

it('a route that does not fit the trie node budget undoes its new peer (and a MAC update of a known one)', () => {
  const routes = LpmTable.create({ family: 4, capacity: 100, nodes: 1 });
  const peers = PeerTable.create({ capacity: 100 });
  const sync = new PeerSync(routes, peers, { subnet: '10.244.1.0/24' }, 'vxlan', 1, { info() {}, warn() {} });
  sync.apply([add(lease('10.244.2.0/24', '198.51.100.2', '0a:00:00:00:00:02'))]); // uses the one node
  expect(sync.size).toBe(1);
  sync.apply([add(lease('10.245.3.0/24', '198.51.100.3', '0a:00:00:00:00:03'))]); // needs another node
  expect(sync.pending).toBe(1);
  expect(peers.findByUnderlay(ip4('198.51.100.3'))).toBe(-1);
  expect(peers.size).toBe(1);
  // The known node's second subnet in another /16, with a new MAC: no route, so the MAC stays the old one.
  sync.apply([add(lease('10.246.3.0/24', '198.51.100.2', '0a:00:00:00:00:22'))]);
  expect(peers.get(peers.findByUnderlay(ip4('198.51.100.2')))!.mac).toEqual(Uint8Array.from([10, 0, 0, 0, 0, 2]));
});

describe('IPv6 (EnableIPv6): the IPv6 route table and the peers\' IPv6 underlays', () => {
  const v6lease = (subnet: string, ip: string, subnet6: string, ip6: string | null, mac = '0a:00:00:00:00:02'): Lease => ({
    subnet,
    ipv6Subnet: subnet6,
    attrs: { PublicIP: ip, PublicIPv6: ip6, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: mac }, BackendV6Data: { VNI: 1, VtepMAC: mac } },
    expiration: null,
    revision: 1,
  });
  const at6 = (text: string) => {
    const b = new Uint8Array(16);
    b.set(parseIPv6(text));
    return b;
  };
  function setup6() {
    const routes = LpmTable.create({ family: 4, capacity: 100 });
    const routes6 = LpmTable.create({ family: 6, capacity: 100 });
    const peers = PeerTable.create({ capacity: 100 });
    const sync = new PeerSync(routes, peers, { subnet: '10.244.1.0/24', ipv6Subnet: 'fd00:10:244:1::/64' }, 'vxlan', 1, { info() {}, warn() {} }, routes6);
    return { routes, routes6, peers, sync };
  }

  it('installs a dual-stack lease as one peer with both routes and its IPv6 underlay; skips its own', () => {
    const { routes, routes6, peers, sync } = setup6();
    sync.apply([add(v6lease('10.244.1.0/24', '198.51.100.1', 'fd00:10:244:1::/64', 'fd00:198:51:100::1')), add(v6lease('10.244.2.0/24', '198.51.100.2', 'fd00:10:244:2::/64', 'fd00:198:51:100::2'))]);
    const id = routes.lookup4(ip4('10.244.2.9'));
    expect(id).toBeGreaterThanOrEqual(0);
    expect(routes6.lookup(at6('fd00:10:244:2::9'), 0)).toBe(id);
    expect(routes6.lookup(at6('fd00:10:244:1::9'), 0)).toBe(-1);
    const u6 = new Uint8Array(16);
    peers.writeUnderlay6(id, u6, 0);
    expect(u6).toEqual(at6('fd00:198:51:100::2'));
    expect(peers.findByUnderlay6(at6('fd00:198:51:100::2'), 0)).toBe(id);
    expect(sync.size).toBe(1);
    expect(sync.list()).toEqual([expect.objectContaining({ subnet: '10.244.2.0/24', ipv6Subnet: 'fd00:10:244:2::/64', publicIpv6: 'fd00:198:51:100::2' })]);
  });

  it('a lease that drops its IPv6 half loses the IPv6 route and underlay; removed, it leaves nothing', () => {
    const { routes, routes6, peers, sync } = setup6();
    sync.apply([add(v6lease('10.244.2.0/24', '198.51.100.2', 'fd00:10:244:2::/64', 'fd00:198:51:100::2'))]);
    sync.apply([add(lease('10.244.2.0/24', '198.51.100.2', '0a:00:00:00:00:02'))]);
    const id = routes.lookup4(ip4('10.244.2.9'));
    expect(routes6.lookup(at6('fd00:10:244:2::9'), 0)).toBe(-1);
    expect(peers.findByUnderlay6(at6('fd00:198:51:100::2'), 0)).toBe(-1);
    expect(peers.underlayOf(id)).toBe(ip4('198.51.100.2'));
    sync.apply([add(v6lease('10.244.2.0/24', '198.51.100.2', 'fd00:10:244:2::/64', 'fd00:198:51:100::2'))]);
    sync.apply([del(v6lease('10.244.2.0/24', '198.51.100.2', 'fd00:10:244:2::/64', 'fd00:198:51:100::2'))]);
    expect(routes6.lookup(at6('fd00:10:244:2::9'), 0)).toBe(-1);
    expect(routes.lookup4(ip4('10.244.2.9'))).toBe(-1);
    expect(sync.size).toBe(0);
  });

  it('without an IPv6 route table (an IPv4-only node) the IPv6 half of leases is ignored', () => {
    const { peers, sync } = setup();
    sync.apply([add(v6lease('10.244.2.0/24', '198.51.100.2', 'fd00:10:244:2::/64', 'fd00:198:51:100::2'))]);
    expect(peers.findByUnderlay6(at6('fd00:198:51:100::2'), 0)).toBe(-1);
    expect(sync.size).toBe(1);
  });
});
