// Send-only UDP sockets for source-port entropy (src/sys/udp.ts openSendOnlyUdp,
// src/sys/deaf.ts) in a namespace of their own (needs root): ports the kernel
// picks from its ephemeral range, sends that leave from them, and a flood sent
// to one that the kernel drops before queueing and counts, while it keeps
// sending and nobody else can bind its port.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fixture, cleanupAll, cleanupStale, isRoot, makeNs, veth } from './netns.js';

describe.skipIf(!isRoot())('send-only UDP sockets', () => {
  let a = '';
  let b = '';
  beforeAll(() => {
    cleanupStale();
    a = makeNs();
    b = makeNs();
    veth(a, '198.51.100.1', b, '198.51.100.2');
  });
  afterAll(cleanupAll);

  it('bind to kernel-chosen ephemeral ports, send from them, drop (and count) whatever is sent to them, and share them with nobody', async () => {
    const r = await new Fixture(b, 'send-only.mjs', { addr: '198.51.100.2', flood: 300 }).result();
    const [lo, hi] = r.range as [number, number];
    expect(new Set(r.ports).size).toBe(2);
    for (const p of r.ports as number[]) {
      expect(p).toBeGreaterThanOrEqual(lo);
      expect(p).toBeLessThanOrEqual(hi);
    }
    expect(r.first).toEqual({ len: 100, fromPort: r.ports[0] });
    expect(r.flooded).toBe(300);
    // Nothing queued, nothing to read: the filter dropped all 300 before the queue, and the kernel counted them.
    expect([r.readable, r.read]).toEqual([false, -1]);
    expect(r.stats).toEqual({ queuedBytes: 0, drops: 300 });
    expect(r.after).toEqual({ len: 100, fromPort: r.ports[0] });
    expect(r.bindShared).toBe('EADDRINUSE');
  });
});
