// What the main thread hands each data-plane worker. Everything is
// structured-cloneable: numbers, plain objects and SharedArrayBuffers. File
// descriptors are plain numbers, valid in every thread of the process.
import type { BackendType } from '../backend/index.js';
import type { LpmState } from '../../native-free/table/lpm.js';
import type { PeerState } from '../../native-free/table/peers.js';

export interface WorkerInit {
  index: number;
  backend: BackendType;
  /** This worker's TUN queue (nonblocking). */
  tunFd: number;
  /** Socket to send encapsulated packets on. */
  txFd: number;
  /** Socket to receive from, or -1 (IP-in-IP: only worker 0 reads the one raw socket). */
  rxFd: number;
  /**
   * Source-port entropy (--source-ports): the node's send-only UDP sockets,
   * shared by every worker, and the port each is bound to. A datagram goes out
   * on sendFds[flowHash % length], so a flow keeps its port whichever worker
   * sends it. Empty: everything goes out on txFd, from `port`.
   */
  sendFds: number[];
  sendPorts: number[];
  localUnderlay: number;
  localMac: number[];
  /** This node's tunnel address, the source of ICMP errors it writes to the TUN. */
  tunnelAddr: number;
  vni: number;
  /** Destination port of encapsulated packets (vxlan, udp). */
  port: number;
  /** Tunnel MTU: the largest inner packet. */
  mtu: number;
  acceptUnknownPeers: boolean;
  /** Anti-spoofing on decapsulation (--spoof-check): this node's subnet, or null when off. */
  spoofCheck: { subnet: number; mask: number } | null;
  routes: LpmState;
  /** Dual-stack and IPv6-only (EnableIPv6), else null: see WorkerIpv6. */
  ipv6: WorkerIpv6 | null;
  /** The inner families this node carries (native-free/family.ts: FAMILY_V4 | FAMILY_V6). */
  innerFamilies: number;
  peers: PeerState;
  /** Per-worker counter rows (src/dataplane/counters.ts). */
  counters: SharedArrayBuffer;
  /** Int32Array: [CONTROL_STOP] stop flag, [heartbeatIndex(index)] this worker's heartbeat. */
  control: SharedArrayBuffer;
  /** Only with WEFT_FAULT_INJECTION=1: fault requests for tests (test-faults.ts). */
  testFaults?: SharedArrayBuffer;
  /** Capture control word and this worker's ring (capture-ring.ts). */
  captureControl: SharedArrayBuffer;
  captureRing: SharedArrayBuffer;
  /** Packets per batch (recvmmsg/sendmmsg size, TUN reads per round). */
  batch: number;
  /** Bytes per transmit slot without offloads, its lead (ENCAP_LEAD) included (slab-layout.ts). */
  slotSize: number;
  /** Offloads in effect: what was asked for and what the kernel accepted. */
  offload: WorkerOffload;
}

/** What a worker needs to carry IPv6 pods (flannel's flannel-v6.<VNI> device, in userspace). */
export interface WorkerIpv6 {
  /** This worker's IPv6 underlay socket: sent on and read (host.ts fds6). */
  fd: number;
  /** This node's IPv6 underlay address, 16 bytes: what the socket is bound to. */
  localUnderlay: number[];
  /** This node's IPv6 tunnel address (the first of its IPv6 subnet, on the TUN), 16 bytes: the source of ICMPv6 errors. */
  tunnelAddr: number[];
  /** Largest inner packet over the IPv6 underlay (20 bytes less than over IPv4). */
  mtu: number;
  /** The IPv6 route table: pod IPv6 subnet → peer id. */
  routes: LpmState;
  /** Anti-spoofing (--spoof-check) for IPv6: this node's IPv6 subnet, or null when off. */
  spoofCheck: { subnet: number[]; prefix: number } | null;
}

export interface WorkerOffload {
  /** The TUN has IFF_VNET_HDR and TUNSETOFFLOAD took TSO4/CSUM: reads are super-packets, writes carry a virtio_net_hdr and are coalesced. */
  tun: boolean;
  /** The send socket may use UDP_SEGMENT. */
  udpGso: boolean;
  /** The receive socket has UDP_GRO on. */
  udpGro: boolean;
}

export const CONTROL_STOP = 0;
/**
 * Set once the tables hold the registry's snapshot: a worker boots (in parallel
 * with the daemon's registry calls) and waits for it before it forwards.
 */
export const CONTROL_GO = 1;
/**
 * Int32 words per control slot (64 bytes): each worker bumps its heartbeat
 * every loop turn, so each has a cache line of its own rather than sharing one
 * with the other workers' and with the stop flag they all read.
 */
const CONTROL_SLOT = 16;
export function heartbeatIndex(worker: number): number {
  return (worker + 1) * CONTROL_SLOT;
}
export function controlBytes(workers: number): number {
  return 4 * CONTROL_SLOT * (workers + 1);
}
