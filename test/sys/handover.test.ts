// What a restart beside a running weft rests on, asked of the kernel in a
// throwaway namespace (needs root): fixtures/handover.mjs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fixture, cleanupAll, cleanupStale, inNs, isRoot, makeNs } from './netns.js';

describe.skipIf(!isRoot())('restart handover: persistent TUN, queue detach, reuseport and connected sockets, a deaf raw socket', () => {
  let ns = '';
  beforeAll(() => {
    cleanupStale();
    ns = makeNs();
    inNs(ns, 'ip', ['link', 'set', 'lo', 'up']);
  });
  afterAll(cleanupAll);

  it('behaves as host.ts, worker.ts and ipip-handover.ts expect', async () => {
    const f = new Fixture(ns, 'handover.mjs', { tun: 'wtho0', port: 47890 });
    const r = await f.waitFor((l) => (l.tun ? l : undefined), 20_000);
    expect(await f.done).toBe(0);
    expect(r.tun).toEqual({
      besideGetsDeviceVnetHdr: true, // a queue beside others gets the device's format, whatever it asked
      persistFlag: true,
      carrierWithQueues: true,
      detach: true,
      detachAgain: true,
      carrierWithOnlyADetachedQueue: true, // a detached queue takes no traffic, but still counts as held: carrier on
      existsAfterClose: true, // persistent: stays when the last fd closes
      deleted: true,
      existsAfterDelete: false,
    });
    // 64 flows: spread over both sockets; once s1 is connected (to itself), all go to s2.
    expect(r.udp.both.s1 + r.udp.both.s2).toBe(64);
    expect(r.udp.both.s1).toBeGreaterThan(0);
    expect(r.udp.both.s2).toBeGreaterThan(0);
    expect(r.udp.connected).toEqual({ s1: 0, s2: 64 });
    expect(r.raw).toEqual({ whileDeaf: 0, hearing: 5 });
    expect(inNs(ns, 'ip', ['-j', 'link', 'show'])).not.toContain('wtho0');
  });
});
