import { existsSync, statSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { formatMac, parseIPv4, parseMac } from '../../../native-free/addr.js';
import { CapacityError, InvalidArgumentError, WeftError } from '../../../native-free/errors.js';
import { PEER_IN_USE, PeerTable } from '../../../native-free/table/peers.js';
import { EMPTY, ProbeIndex, TOMB } from '../../../native-free/table/probe.js';

const ip = parseIPv4;
const mac = parseMac;

function macOf(t: PeerTable, id: number): string {
  const b = new Uint8Array(6);
  t.writeMac(id, b, 0);
  return formatMac(b);
}

describe('PeerTable basics', () => {
  it('adds peers and reads them on the hot path', () => {
    const t = PeerTable.create({ capacity: 8 });
    const a = t.add(ip('198.51.100.1'), mac('02:00:00:00:01:01'));
    const b = t.add(ip('198.51.100.2'), '02:00:00:00:02:02', 4);
    expect([a, b]).toEqual([0, 1]);
    expect(t.underlayOf(b)).toBe(ip('198.51.100.2'));
    expect(t.underlay[a]).toBe(ip('198.51.100.1'));
    const frame = new Uint8Array(20);
    t.writeMac(b, frame, 3);
    expect(formatMac(frame, 3)).toBe('02:00:00:00:02:02');
    expect(formatMac(t.mac, t.macOffset(a))).toBe('02:00:00:00:01:01');
    expect(t.findByUnderlay(ip('198.51.100.2'))).toBe(b);
    expect(t.findByUnderlay(ip('198.51.100.3'))).toBe(-1);
    expect(t.findByMac(Uint8Array.of(9, 2, 0, 0, 0, 1, 1), 1)).toBe(a);
    expect(t.findByMac(mac('02:00:00:00:01:02'), 0)).toBe(-1);
    expect(t.has(a)).toBe(true);
    expect(t.has(2)).toBe(false);
    expect(t.flags[b]).toBe(4 | PEER_IN_USE);
    expect(t.get(b)).toEqual({ underlay: ip('198.51.100.2'), mac: mac('02:00:00:00:02:02'), flags: 4, underlay6: null, mac6: null });
    expect(t.size).toBe(2);
    expect([...t.ids()]).toEqual([0, 1]);
  });

  it('takes underlay addresses as signed int32 too', () => {
    const t = PeerTable.create({ capacity: 4 });
    const id = t.add(ip('198.51.100.1'), '02:00:00:00:01:01');
    expect(t.findByUnderlay(ip('198.51.100.1') | 0)).toBe(id);
  });

  it('update moves the reverse lookups', () => {
    const t = PeerTable.create({ capacity: 8 });
    const id = t.add(ip('10.0.0.1'), '02:00:00:00:00:01');
    const v = t.version;
    t.update(id, { underlay: ip('10.0.0.2') });
    expect(t.findByUnderlay(ip('10.0.0.1'))).toBe(-1);
    expect(t.findByUnderlay(ip('10.0.0.2'))).toBe(id);
    t.update(id, { mac: '02:00:00:00:00:02' });
    expect(t.findByMac(mac('02:00:00:00:00:01'), 0)).toBe(-1);
    expect(t.findByMac(mac('02:00:00:00:00:02'), 0)).toBe(id);
    expect(macOf(t, id)).toBe('02:00:00:00:00:02');
    t.update(id, { flags: 6 });
    expect(t.get(id)).toEqual({ underlay: ip('10.0.0.2'), mac: mac('02:00:00:00:00:02'), flags: 6, underlay6: null, mac6: null });
    t.update(id, { underlay: ip('10.0.0.2'), mac: '02:00:00:00:00:02' }); // no-op change is fine
    expect(t.version).toBe(v + 4);
  });

  it('remove frees the id and both keys', () => {
    const t = PeerTable.create({ capacity: 8 });
    const id = t.add(ip('10.0.0.1'), '02:00:00:00:00:01');
    const v = t.version;
    expect(t.remove(id)).toBe(true);
    expect(t.remove(id)).toBe(false);
    expect(t.findByUnderlay(ip('10.0.0.1'))).toBe(-1);
    expect(t.findByMac(mac('02:00:00:00:00:01'), 0)).toBe(-1);
    expect(t.has(id)).toBe(false);
    expect(t.underlayOf(id)).toBe(0);
    expect(t.get(id)).toBeUndefined();
    expect(t.size).toBe(0);
    expect(t.version).toBe(v + 1);
    // The keys are free again.
    const again = t.add(ip('10.0.0.1'), '02:00:00:00:00:01');
    expect(t.findByUnderlay(ip('10.0.0.1'))).toBe(again);
  });

  it('reuses freed ids last (FIFO)', () => {
    const t = PeerTable.create({ capacity: 3 });
    const ids = [1, 2, 3].map((i) => t.add(i, Uint8Array.of(2, 0, 0, 0, 0, i)));
    expect(ids).toEqual([0, 1, 2]);
    t.remove(1);
    t.remove(0);
    expect(t.add(10, Uint8Array.of(2, 0, 0, 0, 0, 10))).toBe(1);
    expect(t.add(11, Uint8Array.of(2, 0, 0, 0, 0, 11))).toBe(0);
  });

  it('throws CapacityError when full, then accepts again after a remove', () => {
    const t = PeerTable.create({ capacity: 2 });
    t.add(1, '02:00:00:00:00:01');
    t.add(2, '02:00:00:00:00:02');
    const v = t.version;
    expect(() => t.add(3, '02:00:00:00:00:03')).toThrow(CapacityError);
    expect(t.version).toBe(v);
    expect(t.findByUnderlay(3)).toBe(-1);
    t.remove(0);
    expect(t.add(3, '02:00:00:00:00:03')).toBe(0);
  });
});

describe('PeerTable bad input', () => {
  const t = PeerTable.create({ capacity: 4 });
  t.add(ip('10.0.0.1'), '02:00:00:00:00:01');
  const other = t.add(ip('10.0.0.2'), '02:00:00:00:00:02');
  it.each([
    ['duplicate underlay', () => t.add(ip('10.0.0.1'), '02:00:00:00:00:09'), 'underlay 10.0.0.1 already belongs to peer 0'],
    ['duplicate MAC', () => t.add(ip('10.0.0.9'), '02:00:00:00:00:01'), 'MAC 02:00:00:00:00:01 already belongs to peer 0'],
    ['update to another peer\'s underlay', () => t.update(other, { underlay: ip('10.0.0.1') }), 'already belongs to peer 0'],
    ['update to another peer\'s MAC', () => t.update(other, { mac: '02:00:00:00:00:01' }), 'already belongs to peer 0'],
    ['underlay 0', () => t.add(0, '02:00:00:00:00:09'), 'underlay address 0'],
    ['underlay 2^32', () => t.add(2 ** 32, '02:00:00:00:00:09'), 'underlay address 4294967296'],
    ['underlay -1', () => t.add(-1, '02:00:00:00:00:09'), 'underlay address -1'],
    ['underlay 1.5', () => t.add(1.5, '02:00:00:00:00:09'), 'underlay address 1.5'],
    ['MAC of 5 bytes', () => t.add(9, new Uint8Array(5)), '6 bytes'],
    ['MAC text', () => t.add(9, '02:00:00:00:00'), '"02:00:00:00:00"'],
    ['flags with the in-use bit', () => t.add(9, '02:00:00:00:00:09', PEER_IN_USE), 'flags 1'],
    ['flags 256', () => t.add(9, '02:00:00:00:00:09', 256), 'flags 256'],
    ['update of an unknown id', () => t.update(3, { underlay: 9 }), 'no peer with id 3'],
    ['update of id -1', () => t.update(-1, { underlay: 9 }), 'no peer with id -1'],
    ['capacity 0', () => PeerTable.create({ capacity: 0 }), 'capacity 0'],
  ])('%s → InvalidArgumentError', (_name, fn, message) => {
    const v = t.version;
    expect(fn).toThrow(InvalidArgumentError);
    expect(fn).toThrow(message);
    expect(t.version).toBe(v);
    expect(t.size).toBe(2);
  });

  it('remove of an id out of range is false', () => {
    expect(t.remove(-1)).toBe(false);
    expect(t.remove(4)).toBe(false);
    expect(t.remove(0.5)).toBe(false);
  });
});

// Fibonacci hashing: the slot of an underlay in a table of 2^bits slots (as peers.ts does).
function slotOf(addr: number, bits: number): number {
  return Math.imul(addr, 0x9e3779b1) >>> (32 - bits);
}

/** `n` addresses that all hash to the same slot of a 2^bits table. */
function colliding(n: number, bits: number): number[] {
  const out: number[] = [];
  const want = slotOf(0x0a000001, bits);
  for (let a = 0x0a000001; out.length < n; a++) if (slotOf(a, bits) === want) out.push(a);
  return out;
}

describe('PeerTable hash collisions and removal', () => {
  it('finds every key of one collision chain after removals in the middle', () => {
    const t = PeerTable.create({ capacity: 4 }); // 8 hash slots
    const addrs = colliding(4, 3);
    const ids = addrs.map((a, i) => t.add(a, Uint8Array.of(2, 0, 0, 0, 0, i)));
    t.remove(ids[1]!); // a tombstone in the middle of the chain
    expect(t.findByUnderlay(addrs[1]!)).toBe(-1);
    expect(t.findByUnderlay(addrs[2]!)).toBe(ids[2]);
    expect(t.findByUnderlay(addrs[3]!)).toBe(ids[3]);
    t.remove(ids[0]!);
    expect(t.findByUnderlay(addrs[3]!)).toBe(ids[3]);
    const back = t.add(addrs[1]!, Uint8Array.of(2, 0, 0, 0, 0, 1)); // reuses a tombstone
    for (const [i, a] of addrs.entries()) expect(t.findByUnderlay(a)).toBe(i === 1 ? back : i === 0 ? -1 : ids[i]);
  });

  it('survives long add/remove churn on colliding keys (tombstones, rebuilds)', () => {
    const t = PeerTable.create({ capacity: 4 });
    const addrs = colliding(12, 3);
    const live = new Map<number, number>();
    for (let round = 0; round < 500; round++) {
      const a = addrs[(round * 7) % addrs.length]!;
      const id = live.get(a);
      if (id !== undefined) {
        t.remove(id);
        live.delete(a);
      } else if (live.size < 4) {
        live.set(a, t.add(a, Uint8Array.of(2, 0, 0, 0, round >> 8, round & 255)));
      }
      for (const x of addrs) expect(t.findByUnderlay(x)).toBe(live.get(x) ?? -1);
    }
  });

  it('ProbeIndex: tombstones at the end of a chain become empty, full tables rebuild into the other half', () => {
    const size = 8;
    const tab = new Int32Array(2 * size).fill(EMPTY);
    const meta = new Int32Array(1);
    const home = new Map<number, number>(); // id → slot its key hashes to
    const idx = new ProbeIndex(tab, meta, 0, size, (id) => home.get(id)!);
    const put = (id: number, slot: number) => {
      home.set(id, slot);
      idx.insert(id, slot);
    };
    put(0, 2);
    put(1, 2);
    put(2, 2); // chain 2,3,4
    expect([...tab.subarray(0, size)]).toEqual([EMPTY, EMPTY, 0, 1, 2, EMPTY, EMPTY, EMPTY]);
    idx.remove(1, 2);
    expect(tab[3]).toBe(TOMB);
    expect(idx.tombstones).toBe(1);
    idx.remove(2, 2); // last of the chain: it and the tombstone before it clear
    expect([...tab.subarray(0, size)]).toEqual([EMPTY, EMPTY, 0, EMPTY, EMPTY, EMPTY, EMPTY, EMPTY]);
    expect(idx.tombstones).toBe(0);
    // Leave tombstones behind until ids + tombstones pass 3/4 of the slots.
    put(1, 2);
    put(2, 2);
    put(3, 2);
    idx.remove(1, 2);
    idx.remove(2, 2);
    expect(idx.tombstones).toBe(2);
    put(4, 6);
    put(5, 6);
    expect(meta[0]).toBe(0);
    put(6, 0); // 4 live + 2 tombstones + 1 > 6: rebuild first
    expect(meta[0]).toBe(size);
    expect(idx.tombstones).toBe(0);
    const active = [...tab.subarray(size)];
    expect(active.filter((v) => v >= 0).sort()).toEqual([0, 3, 4, 5, 6]);
    expect(active).not.toContain(TOMB);
  });

  it('MAC keys collide and clear the same way', () => {
    const t = PeerTable.create({ capacity: 4 });
    const macs = Array.from({ length: 40 }, (_, i) => Uint8Array.of(2, 0, 0, 0, i >> 8, i & 255));
    const live = new Map<number, number>();
    for (let round = 0; round < 300; round++) {
      const i = (round * 13) % macs.length;
      const id = live.get(i);
      if (id !== undefined) {
        t.remove(id);
        live.delete(i);
      } else if (live.size < 4) {
        live.set(i, t.add(0x0a000000 + i, macs[i]!));
      }
      for (const [j, m] of macs.entries()) expect(t.findByMac(m, 0)).toBe(live.get(j) ?? -1);
    }
  });
});

// ---- property test against a Map-based reference ----

type PeerOp =
  | { kind: 'add'; u: number; m: number; flags: number }
  | { kind: 'update'; n: number; u: number | null; m: number | null; flags: number | null }
  | { kind: 'remove'; n: number };

const POOL = 12; // small key pools: duplicates and collisions are common
const underlayOfKey = (u: number) => (0x0a000000 + u * 8) >>> 0;
const macOfKey = (m: number) => Uint8Array.of(2, 0, 0, 0, 0, m);

const peerOpArb: fc.Arbitrary<PeerOp> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('add' as const), u: fc.nat(POOL - 1), m: fc.nat(POOL - 1), flags: fc.nat(127).map((f) => f * 2) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('update' as const),
      n: fc.nat(),
      u: fc.option(fc.nat(POOL - 1)),
      m: fc.option(fc.nat(POOL - 1)),
      flags: fc.option(fc.nat(127).map((f) => f * 2)),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('remove' as const), n: fc.nat() }) },
);

