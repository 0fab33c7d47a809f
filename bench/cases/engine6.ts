// The IPv6 paths of the engine, one packet per operation, over the same
// cluster as engine.ts (10,000 nodes), now dual stack: node i has the IPv6
// underlay 2001:db8:1::hi:lo, the IPv6 pod subnet fd00:0:0:i::/64 and a v6
// VTEP MAC of its own.
//
//   vxlan6-encap              IPv6 inner over the IPv6 underlay (flannel-v6.1's
//                             case): route lookup /64, peer v6 record, outer
//                             IPv6 + UDP with the mandatory UDP checksum over
//                             the whole 1400-byte packet
//   vxlan-encap-v4in6         IPv4 inner over the IPv6 underlay
//   vxlan6-encap-socket       vxlan6-encap without outerHeaders: what the daemon's
//                             worker does (the kernel's UDPv6 socket adds IPv6 and UDP
//                             and the checksum, offloaded); result.underlay6 filled
//   vxlan6-decap              decapVxlan6: sender by IPv6 underlay, inner IPv6
//   vxlan6-decap-spoof-check  the same with admit6 (one /64 lookup, two prefix compares)
//   peer-by-underlay6-10k     findByUnderlay6, 7/8 of the addresses known
//   packet-too-big-1400       an ICMPv6 Packet Too Big about a 1400-byte packet
//
// 256 different 1400-byte inner packets to 256 different peers rotate.
import { createDecapContext } from '../../native-free/decap/context.js';
import { decapVxlan6 } from '../../native-free/decap/vxlan.js';
import { FORWARD } from '../../native-free/drop.js';
import { createEncapContext, type EncapConfig } from '../../native-free/encap/context.js';
import { encapVxlan } from '../../native-free/encap/vxlan.js';
import { FAMILY_BOTH } from '../../native-free/family.js';
import { checksum } from '../../native-free/checksum.js';
import { PACKET_TOO_BIG_MAX_LENGTH, writePacketTooBig } from '../../native-free/icmp-too-big.js';
import { LpmTable } from '../../native-free/table/lpm.js';
import { PeerTable } from '../../native-free/table/peers.js';
import type { BenchCase } from '../harness.js';

const NODES = 10_000;
const PACKETS = 256;
const INNER = 1400;
const HEADROOM = 80;
const SENDER = 256;

const underlay6 = (i: number) => Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, i >> 8, i & 255]);
const subnet6 = (i: number) => Uint8Array.from([0xfd, 0, 0, 0, 0, 0, i >> 8, i & 255, 0, 0, 0, 0, 0, 0, 0, 0]);

function cluster(): { routes: LpmTable; routes6: LpmTable; peers: PeerTable } {
  const routes = LpmTable.create({ family: 4, capacity: NODES, shared: true });
  const routes6 = LpmTable.create({ family: 6, capacity: NODES, shared: true });
  const peers = PeerTable.create({ capacity: NODES, shared: true });
  for (let i = 0; i < NODES; i++) {
    const mac = Uint8Array.from([2, 0, 0, 1, i >> 8, i & 255]);
    const id = peers.add((0x64400000 | i) >>> 0, mac, 0, { underlay: underlay6(i), mac: Uint8Array.from([2, 0, 0, 6, i >> 8, i & 255]) });
    routes.insert((0x0a000000 | (i << 8)) >>> 0, 24, id);
    routes6.insert(subnet6(i), 64, id);
  }
  return { routes, routes6, peers };
}

function config(self: number, outerFor4: 4 | 6, outerHeaders = true): EncapConfig {
  return {
    localUnderlay: (0x64400000 | self) >>> 0,
    localMac: Uint8Array.from([2, 0, 0, 1, self >> 8, self & 255]),
    vni: 1,
    port: 4789,
    mtu: 1450,
    mtu6: 1430,
    outerHeaders,
    udpChecksum: false,
    ttl: 64,
    localUnderlay6: underlay6(self),
    localMac6: Uint8Array.from([2, 0, 0, 6, self >> 8, self & 255]),
    outerFor4,
    outerFor6: 6,
  };
}

/** 256 inner IPv6/UDP packets of 1400 bytes from pods of SENDER to pods of 256 nodes. */
function inner6(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let p = 0; p < PACKETS; p++) {
    const b = new Uint8Array(HEADROOM + INNER);
    const i = HEADROOM;
    const node = (p * 39) % NODES;
    b[i] = 0x60;
    b[i + 4] = (INNER - 40) >> 8;
    b[i + 5] = (INNER - 40) & 0xff;
    b[i + 6] = 17;
    b[i + 7] = 64;
    b.set(subnet6(SENDER), i + 8);
    b[i + 23] = 5 + (p & 7);
    b.set(subnet6(node), i + 24);
    b[i + 39] = 9;
    b.set([0x9c, 0x40 + (p & 15), 0x13, 0x89], i + 40);
    out.push(b);
  }
  return out;
}

