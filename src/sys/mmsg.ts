// Batched datagram I/O: one sendmmsg/recvmmsg moves up to `count` datagrams.
//
// Packets live in a PacketSlab: one ArrayBuffer (or SharedArrayBuffer, to share with
// workers) cut into fixed-size slots; each slot starts with `headroom` bytes so that
// encapsulation can prepend outer headers in place. An MmsgVector holds the kernel's
// side: mmsghdr[count], iovec[count] and sockaddr_in[count] in one control buffer,
// with every pointer computed once (see libc.ts: addresses of ArrayBuffer memory are
// stable). Per packet, JS only writes an iovec (base, len) and a sockaddr.
// msg_control stays NULL for now; UDP_SEGMENT / UDP_GRO will hang a cmsg area per
// entry off the same vector.

import { InvalidArgumentError } from '../../native-free/errors.js';
import { EAGAIN, EINTR, addressOf, lastErrno, libc, sysError } from './libc.js';
import {
  IOVEC_SIZE,
  MMSGHDR_SIZE,
  MMSG_LEN,
  MSG_FLAGS,
  MSG_IOV,
  MSG_IOVLEN,
  MSG_NAME,
  MSG_NAMELEN,
  MSG_TRUNC,
  MSG_WAITFORONE,
  SOCKADDR_IN_SIZE,
} from './constants.js';
import { sockaddrAddr, sockaddrPort, writeSockaddrIn } from './sockaddr.js';

export interface SlabOptions {
  slots: number;
  slotSize: number;
  /** Bytes kept free at the start of each slot for headers to prepend. */
  headroom: number;
  /** Use this memory (e.g. a SharedArrayBuffer from another thread) instead of allocating. */
  memory?: ArrayBuffer | SharedArrayBuffer;
}

export class PacketSlab {
  readonly buf: Uint8Array;
  readonly slots: number;
  readonly slotSize: number;
  readonly headroom: number;
  /** Address of buf[0]. */
  readonly base: number;

  constructor(o: SlabOptions) {
    if (!(o.slots > 0 && o.slotSize > 0 && o.headroom >= 0 && o.headroom < o.slotSize)) {
      throw new InvalidArgumentError(`bad packet slab: ${o.slots} slots of ${o.slotSize} bytes, headroom ${o.headroom}`);
    }
    const size = o.slots * o.slotSize;
    const memory = o.memory ?? new ArrayBuffer(size);
    if (memory.byteLength < size) {
      throw new InvalidArgumentError(`packet slab needs ${size} bytes, memory has ${memory.byteLength}`);
    }
    this.buf = new Uint8Array(memory, 0, size);
    this.slots = o.slots;
    this.slotSize = o.slotSize;
    this.headroom = o.headroom;
    this.base = addressOf(this.buf);
  }

  /** Offset in buf where slot i's packet data starts (after the headroom). */
  dataOffset(i: number): number {
    return i * this.slotSize + this.headroom;
  }

  /** Bytes available for a packet in a slot, after the headroom. */
  get dataSize(): number {
    return this.slotSize - this.headroom;
  }
}

const U32_PER_MMSG = MMSGHDR_SIZE / 4;
const U32_PER_IOV = IOVEC_SIZE / 4;

export class MmsgVector {
  readonly count: number;
  readonly slab: PacketSlab;
  /** mmsghdr[count] | iovec[count] | sockaddr_in[count] */
  private readonly ctl: Uint8Array;
  private readonly u32: Uint32Array;
  private readonly iovAt: number; // u32 index of iovec[0]
  private readonly nameAt: number; // byte offset of sockaddr_in[0]
  readonly ptr: number;

  constructor(slab: PacketSlab, count: number) {
    if (!(count > 0 && count <= 1024)) throw new InvalidArgumentError(`mmsg vector of ${count} entries (1–1024)`);
    this.count = count;
    this.slab = slab;
    const bytes = count * (MMSGHDR_SIZE + IOVEC_SIZE + SOCKADDR_IN_SIZE);
    this.ctl = new Uint8Array(new ArrayBuffer(bytes));
    this.u32 = new Uint32Array(this.ctl.buffer);
    this.iovAt = (count * MMSGHDR_SIZE) / 4;
    this.nameAt = count * (MMSGHDR_SIZE + IOVEC_SIZE);
    this.ptr = addressOf(this.ctl);
    for (let i = 0; i < count; i++) this.link(i);
  }

  /** Points entry i's msghdr at its own iovec (one) and sockaddr; done once. */
  private link(i: number): void {
    const m = i * U32_PER_MMSG;
    this.put64(m + MSG_NAME / 4, this.ptr + this.nameAt + i * SOCKADDR_IN_SIZE);
    this.u32[m + MSG_NAMELEN / 4] = SOCKADDR_IN_SIZE;
    this.put64(m + MSG_IOV / 4, this.ptr + this.iovAt * 4 + i * IOVEC_SIZE);
    this.put64(m + MSG_IOVLEN / 4, 1);
  }

