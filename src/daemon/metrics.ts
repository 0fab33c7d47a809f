// Prometheus text exposition (format 0.0.4) of the data plane's counters.
import { DROP_REASONS } from '../../native-free/drop.js';
import { DROPS, RX_BYTES, RX_PACKETS, TX_BYTES, TX_PACKETS } from './counters.js';

export interface MetricsSnapshot {
  backend: string;
  totals: Float64Array;
  peers: number;
  workers: number;
  workerRestarts: number;
  /** Packets the kernel dropped at the TUN because the workers did not read them in time (sysfs tx_dropped), or null. */
  tunDropped: number | null;
}

function metric(name: string, type: 'counter' | 'gauge', help: string, samples: [string, number][]): string {
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
      metric('weft_peers', 'gauge', 'Known remote nodes.', [['', s.peers]]),
      metric('weft_workers', 'gauge', 'Data-plane worker threads running.', [['', s.workers]]),
      metric('weft_worker_restarts_total', 'counter', 'Worker threads that died and were replaced.', [['', s.workerRestarts]]),
      ...(s.tunDropped === null
        ? []
        : [metric('weft_tun_dropped_packets_total', 'counter', 'Packets the kernel dropped at the TUN queue before a worker read them.', [['', s.tunDropped]])]),
    ].join('\n') + '\n'
  );
}
