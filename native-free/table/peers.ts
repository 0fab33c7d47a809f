// Peer (forwarding) table: id → underlay IPv4 address, VTEP MAC, flags, an
// optional IPv6 underlay address with its own VTEP MAC, and the reverse
// lookups underlay → id (decap: drop packets from unknown senders), IPv6
// underlay → id and MAC → id. The id is the value the route table (lpm.ts)
// stores.
//
// Dual stack as flannel does it: a node's lease has PublicIP with
// BackendData.VtepMAC (flannel.1) and/or PublicIPv6 with
// BackendV6Data.VtepMAC (flannel-v6.1, a second kernel VXLAN device with a
// MAC of its own). So a peer has an IPv4 underlay, an IPv6 underlay or both
// (`families[id]`: FAMILY_V4 / FAMILY_V6 bits), and the MAC to put in a frame
// depends on the underlay family it travels over (writeMac / writeMac6).
//
// Hot path: `underlayOf(id)` (or `underlay[id]`), `writeMac(id, b, off)`,
// `familiesOf(id)`, `writeUnderlay6(id, b, off)`, `writeMac6(id, b, off)`,
// `findByUnderlay(addr)`, `findByUnderlay6(b, off)`, `findByMac(b, off)` read
// typed arrays only; no allocation, no Map. PeerTable satisfies
// encap/context.ts's PeerLookup.
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
//   - the IPv6 underlay (16 bytes) and its MAC (6) share one 32-byte record,
//     banked the same way: two records per peer in `v6`, the idle one
//     written, then `v6Bank[id]` flipped with one Atomics.store. Then
//     `families[id]` is stored (Atomics.store) with FAMILY_V6 set, last of
//     all: a reader that sees the bit sees a whole record. Taking the v6
//     underlay away unindexes it, then clears the bit; the record stays.
//   - the reverse indexes (probe.ts) store ids, not keys: a reader confirms a
//     hit against underlay[id] / the v6 record (and its families bit) / the
//     MAC, so a racing change costs at most a miss. Removal unindexes first
//     and zeroes the underlay and families after.
//   - a peer with no IPv4 underlay (an IPv6-only node) has underlay[id] = 0
//     and is not in the IPv4 index; findByUnderlay(0) is always -1.
//   - freed ids go to the back of a FIFO, so an id that a stale route still
//     names is not handed to a new peer until every other free id has been.
//   - `version` is bumped after each change; a reader that caches per-peer
//     results can compare it.

import { formatIPv4, formatIPv6, formatMac, parseIPv6, parseMac } from '../addr.js';
import { CapacityError, InvalidArgumentError } from '../errors.js';
import { FAMILY_V4, FAMILY_V6 } from '../family.js';
import { EMPTY, ProbeIndex } from './probe.js';
import { buffer, readOnly, requireCount, stateBuffer, type Buf } from './shared.js';

/** flags bit: the id names a live peer. The table owns it; bits 1-7 are the caller's. */
export const PEER_IN_USE = 1;
/** Bytes per peer in `mac`: two 8-byte banks (see macOffset). */
export const PEER_MAC_STRIDE = 16;
/** Bytes per peer in `v6`: two 32-byte records of IPv6 underlay (16) + v6 VTEP MAC (6) (see underlay6Offset). */
export const PEER_V6_STRIDE = 64;
/** Where the v6 VTEP MAC sits in a v6 record. */
const V6_MAC = 16;

const GOLDEN = 0x9e3779b1;
const META_VERSION = 0;
const META_SIZE = 1;
const META_ACTIVE_UNDERLAY = 2;
const META_ACTIVE_MAC = 3;
const META_ACTIVE_UNDERLAY6 = 4;
const META_LENGTH = 5;

