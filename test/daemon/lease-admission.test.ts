// Which peer leases may reach the tables: every reason, first-accepted-wins,
// re-evaluation when the winner goes away, counting and logging once, and the
// own-lease check (our renewal never counts as a change).
import { describe, expect, it } from 'vitest';
import { LEASE_REJECT_REASONS, LeaseAdmission, type AdmissionOptions, type LeaseRejectReason } from '../../src/dataplane/lease-admission.js';
import { renderLeaseMetrics } from '../../src/daemon/lease-metrics.js';
import type { Lease, LeaseEvent } from '../../src/registry/types.js';

const SELF_MAC = '0a:00:00:00:00:01';
const SELF_IP = '198.51.100.1';

function lease(subnet: string, ip: string, mac: string | null = '0a:00:00:00:00:02', extra: Partial<{ type: string; vni: unknown; revision: number }> = {}): Lease {
  const data = mac === null ? undefined : { VNI: extra.vni ?? 1, VtepMAC: mac };
  return {
    subnet,
    attrs: { PublicIP: ip, PublicIPv6: null, BackendType: extra.type ?? 'vxlan', ...(data ? { BackendData: data } : {}) },
    expiration: null,
    revision: extra.revision ?? 1,
  };
}
const add = (l: Lease): LeaseEvent => ({ type: 'added', lease: l });
const del = (l: Lease): LeaseEvent => ({ type: 'removed', lease: l });
const SELF = lease('10.244.1.0/24', SELF_IP, SELF_MAC);

function setup(over: Partial<AdmissionOptions> = {}) {
  const warnings: { lease: string; reason: string }[] = [];
  const a = new LeaseAdmission({
    network: '10.244.0.0/16',
    subnetLen: 24,
    backend: 'vxlan',
    vni: 1,
    self: { lease: SELF, publicIps: [SELF_IP], mac: SELF_MAC },
    log: { info() {}, warn: (o) => warnings.push(o as { lease: string; reason: string }) },
    ...over,
  });
  return { a, warnings };
}
const subnets = (evs: LeaseEvent[]) => evs.map((e) => `${e.type} ${e.lease.subnet}`);

