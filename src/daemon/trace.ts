// `weft trace`: the life of one packet through this node's live state — the
// walk an operator otherwise does by hand with `ip route`, `ip neigh` and
// `bridge fdb`. The packet is synthetic; every verdict comes from the engine
// itself (route lookup, encapsulation, the receiver's decapsulation), run on a
// scratch buffer against the same tables the workers use.
import { formatIPv4, formatMac, parseIPv4 } from '../../native-free/addr.js';
import { checksum } from '../../native-free/checksum.js';
import { createDecapContext } from '../../native-free/decap/context.js';
import { FORWARD, reasonName } from '../../native-free/drop.js';
import { createEncapContext, type EncapConfig, type PeerLookup } from '../../native-free/encap/context.js';
import { backendOf, type Backend, type BackendType } from '../backend/index.js';
import { ENCAP_LEAD } from '../dataplane/slab-layout.js';
import * as ip from '../../native-free/header/ipv4.js';
import { FAMILY_V4 } from '../../native-free/family.js';
import { writeFragNeeded } from '../../native-free/icmp-too-big.js';
import type { LpmTable } from '../../native-free/table/lpm.js';
import type { PeerTable } from '../../native-free/table/peers.js';

export interface TraceRequest {
  src: string;
  dst: string;
  /** Inner packet size in bytes, IP header included. */
  size: number;
  df: boolean;
  protocol: 'udp' | 'tcp' | 'icmp';
}

export interface TraceStep {
  step: string;
  detail: string;
  ok: boolean;
}

export interface TraceNode {
  backend: BackendType;
  config: EncapConfig;
  network: { addr: number; len: number };
  subnet: { addr: number; len: number };
  tun: string;
  routes: LpmTable;
  peers: PeerTable;
  /** Subnets of peers, for naming the route that matched. */
  peerSubnets: () => { subnet: string; peer: number }[];
  /** Ports of the send-only sockets (--source-ports), picked by flow hash as the workers pick them; empty or absent: all from config.port. */
  sourcePorts?: readonly number[];
}

const PROTO = { udp: ip.PROTO_UDP, tcp: ip.PROTO_TCP, icmp: ip.PROTO_ICMP } as const;

function inPrefix(addr: number, p: { addr: number; len: number }): boolean {
  const mask = p.len === 0 ? 0 : (0xffffffff << (32 - p.len)) >>> 0;
  return ((addr & mask) >>> 0) === p.addr;
}

/** The synthetic inner IPv4 packet, at ENCAP_LEAD in a fresh buffer. */
function innerPacket(src: number, dst: number, req: TraceRequest): Uint8Array {
  const b = new Uint8Array(ENCAP_LEAD + req.size);
  const o = ENCAP_LEAD;
  ip.setVersionIhl(b, o, 20);
  ip.setTotalLength(b, o, req.size);
  ip.setFlagsFragment(b, o, req.df, false, 0);
  ip.setTtl(b, o, 64);
  ip.setProtocol(b, o, PROTO[req.protocol]);
  ip.setSrc(b, o, src);
  ip.setDst(b, o, dst);
  ip.fillHeaderChecksum(b, o);
  if (req.protocol === 'icmp') b[o + 20] = 8; // echo request
  else b.set([0xc0, 0x01, 0x00, 0x50], o + 20); // ports 49153 → 80
  return b;
}

