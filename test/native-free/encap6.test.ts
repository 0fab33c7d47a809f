// The IPv6 paths of encapsulation: every inner family over every underlay
// family (vxlan, udp), the refusals (ipip, a peer without the underlay of
// the chosen family, MTU per family), and the outer IPv6 header field by
// field. Nodes: test/helpers/engine.ts (A → B, dual stack).
import { describe, expect, it } from 'vitest';
import { sum16 } from '../../native-free/checksum.js';
import { createEncapContext } from '../../native-free/encap/context.js';
import { encapIpip } from '../../native-free/encap/ipip.js';
import { flowLabelFor } from '../../native-free/encap/outer6.js';
import { innerMtu } from '../../native-free/encap/route.js';
import { UDP6_OVERHEAD, encapUdp } from '../../native-free/encap/udp.js';
import { VXLAN6_OVERHEAD, VXLAN_OVERHEAD, encapVxlan } from '../../native-free/encap/vxlan.js';
import { DROP_NO_UNDERLAY, DROP_TOO_BIG, DROP_UNSUPPORTED_FAMILY, FORWARD, reasonName } from '../../native-free/drop.js';
import { ipv6PseudoHeaderSum } from '../../native-free/header/ipv6.js';
import { parseIPv6 } from '../../native-free/addr.js';
import { InvalidArgumentError } from '../../native-free/errors.js';
import { A, B, HEADROOM, encapAt6, peerLookup, routesTo, routesTo6, withHeadroom } from '../helpers/engine.js';
import { ipv4Packet, ipv6Packet } from '../helpers/packets.js';

const pod6 = (node: typeof A, host: number) => {
  const a = Uint8Array.from(node.subnet6);
  a[15] = host;
  return a;
};
const inner4 = (tos = 0x02, df = true, size = 40) =>
  ipv4Packet({ src: (A.subnet | 5) >>> 0, dst: (B.subnet | 7) >>> 0, tos, df, payload: new Uint8Array(size - 20).fill(0x5a) });
const inner6 = (tc = 0x01, size = 60) => ipv6Packet(pod6(A, 5), pod6(B, 7), new Uint8Array(size - 40).fill(0xa5), 64, tc);

const BIG_HEADROOM = 80;
function place(p: Uint8Array) {
  const buf = new Uint8Array(BIG_HEADROOM + p.length);
  buf.set(p, BIG_HEADROOM);
  return { buf, off: BIG_HEADROOM, len: p.length };
}

