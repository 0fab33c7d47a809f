import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { InvalidArgumentError } from '../../native-free/errors.js';
import {
  ARP_LEN,
  ARP_OP_REQUEST,
  setArpIpv4OverEthernet,
  setArpOp,
  setArpSenderIp,
  setArpSenderMac,
  setArpTargetIp,
  setArpTargetMac,
} from '../../native-free/header/arp.js';
import {
  ICMPV4_DEST_UNREACHABLE,
  ICMPV4_ECHO_REQUEST,
  ICMPV4_FRAG_NEEDED,
  setIcmpv4Checksum,
  setIcmpv4Code,
  setIcmpv4Ident,
  setIcmpv4Mtu,
  setIcmpv4RestOfHeader,
  setIcmpv4Sequence,
  setIcmpv4Type,
} from '../../native-free/header/icmpv4.js';
import {
  IPV6_HEADER_LEN,
  setIpv6Dst,
  setIpv6FlowLabel,
  setIpv6HopLimit,
  setIpv6NextHeader,
  setIpv6PayloadLength,
  setIpv6Src,
  setIpv6TrafficClass,
  setIpv6Version,
} from '../../native-free/header/ipv6.js';
import {
  LINKTYPE_ETHERNET,
  LINKTYPE_RAW,
  PCAP_HEADER_LEN,
  PCAP_RECORD_HEADER_LEN,
  pcapFile,
  pcapHeader,
  pcapRecord,
  writePcapRecordHeader,
} from '../../native-free/pcap.js';
import { TSHARK_CHECKSUM, decodePcapFile, decodeWithTshark, skipWithoutTshark } from '../helpers/tshark.js';
import { hex } from '../helpers/bytes.js';

// ---- frame building, with checksums computed here (not by native-free) ----


const mac = (s: string): Uint8Array => hex(s.replace(/:/g, ''));
const ip4 = (s: string): number => s.split('.').reduce((acc, p) => acc * 256 + Number(p), 0);
const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

function inetChecksum(b: Uint8Array, off: number, len: number, initial = 0): number {
  let sum = initial;
  for (let i = 0; i + 1 < len; i += 2) sum += (b[off + i]! << 8) | b[off + i + 1]!;
  if (len % 2 === 1) sum += b[off + len - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v;
}

function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

function ethernet(dst: string, src: string, type: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + payload.length);
  f.set(mac(dst), 0);
  f.set(mac(src), 6);
  put16(f, 12, type);
  f.set(payload, 14);
  return f;
}

/** A 20-byte IPv4 header (no options) + payload, DF set, checksum computed. */
function ipv4(src: string, dst: string, proto: number, payload: Uint8Array, opts: { id?: number; ttl?: number } = {}): Uint8Array {
  const p = new Uint8Array(20 + payload.length);
  p[0] = 0x45;
  put16(p, 2, p.length);
  put16(p, 4, opts.id ?? 0x1234);
  put16(p, 6, 0x4000);
  p[8] = opts.ttl ?? 64;
  p[9] = proto;
  put32(p, 12, ip4(src));
  put32(p, 16, ip4(dst));
  put16(p, 10, inetChecksum(p, 0, 20));
  p.set(payload, 20);
  return p;
}

function icmpEcho(ident: number, seq: number, data: Uint8Array): Uint8Array {
  const m = new Uint8Array(8 + data.length);
  setIcmpv4Type(m, 0, ICMPV4_ECHO_REQUEST);
  setIcmpv4Code(m, 0, 0);
  setIcmpv4Ident(m, 0, ident);
  setIcmpv4Sequence(m, 0, seq);
  m.set(data, 8);
  setIcmpv4Checksum(m, 0, inetChecksum(m, 0, m.length));
  return m;
}

/** UDP over IPv4 with its pseudo-header checksum. */
function udp4(src: string, dst: string, sport: number, dport: number, payload: Uint8Array): Uint8Array {
  const u = new Uint8Array(8 + payload.length);
  put16(u, 0, sport);
  put16(u, 2, dport);
  put16(u, 4, u.length);
  u.set(payload, 8);
  const s = ip4(src);
  const d = ip4(dst);
  const pseudo = (s >>> 16) + (s & 0xffff) + (d >>> 16) + (d & 0xffff) + 17 + u.length;
  const c = inetChecksum(u, 0, u.length, pseudo);
  put16(u, 6, c === 0 ? 0xffff : c);
  return ipv4(src, dst, 17, u);
}

