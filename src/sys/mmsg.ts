// Batched datagram I/O: one sendmmsg/recvmmsg moves up to `count` datagrams.
//
// Packets live in a PacketSlab: one ArrayBuffer (or SharedArrayBuffer, to share with
// workers) cut into fixed-size slots; each slot starts with `headroom` bytes so that
// encapsulation can prepend outer headers in place. An MmsgVector holds the kernel's
// side: mmsghdr[count], iovec[count] and sockaddr_in[count] in one control buffer,
// with every pointer computed once (see libc.ts: addresses of ArrayBuffer memory are
// stable). Per packet, JS only writes an iovec (base, len) and a sockaddr.
//
// Family: a vector is for one address family, fixed at construction, as a socket is.
// The default ({ family: 4 }) gives every entry a sockaddr_in (16 bytes) and takes
// IPv4 addresses as u32 (setSend, peerAddr). { family: 6 } gives every entry a
// sockaddr_in6 (msg_namelen 28) for an AF_INET6 socket (udp.ts openUdp6): setSend6
// takes the destination as 16 bytes at an offset in the caller's buffer, peerAddr6
// copies a sender's 16 bytes out (peerAddr6Equals compares in place), peerPort reads
// either family. The two APIs refuse the other family's vector (InvalidArgumentError).
//
// Ancillary data (cmsg), for UDP GSO/GRO, only in a vector made with { control: true }:
// then each entry also owns a CMSG_AREA-byte cmsg area at the end of the same buffer,
// msg_control pointing at it from the start. Without it msg_control stays NULL and
// msg_controllen 0, and nothing below touches them.
// - Send (UDP_SEGMENT, "GSO"): setSend(..., segment) writes one cmsg {SOL_UDP,
//   UDP_SEGMENT, u16 segment}: the kernel sends the entry's buffer as one large skb
//   that is cut into datagrams of `segment` payload bytes (the last may be shorter) as
//   late as possible (by the NIC, or in software before the driver). One send costs
//   one pass through the stack instead of one per datagram. A buffer of at most
//   `segment` bytes goes out as one plain datagram. Limits (udp_send_skb, checked per
//   entry): at most UDP_MAX_SEGMENTS segments, else EINVAL (128 in kernels since late
//   2024: 6.11 and stable backports; 64 before: stay at or below 64 to be portable);
//   segment + IP/UDP headers within the route MTU, else EMSGSIZE (EINVAL on old
//   kernels); the whole buffer at most 65507 bytes, else EMSGSIZE; UDP checksums on
//   (SO_NO_CHECK: EINVAL); EIO through xfrm (IPsec) routes and, before Linux 6.11,
//   when the route's device cannot checksum-offload (TUN, tx checksumming off). A
//   sender must then resend the entry as plain datagrams. See udp.ts, sendBatch.
// - Receive (UDP_GRO): recvBatch gives every entry the whole area back; on a socket with
//   enableUdpGro (udp.ts) the kernel may deliver several same-size datagrams of one
//   flow as one entry, adding a cmsg {SOL_UDP, UDP_GRO, int segment}: gsoSize(i) reads
//   it, 0 for a plain datagram. The entry then holds consecutive datagrams of
//   gsoSize(i) bytes each, the last possibly shorter; receive buffers must be large
//   enough (up to 64 KiB) or the rest is cut (truncated(i)). A GSO send that is not
//   segmented on its way (loopback, veth) reaches such a socket whole in one entry.

