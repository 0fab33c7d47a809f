// The peer table's IPv6 side (native-free/table/peers.ts): a peer's IPv6
// underlay and the VTEP MAC of its v6 device, the families bits, the
// reverse index by IPv6 underlay, and what update/remove do to them.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { formatIPv6, formatMac, parseIPv4, parseIPv6, parseMac } from '../../../native-free/addr.js';
import { InvalidArgumentError } from '../../../native-free/errors.js';
import { FAMILY_BOTH, FAMILY_V4, FAMILY_V6 } from '../../../native-free/family.js';
import { PeerTable } from '../../../native-free/table/peers.js';

const ip = parseIPv4;
const ip6 = parseIPv6;
const mac = parseMac;

function u6(t: PeerTable, id: number): string {
  const b = new Uint8Array(16);
  t.writeUnderlay6(id, b, 0);
  return formatIPv6(b);
}
function mac6(t: PeerTable, id: number): string {
  const b = new Uint8Array(6);
  t.writeMac6(id, b, 0);
  return formatMac(b);
}

describe('PeerTable IPv6 underlay', () => {
  it('a dual-stack peer: both underlays, both MACs, both reverse lookups', () => {
    const t = PeerTable.create({ capacity: 8 });
    const a = t.add(ip('198.51.100.1'), mac('02:00:00:00:01:01'), 0, { underlay: '2001:db8:100::1', mac: '02:00:00:06:01:01' });
    const b = t.add(ip('198.51.100.2'), '02:00:00:00:02:02', 0, { underlay: ip6('2001:db8:100::2') });
    expect(t.familiesOf(a)).toBe(FAMILY_BOTH);
    expect(u6(t, a)).toBe('2001:db8:100::1');
    expect(mac6(t, a)).toBe('02:00:00:06:01:01');
    expect(mac6(t, b)).toBe('02:00:00:00:02:02'); // no v6 MAC given: the v4 one
    const frame = new Uint8Array(40);
    frame.set(ip6('2001:db8:100::2'), 24);
    expect(t.findByUnderlay6(frame, 24)).toBe(b);
    expect(t.findByUnderlay6(ip6('2001:db8:100::1'), 0)).toBe(a);
    expect(t.findByUnderlay6(ip6('2001:db8:100::3'), 0)).toBe(-1);
    expect(t.findByUnderlay(ip('198.51.100.2'))).toBe(b);
    expect(t.get(a)).toEqual({
      underlay: ip('198.51.100.1'),
      mac: mac('02:00:00:00:01:01'),
      flags: 0,
      underlay6: ip6('2001:db8:100::1'),
      mac6: mac('02:00:00:06:01:01'),
    });
    const o = t.underlay6Offset(a);
    expect(t.v6.subarray(o, o + 16)).toEqual(ip6('2001:db8:100::1'));
  });

  it('an IPv4-only peer has FAMILY_V4 and is never found by IPv6', () => {
    const t = PeerTable.create({ capacity: 4 });
    const a = t.add(ip('198.51.100.1'), '02:00:00:00:01:01');
    expect(t.familiesOf(a)).toBe(FAMILY_V4);
    expect(t.findByUnderlay6(new Uint8Array(16), 0)).toBe(-1);
    expect(t.get(a)!.underlay6).toBeNull();
  });

  it('an IPv6-only peer (underlay 0): FAMILY_V6, not in the IPv4 index; 0 is refused without v6', () => {
    const t = PeerTable.create({ capacity: 4 });
    const a = t.add(0, '02:00:00:00:01:01', 0, { underlay: '2001:db8::a' });
    const b = t.add(0, '02:00:00:00:01:02', 0, { underlay: '2001:db8::b' });
    expect(t.familiesOf(a)).toBe(FAMILY_V6);
    expect(t.underlayOf(a)).toBe(0);
    expect(t.findByUnderlay(0)).toBe(-1);
    expect(t.findByUnderlay6(ip6('2001:db8::b'), 0)).toBe(b);
    expect(() => t.add(0, '02:00:00:00:01:03')).toThrow(InvalidArgumentError);
    expect(t.remove(a)).toBe(true);
    expect(t.findByUnderlay6(ip6('2001:db8::a'), 0)).toBe(-1);
    expect(t.familiesOf(a)).toBe(0);
  });

  it.each([
    ['::', /unicast/],
    ['ff02::1', /unicast/],
    ['not-an-address', /IPv6/],
  ])('refuses the IPv6 underlay %s', (addr, why) => {
    const t = PeerTable.create({ capacity: 4 });
    expect(() => t.add(ip('198.51.100.1'), '02:00:00:00:01:01', 0, { underlay: addr })).toThrow(why);
    expect(t.size).toBe(0);
  });

  it('refuses malformed v6 fields and a v6 underlay another peer has', () => {
    const t = PeerTable.create({ capacity: 4 });
    expect(() => t.add(ip('198.51.100.1'), '02:00:00:00:01:01', 0, { underlay: new Uint8Array(4) })).toThrow(InvalidArgumentError);
    expect(() => t.add(ip('198.51.100.1'), '02:00:00:00:01:01', 0, { underlay: '2001:db8::1', mac: new Uint8Array(5) })).toThrow(InvalidArgumentError);
    t.add(ip('198.51.100.1'), '02:00:00:00:01:01', 0, { underlay: '2001:db8::1' });
    expect(() => t.add(ip('198.51.100.2'), '02:00:00:00:01:02', 0, { underlay: '2001:db8::1' })).toThrow(/already belongs to peer 0/);
    expect(t.size).toBe(1);
  });

  it('update: move the v6 underlay, change only the v6 MAC, take v6 away, give it back', () => {
    const t = PeerTable.create({ capacity: 4 });
    const a = t.add(ip('198.51.100.1'), '02:00:00:00:01:01', 0, { underlay: '2001:db8::1', mac: '02:00:00:06:00:01' });
    const v = t.version;
    t.update(a, { v6: { underlay: '2001:db8::9', mac: '02:00:00:06:00:01' } });
    expect(t.findByUnderlay6(ip6('2001:db8::1'), 0)).toBe(-1);
    expect(t.findByUnderlay6(ip6('2001:db8::9'), 0)).toBe(a);
    t.update(a, { v6: { underlay: '2001:db8::9', mac: '02:00:00:06:00:02' } });
    expect(mac6(t, a)).toBe('02:00:00:06:00:02');
    expect(t.findByUnderlay6(ip6('2001:db8::9'), 0)).toBe(a);
    t.update(a, { flags: 2 }); // v6 untouched
    expect(u6(t, a)).toBe('2001:db8::9');
    t.update(a, { v6: null });
    expect(t.familiesOf(a)).toBe(FAMILY_V4);
    expect(t.findByUnderlay6(ip6('2001:db8::9'), 0)).toBe(-1);
    t.update(a, { v6: { underlay: '2001:db8::5' } });
    expect(t.familiesOf(a)).toBe(FAMILY_BOTH);
    expect(mac6(t, a)).toBe('02:00:00:00:01:01');
    // IPv4 away (an IPv6-only peer now), then the v6 away is refused: a peer needs one underlay.
    t.update(a, { underlay: 0 });
    expect(t.familiesOf(a)).toBe(FAMILY_V6);
    expect(t.findByUnderlay(ip('198.51.100.1'))).toBe(-1);
    expect(() => t.update(a, { v6: null })).toThrow(InvalidArgumentError);
    expect(t.familiesOf(a)).toBe(FAMILY_V6);
    expect(t.version).toBe(v + 6);
  });

  it('a reader attached to the state sees the IPv6 side and cannot change it', () => {
    const t = PeerTable.create({ capacity: 4, shared: true });
    const a = t.add(ip('198.51.100.1'), '02:00:00:00:01:01', 0, { underlay: '2001:db8::1', mac: '02:00:00:06:00:01' });
    const r = PeerTable.attach(structuredClone(t.state()));
    expect(r.findByUnderlay6(ip6('2001:db8::1'), 0)).toBe(a);
    expect(mac6(r, a)).toBe('02:00:00:06:00:01');
    t.update(a, { v6: { underlay: '2001:db8::2' } });
    expect(r.findByUnderlay6(ip6('2001:db8::2'), 0)).toBe(a);
    expect(u6(r, a)).toBe('2001:db8::2');
    expect(() => r.update(a, { v6: null })).toThrow(/read-only/);
    const bad = { ...t.state(), v6: new ArrayBuffer(3) };
    expect(() => PeerTable.attach(bad)).toThrow(InvalidArgumentError);
  });
});

