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

/** sendmmsg in memory: what each call was given and took; `take` entries per call at most, refusals on demand. */
function fakeSend(o: { take?: number; refuseGso?: boolean; refuseAt?: number; full?: boolean } = {}) {
  const calls: Entry[][] = [];
  const sent: Entry[] = [];
  let entries = 0;
  const sys: SendSys = {
    sendBatch(_fd: number, v: MmsgVector, first: number, n: number): number {
      const given: Entry[] = [];
      for (let i = first; i < first + n; i++) given.push({ off: v.offset(i), len: v.bufferLength(i), segment: v.sendSegment(i), addr: v.peerAddr(i) });
      calls.push(given);
      if (o.full) return 0;
      if (o.refuseGso && given[0]!.segment > 0) throw new SyscallError('sendmmsg', 'sendmmsg', 5, 'EIO', 'Input/output error');
      if (o.refuseAt === entries++) throw new SyscallError('sendmmsg', 'sendmmsg', 1, 'EPERM', 'Operation not permitted');
      const took = Math.min(n, o.take ?? n);
      sent.push(...given.slice(0, took));
      return took;
    },
    waitWritable: () => false,
  };
  return { sys, calls, sent };
}

function underlay(sys: SendSys, gso: boolean) {
  const counters = new Float64Array(ROW);
  const txSlab = new PacketSlab({ slots: 1, slotSize: 1 << 17, headroom: 0 });
  const u = new KernelUnderlay({ txFds: [7], sourcePorts: [4789], rxFd: -1, port: 4789, counters, txSlab, sendEntries: 64, gso, rxSlab: null, batch: 64, gro: false, send: sys });
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
