// The kernel underlay socket (src/dataplane/underlay.ts) with sendmmsg
// replaced by an in-memory one: UDP GSO runs, GSO off, the fallbacks when the
// kernel refuses UDP_SEGMENT, partial sends and a full socket buffer, without
// a socket. The receive side's UDP_GRO splitting over 127.0.0.1 (a socket,
// no root).
import { afterEach, describe, expect, it } from 'vitest';
import { DROP_TX_ERROR } from '../../native-free/drop.js';
import { DROPS, GSO_FALLBACKS, GSO_SEGMENTS, GSO_SENDS, ROW, TX_PACKETS, UDP_GRO_DATAGRAMS, UDP_GRO_SEGMENTS } from '../../src/dataplane/counters.js';
import type { SendSys } from '../../src/dataplane/send-queue.js';
import { KernelUnderlay } from '../../src/dataplane/underlay.js';
import { rxSlab } from '../../src/dataplane/slab-layout.js';
import { SyscallError } from '../../src/sys/errors.js';
import { closeQuietly } from '../../src/sys/libc.js';
import { MmsgVector, PacketSlab, sendBatch } from '../../src/sys/mmsg.js';
import { parseIPv4 } from '../../native-free/addr.js';
import { enableUdpGro, localAddress, openUdp, udpGsoSupported, waitReadable } from '../../src/sys/udp.js';

const PEER = 0xc6336402;
const OTHER = 0xc6336403;

interface Entry {
  off: number;
  len: number;
  segment: number;
  addr: number;
}

/**
 * sendmmsg in memory: what each call was given and took, and on which fd;
 * `take` entries per call at most, refusals on demand (`fullFd`/`refuseGsoFd`:
 * only on that socket, the others send).
 */
function fakeSend(o: { take?: number; refuseGso?: boolean; refuseGsoFd?: number; refuseAt?: number; full?: boolean; fullFd?: number } = {}) {
  const calls: Entry[][] = [];
  const callFds: number[] = [];
  const waited: number[] = [];
  const sent: (Entry & { fd: number })[] = [];
  let entries = 0;
  const sys: SendSys = {
    sendBatch(fd: number, v: MmsgVector, first: number, n: number): number {
      const given: Entry[] = [];
      for (let i = first; i < first + n; i++) given.push({ off: v.offset(i), len: v.bufferLength(i), segment: v.sendSegment(i), addr: v.peerAddr(i) });
      calls.push(given);
      callFds.push(fd);
      if (o.full || o.fullFd === fd) return 0;
      if ((o.refuseGso || o.refuseGsoFd === fd) && given[0]!.segment > 0) throw new SyscallError('sendmmsg', 'sendmmsg', 5, 'EIO', 'Input/output error');
      if (o.refuseAt === entries++) throw new SyscallError('sendmmsg', 'sendmmsg', 1, 'EPERM', 'Operation not permitted');
      const took = Math.min(n, o.take ?? n);
      sent.push(...given.slice(0, took).map((e) => ({ ...e, fd })));
      return took;
    },
    waitWritable: (fd: number) => {
      waited.push(fd);
      return false;
    },
  };
  return { sys, calls, callFds, waited, sent };
}

function underlay(sys: SendSys, gso: boolean) {
  const counters = new Float64Array(ROW);
  const txSlab = new PacketSlab({ slots: 1, slotSize: 1 << 17, headroom: 0 });
  const u = new KernelUnderlay({ txFds: [7], sourcePorts: [4789], rxFd: -1, port: 4789, counters, txSlab, sendEntries: 64, gso, rxSlab: null, batch: 64, gro: false, send: sys });
  return { u, counters };
}

/** Source-port entropy: send sockets 11, 12, 13 on ports 40001–40003 (flow f goes out on socket f % 3). */
function entropyUnderlay(sys: SendSys, gso: boolean) {
  const counters = new Float64Array(ROW);
  const txSlab = new PacketSlab({ slots: 1, slotSize: 1 << 17, headroom: 0 });
  const u = new KernelUnderlay({
    txFds: [11, 12, 13], sourcePorts: [40001, 40002, 40003], rxFd: -1, port: 4789, counters, txSlab, sendEntries: 64, gso, rxSlab: null, batch: 64, gro: false, send: sys,
  });
  return { u, counters };
}