/** The same as IPv4 (engine.ts's packets, from SENDER's subnet). */
function inner4(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let p = 0; p < PACKETS; p++) {
    const b = new Uint8Array(HEADROOM + INNER);
    const i = HEADROOM;
    const node = (p * 39) % NODES;
    b.set([0x45, 0, INNER >> 8, INNER & 0xff, 0, 0, 0x40, 0, 64, 17], i);
    b.set([10, SENDER >> 8, SENDER & 255, 5 + (p & 7)], i + 12);
    b.set([10, node >> 8, node & 255, 9], i + 16);
    b.set([0x9c, 0x40 + (p & 15), 0x13, 0x89], i + 20);
    const c = checksum(b, i, 20);
    b[i + 10] = c >> 8;
    b[i + 11] = c & 0xff;
    out.push(b);
  }
  return out;
}

function encapCase(name: string, packets: () => Uint8Array[], outerFor4: 4 | 6, outerHeaders = true): BenchCase {
  return {
    name,
    unit: 'packet',
    setup() {
      const { routes, routes6, peers } = cluster();
      const ctx = createEncapContext(config(0, outerFor4, outerHeaders), routes, routes6, peers);
      const bufs = packets();
      return (n) => {
        let acc = 0;
        for (let k = 0; k < n; k++) {
          const b = bufs[k & (PACKETS - 1)]!;
          if (encapVxlan(ctx, b, HEADROOM, INNER) === FORWARD) acc += ctx.result.offset;
        }
        return acc;
      };
    },
  };
}

function decapCase(name: string, spoofCheck: boolean): BenchCase {
  return {
    name,
    unit: 'packet',
    setup() {
      const { routes, routes6, peers } = cluster();
      const sender = createEncapContext(config(SENDER, 4), routes, routes6, peers);
      const frames = inner6().map((b) => {
        const code = encapVxlan(sender, b, HEADROOM, INNER);
        if (code !== FORWARD) throw new Error(`bench setup: encapsulation failed with ${code}`);
        return { b, off: sender.result.offset, len: sender.result.length, peer: sender.result.peer };
      });
      const from = underlay6(SENDER);
      // Each frame is decapsulated as the node it was routed to.
      const ctxs = frames.map((f) => {
        const mac6 = new Uint8Array(6);
        peers.writeMac6(f.peer, mac6, 0);
        const admission = spoofCheck ? { routes, subnet: 0, mask: 0, routes6, subnet6: subnet6(f.peer), prefix6: 64 } : null;
        return createDecapContext({ vni: 1, localMac: mac6, localMac6: mac6, acceptUnknownPeers: false, admission, innerFamilies: FAMILY_BOTH }, peers);
      });
      return (n) => {
        let acc = 0;
        for (let k = 0; k < n; k++) {
          const i = k & (PACKETS - 1);
          const f = frames[i]!;
          const ctx = ctxs[i]!;
          const code = decapVxlan6(ctx, f.b, f.off + 48, f.len - 48, from, 0);
          if (code !== FORWARD) throw new Error(`bench: decapsulation dropped with ${code}`);
          acc += ctx.result.length;
        }
        return acc;
      };
    },
  };
}

const KEYS = 1 << 16;
const peerByUnderlay6: BenchCase = {
  name: 'peer-by-underlay6-10k',
  unit: 'lookup',
  setup() {
    const { peers } = cluster();
    // 16 bytes per key, in one array, read in place as from a sockaddr_in6.
    const keys = new Uint8Array(16 * KEYS);
    let x = 0x9ee6;
    for (let i = 0; i < KEYS; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      keys.set(underlay6(x % NODES), 16 * i);
      if ((i & 7) === 7) keys[16 * i + 7] = 1 + (x & 0x7f); // an unknown address
    }
    return (n) => {
      let acc = 0;
      for (let i = 0; i < n; i++) acc ^= peers.findByUnderlay6(keys, 16 * (i & (KEYS - 1)));
      return acc;
    };
  },
};

const packetTooBig: BenchCase = {
  name: 'packet-too-big-1400',
  unit: 'packet',
  setup() {
    const bufs = inner6();
    const out = new Uint8Array(PACKET_TOO_BIG_MAX_LENGTH);
    const from = subnet6(SENDER);
    return (n) => {
      let acc = 0;
      for (let k = 0; k < n; k++) acc += writePacketTooBig(bufs[k & (PACKETS - 1)]!, HEADROOM, INNER, 1430, from, 0, out, 0);
      return acc;
    };
  },
};

export const cases: BenchCase[] = [
  encapCase('vxlan6-encap', inner6, 4),
  encapCase('vxlan-encap-v4in6', inner4, 6),
  encapCase('vxlan6-encap-socket', inner6, 4, false),
  decapCase('vxlan6-decap', false),
  decapCase('vxlan6-decap-spoof-check', true),
  peerByUnderlay6,
  packetTooBig,
];
