// Routes over rtnetlink and TUN offload options, in a throwaway namespace (needs root).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fixture, cleanupAll, cleanupStale, isRoot, makeNs } from './netns.js';

describe.skipIf(!isRoot())('routes over rtnetlink, TUN offload options', () => {
  let ns = '';
  beforeAll(() => {
    cleanupStale();
    ns = makeNs();
  });
  afterAll(cleanupAll);

  it('adds, refuses a duplicate, replaces and deletes a route, with the kernel explaining failures', async () => {
    const r = await new Fixture(ns, 'config.mjs', {}).result();
    expect(r.add).toBe('ok');
    expect(r.listed).toContain('10.244.5.0/24 dev lo proto static scope link src 127.0.0.1 metric 7');
    expect(r.addAgain).toMatchObject({ syscall: 'netlink', errnoName: 'EEXIST' });
    expect(r.addAgain.message).toMatch(/^netlink RTM_NEWROUTE 10\.244\.5\.0\/24 dev lo: EEXIST \(file exists\) — a route/);
    expect(r.replace).toBe('ok');
    expect(r.badGateway.message).toBe(
      'netlink RTM_NEWROUTE 10.244.6.0/24 via 203.0.113.77: ENETUNREACH (network is unreachable) — kernel: Nexthop has invalid gateway',
    );
    expect(r.del).toBe('ok');
    expect(r.delAgain).toMatchObject({ errnoName: 'ESRCH', message: expect.stringContaining('no such route') });
    expect(r.after).not.toContain('10.244.5.0');
  });

  it('adds and deletes a blackhole route; the route dump lists what `ip -j route` lists', async () => {
    const r = await new Fixture(ns, 'config.mjs', {}).result();
    expect(r.holeAdd).toBe('ok');
    expect(r.holeAgain).toMatchObject({ errnoName: 'EEXIST' });
    expect(r.holeBadDev.message).toMatch(/blackhole route 10\.244\.7\.0\/24 takes no device or gateway/);
    expect(r.holeIp).toEqual([expect.objectContaining({ type: 'blackhole', dst: '10.244.7.0/24' })]);
    const dumped = (r.dump as Array<{ dst: string; prefixLen: number; type: number }>).map((e) => `${e.dst}/${e.prefixLen} ${e.type}`).sort();
    const listed = (r.ipDump as Array<{ dst: string; type?: string }>)
      .map((e) => `${e.dst === 'default' ? '0.0.0.0/0' : e.dst.includes('/') ? e.dst : `${e.dst}/32`} ${e.type === 'blackhole' ? 6 : 1}`)
      .sort();
    expect(dumped).toEqual(listed);
    expect(dumped).toContain('10.244.7.0/24 6');
    expect(r.holeDel).toBe('ok');
    expect(r.holeAfter).toEqual([]);
  });

  it('opens a TUN with IFF_VNET_HDR and sets header size and offloads', async () => {
    const r = await new Fixture(ns, 'config.mjs', {}).result();
    expect([r.vnetHdrSize, r.offload]).toEqual(['ok', 'ok']);
    expect(r.link).toMatch(/vnet_hdr on/);
  });
});