/** Three datagrams of 1000 bytes and one of 400, back to back from 0, to PEER; then one of 64 elsewhere to OTHER. */
function queueRun(u: KernelUnderlay): void {
  for (let k = 0; k < 3; k++) u.send(k * 1000, 1000, PEER, 0);
  u.send(3000, 400, PEER, 0);
  u.send(10000, 64, OTHER, 0);
}

describe('KernelUnderlay send', () => {
  it('GSO on: back-to-back same-sized datagrams to one peer leave as one UDP_SEGMENT entry, in one sendmmsg', () => {
    const f = fakeSend();
    const { u, counters } = underlay(f.sys, true);
    queueRun(u);
    expect(f.calls).toEqual([]); // nothing before the round ends
    u.flush();
    expect(f.calls).toEqual([[
      { off: 0, len: 3400, segment: 1000, addr: PEER },
      { off: 10000, len: 64, segment: 0, addr: OTHER },
    ]]);
    expect([counters[TX_PACKETS], counters[GSO_SENDS], counters[GSO_SEGMENTS]]).toEqual([5, 1, 4]);
  });

  it('GSO off: one entry per datagram', () => {
    const f = fakeSend();
    const { u, counters } = underlay(f.sys, false);
    queueRun(u);
    u.flush();
    expect(f.sent.map((e) => [e.len, e.segment])).toEqual([[1000, 0], [1000, 0], [1000, 0], [400, 0], [64, 0]]);
    expect([counters[TX_PACKETS], counters[GSO_SENDS]]).toEqual([5, 0]);
  });

  it('GSO refused (EIO): the entry is resent one datagram at a time, and GSO stays off from then on', () => {
    const f = fakeSend({ refuseGso: true });
    const { u, counters } = underlay(f.sys, true);
    queueRun(u);
    u.flush();
    expect(f.sent.map((e) => [e.off, e.len, e.segment])).toEqual([[0, 1000, 0], [1000, 1000, 0], [2000, 1000, 0], [3000, 400, 0], [10000, 64, 0]]);
    expect([counters[TX_PACKETS], counters[GSO_FALLBACKS], counters[DROPS + DROP_TX_ERROR]]).toEqual([5, 1, 0]);
    expect(u.gso).toBe(false);
    queueRun(u);
    u.flush();
    expect(f.calls.at(-1)!.every((e) => e.segment === 0)).toBe(true);
    expect(counters[GSO_FALLBACKS]).toBe(1);
  });

  it('partial sends: what the kernel did not take is offered again until all went', () => {
    const f = fakeSend({ take: 2 });
    const { u, counters } = underlay(f.sys, false);
    queueRun(u);
    u.flush();
    expect(f.calls.map((c) => c.length)).toEqual([5, 3, 1]);
    expect(f.sent.map((e) => e.off)).toEqual([0, 1000, 2000, 3000, 10000]);
    expect(counters[TX_PACKETS]).toBe(5);
  });

  it('an entry the kernel refuses is a tx_error drop; the ones after it still go', () => {
    const f = fakeSend({ refuseAt: 0 });
    const { u, counters } = underlay(f.sys, true);
    queueRun(u);
    u.flush();
    expect(f.sent.map((e) => e.off)).toEqual([10000]);
    expect([counters[DROPS + DROP_TX_ERROR], counters[TX_PACKETS]]).toEqual([4, 1]); // the GSO entry held 4 datagrams
  });

  it('a socket buffer that stays full: the rest of the round is dropped and counted, datagram by datagram', () => {
    const f = fakeSend({ full: true });
    const { u, counters } = underlay(f.sys, true);
    queueRun(u);
    u.flush();
    expect([counters[DROPS + DROP_TX_ERROR], counters[TX_PACKETS]]).toEqual([5, 0]);
  });
});

