// Routes through rtnetlink (a NETLINK_ROUTE socket), not by running `ip`: one
// request, one acknowledgement, and the kernel's own error text (extended ack) goes
// into the SyscallError, e.g. "... ENETUNREACH (network is unreachable) — kernel:
// Nexthop has invalid gateway". Routes apply to the calling thread's namespace.
// The socket, request/ack and dump code is rtnetlink.ts's, shared with addresses
// (netlink-addr.ts).
//
// IPv4 and IPv6: a route's family is its destination's. A number (0x0af40000) or
// dotted text is IPv4; text with a colon ("fd00:10:244::") or 16 bytes is IPv6, and
// then the gateway and src must be IPv6 too. Differences of the kernel's IPv6 routes
// that callers see: a route without a metric gets 1024 (IP6_RT_PRIO_USER); two routes
// to one destination with different metrics coexist, and replaceRoute replaces the one
// with the same metric only (IPv4: the same destination, tos and priority too); a
// gateway the kernel cannot reach gives EHOSTUNREACH ("Nexthop has invalid gateway"),
// IPv4's ENETUNREACH. listRoutes() stays IPv4 only, listRoutes6() lists IPv6 ones.

import { InvalidArgumentError } from '../../native-free/errors.js';
import type { Hints } from './libc.js';
import {
  AF_INET,
  AF_INET6,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  NLMSG_HDRLEN,
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
} from './constants.js';
import { ifIndex } from './link.js';
import { formatIPv4, formatIPv6, ipv6HasHostBits } from '../../native-free/addr.js';
import { toAddr, toAddr6 } from './sockaddr.js';
import { AttrWriter, nextSeq, rtnlQuery, rtnlRequest } from './rtnetlink.js';

const RT_SCOPE_NOWHERE = 255; // on delete: match any scope

/** An address of either family: u32 or dotted text (IPv4), colon text or 16 bytes (IPv6). */
export type RouteAddr = number | string | Uint8Array;

export interface Route {
  /** IPv4 (u32, "10.244.0.0") or IPv6 ("fd00:10:244::", 16 bytes); the route's family. */
  dst: RouteAddr;
  prefixLen: number;
  /** Output device, by name or index; one of them or a gateway is needed. */
  dev?: string;
  ifindex?: number;
  /** Of the destination's family. */
  gateway?: RouteAddr;
  /** Preferred source address for locally originated traffic (the destination's family). */
  src?: RouteAddr;
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

/**
 * One route as the kernel answers it (`ip -4 route show table all`, `ip route get`);
 * addresses as text of the route's family (IPv6 in RFC 5952 form).
 */
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
  return getRoute(AF_INET, null, 'RTM_GETROUTE (dump)');
}

/**
 * Every IPv6 route of every table in this namespace (`ip -6 route show table all`:
 * the local table's and the kernel's fe80::/64 and multicast routes included).
 */
export function listRoutes6(): RouteEntry[] {
  return getRoute(AF_INET6, null, 'RTM_GETROUTE AF_INET6 (dump)');
}

/**
 * The kernel's route to one address (as `ip route get`), IPv4 or IPv6 by the
 * address, in the calling thread's network namespace. Throws the kernel's error
 * (ENETUNREACH) when there is none.
 */
export function routeGet(dst: RouteAddr): RouteEntry {
  const a = addrOf(dst);
  return getRoute(a.family, a.bytes, `RTM_GETROUTE ${a.text}`)[0]!;
}

interface Addr {
  family: number; // AF_INET or AF_INET6
  bytes: Uint8Array; // 4 or 16, network order
  text: string;
}

function isV6(a: RouteAddr): boolean {
  return a instanceof Uint8Array || (typeof a === 'string' && a.includes(':'));
}

function addrOf(a: RouteAddr): Addr {
  if (isV6(a)) {
    const bytes = toAddr6(a as string | Uint8Array);
    return { family: AF_INET6, bytes, text: formatIPv6(bytes) };
  }
  const u = toAddr(a as number | string);
  const bytes = new Uint8Array([u >>> 24, (u >>> 16) & 0xff, (u >>> 8) & 0xff, u & 0xff]);
  return { family: AF_INET, bytes, text: formatIPv4(u) };
}