// ---- property: the IPv6 index against a Map-based reference ----

const POOL = 10;
const v6OfKey = (k: number) => {
  const a = ip6('2001:db8:100::');
  a[14] = k >> 8;
  a[15] = k + 1;
  return a;
};

type Op = { kind: 'add'; u6: number | null; m: number } | { kind: 'set6'; n: number; u6: number | null } | { kind: 'remove'; n: number };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('add' as const), u6: fc.option(fc.nat(POOL - 1)), m: fc.nat(200) }),
  fc.record({ kind: fc.constant('set6' as const), n: fc.nat(), u6: fc.option(fc.nat(POOL - 1)) }),
  fc.record({ kind: fc.constant('remove' as const), n: fc.nat() }),
);

describe('PeerTable IPv6 index matches a reference (property)', () => {
  it('random add / set-v6 / remove sequences on a small table (collisions, tombstones, rebuilds)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.array(opArb, { maxLength: 80 }), (capacity, ops) => {
        const t = PeerTable.create({ capacity });
        const ref = new Map<number, number | null>(); // id → v6 key
        let serial = 0;
        for (const op of ops) {
          const owner = (k: number) => [...ref.entries()].find(([, v]) => v === k)?.[0];
          if (op.kind === 'add') {
            serial++;
            const m = Uint8Array.of(2, 0, 0, serial >> 8, serial & 255, op.m);
            const run = () => t.add((0x0a000000 + serial) >>> 0, m, 0, op.u6 === null ? null : { underlay: v6OfKey(op.u6) });
            if (op.u6 !== null && owner(op.u6) !== undefined) expect(run).toThrow(InvalidArgumentError);
            else if (ref.size === capacity) expect(run).toThrow();
            else ref.set(run(), op.u6);
          } else {
            const ids = [...ref.keys()];
            if (ids.length === 0) continue;
            const id = ids[op.n % ids.length]!;
            if (op.kind === 'remove') {
              t.remove(id);
              ref.delete(id);
            } else {
              const o = op.u6 === null ? undefined : owner(op.u6);
              const run = () => t.update(id, { v6: op.u6 === null ? null : { underlay: v6OfKey(op.u6) } });
              if (o !== undefined && o !== id) expect(run).toThrow(InvalidArgumentError);
              else {
                run();
                ref.set(id, op.u6);
              }
            }
          }
          for (let k = 0; k < POOL; k++) expect(t.findByUnderlay6(v6OfKey(k), 0)).toBe(owner(k) ?? -1);
          for (const [id, k] of ref) {
            expect(t.familiesOf(id)).toBe(FAMILY_V4 | (k === null ? 0 : FAMILY_V6));
            if (k !== null) expect(u6(t, id)).toBe(formatIPv6(v6OfKey(k)));
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});
