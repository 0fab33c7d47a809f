// Anti-spoofing on decapsulation (native-free/decap/admit.ts): every backend,
// every inner source / destination class, with the check on and off.
//
// Nodes (test/helpers/engine.ts): A 198.51.100.1 holds 10.244.1.0/24, B
// 198.51.100.2 holds 10.244.2.0/24. Packets arrive at B, claiming to come
// from A's underlay address.
import { describe, expect, it } from 'vitest';
import { decapIpip } from '../../native-free/decap/ipip.js';
import { decapUdp } from '../../native-free/decap/udp.js';
import { decapVxlan } from '../../native-free/decap/vxlan.js';
import { createDecapContext, type DecapContext } from '../../native-free/decap/context.js';
import { LpmTable } from '../../native-free/table/lpm.js';
import { reasonName } from '../../native-free/drop.js';
import { checksum } from '../../native-free/checksum.js';
import { A, B, NODES, decapAt, peerLookup } from '../helpers/engine.js';
import { ipv4Packet, ipv6Packet } from '../helpers/packets.js';

const ETH_IPV4 = 0x0800;
const ETH_IPV6 = 0x86dd;

/** The UDP payload of a VXLAN datagram to B (or toMac) (VNI 1), built by hand: crafted, not encapsulated. */
function vxlanPayload(inner: Uint8Array, etherType = inner[0]! >>> 4 === 6 ? ETH_IPV6 : ETH_IPV4, toMac: Uint8Array = B.mac): Uint8Array {
  const p = new Uint8Array(8 + 14 + inner.length);
  p[0] = 0x08; // I flag
  p[6] = 1; // VNI 1 in bytes 4-6
  p.set(toMac, 8);
  p.set(A.mac, 14);
  p[20] = etherType >> 8;
  p[21] = etherType & 0xff;
  p.set(inner, 22);
  return p;
}

/** A whole IP-in-IP packet A → B around inner. */
function ipipPacket(inner: Uint8Array): Uint8Array {
  return ipv4Packet({ src: A.underlay, dst: B.underlay, protocol: 4, payload: inner });
}

type Backend = { name: string; decap: (ctx: DecapContext, inner: Uint8Array, from: number) => number };
const backends: Backend[] = [
  { name: 'vxlan', decap: (ctx, inner, from) => { const p = vxlanPayload(inner, undefined, ctx.config.localMac); return decapVxlan(ctx, p, 0, p.length, from); } },
  { name: 'udp', decap: (ctx, inner, from) => decapUdp(ctx, inner, 0, inner.length, from) },
  // IP-in-IP reads the outer source from the packet; `from` is written into it.
  { name: 'ipip', decap: (ctx, inner, from) => {
    const p = ipipPacket(inner);
    for (let i = 0; i < 4; i++) p[12 + i] = (from >>> (24 - 8 * i)) & 0xff;
    p[10] = p[11] = 0;
    const c = checksum(p, 0, 20);
    p[10] = c >> 8;
    p[11] = c & 0xff;
    return decapIpip(ctx, p, 0, p.length);
  } },
];

const ip = (t: string) => t.split('.').reduce((a, o) => ((a << 8) | Number(o)) >>> 0, 0);
const v6 = (last: number) => Uint8Array.from([0xfd, 0, ...new Array<number>(13).fill(0), last]);

