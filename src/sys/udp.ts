// UDP sockets made with libc rather than dgram: dgram costs one libuv round trip per
// datagram (~270k/s) and has no SO_REUSEPORT. Here each worker can own a socket
// bound to the same port (SO_REUSEPORT: the kernel spreads flows across them) and
// move datagrams in batches (mmsg.ts). Send/receive: socket.ts and mmsg.ts.

import { closeQuietly, lastErrno, libc, scratch, sysError, type Hints } from './libc.js';
import {
  AF_INET,
  AF_INET6,
  EINVAL,
  ENOPROTOOPT,
  EOPNOTSUPP,
  IPPROTO_IPV6,
  IPPROTO_UDP,
  IPV6_V6ONLY,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOL_SOCKET,
  SO_REUSEADDR,
  SO_REUSEPORT,
  SOL_UDP,
  UDP_GRO,
  UDP_SEGMENT,
} from './constants.js';
import { setReceiving } from './deaf.js';
import { bindIPv4, bindIPv6, localAddress, setBufferSize, setIntOption } from './socket.js';
import { checkPort, toAddr, toAddr6 } from './sockaddr.js';

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

/**
 * A send-only UDP socket on addr and a port of the kernel's choosing; returns
 * the fd and the port. For source-port entropy (the worker picks one of a few
 * such sockets by inner flow hash, so the outer UDP source port varies by
 * flow as the kernel's VXLAN varies it, udp_flow_src_port).
 *
 * Port 0: the kernel takes a free port from net.ipv4.ip_local_port_range, the
 * range its own VXLAN draws source ports from, and that port is then ours
 * alone. Binding chosen ports in that range instead would collide with other
 * programs' ephemeral ports, and with a second weft's send sockets during a
 * rolling update; what matters for entropy is only that flows map to different
 * ports, not which ports. Neither SO_REUSEADDR nor SO_REUSEPORT is set: a port
 * shared with another socket could be handed to it again (UDP's port-0 search
 * passes over ports whose sockets all allow reuse), and nothing may join the
 * VXLAN port's SO_REUSEPORT group through this socket.
 *
 * Deaf from the start (deaf.ts): the drop-all filter is attached before bind,
 * so whatever is sent to the port is dropped by the kernel before it is
 * queued, counted in the socket's drops (receiveStats), and never reaches weft.
 * The receive buffer is asked for the minimum besides.
 */
export function openSendOnlyUdp(addr: number | string, o: { sndBuf?: number } = {}): { fd: number; port: number } {
  const a = toAddr(addr);
  const fd = libc.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_UDP);
  if (fd < 0) throw sysError('socket', 'socket AF_INET SOCK_DGRAM');
  try {
    setReceiving(fd, false);
    setBufferSize(fd, 'rcv', 0); // the kernel's floor (SOCK_MIN_RCVBUF)
    if (o.sndBuf !== undefined) setBufferSize(fd, 'snd', o.sndBuf);
    bindIPv4(fd, a, 0);
    return { fd, port: localAddress(fd).port };
  } catch (e) {
    closeQuietly(fd);
    throw e;
  }
}

const SOCKET6_HINTS: Hints = {
  EAFNOSUPPORT: 'this kernel has no IPv6 (booted with ipv6.disable=1, or built without CONFIG_IPV6): see ipv6Status() in sys/ipv6.ts',
};

/**
 * An IPv6 UDP socket bound to addr:port (text or 16 bytes; "::" / 0 for any), options
 * as openUdp's; returns the fd. IPV6_V6ONLY is set before bind, so the socket never
 * receives IPv4 (mapped ::ffff:a.b.c.d) traffic and a send to a mapped address fails
 * (ENETUNREACH): a node's v4 and v6 sockets on the same port stay apart, even on the
 * wildcard. UDP_SEGMENT and UDP_GRO work on it as on a v4 socket (the kernel's SOL_UDP
 * options are shared; udp_v6_send_skb applies the same GSO limits, segment + 48 header
 * bytes within the route MTU); probe them with udpGsoSupported and enableUdpGro on
 * this fd. Use MmsgVector { family: 6 } with it.
 */
