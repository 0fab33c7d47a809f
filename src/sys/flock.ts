// flock(2) on an fd from fs.openSync: an advisory lock the kernel drops when the
// holder closes the fd or dies (kill -9 included), so it tells a successor when
// its predecessor has gone.
import { EAGAIN, EINTR } from './constants.js';
import { lastErrno, libc, sysError } from './libc.js';
import { LOCK_EX, LOCK_NB, LOCK_UN } from './constants.js';

/** LOCK_EX | LOCK_NB: true when taken, false when another open file holds it. */
export function tryLockExclusive(fd: number): boolean {
  for (;;) {
    if (libc.flock(fd, LOCK_EX | LOCK_NB) === 0) return true;
    const errno = lastErrno();
    if (errno === EAGAIN) return false; // EWOULDBLOCK
    if (errno !== EINTR) throw sysError('flock', `flock LOCK_EX|LOCK_NB fd ${fd}`, undefined, errno);
  }
}

export function unlock(fd: number): void {
  libc.flock(fd, LOCK_UN);
}