function arpRequest(senderMac: string, senderIp: string, targetIp: string): Uint8Array {
  const a = new Uint8Array(ARP_LEN);
  setArpIpv4OverEthernet(a, 0);
  setArpOp(a, 0, ARP_OP_REQUEST);
  setArpSenderMac(a, 0, mac(senderMac), 0);
  setArpSenderIp(a, 0, ip4(senderIp));
  setArpTargetMac(a, 0, new Uint8Array(6), 0);
  setArpTargetIp(a, 0, ip4(targetIp));
  return ethernet('ff:ff:ff:ff:ff:ff', senderMac, 0x0806, a);
}

const POD_MAC = '02:42:0a:f4:01:02';
const GW_MAC = '02:42:0a:f4:01:01';
const ECHO_FRAME = ethernet(GW_MAC, POD_MAC, 0x0800, ipv4('10.244.1.2', '10.244.2.3', 1, icmpEcho(0x4a58, 7, ascii('weft-ping-payload'))));
const ARP_FRAME = arpRequest(POD_MAC, '10.244.1.2', '10.244.1.1');

// ---- encoder bytes ----

describe('pcap encoder', () => {
  it('file header: little-endian magic a1b2c3d4, version 2.4, snaplen 65535, link type', () => {
    expect(pcapHeader(LINKTYPE_ETHERNET)).toEqual(
      hex('d4 c3 b2 a1 02 00 04 00 00 00 00 00 00 00 00 00 ff ff 00 00 01 00 00 00'),
    );
    expect(pcapHeader(LINKTYPE_RAW)).toEqual(
      hex('d4 c3 b2 a1 02 00 04 00 00 00 00 00 00 00 00 00 ff ff 00 00 65 00 00 00'),
    );
    expect(pcapHeader(LINKTYPE_ETHERNET).length).toBe(PCAP_HEADER_LEN);
    expect(LINKTYPE_ETHERNET).toBe(1);
    expect(LINKTYPE_RAW).toBe(101);
  });

  it('record: seconds, microseconds, captured and original length, then the bytes', () => {
    const pkt = Uint8Array.of(1, 2, 3, 4, 5);
    const rec = pcapRecord(pkt, 1_700_000_000_123_456);
    // 1700000000 = 0x6553f100, 123456 = 0x0001e240
    expect(rec).toEqual(hex('00 f1 53 65 40 e2 01 00 05 00 00 00 05 00 00 00 01 02 03 04 05'));
    expect(rec.length).toBe(PCAP_RECORD_HEADER_LEN + pkt.length);
    expect(pcapRecord(new Uint8Array(0), 0)).toEqual(new Uint8Array(16));
    expect(pcapRecord(pkt, 999_999).subarray(0, 8)).toEqual(hex('00 00 00 00 3f 42 0f 00'));
    expect(pcapRecord(pkt, 1_000_000).subarray(0, 8)).toEqual(hex('01 00 00 00 00 00 00 00'));
  });

  it('a packet longer than snaplen is cut; orig_len keeps the wire length', () => {
    const pkt = new Uint8Array(100).map((_, i) => i);
    const rec = pcapRecord(pkt, 0, 60);
    expect(rec.length).toBe(16 + 60);
    expect(rec.subarray(8, 16)).toEqual(hex('3c 00 00 00 64 00 00 00'));
    expect(rec.subarray(16)).toEqual(pkt.subarray(0, 60));
    const big = new Uint8Array(70_000);
    expect(pcapRecord(big, 0).length).toBe(16 + 65535);
  });

  it('writePcapRecordHeader writes in place and returns the bytes to save', () => {
    const out = new Uint8Array(20).fill(0xee);
    expect(writePcapRecordHeader(out, 2, 1514, 5_000_001)).toBe(1514);
    expect(out.subarray(2, 18)).toEqual(hex('05 00 00 00 01 00 00 00 ea 05 00 00 ea 05 00 00'));
    expect(Array.from(out.subarray(0, 2))).toEqual([0xee, 0xee]);
    expect(Array.from(out.subarray(18))).toEqual([0xee, 0xee]);
  });

  it('pcapFile is the header followed by each record', () => {
    const a = Uint8Array.of(0xaa);
    const b = Uint8Array.of(0xbb, 0xbc);
    const file = pcapFile(LINKTYPE_RAW, [
      { data: a, tsMicros: 1 },
      { data: b, tsMicros: 2 },
    ]);
    const want = [pcapHeader(LINKTYPE_RAW), pcapRecord(a, 1), pcapRecord(b, 2)];
    expect(file).toEqual(Uint8Array.from(want.flatMap((c) => Array.from(c))));
    expect(pcapFile(LINKTYPE_ETHERNET, [])).toEqual(pcapHeader(LINKTYPE_ETHERNET));
  });

  it.each([
    ['negative', -1],
    ['fractional', 1.5],
    ['NaN', Number.NaN],
    ['past 2106 (seconds beyond 32 bits)', 2 ** 32 * 1_000_000],
  ])('rejects a %s timestamp with ERR_WEFT_INVALID_ARGUMENT', (_name, ts) => {
    expect(() => pcapRecord(Uint8Array.of(1), ts)).toThrow(InvalidArgumentError);
    try {
      pcapRecord(Uint8Array.of(1), ts);
    } catch (e) {
      expect((e as InvalidArgumentError).code).toBe('ERR_WEFT_INVALID_ARGUMENT');
    }
  });

  it('rejects a link type that is not an unsigned 32-bit integer', () => {
    expect(() => pcapHeader(-1)).toThrow(InvalidArgumentError);
    expect(() => pcapHeader(2 ** 32)).toThrow(InvalidArgumentError);
    expect(() => pcapHeader(1.5)).toThrow(InvalidArgumentError);
  });
});