describe('lease checks', () => {
  // An accepted neighbour first (10.244.2.0/24 at .2 with MAC :02), then the lease under test.
  const cases: [string, Lease, LeaseRejectReason | null][] = [
    ['an honest lease', lease('10.244.3.0/24', '198.51.100.3', '0a:00:00:00:00:03'), null],
    ['the whole Internet', lease('0.0.0.0/0', '198.51.100.3', '0a:00:00:00:00:03'), 'outside_network'],
    ['a subnet outside Network', lease('10.245.3.0/24', '198.51.100.3', '0a:00:00:00:00:03'), 'outside_network'],
    ['all of Network', lease('10.244.0.0/16', '198.51.100.3', '0a:00:00:00:00:03'), 'wrong_prefix_len'],
    ['a /25 inside our subnet', lease('10.244.1.128/25', '198.51.100.3', '0a:00:00:00:00:03'), 'wrong_prefix_len'],
    ['a /23 over ours', lease('10.244.0.0/23', '198.51.100.3', '0a:00:00:00:00:03'), 'wrong_prefix_len'],
    ['not a subnet', { ...lease('10.244.3.0/24', '198.51.100.3'), subnet: 'garbage' }, 'bad_subnet'],
    ['an ipip lease on vxlan', lease('10.244.3.0/24', '198.51.100.3', null, { type: 'ipip' }), 'backend_mismatch'],
    ['another VNI', lease('10.244.3.0/24', '198.51.100.3', '0a:00:00:00:00:03', { vni: 7 }), 'vni_mismatch'],
    ['PublicIP 0.0.0.0', lease('10.244.3.0/24', '0.0.0.0', '0a:00:00:00:00:03'), 'bad_public_ip'],
    ['PublicIP broadcast', lease('10.244.3.0/24', '255.255.255.255', '0a:00:00:00:00:03'), 'bad_public_ip'],
    ['PublicIP multicast', lease('10.244.3.0/24', '224.0.0.1', '0a:00:00:00:00:03'), 'bad_public_ip'],
    ['PublicIP loopback', lease('10.244.3.0/24', '127.0.0.1', '0a:00:00:00:00:03'), 'bad_public_ip'],
    ['PublicIP link-local', lease('10.244.3.0/24', '169.254.1.1', '0a:00:00:00:00:03'), 'bad_public_ip'],
    ['PublicIP not an address', lease('10.244.3.0/24', 'nope', '0a:00:00:00:00:03'), 'bad_public_ip'],
    ['PublicIP inside the overlay', lease('10.244.3.0/24', '10.244.9.9', '0a:00:00:00:00:03'), 'public_ip_in_network'],
    ['our PublicIP', lease('10.244.3.0/24', SELF_IP, '0a:00:00:00:00:03'), 'own_public_ip'],
    ["another node's PublicIP", lease('10.244.3.0/24', '198.51.100.2', '0a:00:00:00:00:03'), 'public_ip_taken'],
    ['no VtepMAC', lease('10.244.3.0/24', '198.51.100.3', null), 'bad_mac'],
    ['a zero MAC', lease('10.244.3.0/24', '198.51.100.3', '00:00:00:00:00:00'), 'bad_mac'],
    ['the broadcast MAC', lease('10.244.3.0/24', '198.51.100.3', 'ff:ff:ff:ff:ff:ff'), 'bad_mac'],
    ['a multicast MAC', lease('10.244.3.0/24', '198.51.100.3', '01:00:5e:00:00:01'), 'bad_mac'],
    ['a malformed MAC', lease('10.244.3.0/24', '198.51.100.3', '0a:00:00:00:00'), 'bad_mac'],
    ['our MAC', lease('10.244.3.0/24', '198.51.100.3', SELF_MAC), 'own_mac'],
    ["another node's MAC", lease('10.244.3.0/24', '198.51.100.3', '0a:00:00:00:00:02'), 'mac_taken'],
    ['the same subnet as a peer (dual-stack key)', { ...lease('10.244.2.0/24', '198.51.100.3', '0a:00:00:00:00:03'), ipv6Subnet: 'fc00::/64' }, 'overlaps_peer'],
  ];
  it.each(cases)('%s', (_name, l, reason) => {
    const { a, warnings } = setup();
    const neighbour = lease('10.244.2.0/24', '198.51.100.2', '0a:00:00:00:00:02');
    expect(subnets(a.admit([add(neighbour)]).events)).toEqual(['added 10.244.2.0/24']);
    const out = a.admit([add(l)]);
    if (reason === null) {
      expect(subnets(out.events)).toEqual([`added ${l.subnet}`]);
      expect(warnings).toEqual([]);
    } else {
      expect(out.events).toEqual([]);
      expect(a.rejections().get(reason)).toBe(1);
      expect(warnings).toEqual([expect.objectContaining({ reason })]);
      expect(a.rejectedLeases()).toEqual([{ key: expect.any(String), reason }]);
    }
    // The neighbour is untouched either way.
    expect(a.acceptedLeases().map((x) => x.subnet)).toContain('10.244.2.0/24');
    expect(out.own).toBeNull();
  });

  it('overlaps_self: a lease for our own subnet from another node (kube: a duplicated podCIDR)', () => {
    const { a } = setup({ self: { lease: { ...SELF, node: 'node-a' }, publicIps: [SELF_IP], mac: SELF_MAC } });
    const dup = { ...lease('10.244.1.0/24', '198.51.100.3', '0a:00:00:00:00:03'), node: 'node-x' };
    const out = a.admit([add(dup), del(dup)]);
    expect(out.own).toBeNull(); // not ours: node-x's
    expect(a.rejections().get('overlaps_self')).toBe(0); // added then removed in one batch: net nothing
    expect(a.admit([add(dup)]).events).toEqual([]);
    expect(a.rejections().get('overlaps_self')).toBe(1);
  });

  it('ipip and udp leases carry no MAC and need none', () => {
    const { a } = setup({ backend: 'ipip', self: { lease: lease('10.244.1.0/24', SELF_IP, null, { type: 'ipip' }), publicIps: [SELF_IP], mac: null } });
    expect(subnets(a.admit([add(lease('10.244.2.0/24', '198.51.100.2', null, { type: 'ipip' }))]).events)).toEqual(['added 10.244.2.0/24']);
    const u = setup({ backend: 'udp', self: { lease: lease('10.244.1.0/24', SELF_IP, null, { type: '' }), publicIps: [SELF_IP], mac: null } });
    expect(subnets(u.a.admit([add(lease('10.244.2.0/24', '198.51.100.2', null, { type: '' }))]).events)).toEqual(['added 10.244.2.0/24']);
  });
});