/** addrOf, and refused unless of `family` (what names the address in the error). */
function addrOfFamily(a: RouteAddr, family: number, what: string, route: string): Addr {
  const x = addrOf(a);
  if (x.family !== family) {
    throw new InvalidArgumentError(
      `route ${route}: ${what} ${x.text} is ${x.family === AF_INET6 ? 'IPv6' : 'IPv4'}, the destination ${family === AF_INET6 ? 'IPv6' : 'IPv4'}`,
    );
  }
  return x;
}

function formatBytes(family: number, v: DataView, at: number): string {
  if (family === AF_INET) return formatIPv4(v.getUint32(at, false));
  return formatIPv6(new Uint8Array(v.buffer, v.byteOffset + at, 16).slice());
}

/** One RTM_GETROUTE: a dump (every route of the family, to NLMSG_DONE), or the route to `addr` (one answer). */
function getRoute(family: number, addr: Uint8Array | null, label: string): RouteEntry[] {
  const w = new AttrWriter(NLMSG_HDRLEN + RTMSG_SIZE + 20, NLMSG_HDRLEN + RTMSG_SIZE);
  w.b[NLMSG_HDRLEN] = family;
  if (addr !== null) {
    w.b[NLMSG_HDRLEN + 1] = addr.length * 8; // rtm_dst_len: 32 or 128
    w.bytes(RTA_DST, addr);
  }
  const sequence = nextSeq();
  const msg = w.finish(RTM_GETROUTE, addr === null ? NLM_F_DUMP : 0, sequence);
  return rtnlQuery(msg, sequence, label, addr === null, RTM_NEWROUTE, (v, at, end) =>
    end - at >= RTMSG_SIZE ? parseRoute(v, at, end, family) : null,
  );
}

function parseRoute(v: DataView, at: number, end: number, family: number): RouteEntry | null {
  if (v.getUint8(at) !== family) return null;
  const alen = family === AF_INET ? 4 : 16;
  const entry: RouteEntry = {
    dst: family === AF_INET ? '0.0.0.0' : '::',
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
    const len = v.getUint16(a, true);
    if (len < 4 || a + len > end) break;
    const t = v.getUint16(a + 2, true) & 0x3fff;
    if (len >= 4 + alen && (t === RTA_DST || t === RTA_GATEWAY || t === RTA_PREFSRC)) {
      const text = formatBytes(family, v, a + 4);
      if (t === RTA_DST) entry.dst = text;
      else if (t === RTA_GATEWAY) entry.gateway = text;
      else entry.prefsrc = text;
    } else if (len >= 8) {
      if (t === RTA_OIF) entry.oif = v.getUint32(a + 4, true);
      else if (t === RTA_TABLE) entry.table = v.getUint32(a + 4, true);
      else if (t === RTA_PRIORITY) entry.metric = v.getUint32(a + 4, true);
    }
    a += (len + 3) & ~3;
  }
  return entry;
}

const ROUTE_HINTS: Hints = {
  ESRCH: 'no such route',
  EEXIST: 'a route to this destination exists already (replaceRoute overwrites it)',
  ENODEV: 'the output device does not exist in this network namespace',
  // IPv6's answer for a gateway it cannot reach (IPv4 says ENETUNREACH, and the kernel's words suffice)
  EHOSTUNREACH: 'the gateway is not reachable: no route to it in this network namespace, or not on the link of the given device',
  EAFNOSUPPORT: 'this kernel has no IPv6 (see ipv6Status() in sys/ipv6.ts)',
};

function request(type: number, flags: number, r: Route): void {
  const sequence = nextSeq();
  const msg = buildRouteMessage(type, flags, r, sequence);
  rtnlRequest(msg, sequence, `${type === RTM_NEWROUTE ? 'RTM_NEWROUTE' : 'RTM_DELROUTE'} ${describe(r)}`, ROUTE_HINTS);
}