export function openUdp6(addr: string | Uint8Array, port: number, o: UdpOptions = {}): number {
  const a = toAddr6(addr);
  checkPort(port);
  const type = SOCK_DGRAM | SOCK_CLOEXEC | (o.nonBlocking === false ? 0 : SOCK_NONBLOCK);
  const fd = libc.socket(AF_INET6, type, IPPROTO_UDP);
  if (fd < 0) throw sysError('socket', 'socket AF_INET6 SOCK_DGRAM', SOCKET6_HINTS);
  try {
    setIntOption(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1, 'IPV6_V6ONLY');
    if (o.reuseAddr !== false) setIntOption(fd, SOL_SOCKET, SO_REUSEADDR, 1, 'SO_REUSEADDR');
    if (o.reusePort !== false) setIntOption(fd, SOL_SOCKET, SO_REUSEPORT, 1, 'SO_REUSEPORT');
    if (o.rcvBuf !== undefined) setBufferSize(fd, 'rcv', o.rcvBuf);
    if (o.sndBuf !== undefined) setBufferSize(fd, 'snd', o.sndBuf);
    bindIPv6(fd, a, port);
    return fd;
  } catch (e) {
    closeQuietly(fd);
    throw e;
  }
}

// ---- UDP offloads ----

const offloadOpt = scratch(4);

/** errnos meaning "this kernel (or socket type) does not know the option". */
function unsupported(errno: number): boolean {
  return errno === ENOPROTOOPT || errno === EINVAL || errno === EOPNOTSUPP;
}

/** setsockopt(SOL_UDP, option, value): true if accepted, false if unsupported, else throws. */
function setUdpOffload(fd: number, option: number, value: number, label: string): boolean {
  offloadOpt.view.setInt32(0, value, true);
  if (libc.setsockopt(fd, SOL_UDP, option, offloadOpt.ptr, 4) === 0) return true;
  const errno = lastErrno();
  if (unsupported(errno)) return false;
  throw sysError('setsockopt', `setsockopt SOL_UDP ${label}=${value} on fd ${fd}`, undefined, errno);
}

/**
 * Turns on UDP GRO for receiving (setsockopt SOL_UDP UDP_GRO 1, Linux 5.0+): the
 * kernel may then hand this socket several same-size datagrams of one flow as one
 * buffer, with their size in a UDP_GRO cmsg (MmsgVector { control: true }, gsoSize).
 * A socket with it must be read with such a vector and buffers up to 64 KiB, and must
 * split what it gets. Separately sent datagrams are coalesced by the receiving
 * device's GRO (GRO on, datagrams of one flow arriving in one NAPI poll). A
 * UDP_SEGMENT (GSO) send that reaches this socket unsegmented (over loopback when the
 * frame is below lo's 64 KiB gso_max_size, over veth) arrives whole the same way;
 * without UDP_GRO the kernel segments it on delivery. Side effect: while such a socket is open, the kernel's UDP GRO path
 * looks up sockets for every UDP packet (udp_encap_needed_key, system-wide).
 * Returns false when the kernel refuses the option as unknown/unsupported (ENOPROTOOPT,
 * EINVAL, EOPNOTSUPP); other errors (EBADF, ENOTSOCK, ...) throw a SyscallError.
 * Works the same on an openUdp6 socket (udpv6_setsockopt hands SOL_UDP to the code
 * both families share; IPv6 GRO is udp6_gro_receive); its flag is per socket.
 */
export function enableUdpGro(fd: number): boolean {
  return setUdpOffload(fd, UDP_GRO, 1, 'UDP_GRO');
}

/**
 * Whether the kernel knows UDP_SEGMENT (GSO sends, Linux 4.18+): probed with
 * setsockopt SOL_UDP UDP_SEGMENT 0 on fd (a UDP socket), which is also the default, so
 * nothing changes; ENOPROTOOPT/EINVAL/EOPNOTSUPP → false, other errors throw.
 * True does not promise every GSO send works: a send fails with EIO when the route's
 * device cannot checksum-offload (udp_send_skb: skb not CHECKSUM_PARTIAL, e.g. TUN or
 * tx checksumming off; Linux 6.11+ segments and checksums in software instead) or the
 * route goes through xfrm; with EINVAL beyond UDP_MAX_SEGMENTS (64; 128 since 6.11
 * and in stable kernels from late 2024) segments; with EMSGSIZE when a segment plus headers exceeds the route MTU. So
 * senders must also fall back to plain datagrams at send time (sendBatch throws a
 * SyscallError: read its errnoName). GSO also needs UDP checksums on: a socket with
 * SO_NO_CHECK gets EINVAL for every GSO send. The same holds for an openUdp6
 * socket (udp_v6_send_skb has the same checks, with 48 header bytes: segment ≤
 * route MTU − 48), so probe each socket, v4 and v6, on its own fd.
 */
export function udpGsoSupported(fd: number): boolean {
  return setUdpOffload(fd, UDP_SEGMENT, 0, 'UDP_SEGMENT');
}

export { receiveStats, setReceiving } from './deaf.js';
export { sendTo, recvFrom, localAddress, localAddress6, waitReadable, waitWritable, type Peer } from './socket.js';
export { PacketSlab, MmsgVector, sendBatch, recvBatch, type MmsgVectorOptions } from './mmsg.js';
