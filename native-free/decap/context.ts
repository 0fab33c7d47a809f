// What decapsulation checks packets against, and where it puts its answer.

import type { PeerLookup, RouteLookup } from '../encap/context.js';

export interface DecapConfig {
  /** The VNI this network uses (vxlan). */
  vni: number;
  /** This node's VTEP MAC: inner frames must be addressed to it (vxlan). */
  localMac: Uint8Array;
  /**
   * Accept encapsulated packets from underlay addresses that are no known
   * node. Off by default: the kernel's VXLAN accepts them, weft drops them.
   */
  acceptUnknownPeers: boolean;
  /**
   * Anti-spoofing (admit.ts): the inner source must belong to the sending
   * peer, the inner destination to this node. null: off (--spoof-check=false).
   */
  admission: Admission | null;
}

/** What anti-spoofing checks inner addresses against. */
export interface Admission {
  /** The route table: pod subnet → peer id (the same one encapsulation uses). */
  routes: RouteLookup;
  /** This node's subnet: network address (u32) and mask (u32, addr.ts ipv4Netmask). */
  subnet: number;
  mask: number;
}

export class DecapResult {
  /** Where the inner IP packet starts, ready to be written to the TUN. */
  offset = 0;
  /** Its length (IP total length; link padding excluded). */
  length = 0;
  /** Peer id of the sender, or -1 when unknown peers are accepted. */
  peer = -1;
}

export interface DecapContext {
  config: DecapConfig;
  peers: PeerLookup;
  result: DecapResult;
}

export function createDecapContext(config: DecapConfig, peers: PeerLookup): DecapContext {
  return { config, peers, result: new DecapResult() };
}