import { InvalidArgumentError } from '../../native-free/errors.js';
import { EAGAIN, EINTR, addressOf, lastErrno, libc, sysError, type Hints } from './libc.js';
import {
  CMSG_HDR_SIZE,
  CMSG_LEN_INT,
  CMSG_LEN_U16,
  CMSG_SPACE_U16,
  IOVEC_SIZE,
  MMSGHDR_SIZE,
  MMSG_LEN,
  MSG_CONTROL,
  MSG_CONTROLLEN,
  MSG_FLAGS,
  MSG_IOV,
  MSG_IOVLEN,
  MSG_NAME,
  MSG_NAMELEN,
  MSG_TRUNC,
  MSG_WAITFORONE,
  SOCKADDR_IN6_SIZE,
  SOCKADDR_IN_SIZE,
  SOL_UDP,
  UDP_GRO,
  UDP_SEGMENT,
} from './constants.js';
import { sockaddr6Addr, sockaddr6AddrEquals, sockaddrAddr, sockaddrPort, writeSockaddrIn, writeSockaddrIn6 } from './sockaddr.js';

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
/**
 * Bytes of cmsg area per entry in a { control: true } vector: one CMSG_SPACE(int) = 24
 * (UDP_GRO on receive; UDP_SEGMENT's CMSG_SPACE(u16) is also 24), rounded up to 32.
 * A receive that brings more ancillary data than fits gets MSG_CTRUNC.
 */
export const CMSG_AREA = 32;
const U32_PER_CMSG_AREA = CMSG_AREA / 4;

export interface MmsgVectorOptions {
  /** Give every entry its own cmsg area, for UDP_SEGMENT sends and UDP_GRO receives. */
  control?: boolean;
  /** The sockets' address family: 4 (sockaddr_in, the default) or 6 (sockaddr_in6, for openUdp6). */
  family?: 4 | 6;
}

export class MmsgVector {
  readonly count: number;
  readonly slab: PacketSlab;
  /** Entries have a cmsg area (constructed with { control: true }). */
  readonly control: boolean;
  /** 4: entries carry a sockaddr_in; 6: a sockaddr_in6. */
  readonly family: 4 | 6;
  /** 16 (sockaddr_in) or 28 (sockaddr_in6): every entry's msg_namelen. */
  private readonly nameSize: number;
  /** mmsghdr[count] | iovec[count] | sockaddr[count] (padded to 8) | cmsg area[count] (control only) */
  private readonly ctl: Uint8Array;
  private readonly u32: Uint32Array;
  private readonly iovAt: number; // u32 index of iovec[0]
  private readonly nameAt: number; // byte offset of sockaddr_in[0]
  private readonly cmsgAt: number; // u32 index of cmsg area[0]
  readonly ptr: number;

  constructor(slab: PacketSlab, count: number, opts: MmsgVectorOptions = {}) {
    if (!(count > 0 && count <= 1024)) throw new InvalidArgumentError(`mmsg vector of ${count} entries (1–1024)`);
    this.count = count;
    this.slab = slab;
    this.control = opts.control === true;
    const family = opts.family ?? 4;
    if (family !== 4 && family !== 6) throw new InvalidArgumentError(`mmsg vector family ${String(family)} (4 or 6)`);
    this.family = family;
    this.nameSize = family === 6 ? SOCKADDR_IN6_SIZE : SOCKADDR_IN_SIZE;
    this.iovAt = (count * MMSGHDR_SIZE) / 4;
    this.nameAt = count * (MMSGHDR_SIZE + IOVEC_SIZE);
    // cmsgs must be 8-aligned: count × 28 is not always a multiple of 8 (count × 16 is).
    const cmsgByte = (this.nameAt + count * this.nameSize + 7) & ~7;
    this.cmsgAt = cmsgByte / 4;
    this.ctl = new Uint8Array(new ArrayBuffer(cmsgByte + (this.control ? count * CMSG_AREA : 0)));
    this.u32 = new Uint32Array(this.ctl.buffer);
    this.ptr = addressOf(this.ctl);
    for (let i = 0; i < count; i++) this.link(i);
  }

  /**
   * Points entry i's msghdr at its own iovec (one), sockaddr and cmsg area (control
   * vectors; msg_controllen stays 0 until setSend/setRecv); done once.
   */
  private link(i: number): void {
    const m = i * U32_PER_MMSG;
    this.put64(m + MSG_NAME / 4, this.ptr + this.nameAt + i * this.nameSize);
    this.u32[m + MSG_NAMELEN / 4] = this.nameSize;
    this.put64(m + MSG_IOV / 4, this.ptr + this.iovAt * 4 + i * IOVEC_SIZE);
    this.put64(m + MSG_IOVLEN / 4, 1);
    if (this.control) this.put64(m + MSG_CONTROL / 4, this.ptr + (this.cmsgAt + i * U32_PER_CMSG_AREA) * 4);
  }