  private put64(u32Index: number, v: number): void {
    this.u32[u32Index] = v >>> 0; // ToUint32 is exact modulo 2^32 below 2^53
    this.u32[u32Index + 1] = Math.floor(v / 0x100000000);
  }

  /** Entry i will send slab.buf[off, off+len) to addr:port. */
  setSend(i: number, off: number, len: number, addr: number, port: number): void {
    this.setIov(i, off, len);
    writeSockaddrIn(this.ctl, this.nameAt + i * SOCKADDR_IN_SIZE, addr, port);
  }

  /** Entry i will receive into slab.buf[off, off+maxLen). */
  setRecv(i: number, off: number, maxLen: number): void {
    this.setIov(i, off, maxLen);
    this.u32[i * U32_PER_MMSG + MSG_NAMELEN / 4] = SOCKADDR_IN_SIZE; // the kernel overwrites it
  }

  /** Entry i receives into slot i's data area, for i in [0, count): the usual setup. */
  armRecvAll(): void {
    const s = this.slab;
    for (let i = 0; i < this.count; i++) this.setRecv(i, s.dataOffset(i), s.dataSize);
  }

  private setIov(i: number, off: number, len: number): void {
    if (!(i >= 0 && i < this.count && off >= 0 && len >= 0 && off + len <= this.slab.buf.length)) {
      throw new InvalidArgumentError(`mmsg entry ${i}: [${off}, ${off + len}) outside the slab or vector`);
    }
    const v = this.iovAt + i * U32_PER_IOV;
    this.put64(v, this.slab.base + off);
    this.u32[v + 2] = len;
    this.u32[v + 3] = 0;
  }

  /** Offset in slab.buf where entry i's buffer starts (as last set). */
  offset(i: number): number {
    const v = this.iovAt + i * U32_PER_IOV;
    return this.u32[v]! + this.u32[v + 1]! * 0x100000000 - this.slab.base;
  }

  /** Bytes received (or sent) by entry i in the last call. */
  length(i: number): number {
    return this.u32[i * U32_PER_MMSG + MMSG_LEN / 4]!;
  }

  /** The datagram was longer than entry i's buffer and was cut. */
  truncated(i: number): boolean {
    return (this.u32[i * U32_PER_MMSG + MSG_FLAGS / 4]! & MSG_TRUNC) !== 0;
  }

  peerAddr(i: number): number {
    return sockaddrAddr(this.ctl, this.nameAt + i * SOCKADDR_IN_SIZE);
  }

  peerPort(i: number): number {
    return sockaddrPort(this.ctl, this.nameAt + i * SOCKADDR_IN_SIZE);
  }
}

/**
 * sendmmsg of entries [first, first+n). Returns how many went out: fewer than n when
 * the socket buffer filled up (0 if the first would block). An error on the first
 * entry throws (the caller can skip that entry and retry the rest).
 */
export function sendBatch(fd: number, v: MmsgVector, first: number, n: number): number {
  if (!(first >= 0 && n >= 0 && first + n <= v.count)) {
    throw new InvalidArgumentError(`sendBatch [${first}, ${first + n}) outside a vector of ${v.count}`);
  }
  for (;;) {
    const r = libc.sendmmsg(fd, v.ptr + first * MMSGHDR_SIZE, n, 0);
    if (r >= 0) return r;
    const errno = lastErrno();
    if (errno === EAGAIN) return 0;
    if (errno !== EINTR) throw sysError('sendmmsg', `sendmmsg fd ${fd}, ${n} datagrams`, undefined, errno);
  }
}

/**
 * recvmmsg into entries [0, n) as set by setRecv/armRecvAll. Returns how many
 * arrived, 0 if none is waiting (nonblocking socket). On a blocking socket it waits
 * for the first only (MSG_WAITFORONE), then takes what is queued.
 */
export function recvBatch(fd: number, v: MmsgVector, n: number = v.count): number {
  if (!(n > 0 && n <= v.count)) throw new InvalidArgumentError(`recvBatch of ${n} with a vector of ${v.count}`);
  for (;;) {
    const r = libc.recvmmsg(fd, v.ptr, n, MSG_WAITFORONE, 0);
    if (r >= 0) return r;
    const errno = lastErrno();
    if (errno === EAGAIN) return 0;
    if (errno !== EINTR) throw sysError('recvmmsg', `recvmmsg fd ${fd}, ${n} datagrams`, undefined, errno);
  }
}
