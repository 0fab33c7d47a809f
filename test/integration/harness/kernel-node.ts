// A node programmed exactly as flannel's vxlan backend programs the kernel
// (flannel pkg/backend/vxlan: device.go and vxlan_network.go), next to weft nodes:
//
//   ip link add flannel.1 type vxlan id 1 local <underlay ip> dstport 4789 nolearning dev <veth>
//   mtu underlay − 50, address <subnet>.0/32, up
//   its lease in etcd, in flannel's JSON, on an etcd lease
//   per peer lease: ip neigh replace <peer>.0 lladdr <VtepMAC> dev flannel.1 nud permanent
//                   bridge fdb append <VtepMAC> dev flannel.1 dst <PublicIP>
//                   ip route replace <peer subnet> via <peer>.0 dev flannel.1 onlink
//
// plus a pod behind bridge wtcni0, as the flannel CNI plugin would.
//
// Dual-stack (opts.ipv6, flannel with "EnableIPv6": true), its second device as
// flannel's createVXLANDevice and configureDeviceIPv4IPv6 make it:
//
//   ip link add flannel-v6.1 type vxlan id 1 local <underlay ipv6> dstport 4789 nolearning dev <veth>
//   mtu underlay − 70 (flannel's device.go asks for − 50 for both devices; the kernel takes at most − 70 over IPv6), address <v6 subnet>::/128, up
//   the lease key <subnet>&<v6 subnet>, PublicIPv6 and BackendV6Data {VNI, VtepMAC of flannel-v6.1}
//   per peer lease with an IPv6 subnet: ip -6 neigh replace <peer v6 subnet>:: lladdr <V6 VtepMAC> dev flannel-v6.1
//                   bridge fdb append <V6 VtepMAC> dev flannel-v6.1 dst <PublicIPv6>
//                   ip -6 route replace <peer v6 subnet> via <peer v6 subnet>:: dev flannel-v6.1 onlink
//
// Offloads stay at their defaults. Over veth that means the kernel node's inner
// TCP/UDP checksums reach weft partial (CHECKSUM_PARTIAL: only the pseudo-header
// sum, left "for the NIC", which no veth fills in); weft recognises and completes
// them (native-free/offload/partial-checksum.ts). A real NIC completes them on
// the wire: kernel-interop.ts also runs with `ethtool -K <iface> tx off` on this
// node's underlay veth, which makes the kernel complete them in software.
import { addPod, attachToUnderlay, hostIn, hostIn6, type Cluster, type Pod } from './cluster.js';
import { SUBNETS_PREFIX, type LeaseRecord } from './etcd.js';
import { ipn, nsRun, sysctl } from './exec.js';

export const KERNEL_VXLAN = 'flannel.1';
export const KERNEL_VXLAN6 = 'flannel-v6.1';

export interface KernelNodeOptions {
  /** Namespace role of the node (wefttest-<id>-<tag><role>). */
  role?: string;
  /** Namespace role of its pod. */
  podRole?: string;
  /** Its underlay veth (the bridge side is <iface>p, so it must be unique in the cluster). */
  iface?: string;
  /** Dual-stack: its IPv6 underlay address and IPv6 subnet (e.g. fd00:198:51:100::250, fd00:10:244:fa::/64). */
  ipv6?: { underlayIp6: string; subnet6: string };
}

export class KernelNode {
  pod!: Pod;
  mac!: string;
  /** flannel-v6.1's MAC (dual-stack). */
  mac6: string | null = null;
  ipv6: { underlayIp6: string; subnet6: string } | null = null;
  key: string;
  readonly mtu: number;

  private constructor(
    readonly cluster: Cluster,
    readonly ns: string,
    readonly iface: string,
    readonly underlayIp: string,
    /** e.g. 10.244.250.0/24 */
    readonly subnet: string,
    underlayMtu: number,
  ) {
    this.key = `${SUBNETS_PREFIX}${subnet.replace('/', '-')}`;
    this.mtu = underlayMtu - 50;
  }

