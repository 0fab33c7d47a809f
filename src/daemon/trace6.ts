// `weft trace` for IPv6 pods on a dual-stack node: the same walk as trace.ts
// (kernel route, weft's IPv6 route table, the peer, the engine's real
// headers on a scratch copy, the receiver's checks run by the engine as that
// node), over the IPv6 underlay the workers use for IPv6 pods (flannel's
// flannel-v6.1). Outer headers are written by the engine here, as a kernel
// IPv6 UDP socket would write them (checksum included).
import { formatIPv6, formatMac, parseCidr, parseIPv6 } from '../../native-free/addr.js';
import { createDecapContext } from '../../native-free/decap/context.js';
import { FORWARD, reasonName } from '../../native-free/drop.js';
import { createEncapContext, type EncapConfig, type PeerLookup } from '../../native-free/encap/context.js';
import { FAMILY_V6 } from '../../native-free/family.js';
import * as ip6 from '../../native-free/header/ipv6.js';
import { PACKET_TOO_BIG_MAX_LENGTH, writePacketTooBig } from '../../native-free/icmp-too-big.js';
import type { LpmTable } from '../../native-free/table/lpm.js';
import type { PeerTable } from '../../native-free/table/peers.js';
import { backendOf, type BackendType } from '../backend/index.js';
import type { TraceRequest, TraceStep } from './trace.js';

/** What a dual-stack node's IPv6 side holds, for tracing. */
export interface TraceNode6 {
  backend: BackendType;
  /** The IPv4 config, with localUnderlay6 and mtu6 set. */
  config: EncapConfig;
  /** This node's IPv6 subnet and the IPv6 network ("fd00:10:244:1::/64", "fd00:10:244::/56"). */
  subnet: string;
  network: string;
  tun: string;
  routes6: LpmTable;
  peers: PeerTable;
  peerSubnets: () => { subnet: string; peer: number }[];
}

const NEXT_HEADER = { udp: 17, tcp: 6, icmp: 58 } as const;
/** Room in front of the inner packet for whole outer headers (IPv6 70 bytes for vxlan; a worker's slab leaves 64, as its kernel socket writes the outer IPv6 and UDP). */
const LEAD = 128;

function inPrefix6(a: Uint8Array, text: string): boolean {
  const c = parseCidr(text);
  if (c.family !== 6) return false;
  for (let bit = 0; bit < c.len; bit++) {
    const m = 0x80 >> (bit & 7);
    if ((a[bit >> 3]! & m) !== (c.addr[bit >> 3]! & m)) return false;
  }
  return true;
}

/** The synthetic inner IPv6 packet, at LEAD in a fresh buffer. */
function innerPacket6(src: Uint8Array, dst: Uint8Array, req: TraceRequest): Uint8Array {
  const b = new Uint8Array(LEAD + req.size);
  const o = LEAD;
  ip6.setIpv6Version(b, o, 6);
  ip6.setIpv6PayloadLength(b, o, req.size - ip6.IPV6_HEADER_LEN);
  ip6.setIpv6NextHeader(b, o, NEXT_HEADER[req.protocol]);
  ip6.setIpv6HopLimit(b, o, 64);
  ip6.setIpv6Src(b, o, src, 0);
  ip6.setIpv6Dst(b, o, dst, 0);
  const l4 = o + ip6.IPV6_HEADER_LEN;
  if (req.protocol === 'icmp') b[l4] = 128; // echo request
  else b.set([0xc0, 0x01, 0x00, 0x50], l4); // ports 49153 → 80
  return b;
}

