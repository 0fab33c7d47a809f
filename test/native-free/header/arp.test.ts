import { describe, expect, it } from 'vitest';

import {
  ARP_BAD_ADDR_LEN,
  ARP_BAD_HARDWARE_TYPE,
  ARP_BAD_OP,
  ARP_BAD_PROTOCOL_TYPE,
  ARP_ETHERNET_ADDR_LEN,
  ARP_HARDWARE_ETHERNET,
  ARP_IPV4_ADDR_LEN,
  ARP_LEN,
  ARP_OK,
  ARP_OP_REPLY,
  ARP_OP_REQUEST,
  ARP_PROTOCOL_IPV4,
  ARP_TOO_SHORT,
  arpHardwareLen,
  arpHardwareType,
  arpOp,
  arpProtocolLen,
  arpProtocolType,
  arpSenderIp,
  arpSenderMac,
  arpTargetIp,
  arpTargetMac,
  setArpHardwareLen,
  setArpHardwareType,
  setArpIpv4OverEthernet,
  setArpOp,
  setArpProtocolLen,
  setArpProtocolType,
  setArpSenderIp,
  setArpSenderMac,
  setArpTargetIp,
  setArpTargetMac,
  validateArp,
} from '../../../native-free/header/arp.js';
import { hex } from '../../helpers/bytes.js';


function ip(s: string): number {
  return s.split('.').reduce((acc, p) => acc * 256 + Number(p), 0);
}

function mac(s: string): Uint8Array {
  return hex(s.replace(/:/g, ''));
}

// Frames captured with dumpcap on veth pairs in a private network namespace
// (sent by the Linux kernel): Ethernet header (14 bytes), then ARP.
const GOLDEN = [
  {
    name: 'request: who has 10.244.1.1? tell 10.244.1.2',
    frame: hex(
      'ff ff ff ff ff ff 02 42 0a f4 01 02 08 06' +
        '00 01 08 00 06 04 00 01 02 42 0a f4 01 02 0a f4 01 02' +
        '00 00 00 00 00 00 0a f4 01 01',
    ),
    op: ARP_OP_REQUEST,
    senderMac: '02:42:0a:f4:01:02',
    senderIp: '10.244.1.2',
    targetMac: '00:00:00:00:00:00',
    targetIp: '10.244.1.1',
  },
  {
    name: 'reply: 10.0.0.2 is at 56:86:3a:85:6c:90',
    frame: hex(
      'e6 cd a0 04 54 34 56 86 3a 85 6c 90 08 06' +
        '00 01 08 00 06 04 00 02 56 86 3a 85 6c 90 0a 00 00 02' +
        'e6 cd a0 04 54 34 0a 00 00 01',
    ),
    op: ARP_OP_REPLY,
    senderMac: '56:86:3a:85:6c:90',
    senderIp: '10.0.0.2',
    targetMac: 'e6:cd:a0:04:54:34',
    targetIp: '10.0.0.1',
  },
];

const ETH = 14;

describe('ARP header (golden frames)', () => {
  it.each(GOLDEN)('$name: every field', (g) => {
    const b = g.frame;
    expect(validateArp(b, ETH, b.length - ETH)).toBe(ARP_OK);
    expect(arpHardwareType(b, ETH)).toBe(ARP_HARDWARE_ETHERNET);
    expect(arpProtocolType(b, ETH)).toBe(ARP_PROTOCOL_IPV4);
    expect(arpHardwareLen(b, ETH)).toBe(ARP_ETHERNET_ADDR_LEN);
    expect(arpProtocolLen(b, ETH)).toBe(ARP_IPV4_ADDR_LEN);
    expect(arpOp(b, ETH)).toBe(g.op);
    expect(arpSenderIp(b, ETH)).toBe(ip(g.senderIp));
    expect(arpTargetIp(b, ETH)).toBe(ip(g.targetIp));

    const out = new Uint8Array(8).fill(0xee);
    arpSenderMac(b, ETH, out, 1);
    expect(out).toEqual(Uint8Array.of(0xee, ...mac(g.senderMac), 0xee));
    out.fill(0xee);
    arpTargetMac(b, ETH, out, 2);
    expect(out.subarray(2)).toEqual(mac(g.targetMac));
    expect(out.subarray(0, 2)).toEqual(Uint8Array.of(0xee, 0xee));
  });

  it.each(GOLDEN)('$name: setters rebuild the same bytes', (g) => {
    const want = g.frame.subarray(ETH);
    // Write at an odd offset inside a larger buffer filled with a sentinel.
    const b = new Uint8Array(5 + ARP_LEN + 5).fill(0xaa);
    const off = 5;
    setArpIpv4OverEthernet(b, off);
    setArpOp(b, off, g.op);
    setArpSenderMac(b, off, Uint8Array.of(0, ...mac(g.senderMac)), 1);
    setArpSenderIp(b, off, ip(g.senderIp));
    setArpTargetMac(b, off, mac(g.targetMac), 0);
    setArpTargetIp(b, off, ip(g.targetIp));
    expect(b.subarray(off, off + ARP_LEN)).toEqual(want);
    expect(b.subarray(0, off)).toEqual(new Uint8Array(off).fill(0xaa));
    expect(b.subarray(off + ARP_LEN)).toEqual(new Uint8Array(5).fill(0xaa));
  });
});