describe('vxlan: inner family × underlay family', () => {
  // [name, inner, outerFor4, outerFor6, outer family, outer header bytes, ethertype]
  const cases = [
    ['v4 in v4', inner4, 4, 6, 4, VXLAN_OVERHEAD, 0x0800],
    ['v6 in v6', inner6, 4, 6, 6, VXLAN6_OVERHEAD, 0x86dd],
    ['v4 in v6', inner4, 6, 6, 6, VXLAN6_OVERHEAD, 0x0800],
    ['v6 in v4', inner6, 4, 4, 4, VXLAN_OVERHEAD, 0x86dd],
  ] as const;

  it.each(cases)('%s: the right outer header, MACs of that underlay family, inner untouched', (_n, make, o4, o6, fam, overhead, etherType) => {
    const inner = make();
    const ctx = encapAt6(A, { outerFor4: o4, outerFor6: o6 });
    const { buf, off, len } = place(inner);
    expect(reasonName(encapVxlan(ctx, buf, off, len))).toBe('forward');
    const r = ctx.result;
    expect(r.family).toBe(fam);
    expect(r.offset).toBe(off - overhead);
    expect(r.length).toBe(len + overhead);
    expect(r.peer).toBe(1);
    const eth = off - 14;
    const macs = fam === 6 ? [B.mac6, A.mac6] : [B.mac, A.mac];
    expect(buf.subarray(eth, eth + 6)).toEqual(macs[0]);
    expect(buf.subarray(eth + 6, eth + 12)).toEqual(macs[1]);
    expect((buf[eth + 12]! << 8) | buf[eth + 13]!).toBe(etherType);
    expect(buf.subarray(off, off + len)).toEqual(inner);
    const o = r.offset;
    if (fam === 4) {
      expect(r.underlay).toBe(B.underlay);
      expect(buf[o]).toBe(0x45);
    } else {
      expect(r.underlay).toBe(0);
      expect(r.underlay6).toEqual(B.underlay6);
      expect(buf[o]! >>> 4).toBe(6);
      expect((buf[o + 4]! << 8) | buf[o + 5]!).toBe(len + overhead - 40); // payload length
      expect(buf[o + 6]).toBe(17);
      expect(buf[o + 7]).toBe(64);
      expect(buf.subarray(o + 8, o + 24)).toEqual(A.underlay6);
      expect(buf.subarray(o + 24, o + 40)).toEqual(B.underlay6);
      const udp = o + 40;
      expect((buf[udp + 2]! << 8) | buf[udp + 3]!).toBe(4789);
      expect((buf[udp]! << 8) | buf[udp + 1]!).toBe(r.sourcePort);
      const udpLen = (buf[udp + 4]! << 8) | buf[udp + 5]!;
      expect(udpLen).toBe(r.length - 40);
      // The checksum is mandatory over IPv6 and verifies over the pseudo-header.
      expect((buf[udp + 6]! << 8) | buf[udp + 7]!).not.toBe(0);
      expect(sum16(buf, udp, udpLen, ipv6PseudoHeaderSum(buf, o, 17, udpLen))).toBe(0xffff);
    }
  });

  it('copies the inner ECN into the outer traffic class (RFC 6040), DSCP 0, for both inner families', () => {
    for (const [inner, ecn] of [[inner4(0xb9), 1], [inner4(0x03), 3], [inner6(0xba), 2], [inner6(0x00), 0]] as const) {
      const ctx = encapAt6(A, { outerFor4: 6 });
      const { buf, off, len } = place(inner);
      expect(encapVxlan(ctx, buf, off, len)).toBe(FORWARD);
      const o = ctx.result.offset;
      const tc = ((buf[o]! & 0x0f) << 4) | (buf[o + 1]! >>> 4);
      expect(tc).toBe(ecn);
    }
  });

  it('labels each inner flow: flow label = flowLabelFor(flow hash), stable per flow, different across flows', () => {
    const labels = new Set<number>();
    for (let host = 1; host <= 32; host++) {
      const p = ipv6Packet(pod6(A, host), pod6(B, 7), new Uint8Array(20), 64);
      const ctx = encapAt6(A);
      const { buf, off, len } = place(p);
      expect(encapVxlan(ctx, buf, off, len)).toBe(FORWARD);
      const o = ctx.result.offset;
      const label = ((buf[o + 1]! & 0x0f) << 16) | (buf[o + 2]! << 8) | buf[o + 3]!;
      expect(label).toBe(flowLabelFor(ctx.result.flowHash));
      const again = place(p);
      expect(encapVxlan(ctx, again.buf, again.off, again.len)).toBe(FORWARD);
      expect(again.buf.subarray(o, o + 4)).toEqual(buf.subarray(o, o + 4));
      labels.add(label);
    }
    expect(labels.size).toBeGreaterThan(28);
  });

  it('flowLabelFor is Linux ip6_make_flowlabel\'s fold: rotate left 16, low 20 bits', () => {
    expect(flowLabelFor(0x12345678)).toBe(0x81234); // rol32 → 0x56781234, low 20 bits
    expect(flowLabelFor(0xffffffff)).toBe(0xfffff);
    expect(flowLabelFor(0x0000000f)).toBe(0xf0000);
  });

  it('without outerHeaders stops at the VXLAN header and says where to send: family 6 and underlay6', () => {
    const ctx = encapAt6(A, { outerHeaders: false });
    const { buf, off, len } = place(inner6());
    expect(encapVxlan(ctx, buf, off, len)).toBe(FORWARD);
    expect(ctx.result.offset).toBe(off - 22);
    expect(ctx.result.length).toBe(len + 22);
    expect(ctx.result.family).toBe(6);
    expect(ctx.result.underlay6).toEqual(B.underlay6);
  });

  it('needs 70 bytes of headroom to write an outer IPv6 header, and says so', () => {
    const ctx = encapAt6(A);
    const p = inner6();
    const buf = new Uint8Array(60 + p.length);
    buf.set(p, 60);
    expect(() => encapVxlan(ctx, buf, 60, p.length)).toThrow(/70 bytes of headroom/);
  });
});

