// /run/weft-lab/state.json: what a lab is made of (namespaces, pids, addresses).
// `up` records each namespace before it creates it and each pid right after it
// starts it, so that `down` finds everything even when `up` died half-way.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { type Backend, LAB_DIR, STATE_FILE } from './common.js';

export interface LabNode {
  index: number;
  /** node1, node2, … */
  name: string;
  ns: string;
  /** Its underlay interface (weft's --iface) and address. */
  iface: string;
  address: string;
  pid: number | null;
  dir: string;
  logFile: string;
  subnetFile: string;
  stateDir: string;
  /** The lease (e.g. 10.244.23.0/24) and tunnel MTU, once the subnet file is there. */
  subnet: string | null;
  mtu: number | null;
}

export interface LabPod {
  index: number;
  /** pod1, pod2, … */
  name: string;
  ns: string;
  /** The node namespace it hangs off. */
  node: string;
  /** e.g. 10.244.23.2/24 */
  address: string;
  gateway: string;
  mtu: number;
}

export type LabRegistry = { kind: 'file'; path: string } | { kind: 'etcd'; endpoint: string; pid: number | null; dataDir: string; logFile: string };

export interface LabState {
  version: 1;
  /** building: `up` is still at work (or died); up: ready to use. */
  phase: 'building' | 'up';
  createdAt: string;
  /** The process that built the lab (`weft lab up` or `demo`). */
  upPid: number;
  backend: Backend;
  workers: number;
  registry: LabRegistry;
  /** Every namespace, in creation order (recorded before it is created). */
  namespaces: string[];
  nodes: LabNode[];
  pods: LabPod[];
}

export function writeState(state: LabState): void {
  mkdirSync(LAB_DIR, { recursive: true });
  const tmp = `${STATE_FILE}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(tmp, STATE_FILE);
}

/** The state file, null when there is none; a damaged one counts as none (with why). */
export function readState(): { state: LabState | null; problem: string | null } {
  let text: string;
  try {
    text = readFileSync(STATE_FILE, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { state: null, problem: null };
    return { state: null, problem: `cannot read ${STATE_FILE}: ${(e as Error).message}` };
  }
  try {
    const doc = JSON.parse(text) as LabState;
    if (doc?.version !== 1 || !Array.isArray(doc.nodes) || !Array.isArray(doc.namespaces) || !Array.isArray(doc.pods)) {
      return { state: null, problem: `${STATE_FILE} is not a lab state file` };
    }
    return { state: doc, problem: null };
  } catch (e) {
    return { state: null, problem: `${STATE_FILE} is damaged (${(e as Error).message})` };
  }
}
