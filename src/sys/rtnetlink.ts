// The rtnetlink plumbing shared by routes (netlink.ts) and addresses (netlink-addr.ts):
// a NETLINK_ROUTE socket per request, one request and its acknowledgement (with the
// kernel's own error text, extended ack), or a query and its answers (one, or a dump
// up to NLMSG_DONE). Everything applies to the calling thread's network namespace.

import { NEEDS_NET_ADMIN, addressOf, closeQuietly, errnoName, libc, pollFd, sysError, type Hints } from './libc.js';
import type { SyscallError } from './errors.js';
import {
  AF_NETLINK,
  NETLINK_CAP_ACK,
  NETLINK_EXT_ACK,
  NETLINK_ROUTE,
  NLMSGERR_ATTR_MSG,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_HDRLEN,
  NLM_F_ACK_TLVS,
  NLM_F_REQUEST,
  POLLIN,
  SOCKADDR_NL_SIZE,
  SOCK_CLOEXEC,
  SOCK_RAW,
  SOL_NETLINK,
} from './constants.js';
import { setIntOption } from './socket.js';

const ETIMEDOUT = 110;
const ACK_TIMEOUT_MS = 5000;

let seq = 0;

/** A fresh sequence number for a request's nlmsghdr. */
export function nextSeq(): number {
  seq = (seq + 1) >>> 0;
  return seq;
}

/**
 * Writes the nlmsghdr at b[0, 16): length, type, NLM_F_REQUEST | extra flags
 * (NLM_F_ACK added for requests that change something, by the caller), sequence.
 */
export function writeNlHeader(b: Uint8Array, length: number, type: number, flags: number, sequence: number): void {
  const v = new DataView(b.buffer, b.byteOffset, b.length);
  v.setUint32(0, length, true);
  v.setUint16(4, type, true);
  v.setUint16(6, NLM_F_REQUEST | flags, true);
  v.setUint32(8, sequence, true);
}

/** Attribute writer over a request being built (rtattr: u16 len, u16 type, payload, padded to 4). */
export class AttrWriter {
  readonly b: Uint8Array;
  private readonly v: DataView;
  off: number;
  constructor(size: number, start: number) {
    this.b = new Uint8Array(size);
    this.v = new DataView(this.b.buffer);
    this.off = start;
  }
  u32(type: number, x: number, bigEndian = false): void {
    this.v.setUint16(this.off, 8, true);
    this.v.setUint16(this.off + 2, type, true);
    this.v.setUint32(this.off + 4, x >>> 0, !bigEndian);
    this.off += 8;
  }
  bytes(type: number, x: Uint8Array): void {
    this.v.setUint16(this.off, 4 + x.length, true);
    this.v.setUint16(this.off + 2, type, true);
    this.b.set(x, this.off + 4);
    this.off += (4 + x.length + 3) & ~3;
  }
  /** The message so far, header length set. */
  finish(type: number, flags: number, sequence: number): Uint8Array {
    writeNlHeader(this.b, this.off, type, flags, sequence);
    return this.b.subarray(0, this.off);
  }
}

export function openRtnetlink(): number {
  const fd = libc.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) throw sysError('socket', 'socket AF_NETLINK NETLINK_ROUTE');
  try {
    setIntOption(fd, SOL_NETLINK, NETLINK_EXT_ACK, 1, 'NETLINK_EXT_ACK'); // kernel error text
    setIntOption(fd, SOL_NETLINK, NETLINK_CAP_ACK, 1, 'NETLINK_CAP_ACK'); // don't echo our request
    return fd;
  } catch (e) {
    closeQuietly(fd);
    throw e;
  }
}

function sendToKernel(fd: number, msg: Uint8Array, label: string): void {
  const to = new Uint8Array(SOCKADDR_NL_SIZE);
  to[0] = AF_NETLINK; // pid 0: the kernel
  if (libc.sendto(fd, addressOf(msg), msg.length, 0, addressOf(to), to.length) < 0) {
    throw sysError('sendto', `netlink ${label}`, NEEDS_NET_ADMIN);
  }
}

/**
 * Sends one request that changes something (built with NLM_F_ACK) and waits for its
 * ack. A refusal throws a SyscallError (syscall 'netlink', errnoName from the ack)
 * whose message is "netlink <label>: <errno> (<text>) — <hint>; kernel: <extack>",
 * the hint from `hints` (else, for EPERM/EACCES, that CAP_NET_ADMIN is needed).
 */
export function rtnlRequest(msg: Uint8Array, sequence: number, label: string, hints: Hints): void {
  const fd = openRtnetlink();
  try {
    sendToKernel(fd, msg, label);
    awaitAck(fd, sequence, label, hints);
  } finally {
    closeQuietly(fd);
  }
}

/**
 * Sends one GET request and collects the answers of type `answer`, each parsed by
 * `parse` (null: skipped) from its payload v[at, end): until NLMSG_DONE for a dump,
 * else the first one. A kernel error (NLMSG_ERROR) throws as rtnlRequest's.
 */