interface RefPeer {
  u: number;
  m: number;
  flags: number;
}

function applyToReference(t: PeerTable, ref: Map<number, RefPeer>, op: PeerOp, capacity: number): void {
  const owner = (pred: (p: RefPeer) => boolean) => [...ref.entries()].find(([, p]) => pred(p))?.[0];
  if (op.kind === 'add') {
    const clash = owner((p) => p.u === op.u || p.m === op.m) !== undefined;
    const run = () => t.add(underlayOfKey(op.u), macOfKey(op.m), op.flags);
    if (clash) expect(run).toThrow(InvalidArgumentError);
    else if (ref.size === capacity) expect(run).toThrow(CapacityError);
    else ref.set(run(), { u: op.u, m: op.m, flags: op.flags });
    return;
  }
  const ids = [...ref.keys()];
  if (ids.length === 0) return;
  const id = ids[op.n % ids.length]!;
  if (op.kind === 'remove') {
    expect(t.remove(id)).toBe(true);
    ref.delete(id);
    return;
  }
  const cur = ref.get(id)!;
  const next = { u: op.u ?? cur.u, m: op.m ?? cur.m, flags: op.flags ?? cur.flags };
  const clash = owner((p) => p !== cur && (p.u === next.u || p.m === next.m)) !== undefined;
  const patch = { ...(op.u !== null && { underlay: underlayOfKey(op.u) }), ...(op.m !== null && { mac: macOfKey(op.m) }), ...(op.flags !== null && { flags: op.flags }) };
  if (clash) expect(() => t.update(id, patch)).toThrow(InvalidArgumentError);
  else {
    t.update(id, patch);
    ref.set(id, next);
  }
}

