// `weft lab`: names, addresses and paths of the one lab a machine can hold.
//
//   weftlab-ul      underlay: bridge wlbr0 (198.51.100.2/24); etcd there with --etcd
//   weftlab-node<i> node i: veth wln<i> (198.51.100.<10+i>/24) ↔ wln<i>ul on wlbr0,
//                   ip_forward=1, `weft run` (TUN weft0), pod bridge wlcni0
//   weftlab-pod<i>  pod of node i: wleth0 ↔ wlpod<i> on wlcni0 (the node's namespace)
//
// Everything the lab makes lives in those namespaces: nothing here adds an
// address, a route or a link to the namespace `weft lab` runs in.
import { fileURLToPath } from 'node:url';
import { formatIPv4, ipv4Netmask, tryParseIPv4 } from '../../native-free/addr.js';
import { BACKEND_TYPES, backendOf, type BackendType } from '../backend/index.js';

export const LAB_DIR = '/run/weft-lab';
export const STATE_FILE = `${LAB_DIR}/state.json`;
export const REGISTRY_FILE = `${LAB_DIR}/registry.json`;

export const NS_PREFIX = 'weftlab-';
/** Every namespace a lab may own; `down` deletes exactly these. */
export const LAB_NS_RE = /^weftlab-[a-z0-9]{1,20}$/;

export const UNDERLAY_NET = '198.51.100.0/24';
export const UNDERLAY_ADDR = '198.51.100.2';
export const CLUSTER_NET = '10.244.0.0/16';
export const ETCD_ENDPOINT = `http://${UNDERLAY_ADDR}:2379`;

export const MIN_NODES = 2;
export const MAX_NODES = 8;

export const BACKENDS = BACKEND_TYPES;
export type Backend = BackendType;

/** bin/weft.js of this installation (the lab runs the same weft it is part of). */
export const WEFT_BIN = fileURLToPath(new URL('../../../bin/weft.js', import.meta.url));

export const ns = {
  underlay: `${NS_PREFIX}ul`,
  node: (i: number): string => `${NS_PREFIX}node${i}`,
  pod: (i: number): string => `${NS_PREFIX}pod${i}`,
};

/** Link names: every one starts with "wl" and fits IFNAMSIZ (15). */
export const link = {
  underlayBridge: 'wlbr0',
  /** In the node's namespace: its underlay interface (weft's --iface). */
  nodeUplink: (i: number): string => `wln${i}`,
  /** Its peer, in the underlay namespace, enslaved to wlbr0. */
  nodeUplinkPeer: (i: number): string => `wln${i}ul`,
  podBridge: 'wlcni0',
  /** In the node's namespace, on wlcni0. */
  podHostVeth: (i: number): string => `wlpod${i}`,
  /** In the pod's namespace. */
  podIface: 'wleth0',
};

export const nodeAddress = (i: number): string => `198.51.100.${10 + i}`;

/** One clear line for the user; thrown for anything the user can fix. */
export class LabError extends Error {
  override readonly name = 'LabError';
}

/** Ctrl-C / SIGTERM while building or running the demo. */
export class Interrupted extends LabError {
  constructor(what = 'interrupted') {
    super(what);
  }
}

/** An IPv4 address (native-free/addr.ts's parser) or a LabError naming it. */
function ipToInt(ip: string): number {
  const v = tryParseIPv4(ip);
  if (v < 0) throw new LabError(`"${ip}" is not an IPv4 address`);
  return v;
}

function parseCidr(cidr: string): { addr: number; len: number } {
  const [a, l] = cidr.split('/');
  const len = Number(l);
  if (a === undefined || l === undefined || !/^\d+$/.test(l) || len > 32) throw new LabError(`"${cidr}" is not an IPv4 prefix such as 10.244.0.0/16`);
  return { addr: ipToInt(a), len };
}

/** Is `ip` (an address or the address part of a prefix) inside `cidr`? */
export function within(cidr: string, ip: string): boolean {
  const { addr, len } = parseCidr(cidr);
  const mask = ipv4Netmask(len);
  return ((ipToInt(ip.split('/')[0]!) & mask) >>> 0) === ((addr & mask) >>> 0);
}