  private put64(u32Index: number, v: number): void {
    this.u32[u32Index] = v >>> 0; // ToUint32 is exact modulo 2^32 below 2^53
    this.u32[u32Index + 1] = Math.floor(v / 0x100000000);
  }

  /**
   * Entry i will send slab.buf[off, off+len) to addr:port. segment > 0 (1–65535; only
   * in a { control: true } vector, else InvalidArgumentError) sends it with UDP GSO:
   * as datagrams of `segment` payload bytes, the last one shorter if len is not a
   * multiple (see the top of this file for the kernel's limits). segment 0: one plain
   * datagram (clears a segment set earlier for this entry). No allocation.
   * IPv4 vectors only (setSend6 for { family: 6 }).
   */
  setSend(i: number, off: number, len: number, addr: number, port: number, segment = 0): void {
    if (this.family !== 4) throw new InvalidArgumentError(`mmsg entry ${i}: setSend (IPv4) on a { family: 6 } vector: use setSend6`);
    this.checkSegment(i, segment);
    this.setIov(i, off, len);
    writeSockaddrIn(this.ctl, this.nameAt + i * SOCKADDR_IN_SIZE, addr, port);
    this.setSegment(i, segment);
  }

  /**
   * setSend for a { family: 6 } vector: entry i will send slab.buf[off, off+len) to the
   * IPv6 address addr[addrOff, addrOff+16) (network order, e.g. a peer table's bytes),
   * port, with flow label 0 and scope id 0 (so not to a link-local address). segment as
   * for setSend; the kernel's GSO limits are the same over IPv6 (udp_v6_send_skb),
   * with 48 bytes of headers instead of 28 (segment ≤ route MTU − 48). No allocation.
   */
  setSend6(i: number, off: number, len: number, addr: Uint8Array, addrOff: number, port: number, segment = 0): void {
    if (this.family !== 6) throw new InvalidArgumentError(`mmsg entry ${i}: setSend6 on an IPv4 vector: make it with { family: 6 }`);
    if (!(addrOff >= 0 && addrOff + 16 <= addr.length)) {
      throw new InvalidArgumentError(`mmsg entry ${i}: IPv6 address at [${addrOff}, ${addrOff + 16}) outside a buffer of ${addr.length} bytes`);
    }
    this.checkSegment(i, segment);
    this.setIov(i, off, len);
    writeSockaddrIn6(this.ctl, this.nameAt + i * SOCKADDR_IN6_SIZE, addr, addrOff, port);
    this.setSegment(i, segment);
  }

  private checkSegment(i: number, segment: number): void {
    if (segment !== 0) {
      if (!this.control) {
        throw new InvalidArgumentError(
          `mmsg entry ${i}: GSO segment ${segment} needs a vector made with { control: true }`,
        );
      }
      if ((segment & 0xffff) !== segment) {
        throw new InvalidArgumentError(`mmsg entry ${i}: GSO segment ${segment} is not an integer in 1–65535`);
      }
    }
  }

  /** Entry i's UDP_SEGMENT cmsg (segment > 0) or none (0); checkSegment has passed. */
  private setSegment(i: number, segment: number): void {
    if (!this.control) return;
    const controlLen = i * U32_PER_MMSG + MSG_CONTROLLEN / 4; // its high half stays 0
    if (segment === 0) {
      this.u32[controlLen] = 0;
      return;
    }
    // Rewritten whole every time: a receive into this entry overwrites the area.
    const c = this.cmsgAt + i * U32_PER_CMSG_AREA;
    this.u32[c] = CMSG_LEN_U16; // cmsg_len, size_t: the kernel wants exactly CMSG_LEN(2)
    this.u32[c + 1] = 0;
    this.u32[c + 2] = SOL_UDP; // cmsg_level
    this.u32[c + 3] = UDP_SEGMENT; // cmsg_type
    this.u32[c + 4] = segment; // u16 data (little-endian: its 2 bytes first), then padding
    this.u32[controlLen] = CMSG_SPACE_U16;
  }

