// The daemon's local interfaces as one piece: the status socket (every
// endpoint; the private ones for root or --status-group) and, with
// --healthz-port, the healthz listener (/healthz /readyz /metrics only).
// Bound first of all, before the registry or the host; served once the data
// plane is up (503 "starting" until then).
import type { Logger } from 'pino';
import { createLocalServer, HttpStats, type HealthSource } from './http.js';
import { LocalAccess, PRIVATE_ENDPOINTS, resolveGroup } from './local-access.js';
import { LocalListener } from './local-listener.js';

export interface LocalFlags {
  statusSocket: string;
  statusGroup: string | null;
  healthzIp: string;
  healthzPort: number;
}

export class LocalInterfaces {
  private source: HealthSource | null = null;
  readonly stats = new HttpStats();
  readonly access: LocalAccess;
  readonly listeners: LocalListener[] = [];

  private constructor(flags: LocalFlags, log: Logger) {
    this.access = new LocalAccess(flags.statusGroup === null ? null : resolveGroup(flags.statusGroup));
    const get = () => this.source;
    this.listeners.push(
      new LocalListener('status socket', createLocalServer(get, { listener: 'status', stats: this.stats, access: this.access }), { kind: 'socket', name: flags.statusSocket }, log),
    );
    if (flags.healthzPort > 0) {
      this.listeners.push(
        new LocalListener('healthz', createLocalServer(get, { listener: 'healthz', stats: this.stats }), { kind: 'tcp', ip: flags.healthzIp, port: flags.healthzPort }, log),
      );
    }
  }

  /** Binds every listener (or starts retrying a taken one); throws on a configuration error, having closed them. */
  static async bind(flags: LocalFlags, log: Logger): Promise<LocalInterfaces> {
    const local = new LocalInterfaces(flags, log);
    try {
      for (const l of local.listeners) await l.start();
    } catch (e) {
      local.close();
      throw e;
    }
    return local;
  }

  serve(source: HealthSource): void {
    this.source = source;
  }

  close(): void {
    this.listeners.forEach((l) => l.close());
  }

  metrics(): string {
    const lines = [
      '# HELP weft_local_refused_total Requests to the status socket refused: the client is not root or in --status-group (SO_PEERCRED).',
      '# TYPE weft_local_refused_total counter',
      ...PRIVATE_ENDPOINTS.map((e) => `weft_local_refused_total{endpoint="${e}"} ${this.access.refused[e]}`),
      '# HELP weft_local_refused_connections_total Status socket connections closed at once: too many already open from clients that are not root or in --status-group.',
      '# TYPE weft_local_refused_connections_total counter',
      `weft_local_refused_connections_total ${this.access.crowded}`,
      '# HELP weft_local_bad_requests_total Requests to a local listener answered 4xx for their form (target, method, headers, query, timeout).',
      '# TYPE weft_local_bad_requests_total counter',
      ...(['status', 'healthz'] as const).map((l) => `weft_local_bad_requests_total{listener="${l}"} ${this.stats.malformed[l]}`),
      '# HELP weft_local_listener_up 1 when the listener is bound, 0 while its address is taken and weft retries.',
      '# TYPE weft_local_listener_up gauge',
      ...this.listeners.map((l) => `weft_local_listener_up{listener="${l.target.kind === 'socket' ? 'status' : 'healthz'}"} ${l.bound ? 1 : 0}`),
    ];
    return lines.join('\n') + '\n';
  }
}
