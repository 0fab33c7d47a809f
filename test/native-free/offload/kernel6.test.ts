// The IPv6 offloads against the real kernel (needs root, tshark, /usr/bin/python3
// with scapy): a TUN with IFF_VNET_HDR and TUN_F_CSUM|TSO4|TSO6|TSO_ECN|USO4|USO6 in
// a test namespace (fixtures/tun6.py).
//   read:  what the kernel hands over for a TCP send and a UDP_SEGMENT send
//          over IPv6 (GSO_TCPV6, GSO_UDP_L4 with csum_start 40) is cut by
//          tunReadToPackets into segments tshark finds correct;
//   write: the engine's coalesced GSO_TCPV6 and GSO_UDP_L4/IPv6 super-packets
//          are taken by the kernel's TUN, forwarded out of a veth with TSO, GSO
//          and checksum offload off, so the kernel cuts them in software - and
//          a capture in the next namespace shows every piece with a good
//          checksum, in order.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { GRO_HELD, createGroState, groAdd, groFinish } from '../../../native-free/offload/gro.js';
import { createUdpGroState, udpGroAdd, udpGroFinish } from '../../../native-free/offload/gro-udp.js';
import { OFFLOAD_OK } from '../../../native-free/offload/reasons.js';
import { createOffloadResult, createTsoSlab, tunReadToPackets } from '../../../native-free/offload/tso.js';
import { LINKTYPE_RAW } from '../../../native-free/pcap.js';
import { TSHARK_CHECKSUM, decodePcapFile, decodeWithTshark, haveTshark } from '../../helpers/tshark.js';
import { cleanupAll, cleanupStale, inNs, isRoot, makeNs, sh, veth6 } from '../../sys/netns.js';
import { addr, base6, tcp6Super, udp6Super } from './ip6.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/tun6.py', import.meta.url));
/** The system Python, where scapy is installed (a python3 earlier on PATH, e.g. pyenv's, may lack it). */
const PYTHON = '/usr/bin/python3';
const haveScapy = (): boolean => spawnSync(PYTHON, ['-c', 'import scapy.all'], { stdio: 'ignore' }).status === 0;
const le16 = (b: Uint8Array, at: number) => b[at]! | (b[at + 1]! << 8);

function cut(read: Uint8Array): { code: number; pkts: Uint8Array[] } {
  const slab = createTsoSlab(64, 1600, 0, 1664);
  const r = createOffloadResult(64);
  const code = tunReadToPackets(read, 0, read.length, slab, r);
  const pkts: Uint8Array[] = [];
  if (code === OFFLOAD_OK) for (let i = 0; i < r.count; i++) pkts.push(r.buf.slice(r.offsets[i]!, r.offsets[i]! + r.lengths[i]!));
  return { code, pkts };
}

