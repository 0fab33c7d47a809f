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
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
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
}

export interface Link {
  ifindex: number;
  ifname: string;
  mtu: number;
  /** IPv4 addresses only. */
  addrs: LinkAddr[];
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
};

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
