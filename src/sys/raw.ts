// A raw IPv4 socket for IP protocol 4 (IP-in-IP, RFC 2003).
//
// Sending: the kernel builds the outer header (no IP_HDRINCL). We sendto() the inner
// packet with the peer's underlay address as destination, and the kernel fills in
// source (from bind() or the route), protocol 4, TTL, ID, DF/PMTU and the checksum,
// and fragments if it must. JS writes no outer header and needs no headroom, and
// sendmmsg batches with one destination per entry work unchanged (mmsg.ts).
// IP_HDRINCL would let us copy TOS/TTL from the inner header per packet, at the
// price of choosing the source address and checksumming in JS; if that is wanted
// later, IP_TOS/IP_TTL control messages per entry do it without HDRINCL.
//
// Receiving: Linux hands raw IPv4 sockets the whole packet, outer header included;
// the inner packet starts at outerHeaderLength(). The socket gets a copy of every
// protocol-4 packet addressed to this namespace (bind() narrows it to one local
// address); if the kernel's ipip module has a tunnel matching too, it gets one as
// well. No ICMP "protocol unreachable" is sent while a raw socket takes protocol 4.

import { closeQuietly, libc, sysError } from './libc.js';
import { AF_INET, IPPROTO_IPIP, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_RAW } from './constants.js';
import { setReceiving } from './deaf.js';
import { bindIPv4, recvFrom, setBufferSize } from './socket.js';
import { toAddr } from './sockaddr.js';

export interface IpipOptions {
  /** Local underlay address: the outer source, and the only destination received. */
  bindAddr?: number | string;
  /** default true */
  nonBlocking?: boolean;
  /**
   * Start deaf: a filter that drops every packet is attached before bind, and
   * what came in before it is read away, so the socket receives nothing until
   * setReceiving(fd, true). For a second weft beside a running one: every raw
   * socket gets its own copy, so two receiving would deliver each packet twice.
   */
  deaf?: boolean;
  rcvBuf?: number;
  sndBuf?: number;
}

export function openIpip(o: IpipOptions = {}): number {
  const type = SOCK_RAW | SOCK_CLOEXEC | (o.nonBlocking === false ? 0 : SOCK_NONBLOCK);
  const fd = libc.socket(AF_INET, type, IPPROTO_IPIP);
  if (fd < 0) {
    throw sysError('socket', 'socket AF_INET SOCK_RAW IPPROTO_IPIP', {
      EPERM: 'weft needs CAP_NET_RAW for IP-in-IP',
      EACCES: 'weft needs CAP_NET_RAW for IP-in-IP',
    });
  }
  try {
    if (o.deaf) setReceiving(fd, false);
    if (o.bindAddr !== undefined) bindIPv4(fd, toAddr(o.bindAddr), 0);
    if (o.rcvBuf !== undefined) setBufferSize(fd, 'rcv', o.rcvBuf);
    if (o.sndBuf !== undefined) setBufferSize(fd, 'snd', o.sndBuf);
    if (o.deaf) drain(fd);
    return fd;
  } catch (e) {
    closeQuietly(fd);
    throw e;
  }
}

/** Reads and discards what is queued on a nonblocking socket; returns how many. */
export function drain(fd: number): number {
  const buf = new Uint8Array(65536);
  let n = 0;
  while (recvFrom(fd, buf, 0, buf.length) >= 0) n++;
  return n;
}

/** Length of the outer IPv4 header of a received packet at b[off] (IHL × 4). */
export function outerHeaderLength(b: Uint8Array, off: number): number {
  return (b[off]! & 0x0f) * 4;
}

export { setReceiving };

// The inner packet goes out with sendTo(fd, buf, off, len, peer, 0) or sendBatch.
export { sendTo, recvFrom, waitReadable, type Peer } from './socket.js';