/** The lab only ever assigns addresses of the underlay /24 and the cluster network. */
export function assertLabAddress(ip: string): void {
  if (!within(UNDERLAY_NET, ip) && !within(CLUSTER_NET, ip)) {
    throw new LabError(`refusing to use ${ip}: the lab only uses ${UNDERLAY_NET} and ${CLUSTER_NET}`);
  }
}

export function assertLabNamespace(name: string): void {
  if (!LAB_NS_RE.test(name)) throw new LabError(`refusing to touch namespace "${name}": not a weft lab namespace (${NS_PREFIX}*)`);
}

export interface SubnetEnv {
  network: string;
  /** FLANNEL_SUBNET: the first host of the lease with its length, e.g. 10.244.23.1/24. */
  subnet: string;
  mtu: number;
}

export function parseSubnetEnv(text: string, where: string): SubnetEnv {
  const v = (k: string): string => {
    const m = new RegExp(`^${k}=(.*)$`, 'm').exec(text);
    if (!m) throw new LabError(`${where} has no ${k}`);
    return m[1]!.trim();
  };
  const mtu = Number(v('FLANNEL_MTU'));
  if (!Number.isInteger(mtu) || mtu < 576 || mtu > 65535) throw new LabError(`${where}: FLANNEL_MTU=${v('FLANNEL_MTU')} is not an MTU`);
  const subnet = v('FLANNEL_SUBNET');
  parseCidr(subnet);
  return { network: v('FLANNEL_NETWORK'), subnet, mtu };
}

export interface PodPlan {
  /** The bridge's address with the subnet length (the CNI gateway), e.g. 10.244.23.1/24. */
  bridgeCidr: string;
  gateway: string;
  /** The pod's address with the subnet length, e.g. 10.244.23.2/24. */
  podCidr: string;
  podIp: string;
  /** The node's lease, e.g. 10.244.23.0/24. */
  lease: string;
  mtu: number;
}

/**
 * What the flannel CNI plugin (bridge, host-local IPAM over FLANNEL_SUBNET,
 * isGateway) would give the first pod of a node: the bridge gets FLANNEL_SUBNET's
 * first host, the pod the next address, a default route via the bridge, and
 * FLANNEL_MTU on its interface.
 */
export function planPod(env: SubnetEnv): PodPlan {
  const { addr, len } = parseCidr(env.subnet);
  if (len > 30) throw new LabError(`FLANNEL_SUBNET ${env.subnet} is too small for a bridge and a pod`);
  const mask = (0xffffffff << (32 - len)) >>> 0;
  const net = (addr & mask) >>> 0;
  const gateway = formatIPv4(addr);
  const podIp = formatIPv4(addr + 1);
  if (((addr + 1) & mask) >>> 0 !== net || (addr + 1) === (net | ~mask) >>> 0) {
    throw new LabError(`FLANNEL_SUBNET ${env.subnet} leaves no address for a pod`);
  }
  for (const ip of [gateway, podIp]) {
    if (!within(CLUSTER_NET, ip)) throw new LabError(`FLANNEL_SUBNET ${env.subnet} is outside the lab's cluster network ${CLUSTER_NET}`);
  }
  return { bridgeCidr: `${gateway}/${len}`, gateway, podCidr: `${podIp}/${len}`, podIp, lease: `${formatIPv4(net)}/${len}`, mtu: env.mtu };
}

/** The network config every node reads, as `kubectl -n kube-flannel` would hold it. */
export function networkConfig(backend: Backend): string {
  const b: Record<string, unknown> = { Type: backend };
  // Written out, as an operator mixing weft and flannel nodes must (vxlan.ts).
  const port = backendOf(backend).defaultPort;
  if (port !== 0) b['Port'] = port;
  return JSON.stringify({ Network: CLUSTER_NET, Backend: b });
}

/** "pod1", "node2", "ul"/"underlay" or a full weftlab-* name → the namespace. */
export function resolveTarget(name: string): string {
  if (name === 'ul' || name === 'underlay') return ns.underlay;
  if (/^(pod|node)[1-9]\d*$/.test(name)) return `${NS_PREFIX}${name}`;
  if (LAB_NS_RE.test(name)) return name;
  throw new LabError(`"${name}" is not a lab namespace: use pod<N>, node<N>, ul, or a full ${NS_PREFIX}* name (see weft lab status)`);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
