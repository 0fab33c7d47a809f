// UDP between two namespaces over a veth pair: sendto + sendmmsg → recvmmsg (needs root).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fixture, cleanupAll, cleanupStale, isRoot, makeNs, veth } from './netns.js';

describe.skipIf(!isRoot())('UDP sockets between namespaces', () => {
  let a = '';
  let b = '';
  beforeAll(() => {
    cleanupStale();
    a = makeNs();
    b = makeNs();
    veth(a, '198.51.100.1', b, '198.51.100.2');
  });
  afterAll(cleanupAll);

  it('delivers every datagram, batched, with the sender address and port', async () => {
    const recv = new Fixture(b, 'udp.mjs', { mode: 'recv', addr: '198.51.100.2', port: 4789, expect: 1000 });
    const ready = await recv.waitFor((l) => l.ready && l);
    expect(ready.local).toEqual({ addr: 0xc6336402, port: 4789 });

    const send = new Fixture(a, 'udp.mjs', {
      mode: 'send', addr: '198.51.100.1', port: 40000, to: '198.51.100.2', toPort: 4789, count: 1000, single: 40, batch: 64,
    });
    expect(await send.result()).toMatchObject({ sent: 1000 });
    const r = await recv.result();
    expect(r).toMatchObject({ received: 1000, min: 0, max: 999, from: ['198.51.100.1:40000'], bad: 0 });
    expect(r.maxBatch).toBeGreaterThan(1); // recvmmsg really took several at once
  });
});