// [what, inner src, inner dst, reason with the check on, reason with it off]
const cases: [string, string, string, string, string][] = [
  ['A pod → B pod', '10.244.1.5', '10.244.2.7', 'forward', 'forward'],
  ["A's tunnel address (.0) → B pod (host traffic, ICMP errors of A's router)", '10.244.1.0', '10.244.2.7', 'forward', 'forward'],
  ["A pod → B's tunnel address (.0)", '10.244.1.5', '10.244.2.0', 'forward', 'forward'],
  ['A .0 → B .0 (the kernel golden ping)', '10.244.1.0', '10.244.2.0', 'forward', 'forward'],
  ["A pod → B subnet's last address", '10.244.1.255', '10.244.2.255', 'forward', 'forward'],
  ["source in B's own subnet (our own pods never come through the tunnel)", '10.244.2.9', '10.244.2.7', 'spoofed_source', 'forward'],
  ["source of another node's subnet", '10.244.3.5', '10.244.2.7', 'spoofed_source', 'forward'],
  ['source outside the cluster', '203.0.113.9', '10.244.2.7', 'spoofed_source', 'forward'],
  ['source the underlay address of A', '198.51.100.1', '10.244.2.7', 'spoofed_source', 'forward'],
  ['source 0.0.0.0', '0.0.0.0', '10.244.2.7', 'spoofed_source', 'forward'],
  ["destination another node's pod (relay through B)", '10.244.1.5', '10.244.1.7', 'not_local', 'forward'],
  ['destination outside the cluster (relay out of B)', '10.244.1.5', '203.0.113.9', 'not_local', 'forward'],
  ['destination broadcast', '10.244.1.5', '255.255.255.255', 'not_local', 'forward'],
  ['destination multicast', '10.244.1.5', '224.0.0.1', 'not_local', 'forward'],
  ['destination the subnet after ours', '10.244.1.5', '10.244.3.0', 'not_local', 'forward'],
  ['foreign source and foreign destination: the source is the first reason', '10.244.3.5', '10.244.1.7', 'spoofed_source', 'forward'],
];

describe.each(backends)('$name', ({ decap }) => {
  it.each(cases)('%s: %s → %s is %s (off: %s)', (_what, src, dst, on, off) => {
    const inner = ipv4Packet({ src: ip(src), dst: ip(dst) });
    expect(reasonName(decap(decapAt(B), inner, A.underlay))).toBe(on);
    expect(reasonName(decap(decapAt(B, false, false), Uint8Array.from(inner), A.underlay))).toBe(off);
  });

  it("B's pods seen from A: the same packet is fine the other way round", () => {
    const inner = ipv4Packet({ src: ip('10.244.2.7'), dst: ip('10.244.1.5') });
    expect(reasonName(decap(decapAt(A), inner, B.underlay))).toBe('forward');
    // ...but not with A's address on the outside.
    expect(reasonName(decap(decapAt(A), Uint8Array.from(inner), A.underlay))).toBe('spoofed_source');
  });

  it('a malformed inner packet keeps its own reason (checks run after validation)', () => {
    const inner = ipv4Packet({ src: ip('10.244.3.5'), dst: ip('10.244.1.7') });
    inner[11] = inner[11]! ^ 0xff;
    expect(reasonName(decap(decapAt(B), inner, A.underlay))).toBe('bad_inner');
    const dead = ipv4Packet({ src: ip('10.244.3.5'), dst: ip('10.244.1.7'), ttl: 0 });
    expect(reasonName(decap(decapAt(B), dead, A.underlay))).toBe('ttl_expired');
  });

  it('an unknown sender stays unknown_peer, whatever it carries', () => {
    const inner = ipv4Packet({ src: ip('10.244.1.5'), dst: ip('10.244.2.7') });
    expect(reasonName(decap(decapAt(B), inner, ip('198.51.100.66')))).toBe('unknown_peer');
  });

  it('--accept-unknown-peers: an unknown sender may not claim a known node\'s pods', () => {
    const from = ip('198.51.100.66');
    const claim = ipv4Packet({ src: ip('10.244.1.5'), dst: ip('10.244.2.7') });
    expect(reasonName(decap(decapAt(B, true), claim, from))).toBe('spoofed_source');
    const own = ipv4Packet({ src: ip('10.244.2.5'), dst: ip('10.244.2.7') });
    expect(reasonName(decap(decapAt(B, true), own, from))).toBe('spoofed_source');
    const outside = ipv4Packet({ src: ip('10.244.9.5'), dst: ip('10.244.2.7') });
    expect(reasonName(decap(decapAt(B, true), outside, from))).toBe('forward');
    const relay = ipv4Packet({ src: ip('10.244.9.5'), dst: ip('10.244.1.7') });
    expect(reasonName(decap(decapAt(B, true), relay, from))).toBe('not_local');
  });
});

