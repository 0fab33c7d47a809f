// koffi bindings to the libc calls weft's data plane needs, and errno → SyscallError.
//
// Findings (koffi 2.16.3, Node 20.20, x86_64 VM; throwaway probes, ns per call):
// - A Uint8Array/Buffer given for a `void *` parameter is passed as a pointer to its own
//   memory, byteOffset included, with no copy in either direction (koffi's IsRawBuffer
//   fast path; checked by read()ing 8 MiB from a file into a subarray of an ArrayBuffer
//   at offset 1005: every byte landed, the 5 bytes before it stayed 0; libc.test.ts
//   repeats it with 4 MiB). SharedArrayBuffer views work the same way; a bare
//   SharedArrayBuffer does not (koffi.address throws on it).
// - But any pointer-typed parameter is slow: memchr(p, 0, 0) costs ~270 ns with a
//   Uint8Array, a BigInt or a koffi.alloc pointer for `void *`, against ~112 ns when the
//   parameter is declared `uintptr_t` and given a plain JS number (abs(int): ~60 ns).
//   write(/dev/null, 1500 B): 440–560 ns as `void *`, ~277 ns as `uintptr_t` + number,
//   ~332 ns through writePacket() (range check + addressOf). So every buffer parameter
//   below is `uintptr_t`, and callers pass addresses (numbers < 2^53, exact).
// - koffi.address(typedArray) returns the BigInt address of its first byte (byteOffset
//   included). ArrayBuffer backing stores do not move under V8's GC (a small on-heap
//   typed array is moved off-heap once, when koffi first asks for its storage, and
//   stays), so an address taken once per ArrayBuffer stays valid while the buffer is
//   alive and not detached/transferred. addressOf() caches it (last buffer, then a
//   WeakMap); calling koffi.address per call costs ~125 ns more. Slabs for iovec /
//   mmsghdr arrays (mmsg.ts) precompute every slot address: no lookup at all.
//   koffi.alloc + koffi.view also gives stable memory, at the same call cost, but its
//   memory cannot be a SharedArrayBuffer shared between workers; not used.
// - Because raw addresses bypass koffi's checks, every function taking (buf, off, len)
//   checks the range against buf.length itself (a detached buffer has length 0).
// - koffi.errno() reads the calling thread's errno: read it right after the failing
//   call, before anything else runs (sysError() does). ~60 ns; failure path only.
// - ioctl and open are variadic in C; they are declared here with a fixed third
//   argument, which is the same call on x86_64 SysV for integer/pointer arguments.
// - koffi works in worker_threads; each worker loads its own bindings (module instance).
// Throughput of the layer: test/sys/fixtures/measure.mjs (root; makes its own netns).

import koffi from 'koffi';
import { endianness } from 'node:os';
import { InvalidArgumentError } from '../../native-free/errors.js';
import { SyscallError } from './errors.js';
import { EAGAIN, EINTR, POLLFD_SIZE } from './constants.js';

if (process.platform !== 'linux' || process.arch !== 'x64' || endianness() !== 'LE') {
  throw new Error(`weft's syscall layer supports Linux x86_64 only, not ${process.platform}/${process.arch}`);
}

const lib = koffi.load('libc.so.6');

type Fn<A extends unknown[], R = number> = (...args: A) => R;
type Ptr = number; // an address, from addressOf() or a slab

/** Raw libc calls: -1 and errno on failure, nothing checked. Prefer the wrappers. */
export const libc = {
  open: lib.func('int open(const char *path, int flags, uint32_t mode)') as Fn<[string, number, number]>,
  close: lib.func('int close(int fd)') as Fn<[number]>,
  read: lib.func('intptr_t read(int fd, uintptr_t buf, size_t n)') as Fn<[number, Ptr, number]>,
  write: lib.func('intptr_t write(int fd, uintptr_t buf, size_t n)') as Fn<[number, Ptr, number]>,
  ioctl: lib.func('int ioctl(int fd, unsigned long req, uintptr_t arg)') as Fn<[number, number, number]>,
  socket: lib.func('int socket(int domain, int type, int protocol)') as Fn<[number, number, number]>,
  bind: lib.func('int bind(int fd, uintptr_t addr, uint32_t len)') as Fn<[number, Ptr, number]>,
  connect: lib.func('int connect(int fd, uintptr_t addr, uint32_t len)') as Fn<[number, Ptr, number]>,
  setsockopt: lib.func('int setsockopt(int fd, int level, int name, uintptr_t val, uint32_t len)') as Fn<
    [number, number, number, Ptr, number]
  >,
  getsockopt: lib.func('int getsockopt(int fd, int level, int name, uintptr_t val, uintptr_t len)') as Fn<
    [number, number, number, Ptr, Ptr]
  >,
  getsockname: lib.func('int getsockname(int fd, uintptr_t addr, uintptr_t len)') as Fn<[number, Ptr, Ptr]>,
  sendto: lib.func('intptr_t sendto(int fd, uintptr_t buf, size_t n, int flags, uintptr_t to, uint32_t tolen)') as Fn<
    [number, Ptr, number, number, Ptr, number]
  >,
  recvfrom: lib.func(
    'intptr_t recvfrom(int fd, uintptr_t buf, size_t n, int flags, uintptr_t from, uintptr_t fromlen)',
  ) as Fn<[number, Ptr, number, number, Ptr, Ptr]>,
  sendmmsg: lib.func('int sendmmsg(int fd, uintptr_t vec, uint32_t n, int flags)') as Fn<[number, Ptr, number, number]>,
  recvmmsg: lib.func('int recvmmsg(int fd, uintptr_t vec, uint32_t n, int flags, uintptr_t timeout)') as Fn<
    [number, Ptr, number, number, Ptr]
  >,
  poll: lib.func('int poll(uintptr_t fds, unsigned long n, int timeout)') as Fn<[Ptr, number, number]>,
  flock: lib.func('int flock(int fd, int op)') as Fn<[number, number]>,
  strerror: lib.func('const char *strerror(int errnum)') as Fn<[number], string>,
};

