// The daemon's local listeners (status socket, healthz port), bound before
// the host is touched. A name or port somebody else holds (EADDRINUSE: a
// squatter, or the old weft of a rolling restart still running beside this
// one) does not stop the data plane: weft warns, starts anyway, and retries
// the bind in the background with backoff until it has it. Any other bind
// error (an address not on this host, a path that cannot be made) is a
// configuration error and refuses the start, still before the host changed.
import { mkdirSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { socketAddress } from './http.js';

const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 5_000;

export type BindTarget = { kind: 'socket'; name: string } | { kind: 'tcp'; ip: string; port: number };

/** True when something accepts connections on the unix socket. */
function socketInUse(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

class InUse extends Error {}

export class LocalListener {
  /** True while bound. */
  bound = false;
  /** Bind attempts refused with EADDRINUSE so far. */
  inUse = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private delay = FIRST_RETRY_MS;

  constructor(
    readonly label: string,
    readonly server: Server,
    readonly target: BindTarget,
    private readonly log: Logger,
  ) {}

  get where(): string {
    return this.target.kind === 'socket' ? this.target.name : `${this.target.ip}:${this.target.port}`;
  }

  /** One attempt now; resolves bound or retrying in the background, rejects on any other error. */
  async start(): Promise<void> {
    try {
      await this.attempt();
      this.log.info({ listener: this.label, at: this.where }, `serving ${this.label} on ${this.where}`);
    } catch (e) {
      if (!(e instanceof InUse)) throw new Error(`cannot serve ${this.label} on ${this.where}: ${(e as Error).message}`);
      this.log.warn(
        { listener: this.label, at: this.where, retryMs: this.delay },
        `${this.label} ${this.where} is taken by another process (EADDRINUSE): the data plane starts anyway; retrying the bind in the background`,
      );
      this.schedule();
    }
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.attempt().then(
        () => this.log.info({ listener: this.label, at: this.where, attempts: this.inUse + 1 }, `${this.label} now served on ${this.where}`),
        (e) => {
          if (!(e instanceof InUse)) this.log.warn({ listener: this.label, at: this.where, err: (e as Error).message }, `${this.label}: bind failed; retrying`);
          this.delay = Math.min(this.delay * 2, MAX_RETRY_MS);
          this.schedule();
        },
      );
    }, this.delay);
    this.timer.unref();
  }

  private async attempt(): Promise<void> {
    if (this.closed) return;
    const t = this.target;
    let path: string | null = null;
    if (t.kind === 'socket') {
      path = socketAddress(t.name);
      if (!t.name.startsWith('@')) {
        // A file socket: a live one is someone's; a dead one (a killed daemon's) is replaced.
        if (await socketInUse(path)) {
          this.inUse++;
          throw new InUse();
        }
        mkdirSync(dirname(path), { recursive: true });
        rmSync(path, { force: true });
      }
    }
    await new Promise<void>((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException): void => {
        this.server.off('listening', onListening);
        if (e.code === 'EADDRINUSE') {
          this.inUse++;
          reject(new InUse());
        } else reject(e);
      };
      const onListening = (): void => {
        this.server.off('error', onError);
        resolve();
      };
      this.server.once('error', onError);
      this.server.once('listening', onListening);
      if (path !== null) this.server.listen({ path });
      else if (t.kind === 'tcp') this.server.listen(t.port, t.ip);
    });
    if (this.closed) {
      this.server.close();
      return;
    }
    this.bound = true;
    if (path !== null && t.kind === 'socket' && !t.name.startsWith('@')) {
      const file = path;
      this.server.once('close', () => rmSync(file, { force: true }));
    }
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.bound) {
      this.server.close();
      // A capture client that never reads would otherwise hold the stop up.
      this.server.closeAllConnections();
    }
    this.bound = false;
  }
}