export function trace6(node: TraceNode6, req: TraceRequest): { steps: TraceStep[]; verdict: string } {
  const steps: TraceStep[] = [];
  const add = (step: string, detail: string, ok = true) => steps.push({ step, detail, ok });
  const src = parseIPv6(req.src);
  const dst = parseIPv6(req.dst);
  if (req.size < 48 || req.size > 65535) throw new RangeError(`--size ${req.size}: give 48 to 65535 bytes for IPv6 (IPv6 header included)`);
  const local6 = node.config.localUnderlay6!;

  if (inPrefix6(dst, node.subnet)) {
    add('kernel route', `${req.dst} is in this node's own IPv6 subnet ${node.subnet}: the bridge delivers it, weft never sees it`);
    return { steps, verdict: 'local' };
  }
  if (!inPrefix6(dst, node.network)) {
    add('kernel route', `${req.dst} is outside the cluster IPv6Network ${node.network}: the host's other routes carry it, not weft`, false);
    return { steps, verdict: 'not-overlay' };
  }
  add('kernel route', `${req.dst} matches ${node.network} dev ${node.tun}: the kernel hands it to weft's TUN`);

  const peer = node.routes6.lookup(dst, 0);
  if (peer < 0) {
    add('weft route', `no lease's IPv6 subnet covers ${req.dst}: dropped as no_route`, false);
    return { steps, verdict: 'drop: no_route' };
  }
  const matched = node.peerSubnets().find((p) => p.peer === peer && p.subnet.includes(':') && inPrefix6(dst, p.subnet))?.subnet ?? '?';
  add('weft route', `longest prefix ${matched} → peer #${peer}`);
  if ((node.peers.familiesOf(peer) & FAMILY_V6) === 0) {
    add('peer', `peer #${peer} published no PublicIPv6: dropped as no_underlay`, false);
    return { steps, verdict: 'drop: no_underlay' };
  }
  const mac = new Uint8Array(6);
  node.peers.writeMac6(peer, mac, 0);
  const under6 = new Uint8Array(16);
  node.peers.writeUnderlay6(peer, under6, 0);
  const backend = backendOf(node.backend);
  add('peer', `node ${formatIPv6(under6)}${backend.vtepPeers ? `, IPv6 VTEP MAC ${formatMac(mac)} (BackendV6Data, as flannel-v6.1's neighbour and fdb entries would hold it)` : ''}`);

  const ctx = createEncapContext({ ...node.config, outerHeaders: true, udpChecksum: true }, node.routes6, node.routes6, node.peers);
  const buf = innerPacket6(src, dst, req);
  const code = backend.encap(ctx, buf, LEAD, req.size);
  const mtu6 = node.config.mtu6 ?? node.config.mtu;
  if (code !== FORWARD) {
    const reason = reasonName(code);
    if (reason === 'too_big') {
      const out = new Uint8Array(PACKET_TOO_BIG_MAX_LENGTH);
      const tunnel6 = parseCidr(node.subnet).addr as Uint8Array;
      const n = writePacketTooBig(buf, LEAD, req.size, mtu6, tunnel6, 0, out, 0);
      add('mtu', `${req.size} bytes > IPv6 tunnel MTU ${mtu6}: dropped as too_big${n > 0 ? `; ICMPv6 "packet too big" (MTU ${mtu6}) goes back to ${req.src} through the TUN` : ''}`, false);
    } else add('encapsulate', `dropped as ${reason}`, false);
    return { steps, verdict: `drop: ${reason}` };
  }
  add('mtu', `${req.size} bytes ≤ IPv6 tunnel MTU ${mtu6}`);
  const r = ctx.result;
  const o = r.offset;
  add(
    'header',
    `outer IPv6   40 B  ${formatIPv6(buf.subarray(o + 8, o + 24))} → ${formatIPv6(buf.subarray(o + 24, o + 40))}, next header ${ip6.ipv6NextHeader(buf, o)}, hop limit ${ip6.ipv6HopLimit(buf, o)}, flow label 0x${ip6.ipv6FlowLabel(buf, o).toString(16)}`,
  );
  for (const h of backend.traceHeaders(buf, o + ip6.IPV6_HEADER_LEN)) add('header', h);
  add('header', `inner IPv6   40 B  ${req.src} → ${req.dst}, next header ${NEXT_HEADER[req.protocol]}, ${req.size} B in all`);
  add('socket', `the IPv6 UDP socket (one per worker, IPV6_V6ONLY, port ${node.config.port}) sends from the VXLAN/UDP header on; the kernel writes outer IPv6 and UDP with its checksum (mandatory over IPv6)`);
  add('wire', `${r.length} bytes from ${formatIPv6(local6)} to ${formatIPv6(under6)} (${r.length - req.size} bytes of tunnel overhead)`);

  // What the receiving node checks, run by the engine as that node.
  const self: PeerLookup = {
    underlayOf: () => 0,
    writeMac: (_id, d, off) => d.set(node.config.localMac, off),
    findByUnderlay: () => -1,
    familiesOf: () => FAMILY_V6,
    writeUnderlay6: (_id, d, off) => d.set(local6, off),
    writeMac6: (_id, d, off) => d.set(node.config.localMac6 ?? node.config.localMac, off),
    findByUnderlay6: (b, off) => (local6.every((x, i) => b[off + i] === x) ? 0 : -1),
  };
  const rx = createDecapContext({ vni: node.config.vni, localMac: mac, localMac6: mac, acceptUnknownPeers: false, admission: null, innerFamilies: FAMILY_V6 }, self);
  const at = o + ip6.IPV6_HEADER_LEN + 8; // the kernel's IPv6 socket strips outer IPv6 and UDP
  const verdict = backend.decap6 === null ? -1 : backend.decap6(rx, buf, at, r.length - ip6.IPV6_HEADER_LEN - 8, local6, 0);
  const checks = `I flag set, VNI ${node.config.vni}, sender ${formatIPv6(local6)} is a known node (our lease's PublicIPv6), inner MAC ${formatMac(mac)} is its own, inner IPv6 sound, hop limit > 0`;
  add('receiver', `${formatIPv6(under6)} checks: ${checks} → ${verdict === FORWARD ? 'delivered to its TUN' : `dropped as ${verdict < 0 ? 'unsupported_family' : reasonName(verdict)}`}`, verdict === FORWARD);
  return { steps, verdict: verdict === FORWARD ? 'delivered' : `drop at receiver: ${verdict < 0 ? 'unsupported_family' : reasonName(verdict)}` };
}
