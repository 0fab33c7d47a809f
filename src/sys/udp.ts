// UDP sockets made with libc rather than dgram: dgram costs one libuv round trip per
// datagram (~270k/s) and has no SO_REUSEPORT. Here each worker can own a socket
// bound to the same port (SO_REUSEPORT: the kernel spreads flows across them) and
// move datagrams in batches (mmsg.ts). Send/receive: socket.ts and mmsg.ts.

import { closeQuietly, libc, sysError } from './libc.js';
import {
  AF_INET,
  IPPROTO_UDP,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOL_SOCKET,
  SO_REUSEADDR,
  SO_REUSEPORT,
} from './constants.js';
import { bindIPv4, setBufferSize, setIntOption } from './socket.js';
import { checkPort, toAddr } from './sockaddr.js';

export interface UdpOptions {
  /** SO_REUSEADDR; default true. */
  reuseAddr?: boolean;
  /** SO_REUSEPORT, so one socket per worker can share the port; default true. */
  reusePort?: boolean;
  /** O_NONBLOCK: receive calls return "nothing" instead of waiting; default true. */
  nonBlocking?: boolean;
  /** SO_RCVBUF/SO_SNDBUF in bytes (socket.ts setBufferSize). */
  rcvBuf?: number;
  sndBuf?: number;
}

/** A UDP socket bound to addr:port (0.0.0.0 / 0 for any); returns the fd. */
export function openUdp(addr: number | string, port: number, o: UdpOptions = {}): number {
  const a = toAddr(addr);
  checkPort(port);
  const type = SOCK_DGRAM | SOCK_CLOEXEC | (o.nonBlocking === false ? 0 : SOCK_NONBLOCK);
  const fd = libc.socket(AF_INET, type, IPPROTO_UDP);
  if (fd < 0) throw sysError('socket', 'socket AF_INET SOCK_DGRAM');
  try {
    if (o.reuseAddr !== false) setIntOption(fd, SOL_SOCKET, SO_REUSEADDR, 1, 'SO_REUSEADDR');
    if (o.reusePort !== false) setIntOption(fd, SOL_SOCKET, SO_REUSEPORT, 1, 'SO_REUSEPORT');
    if (o.rcvBuf !== undefined) setBufferSize(fd, 'rcv', o.rcvBuf);
    if (o.sndBuf !== undefined) setBufferSize(fd, 'snd', o.sndBuf);
    bindIPv4(fd, a, port);
    return fd;
  } catch (e) {
    closeQuietly(fd);
    throw e;
  }
}

export { sendTo, recvFrom, localAddress, waitReadable, waitWritable, type Peer } from './socket.js';
export { PacketSlab, MmsgVector, sendBatch, recvBatch } from './mmsg.js';
