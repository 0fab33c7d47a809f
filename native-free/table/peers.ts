// Peer (forwarding) table: id → underlay IPv4 address, VTEP MAC, flags, and
// the reverse lookups underlay → id (decap: drop packets from unknown senders)
// and MAC → id. The id is the value the route table (lpm.ts) stores.
//
// Hot path: `underlayOf(id)` (or `underlay[id]`), `writeMac(id, b, off)`,
// `findByUnderlay(addr)`, `findByMac(b, off)` read typed arrays only; no
// allocation, no Map. PeerTable satisfies encap/context.ts's PeerLookup.
//
// Concurrency (same model as lpm.ts: one writer, readers attach `state()` in
// workers, no read locks):
//   - underlay and flags are single aligned elements written with Atomics.store,
//     so a reader sees the old or the new value.
//   - a MAC is 6 bytes, which no single store covers. Each peer has two 8-byte
//     banks; an update writes the idle bank, then flips `macBank[id]` with one
//     Atomics.store. A reader picks the bank, then copies from it, so it sees
//     the old or the new MAC whole, unless the same peer's MAC changes twice
//     while it copies six bytes (updates come from the control plane, ms apart).
//   - the reverse indexes (probe.ts) store ids, not keys: a reader confirms a
//     hit against underlay[id] / the MAC, so a racing change costs at most a
//     miss. Removal unindexes first and zeroes the underlay after.
//   - freed ids go to the back of a FIFO, so an id that a stale route still
//     names is not handed to a new peer until every other free id has been.
//   - `version` is bumped after each change; a reader that caches per-peer
//     results can compare it.

import { formatIPv4, formatMac, parseMac } from '../addr.js';
import { CapacityError, InvalidArgumentError } from '../errors.js';
import { EMPTY, ProbeIndex } from './probe.js';
import { buffer, readOnly, requireCount, stateBuffer, type Buf } from './shared.js';

/** flags bit: the id names a live peer. The table owns it; bits 1-7 are the caller's. */
export const PEER_IN_USE = 1;
/** Bytes per peer in `mac`: two 8-byte banks (see macOffset). */
export const PEER_MAC_STRIDE = 16;

const GOLDEN = 0x9e3779b1;
const META_VERSION = 0;
const META_SIZE = 1;
const META_ACTIVE_UNDERLAY = 2;
const META_ACTIVE_MAC = 3;
const META_LENGTH = 4;

/** Fields of a peer for `update`. */
export interface PeerPatch {
  /** Underlay IPv4 address (u32) the tunnel packets go to. */
  underlay?: number;
  /** VTEP MAC: 6 bytes or "aa:bb:cc:dd:ee:ff". */
  mac?: Uint8Array | string;
  /** Caller-defined bits 1-7 (PEER_IN_USE is managed by the table). */
  flags?: number;
}

export interface PeerOptions {
  /** Most peers (default 10,000); ids are 0..capacity-1. */
  capacity?: number;
  shared?: boolean;
}

/** Everything a reader needs; structured-cloneable. */
export interface PeerState {
  kind: 'weft-peers';
  capacity: number;
  hashSize: number;
  underlay: Buf;
  mac: Buf;
  macBank: Buf;
  flags: Buf;
  byUnderlay: Buf;
  byMac: Buf;
  meta: Buf;
}

interface Writer {
  underlayIndex: ProbeIndex;
  macIndex: ProbeIndex;
  free: Int32Array; // FIFO ring of free ids
  freeHead: number;
  freeCount: number;
}

export class PeerTable {
  readonly capacity: number;
  /** Underlay IPv4 address per id (u32; 0 when unused). */
  readonly underlay: Uint32Array;
  /** MAC banks, PEER_MAC_STRIDE bytes per id; read through macOffset / writeMac. */
  readonly mac: Uint8Array;
  /** Which of the two banks holds the current MAC, per id. */
  readonly macBank: Uint8Array;
  readonly flags: Uint8Array;
  private readonly byUnderlay: Int32Array;
  private readonly byMac: Int32Array;
  private readonly meta: Int32Array;
  private readonly mask: number;
  private readonly shift: number;
  private readonly st: PeerState;
  private readonly w: Writer | null;

