// What forwards a node's pods' packets, seen from the daemon (run.ts): the
// tunnel (tunnel.ts: TUN, underlay sockets, workers; vxlan, ipip, udp), or the
// kernel's own routes (kernel-routes.ts: host-gw). run.ts owns what every node
// has (registry, lease, lease admission, rules, subnet file, local interfaces)
// and hands each admitted batch of lease events to the forwarder.
import type { ServerResponse } from 'node:http';
import type { LeaseEvent } from '../registry/types.js';
import type { TableSnapshot } from './lease-metrics.js';

export interface Forwarder {
  /** One admitted batch of lease events (the first is the snapshot). */
  apply(events: readonly LeaseEvent[]): void;
  /** The snapshot is applied: forward from now on. */
  go(): void;
  /** The snapshot is applied and the rules are in: remove what a killed weft left, start the periodic checks. */
  settled(signal: AbortSignal): void;
  /** Peers the node forwards to. */
  readonly peerCount: number;
  /** Why the node is not ready, or null. */
  notReady(): string | null;
  /** Stop taking packets (a weft started beside this one takes them), then stop. */
  stop(): Promise<void>;
  /** Its part of `weft status`. */
  status(): Record<string, unknown>;
  /** Its part of /metrics. */
  metrics(): string;
  /** The route and peer tables' fill, for the lease metrics; null without tables (host-gw). */
  tables(): TableSnapshot | null;
  /** The workers' heaps summed, for the memory metrics; null without workers. */
  workerHeapUsed(): number | null;
  /** `weft trace` and `weft capture`. */
  trace(q: URLSearchParams): unknown;
  capture(q: URLSearchParams, res: ServerResponse): void;
}
