import { describe, expect, it } from 'vitest';

import {
  ICMPV4_BAD_CODE,
  ICMPV4_DEST_UNREACHABLE,
  ICMPV4_ECHO_REPLY,
  ICMPV4_ECHO_REQUEST,
  ICMPV4_ERROR_MIN_LEN,
  ICMPV4_ERROR_TOO_SHORT,
  ICMPV4_FRAG_NEEDED,
  ICMPV4_HEADER_LEN,
  ICMPV4_OK,
  ICMPV4_PARAMETER_PROBLEM,
  ICMPV4_PAYLOAD_OFFSET,
  ICMPV4_PORT_UNREACHABLE,
  ICMPV4_REASSEMBLY_TIME_EXCEEDED,
  ICMPV4_REDIRECT,
  ICMPV4_SOURCE_QUENCH,
  ICMPV4_TIME_EXCEEDED,
  ICMPV4_TOO_SHORT,
  ICMPV4_TTL_EXCEEDED,
  icmpv4Checksum,
  icmpv4Code,
  icmpv4Ident,
  icmpv4Mtu,
  icmpv4RestOfHeader,
  icmpv4Sequence,
  icmpv4Type,
  isIcmpv4Error,
  setIcmpv4Checksum,
  setIcmpv4Code,
  setIcmpv4Ident,
  setIcmpv4Mtu,
  setIcmpv4RestOfHeader,
  setIcmpv4Sequence,
  setIcmpv4Type,
  validateIcmpv4,
} from '../../../native-free/header/icmpv4.js';
import { hex } from '../../helpers/bytes.js';


function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

