// Which interface and address carry the overlay: flanneld's LookupExtIface
// (pkg/ipmatch/match.go) and the order main.go tries it in, for IPv4:
//
//   no --iface, --iface-regex or --iface-can-reach given:
//     --public-ip given   the interface that holds that address (an error if none does)
//     otherwise           the interface of the IPv4 default route (main table)
//   else, the first that matches:
//     1. each --iface, in the order given: an interface name, or an IPv4 address
//        that one of the interfaces holds
//     2. each --iface-regex, in the order given: first against every interface's
//        IPv4 addresses (interfaces in index order), then against every name
//     3. --iface-can-reach <ip>: the interface (and source address) of the
//        kernel's route to <ip>, as `ip route get <ip>`
//
// The address is the one matched (by --iface <ip>, by a regex, the route's source
// for --iface-can-reach), else the interface's first usable IPv4 address: global
// or link-local unicast, not deprecated, global before link-local and permanent
// before dynamic (flannel's GetInterfaceIP4Addrs). `publicIp` is --public-ip if
// given, else that address. Read-only: nothing here changes the host.
//
// Dual-stack (EnableIPv6 with IPv4): the IPv6 address is taken from the same
// interface, as flanneld's LookupExtIface does for its dualStack: --public-ipv6
// if it is on that interface (an error if it is on another one), else the
// interface's first usable IPv6 address (flannel's GetInterfaceIP6Addrs order:
// global before link-local, permanent before dynamic, non-temporary before
// temporary; deprecated ones never). With no --iface and no --public-ip the
// IPv6 default route must leave by the IPv4 default route's interface.
// One difference: weft refuses a link-local or still tentative (DAD) IPv6
// address as the underlay (a socket cannot bind a tentative one, and a
// link-local one reaches peers only with a scope that leases do not carry).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { formatIPv6, parseIPv6 } from '../../native-free/addr.js';
import { WeftError } from '../../native-free/errors.js';

export class IfaceSelectError extends WeftError {
  constructor(message: string) {
    super('ERR_WEFT_UNDERLAY', message);
  }
}

export interface IfaceOptions {
  /** --iface, each a name or an IPv4 address, in order. */
  ifaces?: readonly string[];
  /** --iface-regex, in order (Go RE2 syntax; a leading (?i), (?s) or (?m) is honoured). */
  ifaceRegexes?: readonly string[];
  /** --iface-can-reach */
  ifaceCanReach?: string | null;
  /** --public-ip */
  publicIp?: string | null;
}

export interface Ipv6Options {
  /** --public-ipv6 */
  publicIpv6?: string | null;
  /** The interface was picked by the IPv4 default route (no --iface flag): the IPv6 default route must agree. */
  byDefaultRoute: boolean;
}

export interface SelectedIpv6 {
  /** The interface's IPv6 address weft binds to (flannel's IfaceV6Addr). */
  address6: string;
  /** What other nodes send to over IPv6: --public-ipv6, else address6 (flannel's ExtV6Addr). */
  publicIpv6: string;
}

export interface SelectedIface {
  iface: string;
  /** The interface address weft binds to (flannel's IfaceAddr). */
  address: string;
  /** What other nodes send to: --public-ip, else `address` (flannel's ExtAddr). */
  publicIp: string;
  mtu: number;
  /** Which flag picked it, for the log. */
  by: string;
}

export interface LinkAddr {
  local: string;
  prefixlen: number;
  /** From `ip -j addr`: "global", "link", "host", ... */
  scope?: string;
  dynamic?: boolean;
  deprecated?: boolean;
  /** IPv6 only: a privacy address (RFC 8981), and one still in duplicate address detection. */
  temporary?: boolean;
  tentative?: boolean;
}

export interface Link {
  ifindex: number;
  ifname: string;
  mtu: number;
  /** IPv4 addresses only. */
  addrs: LinkAddr[];
  /** IPv6 addresses (absent: the host reader gave none). */
  addrs6?: LinkAddr[];
}

export interface RouteGet {
  dev: string;
  prefsrc?: string;
  gateway?: string;
}

/** What the selection reads from the host; tests give their own. */
export interface IfaceHost {
  links(): Link[];
  /** The kernel's route to dst (`ip route get`), or throws with the kernel's reason. */
  routeGet(dst: string): RouteGet;
  /** The interface of the IPv4 default route, or null. */
  defaultRouteIface(): string | null;
  /** The interface of the IPv6 default route, or null (optional: readers without it have none). */
  defaultRoute6Iface?(): string | null;
}

