// The Linux kernel's VXLAN over IPv6 as the peer, programmed the way flannel
// programs flannel-v6.1 (static neighbour, FDB entry to the peer's
// PublicIPv6, nolearning, default offloads and checksums): the engine's
// v6-in-v6 frame must be accepted by it (UDP checksum over IPv6 good, the v6
// VTEP MAC right), and the kernel's answer must pass decapVxlan6 with
// anti-spoofing on. Two namespaces (test/sys/netns.ts: wefttest-sys-*,
// fd00::/8 only), nothing in the root namespace; node A is played by the
// engine from a packet socket, node B is the kernel.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseIPv6 } from '../../native-free/addr.js';
import { checksum, fold, sum16 } from '../../native-free/checksum.js';
import { decapVxlan6 } from '../../native-free/decap/vxlan.js';
import { FORWARD, reasonName } from '../../native-free/drop.js';
import { encapVxlan } from '../../native-free/encap/vxlan.js';
import { ipv6PseudoHeaderSum } from '../../native-free/header/ipv6.js';
import { A, B, decapAt6, encapAt6 } from '../helpers/engine.js';
import { ipv6Packet } from '../helpers/packets.js';
import { cleanupAll, cleanupStale, isRoot, makeNs, sh, veth6 } from '../sys/netns.js';

const ip6 = parseIPv6;
const UL_A = 'fd00:198:51:100::1';
const UL_B = 'fd00:198:51:100::2';
const nodeA = { ...A, underlay6: ip6(UL_A) };
const nodeB = { ...B, underlay6: ip6(UL_B) };
const PEERS = [nodeA, nodeB];

