// IPv6 on a TUN over rtnetlink and /proc/sys, in a throwaway namespace (needs root):
// disable_ipv6 off/on, the tunnel address (nodad), IPv6 routes, the kernel's refusals.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fixture, cleanupAll, cleanupStale, isRoot, makeNs } from './netns.js';

describe.skipIf(!isRoot())('IPv6 addresses and routes over rtnetlink', () => {
  let r: any;
  beforeAll(async () => {
    cleanupStale();
    r = await new Fixture(makeNs(), 'config6.mjs', {}).result();
  });
  afterAll(cleanupAll);

  it('turns IPv6 off and on for the TUN; an address is refused while it is off, with the reason', () => {
    expect(r.status).toEqual({ kernel: true, allDisabled: false, defaultDisabled: false, usable: true, reason: null });
    expect(r.disabled).toBe(true);
    expect(r.addWhileDisabled).toMatchObject({ syscall: 'netlink', errnoName: 'EACCES' });
    expect(r.addWhileDisabled.message).toMatch(/^netlink RTM_NEWADDR fd00:10:244:1::\/64 dev weftv6 nodad: EACCES .*IPv6 is disabled on the interface.*disable_ipv6 = 1.*; kernel: (ipv6: )?IPv6 is disabled on this device$/);
    expect(r.enabled).toBe(true);
    expect(r.noSuchIf).toMatchObject({ code: 'ERR_WEFT_SYSCALL', errnoName: 'ENOENT' });
    expect(r.noSuchIf.message).toMatch(/^write 0 to \/proc\/sys\/net\/ipv6\/conf\/nosuch0\/disable_ipv6: ENOENT .* no interface nosuch0/);
    expect(r.badName).toMatchObject({ code: 'ERR_WEFT_INVALID_ARGUMENT' });
  });

  it('adds the tunnel address without DAD: not tentative, bound at once; EEXIST again, replace fine', () => {
    expect(r.add).toBe('ok');
    expect(r.listed).toContainEqual(
      expect.objectContaining({ family: 6, addr: 'fd00:10:244:1::', prefixLen: 64, scope: 0, tentative: false, dadFailed: false, permanent: true }),
    );
    expect(r.listed.find((e: any) => e.addr === 'fd00:10:244:1::').flags & 0x02).toBe(0x02); // IFA_F_NODAD
    expect(r.ipAddr).toMatch(/inet6 fd00:10:244:1::\/64 scope global nodad/);
    expect(r.ipAddr).not.toMatch(/fd00:10:244:1::\/64 .*tentative/);
    expect(r.bindAtOnce).toBe('ok');
    expect(r.addAgain).toMatchObject({ errnoName: 'EEXIST' });
    expect(r.addAgain.message).toContain('the interface has this address already');
    expect(r.replace).toBe('ok');
  });

  it('on a TUN even without nodad no DAD runs (IFF_NOARP); noPrefixRoute adds no route; IPv4 works by netlink too', () => {
    // (On a veth or Ethernet device it would be tentative: udp6.test.ts binds one.)
    expect(r.addDad).toBe('ok');
    expect(r.dadListed).toMatchObject({ tentative: false, prefixLen: 128 });
    expect(r.dadListed.flags & 0x02).toBe(0); // added without IFA_F_NODAD
    expect(r.noPrefixRoute).not.toMatch(/fd00:10:244:2::1 dev weftv6 proto kernel/);
    expect(r.add4).toBe('ok');
    expect(r.listed4).toEqual([expect.objectContaining({ family: 4, addr: '10.244.1.0', prefixLen: 32, tentative: false })]);
    expect(r.del4).toBe('ok');
  });

  it('adds, refuses a duplicate, replaces, gets and deletes IPv6 routes as `ip -6 route` sees them', () => {
    expect(r.routeAdd).toBe('ok');
    expect(r.routeIp).toBe('fd00:10:244::/48 dev weftv6 proto static metric 1024 pref medium');
    expect(r.routeAgain).toMatchObject({ errnoName: 'EEXIST' });
    expect(r.routeAgain.message).toMatch(/^netlink RTM_NEWROUTE fd00:10:244::\/48 dev weftv6: EEXIST \(file exists\) — a route/);
    expect(r.routeReplace).toBe('ok');
    // IPv6: another metric is another route.
    expect(r.routeOtherMetric).toBe('ok');
    expect(r.routeIpTwo.split('\n')).toEqual([
      'fd00:10:244::/48 dev weftv6 proto static metric 5 pref medium',
      'fd00:10:244::/48 dev weftv6 proto static metric 1024 pref medium',
    ]);
    expect(r.routeGet).toMatchObject({ dst: 'fd00:10:244:5::1', prefixLen: 128, type: 1, gateway: null, metric: 5 });
    expect(r.routeGet.oif).toBeGreaterThan(0);
    expect(r.routeGetBytes).toEqual(r.routeGet);
    expect(r.viaGateway).toBe('ok');
    expect(r.viaGatewayGet).toMatchObject({ dst: 'fd00:20::7', gateway: 'fd00:10:244:1::99', oif: r.routeGet.oif });

    const ours = (r.dump as Array<{ dst: string; prefixLen: number; metric: number }>).map((e) => `${e.dst}/${e.prefixLen} ${e.metric}`).sort();
    const listed = (r.ipDump as Array<{ dst: string; metric: number }>)
      .map((e) => `${e.dst.includes('/') ? e.dst : `${e.dst}/128`} ${e.metric}`)
      .sort();
    expect(ours).toEqual(listed);
    expect(ours).toContain('fd00:20::/64 1024');
    expect(r.dump4.every((d: string) => !d.includes(':'))).toBe(true); // listRoutes stays IPv4

    expect([r.routeDel, r.routeDel2]).toEqual(['ok', 'ok']);
    expect(r.routeDelAgain).toMatchObject({ errnoName: 'ESRCH', message: expect.stringContaining('no such route') });
    expect(r.routeAfter).toBe('');
    expect(r.hole).toBe('ok');
    expect(r.holeIp).toMatch(/^blackhole fd00:10:244:ff::\/64 dev lo proto static metric 1024/);
    expect(r.holeDel).toBe('ok');
    expect(r.holeAfter).toBe('');
  });

  it("explains the kernel's refusals, and refuses malformed routes before asking it", () => {
    expect(r.noRoute).toMatchObject({ syscall: 'netlink', errnoName: 'ENETUNREACH' });
    expect(r.noRoute.message).toMatch(/^netlink RTM_GETROUTE fd00:99::1: ENETUNREACH/);
    expect(r.badGateway.message).toBe(
      'netlink RTM_NEWROUTE fd00:30::/64 via fd00:ff::1: EHOSTUNREACH (no route to host) — the gateway is not reachable: no route to it in this network namespace, or not on the link of the given device',
    );
    expect(r.noDev).toMatchObject({ errnoName: 'ENODEV' });
    expect(r.hostBits).toMatchObject({ code: 'ERR_WEFT_INVALID_ARGUMENT', message: 'route fd00:10:244::1/48 has host bits set' });
    expect(r.prefix129.message).toBe('route prefix length 129 (0–128)');
    expect(r.mixed.message).toBe('route fd00:30::/64: gateway 10.0.0.1 is IPv4, the destination IPv6');
    expect(r.delAddr).toBe('ok');
    expect(r.delAddrAgain).toMatchObject({ errnoName: 'EADDRNOTAVAIL', message: expect.stringContaining('the interface has no such address') });
    expect(r.addrNoDev).toMatchObject({ errnoName: 'ENODEV' });
    expect(r.addrBothDevs).toMatchObject({ code: 'ERR_WEFT_INVALID_ARGUMENT' });
  });
});
