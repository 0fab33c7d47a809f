// flanneld parity, interface selection: --iface (several, name or address),
// --iface-regex (several; addresses first, then names), --iface-can-reach, and
// --public-ip, in the order of flannel's main.go / LookupExtIface.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultRoute6Iface, goRegex, IfaceSelectError, selectInterface, selectIpv6, usableAddresses, usableAddresses6, type IfaceHost, type Link } from '../../src/daemon/iface-select.js';
import { useJanitor, HOOK_TIMEOUT } from '../integration/harness/context.js';
import { ipn, nsRun } from '../integration/harness/exec.js';
import { Driver, skipParity } from './harness.js';

function fakeHost(links: Link[], routes: Record<string, { dev: string; prefsrc?: string }> = {}, dflt: string | null = null): IfaceHost {
  return {
    links: () => links,
    routeGet: (dst) => {
      const r = routes[dst];
      if (!r) throw new Error('RTNETLINK answers: Network is unreachable');
      return r;
    },
    defaultRouteIface: () => dflt,
  };
}

const LINKS: Link[] = [
  { ifindex: 1, ifname: 'lo', mtu: 65536, addrs: [{ local: '127.0.0.1', prefixlen: 8, scope: 'host' }] },
  { ifindex: 2, ifname: 'eth0', mtu: 1500, addrs: [{ local: '203.0.113.10', prefixlen: 24 }] },
  { ifindex: 3, ifname: 'eth1', mtu: 9000, addrs: [{ local: '198.51.100.10', prefixlen: 24 }, { local: '198.51.100.11', prefixlen: 24 }] },
  { ifindex: 4, ifname: 'bond0', mtu: 1500, addrs: [] },
];
const host = fakeHost(LINKS, { '203.0.113.9': { dev: 'eth1', prefsrc: '198.51.100.11' } }, 'eth0');

const V6_LINKS: Link[] = [
  { ifindex: 1, ifname: 'lo', mtu: 65536, addrs: [{ local: '127.0.0.1', prefixlen: 8 }], addrs6: [{ local: '::1', prefixlen: 128 }] },
  {
    ifindex: 2,
    ifname: 'eth0',
    mtu: 1500,
    addrs: [{ local: '203.0.113.10', prefixlen: 24 }],
    addrs6: [
      { local: 'fe80::1', prefixlen: 64, scope: 'link' },
      { local: 'fd00:203:0:113::99', prefixlen: 64, dynamic: true, temporary: true },
      { local: 'fd00:203:0:113::50', prefixlen: 64, dynamic: true },
      { local: 'fd00:203:0:113::10', prefixlen: 64 },
      { local: 'fd00:203:0:113::66', prefixlen: 64, deprecated: true },
    ],
  },
  { ifindex: 3, ifname: 'eth1', mtu: 9000, addrs: [{ local: '198.51.100.10', prefixlen: 24 }], addrs6: [{ local: 'fd00:198:51:100::a', prefixlen: 64, tentative: true }] },
  { ifindex: 4, ifname: 'eth2', mtu: 1500, addrs: [{ local: '198.18.0.1', prefixlen: 24 }], addrs6: [{ local: 'fe80::2', prefixlen: 64 }, { local: 'fd00:9::1', prefixlen: 64 }] },
  { ifindex: 5, ifname: 'eth3', mtu: 1500, addrs: [{ local: '198.18.1.1', prefixlen: 24 }], addrs6: [{ local: 'fe80::3', prefixlen: 64 }] },
  { ifindex: 6, ifname: 'eth4', mtu: 1500, addrs: [{ local: '198.18.2.1', prefixlen: 24 }], addrs6: [] },
];

