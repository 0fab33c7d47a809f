// `weft lab status`: the lab's nodes (namespace, underlay address, lease, weft
// pid alive?, ready?, peers, drops) and pods, each node asked with
// `weft status --json` inside its namespace.
import { table } from '../cli/table.js';
import { LAB_DIR, STATE_FILE } from './common.js';
import { alive, labNamespaces } from './exec.js';
import { type LabState, readState } from './state.js';
import { isLabEtcd, isLabWeft, nodeStatus, type NodeStatus } from './weft.js';

export interface NodeReport {
  name: string;
  ns: string;
  address: string;
  subnet: string | null;
  pid: number | null;
  alive: boolean;
  ready: boolean;
  peers: number | null;
  drops: Record<string, number>;
  txPackets: number | null;
  rxPackets: number | null;
}

export interface LabReport {
  phase: LabState['phase'];
  backend: string;
  registry: string;
  registryAlive: boolean;
  nodes: NodeReport[];
  pods: { name: string; ns: string; address: string; node: string; exists: boolean }[];
  /** Everything alive and ready, every pod there. */
  healthy: boolean;
}

export type StatusResult = { kind: 'none' } | { kind: 'broken'; why: string } | { kind: 'lab'; report: LabReport };

export async function labStatus(): Promise<StatusResult> {
  const { state, problem } = readState();
  const namespaces = labNamespaces();
  if (!state) {
    if (problem) return { kind: 'broken', why: problem };
    if (namespaces.length > 0) return { kind: 'broken', why: `lab namespaces exist (${namespaces.join(' ')}) but ${STATE_FILE} does not` };
    return { kind: 'none' };
  }
  const existing = new Set(namespaces);
  const statuses = await Promise.all(
    state.nodes.map((n): Promise<NodeStatus | null> => (existing.has(n.ns) ? nodeStatus(n.ns).catch(() => null) : Promise.resolve(null))),
  );
  const nodes = state.nodes.map((n, i): NodeReport => {
    const s = statuses[i] ?? null;
    const up = n.pid !== null && alive(n.pid) && isLabWeft(n.pid);
    return {
      name: n.name,
      ns: n.ns,
      address: n.address,
      subnet: s?.lease.subnet ?? n.subnet,
      pid: n.pid,
      alive: up,
      ready: up && s?.ready === true,
      peers: s ? s.peers.length : null,
      drops: s ? Object.fromEntries(Object.entries(s.drops).filter(([, v]) => v > 0)) : {},
      txPackets: s ? s.workers.reduce((a, w) => a + w.txPackets, 0) : null,
      rxPackets: s ? s.workers.reduce((a, w) => a + w.rxPackets, 0) : null,
    };
  });
  const pods = state.pods.map((p) => ({ name: p.name, ns: p.ns, address: p.address, node: p.node, exists: existing.has(p.ns) }));
  const registryAlive = state.registry.kind === 'file' || (state.registry.pid !== null && alive(state.registry.pid) && isLabEtcd(state.registry.pid));
  const registry = state.registry.kind === 'file' ? `file ${state.registry.path}` : `etcd ${state.registry.endpoint} (pid ${state.registry.pid ?? '-'})`;
  const healthy =
    state.phase === 'up' && registryAlive && nodes.every((n) => n.ready && n.peers === nodes.length - 1) && pods.length === nodes.length && pods.every((p) => p.exists);
  return { kind: 'lab', report: { phase: state.phase, backend: state.backend, registry, registryAlive, nodes, pods, healthy } };
}

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
