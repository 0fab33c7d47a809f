// IP-in-IP with raw protocol-4 sockets between two namespaces (needs root).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fixture, cleanupAll, cleanupStale, isRoot, makeNs, veth } from './netns.js';

describe.skipIf(!isRoot())('raw IP-in-IP socket', () => {
  let a = '';
  let b = '';
  beforeAll(() => {
    cleanupStale();
    a = makeNs();
    b = makeNs();
    veth(a, '203.0.113.1', b, '203.0.113.2');
  });
  afterAll(cleanupAll);

  it('receives the outer header followed by the inner packet the kernel encapsulated', async () => {
    const recv = new Fixture(b, 'raw.mjs', { mode: 'recv', addr: '203.0.113.2', expect: 2 });
    await recv.waitFor((l) => l.ready);
    const send = new Fixture(a, 'raw.mjs', { mode: 'send', addr: '203.0.113.1', to: '203.0.113.2' });
    expect(await send.result()).toEqual({ sent: [44, 1] });

    const { packets } = await recv.result();
    const texts = ['inner via sendto', 'inner via sendmmsg'];
    expect(packets).toHaveLength(2);
    packets.forEach((p: any, i: number) => {
      const innerLen = 28 + texts[i]!.length;
      expect(p.length).toBe(20 + innerLen);
      expect(p.from).toBe('203.0.113.1');
      expect(p.outer).toMatchObject({ version: 4, ihl: 20, protocol: 4, src: '203.0.113.1', dst: '203.0.113.2', totalLength: 20 + innerLen });
      expect(p.inner).toMatchObject({ protocol: 17, src: '10.244.1.5', dst: '10.244.2.5', sport: 1111, dport: 2222, payload: texts[i] });
    });
  });
});
