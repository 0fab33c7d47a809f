// The writer side of the route table's multibit trie (see lpm.ts for the layout
// and the concurrency argument). Only the owning thread runs this code; it may
// allocate, since route changes are rare control-plane events.
//
// Layout of `slots` (Int32Array, possibly shared):
//   [0, 65536)             the root: indexed by the top 16 address bits
//   [id*256, id*256+256)   node `id` (id >= FIRST_NODE): indexed by the next 8 bits
// A slot holds either a child node id (> 0) or a leaf: ~value for a route
// value >= 0, and 0 for "no route" (so ~slot is the answer, -1 when none).
//
// Leaves are pushed down: when a node exists under a slot, every one of its
// slots already carries the best route the parent slot would have given, so a
// lookup never needs to remember anything on the way down. `lens` (writer-only)
// records, per slot, the length of the prefix whose value the slot holds; it
// decides which route wins a slot on insert and which slots a delete frees.

import { CapacityError } from '../errors.js';

export const ROOT_BITS = 16;
export const STRIDE = 8;
export const NODE_SLOTS = 1 << STRIDE;
/** Node ids below this are the root's slots. */
export const FIRST_NODE = (1 << ROOT_BITS) >>> STRIDE;
/** Largest node count that keeps `id << 8` a positive int32. */
export const MAX_NODES = (1 << 23) - FIRST_NODE;

export const META_SIZE = 0;
export const META_VERSION = 1;
export const META_NODES = 2;
export const META_LENGTH = 4;

interface Route {
  prefix: Uint8Array;
  len: number;
  value: number;
}

/** The deepest node a prefix of `len` bits ends in (0 = root). */
function endDepth(len: number): number {
  return len <= ROOT_BITS ? 0 : (len - ROOT_BITS + STRIDE - 1) >> 3;
}

/** First address bit after the node at `depth`. */
function endBit(depth: number): number {
  return ROOT_BITS + STRIDE * depth;
}

/** Slot index inside the node at `depth` for address bytes `p`. */
function chunk(p: Uint8Array, depth: number): number {
  return depth === 0 ? (p[0]! << 8) | p[1]! : p[depth + 1]!;
}

export class TrieWriter {
  private readonly lens: Uint8Array;
  private readonly routes = new Map<string, Route>();
  // Node allocator: never-used ids first, then a FIFO of freed ids, so a freed
  // node is reused as late as possible (see "reuse" in lpm.ts).
  private nextFresh = FIRST_NODE;
  private readonly limit: number;
  private readonly ring: Int32Array;
  private ringHead = 0;
  private ringCount = 0;

  constructor(
    private readonly slots: Int32Array,
    private readonly meta: Int32Array,
    private readonly capacity: number,
    nodes: number,
  ) {
    this.lens = new Uint8Array(slots.length);
    this.limit = FIRST_NODE + nodes;
    this.ring = new Int32Array(nodes);
  }

  get size(): number {
    return this.routes.size;
  }

  get(p: Uint8Array, len: number): number {
    return this.routes.get(key(p, len))?.value ?? -1;
  }

  *entries(): IterableIterator<Route> {
    for (const r of this.routes.values()) yield { prefix: r.prefix.slice(), len: r.len, value: r.value };
  }

  /** Adds or replaces a route. Checks every limit before touching the trie. */
  insert(p: Uint8Array, len: number, value: number): void {
    const k = key(p, len);
    if (!this.routes.has(k) && this.routes.size >= this.capacity) {
      throw new CapacityError(`route table is full (${this.capacity} prefixes); raise its capacity`);
    }
    const depth = endDepth(len);
    const need = this.missingNodes(p, depth);
    if (need > this.limit - this.nextFresh + this.ringCount) {
      throw new CapacityError(`route table is out of trie nodes (${this.limit - FIRST_NODE}) for a /${len}; raise its node budget`);
    }
    let node = 0;
    for (let d = 0; d < depth; d++) {
      const idx = (node << STRIDE) + chunk(p, d);
      const s = this.slots[idx]!;
      node = s > 0 ? s : this.grow(idx);
    }
    const first = (node << STRIDE) + chunk(p, depth);
    const n = 1 << (endBit(depth) - len);
    for (let i = first; i < first + n; i++) this.cover(i, ~value, len);
    this.routes.set(k, { prefix: p.slice(), len, value });
    this.publish();
  }

