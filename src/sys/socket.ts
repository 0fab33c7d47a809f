// Calls shared by weft's datagram sockets (UDP, raw IP-in-IP): options, bind,
// one-datagram send/receive, readiness. Batches are in mmsg.ts.

import { EAGAIN, EINTR, addressOf, checkRange, lastErrno, libc, pollFd, scratch, sysError, type Hints } from './libc.js';
import {
  POLLIN,
  POLLOUT,
  SOCKADDR_IN_SIZE,
  SOL_SOCKET,
  SO_RCVBUF,
  SO_RCVBUFFORCE,
  SO_SNDBUF,
  SO_SNDBUFFORCE,
} from './constants.js';
import { formatIPv4 } from '../../native-free/addr.js';
import { sockaddrAddr, sockaddrPort, writeSockaddrIn } from './sockaddr.js';

/** A source or destination; receive calls fill one in place (no object per packet). */
export interface Peer {
  addr: number;
  port: number;
}

const BIND_HINTS: Hints = {
  EADDRINUSE: 'another socket holds this address and port: a kernel VXLAN device (flannel.1, see ip -d link show type vxlan: delete it first), another weft, or a socket without SO_REUSEPORT',
  EADDRNOTAVAIL: 'the address is not configured on an interface in this network namespace',
  EACCES: 'ports below 1024 need CAP_NET_BIND_SERVICE',
};

const SEND_HINTS: Hints = {
  EMSGSIZE: 'the datagram is larger than the socket or path MTU allows',
  ENETUNREACH: 'no route to the destination in this network namespace',
  EHOSTUNREACH: 'no route to the destination in this network namespace',
  ENOBUFS: 'the device queue is full; retry or drop',
};

const opt = scratch(8);
const name = scratch(SOCKADDR_IN_SIZE + 4); // sockaddr + socklen_t
const peerAddr = scratch(SOCKADDR_IN_SIZE);
const peerLen = scratch(4);

export function setIntOption(fd: number, level: number, option: number, value: number, label: string): void {
  opt.view.setInt32(0, value, true);
  if (libc.setsockopt(fd, level, option, opt.ptr, 4) < 0) {
    throw sysError('setsockopt', `setsockopt ${label}=${value} on fd ${fd}`, { EPERM: `${label} needs CAP_NET_ADMIN` });
  }
}

export function getIntOption(fd: number, level: number, option: number, label: string): number {
  opt.view.setUint32(4, 4, true);
  if (libc.getsockopt(fd, level, option, opt.ptr, opt.ptr + 4) < 0) {
    throw sysError('getsockopt', `getsockopt ${label} on fd ${fd}`);
  }
  return opt.view.getInt32(0, true);
}

/**
 * SO_RCVBUF / SO_SNDBUF. The *FORCE variant (needs CAP_NET_ADMIN) ignores
 * net.core.rmem_max/wmem_max; without the capability fall back to the capped one.
 */
export function setBufferSize(fd: number, which: 'rcv' | 'snd', bytes: number): void {
  const [force, plain, label] =
    which === 'rcv' ? [SO_RCVBUFFORCE, SO_RCVBUF, 'SO_RCVBUF'] : [SO_SNDBUFFORCE, SO_SNDBUF, 'SO_SNDBUF'];
  try {
    setIntOption(fd, SOL_SOCKET, force, bytes, `${label}FORCE`);
  } catch {
    setIntOption(fd, SOL_SOCKET, plain, bytes, label);
  }
}

export function bindIPv4(fd: number, addr: number, port: number): void {
  writeSockaddrIn(name.buf, 0, addr, port);
  if (libc.bind(fd, name.ptr, SOCKADDR_IN_SIZE) < 0) {
    throw sysError('bind', `bind ${formatIPv4(addr)}:${port}`, BIND_HINTS);
  }
}

/**
 * connect() a bound UDP socket to addr:port. A connected socket only receives from
 * that peer, and leaves the SO_REUSEPORT selection (Linux 6.13+ takes it out of the
 * group on connect, and does not put it back on disconnect; older kernels pass
 * over connected sockets when they select). weft connects a socket to itself (its
 * own address, port 1: nothing sends from there) to stop it receiving, for good,
 * without closing it. Sends with an explicit destination still work.
 */
export function connectIPv4(fd: number, addr: number, port: number): void {
  writeSockaddrIn(name.buf, 0, addr, port);
  if (libc.connect(fd, name.ptr, SOCKADDR_IN_SIZE) < 0) throw sysError('connect', `connect fd ${fd} to ${formatIPv4(addr)}:${port}`);
}

/** The address and port a socket is bound to (useful after binding port 0). */
export function localAddress(fd: number): Peer {
  name.view.setUint32(SOCKADDR_IN_SIZE, SOCKADDR_IN_SIZE, true);
  if (libc.getsockname(fd, name.ptr, name.ptr + SOCKADDR_IN_SIZE) < 0) {
    throw sysError('getsockname', `getsockname fd ${fd}`);
  }
  return { addr: sockaddrAddr(name.buf, 0), port: sockaddrPort(name.buf, 0) };
}

/** Sends buf[off, off+len) to addr:port; returns bytes sent, or -1 if the socket would block. */
export function sendTo(fd: number, buf: Uint8Array, off: number, len: number, addr: number, port: number): number {
  checkRange(buf, off, len, 'sendTo');
  writeSockaddrIn(peerAddr.buf, 0, addr, port);
  for (;;) {
    const n = libc.sendto(fd, addressOf(buf) + off, len, 0, peerAddr.ptr, SOCKADDR_IN_SIZE);
    if (n >= 0) return n;
    const errno = lastErrno();
    if (errno === EAGAIN) return -1;
    if (errno !== EINTR) throw sysError('sendto', `sendto ${formatIPv4(addr)}:${port}`, SEND_HINTS, errno);
  }
}

/**
 * Receives one datagram into buf[off, off+maxLen); returns its length (cut to maxLen),
 * or -1 if nothing is waiting on a nonblocking socket. Fills `from` when given.
 */
export function recvFrom(fd: number, buf: Uint8Array, off: number, maxLen: number, from?: Peer): number {
  checkRange(buf, off, maxLen, 'recvFrom');
  for (;;) {
    peerLen.view.setUint32(0, SOCKADDR_IN_SIZE, true);
    const n = libc.recvfrom(fd, addressOf(buf) + off, maxLen, 0, peerAddr.ptr, peerLen.ptr);
    if (n >= 0) {
      if (from) {
        from.addr = sockaddrAddr(peerAddr.buf, 0);
        from.port = sockaddrPort(peerAddr.buf, 0);
      }
      return n;
    }
    const errno = lastErrno();
    if (errno === EAGAIN) return -1;
    if (errno !== EINTR) throw sysError('recvfrom', `recvfrom fd ${fd}`, undefined, errno);
  }
}

/** True when fd is readable (or has an error to report) within timeoutMs. */
export function waitReadable(fd: number, timeoutMs: number): boolean {
  return pollFd(fd, POLLIN, timeoutMs) !== 0;
}

export function waitWritable(fd: number, timeoutMs: number): boolean {
  return pollFd(fd, POLLOUT, timeoutMs) !== 0;
}
