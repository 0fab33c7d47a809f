// What the daemon changes on the host, applied all-or-nothing and undone on
// exit: a multi-queue TUN (one queue per worker) with this node's tunnel
// address (/32) and MTU, one route for the whole cluster network through it,
// and the underlay sockets. Offloads (TUN TSO/checksum with a virtio_net_hdr,
// UDP GSO and GRO) are asked for here; each one the kernel refuses is left
// off on its own, with the reason, and the data path runs without it.
import { existsSync, writeFileSync } from 'node:fs';
import { WeftError } from '../../native-free/errors.js';
import { configureLink } from '../sys/link.js';
import { closeQuietly } from '../sys/libc.js';
import { deleteRoute, replaceRoute } from '../sys/netlink.js';
import { openIpip } from '../sys/raw.js';
import { closeTun, openTun, setTunOffload, setVnetHdrSize, type Tun } from '../sys/tun.js';
import { enableUdpGro, openUdp, udpGsoSupported } from '../sys/udp.js';
import { TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO_ECN, TUN_F_USO4, TUN_F_USO6, VIRTIO_NET_HDR_LEN } from '../../native-free/offload/virtio-net-hdr.js';

export class HostError extends WeftError {
  constructor(message: string) {
    super('ERR_WEFT_HOST', message);
  }
}

/** What binding the underlay sockets needs: known before the lease. */
export interface SocketPlan {
  tunName: string;
  queues: number;
  backend: 'vxlan' | 'ipip' | 'udp';
  /** Underlay address to bind to. */
  bindAddr: string;
  port: number;
  /** Ask for UDP_SEGMENT / UDP_GRO (ignored for ipip: a raw socket has neither). */
  udpGso: boolean;
  udpGro: boolean;
}

export interface UnderlaySockets {
  /** Per worker: the socket it sends on and the one it reads (-1: none). */
  txFds: number[];
  rxFds: number[];
  /** Every fd opened, once each. */
  owned: number[];
  /** In effect on every socket. */
  udpGso: boolean;
  udpGro: boolean;
}

export function releaseSockets(s: UnderlaySockets): void {
  s.owned.forEach(closeQuietly);
  s.owned.length = 0;
}

export interface HostPlan {
  tunName: string;
  queues: number;
  mtu: number;
  /** First address of the lease subnet, given to the TUN as /32. */
  tunnelAddr: string;
  /** The cluster network, routed through the TUN. */
  network: { addr: string; len: number };
  backend: 'vxlan' | 'ipip' | 'udp';
  /** Underlay address to bind to. */
  bindAddr: string;
  port: number;
  /** Ask for IFF_VNET_HDR + TUNSETOFFLOAD (TSO4, checksum). */
  tunOffload: boolean;
}

/** What TUNSETOFFLOAD is asked for, then without UDP segmentation (kernels before 6.2), then without ECN. */
const TUN_OFFLOADS = [
  TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO_ECN | TUN_F_USO4 | TUN_F_USO6,
  TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO_ECN,
  TUN_F_CSUM | TUN_F_TSO4,
];

const SOCKET_BUFFER = 4 * 1024 * 1024;
/**
 * Packets the kernel queues for weft's readers. The TUN default (500) overflows
 * while a worker is busy with a batch: measured here, iperf3 through a lab went
 * from 0.93 Gbit/s with ~5000 retransmits in 3 s to 1.5 Gbit/s with none.
 */
const TUN_TX_QUEUE = 5000;

export class Host {
  private constructor(
    readonly plan: HostPlan,
    readonly tun: Tun,
    /** Per worker: the socket it sends on and the one it reads (-1: none). */
    readonly txFds: number[],
    readonly rxFds: number[],
    private readonly owned: number[],
    private routed: boolean,
    /** TUN offloads in effect (IFF_VNET_HDR set), and why not when asked for and refused. */
    readonly tunOffload: boolean,
    readonly tunOffloadRefused: string | null,
  ) {}

  /**
   * Binds the underlay sockets and checks the TUN name: everything that can
   * fail on a busy host (a port held by a kernel VXLAN device, another weft)
   * before the lease is written, so a failed start never rewrites the lease.
   */
  static prepare(plan: SocketPlan): UnderlaySockets {
    if (existsSync(`/sys/class/net/${plan.tunName}`)) {
      throw new HostError(`interface ${plan.tunName} already exists: another weft may be running here; stop it, or delete the interface (ip link del ${plan.tunName})`);
    }
    const owned: number[] = [];
    try {
      return { ...openSockets(plan, owned), owned };
    } catch (e) {
      owned.forEach(closeQuietly);
      throw e;
    }
  }

