// Calls shared by weft's datagram sockets (UDP, raw IP-in-IP): options, bind,
// one-datagram send/receive, readiness. Batches are in mmsg.ts.

import { EAGAIN, EINTR, addressOf, checkRange, lastErrno, libc, pollFd, scratch, sysError, type Hints } from './libc.js';
import {
  AF_INET6,
  POLLIN,
  POLLOUT,
  SOCKADDR_IN6_SIZE,
  SOCKADDR_IN_SIZE,
  SOL_SOCKET,
  SO_RCVBUF,
  SO_RCVBUFFORCE,
  SO_SNDBUF,
  SO_SNDBUFFORCE,
} from './constants.js';
import { formatIPv4, formatIPv6 } from '../../native-free/addr.js';
import { sockaddr6Addr, sockaddrAddr, sockaddrFamily, sockaddrPort, writeSockaddrIn, writeSockaddrIn6 } from './sockaddr.js';
import { InvalidArgumentError } from '../../native-free/errors.js';

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

// bind() on an AF_INET6 socket. A v6 address added without `nodad` stays tentative
// (duplicate address detection) for about retrans_timer × dad_transmits, 1 s by
// default and longer with more probes or a slow link, and cannot be bound until then.
const BIND6_HINTS: Hints = {
  EADDRINUSE: 'another socket holds this address and port: a kernel VXLAN device (flannel-v6.1, flannel\'s VXLAN for the IPv6 network; see ip -d link show type vxlan: delete it first), another weft, or a socket without SO_REUSEPORT',
  EADDRNOTAVAIL: 'the address is not configured on an interface in this network namespace, or it is still tentative: an IPv6 address is unusable for ~1–2 s after it is added while duplicate address detection runs (ip -6 addr shows "tentative"; add it with `nodad` to skip DAD), or DAD failed ("dadfailed": another host has it), or IPv6 is disabled on the interface (net.ipv6.conf.<if>.disable_ipv6=1)',
  EACCES: 'ports below 1024 need CAP_NET_BIND_SERVICE',
  EINVAL: 'a link-local address needs its interface (scope id); weft binds global or ULA addresses',
};

const opt = scratch(8);
const name = scratch(SOCKADDR_IN6_SIZE + 4); // sockaddr (either family) + socklen_t
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

/** bind() an AF_INET6 socket to addr[0, 16):port (:: / 0 for any). */
export function bindIPv6(fd: number, addr: Uint8Array, port: number): void {
  writeSockaddrIn6(name.buf, 0, addr, 0, port);
  if (libc.bind(fd, name.ptr, SOCKADDR_IN6_SIZE) < 0) {
    throw sysError('bind', `bind [${formatIPv6(addr)}]:${port}`, BIND6_HINTS);
  }
}

/** connectIPv4 for an AF_INET6 socket (the same use: a socket connected to itself stops receiving). */
export function connectIPv6(fd: number, addr: Uint8Array, port: number): void {
  writeSockaddrIn6(name.buf, 0, addr, 0, port);
  if (libc.connect(fd, name.ptr, SOCKADDR_IN6_SIZE) < 0) {
    throw sysError('connect', `connect fd ${fd} to [${formatIPv6(addr)}]:${port}`);
  }
}

/** The IPv6 address (16 fresh bytes) and port an AF_INET6 socket is bound to. Not per packet. */
export function localAddress6(fd: number): { addr: Uint8Array; port: number } {
  name.view.setUint32(SOCKADDR_IN6_SIZE, SOCKADDR_IN6_SIZE, true);
  if (libc.getsockname(fd, name.ptr, name.ptr + SOCKADDR_IN6_SIZE) < 0) {
    throw sysError('getsockname', `getsockname fd ${fd}`);
  }
  if (sockaddrFamily(name.buf, 0) !== AF_INET6) {
    throw new InvalidArgumentError(`localAddress6: fd ${fd} is not an AF_INET6 socket`);
  }
  const addr = new Uint8Array(16);
  sockaddr6Addr(name.buf, 0, addr, 0);
  return { addr, port: sockaddrPort(name.buf, 0) };
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
