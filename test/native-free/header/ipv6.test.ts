import { describe, expect, it } from 'vitest';

import {
  IPV6_ADDR_LEN,
  IPV6_BAD_PAYLOAD_LENGTH,
  IPV6_BAD_VERSION,
  IPV6_HEADER_LEN,
  IPV6_NEXT_HEADER_ICMPV6,
  IPV6_OK,
  IPV6_TOO_SHORT,
  IPV6_VERSION,
  ipv6Dst,
  ipv6FlowLabel,
  ipv6HopLimit,
  ipv6NextHeader,
  ipv6PayloadLength,
  ipv6Src,
  ipv6TrafficClass,
  ipv6Version,
  setIpv6Dst,
  setIpv6FlowLabel,
  setIpv6HopLimit,
  setIpv6NextHeader,
  setIpv6PayloadLength,
  setIpv6Src,
  setIpv6TrafficClass,
  setIpv6Version,
  validateIpv6,
} from '../../../native-free/header/ipv6.js';
import { hex } from '../../helpers/bytes.js';


/** Expands an IPv6 text address ('fd00:10:244:1::2') to 16 bytes. */
function addr6(s: string): Uint8Array {
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const h = head === '' || head === undefined ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[2 * i] = v >>> 8;
    out[2 * i + 1] = v & 0xff;
  });
  return out;
}