/** Reads the host's (this network namespace's) links and routes with `ip -j`. */
export const hostIfaces: IfaceHost = {
  links() {
    // not `-4`: it leaves out the links that have no IPv4 address, and --iface <name> should say so
    const out = ip(['-j', 'addr', 'show']);
    const links = JSON.parse(out) as Array<{ ifindex: number; ifname: string; mtu?: number; addr_info?: Array<LinkAddr & { family?: string }> }>;
    return links
      .map((l) => ({
        ifindex: l.ifindex,
        ifname: l.ifname,
        mtu: l.mtu ?? 0,
        addrs: (l.addr_info ?? []).filter((a) => a.family === 'inet'),
        addrs6: (l.addr_info ?? []).filter((a) => a.family === 'inet6'),
      }))
      .sort((a, b) => a.ifindex - b.ifindex);
  },
  routeGet(dst) {
    const out = ip(['-j', '-4', 'route', 'get', dst]);
    const r = (JSON.parse(out) as RouteGet[])[0];
    if (!r?.dev) throw new IfaceSelectError(`"ip route get ${dst}" named no interface`);
    return r;
  },
  defaultRouteIface() {
    return defaultRouteIface();
  },
  defaultRoute6Iface() {
    return defaultRoute6Iface();
  },
};

/** The first IPv6 default route of the main table, from /proc/net/ipv6_route (dest ::/0, its device last). */
export function defaultRoute6Iface(routes?: string): string | null {
  let text = routes;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/net/ipv6_route', 'utf8');
    } catch {
      return null;
    }
  }
  const zero = '0'.repeat(32);
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    // dest, dest len, src, src len, next hop, metric, refcnt, use, flags, device
    if (f.length >= 10 && f[0] === zero && f[1] === '00' && f[9] !== 'lo') return f[9]!;
  }
  return null;
}

function ip(args: string[]): string {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') throw new IfaceSelectError('"ip" was not found: install iproute2');
    throw new IfaceSelectError(`"ip ${args.join(' ')}" failed: ${(err.stderr ?? err.message).trim()}`);
  }
}

/** The first IPv4 default route of the main table, from /proc/net/route (which lists that table). */
export function defaultRouteIface(routes?: string): string | null {
  let text = routes;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/net/route', 'utf8');
    } catch {
      return null;
    }
  }
  for (const line of text.split('\n').slice(1)) {
    const [iface, dest, , , , , , mask] = line.trim().split(/\s+/);
    if (iface && dest === '00000000' && mask === '00000000') return iface;
  }
  return null;
}

// ---- addresses ----

function parseV4(text: string): number | null {
  const parts = text.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) return null;
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

/** Go's IsGlobalUnicast or IsLinkLocalUnicast, for IPv4. */
function usable(addr: string): 'global' | 'link' | null {
  const v = parseV4(addr);
  if (v === null) return null;
  const a = Math.floor(v / 2 ** 24);
  const b = Math.floor(v / 2 ** 16) % 256;
  if (a === 169 && b === 254) return 'link';
  if (a === 0 || a === 127 || a >= 224) return null; // unspecified/this-network, loopback, multicast, reserved and broadcast
  return 'global';
}

/** flannel's GetInterfaceIP4Addrs: usable, non-deprecated addresses in preference order. */
export function usableAddresses(link: Link): string[] {
  const rank = (a: LinkAddr): number => (usable(a.local) === 'link' ? 2 : 0) + (a.dynamic ? 1 : 0);
  return link.addrs
    .filter((a) => usable(a.local) !== null && !a.deprecated)
    .map((a, i) => ({ a, i }))
    .sort((x, y) => rank(x.a) - rank(y.a) || x.i - y.i)
    .map(({ a }) => a.local);
}

/** A Go regexp as a JS RegExp: a leading (?flags) group becomes JS flags. */
export function goRegex(pattern: string): RegExp {
  const m = /^\(\?([ims]+)\)/.exec(pattern);
  const flags = m ? [...new Set(m[1]!.split(''))].join('') : '';
  return new RegExp(m ? pattern.slice(m[0].length) : pattern, flags);
}

/** The kind of an IPv6 address for the underlay: Go's IsGlobalUnicast / IsLinkLocalUnicast, else null. */
function usable6(text: string): 'global' | 'link' | null {
  let b: Uint8Array;
  try {
    b = parseIPv6(text);
  } catch {
    return null;
  }
  if (b[0] === 0xff) return null; // multicast
  if (b[0] === 0xfe && (b[1]! & 0xc0) === 0x80) return 'link';
  if (b.every((x, i) => (i < 15 ? x === 0 : x <= 1))) return null; // :: and ::1
  if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return null; // v4-mapped
  return 'global';
}