describe('conflicts', () => {
  const b = lease('10.244.2.0/24', '198.51.100.2', '0a:00:00:00:00:02');
  const hostile = lease('10.244.9.0/24', '198.51.100.2', '0a:00:00:00:00:99'); // B's PublicIP, another MAC

  it('first accepted wins; a conflicting lease never displaces it, its renewals are neither counted nor logged again', () => {
    const { a, warnings } = setup();
    a.admit([add(b)]);
    expect(a.admit([add(hostile)]).events).toEqual([]);
    for (let rev = 2; rev < 5; rev++) expect(a.admit([add({ ...hostile, revision: rev })]).events).toEqual([]);
    expect(a.rejections().get('public_ip_taken')).toBe(1);
    expect(warnings.length).toBe(1);
    // A new value at the same key is a new rejection (counted), still logged once for this reason.
    a.admit([add({ ...hostile, attrs: { ...hostile.attrs, BackendData: { VNI: 1, VtepMAC: '0a:00:00:00:00:98' } } })]);
    expect(a.rejections().get('public_ip_taken')).toBe(2);
    expect(warnings.length).toBe(1);
    expect(a.acceptedLeases()).toEqual([b]);
  });

  it('of two conflicting leases in one batch (a restart\'s first listing) the older key wins, whatever the key order', () => {
    const { a } = setup();
    const honest = { ...b, created: 5 };
    const early = { ...lease('10.244.100.0/24', '198.51.100.2', '0a:00:00:00:00:99'), created: 30 }; // sorts first as a key
    expect(subnets(a.admit([add(early), add(honest)]).events)).toEqual(['added 10.244.2.0/24']);
    expect(a.rejectedLeases()).toEqual([{ key: '10.244.100.0/24', reason: 'public_ip_taken' }]);
  });

  it('when the accepted lease is deleted, the rejected one that conflicted is evaluated again (what a fresh start would accept)', () => {
    const { a } = setup();
    a.admit([add(b), add(hostile)]);
    const out = a.admit([del(b)]);
    expect(subnets(out.events)).toEqual(['removed 10.244.2.0/24', 'added 10.244.9.0/24']);
    const fresh = setup();
    expect(subnets(fresh.a.admit([add(hostile)]).events)).toEqual(['added 10.244.9.0/24']);
  });

  it('a node that moves to another subnet in one batch (compaction resync: added before removed) is accepted at its new place', () => {
    const { a } = setup();
    a.admit([add(b)]);
    const moved = lease('10.244.5.0/24', '198.51.100.2', '0a:00:00:00:00:02');
    expect(subnets(a.admit([add(moved), del(b)]).events)).toEqual(['removed 10.244.2.0/24', 'added 10.244.5.0/24']);
  });

  it('a renewal of an accepted lease changes nothing; a restarted node with a new MAC is an update', () => {
    const { a } = setup();
    a.admit([add(b)]);
    expect(a.admit([add({ ...b, revision: 9 })]).events).toEqual([]);
    const newMac = lease('10.244.2.0/24', '198.51.100.2', '0a:00:00:00:00:22');
    expect(subnets(a.admit([add(newMac)]).events)).toEqual(['added 10.244.2.0/24']);
    // Its old MAC is free again.
    expect(subnets(a.admit([add(lease('10.244.3.0/24', '198.51.100.3', '0a:00:00:00:00:02'))]).events)).toEqual(['added 10.244.3.0/24']);
  });

  it('an accepted lease rewritten into a bad one is withdrawn, but a conflicting lease written before does not slip into its place; the node gets its MAC back', () => {
    const { a } = setup();
    const c = lease('10.244.3.0/24', '198.51.100.3', '0a:00:00:00:00:02'); // B's MAC
    a.admit([add(b), add(c)]);
    expect(a.rejections().get('mac_taken')).toBe(1);
    const broken = lease('10.244.2.0/24', '0.0.0.0', '0a:00:00:00:00:02');
    expect(subnets(a.admit([add(broken)]).events)).toEqual(['removed 10.244.2.0/24']);
    expect(a.rejections().get('bad_public_ip')).toBe(1);
    // B comes back (a restart rewrites its lease): accepted with its MAC.
    expect(subnets(a.admit([add(b)]).events)).toEqual(['added 10.244.2.0/24']);
    // Rewritten to a valid other MAC: B keeps its place, c still waits.
    expect(subnets(a.admit([add(lease('10.244.2.0/24', '198.51.100.2', '0a:00:00:00:00:12'))]).events)).toEqual(['added 10.244.2.0/24']);
    expect(a.rejectedLeases()).toEqual([{ key: '10.244.3.0/24', reason: 'mac_taken' }]);
    // c written again (its writer's renewal): evaluated afresh, and the MAC is free now; not counted again.
    expect(subnets(a.admit([add({ ...c, revision: 2 })]).events)).toEqual(['added 10.244.3.0/24']);
    expect(a.rejections().get('mac_taken')).toBe(1);
  });

  it('a rejected lease that is deleted is forgotten (logged again if it comes back)', () => {
    const { a, warnings } = setup();
    a.admit([add(b), add(hostile)]);
    a.admit([del(hostile)]);
    expect(a.rejectedLeases()).toEqual([]);
    a.admit([add(hostile)]);
    expect(warnings.length).toBe(2);
  });
});

