// What the daemon changes on the host: a persistent multi-queue TUN (one queue
// per worker) with this node's tunnel address (/32) and MTU, one route for the
// whole cluster network through it, and the underlay sockets. Offloads (TUN
// TSO/checksum with a virtio_net_hdr, UDP GSO and GRO) are asked for here; each
// one the kernel refuses is left off on its own, with the reason, and the data
// path runs without it.
//
// Restarts and upgrades (README "Restarts and upgrades"): the TUN is made with
// TUNSETPERSIST, so the device, its address and its route stay when weft stops
// (SIGTERM or kill -9), as flanneld leaves flannel.1. A weft started while
// another runs (a DaemonSet update with maxSurge) attaches its queues to the
// same device beside the old one's, and binds the same UDP port (SO_REUSEPORT);
// the kernel spreads flows over both until the old one exits and its queues and
// sockets go. Nothing here is torn down on stop: `weft uninstall` removes it.
// Beside a running weft, this one's queues are attached only when its workers
// run (worker.ts); its sockets share the port from the bind on, so datagrams
// hashed to them wait there until then. On SIGTERM, quiesce() takes the old
// weft's sockets out of the selection before its workers stop.
//
// Source-port entropy (--source-ports N, vxlan and udp): besides the receive
// sockets, N send-only sockets on the underlay address, each on a port the
// kernel picks (sys/udp.ts openSendOnlyUdp: from the ephemeral range, ours
// alone, deaf), shared by every worker, which sends a flow on socket
// flowHash % N (dataplane/underlay.ts). One set per node rather than per
// worker: a flow keeps its port even if the TUN steers it to another queue,
// and a UDP send takes no socket lock (no corking), so workers sharing a
// socket do not wait on each other. They are no part of the VXLAN port's
// SO_REUSEPORT group, so the handover above does not see them: a weft started
// beside this one gets ports of its own, and these close with this process.
import type { UnderlayKind } from '../backend/types.js';
import { networkInterfaces } from 'node:os';
import { writeFileSync } from 'node:fs';
import { WeftError } from '../../native-free/errors.js';
import { configureLink } from '../sys/link.js';
import { closeQuietly } from '../sys/libc.js';
import { replaceRoute } from '../sys/netlink.js';
import { openIpip } from '../sys/raw.js';
import { IFF_VNET_HDR, closeTun, existingTunFlags, openTun, setPersist, setQueueAttached, setTunOffload, setVnetHdrSize, tunFlags, tunHasQueues, type Tun } from '../sys/tun.js';
import { connectIPv4, connectIPv6 } from '../sys/socket.js';
import { enableIpv6 } from '../sys/ipv6.js';
import { listAddresses, replaceAddress } from '../sys/netlink-addr.js';
import { setReceiving } from '../sys/raw.js';
import { parseIPv4, parseIPv6 } from '../../native-free/addr.js';
import { enableUdpGro, openSendOnlyUdp, openUdp, openUdp6, udpGsoSupported } from '../sys/udp.js';
import { TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, TUN_F_TSO_ECN, TUN_F_USO4, TUN_F_USO6, VIRTIO_NET_HDR_LEN } from '../../native-free/offload/virtio-net-hdr.js';

export class HostError extends WeftError {
  constructor(message: string) {
    super('ERR_WEFT_HOST', message);
  }
}

/** What binding the underlay sockets needs: known before the lease. */
export interface SocketPlan {
  tunName: string;
  queues: number;
  /** The backend's kind of underlay socket (src/backend/types.ts). */
  underlay: UnderlayKind;
  /** Underlay address to bind to. */
  bindAddr: string;
  /**
   * Dual-stack: the interface's IPv6 address, bound by a second UDP socket per
   * worker on the same port (IPV6_V6ONLY: the two families' sockets stay apart,
   * as flannel.1 and flannel-v6.1 do); null on an IPv4-only node. udp backends only.
   */
  bindAddr6: string | null;
  port: number;
  /** Ask for UDP_SEGMENT / UDP_GRO (ignored for ipip: a raw socket has neither). */
  udpGso: boolean;
  udpGro: boolean;
  /** Send-only sockets for source-port entropy (udp underlay only); 0 or 1: send from `port` on the receive sockets. */
  sourcePorts: number;
}

export interface UnderlaySockets {
  /** Per worker: the socket it sends on and the one it reads (-1: none). */
  txFds: number[];
  rxFds: number[];
  /** The node's send-only sockets (source-port entropy), shared by the workers, and their ports; empty when off. */
  sendFds: number[];
  sendPorts: number[];
  /** Per worker, the IPv6 underlay socket (sent on and read); empty on an IPv4-only node. */
  fds6: number[];
  /** Every fd opened, once each. */
  owned: number[];
  /** In effect on every socket. */
  udpGso: boolean;
  udpGro: boolean;
}

