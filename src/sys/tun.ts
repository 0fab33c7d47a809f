// TUN devices: open /dev/net/tun, attach with TUNSETIFF (IFF_TUN | IFF_NO_PI, so a
// read() returns exactly one IP packet and a write() takes one), then move packets
// with plain read()/write() through koffi from a worker thread — libuv's threadpool
// (fs.read) tops out near 60k packets/s, a blocking read() in a worker near 500k.
//
// Queues: with IFF_MULTI_QUEUE every open+TUNSETIFF of the same name adds a queue;
// the kernel spreads flows across them, so each worker owns one fd. Fds are
// nonblocking by default: a worker loop calls readPacketWait(), which costs one
// read() per packet under load and parks in poll() only when the queue is empty,
// waking every timeoutMs to look at its stop flag.
// IFF_VNET_HDR (option vnetHdr) prefixes every packet with a virtio_net_hdr; it is
// there for offloads (TUNSETVNETHDRSZ, TUNSETOFFLOAD below) and off by default.
//
// Persistence (option persist, TUNSETPERSIST): the device, its addresses and routes
// then outlive the fds. With no queue attached the kernel turns the carrier off and
// drops what is routed into it; the next process that attaches a queue (open +
// TUNSETIFF of the same name) turns it on again. Several processes may hold queues of
// one multi-queue device at once, and the kernel spreads flows over all of them. The
// device-wide flags (IFF_VNET_HDR) are set by the first queue only: a queue attached
// beside others gets the device's flags, whatever it asked for (tun_set_iff), so read
// them back with tunFlags() before trusting the packet format.

import { InvalidArgumentError } from '../../native-free/errors.js';
import { EAGAIN, EINTR, NEEDS_NET_ADMIN, addressOf, checkRange, closeQuietly, lastErrno, libc, pollFd, sysError, scratch } from './libc.js';
import { readFileSync } from 'node:fs';
import {
  IFF_MULTI_QUEUE,
  IFF_NO_PI,
  IFF_PERSIST,
  IFF_TUN,
  IFF_VNET_HDR,
  O_CLOEXEC,
  O_NONBLOCK,
  O_RDWR,
  POLLIN,
  TUNGETIFF,
  TUNSETIFF,
  TUNSETOFFLOAD,
  TUNSETPERSIST,
  TUNSETQUEUE,
  IFF_ATTACH_QUEUE,
  IFF_DETACH_QUEUE,
  TUNSETVNETHDRSZ,
} from './constants.js';
import { UNION, ifreq, ifreqName } from './ifreq.js';

const TUN_PATH = '/dev/net/tun';

export interface TunOptions {
  /** Interface name (≤15 bytes, may be a pattern like 'weft%d'); default: the kernel picks 'tunN'. */
  name?: string;
  /** Number of queues (fds) to open; more than 1 implies multiQueue. Default 1. */
  queues?: number;
  multiQueue?: boolean;
  /** IFF_VNET_HDR: packets carry a virtio_net_hdr in front. Default false. */
  vnetHdr?: boolean;
  /** O_NONBLOCK on every fd. Default true (see readPacketWait). */
  nonBlocking?: boolean;
  /** TUNSETPERSIST: the device stays when the last fd closes (deleteTun removes it). Default false. */
  persist?: boolean;
}

export interface Tun {
  /** The real name, as the kernel reports it. */
  name: string;
  /** One fd per queue. */
  fds: number[];
}

export function openTun(o: TunOptions = {}): Tun {
  const queues = o.queues ?? 1;
  if (!Number.isInteger(queues) || queues < 1 || queues > 256) throw new InvalidArgumentError(`TUN queues ${queues} (1–256)`);
  const flags =
    IFF_TUN | IFF_NO_PI | (o.multiQueue || queues > 1 ? IFF_MULTI_QUEUE : 0) | (o.vnetHdr ? IFF_VNET_HDR : 0);
  const fds: number[] = [];
  let name = o.name;
  try {
    for (let q = 0; q < queues; q++) {
      const fd = openDev(o.nonBlocking !== false);
      fds.push(fd);
      name = attach(fd, name, flags); // later queues attach to the name the first got
    }
    if (o.persist) setPersist(fds[0]!, true);
  } catch (e) {
    fds.forEach(closeQuietly);
    throw e;
  }
  return { name: name!, fds };
}

