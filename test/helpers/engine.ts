// Two nodes of one overlay, for engine tests: A (198.51.100.1, 10.244.1.0/24)
// and B (198.51.100.2, 10.244.2.0/24), with the MACs the kernel golden capture
// (test/fixtures/capture-kernel-vxlan.sh) used.
export { hex } from './bytes.js';
import { createDecapContext, type DecapContext } from '../../native-free/decap/context.js';
import { createEncapContext, type EncapConfig, type EncapContext, type PeerLookup, type RouteLookup } from '../../native-free/encap/context.js';

export const A = { underlay: 0xc6336401, mac: Uint8Array.from([2, 0, 0, 0, 1, 1]), subnet: 0x0af40100 };
export const B = { underlay: 0xc6336402, mac: Uint8Array.from([2, 0, 0, 0, 2, 2]), subnet: 0x0af40200 };
export const NODES = [A, B];
export const HEADROOM = 64;

/** A linear-scan route table over /24s: the reference, not the fast one. */
export function routesTo(peers: { subnet: number }[]): RouteLookup {
  return {
    lookup(b, off) {
      const addr = ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
      return peers.findIndex((p) => (addr & 0xffffff00) >>> 0 === p.subnet);
    },
  };
}

export function peerLookup(peers: { underlay: number; mac: Uint8Array }[]): PeerLookup {
  return {
    underlayOf: (id) => peers[id]!.underlay,
    writeMac: (id, dst, off) => dst.set(peers[id]!.mac, off),
    findByUnderlay: (addr) => peers.findIndex((p) => p.underlay === addr),
  };
}

export function encapAt(node: typeof A, overrides: Partial<EncapConfig> = {}): EncapContext {
  const config: EncapConfig = {
    localUnderlay: node.underlay,
    localMac: node.mac,
    vni: 1,
    port: 4789,
    mtu: 1450,
    outerHeaders: true,
    udpChecksum: true,
    ttl: 64,
    ...overrides,
  };
  return createEncapContext(config, routesTo(NODES), null, peerLookup(NODES));
}

/** Decapsulation as `node`, anti-spoofing on (the daemon's default) unless spoofCheck is false. */
export function decapAt(node: typeof A, acceptUnknownPeers = false, spoofCheck = true): DecapContext {
  const admission = spoofCheck ? { routes: routesTo(NODES), subnet: node.subnet, mask: 0xffffff00 } : null;
  return createDecapContext({ vni: 1, localMac: node.mac, acceptUnknownPeers, admission }, peerLookup(NODES));
}


/** Copies a packet into a fresh buffer at offset HEADROOM, as a TUN read would place it. */
export function withHeadroom(packet: Uint8Array, tail = 0): { buf: Uint8Array; off: number; len: number } {
  const buf = new Uint8Array(HEADROOM + packet.length + tail);
  buf.set(packet, HEADROOM);
  return { buf, off: HEADROOM, len: packet.length };
}
