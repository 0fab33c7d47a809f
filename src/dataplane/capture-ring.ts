// Packet capture from the workers, for `weft capture`: one single-producer /
// single-consumer ring per worker in shared memory. The worker copies a packet
// in only while a capture is on (one plain read of the mode word per packet
// otherwise); the main thread drains the rings into a pcap stream. A full ring
// drops the packet from the capture (counted), never from the data plane.
//
// Ring layout: Int32 [write, read, dropped] then `capacity` bytes of records
// [u32 length][u32 ts seconds][u32 ts microseconds][bytes, padded to 4].
// A length of 0xffffffff means "wrapped: continue at 0".

export const CAPTURE_OFF = 0;
export const CAPTURE_INNER = 1;
export const CAPTURE_OUTER = 2;

const WRITE = 0;
const READ = 1;
const DROPPED = 2;
const META_BYTES = 16;
const RECORD_HEADER = 12;
const WRAP = 0xffffffff;

export interface CaptureState {
  /** Int32 [0]: mode (CAPTURE_*), [1]: snap length. Shared by every worker. */
  control: SharedArrayBuffer;
  rings: SharedArrayBuffer[];
}

export function createCaptureState(workers: number, ringBytes = 1 << 20): CaptureState {
  const control = new SharedArrayBuffer(8);
  new Int32Array(control)[1] = 65535;
  return { control, rings: Array.from({ length: workers }, () => new SharedArrayBuffer(META_BYTES + ringBytes)) };
}

export class CaptureRing {
  private readonly meta: Int32Array;
  private readonly data: Uint8Array;
  private readonly view: DataView;
  private readonly capacity: number;

  constructor(sab: SharedArrayBuffer) {
    this.meta = new Int32Array(sab, 0, 3);
    this.data = new Uint8Array(sab, META_BYTES);
    this.view = new DataView(sab, META_BYTES);
    this.capacity = this.data.length;
  }

  /** Worker side: copies b[off..off+len) (cut to snap) with a timestamp. */
  push(b: Uint8Array, off: number, len: number, snap: number): void {
    const n = Math.min(len, snap);
    const need = RECORD_HEADER + ((n + 3) & ~3);
    let w = Atomics.load(this.meta, WRITE);
    const r = Atomics.load(this.meta, READ);
    const free = r > w ? r - w - 4 : this.capacity - w + r - 4;
    const tail = this.capacity - w;
    const wraps = tail < need;
    if (need + (wraps ? tail : 0) > free || (wraps && r === 0)) {
      Atomics.add(this.meta, DROPPED, 1);
      return;
    }
    if (wraps) {
      if (tail >= 4) this.view.setUint32(w, WRAP, true);
      w = 0;
    }
    const us = Math.round((performance.timeOrigin + performance.now()) * 1000);
    this.view.setUint32(w, n, true);
    this.view.setUint32(w + 4, Math.floor(us / 1e6), true);
    this.view.setUint32(w + 8, us % 1e6, true);
    this.data.set(b.subarray(off, off + n), w + RECORD_HEADER);
    Atomics.store(this.meta, WRITE, (w + need) % this.capacity);
  }

  /** Main side: hands every waiting record to `each` (a view valid only during the call). */
  drain(each: (packet: Uint8Array, sec: number, usec: number) => void): number {
    let r = Atomics.load(this.meta, READ);
    const w = Atomics.load(this.meta, WRITE);
    let count = 0;
    while (r !== w) {
      if (this.capacity - r < 4 || this.view.getUint32(r, true) === WRAP) {
        r = 0;
        continue;
      }
      const n = this.view.getUint32(r, true);
      each(this.data.subarray(r + RECORD_HEADER, r + RECORD_HEADER + n), this.view.getUint32(r + 4, true), this.view.getUint32(r + 8, true));
      r = (r + RECORD_HEADER + ((n + 3) & ~3)) % this.capacity;
      count++;
    }
    Atomics.store(this.meta, READ, r);
    return count;
  }

  get dropped(): number {
    return Atomics.load(this.meta, DROPPED);
  }

  /** Main side, between captures: forget anything left over. */
  reset(): void {
    Atomics.store(this.meta, READ, Atomics.load(this.meta, WRITE));
  }
}
