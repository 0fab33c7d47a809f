// Whether this host can carry IPv6 at all, and IPv6 on or off for one interface,
// through /proc/sys/net/ipv6 (the same files `sysctl net.ipv6.…` reads and writes).
//
// - /proc/sys/net/ipv6 is missing when the kernel has no IPv6: booted with
//   ipv6.disable=1 (the module is loaded but inert) or built without CONFIG_IPV6.
//   socket(AF_INET6) then fails with EAFNOSUPPORT.
// - conf/all/disable_ipv6 = 1 turns IPv6 off on every interface that exists (the
//   kernel writes it through to each one); conf/default/disable_ipv6 is what a new
//   interface (a TUN made later) starts with. conf/<if>/disable_ipv6 is one interface's:
//   while it is 1 the interface has no IPv6 address and takes no IPv6 packet, and
//   setting it to 1 deletes every IPv6 address it had; setting it back to 0 does not
//   bring them back (add them again, sys/netlink.ts addAddress6).
// The files are per network namespace: the calling thread's namespace is the one read.
// Writing needs CAP_NET_ADMIN, and a /proc/sys that is writable (an unprivileged
// container has it read-only).

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { InvalidArgumentError, WeftError } from '../../native-free/errors.js';
import { checkIfName } from './ifreq.js';
import { sysError, type Hints } from './libc.js';

const PROC_SYS = '/proc/sys';

export interface Ipv6Status {
  /** The kernel has IPv6 (/proc/sys/net/ipv6 exists). */
  kernel: boolean;
  /** net.ipv6.conf.all.disable_ipv6 = 1 (null when the kernel has no IPv6). */
  allDisabled: boolean | null;
  /** net.ipv6.conf.default.disable_ipv6 = 1: interfaces made from now on start without IPv6. */
  defaultDisabled: boolean | null;
  /** IPv6 can be used here: kernel support and not disabled for all interfaces. */
  usable: boolean;
  /** Why not, for an operator (null when usable); says what to change. */
  reason: string | null;
}

/** IPv6 on this host (in the calling thread's network namespace). Reads only. */
export function ipv6Status(procSys = PROC_SYS): Ipv6Status {
  if (!existsSync(`${procSys}/net/ipv6`)) {
    return {
      kernel: false,
      allDisabled: null,
      defaultDisabled: null,
      usable: false,
      reason:
        'this kernel has no IPv6 (/proc/sys/net/ipv6 is missing): it was booted with ipv6.disable=1 or built without CONFIG_IPV6; remove ipv6.disable=1 from the kernel command line and reboot to carry IPv6',
    };
  }
  const allDisabled = readFlag(`${procSys}/net/ipv6/conf/all/disable_ipv6`);
  const defaultDisabled = readFlag(`${procSys}/net/ipv6/conf/default/disable_ipv6`);
  if (allDisabled === true) {
    return {
      kernel: true,
      allDisabled,
      defaultDisabled,
      usable: false,
      reason:
        'IPv6 is disabled on every interface (net.ipv6.conf.all.disable_ipv6 = 1): set it to 0 (sysctl -w net.ipv6.conf.all.disable_ipv6=0, and in /etc/sysctl.d to keep it) and give the underlay interface its IPv6 address again',
    };
  }
  return { kernel: true, allDisabled, defaultDisabled, usable: true, reason: null };
}

/** IPv6 is missing or disabled on this host; `message` says which and what to change. */
export class Ipv6UnavailableError extends WeftError {
  readonly status: Ipv6Status;
  constructor(status: Ipv6Status) {
    super('ERR_WEFT_IPV6_UNAVAILABLE', `IPv6 is not available on this host: ${status.reason ?? 'unknown reason'}`);
    this.status = status;
  }
}

/** Throws Ipv6UnavailableError unless ipv6Status() says usable. */
export function requireIpv6(procSys = PROC_SYS): void {
  const s = ipv6Status(procSys);
  if (!s.usable) throw new Ipv6UnavailableError(s);
}

/** Whether IPv6 is disabled on interface `name` (its disable_ipv6 is 1). */
export function interfaceIpv6Disabled(name: string, procSys = PROC_SYS): boolean {
  checkName(name);
  const path = `${procSys}/net/ipv6/conf/${name}/disable_ipv6`;
  try {
    return readFileSync(path, 'utf8').trim() !== '0';
  } catch (e) {
    throw procError('open', `read ${path}`, e, hints(name));
  }
}

/**
 * Turns IPv6 on (disable_ipv6 = 0) on interface `name`, e.g. the TUN, which weft's
 * IPv4-only start turns off. Addresses the interface had before it was disabled are
 * gone: add its v6 address afterwards. A no-op when it is on already.
 */
export function enableIpv6(name: string, procSys = PROC_SYS): void {
  setInterfaceIpv6(name, true, procSys);
}

/** Turns IPv6 off (disable_ipv6 = 1) on interface `name`; its IPv6 addresses are deleted. */
export function disableIpv6(name: string, procSys = PROC_SYS): void {
  setInterfaceIpv6(name, false, procSys);
}

function setInterfaceIpv6(name: string, on: boolean, procSys: string): void {
  checkName(name);
  const path = `${procSys}/net/ipv6/conf/${name}/disable_ipv6`;
  try {
    writeFileSync(path, on ? '0' : '1');
  } catch (e) {
    throw procError('write', `write ${on ? 0 : 1} to ${path}`, e, hints(name));
  }
}

/** An interface name that is also a safe path component (no "/", not "." or ".."). */
function checkName(name: string): void {
  checkIfName(name);
  if (name.includes('/') || name === '.' || name === '..') {
    throw new InvalidArgumentError(`interface name ${JSON.stringify(name)} is not a valid interface name`);
  }
}

function hints(name: string): Hints {
  return {
    ENOENT: `no interface ${name} in this network namespace, or this kernel has no IPv6 (see ipv6Status())`,
    EROFS: '/proc/sys is read-only here (a container without privileges): run weft privileged, or with /proc/sys writable',
    EACCES: 'weft needs CAP_NET_ADMIN and a writable /proc/sys',
    EPERM: 'weft needs CAP_NET_ADMIN',
  };
}

function readFlag(path: string): boolean | null {
  try {
    return readFileSync(path, 'utf8').trim() !== '0';
  } catch {
    return null;
  }
}

/** A Node fs error (code 'ENOENT', ...) as the SyscallError the rest of sys throws. */
function procError(syscall: string, what: string, e: unknown, h: Hints): Error {
  const code = (e as NodeJS.ErrnoException).code;
  const errno = code !== undefined ? (constants.errno as Record<string, number>)[code] : undefined;
  if (errno === undefined) return e instanceof Error ? e : new Error(String(e));
  return sysError(syscall, what, h, errno);
}
