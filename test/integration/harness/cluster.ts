// A small cluster, entirely inside network namespaces:
//
//   <tag>ul   underlay: bridge wtbr0 (198.51.100.254/24), etcd on 198.51.100.254:2379
//   <tag>n<i> node i: veth wtn<i> (198.51.100.<i>/24) ↔ wtn<i>p on wtbr0; ip_forward=1;
//             `weft run` (TUN weft0); bridge wtcni0 = FLANNEL_SUBNET's first host
//   <tag>p<i> pod of node i: wtpod0 = FLANNEL_SUBNET's second host, default via the bridge
//
// Pods are wired as the flannel CNI plugin (bridge mode) would from the node's
// subnet file: bridge address and MTU from FLANNEL_SUBNET / FLANNEL_MTU.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Etcd, NETWORK_PREFIX, readLeases } from './etcd.js';
import { ipn, sysctl } from './exec.js';
import type { Janitor } from './janitor.js';
import { WeftNode } from './weft-node.js';

export const UNDERLAY_NET = '198.51.100';
export const ETCD_IP = `${UNDERLAY_NET}.254`;
export const UNDERLAY_BRIDGE = 'wtbr0';

export interface Pod {
  ns: string;
  /** Its IPv4 address ("" on an IPv6-only cluster). */
  ip: string;
  /** Its IPv6 address, on a cluster with EnableIPv6; else absent. */
  ip6?: string;
  /** The node namespace it hangs off. */
  nodeNs: string;
  gateway: string;
  mtu: number;
}

export interface ClusterOptions {
  /** 2-letter tag in every namespace role, e.g. 'vx' (roles: vxul, vxn1, vxp1, ...). */
  tag: string;
  /** The network config put at /coreos.com/network/config. */
  config: Record<string, unknown>;
  nodes: number;
  /** Extra `weft run` flags for every weft node of the cluster, e.g. ['--offload=false']. */
  weftArgs?: string[];
  /**
   * The underlay has IPv6 too: node i gets fd00:198:51:100::<i>/64 beside its IPv4
   * address (nodad), IPv6 forwarding on; pods get their FLANNEL_IPV6_SUBNET address.
   */
  ipv6?: boolean;
}

export const UNDERLAY_NET6 = 'fd00:198:51:100:';

/** "10.244.7.0/24" + n → "10.244.7.n" (subnets here are /24 or larger). */
export function hostIn(subnet: string, n: number): string {
  const [a, b, c, d] = subnet.split('/')[0]!.split('.').map(Number) as [number, number, number, number];
  const v = ((a << 24) | (b << 16) | (c << 8) | d) + n;
  return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.');
}

/** Puts a namespace on the underlay bridge: veth <ifname> (in ns) ↔ <ifname>p (on the bridge). */
export async function attachToUnderlay(ul: string, ns: string, ifname: string, ip: string): Promise<void> {
  await ipn(ul, 'link', 'add', `${ifname}p`, 'type', 'veth', 'peer', 'name', ifname, 'netns', ns);
  await ipn(ul, 'link', 'set', `${ifname}p`, 'master', UNDERLAY_BRIDGE, 'up');
  await ipn(ns, 'addr', 'add', `${ip}/24`, 'dev', ifname);
  await ipn(ns, 'link', 'set', ifname, 'up');
}

/** "fd00:10:244:7::1/64" + n → "fd00:10:244:7::<1+n>", "fd00:10:244:7::/64" + n → "…::<n>" (the low 16 bits; subnets here are /64 or larger). */
export function hostIn6(subnet: string, n: number): string {
  const addr = subnet.split('/')[0]!;
  if (addr.endsWith('::')) return `${addr}${n.toString(16)}`;
  const m = /^(.*::)([0-9a-f]{1,4})$/.exec(addr);
  if (!m) throw new Error(`hostIn6: ${subnet} does not end in ::<hex>`);
  return `${m[1]}${(parseInt(m[2]!, 16) + n).toString(16)}`;
}

/**
 * A pod namespace behind bridge wtcni0 in nodeNs, addressed from the node's FLANNEL_SUBNET
 * and, given, FLANNEL_IPV6_SUBNET (an empty flannelSubnet: IPv6 only).
 */