/** A node without a tunnel (host-gw) binds nothing. */
export function noSockets(): UnderlaySockets {
  return { txFds: [], rxFds: [], sendFds: [], sendPorts: [], fds6: [], owned: [], udpGso: false, udpGro: false };
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
  /**
   * Dual-stack: the first address of the IPv6 lease subnet (given to the TUN as
   * /128, as flannel gives flannel-v6.1) and the IPv6 network, routed through
   * the TUN. null: IPv4 only, and IPv6 is turned off on the TUN.
   */
  v6: { tunnelAddr: string; network: { addr: string; len: number } } | null;
  underlay: UnderlayKind;
  /** Underlay address to bind to. */
  bindAddr: string;
  /** The IPv6 one (dual-stack), or null. */
  bindAddr6: string | null;
  port: number;
  /** Ask for IFF_VNET_HDR + TUNSETOFFLOAD (TSO4, checksum). */
  tunOffload: boolean;
}

/** What TUNSETOFFLOAD is asked for (TSO6, USO6: IPv6 super-packets on a dual-stack TUN; an IPv4-only one has IPv6 off and gets none), then without UDP segmentation (kernels before 6.2), then without ECN and IPv6. */
const TUN_OFFLOADS = [
  TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_USO4 | TUN_F_USO6,
  TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN,
  TUN_F_CSUM | TUN_F_TSO4,
];

const SOCKET_BUFFER = 4 * 1024 * 1024;
/** Where quiet UDP sockets are connected (on this node's own address): nothing sends from there. */
const QUIET_PORT = 1;
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
    /** Send-only sockets (source-port entropy) and their ports; empty when off. */
    readonly sendFds: number[],
    readonly sendPorts: number[],
    /** Per worker, its IPv6 underlay socket; empty on an IPv4-only node. */
    readonly fds6: number[],
    private readonly owned: number[],
    /** TUN offloads in effect (IFF_VNET_HDR set), and why not when asked for and refused. */
    readonly tunOffload: boolean,
    readonly tunOffloadRefused: string | null,
    /** The TUN was there already (left by an earlier weft, or held by one still running). */
    readonly tunFound: boolean,
    /** Set when a running weft's packet format overrode the offload setting asked for. */
    readonly tunFormatFollowed: string | null,
  ) {}

  /**
   * Binds the underlay sockets and checks the TUN name: everything that can
   * fail on a busy host (a port held by a kernel VXLAN device or a socket
   * without SO_REUSEPORT) before the lease is written, so a failed start never
   * rewrites the lease. A TUN of that name is fine: weft's own, left by an
   * earlier weft or held by one still running, and attached to in apply().
   */
  static prepare(plan: SocketPlan): UnderlaySockets {
    if (plan.underlay === 'none') throw new HostError('this backend has no tunnel: no TUN and no underlay socket to open (host-gw: the kernel forwards)');
    if (existingTunFlags(plan.tunName) === 'not-tun') {
      throw new HostError(`interface ${plan.tunName} already exists and is not a TUN device: choose another --tun-name, or delete it (ip link del ${plan.tunName})`);
    }
    const owned: number[] = [];
    try {
      return { ...openSockets(plan, owned), owned };
    } catch (e) {
      owned.forEach(closeQuietly);
      throw e;
    }
  }

  /**
   * Creates the TUN (or attaches to the one left by an earlier weft, or held by
   * one still running) and the route, around prepared sockets; on failure undoes
   * what it made, sockets included, and leaves a device it found.
   */
  static apply(plan: HostPlan, sockets: UnderlaySockets): Host {
    let tun: Tun | null = null;
    const found = existingTunFlags(plan.tunName) !== null;
    const beside = found && tunHasQueues(plan.tunName);
    try {
      let { tun: t, refused } = openQueues(plan.tunName, plan.queues, plan.tunOffload);
      tun = t;
      // Beside a running weft the device keeps its packet format (vnet_hdr or
      // not), whatever this one asked for: follow it, or the bytes are misread.
      const vnet = (tunFlags(tun.fds[0]!) & IFF_VNET_HDR) !== 0;
      let followed: string | null = null;
      if (vnet !== (plan.tunOffload && refused === null)) {
        closeTun(tun);
        tun = null;
        followed = `${plan.tunName} is held by a running weft ${vnet ? 'with' : 'without'} TUN offloads: following it until it has gone (restart to change)`;
        ({ tun: t, refused } = openQueues(plan.tunName, plan.queues, vnet));
        tun = t;
      }
      if (plan.v6 === null) turnOffIpv6(tun.name);
      // Each of these is a no-op when the device already has that value (an
      // address set again is not deleted and re-added), so the route stays.
      configureLink(tun.name, { mtu: plan.mtu, txQueueLen: TUN_TX_QUEUE, up: true });
      if (!hasAddress(tun.name, plan.tunnelAddr)) configureLink(tun.name, { address: [plan.tunnelAddr, 32] });
      replaceRoute({ dst: plan.network.addr, prefixLen: plan.network.len, dev: tun.name });
      if (plan.v6 !== null) programIpv6(tun.name, plan.v6);
      const offload = (tunFlags(tun.fds[0]!) & IFF_VNET_HDR) !== 0;
      // Another weft forwards here: the kernel steers to these queues once the workers read them.
      if (beside) for (const fd of tun.fds) setQueueAttached(fd, false);
      return new Host(plan, tun, sockets.txFds, sockets.rxFds, sockets.sendFds, sockets.sendPorts, sockets.fds6, sockets.owned, offload, refused, found, followed);
    } catch (e) {
      releaseSockets(sockets);
      if (tun) {
        // A device this start made goes (with its address and route); one it found stays.
        if (!found) {
          try {
            setPersist(tun.fds[0]!, false);
          } catch {
            // closing still detaches; the device then stays for `weft uninstall`
          }
        }
        closeTun(tun);
      }
      throw e;
    }
  }

  /**
   * Stops taking packets from the underlay, while the workers still drain what
   * their sockets hold: UDP sockets are connected to this node itself, which
   * takes them out of the SO_REUSEPORT selection (the kernel picks among the
   * unconnected sockets: a weft started beside this one gets every datagram),
   * and the raw IP-in-IP socket gets its drop-all filter (ipip-handover.ts then
   * lets the other weft receive). Sending still works. The send-only sockets
   * receive nothing anyway and are left as they are.
   */
  quiesce(): void {
    for (const fd of new Set([...this.rxFds, ...this.fds6].filter((fd) => fd >= 0))) {
      try {
        if (this.plan.underlay === 'ip-in-ip') setReceiving(fd, false);
        else if (this.fds6.includes(fd)) connectIPv6(fd, parseIPv6(this.plan.bindAddr6!), QUIET_PORT);
        else connectIPv4(fd, parseIPv4(this.plan.bindAddr), QUIET_PORT);
      } catch {
        // closing it soon has the same effect, a little later
      }
    }
  }

  /**
   * Closes every fd. The TUN, its address and the route stay (the device is
   * persistent): a weft started next, or already running beside this one,
   * forwards through them; `weft uninstall` removes them.
   */
  teardown(): void {
    this.owned.forEach(closeQuietly);
    this.owned.length = 0;
    closeTun(this.tun);
  }
}