/** ICMPv6 checksum over the pseudo-header (RFC 8200 section 8.1), computed here, not by the code under test. */
function icmpv6Checksum(pkt: Uint8Array): number {
  const plen = (pkt[4]! << 8) | pkt[5]!;
  let sum = 0;
  for (let i = 8; i < 40; i += 2) sum += (pkt[i]! << 8) | pkt[i + 1]!; // src + dst
  sum += plen + 58;
  for (let i = 0; i < plen; i += 2) sum += (pkt[40 + i]! << 8) | (i + 1 < plen ? pkt[40 + i + 1]! : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

// Whole IPv6 packets (Ethernet header stripped) sent by the Linux kernel for
// ICMPv6 ping sockets, captured with dumpcap.
const GOLDEN = [
  {
    name: 'echo request fd00:10:244:1::2 -> fd00:10:244:1::1, tclass 0xb8, hop limit 61',
    pkt: hex(
      '6b 81 ea 9d 00 0c 3a 3d' +
        'fd 00 00 10 02 44 00 01 00 00 00 00 00 00 00 02' +
        'fd 00 00 10 02 44 00 01 00 00 00 00 00 00 00 01' +
        '80 00 e3 fa bf 2e 00 07 77 65 66 74',
    ),
    trafficClass: 0xb8,
    flow: 0x1ea9d,
    payloadLength: 12,
    hopLimit: 61,
    src: 'fd00:10:244:1::2',
    dst: 'fd00:10:244:1::1',
  },
  {
    name: 'echo reply fd00:10:244:1::1 -> fd00:10:244:1::2, tclass 0xb8, hop limit 64',
    pkt: hex(
      '6b 86 70 49 00 0c 3a 40' +
        'fd 00 00 10 02 44 00 01 00 00 00 00 00 00 00 01' +
        'fd 00 00 10 02 44 00 01 00 00 00 00 00 00 00 02' +
        '81 00 e2 fa bf 2e 00 07 77 65 66 74',
    ),
    trafficClass: 0xb8,
    flow: 0x67049,
    payloadLength: 12,
    hopLimit: 64,
    src: 'fd00:10:244:1::1',
    dst: 'fd00:10:244:1::2',
  },
  {
    name: 'echo request on loopback ::1 -> ::1, tclass 0',
    pkt: hex(
      '60 00 ac 58 00 12 3a 40' +
        '00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01' +
        '00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01' +
        '80 00 59 68 4a 59 00 01 77 65 66 74 2d 70 69 6e 67 36',
    ),
    trafficClass: 0,
    flow: 0x0ac58,
    payloadLength: 18,
    hopLimit: 64,
    src: '::1',
    dst: '::1',
  },
];

describe('IPv6 header (golden packets)', () => {
  it.each(GOLDEN)('$name: every field', (g) => {
    const b = g.pkt;
    expect(b.length).toBe(IPV6_HEADER_LEN + g.payloadLength);
    // The bytes are intact: the ICMPv6 checksum they carry is right.
    expect(icmpv6Checksum(b.slice().fill(0, 42, 44))).toBe((b[42]! << 8) | b[43]!);

    expect(validateIpv6(b, 0, b.length)).toBe(IPV6_OK);
    expect(ipv6Version(b, 0)).toBe(IPV6_VERSION);
    expect(ipv6TrafficClass(b, 0)).toBe(g.trafficClass);
    expect(ipv6FlowLabel(b, 0)).toBe(g.flow);
    expect(ipv6PayloadLength(b, 0)).toBe(g.payloadLength);
    expect(ipv6NextHeader(b, 0)).toBe(IPV6_NEXT_HEADER_ICMPV6);
    expect(ipv6HopLimit(b, 0)).toBe(g.hopLimit);

    const out = new Uint8Array(2 + IPV6_ADDR_LEN + 2).fill(0xee);
    ipv6Src(b, 0, out, 2);
    expect(out.subarray(2, 18)).toEqual(addr6(g.src));
    expect(Array.from(out.subarray(0, 2))).toEqual([0xee, 0xee]);
    expect(Array.from(out.subarray(18))).toEqual([0xee, 0xee]);
    ipv6Dst(b, 0, out, 2);
    expect(out.subarray(2, 18)).toEqual(addr6(g.dst));
  });

  it.each(GOLDEN)('$name: read at an offset (behind a 14-byte Ethernet header)', (g) => {
    const b = new Uint8Array(14 + g.pkt.length).fill(0x55);
    b.set(g.pkt, 14);
    expect(validateIpv6(b, 14, g.pkt.length)).toBe(IPV6_OK);
    expect(ipv6TrafficClass(b, 14)).toBe(g.trafficClass);
    expect(ipv6FlowLabel(b, 14)).toBe(g.flow);
    expect(ipv6HopLimit(b, 14)).toBe(g.hopLimit);
  });

  it.each(GOLDEN)('$name: setters rebuild the same header', (g) => {
    const b = new Uint8Array(3 + IPV6_HEADER_LEN + 3).fill(0xaa);
    const off = 3;
    setIpv6Version(b, off, 6);
    setIpv6TrafficClass(b, off, g.trafficClass);
    setIpv6FlowLabel(b, off, g.flow);
    setIpv6PayloadLength(b, off, g.payloadLength);
    setIpv6NextHeader(b, off, IPV6_NEXT_HEADER_ICMPV6);
    setIpv6HopLimit(b, off, g.hopLimit);
    setIpv6Src(b, off, addr6(g.src), 0);
    const dst = new Uint8Array(20);
    dst.set(addr6(g.dst), 4);
    setIpv6Dst(b, off, dst, 4);
    expect(b.subarray(off, off + IPV6_HEADER_LEN)).toEqual(g.pkt.subarray(0, IPV6_HEADER_LEN));
    expect(Array.from(b.subarray(0, off))).toEqual([0xaa, 0xaa, 0xaa]);
    expect(Array.from(b.subarray(off + IPV6_HEADER_LEN))).toEqual([0xaa, 0xaa, 0xaa]);
  });
});

describe('IPv6 setters round-trip', () => {
  it('version, traffic class and flow label share the first word without clobbering each other', () => {
    const b = new Uint8Array(IPV6_HEADER_LEN);
    for (const v of [0, 4, 6, 15]) {
      for (const tc of [0, 0x01, 0x0f, 0x10, 0xb8, 0xff]) {
        for (const flow of [0, 1, 0xfffff, 0x80000, 0x0ac58, 0x12345]) {
          // Set in every order; the result must not depend on it.
          setIpv6FlowLabel(b, 0, flow);
          setIpv6TrafficClass(b, 0, tc);
          setIpv6Version(b, 0, v);
          expect([ipv6Version(b, 0), ipv6TrafficClass(b, 0), ipv6FlowLabel(b, 0)]).toEqual([v, tc, flow]);
          b.fill(0xff, 0, 4);
          setIpv6Version(b, 0, v);
          setIpv6TrafficClass(b, 0, tc);
          setIpv6FlowLabel(b, 0, flow);
          expect([ipv6Version(b, 0), ipv6TrafficClass(b, 0), ipv6FlowLabel(b, 0)]).toEqual([v, tc, flow]);
        }
      }
    }
  });

  it('payload length, next header and hop limit', () => {
    const b = new Uint8Array(IPV6_HEADER_LEN + 1);
    for (const v of [0, 1, 0xff, 0x100, 1460, 0xffff]) {
      setIpv6PayloadLength(b, 1, v);
      expect(ipv6PayloadLength(b, 1)).toBe(v);
    }
    for (const v of [0, 6, 17, 58, 59, 255]) {
      setIpv6NextHeader(b, 1, v);
      setIpv6HopLimit(b, 1, 255 - v);
      expect(ipv6NextHeader(b, 1)).toBe(v);
      expect(ipv6HopLimit(b, 1)).toBe(255 - v);
    }
  });

  it('source and destination are distinct 16-byte fields', () => {
    const b = new Uint8Array(IPV6_HEADER_LEN);
    const s = addr6('2001:db8::1');
    const d = addr6('ff02::1:ff00:1');
    setIpv6Src(b, 0, s, 0);
    setIpv6Dst(b, 0, d, 0);
    expect(b.subarray(8, 24)).toEqual(s);
    expect(b.subarray(24, 40)).toEqual(d);
    const out = new Uint8Array(16);
    ipv6Src(b, 0, out, 0);
    expect(out).toEqual(s);
    ipv6Dst(b, 0, out, 0);
    expect(out).toEqual(d);
  });
});

describe('validateIpv6', () => {
  const good = (): Uint8Array => GOLDEN[0]!.pkt.slice();
  const n = GOLDEN[0]!.pkt.length;
  const cases: Array<{ name: string; make: () => [Uint8Array, number, number]; want: number }> = [
    { name: 'golden', make: () => [good(), 0, n], want: IPV6_OK },
    {
      name: 'trailing link-layer padding after the payload',
      make: () => {
        const b = new Uint8Array(n + 6);
        b.set(good());
        return [b, 0, n + 6];
      },
      want: IPV6_OK,
    },
    {
      name: 'header only, payload length 0',
      make: () => {
        const b = good().slice(0, IPV6_HEADER_LEN);
        setIpv6PayloadLength(b, 0, 0);
        return [b, 0, IPV6_HEADER_LEN];
      },
      want: IPV6_OK,
    },
    { name: 'empty', make: () => [new Uint8Array(0), 0, 0], want: IPV6_TOO_SHORT },
    { name: '39 bytes', make: () => [good().slice(0, 39), 0, 39], want: IPV6_TOO_SHORT },
    { name: 'len 39 of a full buffer', make: () => [good(), 0, 39], want: IPV6_TOO_SHORT },
    { name: 'offset past the end', make: () => [good(), n, 40], want: IPV6_TOO_SHORT },
    { name: 'negative offset', make: () => [good(), -1, n], want: IPV6_TOO_SHORT },
    {
      name: 'version 4',
      make: () => {
        const b = good();
        setIpv6Version(b, 0, 4);
        return [b, 0, n];
      },
      want: IPV6_BAD_VERSION,
    },
    {
      name: 'version 0',
      make: () => {
        const b = good();
        setIpv6Version(b, 0, 0);
        return [b, 0, n];
      },
      want: IPV6_BAD_VERSION,
    },
    { name: 'payload cut by one byte', make: () => [good().slice(0, n - 1), 0, n - 1], want: IPV6_BAD_PAYLOAD_LENGTH },
    { name: 'len one short of the payload', make: () => [good(), 0, n - 1], want: IPV6_BAD_PAYLOAD_LENGTH },
    {
      name: 'payload length beyond the buffer',
      make: () => {
        const b = good();
        setIpv6PayloadLength(b, 0, 0xffff);
        return [b, 0, n];
      },
      want: IPV6_BAD_PAYLOAD_LENGTH,
    },
  ];

  it.each(cases)('$name', ({ make, want }) => {
    const [b, off, len] = make();
    expect(validateIpv6(b, off, len)).toBe(want);
  });

  it('reason codes are distinct small numbers', () => {
    const codes = [IPV6_OK, IPV6_TOO_SHORT, IPV6_BAD_VERSION, IPV6_BAD_PAYLOAD_LENGTH];
    expect(new Set(codes).size).toBe(codes.length);
    expect(IPV6_OK).toBe(0);
  });
});