  private constructor(st: PeerState, writable: boolean) {
    this.st = st;
    this.capacity = st.capacity;
    this.underlay = new Uint32Array(st.underlay);
    this.mac = new Uint8Array(st.mac);
    this.macBank = new Uint8Array(st.macBank);
    this.flags = new Uint8Array(st.flags);
    this.byUnderlay = new Int32Array(st.byUnderlay);
    this.byMac = new Int32Array(st.byMac);
    this.meta = new Int32Array(st.meta);
    this.mask = st.hashSize - 1;
    this.shift = 32 - Math.log2(st.hashSize);
    this.w = writable ? this.makeWriter() : null;
  }

  static create(opts: PeerOptions = {}): PeerTable {
    const capacity = requireCount(opts.capacity ?? 10_000, 'peer table capacity', 1, 1 << 24);
    const shared = opts.shared ?? false;
    // Power of two, at most half full with live ids: short probe chains.
    let hashSize = 8;
    while (hashSize < 2 * capacity) hashSize *= 2;
    const st: PeerState = {
      kind: 'weft-peers',
      capacity,
      hashSize,
      underlay: buffer(4 * capacity, shared),
      mac: buffer(PEER_MAC_STRIDE * capacity, shared),
      macBank: buffer(capacity, shared),
      flags: buffer(capacity, shared),
      byUnderlay: buffer(8 * hashSize, shared),
      byMac: buffer(8 * hashSize, shared),
      meta: buffer(4 * META_LENGTH, shared),
    };
    new Int32Array(st.byUnderlay).fill(EMPTY);
    new Int32Array(st.byMac).fill(EMPTY);
    return new PeerTable(st, true);
  }

  /** A read-only view of a table owned by another thread. */
  static attach(state: PeerState): PeerTable {
    const s = state as unknown as Record<string, unknown>;
    if (s === null || typeof s !== 'object' || s.kind !== 'weft-peers') {
      throw new InvalidArgumentError('invalid peer table state: not produced by PeerTable.state()');
    }
    const capacity = requireCount(s.capacity, 'peer table capacity', 1, 1 << 24);
    const hashSize = requireCount(s.hashSize, 'peer table hash size', 8, 1 << 26);
    if ((hashSize & (hashSize - 1)) !== 0 || hashSize < 2 * capacity) {
      throw new InvalidArgumentError(`invalid peer table state: hash size ${hashSize}`);
    }
    const st: PeerState = {
      kind: 'weft-peers',
      capacity,
      hashSize,
      underlay: stateBuffer(s, 'underlay', 4 * capacity),
      mac: stateBuffer(s, 'mac', PEER_MAC_STRIDE * capacity),
      macBank: stateBuffer(s, 'macBank', capacity),
      flags: stateBuffer(s, 'flags', capacity),
      byUnderlay: stateBuffer(s, 'byUnderlay', 8 * hashSize),
      byMac: stateBuffer(s, 'byMac', 8 * hashSize),
      meta: stateBuffer(s, 'meta', 4 * META_LENGTH),
    };
    return new PeerTable(st, false);
  }

  state(): PeerState {
    return { ...this.st };
  }

  get writable(): boolean {
    return this.w !== null;
  }

  get size(): number {
    return Atomics.load(this.meta, META_SIZE);
  }

  /** Bumped after every add, update and remove. */
  get version(): number {
    return Atomics.load(this.meta, META_VERSION);
  }

  // ---- hot path: ids are trusted (they come from the route table) ----

  has(id: number): boolean {
    return (this.flags[id]! & PEER_IN_USE) !== 0;
  }

  /** Underlay IPv4 address (u32) of `id`; 0 for an unused id. */
  underlayOf(id: number): number {
    return this.underlay[id]!;
  }

  /** Offset in `mac` of the current 6 MAC bytes of `id`. */
  macOffset(id: number): number {
    return (id << 4) | (this.macBank[id]! << 3);
  }

  /** Copies the 6 MAC bytes of `id` into dst[off..off+6). */
  writeMac(id: number, dst: Uint8Array, off: number): void {
    const mac = this.mac;
    const o = (id << 4) | (this.macBank[id]! << 3);
    dst[off] = mac[o]!;
    dst[off + 1] = mac[o + 1]!;
    dst[off + 2] = mac[o + 2]!;
    dst[off + 3] = mac[o + 3]!;
    dst[off + 4] = mac[o + 4]!;
    dst[off + 5] = mac[o + 5]!;
  }

