// The fixed topology every contender runs on, built once per run:
//
//   weftbench-<id>-p1          weftbench-<id>-n1 ══ underlay ══ weftbench-<id>-n2          weftbench-<id>-p2
//   wbp1 <subnet1>.2 ── veth ── wbh1 <subnet1>.1   wbu1 198.51.100.1/24 ─ veth ─ wbu2 198.51.100.2/24   wbh2 <subnet2>.1 ── veth ── wbp2 <subnet2>.2
//   default via <subnet1>.1    ip_forward=1                                       ip_forward=1       default via <subnet2>.1
//
// Pod addresses (and the pod veths' MTU) are set per contender with
// addressPods(): weft's contenders use the subnets weft leased.
import type { Janitor } from './janitor.js';
import { ipn, sysctl } from './sh.js';

export interface NodeNs {
  ns: string;
  /** Underlay veth and its address. */
  underlayIf: string;
  underlayIp: string;
  /** Node end of the pod veth: the pod's gateway. */
  podIf: string;
}

export interface PodNs {
  ns: string;
  ifname: string;
}

export interface Topology {
  nodes: [NodeNs, NodeNs];
  pods: [PodNs, PodNs];
}

export interface PodAddrs {
  /** The pods' addresses, pod 1 then pod 2. */
  ips: [string, string];
  subnets: [string, string];
  mtu: number;
}

export const UNDERLAY_NET = '198.51.100';
export const UNDERLAY_MTU = 1500;
export const CLUSTER_NETWORK = '10.244.0.0/16';
/** Pod subnets of the contenders that lease nothing. */
export const STATIC_SUBNETS: [string, string] = ['10.244.1.0/24', '10.244.2.0/24'];

/** "10.244.7.0/24", 2 → "10.244.7.2". */
export function hostIn(subnet: string, n: number): string {
  const [a, b, c, d] = subnet.split('/')[0]!.split('.').map(Number) as [number, number, number, number];
  const v = (((a << 24) | (b << 16) | (c << 8) | d) >>> 0) + n;
  return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.');
}

export function buildTopology(j: Janitor): Topology {
  const n1 = j.addNamespace('n1');
  const n2 = j.addNamespace('n2');
  const p1 = j.addNamespace('p1');
  const p2 = j.addNamespace('p2');
  // Created from inside the namespaces: no device ever exists in the root namespace.
  ipn(n1, 'link', 'add', 'wbu1', 'type', 'veth', 'peer', 'name', 'wbu2', 'netns', n2);
  const nodes: [NodeNs, NodeNs] = [
    { ns: n1, underlayIf: 'wbu1', underlayIp: `${UNDERLAY_NET}.1`, podIf: 'wbh1' },
    { ns: n2, underlayIf: 'wbu2', underlayIp: `${UNDERLAY_NET}.2`, podIf: 'wbh2' },
  ];
  const pods: [PodNs, PodNs] = [
    { ns: p1, ifname: 'wbp1' },
    { ns: p2, ifname: 'wbp2' },
  ];
  for (let i = 0; i < 2; i++) {
    const node = nodes[i]!;
    const pod = pods[i]!;
    ipn(node.ns, 'addr', 'add', `${node.underlayIp}/24`, 'dev', node.underlayIf);
    ipn(node.ns, 'link', 'set', node.underlayIf, 'mtu', String(UNDERLAY_MTU), 'up');
    sysctl(node.ns, 'net.ipv4.ip_forward', '1');
    ipn(node.ns, 'link', 'add', node.podIf, 'type', 'veth', 'peer', 'name', pod.ifname, 'netns', pod.ns);
    ipn(node.ns, 'link', 'set', node.podIf, 'up');
    ipn(pod.ns, 'link', 'set', pod.ifname, 'up');
  }
  return { nodes, pods };
}

/**
 * Pod i gets <subnet i>.2 with the subnet's length, default route via <subnet i>.1
 * on the node end of its veth (as the flannel CNI bridge would), both veth ends at mtu.
 */
export function addressPods(t: Topology, subnets: [string, string], mtu: number): PodAddrs {
  const ips: string[] = [];
  for (let i = 0; i < 2; i++) {
    const node = t.nodes[i]!;
    const pod = t.pods[i]!;
    const subnet = subnets[i]!;
    const len = subnet.split('/')[1]!;
    const gateway = hostIn(subnet, 1);
    const ip = hostIn(subnet, 2);
    ipn(node.ns, 'addr', 'flush', 'dev', node.podIf);
    ipn(pod.ns, 'addr', 'flush', 'dev', pod.ifname);
    ipn(node.ns, 'link', 'set', node.podIf, 'mtu', String(mtu));
    ipn(pod.ns, 'link', 'set', pod.ifname, 'mtu', String(mtu));
    ipn(node.ns, 'addr', 'add', `${gateway}/${len}`, 'dev', node.podIf);
    ipn(pod.ns, 'addr', 'add', `${ip}/${len}`, 'dev', pod.ifname);
    ipn(pod.ns, 'route', 'replace', 'default', 'via', gateway, 'dev', pod.ifname);
    ips.push(ip);
  }
  return { ips: ips as [string, string], subnets, mtu };
}