  /** Entry i will receive into slab.buf[off, off+maxLen) (and, control vectors, its whole cmsg area). */
  setRecv(i: number, off: number, maxLen: number): void {
    this.setIov(i, off, maxLen);
    const m = i * U32_PER_MMSG;
    this.u32[m + MSG_NAMELEN / 4] = this.nameSize; // the kernel overwrites it
    if (this.control) this.u32[m + MSG_CONTROLLEN / 4] = CMSG_AREA; // this too
  }

  /**
   * Gives entries [0, n) their whole cmsg area again (the kernel overwrote msg_controllen
   * with what it used, 0 when it sent no cmsg). recvBatch calls it; no-op without control.
   */
  resetControl(n: number): void {
    if (!this.control) return;
    for (let i = 0; i < n; i++) this.u32[i * U32_PER_MMSG + MSG_CONTROLLEN / 4] = CMSG_AREA;
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

  /** Bytes entry i's buffer holds (as last set by setSend/setRecv). */
  bufferLength(i: number): number {
    return this.u32[this.iovAt + i * U32_PER_IOV + 2]!;
  }

  /** The UDP_SEGMENT size entry i is set to send with (setSend), 0 for a plain datagram. */
  sendSegment(i: number): number {
    if (!this.control || this.u32[i * U32_PER_MMSG + MSG_CONTROLLEN / 4] === 0) return 0;
    return this.u32[this.cmsgAt + i * U32_PER_CMSG_AREA + 4]! & 0xffff;
  }

  /** Bytes received (or sent) by entry i in the last call. */
  length(i: number): number {
    return this.u32[i * U32_PER_MMSG + MMSG_LEN / 4]!;
  }

  /** The datagram was longer than entry i's buffer and was cut. */
  truncated(i: number): boolean {
    return (this.u32[i * U32_PER_MMSG + MSG_FLAGS / 4]! & MSG_TRUNC) !== 0;
  }

  /**
   * After recvBatch on a socket with UDP_GRO: the segment size of entry i, which then
   * holds length(i) bytes of consecutive datagrams of that size (the last may be
   * shorter); 0 when it is one plain datagram (no UDP_GRO cmsg came) or the vector has
   * no control area. No allocation.
   */
  gsoSize(i: number): number {
    if (!this.control || !(i >= 0 && i < this.count)) return 0;
    const m = i * U32_PER_MMSG + MSG_CONTROLLEN / 4;
    // What the kernel used of the area; never more than we gave (CMSG_AREA).
    const used = this.u32[m + 1] === 0 ? Math.min(this.u32[m]!, CMSG_AREA) : 0;
    const area = this.cmsgAt + i * U32_PER_CMSG_AREA;
    for (let off = 0; off + CMSG_HDR_SIZE <= used; ) {
      const c = area + off / 4;
      const len = this.u32[c]!;
      if (len < CMSG_HDR_SIZE || this.u32[c + 1] !== 0 || off + len > used) break;
      if (this.u32[c + 2] === SOL_UDP && this.u32[c + 3] === UDP_GRO && len >= CMSG_LEN_INT) {
        return this.u32[c + 4]! | 0;
      }
      off += (len + 7) & ~7; // CMSG_ALIGN
    }
    return 0;
  }

  /** The IPv4 sender of entry i after recvBatch (u32). IPv4 vectors only (peerAddr6 for { family: 6 }). */
  peerAddr(i: number): number {
    if (this.family !== 4) throw new InvalidArgumentError(`mmsg entry ${i}: peerAddr (IPv4) on a { family: 6 } vector: use peerAddr6`);
    return sockaddrAddr(this.ctl, this.nameAt + i * SOCKADDR_IN_SIZE);
  }

  /**
   * Copies the IPv6 sender of entry i (after recvBatch; the destination after setSend6)
   * to dst[dstOff, dstOff+16). { family: 6 } vectors only. No allocation.
   */
  peerAddr6(i: number, dst: Uint8Array, dstOff: number): void {
    this.check6(i, dst, dstOff, 'peerAddr6');
    sockaddr6Addr(this.ctl, this.nameAt + i * SOCKADDR_IN6_SIZE, dst, dstOff);
  }

  /** Whether entry i's IPv6 peer is addr[addrOff, addrOff+16), compared in place. { family: 6 } only. */
  peerAddr6Equals(i: number, addr: Uint8Array, addrOff: number): boolean {
    this.check6(i, addr, addrOff, 'peerAddr6Equals');
    return sockaddr6AddrEquals(this.ctl, this.nameAt + i * SOCKADDR_IN6_SIZE, addr, addrOff);
  }

  private check6(i: number, b: Uint8Array, off: number, what: string): void {
    if (this.family !== 6) throw new InvalidArgumentError(`mmsg entry ${i}: ${what} on an IPv4 vector: make it with { family: 6 }`);
    if (!(i >= 0 && i < this.count && off >= 0 && off + 16 <= b.length)) {
      throw new InvalidArgumentError(`mmsg entry ${i}: ${what} at [${off}, ${off + 16}) outside a buffer of ${b.length} bytes or the vector`);
    }
  }

  /** The sender's port of entry i after recvBatch (either family). */
  peerPort(i: number): number {
    return sockaddrPort(this.ctl, this.nameAt + i * this.nameSize);
  }
}

const SENDMMSG_HINTS: Hints = {
  EIO: 'UDP GSO refused (xfrm route, or before Linux 6.11 a device without checksum offload): send without segment',
  EMSGSIZE: 'the datagram (or a GSO segment) is larger than the path MTU or 64 KiB allows',
  ENETUNREACH: 'no route to the destination in this network namespace',
  EHOSTUNREACH: 'no route to the destination in this network namespace',
  ENOBUFS: 'the device queue is full; retry or drop',
};

/**
 * sendmmsg of entries [first, first+n). Returns how many went out: fewer than n when
 * the socket buffer filled up (0 if the first would block), or when a later entry
 * failed (the kernel then drops that error; the next call, starting at that entry,
 * reports it). An error on the first entry throws a SyscallError (errors.ts): branch
 * on its `errnoName` ('EIO', 'EINVAL', ...) or `errno` (number; constants.ts), not on
 * `code`, which is 'ERR_WEFT_SYSCALL' for every errno. The caller can skip that entry
 * and retry the rest. For an entry sent with a GSO segment, EIO means an xfrm route
 * or (before Linux 6.11) a device without checksum offload, EINVAL too many segments
 * or checksums off, EMSGSIZE a segment or the total too large for the MTU / 64 KiB:
 * resend that entry as plain datagrams (segment 0, cut by the caller) or drop it.
 * Nothing of a refused entry has been sent.
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
    if (errno !== EINTR) throw sysError('sendmmsg', `sendmmsg fd ${fd}, ${n} datagrams`, SENDMMSG_HINTS, errno);
  }
}

/**
 * recvmmsg into entries [0, n) as set by setRecv/armRecvAll. Returns how many
 * arrived, 0 if none is waiting (nonblocking socket). On a blocking socket it waits
 * for the first only (MSG_WAITFORONE), then takes what is queued. In a control vector
 * the entries get their whole cmsg area back first; read gsoSize(i) afterwards.
 */
export function recvBatch(fd: number, v: MmsgVector, n: number = v.count): number {
  if (!(n > 0 && n <= v.count)) throw new InvalidArgumentError(`recvBatch of ${n} with a vector of ${v.count}`);
  v.resetControl(n);
  for (;;) {
    const r = libc.recvmmsg(fd, v.ptr, n, MSG_WAITFORONE, 0);
    if (r >= 0) return r;
    const errno = lastErrno();
    if (errno === EAGAIN) return 0;
    if (errno !== EINTR) throw sysError('recvmmsg', `recvmmsg fd ${fd}, ${n} datagrams`, undefined, errno);
  }
}