// ---- read back by tshark ----

describe.skipIf(skipWithoutTshark('pcap read back by tshark'))('pcap read back by tshark', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'weft-pcap-test-'));
  });
  afterAll(async () => {
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  it('an Ethernet file written chunk by chunk: ICMP echo and ARP request decode field by field', async () => {
    const path = join(dir, 'eth.pcap');
    const chunks = [
      pcapHeader(LINKTYPE_ETHERNET),
      pcapRecord(ECHO_FRAME, 1_700_000_000_250_000),
      pcapRecord(ARP_FRAME, 1_700_000_001_000_001),
    ];
    await writeFile(path, chunks);
    expect((await readFile(path)).length).toBe(24 + 16 + ECHO_FRAME.length + 16 + ARP_FRAME.length);

    const rows = await decodePcapFile(path, {
      fields: [
        'frame.time_epoch',
        'frame.len',
        'frame.protocols',
        'eth.dst',
        'eth.src',
        'eth.type',
        'ip.version',
        'ip.hdr_len',
        'ip.len',
        'ip.id',
        'ip.flags.df',
        'ip.ttl',
        'ip.proto',
        'ip.src',
        'ip.dst',
        'ip.checksum.status',
        'icmp.type',
        'icmp.code',
        'icmp.checksum',
        'icmp.checksum.status',
        'icmp.ident',
        'icmp.seq',
        'data.data',
        'arp.hw.type',
        'arp.proto.type',
        'arp.hw.size',
        'arp.proto.size',
        'arp.opcode',
        'arp.src.hw_mac',
        'arp.src.proto_ipv4',
        'arp.dst.hw_mac',
        'arp.dst.proto_ipv4',
      ],
    });
    expect(rows).toHaveLength(2);
    const [echo, arp] = rows as [(typeof rows)[number], (typeof rows)[number]];

    expect(echo['frame.time_epoch']).toEqual(['1700000000.250000000']);
    expect(echo['frame.len']).toEqual([String(ECHO_FRAME.length)]);
    expect(echo['frame.protocols']).toEqual(['eth:ethertype:ip:icmp:data']);
    expect(echo['eth.dst']).toEqual([GW_MAC]);
    expect(echo['eth.src']).toEqual([POD_MAC]);
    expect(echo['eth.type']).toEqual(['0x0800']);
    expect(echo['ip.version']).toEqual(['4']);
    expect(echo['ip.hdr_len']).toEqual(['20']);
    expect(echo['ip.len']).toEqual([String(20 + 8 + 17)]);
    expect(echo['ip.id']).toEqual(['0x1234']);
    expect(echo['ip.flags.df']).toEqual(['1']);
    expect(echo['ip.ttl']).toEqual(['64']);
    expect(echo['ip.proto']).toEqual(['1']);
    expect(echo['ip.src']).toEqual(['10.244.1.2']);
    expect(echo['ip.dst']).toEqual(['10.244.2.3']);
    expect(echo['ip.checksum.status']).toEqual([TSHARK_CHECKSUM.GOOD]);
    expect(echo['icmp.type']).toEqual(['8']);
    expect(echo['icmp.code']).toEqual(['0']);
    const icmpOff = 14 + 20;
    const sum = ((ECHO_FRAME[icmpOff + 2]! << 8) | ECHO_FRAME[icmpOff + 3]!).toString(16).padStart(4, '0');
    expect(echo['icmp.checksum']).toEqual([`0x${sum}`]);
    expect(echo['icmp.checksum.status']).toEqual([TSHARK_CHECKSUM.GOOD]);
    expect(echo['icmp.ident']).toEqual([String(0x4a58)]);
    expect(echo['icmp.seq']).toEqual(['7']);
    expect(echo['data.data']).toEqual([Array.from(ascii('weft-ping-payload'), (c) => c.toString(16).padStart(2, '0')).join('')]);
    expect(echo['arp.opcode']).toEqual([]);

    expect(arp['frame.time_epoch']).toEqual(['1700000001.000001000']);
    expect(arp['frame.protocols']).toEqual(['eth:ethertype:arp']);
    expect(arp['eth.dst']).toEqual(['ff:ff:ff:ff:ff:ff']);
    expect(arp['eth.type']).toEqual(['0x0806']);
    expect(arp['arp.hw.type']).toEqual(['1']);
    expect(arp['arp.proto.type']).toEqual(['0x0800']);
    expect(arp['arp.hw.size']).toEqual(['6']);
    expect(arp['arp.proto.size']).toEqual(['4']);
    expect(arp['arp.opcode']).toEqual(['1']);
    expect(arp['arp.src.hw_mac']).toEqual([POD_MAC]);
    expect(arp['arp.src.proto_ipv4']).toEqual(['10.244.1.2']);
    expect(arp['arp.dst.hw_mac']).toEqual(['00:00:00:00:00:00']);
    expect(arp['arp.dst.proto_ipv4']).toEqual(['10.244.1.1']);
    expect(arp['ip.src']).toEqual([]);
  });

  it('raw IP (link type 101): IPv4 and IPv6 packets side by side, and frag-needed MTU', async () => {
    const v6 = new Uint8Array(IPV6_HEADER_LEN + 8);
    setIpv6Version(v6, 0, 6);
    setIpv6TrafficClass(v6, 0, 0xb8);
    setIpv6FlowLabel(v6, 0, 0x1ea9d);
    setIpv6PayloadLength(v6, 0, 8);
    setIpv6NextHeader(v6, 0, 59); // no next header; payload is opaque
    setIpv6HopLimit(v6, 0, 61);
    setIpv6Src(v6, 0, hex('fd00 0010 0244 0001 0000 0000 0000 0002'), 0);
    setIpv6Dst(v6, 0, hex('fd00 0010 0244 0001 0000 0000 0000 0001'), 0);

    const quoted = ipv4('10.244.1.2', '10.244.2.3', 17, new Uint8Array(8 + 1400)).subarray(0, 28);
    const err = new Uint8Array(8 + quoted.length);
    setIcmpv4Type(err, 0, ICMPV4_DEST_UNREACHABLE);
    setIcmpv4Code(err, 0, ICMPV4_FRAG_NEEDED);
    setIcmpv4RestOfHeader(err, 0, 0);
    setIcmpv4Mtu(err, 0, 1450);
    err.set(quoted, 8);
    setIcmpv4Checksum(err, 0, inetChecksum(err, 0, err.length));
    const v4 = ipv4('192.168.0.1', '10.244.1.2', 1, err);

    const rows = await decodeWithTshark([v6, v4], {
      linktype: LINKTYPE_RAW,
      fields: [
        'frame.protocols',
        'ipv6.version',
        'ipv6.tclass',
        'ipv6.flow',
        'ipv6.plen',
        'ipv6.nxt',
        'ipv6.hlim',
        'ipv6.src',
        'ipv6.dst',
        'ip.src',
        'ip.dst',
        'ip.checksum.status',
        'icmp.type',
        'icmp.code',
        'icmp.mtu',
        'icmp.checksum.status',
      ],
    });
    expect(rows).toHaveLength(2);
    const [a, b] = rows as [(typeof rows)[number], (typeof rows)[number]];
    expect(a['frame.protocols']).toEqual(['raw:ipv6:data']);
    expect(a['ipv6.version']).toEqual(['6']);
    expect(a['ipv6.tclass']).toEqual(['0x000000b8']);
    expect(a['ipv6.flow']).toEqual(['0x01ea9d']);
    expect(a['ipv6.plen']).toEqual(['8']);
    expect(a['ipv6.nxt']).toEqual(['59']);
    expect(a['ipv6.hlim']).toEqual(['61']);
    expect(a['ipv6.src']).toEqual(['fd00:10:244:1::2']);
    expect(a['ipv6.dst']).toEqual(['fd00:10:244:1::1']);

    // The quoted datagram is dissected too: its addresses come second.
    expect(b['ip.src']).toEqual(['192.168.0.1', '10.244.1.2']);
    expect(b['ip.dst']).toEqual(['10.244.1.2', '10.244.2.3']);
    expect(b['ip.checksum.status']).toEqual([TSHARK_CHECKSUM.GOOD, TSHARK_CHECKSUM.GOOD]);
    expect(b['icmp.type']).toEqual(['3']);
    expect(b['icmp.code']).toEqual(['4']);
    expect(b['icmp.mtu']).toEqual(['1450']);
    expect(b['icmp.checksum.status']).toEqual([TSHARK_CHECKSUM.GOOD]);
    expect(b['ipv6.src']).toEqual([]);
  });

  it('a cut record: frame.len is the wire length, frame.cap_len what was saved', async () => {
    const path = join(dir, 'cut.pcap');
    await writeFile(path, [pcapHeader(LINKTYPE_ETHERNET, 40), pcapRecord(ECHO_FRAME, 0, 40)]);
    const rows = await decodePcapFile(path, { fields: ['frame.len', 'frame.cap_len', 'ip.src'] });
    expect(rows).toEqual([{ 'frame.len': [String(ECHO_FRAME.length)], 'frame.cap_len': ['40'], 'ip.src': ['10.244.1.2'] }]);
  });
});

