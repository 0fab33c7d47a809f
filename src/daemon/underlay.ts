// Which address and MTU this node uses on the underlay: --public-ip, else the
// IPv4 address of --iface, else of the interface of the default route, as
// flanneld chooses. Read-only: nothing here changes the host.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { WeftError } from '../../native-free/errors.js';
import { getMtu } from '../sys/link.js';

export class UnderlayError extends WeftError {
  constructor(message: string) {
    super('ERR_WEFT_UNDERLAY', message);
  }
}

export interface Underlay {
  iface: string;
  address: string;
  mtu: number;
}

/** The interface of the IPv4 default route, from /proc/net/route. */
export function defaultRouteInterface(routes = readFileSync('/proc/net/route', 'utf8')): string | null {
  for (const line of routes.split('\n').slice(1)) {
    const [iface, dest, , , , , , mask] = line.trim().split(/\s+/);
    if (iface && dest === '00000000' && mask === '00000000') return iface;
  }
  return null;
}

interface IpAddr {
  ifname: string;
  addr_info?: { family: string; local: string; scope: string }[];
}

/** IPv4 addresses per interface, from `ip -j -4 addr` (os.networkInterfaces() hides links without carrier). */
function ipv4Addresses(): Map<string, string[]> {
  let out: string;
  try {
    out = execFileSync('ip', ['-j', '-4', 'addr', 'show'], { encoding: 'utf8' });
  } catch (e) {
    throw new UnderlayError(`cannot list interface addresses with "ip -j -4 addr show" (${(e as Error).message}): install iproute2`);
  }
  const map = new Map<string, string[]>();
  for (const link of JSON.parse(out) as IpAddr[]) {
    map.set(link.ifname, (link.addr_info ?? []).filter((a) => a.family === 'inet' && a.scope !== 'host').map((a) => a.local));
  }
  return map;
}

export function resolveUnderlay(iface: string | null, publicIp: string | null): Underlay {
  const addrs = ipv4Addresses();
  const byAddress = publicIp ? [...addrs].find(([, list]) => list.includes(publicIp))?.[0] : undefined;
  const name = iface ?? byAddress ?? defaultRouteInterface();
  if (name === null) {
    throw new UnderlayError('no default route and no --iface: name the underlay interface with --iface, or give --public-ip');
  }
  const list = addrs.get(name);
  if (list === undefined) throw new UnderlayError(`--iface ${name}: no such interface (have: ${[...addrs.keys()].join(', ')})`);
  const address = publicIp ?? list[0];
  if (address === undefined) throw new UnderlayError(`interface ${name} has no IPv4 address: give it one, or pass --public-ip`);
  return { iface: name, address, mtu: getMtu(name) };
}
