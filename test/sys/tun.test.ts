// TUN open/configure/read/write inside a throwaway namespace (needs root).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fixture, cleanupAll, cleanupStale, inNs, isRoot, makeNs } from './netns.js';

interface AddrInfo {
  ifname: string;
  mtu: number;
  flags: string[];
  operstate: string;
  addr_info: Array<{ family: string; local: string; prefixlen: number }>;
}

describe.skipIf(!isRoot())('TUN in a network namespace', () => {
  let ns = '';
  beforeAll(() => {
    cleanupStale();
    ns = makeNs();
  });
  afterAll(cleanupAll);

  it('opens weft0 with two queues, configures it, reads and writes packets', async () => {
    const f = new Fixture(ns, 'tun.mjs', {
      name: 'weft0',
      queues: 2,
      mtu: 1400,
      addr: '10.244.1.0',
      route: '10.244.9.0',
      routeLen: 24,
    });
    try {
      const opened = await f.waitFor((l) => l.opened);
      expect(opened).toEqual({ name: 'weft0', queues: 2 });

      const links = JSON.parse(inNs(ns, 'ip', ['-j', 'addr', 'show', 'dev', 'weft0'])) as AddrInfo[];
      const link = links[0]!;
      expect(link.mtu).toBe(1400);
      expect(link.flags).toContain('UP');
      expect(link.addr_info.filter((a) => a.family === 'inet')).toMatchObject([{ local: '10.244.1.0', prefixlen: 32 }]);
      expect(inNs(ns, 'ip', ['-d', 'link', 'show', 'weft0'])).toMatch(/tun type tun pi off vnet_hdr off multi_queue numqueues 2/);
      expect(inNs(ns, 'ip', ['route', 'show', '10.244.9.0/24'])).toMatch(/10\.244\.9\.0\/24 dev weft0 proto static scope link/);

      f.send({ op: 'read', dst: '10.244.9.7', port: 5555, text: 'hello through the tun' });
      const read = await f.waitFor((l) => l.read);
      expect(read).toMatchObject({
        version: 4,
        protocol: 17,
        src: '10.244.1.0',
        dst: '10.244.9.7',
        dport: 5555,
        payload: 'hello through the tun',
        length: 20 + 8 + 21,
      });

      f.send({ op: 'write', src: '10.244.9.7', sport: 6000, port: 7000, text: 'hello from the tun' });
      const write = await f.waitFor((l) => l.write);
      expect(write).toEqual({ wrote: 46, text: 'hello from the tun', from: '10.244.9.7', sport: 6000 });

      f.send({ op: 'quit' });
      expect(await f.result()).toEqual({ closed: true });
      // Closing the last queue removes the device, and with it the route.
      expect(inNs(ns, 'ip', ['-j', 'link', 'show'])).not.toContain('weft0');
    } finally {
      cleanupAll();
    }
  });
});

describe.skipIf(!isRoot())('TUN offloads: a set the kernel refuses is left off, cleanly', () => {
  let ns = '';
  beforeAll(() => {
    cleanupStale();
    ns = makeNs();
  });
  afterAll(cleanupAll);

  async function open(arg: { attempts?: number[] }): Promise<Record<string, unknown>> {
    const f = new Fixture(ns, 'tun-offload.mjs', { name: 'wtoff0', queues: 2, ...arg });
    const line = await f.waitFor((l) => l as Record<string, unknown>);
    expect(await f.done).toBe(0); // exited: its device is gone before the next test opens one
    return line;
  }

  it('the default set (checksum, TSO4, TSO ECN): IFF_VNET_HDR on every queue, TSO and checksumming on', async () => {
    expect(await open({})).toEqual({ opened: { name: 'wtoff0', queues: 2, vnetHdr: true, tso: 'on', csum: 'on' } });
  });

  it('a set the kernel refuses (an unknown flag: EINVAL) is skipped for the next one', async () => {
    expect(await open({ attempts: [0x8000, 0x01 | 0x02] })).toEqual({ opened: { name: 'wtoff0', queues: 2, vnetHdr: true, tso: 'on', csum: 'on' } });
  });

  it('every set refused: the kernel reason comes back and no device is left behind', async () => {
    const r = await open({ attempts: [0x8000] });
    expect(r['refused']).toMatch(/TUNSETOFFLOAD 0x8000.*EINVAL/);
    expect(r['deviceLeft']).toBe(false);
    expect(inNs(ns, 'ip', ['-j', 'link', 'show'])).not.toContain('wtoff0');
  });
});