export function rtnlQuery<T>(
  msg: Uint8Array,
  sequence: number,
  label: string,
  dump: boolean,
  answer: number,
  parse: (v: DataView, at: number, end: number) => T | null,
  hints: Hints = {},
): T[] {
  const fd = openRtnetlink();
  try {
    sendToKernel(fd, msg, label);
    const out: T[] = [];
    const buf = new Uint8Array(65536);
    const deadline = Date.now() + ACK_TIMEOUT_MS;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) throw sysError('netlink', `netlink ${label}`, { ETIMEDOUT: `no answer from the kernel in ${ACK_TIMEOUT_MS} ms` }, ETIMEDOUT);
      if (pollFd(fd, POLLIN, left) === 0) continue;
      const n = libc.recvfrom(fd, addressOf(buf), buf.length, 0, 0, 0);
      if (n < 0) throw sysError('recvfrom', `netlink ${label}`);
      const v = new DataView(buf.buffer, 0, n);
      for (let off = 0; off + NLMSG_HDRLEN <= n; ) {
        const len = v.getUint32(off, true);
        if (len < NLMSG_HDRLEN || off + len > n) break;
        const type = v.getUint16(off + 4, true);
        if (v.getUint32(off + 8, true) === sequence) {
          if (type === NLMSG_DONE) return out;
          if (type === NLMSG_ERROR) {
            const error = v.getInt32(off + NLMSG_HDRLEN, true);
            if (error !== 0) throw netlinkError(label, -error, extAckMessage(buf, off, len, v.getUint16(off + 6, true)), hints);
          } else if (type === answer) {
            const entry = parse(v, off + NLMSG_HDRLEN, off + len);
            if (entry !== null) out.push(entry);
            if (!dump && out.length > 0) return out;
          }
        }
        off += (len + 3) & ~3;
      }
    }
  } finally {
    closeQuietly(fd);
  }
}

function awaitAck(fd: number, sequence: number, label: string, hints: Hints): void {
  const buf = new Uint8Array(8192);
  const deadline = Date.now() + ACK_TIMEOUT_MS;
  for (;;) {
    // The kernel always acks NLM_F_ACK requests; a bound wait keeps a lost ack from hanging
    // us. pollFd returns 0 on a signal too, hence the deadline rather than one timeout.
    const left = deadline - Date.now();
    if (left <= 0) {
      throw sysError('netlink', `netlink ${label}`, { ETIMEDOUT: `no ack from the kernel in ${ACK_TIMEOUT_MS} ms` }, ETIMEDOUT);
    }
    if (pollFd(fd, POLLIN, left) === 0) continue;
    const n = libc.recvfrom(fd, addressOf(buf), buf.length, 0, 0, 0);
    if (n < 0) throw sysError('recvfrom', `netlink ${label} (waiting for the ack)`);
    const v = new DataView(buf.buffer, 0, n);
    for (let off = 0; off + NLMSG_HDRLEN <= n; ) {
      const len = v.getUint32(off, true);
      if (len < NLMSG_HDRLEN) break;
      if (v.getUint16(off + 4, true) === NLMSG_ERROR && v.getUint32(off + 8, true) === sequence) {
        const error = v.getInt32(off + NLMSG_HDRLEN, true);
        if (error === 0) return;
        throw netlinkError(label, -error, extAckMessage(buf, off, len, v.getUint16(off + 6, true)), hints);
      }
      off += (len + 3) & ~3;
    }
  }
}

/** errno from the ack, with the caller's hint (else the capability hint for EPERM/EACCES) and the kernel's own words. */
function netlinkError(label: string, errno: number, kernel: string | undefined, hints: Hints): SyscallError {
  const name = errnoName(errno);
  const hint = [hints[name] ?? NEEDS_NET_ADMIN[name], kernel && `kernel: ${kernel}`].filter(Boolean).join('; ');
  return sysError('netlink', `netlink ${label}`, hint ? { [name]: hint } : undefined, errno);
}

/** The NLMSGERR_ATTR_MSG string after a capped nlmsgerr (error + request header). */
function extAckMessage(buf: Uint8Array, off: number, len: number, flags: number): string | undefined {
  if ((flags & NLM_F_ACK_TLVS) === 0) return undefined;
  const v = new DataView(buf.buffer);
  for (let a = off + NLMSG_HDRLEN + 4 + NLMSG_HDRLEN; a + 4 <= off + len; ) {
    const alen = v.getUint16(a, true);
    if (alen < 4) break;
    if ((v.getUint16(a + 2, true) & 0x3fff) === NLMSGERR_ATTR_MSG) {
      const end = buf.indexOf(0, a + 4);
      return Buffer.from(buf.buffer, a + 4, (end < 0 ? a + alen : Math.min(end, a + alen)) - a - 4).toString('utf8');
    }
    a += (alen + 3) & ~3;
  }
  return undefined;
}
