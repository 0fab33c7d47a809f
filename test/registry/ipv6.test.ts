// Properties of the registry's IPv6 arithmetic (src/registry/ipv6.ts) and of what
// it feeds: flannel's subnet keys stay a bijection with the subnets, and IPv6
// allocation never hands out a subnet that overlaps a held one or leaves
// IPv6SubnetMin..IPv6SubnetMax.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSubnetKey, subnetKey } from '../../src/registry/codec.js';
import { parseNetworkConfig } from '../../src/registry/config.js';
import { canonicalCidr6, formatCidr6, formatIPv6, isUnicastIPv6, maskOf6, overlaps6, parseCidr6, parseIPv6 } from '../../src/registry/ipv6.js';
import { pickFreeIpv6Subnet, pickFreeSubnets } from '../../src/registry/registry.js';
import type { Lease } from '../../src/registry/types.js';

const u128 = fc.bigInt({ min: 0n, max: (1n << 128n) - 1n });
const P = '/coreos.com/network';

describe('IPv6 text and arithmetic', () => {
  it('parse ∘ format is the identity on 128-bit numbers', () => {
    fc.assert(fc.property(u128, (v) => parseIPv6(formatIPv6(v)) === v));
  });
  it('a canonical CIDR has no host bits and its text is the one formatCidr6 writes', () => {
    fc.assert(
      fc.property(u128, fc.integer({ min: 0, max: 128 }), (v, len) => {
        const net = v & maskOf6(len);
        const c = canonicalCidr6(formatCidr6({ ip: net, len }));
        const withHostBits = canonicalCidr6(`${formatIPv6(v)}/${len}`);
        return c !== null && c.ip === net && c.len === len && (v === net ? withHostBits !== null : withHostBits === null);
      }),
    );
  });
  it('overlap is symmetric and means one contains the other', () => {
    fc.assert(
      fc.property(u128, fc.integer({ min: 0, max: 128 }), u128, fc.integer({ min: 0, max: 128 }), (a, la, b, lb) => {
        const x = { ip: a & maskOf6(la), len: la };
        const y = { ip: b & maskOf6(lb), len: lb };
        const short = la <= lb ? x : y;
        const long = la <= lb ? y : x;
        return overlaps6(x, y) === overlaps6(y, x) && overlaps6(x, y) === ((long.ip & maskOf6(short.len)) === short.ip);
      }),
    );
  });
  it('unicast: 2000::/3 and fc00::/7 only', () => {
    for (const ok of ['2001:db8::1', 'fd00::1', 'fc00::', '3fff:ffff::1']) expect(isUnicastIPv6(ok)).toBe(true);
    for (const bad of ['::', '::1', 'fe80::1', 'ff02::1', '4000::1', '1fff::1', '::ffff:1.2.3.4', '1.2.3.4', '', 'fd00::1%eth0']) expect(isUnicastIPv6(bad)).toBe(false);
  });
  it('parseCidr6 refuses IPv4 text, bad lengths and garbage', () => {
    for (const bad of ['10.0.0.0/8', 'fd00::/129', 'fd00::/-1', 'fd00::/064', 'fd00::', 'fd00::/', 'x/64']) expect(parseCidr6(bad)).toBeNull();
  });
});