  /**
   * opts names the namespaces and the underlay veth, so that several kernel nodes
   * can live in one cluster (defaults: node role 'kn', pod role 'kp', iface 'wtk0').
   */
  static async create(cluster: Cluster, underlayIp: string, subnet: string, opts: KernelNodeOptions = {}): Promise<KernelNode> {
    const taken = (await cluster.leases()).map((l) => l.subnet);
    if (taken.includes(subnet)) throw new Error(`${subnet} is already leased: ${taken.join(', ')}`);
    const ns = cluster.addNamespace(opts.role ?? 'kn');
    const iface = opts.iface ?? 'wtk0';
    await attachToUnderlay(cluster.ul, ns, iface, underlayIp);
    await sysctl(ns, 'net.ipv4.ip_forward', '1');
    const underlayMtu = Number(/mtu (\d+)/.exec(await ipn(ns, 'link', 'show', 'dev', iface))?.[1]);
    const k = new KernelNode(cluster, ns, iface, underlayIp, subnet, underlayMtu);
    await ipn(ns, 'link', 'add', KERNEL_VXLAN, 'type', 'vxlan', 'id', '1', 'local', underlayIp, 'dstport', '4789', 'nolearning', 'dev', iface);
    await ipn(ns, 'link', 'set', KERNEL_VXLAN, 'mtu', String(k.mtu));
    await ipn(ns, 'addr', 'add', `${hostIn(subnet, 0)}/32`, 'dev', KERNEL_VXLAN);
    await ipn(ns, 'link', 'set', KERNEL_VXLAN, 'up');
    k.mac = /link\/ether ([0-9a-f:]{17})/.exec(await ipn(ns, 'link', 'show', 'dev', KERNEL_VXLAN))![1]!;
    let podSubnet6: string | null = null;
    if (opts.ipv6) {
      const { underlayIp6, subnet6 } = opts.ipv6;
      k.ipv6 = opts.ipv6;
      await ipn(ns, '-6', 'addr', 'add', `${underlayIp6}/64`, 'dev', iface, 'nodad');
      await sysctl(ns, 'net.ipv6.conf.all.forwarding', '1');
      await ipn(ns, 'link', 'add', KERNEL_VXLAN6, 'type', 'vxlan', 'id', '1', 'local', underlayIp6, 'dstport', '4789', 'nolearning', 'dev', iface);
      // flannel asks for underlay − 50 here too (device.go); the kernel's VXLAN over IPv6
      // refuses more than underlay − 70 (vxlan_config_validate), which is what it gets.
      await ipn(ns, 'link', 'set', KERNEL_VXLAN6, 'mtu', String(k.mtu - 20));
      await ipn(ns, '-6', 'addr', 'add', `${subnet6.split('/')[0]}/128`, 'dev', KERNEL_VXLAN6, 'nodad');
      await ipn(ns, 'link', 'set', KERNEL_VXLAN6, 'up');
      k.mac6 = /link\/ether ([0-9a-f:]{17})/.exec(await ipn(ns, 'link', 'show', 'dev', KERNEL_VXLAN6))![1]!;
      podSubnet6 = `${hostIn6(subnet6, 1)}/${subnet6.split('/')[1]}`;
    }
    k.pod = await addPod(cluster, ns, opts.podRole ?? 'kp', `${hostIn(subnet, 1)}/${subnet.split('/')[1]}`, k.mtu, podSubnet6);
    if (opts.ipv6) k.key = `${k.key}&${opts.ipv6.subnet6.replace('/', '-')}`;
    return k;
  }

  /** The lease value flannel writes (Go's json.Marshal of LeaseAttrs). */
  leaseValue(): string {
    if (this.ipv6 !== null) {
      return `{"PublicIP":"${this.underlayIp}","PublicIPv6":"${this.ipv6.underlayIp6}","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${this.mac}"},"BackendV6Data":{"VNI":1,"VtepMAC":"${this.mac6}"}}`;
    }
    return `{"PublicIP":"${this.underlayIp}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${this.mac}"}}`;
  }

  /** Puts this node's lease in etcd, attached to a fresh etcd lease. */
  async publishLease(ttlSeconds = 3600): Promise<void> {
    const id = await this.cluster.etcd.grant(ttlSeconds);
    await this.cluster.etcd.put(this.key, this.leaseValue(), id);
  }

  /** Programs neighbour, FDB and route for every other lease, as flanneld does on "added". */
  async programPeers(leases: LeaseRecord[]): Promise<void> {
    for (const l of leases) {
      if (l.subnet === this.subnet) continue;
      const mac = l.attrs.BackendData?.VtepMAC;
      if (!mac) throw new Error(`lease ${l.subnet} has no VtepMAC: ${l.value}`);
      const gw = hostIn(l.subnet, 0);
      await ipn(this.ns, 'neigh', 'replace', gw, 'lladdr', mac, 'dev', KERNEL_VXLAN, 'nud', 'permanent');
      await nsRun(this.ns, 'bridge', ['fdb', 'append', mac, 'dev', KERNEL_VXLAN, 'dst', l.attrs.PublicIP]);
      await ipn(this.ns, 'route', 'replace', l.subnet, 'via', gw, 'dev', KERNEL_VXLAN, 'onlink');
      if (this.ipv6 === null || l.ipv6Subnet === undefined) continue;
      const mac6 = l.attrs.BackendV6Data?.VtepMAC;
      const pub6 = l.attrs.PublicIPv6;
      if (!mac6 || !pub6) throw new Error(`lease ${l.subnet} has an IPv6 subnet but no BackendV6Data.VtepMAC / PublicIPv6: ${l.value}`);
      const gw6 = l.ipv6Subnet.split('/')[0]!;
      await ipn(this.ns, '-6', 'neigh', 'replace', gw6, 'lladdr', mac6, 'dev', KERNEL_VXLAN6, 'nud', 'permanent');
      await nsRun(this.ns, 'bridge', ['fdb', 'append', mac6, 'dev', KERNEL_VXLAN6, 'dst', pub6]);
      await ipn(this.ns, '-6', 'route', 'replace', l.ipv6Subnet, 'via', gw6, 'dev', KERNEL_VXLAN6, 'onlink');
    }
  }
}