  /** Creates the TUN and the route around prepared sockets; on failure undoes all, sockets included. */
  static apply(plan: HostPlan, sockets: UnderlaySockets): Host {
    let tun: Tun | null = null;
    try {
      let refused: string | null = null;
      if (plan.tunOffload) {
        const t = openOffloadTun(plan.tunName, plan.queues);
        if (typeof t === 'string') refused = t;
        else tun = t;
      }
      tun ??= openTun({ name: plan.tunName, queues: plan.queues, multiQueue: true });
      disableIpv6(tun.name);
      configureLink(tun.name, { mtu: plan.mtu, txQueueLen: TUN_TX_QUEUE, address: [plan.tunnelAddr, 32], up: true });
      replaceRoute({ dst: plan.network.addr, prefixLen: plan.network.len, dev: tun.name });
      return new Host(plan, tun, sockets.txFds, sockets.rxFds, sockets.owned, true, plan.tunOffload && refused === null, refused);
    } catch (e) {
      releaseSockets(sockets);
      if (tun) closeTun(tun); // the device, its address and its routes go with its last queue
      throw e;
    }
  }

  /** Removes the route and closes every fd; the TUN device goes with its last queue. */
  teardown(): void {
    if (this.routed) {
      try {
        deleteRoute({ dst: this.plan.network.addr, prefixLen: this.plan.network.len, dev: this.tun.name });
      } catch {
        // already gone with the device
      }
      this.routed = false;
    }
    this.owned.forEach(closeQuietly);
    this.owned.length = 0;
    closeTun(this.tun);
  }
}

/**
 * The TUN with IFF_VNET_HDR and the first offload set the kernel takes (of
 * `attempts`, TUNSETOFFLOAD flags) on every queue, or why the kernel refused
 * them all (the half-made device is closed: the caller opens a plain one).
 * Other errors (permissions, a name in use) throw as for a plain TUN.
 */
export function openOffloadTun(name: string, queues: number, attempts: readonly number[] = TUN_OFFLOADS): Tun | string {
  const tun = openTun({ name, queues, multiQueue: true, vnetHdr: true });
  let last = 'no offload set to try';
  for (const flags of attempts) {
    try {
      for (const fd of tun.fds) {
        setVnetHdrSize(fd, VIRTIO_NET_HDR_LEN);
        setTunOffload(fd, flags);
      }
      return tun;
    } catch (e) {
      last = (e as Error).message;
    }
  }
  closeTun(tun);
  return last;
}

/**
 * weft carries IPv4 only: without this the kernel sends IPv6 router and
 * neighbour solicitations into the TUN, which would only be dropped.
 */
function disableIpv6(name: string): void {
  try {
    writeFileSync(`/proc/sys/net/ipv6/conf/${name}/disable_ipv6`, '1');
  } catch {
    // no IPv6 in this kernel: nothing to disable
  }
}

function openSockets(plan: SocketPlan, owned: number[]): Omit<UnderlaySockets, 'owned'> {
  const txFds: number[] = [];
  const rxFds: number[] = [];
  if (plan.backend === 'ipip') {
    // Every raw IPPROTO_IPIP socket gets a copy of every packet: one socket,
    // read by worker 0 only, sent on by all.
    const fd = openIpip({ bindAddr: plan.bindAddr, rcvBuf: SOCKET_BUFFER, sndBuf: SOCKET_BUFFER });
    owned.push(fd);
    for (let i = 0; i < plan.queues; i++) {
      txFds.push(fd);
      rxFds.push(i === 0 ? fd : -1);
    }
    return { txFds, rxFds, udpGso: false, udpGro: false };
  }
  let udpGso = plan.udpGso;
  let udpGro = plan.udpGro;
  for (let i = 0; i < plan.queues; i++) {
    // SO_REUSEPORT: the kernel spreads flows over the workers' sockets.
    const fd = openUdp(plan.bindAddr, plan.port, { rcvBuf: SOCKET_BUFFER, sndBuf: SOCKET_BUFFER });
    owned.push(fd);
    txFds.push(fd);
    rxFds.push(fd);
    if (udpGso) udpGso = udpGsoSupported(fd);
    if (udpGro) udpGro = enableUdpGro(fd);
  }
  // The kernel refuses an option for every socket or for none, so a refusal
  // comes at the first socket and no socket is left with it on.
  return { txFds, rxFds, udpGso, udpGro };
}
