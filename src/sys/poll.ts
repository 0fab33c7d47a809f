// poll() on the two fds a data-plane worker serves (TUN queue, socket), through koffi.
import { EINTR, lastErrno, libc, scratch, sysError } from './libc.js';
import { POLLFD_SIZE, POLLIN } from './constants.js';

export class PollSet {
  static readonly FIRST = 1;
  static readonly SECOND = 2;
  private readonly fds = scratch(2 * POLLFD_SIZE);
  private readonly count: number;

  /** second < 0: poll only the first fd. */
  constructor(first: number, second: number) {
    const v = this.fds.view;
    v.setInt32(0, first, true);
    v.setInt16(4, POLLIN, true);
    v.setInt32(POLLFD_SIZE, second, true);
    v.setInt16(POLLFD_SIZE + 4, POLLIN, true);
    this.count = second >= 0 ? 2 : 1;
  }

  /** Bit FIRST / SECOND for each fd with input (or an error to collect), 0 on timeout. */
  wait(timeoutMs: number): number {
    const v = this.fds.view;
    v.setInt16(6, 0, true);
    v.setInt16(POLLFD_SIZE + 6, 0, true);
    const r = libc.poll(this.fds.ptr, this.count, timeoutMs);
    if (r < 0) {
      const errno = lastErrno();
      if (errno === EINTR) return 0;
      throw sysError('poll', 'poll TUN queue and socket', undefined, errno);
    }
    if (r === 0) return 0;
    return (v.getInt16(6, true) !== 0 ? PollSet.FIRST : 0) | (this.count === 2 && v.getInt16(POLLFD_SIZE + 6, true) !== 0 ? PollSet.SECOND : 0);
  }
}
