// Open-addressing hash index (linear probing) from a key to a small id, stored
// in an Int32Array so readers on other threads can probe it with no lock and
// no allocation. This file is the writer side; the probe loops live next to
// the key comparison they need (peers.ts), so they stay monomorphic.
//
// A slot holds an id (>= 0), EMPTY or TOMB. Keys are not stored: a reader
// compares the key of the id it finds (e.g. underlay[id]) with the one it looks
// for, so a slot that changes under it can only cost a miss, never a wrong id.
//
// Removal leaves a tombstone (the chain through the slot must stay unbroken
// for keys stored after it), except at the end of a chain: a tombstone followed
// by EMPTY ends no live key's chain and turns EMPTY again, and so on backwards.
// When ids + tombstones fill 3/4 of the table, it is rebuilt into the second
// half of `tab` (the idle one), then readers are switched to it with one
// Atomics.store of its offset; a reader still probing the old half finds it
// intact, since the old half is only reused by the rebuild after next.

export const EMPTY = -1;
export const TOMB = -2;

export class ProbeIndex {
  private live = 0;
  private tombs = 0;
  private readonly mask: number;

  /**
   * @param tab    2 × size slots: two halves, one active
   * @param meta   meta[at] holds the active half's offset (0 or size)
   * @param hashOf the slot an id's current key hashes to (writer-side)
   */
  constructor(
    private readonly tab: Int32Array,
    private readonly meta: Int32Array,
    private readonly at: number,
    private readonly size: number,
    private readonly hashOf: (id: number) => number,
  ) {
    this.mask = size - 1;
  }

  /** Puts an id whose key is not in the index yet. */
  insert(id: number, slot: number): void {
    if (this.live + this.tombs + 1 > (this.size * 3) >>> 2) this.rebuild();
    const base = this.meta[this.at]!;
    let i = slot;
    for (;;) {
      const v = this.tab[base + i]!;
      if (v === EMPTY || v === TOMB) break;
      i = (i + 1) & this.mask;
    }
    if (this.tab[base + i] === TOMB) this.tombs--;
    Atomics.store(this.tab, base + i, id);
    this.live++;
  }

  /** Takes out an id that was inserted with its key hashing to `slot`. */
  remove(id: number, slot: number): void {
    const base = this.meta[this.at]!;
    let i = slot;
    for (let n = 0; this.tab[base + i] !== id; n++) {
      if (n > this.mask) throw new Error(`probe index: id ${id} not found (internal error)`);
      i = (i + 1) & this.mask;
    }
    Atomics.store(this.tab, base + i, TOMB);
    this.tombs++;
    this.live--;
    if (this.tab[base + ((i + 1) & this.mask)] !== EMPTY) return;
    while (this.tab[base + i] === TOMB) {
      Atomics.store(this.tab, base + i, EMPTY);
      this.tombs--;
      i = (i - 1) & this.mask;
    }
  }

  /** Slots currently holding a tombstone (for tests and sizing). */
  get tombstones(): number {
    return this.tombs;
  }

  // Fills the idle half with the live ids, then publishes it.
  private rebuild(): void {
    const old = this.meta[this.at]!;
    const next = old === 0 ? this.size : 0;
    this.tab.fill(EMPTY, next, next + this.size);
    for (let j = old; j < old + this.size; j++) {
      const id = this.tab[j]!;
      if (id < 0) continue;
      let i = this.hashOf(id);
      while (this.tab[next + i] !== EMPTY) i = (i + 1) & this.mask;
      this.tab[next + i] = id;
    }
    Atomics.store(this.meta, this.at, next);
    this.tombs = 0;
  }
}