describe('keys and allocation', () => {
  it('subnetKey and parseSubnetKey are inverse for dual-stack and IPv6-only leases', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), u128, fc.integer({ min: 1, max: 128 }), fc.boolean(), (b, v, len, v6only) => {
        const ipv6Subnet = formatCidr6({ ip: v & maskOf6(len), len });
        const subnet = v6only ? '' : `10.244.${b}.0/24`;
        const key = subnetKey(P, subnet, ipv6Subnet);
        expect(parseSubnetKey(P, key)).toEqual({ subnet, ipv6Subnet });
      }),
    );
  });

  it('never picks an IPv6 subnet that overlaps a held one or leaves IPv6SubnetMin..Max', () => {
    const config = parseNetworkConfig(JSON.stringify({ Network: '10.244.0.0/16', EnableIPv6: true, IPv6Network: 'fd00::/120', IPv6SubnetLen: 124, Backend: { Type: 'vxlan' } }));
    const min = parseIPv6(config.IPv6SubnetMin!)!;
    const max = parseIPv6(config.IPv6SubnetMax!)!;
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 118, max: 128 })), { maxLength: 20 }), (held) => {
        const leases: Lease[] = held.map(([low, len]) => ({
          subnet: '10.244.1.0/24', ipv6Subnet: formatCidr6({ ip: (parseIPv6('fd00::')! + BigInt(low)) & maskOf6(len), len }), attrs: { PublicIP: '198.51.100.1' }, expiration: null, revision: 1,
        }));
        let picked: string;
        try {
          picked = pickFreeIpv6Subnet(config, leases);
        } catch (err) {
          // Exhausted: then every candidate is covered by a held lease of /124 or longer.
          expect((err as { code?: string }).code).toBe('ERR_WEFT_SUBNETS_EXHAUSTED');
          return;
        }
        const c = parseCidr6(picked)!;
        expect(c.len).toBe(124);
        expect(c.ip >= min && c.ip <= max).toBe(true);
        for (const l of leases) {
          const h = parseCidr6(l.ipv6Subnet!)!;
          if (h.len >= 124) expect(overlaps6(c, h)).toBe(false);
        }
      }),
    );
  });

  it('picks both families or throws: never a half lease', () => {
    const config = parseNetworkConfig(JSON.stringify({ Network: '10.0.0.0/28', EnableIPv6: true, IPv6Network: 'fd00::/56', Backend: { Type: 'vxlan' } }));
    const full: Lease[] = ['10.0.0.4/30', '10.0.0.8/30', '10.0.0.12/30'].map((s, i) => ({ subnet: s, ipv6Subnet: `fd00:0:0:${i + 1}::/64`, attrs: { PublicIP: '198.51.100.1' }, expiration: null, revision: 1 }));
    expect(() => pickFreeSubnets(config, full)).toThrow(/no free \/30 subnet/);
    const names = pickFreeSubnets(config, full.slice(1));
    expect(names.subnet).toBe('10.0.0.4/30');
    expect(names.ipv6Subnet).toMatch(/^fd00:0:0:[0-9a-f]+::\/64$/);
    expect(['fd00:0:0:2::/64', 'fd00:0:0:3::/64']).not.toContain(names.ipv6Subnet);
  });
});

// A dual-stack key names two subnets, so compare-and-create guards only the pair: two
// nodes may create "A&X" and "B&X" at once. An in-memory LeaseStore plays the other
// node: right after our create, an older lease with our IPv6 subnet appears.
describe('dual-stack race', () => {
  it('the younger lease gives way and picks again; nothing of it stays', async () => {
    const { acquireLease } = await import('../../src/registry/registry.js');
    const { subnetKey } = await import('../../src/registry/codec.js');
    const config = '{"Network": "10.244.0.0/16", "EnableIPv6": true, "IPv6Network": "fd00::/62", "Backend": {"Type": "vxlan"}}'; // three /64s
    const rows = new Map<string, Lease>();
    let revision = 10;
    let raced = false;
    const removed: string[] = [];
    const store = {
      prefix: '/coreos.com/network',
      where: 'memory',
      readConfig: async () => config,
      list: async () => ({ leases: [...rows.values()], revision }),
      create: async (names: { subnet: string; ipv6Subnet?: string }, attrs: Lease['attrs']) => {
        const key = subnetKey('/coreos.com/network', names.subnet, names.ipv6Subnet);
        if (rows.has(key)) return null;
        const l: Lease = { ...names, attrs, expiration: null, revision: ++revision, created: revision };
        rows.set(key, l);
        if (!raced) {
          raced = true; // the other node's create of another IPv4 subnet with the same IPv6 one, committed first
          const other: Lease = { subnet: '10.244.200.0/24', ipv6Subnet: names.ipv6Subnet!, attrs: { PublicIP: '198.51.100.9', PublicIPv6: 'fd00:198:51:100::9' }, expiration: null, revision: revision - 1, created: revision - 1 };
          rows.set(subnetKey('/coreos.com/network', other.subnet, other.ipv6Subnet), other);
        }
        return l;
      },
      replace: async () => null,
      remove: async (l: Lease) => {
        removed.push(l.ipv6Subnet!);
        return rows.delete(subnetKey('/coreos.com/network', l.subnet, l.ipv6Subnet));
      },
    };
    const mine = await acquireLease(store, { PublicIP: '198.51.100.1', PublicIPv6: 'fd00:198:51:100::1', BackendType: 'vxlan' }, {});
    expect(removed).toHaveLength(1); // our first, younger lease
    const theirs = [...rows.values()].find((l) => l.attrs.PublicIP === '198.51.100.9')!;
    expect(mine.ipv6Subnet).not.toBe(theirs.ipv6Subnet);
    expect(removed[0]).toBe(theirs.ipv6Subnet);
    expect(rows.size).toBe(2);
  });
});