  /** The peer whose underlay address is `addr` (u32), or -1. */
  findByUnderlay(addr: number): number {
    const a = addr >>> 0;
    const tab = this.byUnderlay;
    const underlay = this.underlay;
    const mask = this.mask;
    const base = this.meta[META_ACTIVE_UNDERLAY]!;
    let i = Math.imul(a, GOLDEN) >>> this.shift;
    // Bounded, so even a table changing under the reader cannot trap it.
    for (let n = mask; n >= 0; n--) {
      const id = tab[base + i]!;
      if (id === EMPTY) return -1;
      if (id >= 0 && underlay[id] === a) return id;
      i = (i + 1) & mask;
    }
    return -1;
  }

  /** The peer whose VTEP MAC is the 6 bytes at b[off], or -1. */
  findByMac(b: Uint8Array, off: number): number {
    const tab = this.byMac;
    const mask = this.mask;
    const base = this.meta[META_ACTIVE_MAC]!;
    let i = macHash(b, off, this.shift);
    for (let n = mask; n >= 0; n--) {
      const id = tab[base + i]!;
      if (id === EMPTY) return -1;
      if (id >= 0 && this.macEquals(id, b, off)) return id;
      i = (i + 1) & mask;
    }
    return -1;
  }

  private macEquals(id: number, b: Uint8Array, off: number): boolean {
    const mac = this.mac;
    const o = (id << 4) | (this.macBank[id]! << 3);
    return (
      mac[o] === b[off] && mac[o + 1] === b[off + 1] && mac[o + 2] === b[off + 2] &&
      mac[o + 3] === b[off + 3] && mac[o + 4] === b[off + 4] && mac[o + 5] === b[off + 5]
    );
  }

  // ---- writer ----

  /** Adds a peer and returns its id. `flags`: caller bits 1-7. */
  add(underlayAddr: number, macAddr: Uint8Array | string, userFlags = 0): number {
    const w = this.writer();
    const { underlay, mac, flags } = this.validate(underlayAddr, macAddr, userFlags, -1);
    if (w.freeCount === 0) throw new CapacityError(`peer table is full (${this.capacity} peers); raise its capacity`);
    const id = w.free[w.freeHead]!;
    w.freeHead = (w.freeHead + 1) % this.capacity;
    w.freeCount--;
    this.setMac(id, mac);
    Atomics.store(this.underlay, id, underlay);
    Atomics.store(this.flags, id, flags | PEER_IN_USE);
    w.underlayIndex.insert(id, this.underlaySlot(id));
    w.macIndex.insert(id, this.macSlot(id));
    this.changed(1);
    return id;
  }

  /** Changes some fields of a live peer; unchanged keys stay indexed throughout. */
  update(id: number, patch: PeerPatch): void {
    const w = this.writer();
    this.requireLive(id);
    const cur = this.get(id)!;
    const next = this.validate(patch.underlay ?? cur.underlay, patch.mac ?? cur.mac, patch.flags ?? cur.flags, id);
    if (next.underlay !== cur.underlay) {
      w.underlayIndex.remove(id, this.underlaySlot(id));
      Atomics.store(this.underlay, id, next.underlay);
      w.underlayIndex.insert(id, this.underlaySlot(id));
    }
    if (!sameMac(next.mac, cur.mac)) {
      w.macIndex.remove(id, this.macSlot(id));
      this.setMac(id, next.mac);
      w.macIndex.insert(id, this.macSlot(id));
    }
    Atomics.store(this.flags, id, next.flags | PEER_IN_USE);
    this.changed(0);
  }

  /** Removes a peer; false when the id is not in use. */
  remove(id: number): boolean {
    const w = this.writer();
    if (!Number.isInteger(id) || id < 0 || id >= this.capacity || !this.has(id)) return false;
    w.underlayIndex.remove(id, this.underlaySlot(id));
    w.macIndex.remove(id, this.macSlot(id));
    Atomics.store(this.flags, id, 0);
    Atomics.store(this.underlay, id, 0);
    w.free[(w.freeHead + w.freeCount) % this.capacity] = id;
    w.freeCount++;
    this.changed(-1);
    return true;
  }

