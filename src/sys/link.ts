// Interface configuration through the classic SIOC* ioctls on an AF_INET socket:
// MTU, one IPv4 address with its netmask, up/down, ifindex. Enough for weft's TUN
// (one /32, no broadcast); routes need rtnetlink (netlink.ts). Everything applies to
// the network namespace the calling thread is in when the call is made.

import { InvalidArgumentError } from '../../native-free/errors.js';
import { NEEDS_NET_ADMIN, closeQuietly, libc, sysError, type Hints } from './libc.js';
import {
  AF_INET,
  IFF_UP,
  SIOCGIFFLAGS,
  SIOCGIFINDEX,
  SIOCGIFMTU,
  SIOCSIFADDR,
  SIOCSIFFLAGS,
  SIOCSIFMTU,
  SIOCSIFNETMASK,
  SIOCSIFTXQLEN,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
} from './constants.js';
import { UNION, ifreq, type Ifreq } from './ifreq.js';
import { formatIPv4 } from '../../native-free/addr.js';
import { toAddr, writeSockaddrIn } from './sockaddr.js';

function hints(name: string, extra?: Hints): Hints {
  return { ...NEEDS_NET_ADMIN, ENODEV: `no interface ${name} in this network namespace`, ...extra };
}

/** Runs one SIOC* ioctl on a throwaway AF_INET socket. */
function ifIoctl(req: number, label: string, name: string, r: Ifreq, what: string, extra?: Hints): void {
  const fd = libc.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw sysError('socket', 'socket AF_INET SOCK_DGRAM (for interface ioctls)');
  try {
    if (libc.ioctl(fd, req, r.ptr) < 0) throw sysError('ioctl', `ioctl ${label} ${name}${what}`, hints(name, extra));
  } finally {
    closeQuietly(fd);
  }
}

export function ifIndex(name: string): number {
  const r = ifreq(name);
  ifIoctl(SIOCGIFINDEX, 'SIOCGIFINDEX', name, r, '');
  return r.view.getInt32(UNION, true);
}

export function getMtu(name: string): number {
  const r = ifreq(name);
  ifIoctl(SIOCGIFMTU, 'SIOCGIFMTU', name, r, '');
  return r.view.getInt32(UNION, true);
}

export function setMtu(name: string, mtu: number): void {
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new InvalidArgumentError(`MTU ${mtu} (68–65535)`);
  const r = ifreq(name);
  r.view.setInt32(UNION, mtu, true);
  ifIoctl(SIOCSIFMTU, 'SIOCSIFMTU', name, r, ` mtu ${mtu}`, { EINVAL: `MTU ${mtu} is out of range for ${name}` });
}

/** Sets the transmit queue length (packets the kernel holds for the device's reader). */
export function setTxQueueLen(name: string, packets: number): void {
  if (!Number.isInteger(packets) || packets < 0 || packets > 1_000_000) throw new InvalidArgumentError(`txqueuelen ${packets} (0–1000000)`);
  const r = ifreq(name);
  r.view.setInt32(UNION, packets, true);
  ifIoctl(SIOCSIFTXQLEN, 'SIOCSIFTXQLEN', name, r, ` txqueuelen ${packets}`);
}

/** Sets the interface's (primary) IPv4 address and prefix; /32 is what weft uses. */
export function setIPv4(name: string, addr: number | string, prefixLen: number): void {
  const a = toAddr(addr);
  if (!Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > 32) {
    throw new InvalidArgumentError(`prefix length ${prefixLen} (0–32)`);
  }
  const mask = prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
  const r = ifreq(name);
  writeSockaddrIn(r.buf, UNION, a, 0);
  ifIoctl(SIOCSIFADDR, 'SIOCSIFADDR', name, r, ` ${formatIPv4(a)}`);
  const m = ifreq(name);
  writeSockaddrIn(m.buf, UNION, mask, 0);
  ifIoctl(SIOCSIFNETMASK, 'SIOCSIFNETMASK', name, m, ` /${prefixLen}`);
}

export function setLinkUp(name: string, up: boolean): void {
  const r = ifreq(name);
  ifIoctl(SIOCGIFFLAGS, 'SIOCGIFFLAGS', name, r, '');
  const flags = r.view.getUint16(UNION, true);
  r.view.setUint16(UNION, up ? flags | IFF_UP : flags & ~IFF_UP, true);
  ifIoctl(SIOCSIFFLAGS, 'SIOCSIFFLAGS', name, r, up ? ' up' : ' down');
}

export interface LinkConfig {
  mtu?: number;
  txQueueLen?: number;
  /** IPv4 address and prefix length, e.g. ['10.244.1.0', 32]. */
  address?: [number | string, number];
  up?: boolean;
}

/** MTU, then address, then up: the order `ip` would need too. */
export function configureLink(name: string, c: LinkConfig): void {
  if (c.mtu !== undefined) setMtu(name, c.mtu);
  if (c.txQueueLen !== undefined) setTxQueueLen(name, c.txQueueLen);
  if (c.address !== undefined) setIPv4(name, c.address[0], c.address[1]);
  if (c.up !== undefined) setLinkUp(name, c.up);
}