/** Fields of a peer for `update`. */
export interface PeerPatch {
  /** Underlay IPv4 address (u32) the tunnel packets go to. */
  underlay?: number;
  /** VTEP MAC: 6 bytes or "aa:bb:cc:dd:ee:ff". */
  mac?: Uint8Array | string;
  /** Caller-defined bits 1-7 (PEER_IN_USE is managed by the table). */
  flags?: number;
  /** The IPv6 underlay and its VTEP MAC; null takes the IPv6 underlay away. */
  v6?: PeerV6 | null;
}

/** A peer's IPv6 underlay (flannel's PublicIPv6) and the MAC of its v6 VXLAN device (BackendV6Data.VtepMAC). */
export interface PeerV6 {
  /** 16 bytes or text ("2001:db8::1"). */
  underlay: Uint8Array | string;
  /** 6 bytes or "aa:bb:cc:dd:ee:ff"; absent: the same MAC as the IPv4 one. */
  mac?: Uint8Array | string;
}

/** A copy of a peer's fields (PeerTable.get). */
export interface PeerInfo {
  /** IPv4 underlay (u32), 0 when the peer has none. */
  underlay: number;
  mac: Uint8Array;
  flags: number;
  /** IPv6 underlay and v6 VTEP MAC, or null. */
  underlay6: Uint8Array | null;
  mac6: Uint8Array | null;
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
  v6: Buf;
  v6Bank: Buf;
  families: Buf;
  byUnderlay6: Buf;
}