function openDev(nonBlocking: boolean): number {
  const fd = libc.open(TUN_PATH, O_RDWR | O_CLOEXEC | (nonBlocking ? O_NONBLOCK : 0), 0);
  if (fd < 0) {
    throw sysError('open', `open ${TUN_PATH}`, {
      ...NEEDS_NET_ADMIN,
      ENOENT: 'no TUN device node: load the tun module (modprobe tun) or create /dev/net/tun',
      ENODEV: 'the kernel has no TUN support: load the tun module (modprobe tun)',
    });
  }
  return fd;
}

function attach(fd: number, name: string | undefined, flags: number): string {
  const r = ifreq(name);
  r.view.setUint16(UNION, flags, true);
  if (libc.ioctl(fd, TUNSETIFF, r.ptr) < 0) {
    throw sysError('ioctl', `ioctl TUNSETIFF ${name ?? '(kernel-chosen name)'}`, {
      ...NEEDS_NET_ADMIN,
      EINVAL: name !== undefined && !plausibleName(name)
        ? 'interface names are 1–15 bytes, not "." or "..", without "/", ":" or whitespace'
        : 'the flags (multi-queue, vnet_hdr) disagree with the existing device of that name',
      EBUSY: 'the interface exists and is not a TUN device this process may attach to (or, without multi-queue, is already open)',
    });
  }
  return ifreqName(r);
}

/** The kernel's dev_valid_name rules, used only to word the error. */
function plausibleName(name: string): boolean {
  return name !== '.' && name !== '..' && !/[/:\s]/.test(name);
}

/** TUNSETPERSIST on an attached fd: whether the device outlives its last fd. */
export function setPersist(fd: number, on: boolean): void {
  if (libc.ioctl(fd, TUNSETPERSIST, on ? 1 : 0) < 0) throw sysError('ioctl', `ioctl TUNSETPERSIST ${on ? 1 : 0} on fd ${fd}`, NEEDS_NET_ADMIN);
}

/**
 * TUNSETQUEUE: attach (true) or detach (false) this fd's queue of a multi-queue
 * device. A detached queue keeps its fd and may still be written, but the kernel
 * steers nothing to it (and drops what it held); weft detaches a worker's queue
 * when it stops, so the flows move to the weft that stays, and attaches a new
 * weft's queues only once its worker reads them. False when it already was so.
 */
export function setQueueAttached(fd: number, attached: boolean): boolean {
  const r = ifreq();
  r.view.setUint16(UNION, attached ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE, true);
  if (libc.ioctl(fd, TUNSETQUEUE, r.ptr) === 0) return true;
  const errno = lastErrno();
  if (errno === EINVAL_ERRNO) return false;
  throw sysError('ioctl', `ioctl TUNSETQUEUE ${attached ? 'attach' : 'detach'} on fd ${fd}`, undefined, errno);
}
const EINVAL_ERRNO = 22;

/** TUNGETIFF: the device's IFF_* flags as the kernel holds them (IFF_PERSIST included). */
export function tunFlags(fd: number): number {
  const r = ifreq();
  if (libc.ioctl(fd, TUNGETIFF, r.ptr) < 0) throw sysError('ioctl', `ioctl TUNGETIFF on fd ${fd}`);
  return r.view.getUint16(UNION, true);
}

/**
 * The IFF_* flags of an existing TUN/TAP device of this name (sysfs tun_flags), null
 * when there is no interface of that name, 'not-tun' when there is one of another kind.
 */
export function existingTunFlags(name: string): number | null | 'not-tun' {
  try {
    return parseInt(readFileSync(`/sys/class/net/${name}/tun_flags`, 'utf8').trim(), 16);
  } catch {
    try {
      readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8');
      return 'not-tun';
    } catch {
      return null;
    }
  }
}