describe('inner IPv6 while the node carries IPv4 only', () => {
  const inner6 = () => ipv6Packet(v6(1), v6(2), new Uint8Array(8));
  it.each([true, false])('vxlan (spoof check %s): family_disabled', (check) => {
    const p = vxlanPayload(inner6());
    expect(reasonName(decapVxlan(decapAt(B, false, check), p, 0, p.length, A.underlay))).toBe('family_disabled');
  });
  it.each([true, false])('udp (spoof check %s): family_disabled', (check) => {
    const p = inner6();
    expect(reasonName(decapUdp(decapAt(B, false, check), p, 0, p.length, A.underlay))).toBe('family_disabled');
  });
  it('a malformed IPv6 packet is still bad_inner', () => {
    const p = inner6();
    p[5] = 0xff; // payload length past the packet
    expect(reasonName(decapUdp(decapAt(B), p, 0, p.length, A.underlay))).toBe('bad_inner');
  });
  it('IP-in-IP carries IPv4 only by protocol: IPv6 inside protocol 4 stays bad_inner', () => {
    const p = ipipPacket(inner6());
    expect(reasonName(decapIpip(decapAt(B), p, 0, p.length))).toBe('bad_inner');
  });
  it('unknown senders are refused before the family is looked at', () => {
    const p = vxlanPayload(inner6());
    expect(reasonName(decapVxlan(decapAt(B), p, 0, p.length, ip('198.51.100.66')))).toBe('unknown_peer');
  });
});

describe('non-IP on vxlan (what a kernel VXLAN peer could send) is unchanged', () => {
  it('ARP is not_ip, with the check on or off', () => {
    const arp = new Uint8Array(28);
    arp.set([0, 1, 8, 0, 6, 4, 0, 1]);
    for (const check of [true, false]) {
      const p = vxlanPayload(arp, 0x0806);
      expect(reasonName(decapVxlan(decapAt(B, false, check), p, 0, p.length, A.underlay))).toBe('not_ip');
    }
  });
});

describe('UDP_GRO entries: each datagram is admitted on its own', () => {
  // The receive path (src/dataplane/rx-path.ts) cuts a coalesced entry into
  // gso_size datagrams and decapsulates each; one forged datagram among
  // honest ones of the same flow is dropped alone.
  it('honest, forged source, honest, relay: forward, spoofed_source, forward, not_local', () => {
    const inners = [
      ['10.244.1.5', '10.244.2.7'],
      ['10.244.3.5', '10.244.2.7'],
      ['10.244.1.5', '10.244.2.7'],
      ['10.244.1.5', '10.244.1.7'],
    ].map(([s, d]) => vxlanPayload(ipv4Packet({ src: ip(s!), dst: ip(d!) })));
    const seg = inners[0]!.length;
    const entry = new Uint8Array(seg * inners.length);
    inners.forEach((p, i) => entry.set(p, i * seg));
    const ctx = decapAt(B);
    const got: string[] = [];
    for (let at = 0; at < entry.length; at += seg) got.push(reasonName(decapVxlan(ctx, entry, at, Math.min(seg, entry.length - at), A.underlay)));
    expect(got).toEqual(['forward', 'spoofed_source', 'forward', 'not_local']);
  });
});

describe('a real route table (LpmTable) as the source of truth', () => {
  it('a node with two leases (old one not yet expired) passes from both', () => {
    const routes = LpmTable.create({ family: 4, capacity: 8 });
    routes.insertCidr('10.244.1.0/24', 0); // A
    routes.insertCidr('10.244.7.0/24', 0); // A's old lease
    routes.insertCidr('10.244.5.0/24', 1); // a subnet of B, seen from a third node C
    const C = { subnet: ip('10.244.3.0'), mac: Uint8Array.from([2, 0, 0, 0, 3, 3]) };
    const ctx = createDecapContext({ vni: 1, localMac: C.mac, acceptUnknownPeers: false, admission: { routes, subnet: C.subnet, mask: 0xffffff00 } }, peerLookup(NODES));
    const at = (src: string, from: number) => {
      const p = ipv4Packet({ src: ip(src), dst: ip('10.244.3.4') });
      return reasonName(decapUdp(ctx, p, 0, p.length, from));
    };
    expect(at('10.244.1.9', A.underlay)).toBe('forward');
    expect(at('10.244.7.9', A.underlay)).toBe('forward');
    expect(at('10.244.5.9', A.underlay)).toBe('spoofed_source');
    expect(at('10.244.5.9', B.underlay)).toBe('forward');
    routes.removeCidr('10.244.7.0/24'); // the old lease expires: its addresses are no longer A's
    expect(at('10.244.7.9', A.underlay)).toBe('spoofed_source');
  });
});
