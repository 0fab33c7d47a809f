// host.ts dual-stack, in a throwaway namespace (needs root and a built dist/): the
// TUN gets IPv6 on, its /128 tunnel address without DAD and the IPv6 network's
// route; every worker gets an IPv6 socket on the port beside its IPv4 one; a
// restart changes nothing; an IPv4-only start turns IPv6 off again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fixture, cleanupAll, cleanupStale, isRoot, makeNs, veth6 } from '../sys/netns.js';

const FIXTURE = '../../daemon/fixtures/host-v6.mjs';

describe.skipIf(!isRoot())('Host, dual-stack', () => {
  let r: any;
  beforeAll(async () => {
    cleanupStale();
    const a = makeNs();
    const b = makeNs();
    veth6(a, 'fd00:198:51:100::1', b, 'fd00:198:51:100::2', ['198.51.100.1', '198.51.100.2']);
    r = await new Fixture(a, FIXTURE, { bind4: '198.51.100.1', bind6: 'fd00:198:51:100::1' }).result();
  }, 30_000);
  afterAll(cleanupAll);

  it('gives the TUN its IPv6 tunnel address (/128, nodad) and the IPv6 network route, beside the IPv4 ones', () => {
    expect(r.dual.disable).toBe('0');
    expect(r.dual.addrs6).toContain('fd00:10:244:1::/128 nodad');
    // (The kernel may give the TUN a link-local address too, which runs DAD; ours must not.)
    expect(r.dual.addrs6.filter((a: string) => a.startsWith('fd00:10:244:1::/128')).some((a: string) => a.includes('tentative'))).toBe(false);
    expect(r.dual.routes6).toContain('fd00:10:244::/56');
    expect(r.dual.addrs4).toEqual(['10.244.1.0/32']);
    expect(r.dual.routes4).toEqual(['10.244.0.0/16']);
  });

  it('opens one IPv6 socket per worker, bound to the interface address on the backend port, with the same offloads', () => {
    expect(r.dual.fds6).toBe(2);
    expect(r.dual.bound6).toEqual(Array(2).fill('[fd000198005101000000000000000001]:4789'));
    expect(r.dual.bound4).toEqual([4789, 4789]);
    expect(r.dual.udpGso).toBe(true);
    expect(r.dual.udpGro).toBe(true);
  });

  it('a restart finds the device as it left it: one address, one route, nothing doubled', () => {
    expect(r.again.addrs6.filter((a: string) => a.startsWith('fd00:10:244:1::/128'))).toHaveLength(1);
    expect(r.again.routes6.filter((d: string) => d === 'fd00:10:244::/56')).toHaveLength(1);
    expect(r.again.fds6).toBe(2);
  });

  it('an IPv4-only start turns IPv6 off on the TUN: the v6 address and route go, no v6 socket is opened', () => {
    expect(r.v4only.disable).toBe('1');
    expect(r.v4only.addrs6).toEqual([]);
    expect(r.v4only.routes6).toEqual([]);
    expect(r.v4only.fds6).toBe(0);
    expect(r.v4only.routes4).toEqual(['10.244.0.0/16']);
  });
});
