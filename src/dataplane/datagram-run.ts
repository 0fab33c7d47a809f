// Small packets read one by one from the TUN, batched into UDP GSO sends.
//
// With offloads on, the TUN queue (tun-queue.ts) reads each small packet right behind the
// datagram before it, so consecutive encapsulated datagrams lie back to back
// in its buffer. When they go to the same peer and have the size of the
// first (the last may be shorter), the kernel can take them as one
// sendmmsg entry with UDP_SEGMENT, as it takes the segments of a TCP
// super-packet: a stream of small UDP packets (DNS, games, 64-byte iperf3)
// costs one send path per run instead of one per datagram.
//
// With source-port entropy a worker sends on several sockets (one per source
// port, chosen by inner flow hash: underlay.ts), each with its own sendmmsg
// vector (send-queue.ts). A run is one entry of one socket's vector, so it
// continues only while the socket stays the same too; interleaved flows on
// different sockets break runs as interleaved peers do.
import type { SendQueue } from './send-queue.js';

/** The kernel's UDP_MAX_SEGMENTS before 2024: datagrams per UDP_SEGMENT send. */
export const MAX_GSO_SEGMENTS = 64;
/** Largest UDP payload in one IPv4 datagram: 65535 - 20 (IPv4) - 8 (UDP); a GSO send may not exceed it. */
export const MAX_UDP_PAYLOAD = 65507;

export class DatagramRuns {
  private off = 0;
  private len = 0;
  private count = 0;
  private segment = 0;
  private addr = 0;
  /** Index of the socket (its queue) the open run goes to. */
  private socket = 0;
  /** A shorter datagram joined: nothing more may. */
  private closed = false;

  /** @param queues one per socket, indexed as add()'s `socket`. */
  constructor(
    private readonly queues: readonly SendQueue[],
    private readonly port: number,
  ) {}

  /**
   * Queues the datagram buf[off, off+len) for addr on socket `socket`: it joins
   * the open run, or the run is queued and a new one starts.
   */
  add(off: number, len: number, addr: number, socket: number): void {
    if (
      this.count > 0 &&
      !this.closed &&
      socket === this.socket &&
      this.queues[socket]!.gso &&
      off === this.off + this.len &&
      addr === this.addr &&
      len <= this.segment &&
      this.count < MAX_GSO_SEGMENTS &&
      this.len + len <= MAX_UDP_PAYLOAD
    ) {
      this.len += len;
      this.count++;
      if (len < this.segment) this.closed = true;
      return;
    }
    this.emit();
    this.off = off;
    this.len = len;
    this.count = 1;
    this.segment = len;
    this.addr = addr;
    this.socket = socket;
    this.closed = false;
  }

  /** Queues the open run, if any (before anything else is queued, and at the end of a round). */
  emit(): void {
    if (this.count === 0) return;
    this.queues[this.socket]!.add(this.off, this.len, this.addr, this.port, this.count > 1 ? this.segment : 0, this.count);
    this.count = 0;
  }
}
