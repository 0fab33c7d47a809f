// `weft lab status`: the lab's nodes (namespace, underlay address, lease, weft
// pid alive?, ready?, peers, drops) and pods, each node asked with
// `weft status --json` inside its namespace.
import { STATE_FILE } from './common.js';
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
      drops: s ? Object.fromEntries(Object.entries(s.drops ?? {}).filter(([, v]) => v > 0)) : {},
      // host-gw: no workers, weft counts no packets
      txPackets: s?.workers ? s.workers.reduce((a, w) => a + w.txPackets, 0) : null,
      rxPackets: s?.workers ? s.workers.reduce((a, w) => a + w.rxPackets, 0) : null,
    };
  });
  const pods = state.pods.map((p) => ({ name: p.name, ns: p.ns, address: p.address, node: p.node, exists: existing.has(p.ns) }));
  const registryAlive = state.registry.kind === 'file' || (state.registry.pid !== null && alive(state.registry.pid) && isLabEtcd(state.registry.pid));
  const registry = state.registry.kind === 'file' ? `file ${state.registry.path}` : `etcd ${state.registry.endpoint} (pid ${state.registry.pid ?? '-'})`;
  const healthy =
    state.phase === 'up' && registryAlive && nodes.every((n) => n.ready && n.peers === nodes.length - 1) && pods.length === nodes.length && pods.every((p) => p.exists);
  return { kind: 'lab', report: { phase: state.phase, backend: state.backend, registry, registryAlive, nodes, pods, healthy } };
}
