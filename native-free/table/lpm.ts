// Longest-prefix-match route table (IPv4 or IPv6): prefix → value (a peer id).
//
// Structure: a multibit trie in one Int32Array (layout in trie.ts): a 16-bit
// root, then 8-bit nodes, with controlled prefix expansion and leaf pushing, so
// a slot is either a child link or the final answer. An IPv4 lookup is at most
// three dependent loads (16 + 8 + 8 bits), an IPv6 one at most fifteen. With
// 10,000 random IPv4 prefixes the 16-bit root measured ~245 M lookups/s on
// random addresses and ~63 M/s on addresses deep inside the prefixes, against
// ~200 and ~55 M/s for four 8-bit levels; it costs 256 KiB once per table.
//
// Concurrency: one writer (the thread that called `create`), any number of
// readers (`attach` in a worker) on the same SharedArrayBuffer, no locks on the
// read path. Every slot is one aligned int32, written with Atomics.store and
// read whole, so a reader sees each slot either before or after a write, never
// a torn value. The writer orders its stores so that every state a reader can
// observe maps each address to either its old or its new route:
//   - grow: a new node is first filled with copies of the leaf it replaces and
//     only then linked (Atomics.store on the parent slot, a release on every
//     platform V8 supports), so following the link gives the same answer as not;
//     the new route is then written slot by slot.
//   - insert / delete rewrite leaves one slot at a time; each address reads
//     exactly one leaf, so it sees the old or the new route.
//   - prune: a node left holding only copies of one parent leaf is replaced by
//     that leaf in the parent (one store, same answers), and only then freed.
//   - reuse: a freed node may still be under a reader that loaded the link just
//     before the unlink. Freed nodes go to the back of a FIFO and never-used
//     nodes are handed out first, so a node is recycled only after every other
//     free node; a reader would have to stall for that many route changes
//     mid-lookup (a lookup takes well under a microsecond) to read a recycled
//     node. Even then it only reads in-bounds slots and returns some route.
// Readers load slots with plain reads: the link → child-slot loads carry an
// address dependency, which orders them on x86 (TSO) and ARM64 alike.
// (Atomics.load on the read path measured 2.5-3x slower.)
// The writer keeps its own metadata (the prefix set, used to find the next-best
// route on delete; per-slot prefix lengths) in ordinary memory: readers never
// need it.

import { formatIPv4, formatIPv6, parseCidr } from '../addr.js';
import { InvalidArgumentError } from '../errors.js';
import { buffer, readOnly, requireCount, requireValue, stateBuffer, type Buf } from './shared.js';
import { FIRST_NODE, MAX_NODES, META_LENGTH, META_NODES, META_SIZE, META_VERSION, maskBytes, NODE_SLOTS, TrieWriter } from './trie.js';

export type Family = 4 | 6;

export interface LpmOptions {
  family: Family;
  /** Most prefixes the table holds (default 10,000). */
  capacity?: number;
  /**
   * Trie nodes (1 KiB each) beyond the root. Default: 2 × capacity for IPv4,
   * which always suffices; 4 × capacity for IPv6, enough for prefixes that
   * share their upper bits as cluster routes do (a lone /128 can need 14).
   */
  nodes?: number;
  /** Allocate on SharedArrayBuffer so `state()` can be attached in workers. */
  shared?: boolean;
}

/** Everything a reader needs; structured-cloneable (send it with postMessage). */
export interface LpmState {
  kind: 'weft-lpm';
  family: Family;
  capacity: number;
  nodes: number;
  slots: Buf;
  meta: Buf;
}

export interface LpmEntry {
  prefix: number | Uint8Array;
  len: number;
  value: number;
}

export class LpmTable {
  readonly family: Family;
  readonly capacity: number;
  private readonly v6: boolean;
  private readonly slots: Int32Array;
  private readonly meta: Int32Array;
  private readonly st: LpmState;
  private readonly w: TrieWriter | null;

  private constructor(st: LpmState, writable: boolean) {
    this.st = st;
    this.family = st.family;
    this.capacity = st.capacity;
    this.v6 = st.family === 6;
    this.slots = new Int32Array(st.slots);
    this.meta = new Int32Array(st.meta);
    this.w = writable ? new TrieWriter(this.slots, this.meta, st.capacity, st.nodes) : null;
  }

  static create(opts: LpmOptions): LpmTable {
    const family = opts.family;
    if (family !== 4 && family !== 6) throw new InvalidArgumentError(`invalid address family ${String(family)}: expected 4 or 6`);
    const capacity = requireCount(opts.capacity ?? 10_000, 'route table capacity', 1, 1 << 24);
    const nodes = requireCount(opts.nodes ?? Math.min(MAX_NODES, capacity * (family === 4 ? 2 : 4)), 'route table node budget', 1, MAX_NODES);
    const shared = opts.shared ?? false;
    const slots = buffer((FIRST_NODE + nodes) * NODE_SLOTS * 4, shared);
    const meta = buffer(META_LENGTH * 4, shared);
    return new LpmTable({ kind: 'weft-lpm', family, capacity, nodes, slots, meta }, true);
  }