/** flannel's GetInterfaceIP6Addrs: usable, non-deprecated IPv6 addresses in preference order. */
export function usableAddresses6(link: Link): LinkAddr[] {
  const rank = (a: LinkAddr): number => (usable6(a.local) === 'link' ? 4 : 0) + (a.dynamic ? 2 : 0) + (a.temporary ? 1 : 0);
  return (link.addrs6 ?? [])
    .filter((a) => usable6(a.local) !== null && !a.deprecated)
    .map((a, i) => ({ a, i }))
    .sort((x, y) => rank(x.a) - rank(y.a) || x.i - y.i)
    .map(({ a }) => a);
}

/**
 * Dual-stack: the IPv6 address of the interface selectInterface() picked, as
 * flanneld picks it (see the top of this file). Throws an IfaceSelectError
 * naming the flag and what the interface has.
 */
export function selectIpv6(chosen: SelectedIface, opts: Ipv6Options, host: IfaceHost = hostIfaces): SelectedIpv6 {
  const links = host.links();
  const link = links.find((l) => l.ifname === chosen.iface);
  if (!link) throw new IfaceSelectError(`interface ${chosen.iface} is gone`);
  const have = (link.addrs6 ?? []).map((a) => a.local).join(' ') || 'none';
  const publicIpv6 = opts.publicIpv6 || null;
  if (publicIpv6 !== null && usable6(publicIpv6) !== 'global') {
    throw new IfaceSelectError(`--public-ipv6 is "${publicIpv6}": it must be a global or unique-local unicast IPv6 address such as fd00:198:51:100::7`);
  }
  if (opts.byDefaultRoute && host.defaultRoute6Iface) {
    const v6 = host.defaultRoute6Iface();
    if (v6 !== null && v6 !== chosen.iface) {
      throw new IfaceSelectError(`the IPv6 default route's interface ${v6} must be the IPv4 default route's interface ${chosen.iface} (as flanneld requires): choose the interface with --iface`);
    }
  }
  let picked: LinkAddr | undefined;
  if (publicIpv6 !== null) {
    const owner = links.find((l) => (l.addrs6 ?? []).some((a) => sameIpv6(a.local, publicIpv6)));
    if (owner && owner.ifname !== chosen.iface) {
      throw new IfaceSelectError(`--public-ipv6 ${publicIpv6} is on interface ${owner.ifname}, but the IPv4 underlay is ${chosen.iface}: the v6 interface must be the v4 one (as flanneld requires)`);
    }
    picked = owner ? (link.addrs6 ?? []).find((a) => sameIpv6(a.local, publicIpv6)) : undefined;
  }
  // Behind NAT (--public-ipv6 not on this host), the interface's own address is bound, as for IPv4.
  picked ??= usableAddresses6(link)[0];
  if (picked === undefined) {
    throw new IfaceSelectError(`EnableIPv6: interface ${chosen.iface} has no usable IPv6 address (global or unique-local, not deprecated; it has: ${have}): give it one, or choose another interface`);
  }
  if (usable6(picked.local) === 'link') {
    throw new IfaceSelectError(`EnableIPv6: the only IPv6 address of ${chosen.iface} is link-local (${picked.local}); weft needs a global or unique-local one to publish as PublicIPv6`);
  }
  if (picked.tentative) {
    throw new IfaceSelectError(`EnableIPv6: ${picked.local} on ${chosen.iface} is still tentative (duplicate address detection runs for a few seconds after an address is added): start again in a moment, or add it with "nodad"`);
  }
  const address6 = formatIPv6(parseIPv6(picked.local));
  return { address6, publicIpv6: publicIpv6 !== null ? formatIPv6(parseIPv6(publicIpv6)) : address6 };
}

function sameIpv6(a: string, b: string): boolean {
  try {
    return formatIPv6(parseIPv6(a)) === formatIPv6(parseIPv6(b));
  } catch {
    return false;
  }
}

// ---- selection ----

interface Pick {
  link: Link;
  address: string | null;
}

function describeLinks(links: Link[]): string {
  return links.map((l) => `${l.ifname}:[${usableAddresses(l).join(' ')}]`).join(', ');
}

function byNameOrAddress(links: Link[], value: string, flag: string): Pick {
  if (parseV4(value) !== null) {
    const link = links.find((l) => l.addrs.some((a) => a.local === value));
    if (!link) throw new IfaceSelectError(`${flag} ${value}: no interface has this address (have: ${describeLinks(links)})`);
    return { link, address: value };
  }
  const link = links.find((l) => l.ifname === value);
  if (!link) throw new IfaceSelectError(`${flag} ${value}: no such interface (have: ${links.map((l) => l.ifname).join(', ')})`);
  return { link, address: null };
}