describe.skipIf(!isRoot() || !haveTshark() || !haveScapy())('IPv6 offloads against the kernel TUN', () => {
  let a = '';
  let b = '';
  let dir = '';
  beforeAll(() => {
    cleanupStale();
    dir = mkdtempSync(join(tmpdir(), 'wefttest-kernel6-'));
    a = makeNs();
    b = makeNs();
    veth6(a, 'fd00:97::1', b, 'fd00:97::2');
    inNs(a, 'sysctl', ['-qw', 'net.ipv6.conf.all.forwarding=1']);
    // No TSO, GSO or checksum offload on the way out: the kernel cuts and checksums in software.
    inNs(a, 'ethtool', ['-K', 'wt0', 'tso', 'off', 'gso', 'off', 'tx', 'off']);
    const mac = (JSON.parse(sh('ip', ['-n', b, '-j', 'link', 'show', 'wt0'])) as Array<{ address: string }>)[0]!.address;
    sh('ip', ['-n', a, '-6', 'neigh', 'replace', 'fd00:97::5', 'lladdr', mac, 'dev', 'wt0', 'nud', 'permanent']);
  });
  afterAll(() => {
    cleanupAll();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  it('reads: GSO_TCPV6 and GSO_UDP_L4 over IPv6 as the kernel hands them, cut into segments with good checksums', async () => {
    const said = JSON.parse(inNs(a, PYTHON, [FIXTURE, 'read', dir]).trim().split('\n').pop()!) as { uso6: number; tso6: number };
    expect(said.uso6).toBeGreaterThan(10 + 48 + 1200);
    expect(said.tso6).toBeGreaterThan(10 + 60 + 1440);
    const tso = new Uint8Array(readFileSync(join(dir, 'tso6.read')));
    const uso = new Uint8Array(readFileSync(join(dir, 'uso6.read')));
    // The header as the kernel writes it (virtio_net_hdr_from_skb): NEEDS_CSUM, the v6 transport header at 40.
    expect([tso[0], tso[1]! & 0x7f, le16(tso, 4), le16(tso, 6), le16(tso, 8)]).toEqual([1, 4, 1440, 40, 16]);
    expect([uso[0], uso[1], le16(uso, 4), le16(uso, 6), le16(uso, 8)]).toEqual([1, 5, 1200, 40, 6]);
    const t = cut(tso);
    const u = cut(uso);
    expect([t.code, u.code]).toEqual([OFFLOAD_OK, OFFLOAD_OK]);
    expect(u.pkts.length).toBe(10);
    expect(t.pkts.length).toBe(Math.ceil((tso.length - 10 - 60) / 1440));
    const rows = await decodeWithTshark([...t.pkts, ...u.pkts], { linktype: LINKTYPE_RAW, fields: ['tcp.checksum.status', 'udp.checksum.status', 'tcp.len', 'udp.length'] });
    rows.forEach((row, i) => {
      if (i < t.pkts.length) {
        expect(row['tcp.checksum.status']).toEqual([TSHARK_CHECKSUM.GOOD]);
        if (i < t.pkts.length - 1) expect(row['tcp.len']).toEqual(['1440']);
      } else {
        expect(row['udp.checksum.status']).toEqual([TSHARK_CHECKSUM.GOOD]);
        expect(row['udp.length']).toEqual(['1208']);
      }
    });
  });

  it('writes: coalesced GSO_TCPV6 and GSO_UDP_L4/IPv6 super-packets are taken, forwarded and cut by the kernel, every piece good', async () => {
    const flow = { src: addr(0xfd00, 0x99, 0, 0, 0, 0, 0, 5), dst: addr(0xfd00, 0x97, 0, 0, 0, 0, 0, 5), hop: 64 };
    const tcpSpec = base6({ ...flow, payload: Uint8Array.from({ length: 14000 }, (_, i) => (i * 7 + 3) & 255), gsoSize: 1400 });
    const udpSpec = base6({ ...flow, sport: 4433, dport: 50000, payload: Uint8Array.from({ length: 12000 }, (_, i) => (i * 13 + 5) & 255), gsoSize: 1200 });
    const g = createGroState();
    for (const p of cut(tcp6Super(tcpSpec)).pkts) expect(groAdd(g, p, 0, p.length)).toBe(GRO_HELD);
    const n = groFinish(g);
    writeFileSync(join(dir, 'gro6.write'), g.out.subarray(g.base, g.base + n));
    const ug = createUdpGroState();
    for (const p of cut(udp6Super(udpSpec)).pkts) expect(udpGroAdd(ug, p, 0, p.length)).toBe(GRO_HELD);
    const m = udpGroFinish(ug);
    writeFileSync(join(dir, 'gro-udp6.write'), ug.out.subarray(ug.base, ug.base + m));

    const pcap = join(dir, 'b.pcap');
    const cap = spawn('ip', ['netns', 'exec', b, 'tshark', '-i', 'wt0', '-w', pcap, '-a', 'duration:8', '-f', 'ip6 dst fd00:97::5'], { stdio: ['ignore', 'ignore', 'pipe'] });
    const capturing = new Promise<void>((resolve) => cap.stderr!.on('data', (d: Buffer) => d.toString().includes('Capturing on') && resolve()));
    const done = new Promise<void>((resolve) => cap.on('exit', () => resolve()));
    await capturing;
    const lines = inNs(a, PYTHON, [FIXTURE, 'write', dir, 'gro6.write', 'gro-udp6.write']).trim().split('\n').map((l) => JSON.parse(l) as { written?: number; length: number });
    expect(lines.map((l) => l.written)).toEqual([n, m]);
    await done;
    const rows = await decodePcapFile(pcap, {
      fields: ['ipv6.hlim', 'tcp.checksum.status', 'tcp.seq_raw', 'tcp.len', 'udp.checksum.status', 'udp.length'],
      prefs: ['tcp.relative_sequence_numbers:FALSE', 'tcp.analyze_sequence_numbers:FALSE'],
    });
    const tcp = rows.filter((r) => r['tcp.len'].length > 0);
    const udp = rows.filter((r) => r['udp.length'].length > 0);
    expect(tcp.map((r) => [r['tcp.checksum.status'][0], r['tcp.seq_raw'][0], r['tcp.len'][0], r['ipv6.hlim'][0]])).toEqual(
      Array.from({ length: 10 }, (_, i) => [TSHARK_CHECKSUM.GOOD, String(0x10000000 + i * 1400), '1400', '63']),
    );
    expect(udp.map((r) => [r['udp.checksum.status'][0], r['udp.length'][0]])).toEqual(Array.from({ length: 10 }, () => [TSHARK_CHECKSUM.GOOD, '1208']));
  }, 30_000);
});
