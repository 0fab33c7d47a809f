import { WeftError } from '../../native-free/errors.js';

/**
 * A system call failed. `code` is stable ('ERR_WEFT_SYSCALL'); callers branch on
 * `errnoName` ('EPERM', 'EAGAIN', ...), never on the message, which is for people:
 * "open /dev/net/tun: EACCES (permission denied) — weft needs CAP_NET_ADMIN".
 */
export class SyscallError extends WeftError {
  /** The libc function that failed: 'open', 'ioctl', 'sendmmsg', ... */
  readonly syscall: string;
  readonly errno: number;
  readonly errnoName: string;

  /**
   * @param what     what was attempted, starting with the call: "ioctl TUNSETIFF weft0"
   * @param describe errno text as strerror gives it ("Permission denied")
   * @param hint     what the operator can do about it, when we know
   */
  constructor(syscall: string, what: string, errno: number, errnoName: string, describe: string, hint?: string) {
    const text = describe.length > 0 ? describe[0]!.toLowerCase() + describe.slice(1) : 'unknown error';
    super('ERR_WEFT_SYSCALL', `${what}: ${errnoName} (${text})${hint ? ` — ${hint}` : ''}`);
    this.syscall = syscall;
    this.errno = errno;
    this.errnoName = errnoName;
  }
}