describe('dual-stack: the IPv6 address of the chosen interface, as flanneld (no root)', () => {
  const v6host = (dflt6: string | null = 'eth0'): IfaceHost => ({ ...fakeHost(V6_LINKS, {}, 'eth0'), defaultRoute6Iface: () => dflt6 });
  const eth = (name: string) => selectInterface({ ifaces: [name] }, v6host());

  it("orders an interface's addresses as GetInterfaceIP6Addrs: global first, permanent before dynamic, temporary last, deprecated never", () => {
    expect(usableAddresses6(V6_LINKS[1]!).map((a) => a.local)).toEqual(['fd00:203:0:113::10', 'fd00:203:0:113::50', 'fd00:203:0:113::99', 'fe80::1']);
    expect(usableAddresses6(V6_LINKS[0]!)).toEqual([]);
  });

  it.each([
    ['the first usable address', 'eth0', {}, { address6: 'fd00:203:0:113::10', publicIpv6: 'fd00:203:0:113::10' }],
    ['--public-ipv6 on the interface: bound and published', 'eth0', { publicIpv6: 'fd00:203:0:113::50' }, { address6: 'fd00:203:0:113::50', publicIpv6: 'fd00:203:0:113::50' }],
    ['--public-ipv6 elsewhere (NAT): the interface address bound, the public one published', 'eth0', { publicIpv6: 'fd00:ffff::7' }, { address6: 'fd00:203:0:113::10', publicIpv6: 'fd00:ffff::7' }],
    ['global preferred over link-local', 'eth2', {}, { address6: 'fd00:9::1', publicIpv6: 'fd00:9::1' }],
  ])('%s', (_what, iface, opts, want) => {
    expect(selectIpv6(eth(iface), { byDefaultRoute: false, ...opts }, v6host())).toEqual(want);
  });

  it.each([
    ['no address at all', 'eth4', {}, /eth4 has no usable IPv6 address.*it has: none/],
    ['only link-local', 'eth3', {}, /only IPv6 address of eth3 is link-local \(fe80::3\)/],
    ['tentative (DAD)', 'eth1', {}, /fd00:198:51:100::a on eth1 is still tentative.*nodad/],
    ['--public-ipv6 on another interface', 'eth0', { publicIpv6: 'fd00:9::1' }, /--public-ipv6 fd00:9::1 is on interface eth2, but the IPv4 underlay is eth0/],
    ['--public-ipv6 not unicast', 'eth0', { publicIpv6: 'ff02::1' }, /--public-ipv6 is "ff02::1"/],
    ['--public-ipv6 not an address', 'eth0', { publicIpv6: '198.51.100.1' }, /--public-ipv6 is "198\.51\.100\.1"/],
  ])('refused: %s', (_what, iface, opts, msg) => {
    expect(() => selectIpv6(eth(iface), { byDefaultRoute: false, ...opts }, v6host())).toThrow(msg);
    expect(() => selectIpv6(eth(iface), { byDefaultRoute: false, ...opts }, v6host())).toThrow(IfaceSelectError);
  });

  it('by the default routes: the IPv6 one must leave by the IPv4 one\'s interface', () => {
    const chosen = selectInterface({}, v6host());
    expect(selectIpv6(chosen, { byDefaultRoute: true }, v6host('eth0')).address6).toBe('fd00:203:0:113::10');
    expect(() => selectIpv6(chosen, { byDefaultRoute: true }, v6host('eth2'))).toThrow(/IPv6 default route's interface eth2 must be the IPv4 default route's interface eth0/);
  });

  it("reads the IPv6 default route's device from /proc/net/ipv6_route", () => {
    const z = '0'.repeat(32);
    const text = [
      `fd000000000000000000000000000000 40 ${z} 00 ${z} 00000100 00000001 00000000 00000001     eth1`,
      `${z} 00 ${z} 00 fd000203000001130000000000000001 00000400 00000001 00000000 00000003     eth0`,
    ].join('\n');
    expect(defaultRoute6Iface(text)).toBe('eth0');
    expect(defaultRoute6Iface(text.split('\n')[0])).toBeNull();
  });
});

