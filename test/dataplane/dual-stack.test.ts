// The loops of a dual-stack worker over the in-memory fakes (no fd, no root):
// IPv6 pods go to the IPv6 underlay, addressed by peer id; IPv4 pods to the
// IPv4 one; datagrams from an IPv6 sender are decapsulated by its address;
// a too-big IPv6 packet is answered with an ICMPv6 packet-too-big; and the
// IPv6 send queue turns peer ids into sockaddr_in6 addresses.
import { describe, expect, it } from 'vitest';
import { decapVxlan6 } from '../../native-free/decap/vxlan.js';
import { DROP_TOO_BIG, DROP_UNKNOWN_PEER } from '../../native-free/drop.js';
import { VXLAN_PAYLOAD_OVERHEAD, encapVxlan } from '../../native-free/encap/vxlan.js';
import { CaptureRing, createCaptureState } from '../../src/dataplane/capture-ring.js';
import { CaptureTap } from '../../src/dataplane/capture-tap.js';
import { DROPS, ROW } from '../../src/dataplane/counters.js';
import { RxPath } from '../../src/dataplane/rx-path.js';
import { SendQueue } from '../../src/dataplane/send-queue.js';
import { TxPath } from '../../src/dataplane/tx-path.js';
import { MmsgVector, PacketSlab } from '../../src/sys/mmsg.js';
import { A, B, decapAt6, encapAt6 } from '../helpers/engine.js';
import { ipv4Packet, ipv6Packet } from '../helpers/packets.js';
import { FakeTun, FakeUnderlay } from './fakes.js';

const H = VXLAN_PAYLOAD_OVERHEAD;
const B_ID = 1; // B's index in NODES: its peer id
const podA6 = Uint8Array.from([...A.subnet6.slice(0, 15), 5]);
const podB6 = Uint8Array.from([...B.subnet6.slice(0, 15), 7]);

function udp6(size: number): Uint8Array {
  // A UDP datagram (checksum 0 marks "not computed" in this test payload: only routing is looked at).
  const payload = new Uint8Array(size - 40);
  payload[0] = 0x30;
  payload[1] = 0x39;
  payload[2] = 0x00;
  payload[3] = 0x35;
  payload[4] = (size - 40) >> 8;
  payload[5] = (size - 40) & 0xff;
  const p = ipv6Packet(podA6, podB6, payload);
  p[6] = 17;
  return p;
}

function rig() {
  const tun = new FakeTun(H);
  const u4 = new FakeUnderlay(tun);
  const u6 = new FakeUnderlay(tun);
  const ctx = encapAt6(A, { outerHeaders: false, udpChecksum: false });
  const counters = new Float64Array(ROW);
  const cap = createCaptureState(1);
  const tap = new CaptureTap(cap.control, new CaptureRing(cap.rings[0]!), 'vxlan');
  const tx = new TxPath({ tun, underlay: u4, underlay6: u6, tunnelAddr6: A.subnet6, ctx, encap: encapVxlan, counters, tunnelAddr: A.subnet, tap, batch: 64 });
  return { tun, u4, u6, tx, counters, tap };
}