describe('own lease', () => {
  it('our renewal, or a successor with the same subnet and MAC, is no change', () => {
    const { a } = setup();
    expect(a.admit([add({ ...SELF, revision: 42, expiration: new Date() })]).own).toBeNull();
    // Upper-case MAC from another writer's formatting is the same MAC.
    expect(a.admit([add({ ...SELF, attrs: { ...SELF.attrs, BackendData: { VNI: 1, VtepMAC: SELF_MAC.toUpperCase() } } })]).own).toBeNull();
  });

  it.each([
    ['another MAC', { ...SELF.attrs, BackendData: { VNI: 1, VtepMAC: '0a:00:00:00:00:66' } }],
    ['another PublicIP', { ...SELF.attrs, PublicIP: '198.51.100.66' }],
    ['another backend', { ...SELF.attrs, BackendType: 'udp' }],
    ['another VNI', { ...SELF.attrs, BackendData: { VNI: 5, VtepMAC: SELF_MAC } }],
  ])('rewritten with %s: reported at once, never a peer', (_n, attrs) => {
    const { a } = setup();
    const out = a.admit([add({ ...SELF, attrs, revision: 7 })]);
    expect(out.own).toMatchObject({ type: 'changed', detail: expect.stringContaining('rewritten by someone else') });
    expect(out.events).toEqual([]);
  });

  it('removed: reported', () => {
    const { a } = setup();
    expect(a.admit([del(SELF)]).own).toMatchObject({ type: 'removed' });
  });
});

it('renders every reason and the table gauges', () => {
  const { a } = setup();
  a.admit([add(lease('0.0.0.0/0', '198.51.100.3'))]);
  const text = renderLeaseMetrics({
    rejected: a.rejections(),
    tables: { routes: { entries: 3, capacity: 10 }, peers: { entries: 2, capacity: 10 }, tableFull: 1, pending: 1 },
  });
  for (const r of LEASE_REJECT_REASONS) expect(text).toContain(`weft_leases_rejected_total{reason="${r}"} ${r === 'outside_network' ? 1 : 0}`);
  expect(text).toContain('weft_table_entries{table="routes"} 3');
  expect(text).toContain('weft_table_capacity{table="peers"} 10');
  expect(text).toContain('weft_table_full_total 1');
  expect(text).toContain('weft_leases_pending 1');
  // host-gw: no tables, the rejections alone
  const noTables = renderLeaseMetrics({ rejected: a.rejections(), tables: null });
  expect(noTables).toContain('weft_leases_rejected_total{reason="outside_network"} 1');
  expect(noTables).not.toContain('weft_table_');
});

