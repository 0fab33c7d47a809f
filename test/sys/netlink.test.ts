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

  it('opens a TUN with IFF_VNET_HDR and sets header size and offloads', async () => {
    const r = await new Fixture(ns, 'config.mjs', {}).result();
    expect([r.vnetHdrSize, r.offload]).toEqual(['ok', 'ok']);
    expect(r.link).toMatch(/vnet_hdr on/);
  });
});