export function trace(node: TraceNode, req: TraceRequest): { steps: TraceStep[]; verdict: string } {
  const steps: TraceStep[] = [];
  const add = (step: string, detail: string, ok = true) => steps.push({ step, detail, ok });
  const src = parseIPv4(req.src);
  const dst = parseIPv4(req.dst);
  if (req.size < 28 || req.size > 65535) throw new RangeError(`--size ${req.size}: give 28 to 65535 bytes (IP header included)`);

  // 1. The host's kernel decides whether weft sees the packet at all.
  if (inPrefix(dst, node.subnet)) {
    add('kernel route', `${req.dst} is in this node's own subnet ${cidr(node.subnet)}: the bridge delivers it, weft never sees it`);
    return { steps, verdict: 'local' };
  }
  if (!inPrefix(dst, node.network)) {
    add('kernel route', `${req.dst} is outside the cluster network ${cidr(node.network)}: the host's other routes carry it, not weft`, false);
    return { steps, verdict: 'not-overlay' };
  }
  add('kernel route', `${req.dst} matches ${cidr(node.network)} dev ${node.tun}: the kernel hands it to weft's TUN`);

  // 2. weft's route table and the peer it names.
  const peer = node.routes.lookup4(dst);
  if (peer < 0) {
    add('weft route', `no lease covers ${req.dst}: dropped as no_route (no node owns that subnet yet)`, false);
    return { steps, verdict: 'drop: no_route' };
  }
  const matched = node.peerSubnets().find((p) => p.peer === peer && inPrefix(dst, cidrOf(p.subnet)))?.subnet ?? '?';
  const mac = new Uint8Array(6);
  node.peers.writeMac(peer, mac, 0);
  const underlay = node.peers.underlayOf(peer);
  add('weft route', `longest prefix ${matched} → peer #${peer}`);
  const backend = backendOf(node.backend);
  const facts = { vni: node.config.vni, port: node.config.port };
  add('peer', `node ${formatIPv4(underlay)}${backend.vtepPeers ? `, VTEP MAC ${formatMac(mac)} (as "ip neigh" + "bridge fdb" would hold it)` : ''}`);

  // 3. The engine builds the real headers on a scratch copy.
  const ctx = createEncapContext({ ...node.config, outerHeaders: true, udpChecksum: true }, node.routes, null, node.peers);
  const buf = innerPacket(src, dst, req);
  const code = backend.encap(ctx, buf, ENCAP_LEAD, req.size);
  if (code !== FORWARD) {
    const reason = reasonName(code);
    if (reason === 'too_big') {
      const icmp = new Uint8Array(576);
      const n = writeFragNeeded(buf, ENCAP_LEAD, req.size, node.config.mtu, node.subnet.addr, icmp, 0);
      add('mtu', `${req.size} bytes > tunnel MTU ${node.config.mtu} with DF set: dropped as too_big${n > 0 ? `; ICMP "fragmentation needed" (next-hop MTU ${node.config.mtu}) goes back to ${req.src} through the TUN` : ''}`, false);
    } else add('encapsulate', `dropped as ${reason}`, false);
    return { steps, verdict: `drop: ${reason}` };
  }
  add('mtu', req.size <= node.config.mtu ? `${req.size} bytes ≤ tunnel MTU ${node.config.mtu}` : `${req.size} bytes > tunnel MTU ${node.config.mtu}, no DF: sent, the underlay fragments the outer packet`);
  const r = ctx.result;
  for (const h of describeHeaders(backend, buf, r.offset, ENCAP_LEAD)) add('header', h);
  const sports = node.sourcePorts ?? [];
  add('socket', backend.traceSocket(sports.length === 0 ? facts : { ...facts, sourcePort: sports[(r.flowHash >>> 0) % sports.length]! }));
  add('wire', `${r.length} bytes from ${formatIPv4(node.config.localUnderlay)} to ${formatIPv4(r.underlay)} (${r.length - req.size} bytes of tunnel overhead)`);

  // 4. What the receiving node will check, run by the engine as that node.
  const self: PeerLookup = {
    underlayOf: () => node.config.localUnderlay,
    writeMac: (_id, d, o) => d.set(node.config.localMac, o),
    findByUnderlay: (a) => (a === node.config.localUnderlay ? 0 : -1),
    // The trace is IPv4-underlay only (no v6 underlay configured here yet).
    familiesOf: () => FAMILY_V4,
    writeUnderlay6: () => {},
    writeMac6: (_id, d, o) => d.set(node.config.localMac, o),
    findByUnderlay6: () => -1,
  };
  const rx = createDecapContext({ vni: node.config.vni, localMac: mac, acceptUnknownPeers: false, admission: null }, self);
  const from = node.config.localUnderlay;
  const verdict = backend.decap(rx, buf, r.offset + backend.receivedAt, r.length - backend.receivedAt, from);
  const checks = backend.traceChecks(formatIPv4(from), formatMac(mac), facts);
  add('receiver', `${formatIPv4(r.underlay)} checks: ${checks} → ${verdict === FORWARD ? 'delivered to its TUN' : `dropped as ${reasonName(verdict)}`}`, verdict === FORWARD);
  return { steps, verdict: verdict === FORWARD ? 'delivered' : `drop at receiver: ${reasonName(verdict)}` };
}

function describeHeaders(backend: Backend, b: Uint8Array, outer: number, inner: number): string[] {
  const out: string[] = [];
  const ipLine = (o: number, name: string) =>
    `${name} IPv4   20 B  ${formatIPv4(ip.src(b, o))} → ${formatIPv4(ip.dst(b, o))}, proto ${ip.protocol(b, o)}, TTL ${ip.ttl(b, o)}, DF ${ip.dontFragment(b, o) ? 1 : 0}, ECN ${ip.ecn(b, o)}, checksum ${checksum(b, o, 20) === 0 ? 'ok' : 'BAD'}`;
  out.push(ipLine(outer, 'outer'));
  out.push(...backend.traceHeaders(b, outer + ip.IPV4_MIN_HEADER_LENGTH));
  out.push(`${ipLine(inner, 'inner')}, ${ip.totalLength(b, inner)} B in all`);
  return out;
}

function cidr(p: { addr: number; len: number }): string {
  return `${formatIPv4(p.addr)}/${p.len}`;
}

function cidrOf(text: string): { addr: number; len: number } {
  const [a, l] = text.split('/');
  return { addr: parseIPv4(a!), len: Number(l) };
}