interface Writer {
  underlayIndex: ProbeIndex;
  underlay6Index: ProbeIndex;
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
  /** v6 records, PEER_V6_STRIDE bytes per id; read through underlay6Offset / writeUnderlay6 / writeMac6. */
  readonly v6: Uint8Array;
  /** Which of the two v6 records is current, per id. */
  readonly v6Bank: Uint8Array;
  /** FAMILY_V4 | FAMILY_V6 bits per id: which underlays the peer has (0 when unused). */
  readonly families: Uint8Array;
  private readonly byUnderlay: Int32Array;
  private readonly byUnderlay6: Int32Array;
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
    this.v6 = new Uint8Array(st.v6);
    this.v6Bank = new Uint8Array(st.v6Bank);
    this.families = new Uint8Array(st.families);
    this.byUnderlay = new Int32Array(st.byUnderlay);
    this.byUnderlay6 = new Int32Array(st.byUnderlay6);
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
      v6: buffer(PEER_V6_STRIDE * capacity, shared),
      v6Bank: buffer(capacity, shared),
      families: buffer(capacity, shared),
      byUnderlay6: buffer(8 * hashSize, shared),
    };
    new Int32Array(st.byUnderlay).fill(EMPTY);
    new Int32Array(st.byUnderlay6).fill(EMPTY);
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
      v6: stateBuffer(s, 'v6', PEER_V6_STRIDE * capacity),
      v6Bank: stateBuffer(s, 'v6Bank', capacity),
      families: stateBuffer(s, 'families', capacity),
      byUnderlay6: stateBuffer(s, 'byUnderlay6', 8 * hashSize),
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

  /** FAMILY_V4 | FAMILY_V6: which underlays `id` has (0 for an unused id). */
  familiesOf(id: number): number {
    return this.families[id]!;
  }

  /** Offset in `v6` of the current 16-byte IPv6 underlay of `id` (its v6 MAC follows at +16). */
  underlay6Offset(id: number): number {
    return (id << 6) | (this.v6Bank[id]! << 5);
  }

  /** Copies the 16-byte IPv6 underlay of `id` into dst[off..off+16); meaningful when familiesOf(id) has FAMILY_V6. */
  writeUnderlay6(id: number, dst: Uint8Array, off: number): void {
    const v6 = this.v6;
    const o = (id << 6) | (this.v6Bank[id]! << 5);
    for (let i = 0; i < 16; i++) dst[off + i] = v6[o + i]!;
  }

  /** Copies the 6-byte VTEP MAC of `id`'s IPv6 VXLAN device into dst[off..off+6). */
  writeMac6(id: number, dst: Uint8Array, off: number): void {
    const v6 = this.v6;
    const o = ((id << 6) | (this.v6Bank[id]! << 5)) + V6_MAC;
    dst[off] = v6[o]!;
    dst[off + 1] = v6[o + 1]!;
    dst[off + 2] = v6[o + 2]!;
    dst[off + 3] = v6[o + 3]!;
    dst[off + 4] = v6[o + 4]!;
    dst[off + 5] = v6[o + 5]!;
  }

  /** The peer whose IPv6 underlay is the 16 bytes at b[off], or -1. */
  findByUnderlay6(b: Uint8Array, off: number): number {
    const tab = this.byUnderlay6;
    const mask = this.mask;
    const base = this.meta[META_ACTIVE_UNDERLAY6]!;
    let i = addr6Hash(b, off, this.shift);
    for (let n = mask; n >= 0; n--) {
      const id = tab[base + i]!;
      if (id === EMPTY) return -1;
      if (id >= 0 && (this.families[id]! & FAMILY_V6) !== 0 && this.underlay6Equals(id, b, off)) return id;
      i = (i + 1) & mask;
    }
    return -1;
  }

  private underlay6Equals(id: number, b: Uint8Array, off: number): boolean {
    const v6 = this.v6;
    const o = (id << 6) | (this.v6Bank[id]! << 5);
    for (let i = 0; i < 16; i++) if (v6[o + i] !== b[off + i]) return false;
    return true;
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

  /**
   * Adds a peer and returns its id. `flags`: caller bits 1-7. underlayAddr
   * may be 0 (no IPv4 underlay) only when `v6` is given.
   */
  add(underlayAddr: number, macAddr: Uint8Array | string, userFlags = 0, v6: PeerV6 | null = null): number {
    const w = this.writer();
    const { underlay, mac, flags, underlay6, mac6 } = this.validate(underlayAddr, macAddr, userFlags, v6, -1);
    if (w.freeCount === 0) throw new CapacityError(`peer table is full (${this.capacity} peers); raise its capacity`);
    const id = w.free[w.freeHead]!;
    w.freeHead = (w.freeHead + 1) % this.capacity;
    w.freeCount--;
    this.setMac(id, mac);
    if (underlay6 !== null) this.setV6(id, underlay6, mac6!);
    Atomics.store(this.underlay, id, underlay);
    Atomics.store(this.flags, id, flags | PEER_IN_USE);
    Atomics.store(this.families, id, (underlay !== 0 ? FAMILY_V4 : 0) | (underlay6 !== null ? FAMILY_V6 : 0));
    if (underlay !== 0) w.underlayIndex.insert(id, this.underlaySlot(id));
    if (underlay6 !== null) w.underlay6Index.insert(id, this.underlay6Slot(id));
    w.macIndex.insert(id, this.macSlot(id));
    this.changed(1);
    return id;
  }

  /** Changes some fields of a live peer; unchanged keys stay indexed throughout. */
  update(id: number, patch: PeerPatch): void {
    const w = this.writer();
    this.requireLive(id);
    const cur = this.get(id)!;
    const curV6 = cur.underlay6 === null ? null : { underlay: cur.underlay6, mac: cur.mac6! };
    const next = this.validate(patch.underlay ?? cur.underlay, patch.mac ?? cur.mac, patch.flags ?? cur.flags, patch.v6 === undefined ? curV6 : patch.v6, id);
    if (next.underlay !== cur.underlay) {
      if (cur.underlay !== 0) w.underlayIndex.remove(id, this.underlaySlot(id));
      Atomics.store(this.underlay, id, next.underlay);
      if (next.underlay !== 0) w.underlayIndex.insert(id, this.underlaySlot(id));
    }
    if (!sameMac(next.mac, cur.mac)) {
      w.macIndex.remove(id, this.macSlot(id));
      this.setMac(id, next.mac);
      w.macIndex.insert(id, this.macSlot(id));
    }
    const v6Moved = cur.underlay6 === null || next.underlay6 === null || !sameBytes(cur.underlay6, next.underlay6, 16);
    if (cur.underlay6 !== null && v6Moved) {
      // Unindexed before the bit goes and before the record changes: no reader finds a half-changed key.
      w.underlay6Index.remove(id, this.underlay6Slot(id));
      if (next.underlay6 === null) Atomics.store(this.families, id, this.families[id]! & ~FAMILY_V6);
    }
    if (next.underlay6 !== null && (v6Moved || !sameBytes(cur.mac6!, next.mac6!, 6))) this.setV6(id, next.underlay6, next.mac6!);
    Atomics.store(this.families, id, (next.underlay !== 0 ? FAMILY_V4 : 0) | (next.underlay6 !== null ? FAMILY_V6 : 0));
    if (next.underlay6 !== null && v6Moved) w.underlay6Index.insert(id, this.underlay6Slot(id));
    Atomics.store(this.flags, id, next.flags | PEER_IN_USE);
    this.changed(0);
  }

  /** Removes a peer; false when the id is not in use. */
  remove(id: number): boolean {
    const w = this.writer();
    if (!Number.isInteger(id) || id < 0 || id >= this.capacity || !this.has(id)) return false;
    const fam = this.families[id]!;
    if ((fam & FAMILY_V4) !== 0) w.underlayIndex.remove(id, this.underlaySlot(id));
    if ((fam & FAMILY_V6) !== 0) w.underlay6Index.remove(id, this.underlay6Slot(id));
    w.macIndex.remove(id, this.macSlot(id));
    Atomics.store(this.flags, id, 0);
    Atomics.store(this.families, id, 0);
    Atomics.store(this.underlay, id, 0);
    w.free[(w.freeHead + w.freeCount) % this.capacity] = id;
    w.freeCount++;
    this.changed(-1);
    return true;
  }

  /** A copy of a live peer's fields (allocates; not for the hot path). */
  get(id: number): PeerInfo | undefined {
    if (!Number.isInteger(id) || id < 0 || id >= this.capacity || !this.has(id)) return undefined;
    const o = this.macOffset(id);
    const has6 = (this.families[id]! & FAMILY_V6) !== 0;
    const o6 = this.underlay6Offset(id);
    return {
      underlay: this.underlay[id]!,
      mac: this.mac.slice(o, o + 6),
      flags: this.flags[id]! & ~PEER_IN_USE,
      underlay6: has6 ? this.v6.slice(o6, o6 + 16) : null,
      mac6: has6 ? this.v6.slice(o6 + V6_MAC, o6 + V6_MAC + 6) : null,
    };
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
      underlay6Index: new ProbeIndex(this.byUnderlay6, this.meta, META_ACTIVE_UNDERLAY6, size, (id) => this.underlay6Slot(id)),
      macIndex: new ProbeIndex(this.byMac, this.meta, META_ACTIVE_MAC, size, (id) => this.macSlot(id)),
      free,
      freeHead: 0,
      freeCount: free.length,
    };
  }

  private underlaySlot(id: number): number {
    return Math.imul(this.underlay[id]!, GOLDEN) >>> this.shift;
  }

  private underlay6Slot(id: number): number {
    return addr6Hash(this.v6, this.underlay6Offset(id), this.shift);
  }

  // Writes the idle v6 record whole, then flips to it.
  private setV6(id: number, addr: Uint8Array, mac: Uint8Array): void {
    const bank = this.v6Bank[id]! ^ 1;
    const o = (id << 6) | (bank << 5);
    this.v6.set(addr, o);
    this.v6.set(mac, o + V6_MAC);
    Atomics.store(this.v6Bank, id, bank);
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
  private validate(
    underlay: number,
    macIn: Uint8Array | string,
    flags: number,
    v6: PeerV6 | null,
    self: number,
  ): { underlay: number; mac: Uint8Array; flags: number; underlay6: Uint8Array | null; mac6: Uint8Array | null } {
    if (typeof underlay !== 'number' || !Number.isInteger(underlay) || underlay < 0 || underlay > 0xffffffff || (underlay === 0 && (v6 === null || v6 === undefined))) {
      throw new InvalidArgumentError(`invalid peer underlay address ${String(underlay)}: expected a non-zero u32 IPv4 address (0 only for a peer with an IPv6 underlay)`);
    }
    const mac = typeof macIn === 'string' ? parseMac(macIn) : macIn;
    if (!(mac instanceof Uint8Array) || mac.length !== 6) throw new InvalidArgumentError('invalid peer MAC: expected 6 bytes or "aa:bb:cc:dd:ee:ff"');
    if (!Number.isInteger(flags) || flags < 0 || flags > 0xff || (flags & PEER_IN_USE) !== 0) {
      throw new InvalidArgumentError(`invalid peer flags ${String(flags)}: expected 0-255 with bit 0 clear (PEER_IN_USE is set by the table)`);
    }
    const byU = underlay === 0 ? -1 : this.findByUnderlay(underlay);
    if (byU >= 0 && byU !== self) throw new InvalidArgumentError(`underlay ${formatIPv4(underlay)} already belongs to peer ${byU}`);
    const byM = this.findByMac(mac, 0);
    if (byM >= 0 && byM !== self) throw new InvalidArgumentError(`MAC ${formatMac(mac)} already belongs to peer ${byM}`);
    if (v6 === null || v6 === undefined) return { underlay, mac, flags, underlay6: null, mac6: null };
    if (typeof v6 !== 'object') throw new InvalidArgumentError('invalid peer IPv6 underlay: expected { underlay, mac? }');
    const u6 = typeof v6.underlay === 'string' ? parseIPv6(v6.underlay) : v6.underlay;
    if (!(u6 instanceof Uint8Array) || u6.length !== 16) throw new InvalidArgumentError('invalid peer IPv6 underlay: expected 16 bytes or an IPv6 address');
    // Not :: and not multicast: a tunnel endpoint is one unicast host.
    if (u6[0] === 0xff || u6.every((x) => x === 0)) throw new InvalidArgumentError(`invalid peer IPv6 underlay ${formatIPv6(u6)}: expected a unicast address`);
    const m6 = v6.mac === undefined ? mac : typeof v6.mac === 'string' ? parseMac(v6.mac) : v6.mac;
    if (!(m6 instanceof Uint8Array) || m6.length !== 6) throw new InvalidArgumentError('invalid peer v6 MAC: expected 6 bytes or "aa:bb:cc:dd:ee:ff"');
    const by6 = this.findByUnderlay6(u6, 0);
    if (by6 >= 0 && by6 !== self) throw new InvalidArgumentError(`underlay ${formatIPv6(u6)} already belongs to peer ${by6}`);
    return { underlay, mac, flags, underlay6: Uint8Array.from(u6), mac6: Uint8Array.from(m6) };
  }
}

// The four 32-bit words of an IPv6 address mixed, then Fibonacci hashing keeps the top bits.
function addr6Hash(b: Uint8Array, off: number, shift: number): number {
  let h = 0;
  for (let i = 0; i < 16; i += 4) {
    h = Math.imul(h ^ ((b[off + i]! << 24) | (b[off + i + 1]! << 16) | (b[off + i + 2]! << 8) | b[off + i + 3]!), 0x85ebca6b);
    h ^= h >>> 15;
  }
  return Math.imul(h, GOLDEN) >>> shift;
}

// Both bytes-level halves mixed, then Fibonacci hashing keeps the top bits.
function macHash(b: Uint8Array, off: number, shift: number): number {
  const hi = (b[off]! << 8) | b[off + 1]!;
  const lo = (b[off + 2]! << 24) | (b[off + 3]! << 16) | (b[off + 4]! << 8) | b[off + 5]!;
  return Math.imul(lo ^ Math.imul(hi, 0x85ebca6b), GOLDEN) >>> shift;
}

function sameMac(a: Uint8Array, b: Uint8Array): boolean {
  return sameBytes(a, b, 6);
}

function sameBytes(a: Uint8Array, b: Uint8Array, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}
