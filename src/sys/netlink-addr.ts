// Interface addresses through rtnetlink (RTM_NEWADDR / RTM_DELADDR / RTM_GETADDR),
// as `ip addr add|del|show`, IPv4 or IPv6 by the address; request, ack and dump are
// rtnetlink.ts's. The TUN needs its IPv6 tunnel address this way (the SIOCSIFADDR
// ioctls of link.ts are IPv4 only and stay the IPv4 path).
//
// IPv6 specifics:
// - Duplicate address detection (DAD): an IPv6 address added without IFA_F_NODAD is
//   "tentative" until DAD ends (about 1 s on a link with defaults: dad_transmits 1 ×
//   retrans_timer 1 s, plus a random delay up to 1 s), and cannot be bound (bind:
//   EADDRNOTAVAIL) or used as a source until then; on a link where another host has
//   it, it stays "dadfailed". The kernel skips DAD on IFF_NOARP and loopback
//   devices (addrconf_dad_begin), so a TUN's address is usable at once either way; on
//   an Ethernet-like underlay interface (or a veth) it is not. weft's addresses are
//   added with IFA_F_NODAD unless { nodad: false }: usable at once on any device.
// - The interface must have IPv6 enabled (net.ipv6.conf.<if>.disable_ipv6 = 0,
//   ipv6.ts enableIpv6); else the kernel refuses with EACCES ("IPv6 is disabled on
//   this device").
// - Unless { noPrefixRoute: true } (IFA_F_NOPREFIXROUTE), the kernel adds a route
//   for the address's prefix on the interface (metric 256), as for IPv4.

import { InvalidArgumentError } from '../../native-free/errors.js';
import { formatIPv4, formatIPv6, parseIPv4 } from '../../native-free/addr.js';
import type { Hints } from './libc.js';
import {
  AF_INET,
  AF_INET6,
  IFADDRMSG_SIZE,
  IFA_ADDRESS,
  IFA_FLAGS,
  IFA_F_DADFAILED,
  IFA_F_NODAD,
  IFA_F_NOPREFIXROUTE,
  IFA_F_PERMANENT,
  IFA_F_TENTATIVE,
  IFA_LOCAL,
  NLMSG_HDRLEN,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  RTM_DELADDR,
  RTM_GETADDR,
  RTM_NEWADDR,
  RT_SCOPE_UNIVERSE,
} from './constants.js';
import { ifIndex } from './link.js';
import { toAddr, toAddr6 } from './sockaddr.js';
import { AttrWriter, nextSeq, rtnlQuery, rtnlRequest } from './rtnetlink.js';

export interface InterfaceAddress {
  /** IPv4 (u32 or dotted text) or IPv6 (colon text or 16 bytes); the request's family. */
  addr: number | string | Uint8Array;
  /** 0–32 or 0–128. */
  prefixLen: number;
  /** The interface, by name or index (one of them). */
  dev?: string;
  ifindex?: number;
  /** IPv6: skip duplicate address detection, usable at once (IFA_F_NODAD). Default true. */
  nodad?: boolean;
  /** No route for the prefix (IFA_F_NOPREFIXROUTE). Default false. */
  noPrefixRoute?: boolean;
}

/** One address as the kernel lists it (`ip addr show`). */
export interface AddressEntry {
  family: 4 | 6;
  /** Text (IPv6 in RFC 5952 form). */
  addr: string;
  prefixLen: number;
  ifindex: number;
  /** ifa_scope: 0 global, 253 link, 254 host. */
  scope: number;
  /** IFA_F_* (IFA_FLAGS when present, else the u8 ifa_flags). */
  flags: number;
  /** IPv6 DAD still running: not usable yet. */
  tentative: boolean;
  /** IPv6 DAD found another host with this address: never usable. */
  dadFailed: boolean;
  permanent: boolean;
}

const ADDR_HINTS: Hints = {
  EEXIST: 'the interface has this address already (replaceAddress keeps it without an error)',
  EADDRNOTAVAIL: 'the interface has no such address',
  ENODEV: 'the interface does not exist in this network namespace',
  EACCES: 'IPv6 is disabled on the interface (net.ipv6.conf.<if>.disable_ipv6 = 1: enableIpv6() in sys/ipv6.ts first), or weft lacks CAP_NET_ADMIN',
  EAFNOSUPPORT: 'this kernel has no IPv6 (see ipv6Status() in sys/ipv6.ts)',
  EINVAL: 'the kernel refused the address or prefix length',
};

/** Adds the address; EEXIST if the interface has it already. */
export function addAddress(a: InterfaceAddress): void {
  request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, a);
}

/** Adds the address, or updates its flags when the interface has it already. */
export function replaceAddress(a: InterfaceAddress): void {
  request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, a);
}

/** Deletes the address (with the prefix route the kernel made for it); EADDRNOTAVAIL if absent. */
export function deleteAddress(a: InterfaceAddress): void {
  request(RTM_DELADDR, 0, a);
}

/** Every address of the family (4 or 6) in this namespace, or of one interface. */
export function listAddresses(family: 4 | 6, dev?: string | number): AddressEntry[] {
  const index = dev === undefined ? undefined : typeof dev === 'number' ? dev : ifIndex(dev);
  const af = family === 6 ? AF_INET6 : AF_INET;
  const w = new AttrWriter(NLMSG_HDRLEN + IFADDRMSG_SIZE, NLMSG_HDRLEN + IFADDRMSG_SIZE);
  w.b[NLMSG_HDRLEN] = af;
  const sequence = nextSeq();
  const msg = w.finish(RTM_GETADDR, NLM_F_DUMP, sequence);
  const all = rtnlQuery(msg, sequence, `RTM_GETADDR ${family === 6 ? 'AF_INET6' : 'AF_INET'} (dump)`, true, RTM_NEWADDR, (v, at, end) =>
    end - at >= IFADDRMSG_SIZE ? parseAddress(v, at, end, af) : null,
  );
  return index === undefined ? all : all.filter((e) => e.ifindex === index);
}

