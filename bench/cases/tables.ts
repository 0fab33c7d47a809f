// Route table and peer table lookups, one lookup per operation, over 10,000
// entries. Keys are pre-generated into typed arrays (2^16 of them, cycled) by
// a seeded generator, so every run measures the same work and the loop itself
// allocates nothing.
//
//   lpm-lookup-10k        10,000 random IPv4 prefixes /8../32, addresses inside
//                         random inserted prefixes (walks as deep as the prefix:
//                         the cache-missing case, what a data plane sees)
//   lpm-lookup-10k-random same table, uniformly random addresses (most resolve
//                         in the root or one level down: the easy case)
//   lpm6-lookup-10k       10,000 random IPv6 prefixes (90% /16../64, 10% /128),
//                         addresses inside them, read from packet-like bytes
//   lpm6-lookup-cluster   10,000 /64 node subnets under one /48 (a v6 cluster)
//   peer-by-underlay-10k  10,000 peers, 7/8 of the addresses known
//   peer-write-mac-10k    copy a random peer's VTEP MAC into a frame
import { LpmTable } from '../../native-free/table/lpm.js';
import { PeerTable } from '../../native-free/table/peers.js';
import type { BenchCase } from '../harness.js';

const N = 10_000;
const KEYS = 1 << 16;

/** xorshift32: deterministic, so runs are comparable. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

function mask4(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

interface V4Routes {
  table: LpmTable;
  prefixes: Uint32Array;
  lens: Uint8Array;
}

function v4Routes(): V4Routes {
  const r = rng(0x5eed4);
  const table = LpmTable.create({ family: 4, capacity: N });
  const prefixes = new Uint32Array(N);
  const lens = new Uint8Array(N);
  for (let i = 0; i < N; i++) {
    const len = 8 + (r() % 25);
    prefixes[i] = (r() & mask4(len)) >>> 0;
    lens[i] = len;
    table.insert(prefixes[i]!, len, i);
  }
  return { table, prefixes, lens };
}

function lookup4Case(name: string, deep: boolean): BenchCase {
  return {
    name,
    unit: 'lookup',
    setup() {
      const { table, prefixes, lens } = v4Routes();
      const r = rng(0xadd4);
      const addrs = new Uint32Array(KEYS);
      for (let i = 0; i < KEYS; i++) {
        const k = r() % N;
        addrs[i] = deep ? (prefixes[k]! | (r() & ~mask4(lens[k]!))) >>> 0 : r();
      }
      return (n) => {
        let acc = 0;
        for (let i = 0; i < n; i++) acc ^= table.lookup4(addrs[i & (KEYS - 1)]!);
        return acc;
      };
    },
  };
}

/** Random bytes with every bit after `len` cleared. */
function randomPrefix6(r: () => number, len: number): Uint8Array {
  const p = new Uint8Array(16);
  for (let i = 0; i < 16; i++) {
    const keep = Math.min(8, Math.max(0, len - 8 * i));
    p[i] = r() & ((0xff00 >>> keep) & 0xff);
  }
  return p;
}

/** 16-byte addresses, each inside one of `prefixes`, packed back to back. */
function addresses6(prefixes: Uint8Array[], lens: number[], seed: number): Uint8Array {
  const r = rng(seed);
  const out = new Uint8Array(KEYS * 16);
  for (let i = 0; i < KEYS; i++) {
    const k = r() % prefixes.length;
    const host = randomPrefix6(r, 128);
    const p = prefixes[k]!;
    const len = lens[k]!;
    for (let j = 0; j < 16; j++) {
      const keep = Math.min(8, Math.max(0, len - 8 * j));
      const net = (0xff00 >>> keep) & 0xff;
      out[i * 16 + j] = (p[j]! & net) | (host[j]! & ~net & 0xff);
    }
  }
  return out;
}

function lookup6Case(name: string, cluster: boolean): BenchCase {
  return {
    name,
    unit: 'lookup',
    setup() {
      const r = rng(0x5eed6);
      // Random v6 prefixes rarely share upper bits, so give the trie room: up to 7 nodes each.
      const table = LpmTable.create({ family: 6, capacity: N, nodes: cluster ? N : 7 * N });
      const prefixes: Uint8Array[] = [];
      const lens: number[] = [];
      for (let i = 0; i < N; i++) {
        const len = cluster ? 64 : r() % 10 === 0 ? 128 : 16 + (r() % 49);
        const p = randomPrefix6(r, len);
        if (cluster) p.set([0xfd, 0x00, 0x00, 0x10, 0x02, 0x44, i >> 8, i & 0xff]);
        prefixes.push(p);
        lens.push(len);
        table.insert(p, len, i);
      }
      const addrs = addresses6(prefixes, lens, 0xadd6);
      return (n) => {
        let acc = 0;
        for (let i = 0; i < n; i++) acc ^= table.lookup(addrs, (i & (KEYS - 1)) << 4);
        return acc;
      };
    },
  };
}

function peers(): PeerTable {
  const t = PeerTable.create({ capacity: N });
  for (let i = 0; i < N; i++) t.add((0x64400000 + i * 7) >>> 0, Uint8Array.of(2, 0, 0, 1, i >> 8, i & 255));
  return t;
}

const peerByUnderlay: BenchCase = {
  name: 'peer-by-underlay-10k',
  unit: 'lookup',
  setup() {
    const t = peers();
    const r = rng(0x9ee5);
    const addrs = new Uint32Array(KEYS);
    for (let i = 0; i < KEYS; i++) {
      const k = r() % N;
      addrs[i] = (i & 7) === 7 ? r() | 1 : (0x64400000 + k * 7) >>> 0;
    }
    return (n) => {
      let acc = 0;
      for (let i = 0; i < n; i++) acc ^= t.findByUnderlay(addrs[i & (KEYS - 1)]!);
      return acc;
    };
  },
};

const peerWriteMac: BenchCase = {
  name: 'peer-write-mac-10k',
  unit: 'copy',
  setup() {
    const t = peers();
    const r = rng(0x3ac);
    const ids = new Int32Array(KEYS);
    for (let i = 0; i < KEYS; i++) ids[i] = r() % N;
    const frame = new Uint8Array(64);
    return (n) => {
      let acc = 0;
      for (let i = 0; i < n; i++) {
        t.writeMac(ids[i & (KEYS - 1)]!, frame, i & 7);
        acc += frame[5]!;
      }
      return acc;
    };
  },
};

export const cases: BenchCase[] = [
  lookup4Case('lpm-lookup-10k', true),
  lookup4Case('lpm-lookup-10k-random', false),
  lookup6Case('lpm6-lookup-10k', false),
  lookup6Case('lpm6-lookup-cluster', true),
  peerByUnderlay,
  peerWriteMac,
];