/** The TUN's queues, with offloads when asked and the kernel takes them (else why not), persistent. */
function openQueues(name: string, queues: number, offload: boolean): { tun: Tun; refused: string | null } {
  if (offload) {
    const t = openOffloadTun(name, queues, TUN_OFFLOADS, true);
    if (typeof t !== 'string') return { tun: t, refused: null };
    const tun = openTun({ name, queues, multiQueue: true, persist: true });
    clearOffloads(tun);
    return { tun, refused: t };
  }
  const tun = openTun({ name, queues, multiQueue: true, persist: true });
  clearOffloads(tun);
  return { tun, refused: null };
}

/**
 * A device left by a weft with offloads keeps its TUNSETOFFLOAD features; without
 * a virtio_net_hdr the kernel must segment and checksum everything itself.
 */
function clearOffloads(tun: Tun): void {
  if ((tunFlags(tun.fds[0]!) & IFF_VNET_HDR) !== 0) return; // beside a running weft with offloads: its setting
  try {
    setTunOffload(tun.fds[0]!, 0);
  } catch {
    // nothing was on
  }
}

/** Whether the interface has this IPv4 address already. */
function hasAddress(name: string, addr: string): boolean {
  return (networkInterfaces()[name] ?? []).some((a) => a.family === 'IPv4' && a.address === addr && a.netmask === '255.255.255.255');
}

/**
 * The TUN with IFF_VNET_HDR and the first offload set the kernel takes (of
 * `attempts`, TUNSETOFFLOAD flags) on every queue, or why the kernel refused
 * them all (the half-made device is closed: the caller opens a plain one).
 * Other errors (permissions, a name in use) throw as for a plain TUN.
 */