describe('refusals', () => {
  it('a peer without an underlay of the chosen family: no_underlay (and honest traffic to others flows)', () => {
    const v4only = [A, { ...B, underlay6: null }];
    const ctx = encapAt6(A, {}, v4only);
    const a = place(inner6());
    expect(reasonName(encapVxlan(ctx, a.buf, a.off, a.len))).toBe('no_underlay');
    const b = place(inner4());
    expect(encapVxlan(ctx, b.buf, b.off, b.len)).toBe(FORWARD);
    // An IPv6-only peer (underlay 0) for an IPv4 inner packet over IPv4.
    const v6only = [A, { ...B, underlay: 0 }];
    const ctx6 = encapAt6(A, {}, v6only);
    const c = place(inner4());
    expect(encapVxlan(ctx6, c.buf, c.off, c.len)).toBe(DROP_NO_UNDERLAY);
    const d = place(inner6());
    expect(encapVxlan(ctx6, d.buf, d.off, d.len)).toBe(FORWARD);
  });

  it('ipip: an IPv6 inner packet, or any packet set to ride an IPv6 underlay, is unsupported_family', () => {
    const ctx = encapAt6(A);
    const a = place(inner6());
    expect(encapIpip(ctx, a.buf, a.off, a.len)).toBe(DROP_UNSUPPORTED_FAMILY);
    const over6 = encapAt6(A, { outerFor4: 6 });
    const b = place(inner4());
    expect(encapIpip(over6, b.buf, b.off, b.len)).toBe(DROP_UNSUPPORTED_FAMILY);
    const c = place(inner4());
    expect(encapIpip(ctx, c.buf, c.off, c.len)).toBe(FORWARD);
  });

  it.each([
    // [name, inner, outerFor4, outerFor6, mtu over v4 = 1450, over v6 = 1430]
    ['v6 inner over v6: 1430 fits', () => inner6(0, 1430), 4, 6, FORWARD],
    ['v6 inner over v6: 1431 too big', () => inner6(0, 1431), 4, 6, DROP_TOO_BIG],
    ['v6 inner over v4: 1450 fits', () => inner6(0, 1450), 4, 4, FORWARD],
    ['v4 DF inner over v6: 1431 too big', () => inner4(0, true, 1431), 6, 6, DROP_TOO_BIG],
    ['v4 no-DF inner over v6: 1431 sent (the underlay fragments)', () => inner4(0, false, 1431), 6, 6, FORWARD],
    ['v4 DF inner over v4: 1450 fits', () => inner4(0, true, 1450), 4, 6, FORWARD],
  ] as const)('MTU per underlay family: %s', (_n, make, o4, o6, want) => {
    const ctx = encapAt6(A, { outerFor4: o4, outerFor6: o6 });
    const p = make();
    const { buf, off, len } = place(p);
    expect(reasonName(encapVxlan(ctx, buf, off, len))).toBe(reasonName(want));
    expect(innerMtu(ctx, buf, off)).toBe((p[0]! >>> 4 === 4 ? o4 : o6) === 4 ? 1450 : 1430);
  });

  it('configuration errors are InvalidArgumentError: v6 underlay chosen without an address, bad address, bad family', () => {
    const base = { localUnderlay: A.underlay, localMac: A.mac, vni: 1, port: 4789, mtu: 1450, outerHeaders: true, udpChecksum: true, ttl: 64 };
    const mk = (extra: object) => () => createEncapContext({ ...base, ...extra }, routesTo([A, B]), routesTo6([A, B]), peerLookup([A, B]));
    expect(mk({ outerFor6: 6 })).toThrow(InvalidArgumentError);
    expect(mk({ outerFor4: 6 })).toThrow(/localUnderlay6/);
    expect(mk({ localUnderlay6: new Uint8Array(4) })).toThrow(InvalidArgumentError);
    expect(mk({ localUnderlay6: A.underlay6, outerFor6: 5 })).toThrow(InvalidArgumentError);
    expect(mk({ localMac6: new Uint8Array(5) })).toThrow(InvalidArgumentError);
    // Defaults as flannel: v6 inner over the v6 underlay when there is one, else over IPv4.
    expect(mk({ localUnderlay6: A.underlay6 })().outerFor6).toBe(6);
    expect(mk({})().outerFor6).toBe(4);
    expect(mk({ localUnderlay6: A.underlay6 })().outerFor4).toBe(4);
  });
});

describe('udp backend over IPv6', () => {
  it.each([
    ['v6 in v6', inner6, 6],
    ['v4 in v6', inner4, 6],
  ] as const)('%s: outer IPv6 + UDP from and to the backend port, checksum good, label from the flow', (_n, make, o) => {
    const ctx = encapAt6(A, { port: 8285, outerFor4: o, outerFor6: o });
    const p = make();
    const { buf, off, len } = place(p);
    expect(encapUdp(ctx, buf, off, len)).toBe(FORWARD);
    const r = ctx.result;
    expect(r.offset).toBe(off - UDP6_OVERHEAD);
    expect(r.length).toBe(len + UDP6_OVERHEAD);
    const udp = r.offset + 40;
    expect((buf[udp]! << 8) | buf[udp + 1]!).toBe(8285);
    expect((buf[udp + 2]! << 8) | buf[udp + 3]!).toBe(8285);
    expect(sum16(buf, udp, len + 8, ipv6PseudoHeaderSum(buf, r.offset, 17, len + 8))).toBe(0xffff);
    const label = ((buf[r.offset + 1]! & 0x0f) << 16) | (buf[r.offset + 2]! << 8) | buf[r.offset + 3]!;
    expect(label).toBe(flowLabelFor(r.flowHash));
    expect(buf.subarray(off, off + len)).toEqual(p);
  });
});

it('the IPv4 path is unchanged by a dual-stack config: same bytes as a v4-only context', () => {
  const p = inner4(0x02, true, 300);
  const a = withHeadroom(p);
  const b = withHeadroom(p);
  const v4 = createEncapContext(
    { localUnderlay: A.underlay, localMac: A.mac, vni: 1, port: 4789, mtu: 1450, outerHeaders: true, udpChecksum: true, ttl: 64 },
    routesTo([A, B]),
    null,
    peerLookup([A, B]),
  );
  expect(encapVxlan(v4, a.buf, a.off, a.len)).toBe(FORWARD);
  expect(encapVxlan(encapAt6(A), b.buf, b.off, b.len)).toBe(FORWARD);
  expect(b.buf).toEqual(a.buf);
  expect(HEADROOM).toBeGreaterThanOrEqual(VXLAN_OVERHEAD);
  expect(parseIPv6('2001:db8:100::2')).toEqual(B.underlay6);
});