/**
 * Whether some process holds a queue of this TUN, attached or detached: the kernel's
 * carrier is on exactly then (while the device is up; a down device has no readable
 * carrier: false).
 */
export function tunHasQueues(name: string): boolean {
  try {
    return readFileSync(`/sys/class/net/${name}/carrier`, 'utf8').trim() === '1';
  } catch {
    return false;
  }
}

/**
 * Removes a persistent TUN device: attaches one queue, clears IFF_PERSIST, closes it.
 * The device then goes when its last queue closes (now, unless a process still holds
 * one), and its addresses and routes with it. False when there is no such device.
 */
export function deleteTun(name: string): boolean {
  const flags = existingTunFlags(name);
  if (flags === null) return false;
  if (flags === 'not-tun') throw new InvalidArgumentError(`${name} is not a TUN device: not removing it`);
  const fd = openDev(true);
  try {
    attach(fd, name, IFF_TUN | (flags & (IFF_NO_PI | IFF_MULTI_QUEUE | IFF_VNET_HDR)));
    setPersist(fd, false);
  } finally {
    closeQuietly(fd);
  }
  return true;
}

export { IFF_PERSIST, IFF_VNET_HDR };

export function closeTun(t: Tun): void {
  t.fds.forEach(closeQuietly);
  t.fds.length = 0;
}

/**
 * One read(): the next packet into buf[off, off+maxLen), returns its length, or -1
 * when the fd is nonblocking and the queue is empty. Blocks on a blocking fd.
 * A packet longer than maxLen is cut (use maxLen ≥ MTU, plus the vnet header if any).
 */
export function readPacket(fd: number, buf: Uint8Array, off: number, maxLen: number): number {
  checkRange(buf, off, maxLen, 'readPacket');
  for (;;) {
    const n = libc.read(fd, addressOf(buf) + off, maxLen);
    if (n >= 0) return n;
    const errno = lastErrno();
    if (errno === EAGAIN) return -1;
    if (errno !== EINTR) throw sysError('read', `read TUN fd ${fd}`, undefined, errno);
  }
}

/** readPacket on a nonblocking fd, waiting up to timeoutMs when empty; -1 if none came. */
export function readPacketWait(fd: number, buf: Uint8Array, off: number, maxLen: number, timeoutMs: number): number {
  const n = readPacket(fd, buf, off, maxLen);
  if (n >= 0 || pollFd(fd, POLLIN, timeoutMs) === 0) return n;
  return readPacket(fd, buf, off, maxLen);
}

/** One write(): buf[off, off+len) must be one whole IP packet. Returns len. */
export function writePacket(fd: number, buf: Uint8Array, off: number, len: number): number {
  checkRange(buf, off, len, 'writePacket');
  for (;;) {
    const n = libc.write(fd, addressOf(buf) + off, len);
    if (n >= 0) return n;
    const errno = lastErrno();
    if (errno === EAGAIN) return -1;
    if (errno !== EINTR) {
      throw sysError('write', `write TUN fd ${fd}, ${len} bytes`, {
        EINVAL: 'not a valid IP packet, or larger than the device MTU allows',
        EIO: 'the interface is down',
      }, errno);
    }
  }
}

/** TUNSETVNETHDRSZ: size of the virtio_net_hdr (10, or 12 with num_buffers). */
export function setVnetHdrSize(fd: number, size: number): void {
  const v = scratch(4);
  v.view.setInt32(0, size, true);
  if (libc.ioctl(fd, TUNSETVNETHDRSZ, v.ptr) < 0) throw sysError('ioctl', `ioctl TUNSETVNETHDRSZ ${size} on fd ${fd}`);
}

/** TUNSETOFFLOAD with TUN_F_* flags (the value itself is the argument). Needs vnetHdr. */
export function setTunOffload(fd: number, flags: number): void {
  if (libc.ioctl(fd, TUNSETOFFLOAD, flags) < 0) {
    throw sysError('ioctl', `ioctl TUNSETOFFLOAD 0x${flags.toString(16)} on fd ${fd}`, {
      EINVAL: 'offload flags need IFF_VNET_HDR, and a kernel that knows each flag',
    });
  }
}