describe('KernelUnderlay send, several source ports (--source-ports)', () => {
  it('one flow: every datagram on one socket, in order, and one sendmmsg for the round', () => {
    const f = fakeSend();
    const { u } = entropyUnderlay(f.sys, false);
    for (let k = 0; k < 5; k++) u.send(k * 100, 100, PEER, 0xdeadbeef);
    u.flush();
    const fd = [11, 12, 13][0xdeadbeef % 3]!;
    expect(f.callFds).toEqual([fd]);
    expect(f.sent.map((e) => [e.fd, e.off])).toEqual([0, 100, 200, 300, 400].map((off) => [fd, off]));
    expect(u.sourcePort(0xdeadbeef)).toBe(40001 + (0xdeadbeef % 3));
  });

  it('several flows: spread over the sockets by hash, one sendmmsg per socket that has anything, each flow in order', () => {
    const f = fakeSend();
    const { u, counters } = entropyUnderlay(f.sys, false);
    // Flows 0..5 interleaved, two datagrams each: flows 0 and 3 share socket 11, 1 and 4 socket 12, 2 and 5 socket 13.
    for (let round = 0; round < 2; round++) for (let flow = 0; flow < 6; flow++) u.send((round * 6 + flow) * 100, 100, PEER, flow);
    u.flush();
    expect([...f.callFds].sort()).toEqual([11, 12, 13]);
    for (const [i, fd] of [11, 12, 13].entries()) {
      // Socket i carries flows i and i + 3, in the order they were sent.
      expect(f.sent.filter((e) => e.fd === fd).map((e) => e.off)).toEqual([i, i + 3, 6 + i, 9 + i].map((n) => n * 100));
    }
    expect(counters[TX_PACKETS]).toBe(12);
    // A flow hash is unsigned: one with the top bit set picks a socket as well.
    expect(u.sourcePort(0xffffffff)).toBe(40001 + (0xffffffff % 3));
  });

  it('GSO runs are cut per socket: back-to-back same-sized datagrams to one peer join only while the flow\'s socket stays the same', () => {
    const f = fakeSend();
    const { u, counters } = entropyUnderlay(f.sys, true);
    // Flow 0 (socket 11) three datagrams, then flow 1 (socket 12) two, then flow 0 again one: back to back in the buffer.
    [0, 0, 0, 1, 1, 0].forEach((flow, k) => u.send(k * 1000, 1000, PEER, flow));
    // Flow 3 is on socket 11 too: same socket (one source port), same peer, back to back: it joins flow 0's last run.
    u.send(6000, 1000, PEER, 3);
    u.flush();
    const bySocket = (fd: number) => f.sent.filter((e) => e.fd === fd).map((e) => [e.off, e.len, e.segment]);
    expect(bySocket(11)).toEqual([[0, 3000, 1000], [5000, 2000, 1000]]);
    expect(bySocket(12)).toEqual([[3000, 2000, 1000]]);
    expect(f.callFds.sort()).toEqual([11, 12]);
    expect([counters[TX_PACKETS], counters[GSO_SENDS], counters[GSO_SEGMENTS]]).toEqual([7, 3, 7]);
  });

  it('a full buffer on one socket: its datagrams are dropped and counted after waiting on that socket; the others still go', () => {
    const f = fakeSend({ fullFd: 12 });
    const { u, counters } = entropyUnderlay(f.sys, false);
    for (let flow = 0; flow < 6; flow++) u.send(flow * 100, 100, PEER, flow);
    u.flush();
    expect(f.waited).toEqual([12]);
    expect(f.sent.map((e) => e.fd).sort()).toEqual([11, 11, 13, 13]);
    expect([counters[TX_PACKETS], counters[DROPS + DROP_TX_ERROR]]).toEqual([4, 2]);
  });

  it('GSO refused on one socket: that run is resent datagram by datagram on that socket, and GSO stays off for every socket of the worker', () => {
    const f = fakeSend({ refuseGsoFd: 11 });
    const { u, counters } = entropyUnderlay(f.sys, true);
    [0, 0, 0].forEach((flow, k) => u.send(k * 1000, 1000, PEER, flow)); // socket 11: refused
    [1, 1].forEach((flow, k) => u.send(5000 + k * 1000, 1000, OTHER, flow)); // socket 12
    u.flush();
    expect(f.sent.filter((e) => e.fd === 11).map((e) => [e.off, e.len, e.segment])).toEqual([[0, 1000, 0], [1000, 1000, 0], [2000, 1000, 0]]);
    expect(counters[GSO_FALLBACKS]).toBe(1);
    expect(u.gso).toBe(false);
    const before = f.sent.length;
    [1, 1].forEach((flow, k) => u.send(k * 1000, 1000, OTHER, flow));
    u.flush();
    expect(f.sent.slice(before).map((e) => [e.fd, e.segment])).toEqual([[12, 0], [12, 0]]);
    expect(counters[DROPS + DROP_TX_ERROR]).toBe(0);
  });

  it('refuses a socket list that does not match its ports', () => {
    const counters = new Float64Array(ROW);
    const txSlab = new PacketSlab({ slots: 1, slotSize: 1 << 12, headroom: 0 });
    const base = { rxFd: -1, port: 4789, counters, txSlab, sendEntries: 8, gso: false, rxSlab: null, batch: 8, gro: false };
    expect(() => new KernelUnderlay({ ...base, txFds: [1, 2], sourcePorts: [40001] })).toThrow(/2 send sockets and 1 source ports/);
    expect(() => new KernelUnderlay({ ...base, txFds: [], sourcePorts: [] })).toThrow(/at least one/);
  });
});