export async function addPod(
  owner: { addNamespace(role: string): string },
  nodeNs: string,
  role: string,
  flannelSubnet: string,
  mtu: number,
  flannelIpv6Subnet: string | null = null,
): Promise<Pod> {
  const ns = owner.addNamespace(role);
  await ipn(nodeNs, 'link', 'add', 'wtcni0', 'type', 'bridge');
  await ipn(nodeNs, 'link', 'set', 'wtcni0', 'mtu', String(mtu), 'up');
  await ipn(nodeNs, 'link', 'add', 'wtveth0', 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', 'wtpod0', 'netns', ns);
  await ipn(nodeNs, 'link', 'set', 'wtveth0', 'master', 'wtcni0', 'up');
  await ipn(ns, 'link', 'set', 'wtpod0', 'mtu', String(mtu), 'up');
  let ip = '';
  let gateway = '';
  if (flannelSubnet !== '') {
    gateway = flannelSubnet.split('/')[0]!;
    const len = flannelSubnet.split('/')[1]!;
    ip = hostIn(flannelSubnet, 1);
    await ipn(nodeNs, 'addr', 'add', flannelSubnet, 'dev', 'wtcni0');
    await ipn(ns, 'addr', 'add', `${ip}/${len}`, 'dev', 'wtpod0');
    await ipn(ns, 'route', 'add', 'default', 'via', gateway, 'dev', 'wtpod0');
  }
  let ip6: string | undefined;
  if (flannelIpv6Subnet !== null) {
    const gw6 = flannelIpv6Subnet.split('/')[0]!;
    const len6 = flannelIpv6Subnet.split('/')[1]!;
    ip6 = hostIn6(flannelIpv6Subnet, 1);
    await ipn(nodeNs, '-6', 'addr', 'add', flannelIpv6Subnet, 'dev', 'wtcni0', 'nodad');
    await ipn(ns, '-6', 'addr', 'add', `${ip6}/${len6}`, 'dev', 'wtpod0', 'nodad');
    await ipn(ns, '-6', 'route', 'add', 'default', 'via', gw6, 'dev', 'wtpod0');
    if (gateway === '') gateway = gw6;
  }
  return { ns, ip, ...(ip6 !== undefined ? { ip6 } : {}), nodeNs, gateway, mtu };
}

export class Cluster {
  readonly nodes: WeftNode[] = [];
  readonly pods: Pod[] = [];
  etcd!: Etcd;
  ul!: string;
  /** Every namespace of this cluster, in creation order. */
  private readonly namespaces: string[] = [];

  private constructor(
    readonly janitor: Janitor,
    readonly opts: ClusterOptions,
    readonly dir: string,
  ) {}

  static async create(janitor: Janitor, opts: ClusterOptions): Promise<Cluster> {
    const c = new Cluster(janitor, opts, join(janitor.dir, opts.tag));
    try {
      await c.build();
    } catch (e) {
      console.error(`cluster ${opts.tag} failed to start:\n${c.logs()}`);
      await c.destroy();
      throw e;
    }
    return c;
  }

  private async build(): Promise<void> {
    this.ul = this.addNamespace('ul');
    await ipn(this.ul, 'link', 'add', UNDERLAY_BRIDGE, 'type', 'bridge');
    await ipn(this.ul, 'addr', 'add', `${ETCD_IP}/24`, 'dev', UNDERLAY_BRIDGE);
    if (this.opts.ipv6) await ipn(this.ul, '-6', 'addr', 'add', `${UNDERLAY_NET6}:254/64`, 'dev', UNDERLAY_BRIDGE, 'nodad');
    await ipn(this.ul, 'link', 'set', UNDERLAY_BRIDGE, 'up');
    const nodeNs: string[] = [];
    for (let i = 1; i <= this.opts.nodes; i++) {
      const ns = this.addNamespace(`n${i}`);
      nodeNs.push(ns);
      await attachToUnderlay(this.ul, ns, `wtn${i}`, `${UNDERLAY_NET}.${i}`);
      await sysctl(ns, 'net.ipv4.ip_forward', '1');
      if (this.opts.ipv6) {
        await ipn(ns, '-6', 'addr', 'add', `${UNDERLAY_NET6}:${i}/64`, 'dev', `wtn${i}`, 'nodad');
        await sysctl(ns, 'net.ipv6.conf.all.forwarding', '1');
      }
    }
    this.etcd = await Etcd.start(this.janitor, this.ul, ETCD_IP, this.dir);
    await this.etcd.put(`${NETWORK_PREFIX}/config`, JSON.stringify(this.opts.config));
    for (let i = 1; i <= this.opts.nodes; i++) {
      this.nodes.push(new WeftNode(this.janitor, `n${i}`, nodeNs[i - 1]!, `wtn${i}`, `${UNDERLAY_NET}.${i}`, this.dir, `http://${ETCD_IP}:2379`, this.weftArgs));
    }
    await Promise.all(this.nodes.map((n) => n.start()));
    for (let i = 0; i < this.nodes.length; i++) {
      const n = this.nodes[i]!;
      const env = n.subnetEnv();
      this.pods.push(await addPod(this, n.ns, `p${i + 1}`, env.subnet, env.mtu, env.ipv6Subnet));
    }
    // Every node knows every other before the tests start.
    const want = this.nodes.length - 1;
    for (const n of this.nodes) {
      const deadline = Date.now() + 10_000;
      while ((await n.status()).peers.length < want) {
        if (Date.now() > deadline) throw new Error(`${n.name} does not see ${want} peers: ${JSON.stringify((await n.status()).peers)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** The extra `weft run` flags of this cluster's weft nodes (a node added later should get them too). */
  get weftArgs(): string[] {
    return [...(this.opts.weftArgs ?? [])];
  }

  /** A further namespace of this cluster (kernel node, garbage sender, ...), removed with it. */
  addNamespace(role: string): string {
    const ns = this.janitor.addNamespace(`${this.opts.tag}${role}`);
    this.namespaces.push(ns);
    return ns;
  }

  leases() {
    return readLeases(this.etcd);
  }

  /** Tails of every log of this cluster, for failure reports. */
  logs(maxPerFile = 6000): string {
    const parts: string[] = [];
    for (const n of this.nodes) parts.push(`--- weft ${n.name} (${n.ns}) ${n.logFile} ---\n${n.log().slice(-maxPerFile)}`);
    try {
      parts.push(`--- etcd ---\n${readFileSync(join(this.dir, 'etcd.log'), 'utf8').slice(-maxPerFile)}`);
    } catch {
      // no etcd log yet
    }
    return parts.join('\n');
  }

  /** Stops every weft (SIGTERM, checking it exits cleanly), etcd, and deletes the namespaces. */
  async destroy(): Promise<string[]> {
    const problems: string[] = [];
    await Promise.all(
      this.nodes.map(async (n) => {
        if (!n.running) return;
        const r = await n.stop(5000);
        if (r && r.code !== 0) problems.push(`${n.name}: weft exited ${r.code ?? r.signal} on SIGTERM`);
      }),
    );
    await this.etcd?.stop().catch(() => undefined);
    // Pods and extras first, the underlay last.
    for (const ns of [...this.namespaces].reverse()) this.janitor.removeNamespace(ns);
    this.namespaces.length = 0;
    return problems;
  }
}
