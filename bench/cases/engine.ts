// Encapsulation and decapsulation, one packet per operation, over the real
// route table (10,000 /24 subnets) and peer table (10,000 nodes): the lookup
// is part of every encapsulation and the sender check part of every
// decapsulation. Encapsulation writes the whole outer IPv4 (+UDP) header with
// its IPv4 checksum (the most work the engine does for a raw-socket path;
// a kernel UDP socket path writes less). Decapsulation validates the inner
// IPv4 header, checksum included.
//
// 256 different 1400-byte inner packets to 256 different peers rotate, so
// branch predictors and caches see a mix rather than one packet.
import { checksum } from '../../native-free/checksum.js';
import { createDecapContext } from '../../native-free/decap/context.js';
import { decapIpip } from '../../native-free/decap/ipip.js';
import { decapVxlan } from '../../native-free/decap/vxlan.js';
import { createEncapContext, type EncapConfig } from '../../native-free/encap/context.js';
import { encapIpip } from '../../native-free/encap/ipip.js';
import { encapVxlan } from '../../native-free/encap/vxlan.js';
import { FORWARD } from '../../native-free/drop.js';
import { LpmTable } from '../../native-free/table/lpm.js';
import { PeerTable } from '../../native-free/table/peers.js';
import type { BenchCase } from '../harness.js';

const NODES = 10_000;
const PACKETS = 256;
const INNER = 1400;
const HEADROOM = 64;
const LOCAL_UNDERLAY = 0xc6336401;
const LOCAL_MAC = Uint8Array.from([2, 0, 0, 0, 0, 1]);

/** Node i: subnet 10.(i>>8).(i&255).0/24 → underlay 100.64.(i>>8).(i&255), MAC 02:00:00:01:hi:lo. */
function cluster(): { routes: LpmTable; peers: PeerTable } {
  const routes = LpmTable.create({ family: 4, capacity: NODES, shared: true });
  const peers = PeerTable.create({ capacity: NODES, shared: true });
  for (let i = 0; i < NODES; i++) {
    const mac = Uint8Array.from([2, 0, 0, 1, i >> 8, i & 255]);
    const id = peers.add((0x64400000 | i) >>> 0, mac);
    routes.insert((0x0a000000 | (i << 8)) >>> 0, 24, id);
  }
  return { routes, peers };
}

function config(): EncapConfig {
  return { localUnderlay: LOCAL_UNDERLAY, localMac: LOCAL_MAC, vni: 1, port: 4789, mtu: 1450, outerHeaders: true, udpChecksum: false, ttl: 64 };
}

/** 256 inner IPv4/UDP packets of 1400 bytes, each in its own buffer at HEADROOM. */
function innerPackets(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let p = 0; p < PACKETS; p++) {
    const b = new Uint8Array(HEADROOM + INNER);
    const i = HEADROOM;
    const node = (p * 39) % NODES;
    b[i] = 0x45;
    b[i + 2] = INNER >> 8;
    b[i + 3] = INNER & 0xff;
    b[i + 6] = 0x40;
    b[i + 8] = 64;
    b[i + 9] = 17;
    b.set([10, 1, 0, 5 + (p & 7)], i + 12);
    b.set([10, node >> 8, node & 255, 9], i + 16);
    b.set([0x9c, 0x40 + (p & 15), 0x13, 0x89], i + 20);
    const c = checksum(b, i, 20);
    b[i + 10] = c >> 8;
    b[i + 11] = c & 0xff;
    out.push(b);
  }
  return out;
}

function encapCase(name: string, encap: typeof encapVxlan): BenchCase {
  return {
    name,
    unit: 'packet',
    setup() {
      const { routes, peers } = cluster();
      const ctx = createEncapContext(config(), routes, null, peers);
      const bufs = innerPackets();
      return (n) => {
        let acc = 0;
        for (let k = 0; k < n; k++) {
          const b = bufs[k & (PACKETS - 1)]!;
          if (encap(ctx, b, HEADROOM, INNER) === FORWARD) acc += ctx.result.offset;
        }
        return acc;
      };
    },
  };
}

/**
 * Frames as a peer (underlay 100.64.1.0, node 256: the inner sources 10.1.0.x
 * are its subnet's) sends them to us: encapsulated once at setup by the
 * engine, then decapsulated n times. spoofCheck: with anti-spoofing
 * (decap/admit.ts: one more route lookup and two compares per packet).
 */
function decapCase(name: string, kind: 'vxlan' | 'ipip', spoofCheck = false): BenchCase {
  return {
    name,
    unit: 'packet',
    setup() {
      const { routes, peers } = cluster();
      const senderUnderlay = 0x64400100;
      const sender = createEncapContext({ ...config(), localUnderlay: senderUnderlay }, routes, null, peers);
      const frames = innerPackets().map((b) => {
        const code = kind === 'vxlan' ? encapVxlan(sender, b, HEADROOM, INNER) : encapIpip(sender, b, HEADROOM, INNER);
        if (code !== FORWARD) throw new Error(`bench setup: encapsulation failed with ${code}`);
        return { b, off: sender.result.offset, len: sender.result.length, peer: sender.result.peer };
      });
      // Each frame is addressed to the VTEP MAC of the peer it was routed to: decapsulate as that peer.
      const macOf = (id: number) => { const m = new Uint8Array(6); peers.writeMac(id, m, 0); return m; };
      // The receiving node's subnet is the one of the frame's inner destination.
      const admission = (f: { b: Uint8Array }) => {
        const d = HEADROOM + 16;
        const subnet = ((f.b[d]! << 24) | (f.b[d + 1]! << 16) | (f.b[d + 2]! << 8)) >>> 0;
        return spoofCheck ? { routes, subnet, mask: 0xffffff00 } : null;
      };
      const ctxs = frames.map((f) => createDecapContext({ vni: 1, localMac: macOf(f.peer), acceptUnknownPeers: false, admission: admission(f) }, peers));
      return (n) => {
        let acc = 0;
        for (let k = 0; k < n; k++) {
          const i = k & (PACKETS - 1);
          const f = frames[i]!;
          const ctx = ctxs[i]!;
          const code = kind === 'vxlan' ? decapVxlan(ctx, f.b, f.off + 28, f.len - 28, senderUnderlay) : decapIpip(ctx, f.b, f.off, f.len);
          if (code !== FORWARD) throw new Error(`bench: decapsulation dropped with ${code}`);
          acc += ctx.result.length;
        }
        return acc;
      };
    },
  };
}

const checksumCase: BenchCase = {
  name: 'checksum-1500',
  unit: 'packet',
  setup() {
    const b = new Uint8Array(1500 + 8);
    for (let i = 0; i < b.length; i++) b[i] = (i * 131) & 0xff;
    return (n) => {
      let acc = 0;
      // Vary the start so the JIT cannot hoist the sum.
      for (let k = 0; k < n; k++) acc ^= checksum(b, k & 7, 1500);
      return acc;
    };
  },
};

export const cases: BenchCase[] = [
  encapCase('vxlan-encap', encapVxlan),
  decapCase('vxlan-decap', 'vxlan'),
  decapCase('vxlan-decap-spoof-check', 'vxlan', true),
  encapCase('ipip-encap', encapIpip),
  decapCase('ipip-decap', 'ipip'),
  checksumCase,
];
