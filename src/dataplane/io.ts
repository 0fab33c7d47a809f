// The two narrow interfaces the transmit and receive loops (tx-path.ts,
// rx-path.ts) work over, in the shape of wireguard-go's tun.Device and
// conn.Bind: the loops see packets and datagrams, never file descriptors,
// virtio_net_hdrs, segmentation, coalescing or GSO/GRO. Kernel
// implementations: tun-queue.ts, underlay.ts; in-memory fakes for tests:
// test/dataplane/fakes.ts.
//
// No allocation per packet: results are written into objects the
// implementation owns and reuses (like the engine's ctx.result).
import type { OffloadResult } from '../../native-free/offload/tso.js';

/**
 * What one TUN read became, in the queue's buffer `buf`: with inPlace, one
 * packet (count 1); otherwise the count segments of one super-packet, which
 * share their flow and every header byte up to the payload. Every packet has
 * ENCAP_LEAD bytes free in front of it, a segment exactly the queue's encap
 * bytes (slab-layout.ts): the loop encapsulates there, in place.
 */
export type TunPackets = OffloadResult;

/** A worker's TUN queue (tun.Device). */
export interface TunQueue {
  /** Where read() puts what it read; `buf` is the memory the underlay sends from. */
  readonly packets: TunPackets;
  /**
   * Reads one packet from the queue: how many packets it became (in
   * `packets`), 0 when the read was dropped (counted by reason), -1 when
   * nothing is waiting or this round's room is used up.
   */
  read(): number;
  /** Starts a round: what earlier reads left in the buffer has been sent and may be overwritten. */
  rewind(): void;
  /**
   * Hands over a received inner packet b[off, off+len), with TUN_WRITE_LEAD
   * bytes free in front of it. It may be held to coalesce with the next ones
   * until flush(). Counted as received, or dropped by reason.
   */
  deliver(b: Uint8Array, off: number, len: number): void;
  /** Writes what deliver() holds (the end of a receive round). */
  flush(): void;
  /** Writes one whole packet b[off, off+len) now (TUN_WRITE_LEAD free in front); false if the kernel refused it. */
  write(b: Uint8Array, off: number, len: number): boolean;
}

/** One received datagram, as UnderlaySocket.next() leaves it. */
export interface UnderlayDatagram {
  /** The receive buffer; the datagram has OUTER_UDP_BYTES of capture room in front of it. */
  buf: Uint8Array;
  offset: number;
  length: number;
  /** The sender's underlay address (IPv4, u32; 0 on an IPv6 socket) and port. */
  from: number;
  /** On an IPv6 socket: the sender's IPv6 address (16 bytes, overwritten by next()). */
  readonly from6: Uint8Array;
  fromPort: number;
}

/** A worker's underlay socket (conn.Bind). */
export interface UnderlaySocket {
  /**
   * Queues the datagram txBuf[off, off+len) for underlay address addr (the
   * backend's port), txBuf being the TUN queue's buffer, from the source port
   * of inner flow hash `flow` (the encapsulation's result.flowHash): one flow
   * always from one port. Back-to-back same-sized datagrams to one peer from
   * one port may leave as one send.
   */
  send(off: number, len: number, addr: number, flow: number): void;
  /** The outer UDP source port datagrams of flow hash `flow` leave from (for captures); 0 without UDP. */
  sourcePort(flow: number): number;
  /** Sends everything queued (the end of a transmit round); refusals and full buffers are counted drops. */
  flush(): void;
  /** Takes what is waiting, up to a batch: how many receive entries arrived (0 on none or a socket error). */
  receive(): number;
  /** Moves to the next datagram of what receive() took, into `datagram`; false when there is none left. */
  next(): boolean;
  readonly datagram: UnderlayDatagram;
}
