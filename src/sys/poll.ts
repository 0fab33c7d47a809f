// poll() on the fds a data-plane worker serves (TUN queue, underlay socket, and
// on a dual-stack node its IPv6 underlay socket), through koffi.
import { EINTR, lastErrno, libc, scratch, sysError } from './libc.js';
import { POLLFD_SIZE, POLLIN } from './constants.js';

export class PollSet {
  static readonly FIRST = 1;
  static readonly SECOND = 2;
  static readonly THIRD = 4;
  private readonly fds = scratch(3 * POLLFD_SIZE);
  /** Which bit each pollfd slot answers for (an fd < 0 takes no slot). */
  private readonly bits: number[] = [];

  /** An fd < 0 is not polled (its bit is never set). */
  constructor(first: number, second: number, third = -1) {
    const v = this.fds.view;
    const add = (fd: number, bit: number): void => {
      if (fd < 0) return;
      const at = this.bits.length * POLLFD_SIZE;
      v.setInt32(at, fd, true);
      v.setInt16(at + 4, POLLIN, true);
      this.bits.push(bit);
    };
    add(first, PollSet.FIRST);
    add(second, PollSet.SECOND);
    add(third, PollSet.THIRD);
  }

  /** Bit FIRST / SECOND / THIRD for each fd with input (or an error to collect), 0 on timeout. */
  wait(timeoutMs: number): number {
    const v = this.fds.view;
    const n = this.bits.length;
    for (let i = 0; i < n; i++) v.setInt16(i * POLLFD_SIZE + 6, 0, true);
    const r = libc.poll(this.fds.ptr, n, timeoutMs);
    if (r < 0) {
      const errno = lastErrno();
      if (errno === EINTR) return 0;
      throw sysError('poll', 'poll TUN queue and sockets', undefined, errno);
    }
    if (r === 0) return 0;
    let ready = 0;
    for (let i = 0; i < n; i++) if (v.getInt16(i * POLLFD_SIZE + 6, true) !== 0) ready |= this.bits[i]!;
    return ready;
  }
}
