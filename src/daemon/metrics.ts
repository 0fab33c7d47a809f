// Prometheus text exposition (format 0.0.4) of the data plane's counters.
import { DROP_REASONS } from '../../native-free/drop.js';
import { OFFLOAD_REASONS } from '../../native-free/offload/reasons.js';
import {
  DROPS,
  GSO_FALLBACKS,
  GSO_SEGMENTS,
  GSO_SENDS,
  OFFLOAD_DROPS,
  RX_BYTES,
  RX_PACKETS,
  TSO_SEGMENTS,
  TSO_SUPER_PACKETS,
  TUN_GRO_SEGMENTS,
  TUN_GRO_WRITES,
  TX_BYTES,
  TX_PACKETS,
  UDP_GRO_DATAGRAMS,
  UDP_GRO_SEGMENTS,
} from '../dataplane/counters.js';

export interface MetricsSnapshot {
  backend: string;
  totals: Float64Array;
  peers: number;
  workers: number;
  workerRestarts: number;
  workerStalls: number;
  /** Packets the kernel dropped at the TUN because the workers did not read them in time (sysfs tx_dropped), or null. */
  tunDropped: number | null;
  /** Source-port entropy: send-only sockets (0: off), and what arrived at their ports and the kernel dropped unread. */
  sourcePorts?: { sockets: number; dropped: number };
}

export function metric(name: string, type: 'counter' | 'gauge', help: string, samples: [string, number][]): string {
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`];
  for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
  return lines.join('\n');
}

export function renderMetrics(s: MetricsSnapshot): string {
  const b = `{backend="${s.backend}"}`;
  const t = s.totals;
  const drops: [string, number][] = DROP_REASONS.slice(1).map((reason, i) => [`{reason="${reason}"}`, t[DROPS + i + 1] ?? 0]);
  return (
    [
      metric('weft_tx_packets_total', 'counter', 'Packets encapsulated and sent to peers.', [[b, t[TX_PACKETS]!]]),
      metric('weft_tx_bytes_total', 'counter', 'Bytes of inner packets sent to peers.', [[b, t[TX_BYTES]!]]),
      metric('weft_rx_packets_total', 'counter', 'Packets received from peers and delivered to the TUN.', [[b, t[RX_PACKETS]!]]),
      metric('weft_rx_bytes_total', 'counter', 'Bytes of inner packets delivered to the TUN.', [[b, t[RX_BYTES]!]]),
      metric('weft_dropped_packets_total', 'counter', 'Packets dropped, by reason.', drops),
      metric('weft_offload_bad_packets_total', 'counter', 'TUN reads dropped as bad_offload, by what was wrong.', offloadDrops(t)),
      metric('weft_tso_super_packets_total', 'counter', 'TCP and UDP super-packets read from the TUN (TSO, USO) and segmented here.', [['', t[TSO_SUPER_PACKETS]!]]),
      metric('weft_tso_segments_total', 'counter', 'Segments made from TCP super-packets.', [['', t[TSO_SEGMENTS]!]]),
      metric('weft_udp_gso_sends_total', 'counter', 'Datagram batches sent with UDP_SEGMENT.', [['', t[GSO_SENDS]!]]),
      metric('weft_udp_gso_segments_total', 'counter', 'Datagrams sent inside UDP_SEGMENT batches.', [['', t[GSO_SEGMENTS]!]]),
      metric('weft_udp_gso_fallbacks_total', 'counter', 'UDP_SEGMENT sends the kernel refused, resent one datagram at a time (GSO then stays off).', [['', t[GSO_FALLBACKS]!]]),
      metric('weft_udp_gro_datagrams_total', 'counter', 'Coalesced datagrams received (UDP_GRO).', [['', t[UDP_GRO_DATAGRAMS]!]]),
      metric('weft_udp_gro_segments_total', 'counter', 'Datagrams inside coalesced receives.', [['', t[UDP_GRO_SEGMENTS]!]]),
      metric('weft_tun_gro_writes_total', 'counter', 'Coalesced TCP and UDP super-packets written to the TUN.', [['', t[TUN_GRO_WRITES]!]]),
      metric('weft_tun_gro_segments_total', 'counter', 'Received segments merged into coalesced TUN writes.', [['', t[TUN_GRO_SEGMENTS]!]]),
      metric('weft_peers', 'gauge', 'Known remote nodes.', [['', s.peers]]),
      metric('weft_workers', 'gauge', 'Data-plane worker threads running.', [['', s.workers]]),
      metric('weft_worker_restarts_total', 'counter', 'Worker threads that died or stalled and were replaced.', [['', s.workerRestarts]]),
      metric('weft_worker_stalls_total', 'counter', 'Worker threads terminated because their heartbeat stopped.', [['', s.workerStalls]]),
      ...(s.sourcePorts === undefined
        ? []
        : [
            metric('weft_source_port_sockets', 'gauge', 'Send-only UDP sockets the outer source port is picked from by inner flow (--source-ports; 0: the backend port only).', [['', s.sourcePorts.sockets]]),
            metric('weft_source_port_dropped_total', 'counter', 'Datagrams sent to a send-only source port, dropped by the kernel before queueing (never read).', [['', s.sourcePorts.dropped]]),
          ]),
      ...(s.tunDropped === null
        ? []
        : [metric('weft_tun_dropped_packets_total', 'counter', 'Packets the kernel dropped at the TUN queue before a worker read them.', [['', s.tunDropped]])]),
    ].join('\n') + '\n'
  );
}

function offloadDrops(t: Float64Array): [string, number][] {
  return OFFLOAD_REASONS.slice(1).map((reason, i) => [`{reason="${reason}"}`, t[OFFLOAD_DROPS + i + 1] ?? 0]);
}
