// Metrics of the control side's lease handling: rejected leases by reason
// (lease-admission.ts) and how full the route and peer tables are. Rendered
// next to the data plane's counters in /metrics.
import { LEASE_REJECT_REASONS, type LeaseRejectReason } from '../dataplane/lease-admission.js';
import { metric } from './metrics.js';

export interface LeaseMetricsSnapshot {
  rejected: ReadonlyMap<LeaseRejectReason, number>;
  /** The tunnel's tables (none on a host-gw node). */
  tables: TableSnapshot | null;
}

export interface TableSnapshot {
  routes: { entries: number; capacity: number };
  peers: { entries: number; capacity: number };
  /** Leases that found a table full (counted once each until installed). */
  tableFull: number;
  /** Accepted leases waiting for room; /readyz is false while this is above 0. */
  pending: number;
}

export function renderLeaseMetrics(s: LeaseMetricsSnapshot): string {
  const t = s.tables;
  const rejected = metric('weft_leases_rejected_total', 'counter', 'Peer leases refused before reaching a table or route, by reason.', LEASE_REJECT_REASONS.map((r) => [`{reason="${r}"}`, s.rejected.get(r) ?? 0]));
  if (t === null) return `${rejected}\n`;
  return (
    [
      rejected,
      metric('weft_table_entries', 'gauge', 'Entries in the route and peer tables.', [['{table="routes"}', t.routes.entries], ['{table="peers"}', t.peers.entries]]),
      metric('weft_table_capacity', 'gauge', 'Capacity of the route and peer tables (--table-capacity).', [['{table="routes"}', t.routes.capacity], ['{table="peers"}', t.peers.capacity]]),
      metric('weft_table_full_total', 'counter', 'Accepted leases that could not be installed because a table was full.', [['', t.tableFull]]),
      metric('weft_leases_pending', 'gauge', 'Accepted leases waiting for room in the tables (not ready while above 0).', [['', t.pending]]),
    ].join('\n') + '\n'
  );
}