  /** A copy of a live peer's fields (allocates; not for the hot path). */
  get(id: number): { underlay: number; mac: Uint8Array; flags: number } | undefined {
    if (!Number.isInteger(id) || id < 0 || id >= this.capacity || !this.has(id)) return undefined;
    const o = this.macOffset(id);
    return { underlay: this.underlay[id]!, mac: this.mac.slice(o, o + 6), flags: this.flags[id]! & ~PEER_IN_USE };
  }

  /** Live ids in increasing order. */
  *ids(): IterableIterator<number> {
    for (let id = 0; id < this.capacity; id++) if (this.has(id)) yield id;
  }

  private writer(): Writer {
    if (this.w === null) throw readOnly('this peer table');
    return this.w;
  }

  private makeWriter(): Writer {
    const free = new Int32Array(this.capacity);
    for (let i = 0; i < free.length; i++) free[i] = i;
    const size = this.mask + 1;
    return {
      underlayIndex: new ProbeIndex(this.byUnderlay, this.meta, META_ACTIVE_UNDERLAY, size, (id) => this.underlaySlot(id)),
      macIndex: new ProbeIndex(this.byMac, this.meta, META_ACTIVE_MAC, size, (id) => this.macSlot(id)),
      free,
      freeHead: 0,
      freeCount: free.length,
    };
  }

  private underlaySlot(id: number): number {
    return Math.imul(this.underlay[id]!, GOLDEN) >>> this.shift;
  }

  private macSlot(id: number): number {
    return macHash(this.mac, this.macOffset(id), this.shift);
  }

  // Writes the idle bank, then flips to it: readers see the old or new MAC whole.
  private setMac(id: number, mac: Uint8Array): void {
    const bank = this.macBank[id]! ^ 1;
    this.mac.set(mac, (id << 4) | (bank << 3));
    Atomics.store(this.macBank, id, bank);
  }

  private changed(sizeDelta: number): void {
    if (sizeDelta !== 0) Atomics.add(this.meta, META_SIZE, sizeDelta);
    Atomics.add(this.meta, META_VERSION, 1);
  }

  private requireLive(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.capacity || !this.has(id)) {
      throw new InvalidArgumentError(`no peer with id ${String(id)}`);
    }
  }

  // Checks fields and that no other peer already has this underlay or MAC.
  private validate(underlay: number, macIn: Uint8Array | string, flags: number, self: number): { underlay: number; mac: Uint8Array; flags: number } {
    if (typeof underlay !== 'number' || !Number.isInteger(underlay) || underlay <= 0 || underlay > 0xffffffff) {
      throw new InvalidArgumentError(`invalid peer underlay address ${String(underlay)}: expected a non-zero u32 IPv4 address`);
    }
    const mac = typeof macIn === 'string' ? parseMac(macIn) : macIn;
    if (!(mac instanceof Uint8Array) || mac.length !== 6) throw new InvalidArgumentError('invalid peer MAC: expected 6 bytes or "aa:bb:cc:dd:ee:ff"');
    if (!Number.isInteger(flags) || flags < 0 || flags > 0xff || (flags & PEER_IN_USE) !== 0) {
      throw new InvalidArgumentError(`invalid peer flags ${String(flags)}: expected 0-255 with bit 0 clear (PEER_IN_USE is set by the table)`);
    }
    const byU = this.findByUnderlay(underlay);
    if (byU >= 0 && byU !== self) throw new InvalidArgumentError(`underlay ${formatIPv4(underlay)} already belongs to peer ${byU}`);
    const byM = this.findByMac(mac, 0);
    if (byM >= 0 && byM !== self) throw new InvalidArgumentError(`MAC ${formatMac(mac)} already belongs to peer ${byM}`);
    return { underlay, mac, flags };
  }
}

// Both bytes-level halves mixed, then Fibonacci hashing keeps the top bits.
function macHash(b: Uint8Array, off: number, shift: number): number {
  const hi = (b[off]! << 8) | b[off + 1]!;
  const lo = (b[off + 2]! << 24) | (b[off + 3]! << 16) | (b[off + 4]! << 8) | b[off + 5]!;
  return Math.imul(lo ^ Math.imul(hi, 0x85ebca6b), GOLDEN) >>> shift;
}

function sameMac(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (a[i] !== b[i]) return false;
  return true;
}