describe('KernelUnderlay receive over 127.0.0.1', () => {
  const fds: number[] = [];
  afterEach(() => {
    for (const fd of fds.splice(0)) closeQuietly(fd);
  });

  function pair(gro: boolean) {
    const rx = openUdp('127.0.0.1', 0, { rcvBuf: 4 << 20 });
    const tx = openUdp('127.0.0.1', 0);
    fds.push(rx, tx);
    if (gro) enableUdpGro(rx);
    const counters = new Float64Array(ROW);
    const mem = rxSlab(8, 2048, 0);
    const txSlab = new PacketSlab({ slots: 1, slotSize: 1 << 16, headroom: 0 });
    const u = new KernelUnderlay({ txFds: [tx], sourcePorts: [localAddress(tx).port], rxFd: rx, port: localAddress(rx).port, counters, txSlab, sendEntries: 8, gso: true, rxSlab: mem.slab, batch: 8, gro, send: { sendBatch, waitWritable: () => false } });
    return { u, counters, txSlab, rx, from: localAddress(tx).port };
  }

  function received(u: KernelUnderlay, rx: number): { len: number; first: number; from: number; fromPort: number }[] {
    const out: { len: number; first: number; from: number; fromPort: number }[] = [];
    while (waitReadable(rx, 200) && u.receive() > 0) {
      const d = u.datagram;
      while (u.next()) out.push({ len: d.length, first: d.buf[d.offset]!, from: d.from, fromPort: d.fromPort });
    }
    return out;
  }

  const canGso = (() => {
    const fd = openUdp('127.0.0.1', 0);
    try {
      return udpGsoSupported(fd);
    } finally {
      closeQuietly(fd);
    }
  })();

  it.skipIf(!canGso)('UDP_GRO on: a coalesced entry is handed out datagram by datagram, with the sender', () => {
    const r = pair(true);
    for (let k = 0; k < 4; k++) r.txSlab.buf[k * 1000] = k + 1;
    for (let k = 0; k < 3; k++) r.u.send(k * 1000, 1000, parseIPv4('127.0.0.1'), 0);
    r.u.send(3000, 400, parseIPv4('127.0.0.1'), 0);
    r.u.flush();
    const lo = parseIPv4('127.0.0.1');
    expect(received(r.u, r.rx)).toEqual([1, 2, 3, 4].map((first) => ({ len: first === 4 ? 400 : 1000, first, from: lo, fromPort: r.from })));
    // Loopback hands a GSO send to a GRO socket whole: one entry of 4 datagrams.
    expect([r.counters[UDP_GRO_DATAGRAMS], r.counters[UDP_GRO_SEGMENTS]]).toEqual([1, 4]);
  });
});