export function openOffloadTun(name: string, queues: number, attempts: readonly number[] = TUN_OFFLOADS, persist = false): Tun | string {
  const tun = openTun({ name, queues, multiQueue: true, vnetHdr: true, persist });
  if ((tunFlags(tun.fds[0]!) & IFF_VNET_HDR) === 0) {
    closeTun(tun); // beside a running weft without offloads: its setting
    return `${name} is held by a running weft without TUN offloads`;
  }
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
 * An IPv4-only node: without this the kernel sends IPv6 router and neighbour
 * solicitations into the TUN, which would only be dropped. (A TUN left by a
 * dual-stack weft loses its IPv6 address and route with it.)
 */
function turnOffIpv6(name: string): void {
  try {
    writeFileSync(`/proc/sys/net/ipv6/conf/${name}/disable_ipv6`, '1');
  } catch {
    // no IPv6 in this kernel: nothing to disable
  }
}

/**
 * Dual-stack: IPv6 on the TUN, its /128 tunnel address without duplicate
 * address detection (a point-to-point device with nobody to collide with;
 * with DAD the address would be unusable for a second or so after every
 * start), and the IPv6 network's route through it. As the IPv4 steps, a
 * no-op on a device that has them already (a restart).
 */
function programIpv6(name: string, v6: NonNullable<HostPlan['v6']>): void {
  enableIpv6(name);
  const have = listAddresses(6, name).some((a) => a.prefixLen === 128 && sameIpv6(a.addr, v6.tunnelAddr));
  if (!have) replaceAddress({ addr: v6.tunnelAddr, prefixLen: 128, dev: name, nodad: true });
  replaceRoute({ dst: v6.network.addr, prefixLen: v6.network.len, dev: name });
}

function sameIpv6(a: string, b: string): boolean {
  const x = parseIPv6(a);
  const y = parseIPv6(b);
  return x.every((v, i) => v === y[i]);
}

function openSockets(plan: SocketPlan, owned: number[]): Omit<UnderlaySockets, 'owned'> {
  const txFds: number[] = [];
  const rxFds: number[] = [];
  if (plan.underlay === 'ip-in-ip') {
    // Every raw IPPROTO_IPIP socket gets a copy of every packet: one socket,
    // read by worker 0 only, sent on by all. It starts deaf, and receives once
    // no other weft on the node does (ipip-handover.ts).
    const fd = openIpip({ bindAddr: plan.bindAddr, rcvBuf: SOCKET_BUFFER, sndBuf: SOCKET_BUFFER, deaf: true });
    owned.push(fd);
    for (let i = 0; i < plan.queues; i++) {
      txFds.push(fd);
      rxFds.push(i === 0 ? fd : -1);
    }
    return { txFds, rxFds, sendFds: [], sendPorts: [], fds6: [], udpGso: false, udpGro: false };
  }
  let udpGso = plan.udpGso;
  let udpGro = plan.udpGro;
  const fds6: number[] = [];
  for (let i = 0; i < plan.queues; i++) {
    // SO_REUSEPORT: the kernel spreads flows over the workers' sockets.
    const fd = openUdp(plan.bindAddr, plan.port, { rcvBuf: SOCKET_BUFFER, sndBuf: SOCKET_BUFFER });
    owned.push(fd);
    txFds.push(fd);
    rxFds.push(fd);
    if (udpGso) udpGso = udpGsoSupported(fd);
    if (udpGro) udpGro = enableUdpGro(fd);
    if (plan.bindAddr6 !== null) {
      const fd6 = openUdp6(plan.bindAddr6, plan.port, { rcvBuf: SOCKET_BUFFER, sndBuf: SOCKET_BUFFER });
      owned.push(fd6);
      fds6.push(fd6);
      // One setting for both families: the kernel's SOL_UDP options are shared code.
      if (udpGso) udpGso = udpGsoSupported(fd6);
      if (udpGro) udpGro = enableUdpGro(fd6);
    }
  }
  const sendFds: number[] = [];
  const sendPorts: number[] = [];
  if (plan.sourcePorts > 1) {
    for (let i = 0; i < plan.sourcePorts; i++) {
      const s = openSendOnlyUdp(plan.bindAddr, { sndBuf: SOCKET_BUFFER });
      owned.push(s.fd);
      sendFds.push(s.fd);
      sendPorts.push(s.port);
    }
  }
  // The kernel refuses an option for every socket or for none, so a refusal
  // comes at the first socket and no socket is left with it on (UDP_SEGMENT
  // is a per-send cmsg: the probe on a receive socket holds for these too).
  return { txFds, rxFds, sendFds, sendPorts, fds6, udpGso, udpGro };
}