describe('interface selection (no root)', () => {
  it('with no flag: the default route interface and its first address', () => {
    expect(selectInterface({}, host)).toMatchObject({ iface: 'eth0', address: '203.0.113.10', publicIp: '203.0.113.10', mtu: 1500 });
  });

  it('--public-ip alone: the interface holding it; an error naming the flags if none does', () => {
    expect(selectInterface({ publicIp: '198.51.100.11' }, host)).toMatchObject({ iface: 'eth1', address: '198.51.100.11', publicIp: '198.51.100.11' });
    expect(() => selectInterface({ publicIp: '203.0.113.50' }, host)).toThrow(/--public-ip 203\.0\.113\.50 is on no interface.*--iface/);
  });

  it('--public-ip with an interface flag: the interface address is bound, the public IP is published', () => {
    expect(selectInterface({ ifaces: ['eth1'], publicIp: '203.0.113.50' }, host)).toMatchObject({ iface: 'eth1', address: '198.51.100.10', publicIp: '203.0.113.50', mtu: 9000 });
  });

  it('--iface takes a name or an address, several in order, the first match wins', () => {
    expect(selectInterface({ ifaces: ['eth1'] }, host)).toMatchObject({ iface: 'eth1', address: '198.51.100.10' });
    expect(selectInterface({ ifaces: ['198.51.100.11'] }, host)).toMatchObject({ iface: 'eth1', address: '198.51.100.11' });
    expect(selectInterface({ ifaces: ['nosuch', 'wlan9', 'eth0', 'eth1'] }, host)).toMatchObject({ iface: 'eth0', by: '--iface eth0' });
  });

  it('--iface-regex: addresses of every interface first, then names; several in order', () => {
    expect(selectInterface({ ifaceRegexes: ['^198\\.51\\.100\\.1[01]$'] }, host)).toMatchObject({ iface: 'eth1', address: '198.51.100.10' });
    expect(selectInterface({ ifaceRegexes: ['100\\.11'] }, host)).toMatchObject({ iface: 'eth1', address: '198.51.100.11' });
    expect(selectInterface({ ifaceRegexes: ['^eth1$'] }, host)).toMatchObject({ iface: 'eth1', address: '198.51.100.10' });
    // "1" matches 203.0.113.10 (an address) before any name
    expect(selectInterface({ ifaceRegexes: ['1'] }, host)).toMatchObject({ iface: 'eth0', address: '203.0.113.10' });
    expect(selectInterface({ ifaceRegexes: ['^nomatch', '^eth1$'] }, host)).toMatchObject({ iface: 'eth1', by: '--iface-regex ^eth1$' });
    expect(selectInterface({ ifaceRegexes: ['(?i)^ETH1$'] }, host).iface).toBe('eth1');
  });

  it('--iface-regex matching a name without an address falls through to the next option, as flanneld', () => {
    // "^lo" names lo, which has no usable IPv4 address (127/8 is not global unicast)
    expect(selectInterface({ ifaceRegexes: ['^lo$', '^bond', 'eth0'] }, host)).toMatchObject({ iface: 'eth0', by: '--iface-regex eth0' });
  });

  it('--iface-can-reach: the route interface and its source address', () => {
    expect(selectInterface({ ifaceCanReach: '203.0.113.9' }, host)).toMatchObject({ iface: 'eth1', address: '198.51.100.11', by: '--iface-can-reach 203.0.113.9' });
  });

  it('precedence: every --iface, then every --iface-regex, then --iface-can-reach', () => {
    expect(selectInterface({ ifaces: ['eth0'], ifaceRegexes: ['eth1'], ifaceCanReach: '203.0.113.9' }, host).by).toBe('--iface eth0');
    expect(selectInterface({ ifaces: ['nosuch'], ifaceRegexes: ['eth1'], ifaceCanReach: '203.0.113.9' }, host).by).toBe('--iface-regex eth1');
    expect(selectInterface({ ifaces: ['nosuch'], ifaceRegexes: ['nomatch'], ifaceCanReach: '203.0.113.9' }, host).by).toBe('--iface-can-reach 203.0.113.9');
  });

  it('errors name each flag that failed and say why', () => {
    const err = (() => {
      try {
        selectInterface({ ifaces: ['nosuch', 'bond0'], ifaceRegexes: ['['], ifaceCanReach: '203.0.113.200' }, host);
      } catch (e) {
        return e as Error;
      }
      throw new Error('no error');
    })();
    expect(err).toBeInstanceOf(IfaceSelectError);
    expect(err.message).toMatch(/--iface nosuch: no such interface \(have: lo, eth0, eth1, bond0\)/);
    expect(err.message).toMatch(/--iface bond0: interface bond0 has no usable IPv4 address/);
    expect(err.message).toMatch(/--iface-regex "\[" is not a valid regular expression/);
    expect(err.message).toMatch(/--iface-can-reach 203\.0\.113\.200: the kernel has no route to it/);
    expect(() => selectInterface({ ifaceCanReach: 'example.com' }, host)).toThrow(/--iface-can-reach is "example\.com": it must be an IPv4 address/);
    expect(() => selectInterface({ ifaceRegexes: ['^zz'] }, host)).toThrow(/--iface-regex "\^zz" matches no interface name or IPv4 address \(have: lo:\[\], eth0:\[203\.0\.113\.10\]/);
    expect(() => selectInterface({}, fakeHost(LINKS))).toThrow(/no IPv4 default route: choose the underlay interface with --iface, --iface-regex or --iface-can-reach/);
  });

  it('addresses in flannel order: global before link-local, permanent before dynamic; no loopback, deprecated or multicast', () => {
    const link: Link = {
      ifindex: 9,
      ifname: 'x',
      mtu: 1500,
      addrs: [
        { local: '169.254.1.1', prefixlen: 16 },
        { local: '10.0.0.5', prefixlen: 24, dynamic: true },
        { local: '127.0.0.2', prefixlen: 8 },
        { local: '10.0.1.5', prefixlen: 24, deprecated: true },
        { local: '10.0.2.5', prefixlen: 24 },
        { local: '224.0.0.9', prefixlen: 32 },
      ],
    };
    expect(usableAddresses(link)).toEqual(['10.0.2.5', '10.0.0.5', '169.254.1.1']);
  });

  it('Go regexps: unanchored, and a leading (?i) becomes a flag', () => {
    expect(goRegex('eth').test('veth0')).toBe(true);
    expect(goRegex('(?i)^ETH0$').test('eth0')).toBe(true);
    expect(goRegex('(?i)^ETH0$').flags).toBe('i');
  });
});

describe.skipIf(skipParity('interface selection parity'))('interface selection in a namespace with two interfaces (root)', () => {
  const janitor = useJanitor();
  let ns: string;
  let driver: Driver;
  const select = (opts: Record<string, unknown>) => driver.call<{ iface: string; address: string; publicIp: string; mtu: number; by: string }>('iface.select', { opts });

  beforeAll(async () => {
    ns = janitor().addNamespace('ifsel');
    // wtaa0 203.0.113.10/25 carries the default route; wtbb0 198.51.100.10/24 (MTU 9000) the route to 203.0.113.128/25
    await ipn(ns, 'link', 'add', 'wtaa0', 'type', 'veth', 'peer', 'name', 'wtaa1');
    await ipn(ns, 'link', 'add', 'wtbb0', 'mtu', '9000', 'type', 'veth', 'peer', 'name', 'wtbb1');
    await ipn(ns, 'addr', 'add', '203.0.113.10/25', 'dev', 'wtaa0');
    await ipn(ns, 'addr', 'add', '198.51.100.10/24', 'dev', 'wtbb0');
    for (const dev of ['wtaa0', 'wtaa1', 'wtbb0', 'wtbb1']) await ipn(ns, 'link', 'set', dev, 'up');
    await ipn(ns, 'route', 'add', 'default', 'via', '203.0.113.1', 'dev', 'wtaa0');
    await ipn(ns, 'route', 'add', '203.0.113.128/25', 'via', '198.51.100.1', 'dev', 'wtbb0');
    driver = await Driver.start(janitor(), ns);
  }, HOOK_TIMEOUT);

  afterAll(async () => {
    await driver?.close();
  });

  it('no flag: the default route interface', async () => {
    expect(await select({})).toMatchObject({ iface: 'wtaa0', address: '203.0.113.10', mtu: 1500, by: 'the default route' });
  });

  it('--iface-regex by name and by address', async () => {
    expect(await select({ ifaceRegexes: ['^wtbb0$'] })).toMatchObject({ iface: 'wtbb0', address: '198.51.100.10', mtu: 9000 });
    // As flanneld: a name match takes the first such interface in index order (the
    // veth peer wtbb1, made first), and that one has no address: the option fails.
    await expect(select({ ifaceRegexes: ['^wtbb'] })).rejects.toThrow(/--iface-regex \^wtbb: interface wtbb1 has no usable IPv4 address/);
    expect(await select({ ifaceRegexes: ['^198\\.51\\.'] })).toMatchObject({ iface: 'wtbb0', address: '198.51.100.10' });
    expect(await select({ ifaceRegexes: ['^nomatch$', '^wtaa0$'] })).toMatchObject({ iface: 'wtaa0', by: '--iface-regex ^wtaa0$' });
  });

  it('--iface-can-reach picks the interface the kernel routes to that address (ip route get)', async () => {
    expect(await select({ ifaceCanReach: '203.0.113.209' })).toMatchObject({ iface: 'wtbb0', address: '198.51.100.10', mtu: 9000 });
    expect(await select({ ifaceCanReach: '8.8.8.8' })).toMatchObject({ iface: 'wtaa0', address: '203.0.113.10' });
    const kernel = JSON.parse((await nsRun(ns, 'ip', ['-j', 'route', 'get', '203.0.113.209'])).stdout) as Array<{ dev: string; prefsrc: string }>;
    expect(await select({ ifaceCanReach: '203.0.113.209' })).toMatchObject({ iface: kernel[0]!.dev, address: kernel[0]!.prefsrc });
  });

  it('precedence and errors, in the namespace', async () => {
    expect((await select({ ifaces: ['wtaa0'], ifaceRegexes: ['wtbb'], ifaceCanReach: '203.0.113.209' })).iface).toBe('wtaa0');
    expect((await select({ ifaces: ['nosuch', '198.51.100.10'] })).iface).toBe('wtbb0');
    expect((await select({ ifaces: ['nosuch'], ifaceRegexes: ['nomatch'], ifaceCanReach: '203.0.113.209' })).by).toBe('--iface-can-reach 203.0.113.209');
    await expect(select({ ifaces: ['wtaa1'] })).rejects.toThrow(/--iface wtaa1: interface wtaa1 has no usable IPv4 address/);
    await expect(select({ ifaces: ['wtzz0'] })).rejects.toThrow(/--iface wtzz0: no such interface \(have: lo, .*wtaa0.*wtbb0/);
    await expect(select({ publicIp: '203.0.113.50' })).rejects.toThrow(/--public-ip 203\.0\.113\.50 is on no interface/);
    expect(await select({ ifaces: ['wtbb0'], publicIp: '203.0.113.50' })).toMatchObject({ iface: 'wtbb0', address: '198.51.100.10', publicIp: '203.0.113.50' });
  });
});
