// `weft lab status` as text: the lab's nodes and pods in two tables (the
// lab gathers them, src/lab/status.ts; the CLI prints).
import { LAB_DIR } from '../lab/common.js';
import type { LabReport } from '../lab/status.js';
import { table } from './table.js';

export function formatLabReport(r: LabReport): string {
  const lines: string[] = [];
  const phase = r.phase === 'up' ? '' : ' (STILL BUILDING, or its `up` died: weft lab down)';
  lines.push(`weft lab: ${r.nodes.length} nodes, ${r.backend}, registry ${r.registry}${r.registryAlive ? '' : ' NOT RUNNING'}${phase}`);
  lines.push('');
  lines.push(
    table(
      ['NODE', 'NAMESPACE', 'UNDERLAY', 'SUBNET', 'WEFT PID', 'READY', 'PEERS', 'TX/RX PACKETS', 'DROPS'],
      r.nodes.map((n) => {
        const drops = Object.values(n.drops).reduce((a, b) => a + b, 0);
        return [
          n.name,
          n.ns,
          n.address,
          n.subnet ?? '-',
          n.pid === null ? '-' : `${n.pid} ${n.alive ? 'alive' : 'DEAD'}`,
          n.ready ? 'yes' : 'NO',
          n.peers ?? '-',
          n.txPackets === null ? '-' : `${n.txPackets}/${n.rxPackets}`,
          drops,
        ];
      }),
    ),
  );
  for (const n of r.nodes) {
    const d = Object.entries(n.drops);
    if (d.length > 0) lines.push(`  ${n.name} drops: ${d.map(([k, v]) => `${k} ${v}`).join(', ')}`);
  }
  lines.push('');
  lines.push(
    table(
      ['POD', 'NAMESPACE', 'ADDRESS', 'NODE'],
      r.pods.map((p) => [p.name, p.exists ? p.ns : `${p.ns} (GONE)`, p.address, p.node]),
    ),
  );
  lines.push('');
  const [a, b] = [r.pods[0], r.pods[1]];
  if (a && b) lines.push(`try: weft lab exec ${a.name} -- ping -c 3 ${b.address.split('/')[0]}`);
  lines.push(`     weft lab exec ${r.nodes[0]?.name ?? 'node1'} -- weft status      (files in ${LAB_DIR})`);
  return lines.join('\n');
}
