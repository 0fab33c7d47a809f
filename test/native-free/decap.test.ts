// Every drop reason decapsulation can give, one mutated packet each.
import { describe, expect, it } from 'vitest';
import { checksum } from '../../native-free/checksum.js';
import { decapIpip } from '../../native-free/decap/ipip.js';
import { decapUdp } from '../../native-free/decap/udp.js';
import { decapVxlan } from '../../native-free/decap/vxlan.js';
import { DROP_REASONS, FORWARD, reasonName } from '../../native-free/drop.js';
import { ECN_CE, ECN_ECT0, ECN_ECT1, ECN_NOT_ECT } from '../../native-free/header/ipv4.js';
import { encapIpip } from '../../native-free/encap/ipip.js';
import { encapVxlan } from '../../native-free/encap/vxlan.js';
import { A, B, decapAt, encapAt, withHeadroom } from '../helpers/engine.js';
import { ipv4Packet } from '../helpers/packets.js';

const PAYLOAD_AT = 28; // the UDP payload starts after outer IPv4 (20) + UDP (8)

/** A VXLAN frame A→B as a UDP payload, after `mutate` edits the whole outer packet. */
function vxlanPayload(mutate: (outer: Uint8Array) => void = () => {}, inner = ipv4Packet({ src: 0x0af40105, dst: 0x0af40207 })) {
  const { buf, off, len } = withHeadroom(inner);
  const ctx = encapAt(A);
  expect(encapVxlan(ctx, buf, off, len)).toBe(FORWARD);
  const outer = buf.slice(ctx.result.offset, ctx.result.offset + ctx.result.length);
  mutate(outer);
  return outer;
}

function refixInnerChecksum(outer: Uint8Array): void {
  const ip = PAYLOAD_AT + 8 + 14;
  outer[ip + 10] = 0;
  outer[ip + 11] = 0;
  const c = checksum(outer, ip, (outer[ip]! & 0x0f) * 4);
  outer[ip + 10] = c >> 8;
  outer[ip + 11] = c & 0xff;
}

const INNER = PAYLOAD_AT + 8 + 14;

const vxlanCases: [string, (o: Uint8Array) => void, number?][] = [
  ['forward', () => {}],
  ['bad_flags', (o) => (o[PAYLOAD_AT] = 0x00)],
  ['bad_vni', (o) => (o[PAYLOAD_AT + 6] = 2)],
  ['unknown_peer', () => {}, 0xcb007101],
  ['not_for_us', (o) => (o[PAYLOAD_AT + 8 + 5] = 0x99)],
  ['vlan_tagged', (o) => { o[PAYLOAD_AT + 8 + 12] = 0x81; o[PAYLOAD_AT + 8 + 13] = 0x00; }],
  ['not_ip', (o) => { o[PAYLOAD_AT + 8 + 12] = 0x08; o[PAYLOAD_AT + 8 + 13] = 0x06; }],
  ['bad_inner', (o) => (o[INNER + 11] = o[INNER + 11]! ^ 0xff)], // header checksum
  ['bad_inner', (o) => { o[INNER] = 0x65; refixInnerChecksum(o); }], // version 6 under EtherType IPv4
  ['bad_inner', (o) => { o[INNER] = 0x44; refixInnerChecksum(o); }], // IHL 4
  ['bad_inner', (o) => { o[INNER + 2] = 0x05; refixInnerChecksum(o); }], // total length past the frame
  ['ttl_expired', (o) => { o[INNER + 8] = 0; refixInnerChecksum(o); }],
];

describe('decapVxlan reasons', () => {
  it.each(vxlanCases)('%s', (reason, mutate, from = A.underlay) => {
    const outer = vxlanPayload(mutate);
    const code = decapVxlan(decapAt(B), outer, PAYLOAD_AT, outer.length - PAYLOAD_AT, from);
    expect(reasonName(code)).toBe(reason);
  });

  it('short: every truncation below the minimum', () => {
    const outer = vxlanPayload();
    for (let n = 0; n < 8 + 14 + 20; n++) {
      expect(reasonName(decapVxlan(decapAt(B), outer, PAYLOAD_AT, n, A.underlay))).toBe('short');
    }
  });

  it('ignores reserved bits (RFC 7348 §5)', () => {
    const outer = vxlanPayload((o) => {
      o[PAYLOAD_AT] = 0xff; // every flag, I included
      o[PAYLOAD_AT + 1] = o[PAYLOAD_AT + 2] = o[PAYLOAD_AT + 3] = o[PAYLOAD_AT + 7] = 0xff;
    });
    expect(decapVxlan(decapAt(B), outer, PAYLOAD_AT, outer.length - PAYLOAD_AT, A.underlay)).toBe(FORWARD);
  });

  it('accepts unknown peers only when told to', () => {
    const outer = vxlanPayload(undefined, ipv4Packet({ src: 0x0af40905, dst: 0x0af40207 })); // from a subnet no node holds
    const ctx = decapAt(B, true);
    expect(decapVxlan(ctx, outer, PAYLOAD_AT, outer.length - PAYLOAD_AT, 0xcb007101)).toBe(FORWARD);
    expect(ctx.result.peer).toBe(-1);
    // Accepted unknown senders still may not claim a known node's pods.
    const claim = vxlanPayload();
    expect(reasonName(decapVxlan(ctx, claim, PAYLOAD_AT, claim.length - PAYLOAD_AT, 0xcb007101))).toBe('spoofed_source');
  });

  it('delivers the IP total length, not the Ethernet padding after it', () => {
    const outer = vxlanPayload();
    const padded = new Uint8Array(outer.length + 10);
    padded.set(outer);
    const ctx = decapAt(B);
    expect(decapVxlan(ctx, padded, PAYLOAD_AT, padded.length - PAYLOAD_AT, A.underlay)).toBe(FORWARD);
    expect(ctx.result.length).toBe(28);
  });
});