describe('ARP setters round-trip', () => {
  it('each 16-bit and 8-bit field, extremes included', () => {
    const b = new Uint8Array(ARP_LEN + 3);
    for (const v of [0, 1, 0x00ff, 0x0100, 0x0800, 0xfffe, 0xffff]) {
      setArpHardwareType(b, 3, v);
      setArpProtocolType(b, 3, v ^ 0xffff);
      setArpOp(b, 3, v);
      expect(arpHardwareType(b, 3)).toBe(v);
      expect(arpProtocolType(b, 3)).toBe(v ^ 0xffff);
      expect(arpOp(b, 3)).toBe(v);
    }
    for (const v of [0, 4, 6, 255]) {
      setArpHardwareLen(b, 3, v);
      setArpProtocolLen(b, 3, 255 - v);
      expect(arpHardwareLen(b, 3)).toBe(v);
      expect(arpProtocolLen(b, 3)).toBe(255 - v);
    }
  });

  it('IPv4 addresses as unsigned 32-bit numbers', () => {
    const b = new Uint8Array(ARP_LEN);
    for (const a of [0, 1, 0x0af40101, 0x7fffffff, 0x80000000, 0xc0a80001, 0xffffffff]) {
      setArpSenderIp(b, 0, a);
      setArpTargetIp(b, 0, ~a >>> 0);
      expect(arpSenderIp(b, 0)).toBe(a);
      expect(arpTargetIp(b, 0)).toBe(~a >>> 0);
    }
    setArpSenderIp(b, 0, ip('255.1.2.3'));
    expect(Array.from(b.subarray(14, 18))).toEqual([255, 1, 2, 3]);
  });
});

describe('validateArp', () => {
  const good = (): Uint8Array => GOLDEN[0]!.frame.slice(ETH);
  const cases: Array<{ name: string; make: () => [Uint8Array, number, number]; want: number }> = [
    { name: 'golden request', make: () => [good(), 0, ARP_LEN], want: ARP_OK },
    {
      name: 'padded to the Ethernet minimum (46 bytes of payload)',
      make: () => {
        const b = new Uint8Array(46);
        b.set(good());
        return [b, 0, 46];
      },
      want: ARP_OK,
    },
    { name: 'empty', make: () => [new Uint8Array(0), 0, 0], want: ARP_TOO_SHORT },
    { name: '27 bytes', make: () => [good().slice(0, 27), 0, 27], want: ARP_TOO_SHORT },
    { name: 'len says 27 of a full buffer', make: () => [good(), 0, 27], want: ARP_TOO_SHORT },
    { name: 'len larger than the buffer', make: () => [good().slice(0, 20), 0, ARP_LEN], want: ARP_TOO_SHORT },
    { name: 'offset leaves too few bytes', make: () => [good(), 1, ARP_LEN], want: ARP_TOO_SHORT },
    { name: 'negative offset', make: () => [good(), -1, ARP_LEN], want: ARP_TOO_SHORT },
    {
      name: 'hardware type 6 (IEEE 802)',
      make: () => {
        const b = good();
        setArpHardwareType(b, 0, 6);
        return [b, 0, ARP_LEN];
      },
      want: ARP_BAD_HARDWARE_TYPE,
    },
    {
      name: 'protocol type IPv6',
      make: () => {
        const b = good();
        setArpProtocolType(b, 0, 0x86dd);
        return [b, 0, ARP_LEN];
      },
      want: ARP_BAD_PROTOCOL_TYPE,
    },
    {
      name: 'hardware length 8',
      make: () => {
        const b = good();
        setArpHardwareLen(b, 0, 8);
        return [b, 0, ARP_LEN];
      },
      want: ARP_BAD_ADDR_LEN,
    },
    {
      name: 'protocol length 16',
      make: () => {
        const b = good();
        setArpProtocolLen(b, 0, 16);
        return [b, 0, ARP_LEN];
      },
      want: ARP_BAD_ADDR_LEN,
    },
    {
      name: 'op 0',
      make: () => {
        const b = good();
        setArpOp(b, 0, 0);
        return [b, 0, ARP_LEN];
      },
      want: ARP_BAD_OP,
    },
    {
      name: 'op 3 (RARP request)',
      make: () => {
        const b = good();
        setArpOp(b, 0, 3);
        return [b, 0, ARP_LEN];
      },
      want: ARP_BAD_OP,
    },
    {
      name: 'op 0x0101 (only the low byte is 1)',
      make: () => {
        const b = good();
        setArpOp(b, 0, 0x0101);
        return [b, 0, ARP_LEN];
      },
      want: ARP_BAD_OP,
    },
  ];

  it.each(cases)('$name', ({ make, want }) => {
    const [b, off, len] = make();
    expect(validateArp(b, off, len)).toBe(want);
  });

  it('reason codes are distinct small numbers', () => {
    const codes = [ARP_OK, ARP_TOO_SHORT, ARP_BAD_HARDWARE_TYPE, ARP_BAD_PROTOCOL_TYPE, ARP_BAD_ADDR_LEN, ARP_BAD_OP];
    expect(new Set(codes).size).toBe(codes.length);
    expect(ARP_OK).toBe(0);
  });
});
