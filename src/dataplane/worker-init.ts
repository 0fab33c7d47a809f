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