function byRegex(links: Link[], pattern: string): Pick {
  let re: RegExp;
  try {
    re = goRegex(pattern);
  } catch (e) {
    throw new IfaceSelectError(`--iface-regex "${pattern}" is not a valid regular expression: ${(e as Error).message}`);
  }
  for (const link of links) {
    const hit = usableAddresses(link).find((a) => re.test(a));
    if (hit !== undefined) return { link, address: hit };
  }
  const link = links.find((l) => re.test(l.ifname));
  if (link) return { link, address: null };
  throw new IfaceSelectError(`--iface-regex "${pattern}" matches no interface name or IPv4 address (have: ${describeLinks(links)})`);
}

function byRoute(host: IfaceHost, links: Link[], dst: string): Pick {
  if (parseV4(dst) === null) throw new IfaceSelectError(`--iface-can-reach is "${dst}": it must be an IPv4 address such as 198.51.100.7`);
  let route: RouteGet;
  try {
    route = host.routeGet(dst);
  } catch (e) {
    throw new IfaceSelectError(`--iface-can-reach ${dst}: the kernel has no route to it (${(e as Error).message})`);
  }
  const link = links.find((l) => l.ifname === route.dev);
  if (!link) throw new IfaceSelectError(`--iface-can-reach ${dst}: the route names interface ${route.dev}, which has no IPv4 link here`);
  return { link, address: route.prefsrc ?? null };
}

function finish(p: Pick, publicIp: string | null, by: string): SelectedIface {
  const address = p.address ?? usableAddresses(p.link)[0];
  if (address === undefined) {
    throw new IfaceSelectError(`${by}: interface ${p.link.ifname} has no usable IPv4 address (global or link-local, not deprecated): give it one, or choose another interface`);
  }
  if (!(p.link.mtu > 0)) throw new IfaceSelectError(`${by}: cannot determine the MTU of ${p.link.ifname}`);
  return { iface: p.link.ifname, address, publicIp: publicIp ?? address, mtu: p.link.mtu, by };
}

export interface SelectLogger {
  info(obj: object, msg: string): void;
}

/**
 * Picks the underlay interface as flanneld does. Throws an IfaceSelectError that
 * names the flag(s) and what the host has when nothing matches.
 */
export function selectInterface(opts: IfaceOptions, host: IfaceHost = hostIfaces, log?: SelectLogger): SelectedIface {
  const ifaces = opts.ifaces ?? [];
  const regexes = opts.ifaceRegexes ?? [];
  const canReach = opts.ifaceCanReach || null;
  const publicIp = opts.publicIp || null;
  if (publicIp !== null && parseV4(publicIp) === null) throw new IfaceSelectError(`--public-ip is "${publicIp}": it must be an IPv4 address such as 198.51.100.7`);
  const links = host.links();

  if (ifaces.length === 0 && regexes.length === 0 && canReach === null) {
    if (publicIp !== null) {
      const link = links.find((l) => l.addrs.some((a) => a.local === publicIp));
      if (!link) {
        throw new IfaceSelectError(
          `--public-ip ${publicIp} is on no interface here, and no --iface, --iface-regex or --iface-can-reach was given: ` +
            `name the interface that carries the overlay with --iface (as flanneld requires)`,
        );
      }
      return finish({ link, address: publicIp }, publicIp, '--public-ip');
    }
    const name = host.defaultRouteIface();
    if (name === null) {
      throw new IfaceSelectError('no IPv4 default route: choose the underlay interface with --iface, --iface-regex or --iface-can-reach');
    }
    const link = links.find((l) => l.ifname === name);
    if (!link) throw new IfaceSelectError(`the default route's interface ${name} has no IPv4 link here`);
    return finish({ link, address: null }, publicIp, 'the default route');
  }

  const failures: string[] = [];
  const attempt = (by: string, pick: () => Pick): SelectedIface | null => {
    try {
      return finish(pick(), publicIp, by);
    } catch (e) {
      if (!(e instanceof IfaceSelectError)) throw e;
      failures.push(e.message);
      log?.info({ by, err: e.message }, 'interface option did not match; trying the next');
      return null;
    }
  };
  for (const value of ifaces) {
    const hit = attempt(`--iface ${value}`, () => byNameOrAddress(links, value, '--iface'));
    if (hit) return hit;
  }
  for (const pattern of regexes) {
    const hit = attempt(`--iface-regex ${pattern}`, () => byRegex(links, pattern));
    if (hit) return hit;
  }
  if (canReach !== null) {
    const hit = attempt(`--iface-can-reach ${canReach}`, () => byRoute(host, links, canReach));
    if (hit) return hit;
  }
  throw new IfaceSelectError(`no interface matches the --iface, --iface-regex and --iface-can-reach given:\n  ${failures.join('\n  ')}`);
}