/** RFC 1071 Internet checksum, computed here, not by the code under test. */
function inetChecksum(b: Uint8Array, off = 0, len = b.length - off): number {
  let sum = 0;
  for (let i = 0; i + 1 < len; i += 2) sum += (b[off + i]! << 8) | b[off + i + 1]!;
  if (len % 2 === 1) sum += b[off + len - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

// ICMP messages (the IPv4 payload) sent by the Linux kernel, captured with
// dumpcap: a ping socket's echo request and the reply, and the errors a
// forwarding namespace sent back for a 1228-byte DF datagram towards a
// 1000-byte MTU link and for a TTL-1 datagram.
const ORIGINAL_FRAG = hex(
  // IPv4 10.0.0.1 -> 10.1.0.5, DF, UDP, total length 1228 ...
  '45 00 04 cc 00 00 40 00 40 11 22 1b 0a 00 00 01 0a 01 00 05' +
    // ... UDP 51378 -> 8472, length 1208
    'c8 b2 21 18 04 b8 18 d0',
);
interface Golden {
  name: string;
  msg: Uint8Array;
  type: number;
  code: number;
  checksum: number;
  rest: number;
  echo?: { ident: number; seq: number };
  mtu?: number;
}
const GOLDEN: Golden[] = [
  {
    name: 'echo request (ping socket)',
    msg: concat(hex('08 00 14 91 4a 58 00 01'), ascii('weft-ping-payload')),
    type: ICMPV4_ECHO_REQUEST,
    code: 0,
    checksum: 0x1491,
    rest: 0x4a580001,
    echo: { ident: 0x4a58, seq: 1 },
  },
  {
    name: 'echo reply',
    msg: concat(hex('00 00 1c 91 4a 58 00 01'), ascii('weft-ping-payload')),
    type: ICMPV4_ECHO_REPLY,
    code: 0,
    checksum: 0x1c91,
    rest: 0x4a580001,
    echo: { ident: 0x4a58, seq: 1 },
  },
  {
    name: 'destination unreachable, fragmentation needed, next-hop MTU 1000',
    // Linux quotes up to 576 bytes of IP: here the 28 header bytes and 520 bytes of 'x'.
    msg: concat(hex('03 04 97 66 00 00 03 e8'), ORIGINAL_FRAG, new Uint8Array(520).fill(0x78)),
    type: ICMPV4_DEST_UNREACHABLE,
    code: ICMPV4_FRAG_NEEDED,
    checksum: 0x9766,
    rest: 1000,
    mtu: 1000,
  },
  {
    name: 'time exceeded in transit',
    msg: concat(
      hex('0b 00 45 58 00 00 00 00'),
      hex('45 00 00 1f 6d 68 40 00 01 11 f8 5f 0a 00 00 01 0a 01 00 05'),
      hex('99 ec 21 18 00 0b 14 23'),
      ascii('ttl'),
    ),
    type: ICMPV4_TIME_EXCEEDED,
    code: ICMPV4_TTL_EXCEEDED,
    checksum: 0x4558,
    rest: 0,
  },
];

describe('ICMPv4 header (golden messages)', () => {
  it.each(GOLDEN)('$name: every field', (g) => {
    const b = g.msg;
    // The bytes are intact: checksumming the whole message gives 0.
    expect(inetChecksum(b)).toBe(0);
    expect(validateIcmpv4(b, 0, b.length)).toBe(ICMPV4_OK);
    expect(icmpv4Type(b, 0)).toBe(g.type);
    expect(icmpv4Code(b, 0)).toBe(g.code);
    expect(icmpv4Checksum(b, 0)).toBe(g.checksum);
    expect(icmpv4RestOfHeader(b, 0)).toBe(g.rest);
    if (g.echo !== undefined) {
      expect(icmpv4Ident(b, 0)).toBe(g.echo.ident);
      expect(icmpv4Sequence(b, 0)).toBe(g.echo.seq);
    }
    if (g.mtu !== undefined) expect(icmpv4Mtu(b, 0)).toBe(g.mtu);
    expect(isIcmpv4Error(g.type)).toBe(g.type === ICMPV4_DEST_UNREACHABLE || g.type === ICMPV4_TIME_EXCEEDED);
  });

  it.each(GOLDEN)('$name: read behind Ethernet (14) + IPv4 (20) headers', (g) => {
    const off = 34;
    const b = new Uint8Array(off + g.msg.length).fill(0x55);
    b.set(g.msg, off);
    expect(validateIcmpv4(b, off, g.msg.length)).toBe(ICMPV4_OK);
    expect(icmpv4Type(b, off)).toBe(g.type);
    expect(icmpv4Code(b, off)).toBe(g.code);
    expect(icmpv4Checksum(b, off)).toBe(g.checksum);
    expect(icmpv4RestOfHeader(b, off)).toBe(g.rest);
  });

  it.each(GOLDEN)('$name: setters and a fresh checksum rebuild the same bytes', (g) => {
    const off = 2;
    const b = new Uint8Array(off + g.msg.length).fill(0xaa);
    b.set(g.msg.subarray(ICMPV4_PAYLOAD_OFFSET), off + ICMPV4_PAYLOAD_OFFSET);
    setIcmpv4Type(b, off, g.type);
    setIcmpv4Code(b, off, g.code);
    setIcmpv4Checksum(b, off, 0);
    if (g.echo !== undefined) {
      setIcmpv4Ident(b, off, g.echo.ident);
      setIcmpv4Sequence(b, off, g.echo.seq);
    } else {
      setIcmpv4RestOfHeader(b, off, 0);
      if (g.mtu !== undefined) setIcmpv4Mtu(b, off, g.mtu);
    }
    setIcmpv4Checksum(b, off, inetChecksum(b, off));
    expect(b.subarray(off)).toEqual(g.msg);
    expect(Array.from(b.subarray(0, off))).toEqual([0xaa, 0xaa]);
  });
});

describe('ICMPv4 setters round-trip', () => {
  it('type, code, checksum, identifier, sequence', () => {
    const b = new Uint8Array(ICMPV4_HEADER_LEN + 1);
    for (const v of [0, 1, 0xff, 0x100, 0x1491, 0x8000, 0xffff]) {
      setIcmpv4Checksum(b, 1, v);
      setIcmpv4Ident(b, 1, v ^ 0xffff);
      setIcmpv4Sequence(b, 1, v);
      expect(icmpv4Checksum(b, 1)).toBe(v);
      expect(icmpv4Ident(b, 1)).toBe(v ^ 0xffff);
      expect(icmpv4Sequence(b, 1)).toBe(v);
      expect(icmpv4RestOfHeader(b, 1)).toBe((((v ^ 0xffff) << 16) | v) >>> 0);
    }
    for (const v of [0, 3, 8, 11, 255]) {
      setIcmpv4Type(b, 1, v);
      setIcmpv4Code(b, 1, 255 - v);
      expect(icmpv4Type(b, 1)).toBe(v);
      expect(icmpv4Code(b, 1)).toBe(255 - v);
    }
  });

  it('next-hop MTU is the low 16 bits of the second word', () => {
    const b = new Uint8Array(ICMPV4_HEADER_LEN);
    setIcmpv4RestOfHeader(b, 0, 0);
    for (const mtu of [0, 68, 576, 1280, 1450, 1500, 9000, 0xffff]) {
      setIcmpv4Mtu(b, 0, mtu);
      expect(icmpv4Mtu(b, 0)).toBe(mtu);
      expect(icmpv4RestOfHeader(b, 0)).toBe(mtu);
      expect(Array.from(b.subarray(4, 6))).toEqual([0, 0]);
    }
    setIcmpv4RestOfHeader(b, 0, 0xdeadbeef);
    expect(icmpv4RestOfHeader(b, 0)).toBe(0xdeadbeef);
    expect(icmpv4Mtu(b, 0)).toBe(0xbeef);
  });
});

describe('validateIcmpv4', () => {
  const echo = (): Uint8Array => GOLDEN[0]!.msg.slice();
  const frag = (): Uint8Array => GOLDEN[2]!.msg.slice();
  const withHeader = (type: number, code: number, len: number): Uint8Array => {
    const b = new Uint8Array(len);
    setIcmpv4Type(b, 0, type);
    setIcmpv4Code(b, 0, code);
    return b;
  };
  const cases: Array<{ name: string; make: () => [Uint8Array, number, number]; want: number }> = [
    { name: 'echo with no data', make: () => [echo().slice(0, 8), 0, 8], want: ICMPV4_OK },
    { name: 'empty', make: () => [new Uint8Array(0), 0, 0], want: ICMPV4_TOO_SHORT },
    { name: '7 bytes', make: () => [echo().slice(0, 7), 0, 7], want: ICMPV4_TOO_SHORT },
    { name: 'len 7 of a full buffer', make: () => [echo(), 0, 7], want: ICMPV4_TOO_SHORT },
    { name: 'offset leaves 7 bytes', make: () => [echo(), echo().length - 7, 8], want: ICMPV4_TOO_SHORT },
    { name: 'negative offset', make: () => [echo(), -1, 8], want: ICMPV4_TOO_SHORT },
    {
      name: 'frag needed, exactly header + IPv4 header + 8 bytes',
      make: () => [frag().slice(0, ICMPV4_ERROR_MIN_LEN), 0, ICMPV4_ERROR_MIN_LEN],
      want: ICMPV4_OK,
    },
    {
      name: 'frag needed cut one byte short of the quoted datagram',
      make: () => [frag(), 0, ICMPV4_ERROR_MIN_LEN - 1],
      want: ICMPV4_ERROR_TOO_SHORT,
    },
    { name: 'frag needed, header only', make: () => [frag().slice(0, 8), 0, 8], want: ICMPV4_ERROR_TOO_SHORT },
    {
      name: 'time exceeded, header only',
      make: () => [withHeader(ICMPV4_TIME_EXCEEDED, 0, 8), 0, 8],
      want: ICMPV4_ERROR_TOO_SHORT,
    },
    {
      name: 'parameter problem, header only',
      make: () => [withHeader(ICMPV4_PARAMETER_PROBLEM, 0, 8), 0, 8],
      want: ICMPV4_ERROR_TOO_SHORT,
    },
    { name: 'redirect, header only', make: () => [withHeader(ICMPV4_REDIRECT, 0, 8), 0, 8], want: ICMPV4_ERROR_TOO_SHORT },
    {
      name: 'source quench, header only',
      make: () => [withHeader(ICMPV4_SOURCE_QUENCH, 0, 8), 0, 8],
      want: ICMPV4_ERROR_TOO_SHORT,
    },
    {
      name: 'echo request with code 1',
      make: () => {
        const b = echo();
        setIcmpv4Code(b, 0, 1);
        return [b, 0, b.length];
      },
      want: ICMPV4_BAD_CODE,
    },
    { name: 'echo reply with code 255', make: () => [withHeader(ICMPV4_ECHO_REPLY, 255, 8), 0, 8], want: ICMPV4_BAD_CODE },
    {
      name: 'destination unreachable, port (code 3)',
      make: () => [withHeader(ICMPV4_DEST_UNREACHABLE, ICMPV4_PORT_UNREACHABLE, 36), 0, 36],
      want: ICMPV4_OK,
    },
    {
      name: 'destination unreachable, code 15 (precedence cutoff)',
      make: () => [withHeader(ICMPV4_DEST_UNREACHABLE, 15, 36), 0, 36],
      want: ICMPV4_OK,
    },
    {
      name: 'destination unreachable, code 16',
      make: () => [withHeader(ICMPV4_DEST_UNREACHABLE, 16, 36), 0, 36],
      want: ICMPV4_BAD_CODE,
    },
    {
      name: 'time exceeded, fragment reassembly (code 1)',
      make: () => [withHeader(ICMPV4_TIME_EXCEEDED, ICMPV4_REASSEMBLY_TIME_EXCEEDED, 36), 0, 36],
      want: ICMPV4_OK,
    },
    {
      name: 'time exceeded, code 2',
      make: () => [withHeader(ICMPV4_TIME_EXCEEDED, 2, 36), 0, 36],
      want: ICMPV4_BAD_CODE,
    },
    { name: 'unknown type 42 passes', make: () => [withHeader(42, 7, 8), 0, 8], want: ICMPV4_OK },
  ];

  it.each(cases)('$name', ({ make, want }) => {
    const [b, off, len] = make();
    expect(validateIcmpv4(b, off, len)).toBe(want);
  });

  it('constants match RFC 792 / RFC 1191', () => {
    expect([ICMPV4_ECHO_REPLY, ICMPV4_DEST_UNREACHABLE, ICMPV4_ECHO_REQUEST, ICMPV4_TIME_EXCEEDED]).toEqual([
      0, 3, 8, 11,
    ]);
    expect(ICMPV4_FRAG_NEEDED).toBe(4);
    expect(ICMPV4_HEADER_LEN).toBe(8);
    expect(ICMPV4_ERROR_MIN_LEN).toBe(36);
    const codes = [ICMPV4_OK, ICMPV4_TOO_SHORT, ICMPV4_ERROR_TOO_SHORT, ICMPV4_BAD_CODE];
    expect(new Set(codes).size).toBe(codes.length);
    expect(ICMPV4_OK).toBe(0);
  });
});