describe('RFC 6040 ECN at decapsulation', () => {
  // [inner, outer, expected inner after, or 'drop']
  const table: [number, number, number | 'drop'][] = [
    [ECN_NOT_ECT, ECN_NOT_ECT, ECN_NOT_ECT],
    [ECN_NOT_ECT, ECN_ECT0, ECN_NOT_ECT],
    [ECN_NOT_ECT, ECN_ECT1, ECN_NOT_ECT],
    [ECN_NOT_ECT, ECN_CE, 'drop'],
    [ECN_ECT0, ECN_NOT_ECT, ECN_ECT0],
    [ECN_ECT0, ECN_ECT0, ECN_ECT0],
    [ECN_ECT0, ECN_ECT1, ECN_ECT1],
    [ECN_ECT0, ECN_CE, ECN_CE],
    [ECN_ECT1, ECN_ECT0, ECN_ECT1],
    [ECN_ECT1, ECN_CE, ECN_CE],
    [ECN_CE, ECN_NOT_ECT, ECN_CE],
    [ECN_CE, ECN_ECT1, ECN_CE],
  ];
  it.each(table)('inner %i under outer %i → %s', (inner, outer, expected) => {
    const packet = ipv4Packet({ src: 0x0af40105, dst: 0x0af40207, tos: 0xb8 | inner });
    const { buf, off, len } = withHeadroom(packet);
    const enc = encapAt(A);
    expect(encapIpip(enc, buf, off, len)).toBe(FORWARD);
    const o = enc.result.offset;
    expect(buf[o + 1]! & 3).toBe(inner); // RFC 6040 §4.1: copied on encapsulation
    // Re-mark the outer header as a congested router would (checksum not rechecked by decap).
    buf[o + 1] = (buf[o + 1]! & 0xfc) | outer;
    const ctx = decapAt(B);
    const code = decapIpip(ctx, buf, o, enc.result.length);
    if (expected === 'drop') {
      expect(reasonName(code)).toBe('ecn_ce_not_ect');
      return;
    }
    expect(code).toBe(FORWARD);
    const ip = ctx.result.offset;
    expect(buf[ip + 1]).toBe(0xb8 | expected); // DSCP kept
    expect(checksum(buf, ip, 20)).toBe(0); // the incremental update left a valid header
  });
});

describe('decapIpip reasons', () => {
  function ipipFrame(mutate: (o: Uint8Array) => void = () => {}) {
    const { buf, off, len } = withHeadroom(ipv4Packet({ src: 0x0af40105, dst: 0x0af40207 }));
    const ctx = encapAt(A);
    expect(encapIpip(ctx, buf, off, len)).toBe(FORWARD);
    const o = buf.slice(ctx.result.offset, ctx.result.offset + ctx.result.length);
    mutate(o);
    return o;
  }
  const cases: [string, (o: Uint8Array) => void][] = [
    ['forward', () => {}],
    ['bad_outer', (o) => (o[9] = 17)],
    ['bad_outer', (o) => (o[0] = 0x65)],
    ['bad_outer', (o) => (o[3] = 0xff)],
    ['unknown_peer', (o) => (o[15] = 9)],
    ['bad_inner', (o) => (o[20] = 0x60)],
    ['bad_inner', (o) => (o[31] = o[31]! ^ 1)],
  ];
  it.each(cases)('%s', (reason, mutate) => {
    const o = ipipFrame(mutate);
    expect(reasonName(decapIpip(decapAt(B), o, 0, o.length))).toBe(reason);
  });
  it('short', () => {
    const o = ipipFrame();
    expect(reasonName(decapIpip(decapAt(B), o, 0, 39))).toBe('short');
  });
});

describe('decapUdp reasons', () => {
  it.each([
    ['forward', ipv4Packet({ src: 0x0af40105, dst: 0x0af40207 }), A.underlay],
    ['unknown_peer', ipv4Packet({ src: 0x0af40105, dst: 0x0af40207 }), 0x01020304],
    ['short', new Uint8Array(19), A.underlay],
    ['bad_inner', new Uint8Array(40), A.underlay],
  ] as const)('%s', (reason, p, from) => {
    expect(reasonName(decapUdp(decapAt(B), p, 0, p.length, from))).toBe(reason);
  });
});

it('every reason has a distinct name', () => {
  expect(new Set(DROP_REASONS).size).toBe(DROP_REASONS.length);
});