const havePython = (() => {
  try {
    execFileSync('python3', ['-c', 'import socket'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

// Sends one Ethernet frame on wt0 and prints (hex) the first IPv6/UDP datagram to port 4789 from the peer, within 5 s.
const PY = `
import socket, sys, time, binascii
frame = binascii.unhexlify(sys.argv[1]); peer = socket.inet_pton(socket.AF_INET6, sys.argv[2])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)); s.bind(('wt0', 0)); s.settimeout(0.5)
s.send(frame)
end = time.time() + 5
while time.time() < end:
    try:
        p = s.recv(65535)
    except socket.timeout:
        continue
    if p[12:14] == b'\\x86\\xdd' and p[14 + 6] == 17 and p[14 + 8:14 + 24] == peer and p[14 + 42:14 + 44] == b'\\x12\\xb5':
        print(binascii.hexlify(p[14:]).decode()); sys.exit(0)
sys.exit(3)
`;

describe.skipIf(!isRoot() || !havePython)('kernel VXLAN over IPv6 (flannel-v6.1) as the peer', () => {
  let a = '';
  let b = '';
  const macOf = (ns: string) => (JSON.parse(sh('ip', ['-n', ns, '-j', 'link', 'show', 'wt0'])) as Array<{ address: string }>)[0]!.address;

  beforeAll(() => {
    cleanupStale();
    a = makeNs();
    b = makeNs();
    veth6(a, UL_A, b, UL_B);
    const ipB = (...args: string[]) => sh('ip', ['-n', b, ...args]);
    ipB('link', 'add', 'flannel-v6.1', 'address', '02:00:00:06:02:02', 'type', 'vxlan', 'id', '1', 'local', UL_B, 'dstport', '4789', 'nolearning');
    ipB('-6', 'addr', 'add', 'fd00:244:2::/128', 'dev', 'flannel-v6.1', 'nodad');
    ipB('link', 'set', 'flannel-v6.1', 'up');
    ipB('-6', 'neigh', 'replace', 'fd00:244:1::', 'lladdr', '02:00:00:06:01:01', 'dev', 'flannel-v6.1', 'nud', 'permanent');
    ipB('-6', 'route', 'replace', 'fd00:244:1::/64', 'via', 'fd00:244:1::', 'dev', 'flannel-v6.1', 'onlink');
    sh('ip', ['netns', 'exec', b, 'bridge', 'fdb', 'append', '02:00:00:06:01:01', 'dev', 'flannel-v6.1', 'dst', UL_A]);
  });
  afterAll(() => cleanupAll());

  it('accepts the engine\'s v6-in-v6 echo request and its reply passes decapVxlan6 with anti-spoofing on', () => {
    // ICMPv6 echo request from A's tunnel address to B's.
    const echo = Uint8Array.from([128, 0, 0, 0, 0x77, 0x36, 0, 1, ...Buffer.from('weft-v6-kernel-interop')]);
    const inner = ipv6Packet(ip6('fd00:244:1::'), ip6('fd00:244:2::'), echo);
    inner[6] = 58;
    const c = checksum(inner, 40, echo.length, ipv6PseudoHeaderSum(inner, 0, 58, echo.length));
    inner[42] = c >> 8;
    inner[43] = c & 0xff;
    const ctx = encapAt6(nodeA, {}, PEERS);
    const buf = new Uint8Array(80 + inner.length);
    buf.set(inner, 80);
    expect(encapVxlan(ctx, buf, 80, inner.length)).toBe(FORWARD);
    const outer = buf.subarray(ctx.result.offset, ctx.result.offset + ctx.result.length);
    const eth = Buffer.concat([Buffer.from(macOf(b).replace(/:/g, ''), 'hex'), Buffer.from(macOf(a).replace(/:/g, ''), 'hex'), Buffer.from([0x86, 0xdd]), Buffer.from(outer)]);
    const reply = Buffer.from(sh('ip', ['netns', 'exec', a, 'python3', '-c', PY, eth.toString('hex'), UL_B]).trim(), 'hex');

    // The kernel's frame: outer IPv6 from B's underlay, a UDP checksum present (udp6zerocsumtx off).
    // Seen on a veth at default offloads it is still partial (CHECKSUM_PARTIAL: the pseudo-header
    // sum only, the receiver's NIC or stack completes it), or whole when the kernel filled it.
    const r = Uint8Array.from(reply);
    expect(r.subarray(8, 24)).toEqual(ip6(UL_B));
    expect(r.subarray(24, 40)).toEqual(ip6(UL_A));
    const udpLen = (r[44]! << 8) | r[45]!;
    const field = (r[46]! << 8) | r[47]!;
    expect(field).not.toBe(0);
    const whole = sum16(r, 40, udpLen, ipv6PseudoHeaderSum(r, 0, 17, udpLen)) === 0xffff;
    expect(whole || field === fold(ipv6PseudoHeaderSum(r, 0, 17, udpLen))).toBe(true);
    // The kernel's VXLAN sends flow label 0 by default (label_policy fixed, label 0): what outer6.ts's comment says.
    expect(((r[1]! & 0x0f) << 16) | (r[2]! << 8) | r[3]!).toBe(0);
    // Inner Ethernet: from B's v6 device MAC to the v6 MAC we advertised (the neighbour entry).
    expect(r.subarray(56, 62)).toEqual(nodeA.mac6);
    expect(r.subarray(62, 68)).toEqual(Uint8Array.from([2, 0, 0, 6, 2, 2]));

    const dec = decapAt6(nodeA, { peers: PEERS });
    expect(reasonName(decapVxlan6(dec, r, 48, r.length - 48, r, 8))).toBe('forward');
    const got = r.subarray(dec.result.offset, dec.result.offset + dec.result.length);
    expect(got[40]).toBe(129); // echo reply
    expect(got.subarray(8, 24)).toEqual(ip6('fd00:244:2::'));
    expect(got.subarray(24, 40)).toEqual(ip6('fd00:244:1::'));
    expect(Buffer.from(got.subarray(48)).toString()).toBe('weft-v6-kernel-interop');
  });

  it('drops the same frame with its UDP checksum zeroed (udp6zerocsumrx off): why outer6.ts always fills it', () => {
    const inner = ipv6Packet(ip6('fd00:244:1::'), ip6('fd00:244:2::'), Uint8Array.from([128, 0, 0, 0, 0x77, 0x37, 0, 1]));
    inner[6] = 58;
    const c = checksum(inner, 40, 8, ipv6PseudoHeaderSum(inner, 0, 58, 8));
    inner[42] = c >> 8;
    inner[43] = c & 0xff;
    const ctx = encapAt6(nodeA, {}, PEERS);
    const buf = new Uint8Array(80 + inner.length);
    buf.set(inner, 80);
    expect(encapVxlan(ctx, buf, 80, inner.length)).toBe(FORWARD);
    const outer = Uint8Array.from(buf.subarray(ctx.result.offset, ctx.result.offset + ctx.result.length));
    outer[46] = 0;
    outer[47] = 0;
    const eth = Buffer.concat([Buffer.from(macOf(b).replace(/:/g, ''), 'hex'), Buffer.from(macOf(a).replace(/:/g, ''), 'hex'), Buffer.from([0x86, 0xdd]), Buffer.from(outer)]);
    let status = 0;
    try {
      sh('ip', ['netns', 'exec', a, 'python3', '-c', PY, eth.toString('hex'), UL_B]);
    } catch (e) {
      status = (e as { status?: number }).status ?? -1;
    }
    expect(status).toBe(3); // no answer within 5 s
  });
});