interface Parsed {
  family: number;
  bytes: Uint8Array;
  text: string;
}

function parse(a: number | string | Uint8Array): Parsed {
  if (a instanceof Uint8Array || (typeof a === 'string' && a.includes(':'))) {
    const bytes = toAddr6(a as string | Uint8Array);
    return { family: AF_INET6, bytes, text: formatIPv6(bytes) };
  }
  const u = typeof a === 'string' ? parseIPv4(a) : toAddr(a);
  return { family: AF_INET, bytes: new Uint8Array([u >>> 24, (u >>> 16) & 0xff, (u >>> 8) & 0xff, u & 0xff]), text: formatIPv4(u) };
}

function request(type: number, flags: number, a: InterfaceAddress): void {
  const sequence = nextSeq();
  const { msg, label } = buildAddressMessage(type, flags, a, sequence);
  rtnlRequest(msg, sequence, label, ADDR_HINTS);
}

/** The RTM_NEWADDR / RTM_DELADDR request for `a` (exported for tests), and its label for errors. */
export function buildAddressMessage(type: number, flags: number, a: InterfaceAddress, sequence: number): { msg: Uint8Array; label: string } {
  const p = parse(a.addr);
  const v6 = p.family === AF_INET6;
  const max = v6 ? 128 : 32;
  if (!Number.isInteger(a.prefixLen) || a.prefixLen < 0 || a.prefixLen > max) {
    throw new InvalidArgumentError(`address prefix length ${a.prefixLen} (0–${max})`);
  }
  if ((a.dev === undefined) === (a.ifindex === undefined)) {
    throw new InvalidArgumentError(`address ${p.text}/${a.prefixLen} needs one interface: dev or ifindex`);
  }
  const index = a.ifindex ?? ifIndex(a.dev!);
  let ifaFlags = 0;
  if (type === RTM_NEWADDR) {
    if (v6 && a.nodad !== false) ifaFlags |= IFA_F_NODAD;
    if (a.noPrefixRoute === true) ifaFlags |= IFA_F_NOPREFIXROUTE;
  }
  const w = new AttrWriter(NLMSG_HDRLEN + IFADDRMSG_SIZE + 2 * 20 + 8, NLMSG_HDRLEN + IFADDRMSG_SIZE);
  const b = w.b;
  b[NLMSG_HDRLEN] = p.family;
  b[NLMSG_HDRLEN + 1] = a.prefixLen;
  b[NLMSG_HDRLEN + 2] = ifaFlags & 0xff; // ifa_flags (u8); IFA_FLAGS carries all 32 bits
  b[NLMSG_HDRLEN + 3] = RT_SCOPE_UNIVERSE; // the kernel derives an IPv6 address's scope itself
  new DataView(b.buffer).setUint32(NLMSG_HDRLEN + 4, index, true);
  // As iproute2 without a peer: IFA_LOCAL (the address) and IFA_ADDRESS (the same).
  w.bytes(IFA_LOCAL, p.bytes);
  w.bytes(IFA_ADDRESS, p.bytes);
  if (type === RTM_NEWADDR) w.u32(IFA_FLAGS, ifaFlags);
  const verb = type === RTM_NEWADDR ? 'RTM_NEWADDR' : 'RTM_DELADDR';
  const dev = a.dev ?? `ifindex ${index}`;
  const extra = type === RTM_NEWADDR && v6 && a.nodad !== false ? ' nodad' : '';
  return { msg: w.finish(type, NLM_F_ACK | flags, sequence), label: `${verb} ${p.text}/${a.prefixLen} dev ${dev}${extra}` };
}

function parseAddress(v: DataView, at: number, end: number, af: number): AddressEntry | null {
  if (v.getUint8(at) !== af) return null;
  const alen = af === AF_INET ? 4 : 16;
  let flags = v.getUint8(at + 2);
  let local: string | null = null;
  let address: string | null = null;
  for (let a = at + IFADDRMSG_SIZE; a + 4 <= end; ) {
    const len = v.getUint16(a, true);
    if (len < 4 || a + len > end) break;
    const t = v.getUint16(a + 2, true) & 0x3fff;
    if ((t === IFA_LOCAL || t === IFA_ADDRESS) && len >= 4 + alen) {
      const text = af === AF_INET ? formatIPv4(v.getUint32(a + 4, false)) : formatIPv6(new Uint8Array(v.buffer, v.byteOffset + a + 4, 16).slice());
      if (t === IFA_LOCAL) local = text;
      else address = text;
    } else if (t === IFA_FLAGS && len >= 8) {
      flags = v.getUint32(a + 4, true);
    }
    a += (len + 3) & ~3;
  }
  const addr = local ?? address;
  if (addr === null) return null;
  return {
    family: af === AF_INET6 ? 6 : 4,
    addr,
    prefixLen: v.getUint8(at + 1),
    ifindex: v.getUint32(at + 4, true),
    scope: v.getUint8(at + 3),
    flags,
    tentative: (flags & IFA_F_TENTATIVE) !== 0,
    dadFailed: (flags & IFA_F_DADFAILED) !== 0,
    permanent: (flags & IFA_F_PERMANENT) !== 0,
  };
}
