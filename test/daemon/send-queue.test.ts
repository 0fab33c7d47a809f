// The worker's send side over 127.0.0.1 (no root): datagrams and GSO runs in
// one flush, counted; and the fallback when the kernel refuses UDP_SEGMENT,
// provoked for real with SO_NO_CHECK (a GSO send then fails with EINVAL).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DROP_TX_ERROR } from '../../native-free/drop.js';
import { DROPS, GSO_FALLBACKS, GSO_SEGMENTS, GSO_SENDS, ROW, TX_PACKETS } from '../../src/dataplane/counters.js';
import { SendQueue } from '../../src/dataplane/send-queue.js';
import { SOL_SOCKET, SO_NO_CHECK } from '../../src/sys/constants.js';
import { closeQuietly } from '../../src/sys/libc.js';
import { MmsgVector, PacketSlab, recvBatch } from '../../src/sys/mmsg.js';
import { parseIPv4 } from '../../native-free/addr.js';
import { setIntOption } from '../../src/sys/socket.js';
import { localAddress, openUdp, udpGsoSupported, waitReadable } from '../../src/sys/udp.js';

const LO = parseIPv4('127.0.0.1');

function kernelHasGso(): boolean {
  const fd = openUdp('127.0.0.1', 0);
  try {
    return udpGsoSupported(fd);
  } finally {
    closeQuietly(fd);
  }
}

describe('SendQueue', () => {
  let tx = -1;
  let rx = -1;
  let port = 0;
  const slab = new PacketSlab({ slots: 1, slotSize: 1 << 16, headroom: 0 });
  const rslab = new PacketSlab({ slots: 64, slotSize: 2048, headroom: 0 });
  const rvec = new MmsgVector(rslab, 64);
  rvec.armRecvAll();

  beforeEach(() => {
    tx = openUdp('127.0.0.1', 0);
    rx = openUdp('127.0.0.1', 0, { rcvBuf: 4 << 20 });
    port = localAddress(rx).port;
  });
  afterEach(() => {
    closeQuietly(tx);
    closeQuietly(rx);
  });

  /** Every datagram waiting on rx: lengths and first bytes. */
  function received(): { len: number; first: number }[] {
    const out: { len: number; first: number }[] = [];
    while (waitReadable(rx, 200)) {
      const n = recvBatch(rx, rvec);
      if (n === 0) break;
      for (let i = 0; i < n; i++) out.push({ len: rvec.length(i), first: rslab.buf[rvec.offset(i)]! });
    }
    return out;
  }

  /** 3 datagrams of 1000 bytes and one of 400 back to back at `off`, first bytes 1, 2, 3, 4. */
  function run(off: number): void {
    for (let k = 0; k < 4; k++) slab.buf[off + k * 1000] = k + 1;
  }

  it.skipIf(!kernelHasGso())('sends plain datagrams and a GSO run in one flush, counting datagrams', () => {
    const counters = new Float64Array(ROW);
    const q = new SendQueue(slab, 8, tx, counters, { on: true });
    run(0);
    q.add(0, 3400, LO, port, 1000, 4);
    slab.buf[5000] = 9;
    q.add(5000, 64, LO, port, 0, 1);
    expect(q.pending).toBe(2);
    q.flush();
    expect(q.pending).toBe(0);
    expect(received()).toEqual([
      { len: 1000, first: 1 },
      { len: 1000, first: 2 },
      { len: 1000, first: 3 },
      { len: 400, first: 4 },
      { len: 64, first: 9 },
    ]);
    expect([counters[TX_PACKETS], counters[GSO_SENDS], counters[GSO_SEGMENTS], counters[GSO_FALLBACKS]]).toEqual([5, 1, 4, 0]);
  });

  it('a GSO run the kernel refuses (SO_NO_CHECK: EINVAL) is resent datagram by datagram, and GSO stays off', () => {
    setIntOption(tx, SOL_SOCKET, SO_NO_CHECK, 1, 'SO_NO_CHECK');
    const counters = new Float64Array(ROW);
    const q = new SendQueue(slab, 8, tx, counters, { on: true });
    run(0);
    q.add(0, 3400, LO, port, 1000, 4);
    q.flush();
    expect(received().map((d) => [d.len, d.first])).toEqual([
      [1000, 1],
      [1000, 2],
      [1000, 3],
      [400, 4],
    ]);
    expect(q.gso).toBe(false);
    expect([counters[TX_PACKETS], counters[GSO_SENDS], counters[GSO_FALLBACKS], counters[DROPS + DROP_TX_ERROR]]).toEqual([4, 0, 1, 0]);
  });

  it('more entries than the vector holds: flushed as it fills, nothing lost', () => {
    const counters = new Float64Array(ROW);
    const q = new SendQueue(slab, 4, tx, counters, { on: false });
    for (let k = 0; k < 10; k++) {
      slab.buf[k * 100] = k;
      q.add(k * 100, 100, LO, port, 0, 1);
    }
    q.flush();
    expect(received().map((d) => d.first)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(counters[TX_PACKETS]).toBe(10);
  });

  it('a datagram the kernel refuses (too big for UDP) is dropped and counted; the rest still go', () => {
    const counters = new Float64Array(ROW);
    const big = new PacketSlab({ slots: 1, slotSize: 70_000, headroom: 0 });
    const q = new SendQueue(big, 4, tx, counters, { on: false });
    big.buf[0] = 1;
    big.buf[66_000] = 3;
    q.add(0, 100, LO, port, 0, 1);
    q.add(100, 65_600, LO, port, 0, 1); // over 65507: EMSGSIZE
    q.add(66_000, 100, LO, port, 0, 1);
    q.flush();
    expect(received().map((d) => d.first)).toEqual([1, 3]);
    expect([counters[TX_PACKETS], counters[DROPS + DROP_TX_ERROR]]).toEqual([2, 1]);
  });
});
