// What decapsulation checks packets against, and where it puts its answer.

import type { PeerLookup, RouteLookup } from '../encap/context.js';
import { InvalidArgumentError } from '../errors.js';
import { FAMILY_BOTH, FAMILY_V4, FAMILY_V6 } from '../family.js';

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
  /**
   * The inner families this node carries (FAMILY_V4 | FAMILY_V6; flannel's
   * EnableIPv4 / EnableIPv6). The others are dropped as family_disabled,
   * with or without admission. Absent: IPv4 only.
   */
  innerFamilies?: number;
  /** The VTEP MAC inner frames over the IPv6 underlay must be addressed to (flannel-v6.1's); absent or null: localMac. */
  localMac6?: Uint8Array | null;
}

/** What anti-spoofing checks inner addresses against. */
export interface Admission {
  /** The route table: pod subnet → peer id (the same one encapsulation uses). */
  routes: RouteLookup;
  /** This node's subnet: network address (u32) and mask (u32, addr.ts ipv4Netmask). */
  subnet: number;
  mask: number;
  /**
   * IPv6 (admit6.ts), required when innerFamilies has FAMILY_V6: the IPv6
   * route table (pod subnet → peer id, the one encapsulation uses) and this
   * node's IPv6 subnet (16-byte network address and prefix length).
   */
  routes6?: RouteLookup | null;
  subnet6?: Uint8Array | null;
  prefix6?: number;
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
  /** Resolved from config once. */
  families: number;
  localMac6: Uint8Array;
  /** IPv6 admission (null when admission is off or the node carries no IPv6). */
  routes6: RouteLookup | null;
  subnet6: Uint8Array;
  prefix6: number;
}

export function createDecapContext(config: DecapConfig, peers: PeerLookup): DecapContext {
  const families = config.innerFamilies ?? FAMILY_V4;
  if (!Number.isInteger(families) || families < 1 || (families & ~FAMILY_BOTH) !== 0) {
    throw new InvalidArgumentError(`invalid innerFamilies ${String(families)}: expected FAMILY_V4, FAMILY_V6 or both`);
  }
  const mac6 = config.localMac6 ?? config.localMac;
  if (!(mac6 instanceof Uint8Array) || mac6.length !== 6) throw new InvalidArgumentError('invalid localMac6: expected 6 bytes or null');
  const a = config.admission;
  let routes6: RouteLookup | null = null;
  const subnet6 = new Uint8Array(16);
  let prefix6 = 0;
  if (a !== null && (families & FAMILY_V6) !== 0) {
    const s6 = a.subnet6 ?? null;
    const p6 = a.prefix6 ?? -1;
    if ((a.routes6 ?? null) === null || !(s6 instanceof Uint8Array) || s6.length !== 16 || !Number.isInteger(p6) || p6 < 1 || p6 > 128) {
      throw new InvalidArgumentError('IPv6 admission needs routes6, subnet6 (16 bytes) and prefix6 (1-128) when the node carries IPv6');
    }
    routes6 = a.routes6!;
    subnet6.set(s6);
    prefix6 = p6;
  }
  return { config, peers, result: new DecapResult(), families, localMac6: Uint8Array.from(mac6), routes6, subnet6, prefix6 };
}
