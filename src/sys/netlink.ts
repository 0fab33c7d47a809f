// IPv4 routes through rtnetlink (a NETLINK_ROUTE socket), not by running `ip`: one
// request, one acknowledgement, and the kernel's own error text (extended ack) goes
// into the SyscallError, e.g. "... ENETUNREACH (network is unreachable) — kernel:
// Nexthop has invalid gateway". Routes apply to the calling thread's namespace.

import { InvalidArgumentError } from '../../native-free/errors.js';
import { NEEDS_NET_ADMIN, addressOf, closeQuietly, errnoName, libc, pollFd, sysError } from './libc.js';
import type { SyscallError } from './errors.js';
import {
  AF_INET,
  AF_NETLINK,
  NETLINK_CAP_ACK,
  NETLINK_EXT_ACK,
  NETLINK_ROUTE,
  NLMSGERR_ATTR_MSG,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_HDRLEN,
  NLM_F_ACK,
  NLM_F_ACK_TLVS,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  NLM_F_REQUEST,
  POLLIN,
  RTA_DST,
  RTA_GATEWAY,
  RTA_OIF,
  RTA_PREFSRC,
  RTA_PRIORITY,
  RTA_TABLE,
  RTMSG_SIZE,
  RTM_DELROUTE,
  RTM_GETROUTE,
  RTM_NEWROUTE,
  RTN_BLACKHOLE,
  RTN_UNICAST,
  RTPROT_STATIC,
  RT_SCOPE_LINK,
  RT_SCOPE_UNIVERSE,
  RT_TABLE_MAIN,
  SOCKADDR_NL_SIZE,
  SOCK_CLOEXEC,
  SOCK_RAW,
  SOL_NETLINK,
} from './constants.js';
import { ifIndex } from './link.js';
import { setIntOption } from './socket.js';
import { formatIPv4 } from '../../native-free/addr.js';
import { toAddr } from './sockaddr.js';

const RT_SCOPE_NOWHERE = 255; // on delete: match any scope
const ETIMEDOUT = 110;
const ACK_TIMEOUT_MS = 5000;

export interface Route {
  dst: number | string;
  prefixLen: number;
  /** Output device, by name or index; one of them or a gateway is needed. */
  dev?: string;
  ifindex?: number;
  gateway?: number | string;
  /** Preferred source address for locally originated traffic. */
  src?: number | string;
  metric?: number;
  /** Default: main (254). */
  table?: number;
  /** rtm_protocol, lets weft find its own routes; default RTPROT_STATIC (4). */
  protocol?: number;
  /** A blackhole route discards what it matches; it has no device or gateway. Default: unicast. */
  blackhole?: boolean;
}

/** Adds the route, or replaces the one with the same destination. */
export function replaceRoute(r: Route): void {
  request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, r);
}

/** Adds the route; EEXIST if there is one for this destination already. */
export function addRoute(r: Route): void {
  request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, r);
}

export function deleteRoute(r: Route): void {
  request(RTM_DELROUTE, 0, r);
}

/** One IPv4 route as the kernel answers it (`ip -4 route show table all`, `ip route get`). */
export interface RouteEntry {
  dst: string;
  prefixLen: number;
  table: number;
  protocol: number;
  /** rtm_type: 1 unicast, 2 local, 3 broadcast, 6 blackhole, … */
  type: number;
  oif: number | null;
  gateway: string | null;
  prefsrc: string | null;
  metric: number;
}

/** Every IPv4 route of every table in this namespace, by one RTM_GETROUTE dump. */
export function listRoutes(): RouteEntry[] {
  return getRoute(NLM_F_REQUEST | NLM_F_DUMP, null, 'netlink RTM_GETROUTE (dump)');
}

/**
 * The kernel's route to one IPv4 address (as `ip route get`), in the calling
 * thread's network namespace. Throws the kernel's error (e.g. ENETUNREACH) when
 * there is none.
 */
export function routeGet(dst: string | number): RouteEntry {
  const addr = toAddr(dst);
  return getRoute(NLM_F_REQUEST, addr, `netlink RTM_GETROUTE ${formatIPv4(addr)}`)[0]!;
}