// ---- addresses of JS memory ----

const bases = new WeakMap<ArrayBufferLike, number>();
// A worker's loop mostly uses one slab: check it before the WeakMap.
let lastBuffer: ArrayBufferLike | null = null;
let lastBase = 0;

/** Address of buf[0]. Valid while buf's ArrayBuffer is alive and not detached. */
export function addressOf(buf: Uint8Array): number {
  const ab = buf.buffer;
  if (ab !== lastBuffer) {
    let base = bases.get(ab);
    if (base === undefined) {
      base = Number(koffi.address(new Uint8Array(ab)));
      bases.set(ab, base);
    }
    lastBuffer = ab;
    lastBase = base;
  }
  return lastBase + buf.byteOffset;
}

/** Throws unless [off, off+len) lies inside buf: raw addresses get no other check. */
export function checkRange(buf: Uint8Array, off: number, len: number, what: string): void {
  if (!(off >= 0 && len >= 0 && off + len <= buf.length)) {
    throw new InvalidArgumentError(`${what}: range [${off}, ${off + len}) is outside a buffer of ${buf.length} bytes`);
  }
}

/** Scratch memory for small structs (ifreq, sockaddr, pollfd, option values); per thread. */
export function scratch(size: number): { buf: Uint8Array; view: DataView; ptr: Ptr } {
  const buf = new Uint8Array(new ArrayBuffer(size));
  return { buf, view: new DataView(buf.buffer), ptr: addressOf(buf) };
}

// ---- errno ----

const errnoNames = new Map<number, string>();
for (const [name, value] of Object.entries(koffi.os.errno)) {
  if (!errnoNames.has(value)) errnoNames.set(value, name); // EAGAIN before EWOULDBLOCK
}
errnoNames.set(95, 'EOPNOTSUPP'); // sockets say EOPNOTSUPP; koffi lists ENOTSUP first

export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `errno ${errno}`;
}

/** What to tell the operator for a given errno name, per call site. */
export type Hints = Partial<Record<string, string>>;

/** Builds the error for the call that just failed; call it before anything else. */
export function sysError(syscall: string, what: string, hints?: Hints, errno = koffi.errno()): SyscallError {
  const name = errnoName(errno);
  return new SyscallError(syscall, what, errno, name, libc.strerror(errno) ?? '', hints?.[name]);
}

export const NEEDS_NET_ADMIN: Hints = {
  EPERM: 'weft needs CAP_NET_ADMIN',
  EACCES: 'weft needs CAP_NET_ADMIN',
};

// ---- small checked wrappers ----

export function close(fd: number): void {
  if (libc.close(fd) < 0) throw sysError('close', `close fd ${fd}`);
}

/** Closes and ignores errors: for cleanup paths that must not mask the first error. */
export function closeQuietly(fd: number): void {
  if (fd >= 0) libc.close(fd);
}

const pfd = scratch(POLLFD_SIZE);

/**
 * Waits up to timeoutMs (-1: forever) for `events` on fd; returns revents, 0 on timeout.
 * A signal (EINTR) counts as a timeout: the caller's loop re-checks its stop flag.
 */
export function pollFd(fd: number, events: number, timeoutMs: number): number {
  pfd.view.setInt32(0, fd, true);
  pfd.view.setInt16(4, events, true);
  pfd.view.setInt16(6, 0, true);
  const r = libc.poll(pfd.ptr, 1, timeoutMs);
  if (r > 0) return pfd.view.getInt16(6, true);
  if (r === 0) return 0;
  const errno = koffi.errno();
  if (errno === EINTR) return 0;
  throw sysError('poll', `poll fd ${fd}`, undefined, errno);
}

/** errno of the last failed call, for hot loops that branch on EAGAIN/EINTR themselves. */
export function lastErrno(): number {
  return koffi.errno();
}

export { EAGAIN, EINTR };