  /** A read-only view of a table owned by another thread. */
  static attach(state: LpmState): LpmTable {
    const s = state as unknown as Record<string, unknown>;
    if (s === null || typeof s !== 'object' || s.kind !== 'weft-lpm' || (s.family !== 4 && s.family !== 6)) {
      throw new InvalidArgumentError('invalid route table state: not produced by LpmTable.state()');
    }
    const nodes = requireCount(s.nodes, 'route table node budget', 1, MAX_NODES);
    const capacity = requireCount(s.capacity, 'route table capacity', 1, 1 << 24);
    const slots = stateBuffer(s, 'slots', (FIRST_NODE + nodes) * NODE_SLOTS * 4);
    const meta = stateBuffer(s, 'meta', META_LENGTH * 4);
    return new LpmTable({ kind: 'weft-lpm', family: s.family, capacity, nodes, slots, meta }, false);
  }

  /** The buffers and sizes to hand to `attach`. Only meaningful across threads when created `shared`. */
  state(): LpmState {
    return { ...this.st };
  }

  get writable(): boolean {
    return this.w !== null;
  }

  get size(): number {
    return Atomics.load(this.meta, META_SIZE);
  }

  /** Bumped by every insert or remove; readers may cache results per version. */
  get version(): number {
    return Atomics.load(this.meta, META_VERSION);
  }

  /** Trie nodes in use (for sizing the node budget). */
  get nodesInUse(): number {
    return Atomics.load(this.meta, META_NODES);
  }

  /** Route for an IPv4 address (u32), or -1. Only on an IPv4 table. */
  lookup4(addr: number): number {
    if (this.v6) return -1;
    const slots = this.slots;
    let s = slots[addr >>> 16]!;
    if (s > 0) {
      s = slots[(s << 8) | ((addr >>> 8) & 0xff)]!;
      if (s > 0) s = slots[(s << 8) | (addr & 0xff)]!;
    }
    return ~s;
  }

  /** Route for the 4 (IPv4 table) or 16 (IPv6 table) address bytes at b[off], or -1. */
  lookup(b: Uint8Array, off: number): number {
    if (!this.v6) return this.lookup4(((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0);
    const slots = this.slots;
    let s = slots[(b[off]! << 8) | b[off + 1]!]!;
    // The deepest nodes (last address byte) hold only leaves, so this ends by off + 15.
    for (let i = off + 2; s > 0; i++) s = slots[(s << 8) | b[i]!]!;
    return ~s;
  }

  insert(prefix: number | Uint8Array, len: number, value: number): void {
    const w = this.writer();
    const p = this.prefixBytes(prefix, len);
    w.insert(p, len, requireValue(value));
  }

  remove(prefix: number | Uint8Array, len: number): boolean {
    return this.writer().remove(this.prefixBytes(prefix, len), len);
  }

  /** The value stored for exactly this prefix, or -1. Writer only. */
  get(prefix: number | Uint8Array, len: number): number {
    return this.writer().get(this.prefixBytes(prefix, len), len);
  }

  insertCidr(cidr: string, value: number): void {
    const c = this.cidr(cidr);
    this.insert(c.addr, c.len, value);
  }

  removeCidr(cidr: string): boolean {
    const c = this.cidr(cidr);
    return this.remove(c.addr, c.len);
  }

  getCidr(cidr: string): number {
    const c = this.cidr(cidr);
    return this.get(c.addr, c.len);
  }

  /** The routes, in insertion order (prefix as u32 for IPv4, 16 bytes for IPv6). Writer only. */
  *entries(): IterableIterator<LpmEntry> {
    for (const r of this.writer().entries()) {
      yield { prefix: this.v6 ? r.prefix : bytesToU32(r.prefix), len: r.len, value: r.value };
    }
  }

  private writer(): TrieWriter {
    if (this.w === null) throw readOnly('this route table');
    return this.w;
  }

  private cidr(text: string): { addr: number | Uint8Array; len: number } {
    const c = parseCidr(text);
    if (c.family !== this.family) throw new InvalidArgumentError(`${JSON.stringify(text)} is an IPv${c.family} prefix but this route table holds IPv${this.family}`);
    return c;
  }

  // Validates a prefix argument into the writer's byte form.
  private prefixBytes(prefix: number | Uint8Array, len: number): Uint8Array {
    const bits = this.v6 ? 128 : 32;
    if (typeof len !== 'number' || !Number.isInteger(len) || len < 0 || len > bits) {
      throw new InvalidArgumentError(`invalid prefix length ${String(len)}: expected 0-${bits} for IPv${this.family}`);
    }
    const p = this.v6 ? v6Bytes(prefix) : u32ToBytes(v4Number(prefix));
    const net = maskBytes(p, len);
    if (!sameBytes(p, net)) {
      throw new InvalidArgumentError(`${describe(p, len)} has host bits set; did you mean ${describe(net, len)}?`);
    }
    return p;
  }
}

function v4Number(prefix: unknown): number {
  if (typeof prefix !== 'number' || !Number.isInteger(prefix) || prefix < -0x80000000 || prefix > 0xffffffff) {
    throw new InvalidArgumentError(`invalid IPv4 prefix ${String(prefix)}: expected a 32-bit integer`);
  }
  return prefix >>> 0;
}

function v6Bytes(prefix: unknown): Uint8Array {
  if (!(prefix instanceof Uint8Array) || prefix.length !== 16) {
    throw new InvalidArgumentError(`invalid IPv6 prefix: expected a Uint8Array of 16 bytes`);
  }
  return prefix;
}

function u32ToBytes(a: number): Uint8Array {
  return Uint8Array.of(a >>> 24, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff);
}

function bytesToU32(p: Uint8Array): number {
  return ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function describe(p: Uint8Array, len: number): string {
  return `${p.length === 4 ? formatIPv4(bytesToU32(p)) : formatIPv6(p)}/${len}`;
}