describe('a dual-stack worker over fakes', () => {
  it('sends IPv6 pods to the IPv6 underlay by peer id and IPv4 pods to the IPv4 one, each flushed', () => {
    const r = rig();
    r.tun.push(udp6(200), ipv4Packet({ src: A.subnet + 5, dst: B.subnet + 7, payload: new Uint8Array(80) }), udp6(300));
    r.tx.pump();
    expect(r.u6.sent.map((s) => s.addr)).toEqual([B_ID, B_ID]);
    expect(r.u4.sent.map((s) => s.addr)).toEqual([B.underlay]);
    expect([r.u4.flushes, r.u6.flushes]).toEqual([1, 1]);
    // What went over IPv6 is B's v6 VTEP's frame: B's IPv6 side takes it back.
    const d = r.u6.sent[0]!.bytes;
    const b = new Uint8Array(64 + d.length);
    b.set(d, 64);
    const ctxB = decapAt6(B);
    expect(decapVxlan6(ctxB, b, 64, d.length, A.underlay6, 0)).toBe(0);
    expect(b.slice(ctxB.result.offset, ctxB.result.offset + ctxB.result.length)).toEqual(udp6(200));
  });

  it('answers an IPv6 packet over the IPv6 tunnel MTU with an ICMPv6 packet-too-big from the IPv6 tunnel address', () => {
    const r = rig();
    r.tun.push(udp6(1440)); // mtu6 1430
    r.tx.pump();
    expect(r.u6.sent).toHaveLength(0);
    expect(r.counters[DROPS + DROP_TOO_BIG]).toBe(1);
    const w = r.tun.written[0]!;
    expect(w[0]! >>> 4).toBe(6);
    expect(w[6]).toBe(58); // ICMPv6
    expect(w.slice(8, 24)).toEqual(A.subnet6);
    expect(w.slice(24, 40)).toEqual(podA6);
    expect([w[40], w[41]]).toEqual([2, 0]); // packet too big
    expect((w[44]! << 24) | (w[45]! << 16) | (w[46]! << 8) | w[47]!).toBe(1430);
  });

  it('decapsulates what the IPv6 socket receives by the sender\'s IPv6 address; an unknown one is a counted drop', () => {
    const tx = rig();
    tx.tun.push(udp6(200));
    tx.tx.pump();
    const frame = tx.u6.sent[0]!.bytes;
    const tun = new FakeTun(H);
    const u6 = new FakeUnderlay(tun);
    const counters = new Float64Array(ROW);
    const cap = createCaptureState(1);
    const tap = new CaptureTap(cap.control, new CaptureRing(cap.rings[0]!), 'vxlan');
    const rx = new RxPath({ underlay: u6, tun, ctx: decapAt6(B), decap: () => -1, decap6: decapVxlan6, counters, tap, local: 0, localPort: 4789 });
    u6.push6(frame, A.underlay6);
    u6.push6(frame, Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 0x99]));
    rx.pump();
    expect(tun.delivered).toEqual([udp6(200)]);
    expect(counters[DROPS + DROP_UNKNOWN_PEER]).toBe(1);
  });
});

describe('SendQueue over IPv6', () => {
  it("writes each entry's sockaddr_in6 from the peer table by peer id (GSO runs and the one-by-one fallback alike)", () => {
    const slab = new PacketSlab({ slots: 1, slotSize: 4096, headroom: 0 });
    const sent: Array<{ family: number; n: number }> = [];
    const addrs: string[] = [];
    const peers = { writeUnderlay6: (id: number, dst: Uint8Array, off: number) => dst.set(id === 3 ? B.underlay6 : A.underlay6, off) };
    const q = new SendQueue(slab, 8, 99, new Float64Array(ROW), { on: true }, {
      sendBatch: (_fd: number, v: MmsgVector, first: number, n: number) => {
        sent.push({ family: v.family, n });
        for (let i = first; i < first + n; i++) addrs.push(sockaddr6Of(v, i));
        return n;
      },
      waitWritable: () => true,
    }, peers);
    q.add(0, 100, 3, 4789, 0, 1);
    q.add(100, 100, 3, 4789, 0, 1);
    q.flush();
    expect(sent).toEqual([{ family: 6, n: 2 }]);
    expect(addrs).toEqual([Buffer.from(B.underlay6).toString('hex'), Buffer.from(B.underlay6).toString('hex')]);
  });
});

/** The address an IPv6 vector's entry i holds (its msg_name: the destination of a send, the sender of a receive). */
function sockaddr6Of(v: MmsgVector, i: number): string {
  const a = new Uint8Array(16);
  v.peerAddr6(i, a, 0);
  return Buffer.from(a).toString('hex');
}
