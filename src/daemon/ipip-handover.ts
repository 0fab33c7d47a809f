// IP-in-IP receive handover between two wefts on one node (a rolling update:
// the new one starts, then the old one gets SIGTERM).
//
// Every raw IPPROTO_IPIP socket gets its own copy of every packet, so while two
// wefts run both would decapsulate each packet into the TUN: duplicates. So one
// receives at a time. The receiver holds an flock on <state-dir>/ipip-rx.lock;
// a weft that cannot take it starts deaf (its raw socket has a drop-all filter,
// sys/raw.ts), sends as usual, and retries the lock every RETRY_MS. The old weft
// lets the lock go right after it closes its raw socket on SIGTERM (and the
// kernel lets it go on kill -9), so the new one's receive gap is about one retry.
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { tryLockExclusive } from '../sys/flock.js';
import { setReceiving } from '../sys/raw.js';

const RETRY_MS = 10;

export class IpipHandover {
  private fd: number;
  private timer: NodeJS.Timeout | null = null;
  /** True once this weft holds the lock and its raw socket receives. */
  receiving = false;

  constructor(stateDir: string, private readonly rxFd: number, private readonly log: Logger) {
    mkdirSync(stateDir, { recursive: true });
    this.fd = openSync(join(stateDir, 'ipip-rx.lock'), 'a', 0o600);
  }

  /** Takes the lock now or as soon as its holder lets go; then the socket receives. */
  start(): void {
    if (this.take()) return;
    this.log.info('another weft receives IP-in-IP on this node (ipip-rx.lock held): sending only, receiving once it stops');
    const since = Date.now();
    this.timer = setInterval(() => {
      if (this.take()) this.log.info({ waitedMs: Date.now() - since }, 'IP-in-IP receive taken over from the previous weft');
    }, RETRY_MS);
  }

  private take(): boolean {
    if (this.fd < 0 || !tryLockExclusive(this.fd)) return false;
    setReceiving(this.rxFd, true);
    this.receiving = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    return true;
  }

  /** After the raw socket is closed: lets the next weft receive. */
  release(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