/** One RTM_GETROUTE: a dump (every route, to NLMSG_DONE), or the route to `addr` (one answer). */
function getRoute(flags: number, addr: number | null, label: string): RouteEntry[] {
  const req = new Uint8Array(NLMSG_HDRLEN + RTMSG_SIZE + (addr === null ? 0 : 8));
  const v = new DataView(req.buffer);
  const sequence = ++seq;
  v.setUint32(0, req.length, true);
  v.setUint16(4, RTM_GETROUTE, true);
  v.setUint16(6, flags, true);
  v.setUint32(8, sequence, true);
  req[NLMSG_HDRLEN] = AF_INET;
  if (addr !== null) {
    req[NLMSG_HDRLEN + 1] = 32; // rtm_dst_len
    v.setUint16(NLMSG_HDRLEN + RTMSG_SIZE, 8, true);
    v.setUint16(NLMSG_HDRLEN + RTMSG_SIZE + 2, RTA_DST, true);
    v.setUint32(NLMSG_HDRLEN + RTMSG_SIZE + 4, addr, false);
  }
  const fd = openRtnetlink();
  try {
    const to = new Uint8Array(SOCKADDR_NL_SIZE);
    to[0] = AF_NETLINK;
    if (libc.sendto(fd, addressOf(req), req.length, 0, addressOf(to), to.length) < 0) throw sysError('sendto', label);
    return readRoutes(fd, sequence, label, addr === null);
  } finally {
    closeQuietly(fd);
  }
}

/** The answers to request `sequence`: every route until NLMSG_DONE (a dump), or the first one. */
function readRoutes(fd: number, sequence: number, label: string, dump: boolean): RouteEntry[] {
  const out: RouteEntry[] = [];
  const buf = new Uint8Array(65536);
  const deadline = Date.now() + ACK_TIMEOUT_MS;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) throw sysError('netlink', label, { ETIMEDOUT: `no answer from the kernel in ${ACK_TIMEOUT_MS} ms` }, ETIMEDOUT);
    if (pollFd(fd, POLLIN, left) === 0) continue;
    const n = libc.recvfrom(fd, addressOf(buf), buf.length, 0, 0, 0);
    if (n < 0) throw sysError('recvfrom', label);
    const v = new DataView(buf.buffer, 0, n);
    for (let off = 0; off + NLMSG_HDRLEN <= n; ) {
      const len = v.getUint32(off, true);
      if (len < NLMSG_HDRLEN || off + len > n) break;
      const type = v.getUint16(off + 4, true);
      if (v.getUint32(off + 8, true) === sequence) {
        if (type === NLMSG_DONE) return out;
        if (type === NLMSG_ERROR) {
          const error = v.getInt32(off + NLMSG_HDRLEN, true);
          if (error !== 0) throw netlinkError(label.replace(/^netlink /, ''), -error, undefined);
        } else if (type === RTM_NEWROUTE && len >= NLMSG_HDRLEN + RTMSG_SIZE) {
          const entry = parseRoute(v, off + NLMSG_HDRLEN, off + len);
          if (entry !== null) out.push(entry);
          if (!dump && out.length > 0) return out;
        }
      }
      off += (len + 3) & ~3;
    }
  }
}

function parseRoute(v: DataView, at: number, end: number): RouteEntry | null {
  if (v.getUint8(at) !== AF_INET) return null;
  const entry: RouteEntry = {
    dst: '0.0.0.0',
    prefixLen: v.getUint8(at + 1),
    table: v.getUint8(at + 4),
    protocol: v.getUint8(at + 5),
    type: v.getUint8(at + 7),
    oif: null,
    gateway: null,
    prefsrc: null,
    metric: 0,
  };
  for (let a = at + RTMSG_SIZE; a + 4 <= end; ) {
    const alen = v.getUint16(a, true);
    if (alen < 4 || a + alen > end) break;
    const t = v.getUint16(a + 2, true) & 0x3fff;
    if (alen >= 8) {
      if (t === RTA_DST) entry.dst = formatIPv4(v.getUint32(a + 4, false));
      else if (t === RTA_GATEWAY) entry.gateway = formatIPv4(v.getUint32(a + 4, false));
      else if (t === RTA_PREFSRC) entry.prefsrc = formatIPv4(v.getUint32(a + 4, false));
      else if (t === RTA_OIF) entry.oif = v.getUint32(a + 4, true);
      else if (t === RTA_TABLE) entry.table = v.getUint32(a + 4, true);
      else if (t === RTA_PRIORITY) entry.metric = v.getUint32(a + 4, true);
    }
    a += (alen + 3) & ~3;
  }
  return entry;
}

let seq = 0;

function request(type: number, flags: number, r: Route): void {
  const msg = buildRouteMessage(type, flags, r, ++seq);
  const label = `${type === RTM_NEWROUTE ? 'RTM_NEWROUTE' : 'RTM_DELROUTE'} ${describe(r)}`;
  const fd = openRtnetlink();
  try {
    const to = new Uint8Array(SOCKADDR_NL_SIZE);
    to[0] = AF_NETLINK; // pid 0: the kernel
    if (libc.sendto(fd, addressOf(msg), msg.length, 0, addressOf(to), to.length) < 0) {
      throw sysError('sendto', `netlink ${label}`, NEEDS_NET_ADMIN);
    }
    awaitAck(fd, seq, label);
  } finally {
    closeQuietly(fd);
  }
}