// ---- the helper itself, as the encap / decap tests will use it ----

describe.skipIf(skipWithoutTshark('tshark helper'))('tshark helper', () => {
  it('flags bad checksums: IPv4 header, ICMP, UDP', async () => {
    const badIp = ipv4('10.244.1.2', '10.244.2.3', 1, icmpEcho(1, 1, ascii('x')));
    badIp[10] = badIp[10]! ^ 0xff;
    const badIcmp = ipv4('10.244.1.2', '10.244.2.3', 1, icmpEcho(1, 1, ascii('x')));
    badIcmp[22] = badIcmp[22]! ^ 0x01;
    const badUdp = udp4('10.244.1.2', '10.244.2.3', 1234, 5678, ascii('hello'));
    badUdp[26] = badUdp[26]! ^ 0x10;
    const noUdpSum = udp4('10.244.1.2', '10.244.2.3', 1234, 5678, ascii('hello'));
    noUdpSum[20 + 6] = 0;
    noUdpSum[20 + 7] = 0;
    const goodUdp = udp4('10.244.1.2', '10.244.2.3', 1234, 5678, ascii('hello'));
    const rows = await decodeWithTshark([badIp, badIcmp, badUdp, noUdpSum, goodUdp], {
      linktype: LINKTYPE_RAW,
      fields: ['ip.checksum.status', 'icmp.checksum.status', 'udp.checksum.status'],
    });
    expect(rows.map((r) => [r['ip.checksum.status'], r['icmp.checksum.status'], r['udp.checksum.status']])).toEqual([
      [[TSHARK_CHECKSUM.BAD], [TSHARK_CHECKSUM.GOOD], []],
      [[TSHARK_CHECKSUM.GOOD], [TSHARK_CHECKSUM.BAD], []],
      [[TSHARK_CHECKSUM.GOOD], [], [TSHARK_CHECKSUM.BAD]],
      [[TSHARK_CHECKSUM.GOOD], [], [TSHARK_CHECKSUM.NOT_PRESENT]],
      [[TSHARK_CHECKSUM.GOOD], [], [TSHARK_CHECKSUM.GOOD]],
    ]);
  });

  it('decodes VXLAN on a non-default port with decodeAs: VNI, outer and inner headers', async () => {
    const vxlan = new Uint8Array(8 + ECHO_FRAME.length);
    vxlan[0] = 0x08; // I flag
    vxlan[4] = 0x00;
    vxlan[5] = 0x00;
    vxlan[6] = 0x01; // VNI 1 (flannel's default)
    vxlan.set(ECHO_FRAME, 8);
    const outer = ethernet(
      '52:54:00:00:00:02',
      '52:54:00:00:00:01',
      0x0800,
      udp4('192.168.0.1', '192.168.0.2', 40000, 8472, vxlan),
    );
    const fields = [
      'ip.src',
      'ip.dst',
      'ip.proto',
      'ip.checksum.status',
      'udp.srcport',
      'udp.dstport',
      'udp.checksum.status',
      'vxlan.vni',
      'vxlan.flag_i',
      'eth.src',
      'icmp.checksum.status',
    ] as const;
    const [plain] = await decodeWithTshark([outer], { linktype: LINKTYPE_ETHERNET, fields });
    expect(plain?.['vxlan.vni']).toEqual([]);
    const [row] = await decodeWithTshark([outer], {
      linktype: LINKTYPE_ETHERNET,
      fields,
      decodeAs: ['udp.port==8472,vxlan'],
    });
    expect(row).toEqual({
      'ip.src': ['192.168.0.1', '10.244.1.2'],
      'ip.dst': ['192.168.0.2', '10.244.2.3'],
      'ip.proto': ['17', '1'],
      'ip.checksum.status': [TSHARK_CHECKSUM.GOOD, TSHARK_CHECKSUM.GOOD],
      'udp.srcport': ['40000'],
      'udp.dstport': ['8472'],
      'udp.checksum.status': [TSHARK_CHECKSUM.GOOD],
      'vxlan.vni': ['1'],
      'vxlan.flag_i': ['1'],
      'eth.src': ['52:54:00:00:00:01', POD_MAC],
      'icmp.checksum.status': [TSHARK_CHECKSUM.GOOD],
    });
  });

  it('decodes IP-in-IP (protocol 4) without help', async () => {
    const inner = ipv4('10.244.1.2', '10.244.2.3', 1, icmpEcho(9, 9, ascii('ipip')));
    const outer = ipv4('192.168.0.1', '192.168.0.2', 4, inner, { ttl: 63 });
    const [row] = await decodeWithTshark([outer], {
      linktype: LINKTYPE_RAW,
      fields: ['frame.protocols', 'ip.src', 'ip.dst', 'ip.proto', 'ip.ttl', 'ip.checksum.status'],
    });
    expect(row).toEqual({
      'frame.protocols': ['raw:ip:ip:icmp:data'],
      'ip.src': ['192.168.0.1', '10.244.1.2'],
      'ip.dst': ['192.168.0.2', '10.244.2.3'],
      'ip.proto': ['4', '1'],
      'ip.ttl': ['63', '64'],
      'ip.checksum.status': [TSHARK_CHECKSUM.GOOD, TSHARK_CHECKSUM.GOOD],
    });
  });

  /** Runs a decode that must fail; returns its message and removes the capture it kept. */
  async function failure(p: Promise<unknown>): Promise<string> {
    const err = await p.then(
      () => new Error('expected a rejection'),
      (e: unknown) => e as Error,
    );
    const kept = /capture kept at (.+)\)/.exec(err.message)?.[1];
    if (kept !== undefined) await rm(dirname(kept), { recursive: true, force: true });
    return err.message;
  }

  it('fails clearly on an unknown field, keeping the capture', async () => {
    const msg = await failure(
      decodeWithTshark([ECHO_FRAME], { linktype: LINKTYPE_ETHERNET, fields: ['ip.src', 'no.such.field'] }),
    );
    expect(msg).toMatch(/tshark exited with 1[\s\S]*no\.such\.field[\s\S]*capture kept at .*frames\.pcap/);
  });

  it('fails clearly on a bad decode-as rule', async () => {
    const msg = await failure(
      decodeWithTshark([ECHO_FRAME], { linktype: LINKTYPE_ETHERNET, fields: ['ip.src'], decodeAs: ['udp.port==x,vxlan'] }),
    );
    expect(msg).toMatch(/tshark exited with [\s\S]*-d udp\.port==x,vxlan/);
  });
});