// IPv6 (issue 13): the IPv6 half of a lease, as flannel's vxlan backend writes it
// (PublicIPv6, BackendV6Data {VNI, VtepMAC} of its flannel-v6.<VNI> device).
describe('IPv6 lease checks', () => {
  const SELF_IP6 = 'fd00:198:51:100::1';
  const SELF_MAC6 = '0a:00:00:00:06:01';
  function lease6(subnet: string, ip: string, ipv6Subnet: string | undefined, ip6: unknown, mac6: unknown = '0a:00:00:00:06:03', extra: { mac?: string; vni6?: unknown; data6?: unknown } = {}): Lease {
    const l = lease(subnet, ip, subnet === '' ? null : (extra.mac ?? '0a:00:00:00:00:03'));
    return {
      ...l,
      ...(ipv6Subnet !== undefined ? { ipv6Subnet } : {}),
      attrs: { ...l.attrs, PublicIPv6: ip6 as string, BackendV6Data: extra.data6 !== undefined ? extra.data6 : { VNI: extra.vni6 ?? 1, VtepMAC: mac6 } },
    };
  }
  const SELF6 = lease6('10.244.1.0/24', SELF_IP, 'fd00:10:244:1::/64', SELF_IP6, SELF_MAC6, { mac: SELF_MAC });
  const dual = (over: Partial<AdmissionOptions> = {}) =>
    setup({
      ipv6: { network: 'fd00:10:244::/56', subnetLen: 64 },
      self: { lease: SELF6, publicIps: [SELF_IP], mac: SELF_MAC, publicIpv6s: [SELF_IP6], macV6: SELF_MAC6 },
      ...over,
    });
  const NB = lease6('10.244.2.0/24', '198.51.100.2', 'fd00:10:244:2::/64', 'fd00:198:51:100::2', '0a:00:00:00:06:02', { mac: '0a:00:00:00:00:02' });
  const good = (o: Partial<{ sn6: string | undefined; ip6: unknown; mac6: unknown; vni6: unknown; data6: unknown }> = {}) =>
    lease6('10.244.3.0/24', '198.51.100.3', 'sn6' in o ? o.sn6 : 'fd00:10:244:3::/64', 'ip6' in o ? o.ip6 : 'fd00:198:51:100::3', 'mac6' in o ? o.mac6 : '0a:00:00:00:06:03', {
      ...(o.vni6 !== undefined ? { vni6: o.vni6 } : {}),
      ...(o.data6 !== undefined ? { data6: o.data6 } : {}),
    });
  const cases: [string, Lease, LeaseRejectReason | null][] = [
    ['an honest dual-stack lease', good(), null],
    ['a global unicast PublicIPv6', good({ ip6: '2001:db8::3' }), null],
    ['no IPv6 subnet (an IPv4-only key)', good({ sn6: undefined }), 'bad_ipv6_subnet'],
    ['an IPv6 subnet with host bits', good({ sn6: 'fd00:10:244:3::1/64' }), 'bad_ipv6_subnet'],
    ['an IPv6 subnet not in RFC 5952 text', good({ sn6: 'fd00:10:244:3:0:0:0:0/64' }), 'bad_ipv6_subnet'],
    ['an IPv4 text as the IPv6 subnet', good({ sn6: '10.244.3.0/24' }), 'bad_ipv6_subnet'],
    ['::/0', good({ sn6: '::/0' }), 'ipv6_outside_network'],
    ['outside IPv6Network', good({ sn6: 'fd00:10:245:3::/64' }), 'ipv6_outside_network'],
    ['all of IPv6Network', good({ sn6: 'fd00:10:244::/56' }), 'ipv6_wrong_prefix_len'],
    ['a /65 inside IPv6Network', good({ sn6: 'fd00:10:244:3::/65' }), 'ipv6_wrong_prefix_len'],
    ['a /63 over ours', good({ sn6: 'fd00:10:244::/63' }), 'ipv6_wrong_prefix_len'],
    ['our IPv6 subnet', good({ sn6: 'fd00:10:244:1::/64' }), 'ipv6_overlaps_self'],
    ["a peer's IPv6 subnet", good({ sn6: 'fd00:10:244:2::/64' }), 'ipv6_overlaps_peer'],
    ['no PublicIPv6', good({ ip6: null }), 'bad_public_ipv6'],
    ['PublicIPv6 ::', good({ ip6: '::' }), 'bad_public_ipv6'],
    ['PublicIPv6 loopback', good({ ip6: '::1' }), 'bad_public_ipv6'],
    ['PublicIPv6 link-local', good({ ip6: 'fe80::3' }), 'bad_public_ipv6'],
    ['PublicIPv6 multicast', good({ ip6: 'ff02::1' }), 'bad_public_ipv6'],
    ['PublicIPv6 v4-mapped', good({ ip6: '::ffff:198.51.100.3' }), 'bad_public_ipv6'],
    ['PublicIPv6 garbage', good({ ip6: 'fd00::zz' }), 'bad_public_ipv6'],
    ['PublicIPv6 a number', good({ ip6: 7 }), 'bad_public_ipv6'],
    ['PublicIPv6 inside the overlay', good({ ip6: 'fd00:10:244:9::9' }), 'public_ipv6_in_network'],
    ['our PublicIPv6 (other spelling)', good({ ip6: 'FD00:198:51:100:0::1' }), 'own_public_ipv6'],
    ["a peer's PublicIPv6", good({ ip6: 'fd00:198:51:100::2' }), 'public_ipv6_taken'],
    ['BackendV6Data of another VNI', good({ vni6: 9 }), 'v6_vni_mismatch'],
    ['no BackendV6Data', good({ data6: null }), 'bad_v6_mac'],
    ['BackendV6Data a string', good({ data6: 'x' }), 'bad_v6_mac'],
    ['BackendV6Data VtepMAC malformed', good({ mac6: '0a:00:00:06:03' }), 'bad_v6_mac'],
    ['BackendV6Data VtepMAC multicast', good({ mac6: '33:33:00:00:00:01' }), 'bad_v6_mac'],
    ['BackendV6Data VtepMAC zero', good({ mac6: '00:00:00:00:00:00' }), 'bad_v6_mac'],
    ['BackendV6Data VtepMAC not a string', good({ mac6: 42 }), 'bad_v6_mac'],
    ['our IPv6 VTEP MAC', good({ mac6: SELF_MAC6.toUpperCase() }), 'own_v6_mac'],
    ["a peer's IPv6 VTEP MAC", good({ mac6: '0a:00:00:00:06:02' }), 'v6_mac_taken'],
  ];
  it.each(cases)('%s', (_name, l, reason) => {
    const { a, warnings } = dual();
    expect(subnets(a.admit([add(NB)]).events)).toEqual(['added 10.244.2.0/24']);
    const out = a.admit([add(l)]);
    if (reason === null) {
      expect(subnets(out.events)).toEqual(['added 10.244.3.0/24']);
      expect(warnings).toEqual([]);
    } else {
      expect(out.events).toEqual([]);
      expect(a.rejections().get(reason)).toBe(1);
      expect([...a.rejections().values()].reduce((x, y) => x + y, 0)).toBe(1);
      expect(warnings).toEqual([expect.objectContaining({ reason })]);
    }
    // The neighbour keeps its place, and an honest lease still gets in afterwards.
    expect(a.acceptedLeases()).toContain(NB);
    const honest = lease6('10.244.4.0/24', '198.51.100.4', 'fd00:10:244:4::/64', 'fd00:198:51:100::4', '0a:00:00:00:06:04', { mac: '0a:00:00:00:00:04' });
    expect(subnets(a.admit([add(honest)]).events)).toEqual(['added 10.244.4.0/24']);
  });

  it('a peer IPv6 subnet freed by a deletion lets the lease that conflicted with it in', () => {
    const { a } = dual();
    a.admit([add(NB)]);
    const late = lease6('10.244.3.0/24', '198.51.100.3', 'fd00:10:244:2::/64', 'fd00:198:51:100::3');
    expect(a.admit([add(late)]).events).toEqual([]);
    expect(a.rejections().get('ipv6_overlaps_peer')).toBe(1);
    expect(a.admit([del(NB)]).events.map((e) => `${e.type} ${e.lease.subnet}`)).toEqual(['removed 10.244.2.0/24', 'added 10.244.3.0/24']);
  });

  it('our own dual-stack renewal is no change; a rewritten IPv6 VTEP MAC is', () => {
    const { a } = dual();
    expect(a.admit([add({ ...SELF6, revision: 9 })]).own).toBeNull();
    const moved = { ...SELF6, attrs: { ...SELF6.attrs, BackendV6Data: { VNI: 1, VtepMAC: '0a:00:00:00:06:99' } } };
    expect(a.admit([add(moved)]).own).toMatchObject({ type: 'changed' });
  });

  it('IPv6-only: no IPv4 subnet, PublicIP 0.0.0.0 and no BackendData are the norm; an IPv4 subnet is refused', () => {
    const self = lease6('', '0.0.0.0', 'fd00:10:244:1::/64', SELF_IP6, SELF_MAC6);
    const { a } = setup({
      ipv4: false,
      network: '',
      subnetLen: 0,
      ipv6: { network: 'fd00:10:244::/56', subnetLen: 64 },
      self: { lease: self, publicIps: [], mac: null, publicIpv6s: [SELF_IP6], macV6: SELF_MAC6 },
    });
    const p2 = lease6('', '0.0.0.0', 'fd00:10:244:2::/64', 'fd00:198:51:100::2', '0a:00:00:00:06:02');
    const p3 = lease6('', '0.0.0.0', 'fd00:10:244:3::/64', 'fd00:198:51:100::3', '0a:00:00:00:06:03');
    expect(a.admit([add(p2), add(p3)]).events.map((e) => e.lease.ipv6Subnet)).toEqual(['fd00:10:244:2::/64', 'fd00:10:244:3::/64']);
    // Several leases with PublicIP 0.0.0.0 are not a PublicIP conflict here.
    expect(a.rejections().get('public_ip_taken')).toBe(0);
    const withV4 = lease6('10.244.5.0/24', '198.51.100.5', 'fd00:10:244:5::/64', 'fd00:198:51:100::5', '0a:00:00:00:06:05');
    expect(a.admit([add(withV4)]).events).toEqual([]);
    expect(a.rejections().get('bad_subnet')).toBe(1);
    // The key is the IPv6 subnet alone: p2's key rewritten with p3's PublicIPv6 withdraws p2.
    const takeover = lease6('', '0.0.0.0', 'fd00:10:244:2::/64', 'fd00:198:51:100::3', '0a:00:00:00:06:06');
    expect(a.admit([add(takeover)]).events.map((e) => `${e.type} ${e.lease.ipv6Subnet}`)).toEqual(['removed fd00:10:244:2::/64']);
    expect(a.rejections().get('public_ipv6_taken')).toBe(1);
    expect(a.acceptedLeases()).toEqual([p3]);
  });

  it('reasons are appended, never renumbered', () => {
    expect(LEASE_REJECT_REASONS.indexOf('mac_taken')).toBe(13);
    expect(LEASE_REJECT_REASONS.slice(14)).toEqual([
      'bad_ipv6_subnet', 'ipv6_outside_network', 'ipv6_wrong_prefix_len', 'ipv6_overlaps_self', 'ipv6_overlaps_peer',
      'bad_public_ipv6', 'public_ipv6_in_network', 'own_public_ipv6', 'public_ipv6_taken', 'v6_vni_mismatch', 'bad_v6_mac', 'own_v6_mac', 'v6_mac_taken',
    ]);
  });
});