  /** Removes a route; its slots fall back to the longest shorter prefix covering it. */
  remove(p: Uint8Array, len: number): boolean {
    if (!this.routes.delete(key(p, len))) return false;
    const { leaf, leafLen } = this.covering(p, len);
    const depth = endDepth(len);
    const path: number[] = [];
    let node = 0;
    for (let d = 0; d < depth; d++) {
      const idx = (node << STRIDE) + chunk(p, d);
      path.push(idx);
      node = this.slots[idx]!; // exists: the route we just deleted ends below it
    }
    const first = (node << STRIDE) + chunk(p, depth);
    const n = 1 << (endBit(depth) - len);
    for (let i = first; i < first + n; i++) this.uncover(i, len, leaf, leafLen);
    this.prune(path);
    this.publish();
    return true;
  }

  private publish(): void {
    Atomics.store(this.meta, META_SIZE, this.routes.size);
    Atomics.store(this.meta, META_NODES, this.nextFresh - FIRST_NODE - this.ringCount);
    Atomics.add(this.meta, META_VERSION, 1);
  }

  private missingNodes(p: Uint8Array, depth: number): number {
    let node = 0;
    for (let d = 0; d < depth; d++) {
      const s = this.slots[(node << STRIDE) + chunk(p, d)]!;
      if (s <= 0) return depth - d;
      node = s;
    }
    return 0;
  }

  // A new node starts as a full copy of the leaf it replaces, so publishing the
  // link changes no lookup result; only then do the caller's stores refine it.
  private grow(idx: number): number {
    const id = this.alloc();
    const base = id << STRIDE;
    this.slots.fill(this.slots[idx]!, base, base + NODE_SLOTS);
    this.lens.fill(this.lens[idx]!, base, base + NODE_SLOTS);
    Atomics.store(this.slots, idx, id);
    return id;
  }

  // A route of `len` bits takes every slot (and every pushed-down copy below
  // it) currently held by a prefix no longer than itself.
  private cover(idx: number, leaf: number, len: number): void {
    const s = this.slots[idx]!;
    if (s > 0) {
      const base = s << STRIDE;
      for (let j = 0; j < NODE_SLOTS; j++) this.cover(base + j, leaf, len);
    } else if (this.lens[idx]! <= len) {
      Atomics.store(this.slots, idx, leaf);
      this.lens[idx] = len;
    }
  }

  // Slots held by exactly this length under the removed prefix were held by
  // the removed route itself (any other prefix of that length is elsewhere).
  private uncover(idx: number, len: number, leaf: number, leafLen: number): void {
    const s = this.slots[idx]!;
    if (s > 0) {
      const base = s << STRIDE;
      for (let j = 0; j < NODE_SLOTS; j++) this.uncover(base + j, len, leaf, leafLen);
    } else if (this.lens[idx] === len) {
      Atomics.store(this.slots, idx, leaf);
      this.lens[idx] = leafLen;
    }
  }

  private covering(p: Uint8Array, len: number): { leaf: number; leafLen: number } {
    for (let l = len - 1; l >= 0; l--) {
      const r = this.routes.get(key(maskBytes(p, l), l));
      if (r) return { leaf: ~r.value, leafLen: l };
    }
    return { leaf: 0, leafLen: 0 };
  }

  // Walks back up from the deleted route's node: a node whose slots are all
  // pushed-down copies of one parent leaf is replaced by that leaf, unlinked
  // first, and only then queued for reuse.
  private prune(path: number[]): void {
    for (let d = path.length; d >= 1; d--) {
      const parentIdx = path[d - 1]!;
      const node = this.slots[parentIdx]!;
      if (this.hasOwnSlots(node, endBit(d - 1))) return;
      const base = node << STRIDE;
      this.lens[parentIdx] = this.lens[base]!;
      Atomics.store(this.slots, parentIdx, this.slots[base]!);
      this.free(node);
    }
  }

  private hasOwnSlots(node: number, startBit: number): boolean {
    const base = node << STRIDE;
    for (let j = base; j < base + NODE_SLOTS; j++) {
      if (this.slots[j]! > 0 || this.lens[j]! > startBit) return true;
    }
    return false;
  }

  private alloc(): number {
    if (this.nextFresh < this.limit) return this.nextFresh++;
    const id = this.ring[this.ringHead]!;
    this.ringHead = (this.ringHead + 1) % this.ring.length;
    this.ringCount--;
    return id;
  }

  private free(id: number): void {
    this.ring[(this.ringHead + this.ringCount) % this.ring.length] = id;
    this.ringCount++;
  }
}

function key(p: Uint8Array, len: number): string {
  let s = `${len}/`;
  for (let i = 0; i < p.length; i++) s += String.fromCharCode(p[i]!);
  return s;
}

/** A copy of `p` with every bit after the first `len` cleared. */
export function maskBytes(p: Uint8Array, len: number): Uint8Array {
  const out = new Uint8Array(p.length);
  for (let i = 0; i < p.length; i++) {
    const keep = Math.min(8, Math.max(0, len - 8 * i));
    out[i] = p[i]! & ((0xff00 >>> keep) & 0xff);
  }
  return out;
}