function describe(r: Route): string {
  const parts = [`${r.blackhole === true ? 'blackhole ' : ''}${addrOf(r.dst).text}/${r.prefixLen}`];
  if (r.gateway !== undefined) parts.push(`via ${addrOf(r.gateway).text}`);
  if (r.dev !== undefined) parts.push(`dev ${r.dev}`);
  if (r.ifindex !== undefined) parts.push(`ifindex ${r.ifindex}`);
  return parts.join(' ');
}

// ---- message building ----

export function buildRouteMessage(type: number, flags: number, r: Route, sequence: number): Uint8Array {
  const dst = addrOf(r.dst);
  const v6 = dst.family === AF_INET6;
  const max = v6 ? 128 : 32;
  if (!Number.isInteger(r.prefixLen) || r.prefixLen < 0 || r.prefixLen > max) {
    throw new InvalidArgumentError(`route prefix length ${r.prefixLen} (0–${max})`);
  }
  const hostBits = v6 ? ipv6HasHostBits(dst.bytes, r.prefixLen) : hasHostBits4(dst.bytes, r.prefixLen);
  if (hostBits) throw new InvalidArgumentError(`route ${dst.text}/${r.prefixLen} has host bits set`);
  const name = `${dst.text}/${r.prefixLen}`;
  const oif = r.ifindex ?? (r.dev !== undefined ? ifIndex(r.dev) : undefined);
  if (r.blackhole === true && (oif !== undefined || r.gateway !== undefined)) {
    throw new InvalidArgumentError(`blackhole route ${name} takes no device or gateway`);
  }
  if (type === RTM_NEWROUTE && r.blackhole !== true && oif === undefined && r.gateway === undefined) {
    throw new InvalidArgumentError(`route ${name} needs a device or a gateway`);
  }
  const gateway = r.gateway === undefined ? undefined : addrOfFamily(r.gateway, dst.family, 'gateway', name);
  const src = r.src === undefined ? undefined : addrOfFamily(r.src, dst.family, 'src', name);
  const table = r.table ?? RT_TABLE_MAIN;
  const del = type === RTM_DELROUTE;

  const w = new AttrWriter(NLMSG_HDRLEN + RTMSG_SIZE + 3 * 20 + 3 * 8, NLMSG_HDRLEN + RTMSG_SIZE);
  const b = w.b;
  const off = NLMSG_HDRLEN;
  b[off] = dst.family;
  b[off + 1] = r.prefixLen;
  b[off + 4] = table < 256 ? table : 0; // rtm_table is 8 bits; RTA_TABLE carries all 32
  b[off + 5] = del ? 0 : (r.protocol ?? RTPROT_STATIC);
  // IPv6 routes have no scope (iproute2 sends universe for them, and so do we); IPv4
  // ones are link-scoped without a gateway, and matched with any scope on delete.
  b[off + 6] = v6 ? RT_SCOPE_UNIVERSE : del ? RT_SCOPE_NOWHERE : gateway === undefined && r.blackhole !== true ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
  // On delete, rtm_type 0 matches any type, except that a blackhole is named as one.
  b[off + 7] = r.blackhole === true ? RTN_BLACKHOLE : del ? 0 : RTN_UNICAST;

  w.bytes(RTA_DST, dst.bytes);
  w.u32(RTA_TABLE, table);
  if (oif !== undefined) w.u32(RTA_OIF, oif);
  if (gateway !== undefined) w.bytes(RTA_GATEWAY, gateway.bytes);
  if (src !== undefined) w.bytes(RTA_PREFSRC, src.bytes);
  if (r.metric !== undefined) w.u32(RTA_PRIORITY, r.metric);
  return w.finish(type, NLM_F_ACK | flags, sequence);
}

function hasHostBits4(b: Uint8Array, len: number): boolean {
  const a = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return (a & ~mask) >>> 0 !== 0;
}
