import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseNetworkConfig } from '../../src/registry/config.js';
import { diffLeases, pickFreeSubnet } from '../../src/registry/registry.js';
import type { Lease } from '../../src/registry/types.js';

const lease = (subnet: string, revision = 1): Lease => ({ subnet, attrs: { PublicIP: '10.0.0.1' }, expiration: null, revision });
const ip = (s: string): number => s.split('.').reduce((a, x) => a * 256 + Number(x), 0);

describe('pickFreeSubnet (flannel allocateSubnet)', () => {
  const config = parseNetworkConfig('{"Network": "10.5.0.0/24", "SubnetLen": 28}'); // 10.5.0.16 .. 10.5.0.240

  it('picks an aligned subnet in SubnetMin..SubnetMax that overlaps no lease of SubnetLen or longer, whatever is leased', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 63 }), { maxLength: 40 }), fc.integer({ min: 28, max: 30 }), (slots, len) => {
        // leases of assorted lengths, some overlapping the range edges
        const leases = slots.map((s) => lease(`10.5.0.${(s * 4) & ~((1 << (32 - len)) - 1) & 255}/${len}`));
        let picked: string;
        try {
          picked = pickFreeSubnet(config, leases);
        } catch (err) {
          expect((err as { code: string }).code).toBe('ERR_WEFT_SUBNETS_EXHAUSTED');
          return;
        }
        const [addr, plen] = picked.split('/') as [string, string];
        expect(Number(plen)).toBe(28);
        expect(ip(addr) % 16).toBe(0);
        expect(ip(addr)).toBeGreaterThanOrEqual(ip('10.5.0.16'));
        expect(ip(addr)).toBeLessThanOrEqual(ip('10.5.0.240'));
        for (const l of leases) {
          const [a, n] = l.subnet.split('/') as [string, string];
          const start = ip(a), end = start + 2 ** (32 - Number(n)) - 1;
          expect(ip(addr) > end || ip(addr) + 15 < start).toBe(true);
        }
      }),
    );
  });

  it('is not blocked by leases shorter than SubnetLen (0.0.0.0/0, all of Network), which no peer accepts', () => {
    const hostile = [lease('0.0.0.0/0'), lease('10.5.0.0/24'), lease('10.5.0.0/26')];
    const picked = pickFreeSubnet(config, [...hostile, ...Array.from({ length: 14 }, (_, i) => lease(`10.5.0.${(i + 2) * 16}/28`))]);
    expect(picked).toBe('10.5.0.16/28');
  });

  it('says exhausted when every subnet is leased', () => {
    const all = Array.from({ length: 15 }, (_, i) => lease(`10.5.0.${(i + 1) * 16}/28`));
    expect(() => pickFreeSubnet(config, all)).toThrow(/all 15 are leased/);
    expect(pickFreeSubnet(config, all.slice(1))).toBe('10.5.0.16/28');
  });
});

describe('diffLeases', () => {
  it('turns any known state into any fresh listing', () => {
    const subnets = fc.uniqueArray(fc.integer({ min: 0, max: 20 }), { maxLength: 10 });
    fc.assert(
      fc.property(subnets, subnets, fc.integer({ min: 1, max: 3 }), (before, after, rev) => {
        const known = new Map(before.map((n) => [`10.0.${n}.0/24`, lease(`10.0.${n}.0/24`)]));
        const consumer = new Map(known);
        const fresh = after.map((n) => lease(`10.0.${n}.0/24`, rev));
        for (const e of diffLeases(known, fresh)) {
          if (e.type === 'added') consumer.set(e.lease.subnet, e.lease);
          else consumer.delete(e.lease.subnet);
        }
        const want = new Map(fresh.map((l) => [l.subnet, l]));
        expect(consumer).toEqual(want);
        expect(known).toEqual(want);
      }),
    );
  });
});
