// What every encapsulation needs to know about this node and its peers.
//
// Encapsulation writes headers into the headroom in front of the packet and
// never copies the payload. Its result goes into a per-context, reused
// EncapResult: the hot path allocates nothing.

/** Longest-prefix match over the destination address read in place from a packet. */
export interface RouteLookup {
  /** Peer id for the address at b[off..off+4) (IPv4) or b[off..off+16) (IPv6), or -1. */
  lookup(b: Uint8Array, off: number): number;
}

/** Peer attributes by id; see ../table/peers.ts. */
export interface PeerLookup {
  /** Underlay IPv4 address of a peer id (u32). */
  underlayOf(id: number): number;
  /** Copies the peer's 6-byte VTEP MAC to dst[off..off+6). */
  writeMac(id: number, dst: Uint8Array, off: number): void;
  /** Peer id with this underlay address, or -1. */
  findByUnderlay(addr: number): number;
}

export interface EncapConfig {
  /** This node's underlay IPv4 address (u32), the outer source. */
  localUnderlay: number;
  /** This node's VTEP MAC, the inner Ethernet source (vxlan). */
  localMac: Uint8Array;
  /** VXLAN network identifier (vxlan). */
  vni: number;
  /** Outer UDP destination port (vxlan, udp). */
  port: number;
  /** Largest inner IP packet the tunnel carries (underlay MTU − overhead). */
  mtu: number;
  /**
   * Write the outer IPv4 (and UDP) header too. Off when a kernel socket adds
   * them (UDP socket, raw socket without IP_HDRINCL); on for raw output and pcap.
   */
  outerHeaders: boolean;
  /** Compute the outer UDP checksum (only with outerHeaders; zero is legal over IPv4). */
  udpChecksum: boolean;
  /** Outer TTL. */
  ttl: number;
}

export class EncapResult {
  /** Start of the bytes to send (outer IP header, or the first header a kernel socket does not add). */
  offset = 0;
  length = 0;
  /** Peer id chosen by the route lookup. */
  peer = -1;
  /** Underlay IPv4 address to send to (u32). */
  underlay = 0;
  /**
   * Hash of the inner flow (flow-hash.ts; vxlan, udp): the worker picks the
   * send socket, and with it the outer UDP source port, from it, so one flow
   * always leaves from one port (kept in order) and many flows spread over
   * the underlay's ECMP paths and the receivers' RSS queues. 0 for ipip.
   */
  flowHash = 0;
  /** Outer UDP source port chosen from the flow hash (vxlan, when the engine writes the outer headers). */
  sourcePort = 0;
}

export interface EncapContext {
  config: EncapConfig;
  routes4: RouteLookup;
  routes6: RouteLookup | null;
  peers: PeerLookup;
  result: EncapResult;
  /** Outer IPv4 identification counter (only matters for packets without DF). */
  nextId: number;
}

export function createEncapContext(
  config: EncapConfig,
  routes4: RouteLookup,
  routes6: RouteLookup | null,
  peers: PeerLookup,
): EncapContext {
  return { config, routes4, routes6, peers, result: new EncapResult(), nextId: 1 };
}