function checkPeers(t: PeerTable, ref: Map<number, RefPeer>): void {
  expect(t.size).toBe(ref.size);
  expect([...t.ids()]).toEqual([...ref.keys()].sort((a, b) => a - b));
  for (let k = 0; k < POOL; k++) {
    const byU = [...ref.entries()].find(([, p]) => p.u === k)?.[0] ?? -1;
    const byM = [...ref.entries()].find(([, p]) => p.m === k)?.[0] ?? -1;
    expect(t.findByUnderlay(underlayOfKey(k))).toBe(byU);
    expect(t.findByMac(macOfKey(k), 0)).toBe(byM);
  }
  for (const [id, p] of ref) {
    expect(t.underlayOf(id)).toBe(underlayOfKey(p.u));
    expect(macOf(t, id)).toBe(formatMac(macOfKey(p.m)));
    expect(t.get(id)!.flags).toBe(p.flags);
  }
}

describe('PeerTable matches a Map-based reference (property)', () => {
  it('random add / update / remove sequences', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.array(peerOpArb, { maxLength: 60 }), (capacity, ops) => {
        const t = PeerTable.create({ capacity });
        const ref = new Map<number, RefPeer>();
        for (const op of ops) {
          applyToReference(t, ref, op, capacity);
          checkPeers(t, ref);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('PeerTable readers', () => {
  it('attach in the same thread sees the writer and cannot write', () => {
    const w = PeerTable.create({ capacity: 8, shared: true });
    const r = PeerTable.attach(structuredClone(w.state()));
    const id = w.add(ip('10.0.0.1'), '02:00:00:00:00:01');
    expect(r.findByUnderlay(ip('10.0.0.1'))).toBe(id);
    expect(macOf(r, id)).toBe('02:00:00:00:00:01');
    expect(r.version).toBe(w.version);
    expect(r.size).toBe(1);
    expect(r.writable).toBe(false);
    for (const fn of [() => r.add(9, '02:00:00:00:00:09'), () => r.update(id, { flags: 2 }), () => r.remove(id)]) {
      expect(fn).toThrow(WeftError);
      expect(fn).toThrow(/read-only/);
    }
  });

  it('attach rejects a malformed state', () => {
    const st = PeerTable.create({ capacity: 8 }).state();
    expect(() => PeerTable.attach({ ...st, capacity: 9 })).toThrow(InvalidArgumentError);
    expect(() => PeerTable.attach({ ...st, hashSize: 24 })).toThrow(InvalidArgumentError);
    expect(() => PeerTable.attach({ ...st, kind: 'weft-lpm' as 'weft-peers' })).toThrow(InvalidArgumentError);
  });

  it('holds 10,000 peers', () => {
    const t = PeerTable.create();
    for (let i = 0; i < 10_000; i++) t.add((0x64400000 + i) >>> 0, Uint8Array.of(2, 0, 0, 1, i >> 8, i & 255));
    expect(t.size).toBe(10_000);
    expect(() => t.add(1, '02:00:00:00:00:01')).toThrow(CapacityError);
    for (let i = 0; i < 10_000; i += 97) expect(t.findByUnderlay((0x64400000 + i) >>> 0)).toBe(i);
  });
});

// ---- a worker thread reading while the main thread writes (compiled dist/, see lpm.test.ts) ----

const root = new URL('../../../', import.meta.url);
const distPeers = fileURLToPath(new URL('dist/native-free/table/peers.js', root));
const sources = ['native-free/table/peers.ts', 'native-free/table/probe.ts', 'native-free/table/shared.ts'].map((p) => fileURLToPath(new URL(p, root)));
const distProblem = !existsSync(distPeers)
  ? `${distPeers} is missing`
  : sources.some((s) => statSync(s).mtimeMs > statSync(distPeers).mtimeMs)
    ? `${distPeers} is older than its sources`
    : '';
if (distProblem) console.warn(`skipping PeerTable worker tests: ${distProblem}; run \`npx tsc -p tsconfig.json\` first`);

// Spins until flag[0] is set: looks up the peer by underlay (must be the peer
// or unknown) and copies its MAC (must be one of the two MACs, never a mix).
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
import(workerData.url).then(({ PeerTable }) => {
  const t = PeerTable.attach(workerData.state);
  const flag = new Int32Array(workerData.flag);
  const [id, addrs, macs] = [workerData.id, workerData.addrs, workerData.macs];
  const out = new Uint8Array(6);
  let lookups = 0, bad = 0;
  const seen = new Set();
  Atomics.store(flag, 1, 1);
  while (Atomics.load(flag, 0) === 0) {
    for (const a of addrs) {
      const r = t.findByUnderlay(a);
      if (r !== id && r !== -1) bad++;
      seen.add('u' + r);
    }
    t.writeMac(id, out, 0);
    const m = out.join(':');
    if (!macs.includes(m)) bad++;
    seen.add(m);
    lookups++;
  }
  parentPort.postMessage({ lookups, bad, seen: [...seen] });
});
`;

describe.skipIf(distProblem !== '')('PeerTable shared with a worker thread', () => {
  it('a reader racing updates sees whole old or new values', async () => {
    const t = PeerTable.create({ capacity: 16, shared: true });
    const macs = [mac('02:00:00:00:00:01'), mac('0a:bb:cc:dd:ee:ff')];
    const addrs = [ip('10.0.0.1'), ip('10.0.0.2')];
    const id = t.add(addrs[0]!, macs[0]!);
    t.add(ip('10.9.9.9'), '02:00:00:00:09:09');
    const flag = new Int32Array(new SharedArrayBuffer(8));
    const w = new Worker(WORKER, {
      eval: true,
      workerData: { url: pathToFileURL(distPeers).href, state: t.state(), flag: flag.buffer, id, addrs, macs: macs.map((m) => m.join(':')) },
    });
    try {
      const result = new Promise<{ lookups: number; bad: number; seen: string[] }>((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
      });
      while (Atomics.load(flag, 1) === 0) await new Promise((r) => setTimeout(r, 1));
      const end = Date.now() + 300;
      for (let i = 0; Date.now() < end; i++) t.update(id, { underlay: addrs[i & 1]!, mac: macs[i & 1]! });
      Atomics.store(flag, 0, 1);
      const { lookups, bad, seen } = await result;
      expect(lookups).toBeGreaterThan(0);
      expect(bad, `seen: ${seen.join(' ')}`).toBe(0);
    } finally {
      await w.terminate();
    }
  });
});
