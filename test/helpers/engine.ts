// Two nodes of one overlay, for engine tests: A (198.51.100.1, 10.244.1.0/24)
// and B (198.51.100.2, 10.244.2.0/24), with the MACs the kernel golden capture
// (test/fixtures/capture-kernel-vxlan.sh) used. Dual stack: A also has the
// IPv6 underlay 2001:db8:100::1, pods fd00:244:1::/64 and a v6 VTEP MAC of
// its own (flannel-v6.1's), B likewise with ::2 and fd00:244:2::/64.
export { hex } from './bytes.js';
import { createDecapContext, type DecapContext } from '../../native-free/decap/context.js';
import { createEncapContext, type EncapConfig, type EncapContext, type PeerLookup, type RouteLookup } from '../../native-free/encap/context.js';
import { parseIPv6 } from '../../native-free/addr.js';
import { FAMILY_BOTH, FAMILY_V4, FAMILY_V6 } from '../../native-free/family.js';

export const A = {
  underlay: 0xc6336401,
  mac: Uint8Array.from([2, 0, 0, 0, 1, 1]),
  subnet: 0x0af40100,
  underlay6: parseIPv6('2001:db8:100::1'),
  mac6: Uint8Array.from([2, 0, 0, 6, 1, 1]),
  subnet6: parseIPv6('fd00:244:1::'),
};
export const B = {
  underlay: 0xc6336402,
  mac: Uint8Array.from([2, 0, 0, 0, 2, 2]),
  subnet: 0x0af40200,
  underlay6: parseIPv6('2001:db8:100::2'),
  mac6: Uint8Array.from([2, 0, 0, 6, 2, 2]),
  subnet6: parseIPv6('fd00:244:2::'),
};
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

/** The same over IPv6 /64s. */
export function routesTo6(peers: { subnet6: Uint8Array }[]): RouteLookup {
  return {
    lookup(b, off) {
      return peers.findIndex((p) => p.subnet6.every((x, i) => i >= 8 || b[off + i] === x));
    },
  };
}

type PeerRow = { underlay: number; mac: Uint8Array; underlay6?: Uint8Array | null; mac6?: Uint8Array };

/** A reference PeerLookup over an array (a peer without underlay6 has no IPv6 underlay; underlay 0: no IPv4 one). */
export function peerLookup(peers: PeerRow[]): PeerLookup {
  const same = (a: Uint8Array, b: Uint8Array, off: number) => a.every((x, i) => b[off + i] === x);
  return {
    underlayOf: (id) => peers[id]!.underlay,
    writeMac: (id, dst, off) => dst.set(peers[id]!.mac, off),
    findByUnderlay: (addr) => peers.findIndex((p) => p.underlay !== 0 && p.underlay === addr),
    familiesOf: (id) => (peers[id]!.underlay !== 0 ? FAMILY_V4 : 0) | (peers[id]!.underlay6 ? FAMILY_V6 : 0),
    writeUnderlay6: (id, dst, off) => dst.set(peers[id]!.underlay6!, off),
    writeMac6: (id, dst, off) => dst.set(peers[id]!.mac6 ?? peers[id]!.mac, off),
    findByUnderlay6: (b, off) => peers.findIndex((p) => !!p.underlay6 && same(p.underlay6, b, off)),
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

/** Dual-stack encapsulation as `node`: IPv4 and IPv6 routes, the IPv6 underlay and v6 MAC; overrides pick the families. */
export function encapAt6(node: typeof A, overrides: Partial<EncapConfig> = {}, peers: PeerRow[] = NODES): EncapContext {
  const config: EncapConfig = {
    localUnderlay: node.underlay,
    localMac: node.mac,
    vni: 1,
    port: 4789,
    mtu: 1450,
    mtu6: 1430,
    outerHeaders: true,
    udpChecksum: true,
    ttl: 64,
    localUnderlay6: node.underlay6,
    localMac6: node.mac6,
    ...overrides,
  };
  return createEncapContext(config, routesTo(NODES), routesTo6(NODES), peerLookup(peers));
}

/** Dual-stack decapsulation as `node` (inner families `families`), anti-spoofing on unless spoofCheck is false. */
export function decapAt6(node: typeof A, opts: { families?: number; spoofCheck?: boolean; acceptUnknownPeers?: boolean; peers?: PeerRow[] } = {}): DecapContext {
  const admission =
    opts.spoofCheck === false
      ? null
      : { routes: routesTo(NODES), subnet: node.subnet, mask: 0xffffff00, routes6: routesTo6(NODES), subnet6: node.subnet6, prefix6: 64 };
  return createDecapContext(
    { vni: 1, localMac: node.mac, localMac6: node.mac6, acceptUnknownPeers: opts.acceptUnknownPeers ?? false, admission, innerFamilies: opts.families ?? FAMILY_BOTH },
    peerLookup(opts.peers ?? NODES),
  );
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
