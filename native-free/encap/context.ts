// What every encapsulation needs to know about this node and its peers.
//
// Encapsulation writes headers into the headroom in front of the packet and
// never copies the payload. Its result goes into a per-context, reused
// EncapResult: the hot path allocates nothing.

import { InvalidArgumentError } from '../errors.js';

/** Longest-prefix match over the destination address read in place from a packet. */
export interface RouteLookup {
  /** Peer id for the address at b[off..off+4) (IPv4) or b[off..off+16) (IPv6), or -1. */
  lookup(b: Uint8Array, off: number): number;
}

/** Peer attributes by id; see ../table/peers.ts. */
export interface PeerLookup {
  /** Underlay IPv4 address of a peer id (u32; 0: the peer has none). */
  underlayOf(id: number): number;
  /** Copies the peer's 6-byte VTEP MAC (of its IPv4-underlay device, flannel.1) to dst[off..off+6). */
  writeMac(id: number, dst: Uint8Array, off: number): void;
  /** Peer id with this underlay address, or -1. */
  findByUnderlay(addr: number): number;
  /** FAMILY_V4 | FAMILY_V6 (../family.ts): which underlays the peer has. */
  familiesOf(id: number): number;
  /** Copies the peer's 16-byte IPv6 underlay to dst[off..off+16). */
  writeUnderlay6(id: number, dst: Uint8Array, off: number): void;
  /** Copies the VTEP MAC of the peer's IPv6-underlay device (flannel-v6.1) to dst[off..off+6). */
  writeMac6(id: number, dst: Uint8Array, off: number): void;
  /** Peer id whose IPv6 underlay is the 16 bytes at b[off], or -1. */
  findByUnderlay6(b: Uint8Array, off: number): number;
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
  /** Outer TTL (IPv4) and hop limit (IPv6). */
  ttl: number;
  /**
   * This node's IPv6 underlay address (16 bytes), the outer source over
   * IPv6 (flannel's PublicIPv6). Absent or null: no IPv6 underlay.
   */
  localUnderlay6?: Uint8Array | null;
  /** The VTEP MAC of this node's IPv6-underlay device (flannel-v6.1); absent or null: localMac. */
  localMac6?: Uint8Array | null;
  /**
   * The underlay family each inner family travels over. flannel: IPv4 pods
   * over the IPv4 underlay (flannel.1), IPv6 pods over the IPv6 underlay
   * (flannel-v6.1), never crossed; that is the default here (6 for IPv6
   * inner when localUnderlay6 is set, else 4). Crossing (IPv6 pods over an
   * IPv4-only underlay, IPv4 pods over an IPv6-only one) is weft's own and
   * works between weft nodes, or with a kernel VXLAN device of that underlay
   * family (the kernel decapsulates either inner family).
   */
  outerFor4?: 4 | 6;
  outerFor6?: 4 | 6;
  /** Largest inner packet over the IPv6 underlay (underlay MTU − 70 for vxlan); absent: mtu. */
  mtu6?: number;
}

export class EncapResult {
  /** Start of the bytes to send (outer IP header, or the first header a kernel socket does not add). */
  offset = 0;
  length = 0;
  /** Peer id chosen by the route lookup. */
  peer = -1;
  /** Underlay family to send over: 4 (send to `underlay`) or 6 (send to `underlay6`). */
  family: 4 | 6 = 4;
  /** Underlay IPv4 address to send to (u32); 0 when family is 6. */
  underlay = 0;
  /** Underlay IPv6 address to send to, filled when family is 6 (the sender copies it into its sockaddr_in6). */
  readonly underlay6 = new Uint8Array(16);
  /**
   * Hash of the inner flow (flow-hash.ts; vxlan, udp): the worker picks the
   * send socket, and with it the outer UDP source port, from it, so one flow
   * always leaves from one port (kept in order) and many flows spread over
   * the underlay's ECMP paths and the receivers' RSS queues; over IPv6 the
   * outer flow label is made from it too. 0 for ipip.
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
  /** Resolved from config once: the outer family per inner family, the v6 source, MAC and MTU. */
  outerFor4: 4 | 6;
  outerFor6: 4 | 6;
  localUnderlay6: Uint8Array;
  localMac6: Uint8Array;
  mtu6: number;
}

export function createEncapContext(
  config: EncapConfig,
  routes4: RouteLookup,
  routes6: RouteLookup | null,
  peers: PeerLookup,
): EncapContext {
  const u6 = config.localUnderlay6 ?? null;
  if (u6 !== null && (!(u6 instanceof Uint8Array) || u6.length !== 16)) {
    throw new InvalidArgumentError('invalid localUnderlay6: expected 16 bytes (an IPv6 address) or null');
  }
  const mac6 = config.localMac6 ?? config.localMac;
  if (!(mac6 instanceof Uint8Array) || mac6.length !== 6) throw new InvalidArgumentError('invalid localMac6: expected 6 bytes or null');
  const outerFor4 = config.outerFor4 ?? 4;
  const outerFor6 = config.outerFor6 ?? (u6 !== null ? 6 : 4);
  for (const f of [outerFor4, outerFor6]) {
    if (f !== 4 && f !== 6) throw new InvalidArgumentError(`invalid underlay family ${String(f)}: expected 4 or 6`);
    if (f === 6 && u6 === null) throw new InvalidArgumentError('an IPv6 underlay is chosen (outerFor4/outerFor6 = 6) but localUnderlay6 is not set');
  }
  const mtu6 = config.mtu6 ?? config.mtu;
  if (!Number.isInteger(mtu6) || mtu6 < 0 || mtu6 > 0xffff) throw new InvalidArgumentError(`invalid mtu6 ${String(mtu6)}: expected 0-65535`);
  return {
    config,
    routes4,
    routes6,
    peers,
    result: new EncapResult(),
    nextId: 1,
    outerFor4,
    outerFor6,
    localUnderlay6: u6 === null ? new Uint8Array(16) : Uint8Array.from(u6),
    localMac6: Uint8Array.from(mac6),
    mtu6,
  };
}