function openRtnetlink(): number {
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

function describe(r: Route): string {
  const parts = [`${r.blackhole === true ? 'blackhole ' : ''}${formatIPv4(toAddr(r.dst))}/${r.prefixLen}`];
  if (r.gateway !== undefined) parts.push(`via ${formatIPv4(toAddr(r.gateway))}`);
  if (r.dev !== undefined) parts.push(`dev ${r.dev}`);
  if (r.ifindex !== undefined) parts.push(`ifindex ${r.ifindex}`);
  return parts.join(' ');
}

// ---- message building ----

export function buildRouteMessage(type: number, flags: number, r: Route, sequence: number): Uint8Array {
  const dst = toAddr(r.dst);
  if (!Number.isInteger(r.prefixLen) || r.prefixLen < 0 || r.prefixLen > 32) {
    throw new InvalidArgumentError(`route prefix length ${r.prefixLen} (0–32)`);
  }
  const mask = r.prefixLen === 0 ? 0 : (0xffffffff << (32 - r.prefixLen)) >>> 0;
  if ((dst & ~mask) >>> 0 !== 0) {
    throw new InvalidArgumentError(`route ${formatIPv4(dst)}/${r.prefixLen} has host bits set`);
  }
  const oif = r.ifindex ?? (r.dev !== undefined ? ifIndex(r.dev) : undefined);
  if (r.blackhole === true && (oif !== undefined || r.gateway !== undefined)) {
    throw new InvalidArgumentError(`blackhole route ${formatIPv4(dst)}/${r.prefixLen} takes no device or gateway`);
  }
  if (type === RTM_NEWROUTE && r.blackhole !== true && oif === undefined && r.gateway === undefined) {
    throw new InvalidArgumentError(`route ${formatIPv4(dst)}/${r.prefixLen} needs a device or a gateway`);
  }
  const table = r.table ?? RT_TABLE_MAIN;
  const del = type === RTM_DELROUTE;

  const b = new Uint8Array(NLMSG_HDRLEN + RTMSG_SIZE + 6 * 8);
  const v = new DataView(b.buffer);
  let off = NLMSG_HDRLEN;
  b[off] = AF_INET;
  b[off + 1] = r.prefixLen;
  b[off + 4] = table < 256 ? table : 0; // rtm_table is 8 bits; RTA_TABLE carries all 32
  b[off + 5] = del ? 0 : (r.protocol ?? RTPROT_STATIC);
  b[off + 6] = del ? RT_SCOPE_NOWHERE : r.gateway === undefined && r.blackhole !== true ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
  // On delete, rtm_type 0 matches any type, except that a blackhole is named as one.
  b[off + 7] = r.blackhole === true ? RTN_BLACKHOLE : del ? 0 : RTN_UNICAST;
  off += RTMSG_SIZE;

  const u32Attr = (t: number, x: number, bigEndian: boolean): void => {
    v.setUint16(off, 8, true);
    v.setUint16(off + 2, t, true);
    v.setUint32(off + 4, x, !bigEndian);
    off += 8;
  };
  u32Attr(RTA_DST, dst, true);
  u32Attr(RTA_TABLE, table, false);
  if (oif !== undefined) u32Attr(RTA_OIF, oif, false);
  if (r.gateway !== undefined) u32Attr(RTA_GATEWAY, toAddr(r.gateway), true);
  if (r.src !== undefined) u32Attr(RTA_PREFSRC, toAddr(r.src), true);
  if (r.metric !== undefined) u32Attr(RTA_PRIORITY, r.metric, false);

  v.setUint32(0, off, true);
  v.setUint16(4, type, true);
  v.setUint16(6, NLM_F_REQUEST | NLM_F_ACK | flags, true);
  v.setUint32(8, sequence, true);
  return b.subarray(0, off);
}

// ---- acknowledgement ----

function awaitAck(fd: number, sequence: number, label: string): void {
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
        throw netlinkError(label, -error, extAckMessage(buf, off, len, v.getUint16(off + 6, true)));
      }
      off += (len + 3) & ~3;
    }
  }
}

const ACK_HINTS: Record<string, string> = {
  ESRCH: 'no such route',
  EEXIST: 'a route to this destination exists already (replaceRoute overwrites it)',
  ENODEV: 'the output device does not exist in this network namespace',
};

/** errno from the ack, with the capability hint when it applies and the kernel's own words. */
function netlinkError(label: string, errno: number, kernel: string | undefined): SyscallError {
  const name = errnoName(errno);
  const hint = [NEEDS_NET_ADMIN[name] ?? ACK_HINTS[name], kernel && `kernel: ${kernel}`].filter(Boolean).join('; ');
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
