// IPv6 UDP between two namespaces over a veth pair (fd00::/8 ULA addresses, needs
// root): sendmmsg/recvmmsg with sockaddr_in6 both ways, UDP GSO over IPv6 and GRO
// receive, IPV6_V6ONLY, and the bind/send failures an operator meets.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fixture, cleanupAll, cleanupStale, isRoot, makeNs, veth6 } from './netns.js';

const A6 = 'fd00:198:51:100::1';
const B6 = 'fd00:198:51:100::2';

/** Deterministic, position-dependent bytes, as the fixture writes them. */
function pattern(len: number, seed: number): Buffer {
  const b = Buffer.alloc(len);
  for (let k = 0; k < len; k++) b[k] = (seed * 31 + k * 7 + (k >> 8)) & 0xff;
  return b;
}

describe.skipIf(!isRoot())('IPv6 UDP sockets between namespaces', () => {
  let a = '';
  let b = '';
  beforeAll(() => {
    cleanupStale();
    a = makeNs();
    b = makeNs();
    veth6(a, A6, b, B6, ['198.51.100.1', '198.51.100.2']);
  });
  afterAll(cleanupAll);

  it('sendmmsg/recvmmsg round trip with sockaddr_in6 both ways: every datagram echoed from where it came', async () => {
    const echo = new Fixture(b, 'udp6.mjs', { mode: 'echo', addr: B6, port: 4789, expect: 300 });
    const ready = await echo.waitFor((l) => l.ready && l);
    expect(ready.local).toBe(`[${B6}]:4789`);
    const ping = new Fixture(a, 'udp6.mjs', { mode: 'ping', addr: A6, port: 40000, to: B6, toPort: 4789, count: 300, batch: 32 });
    const p = await ping.result();
    expect(p).toMatchObject({ received: 300, min: 0, max: 299, from: [`[${B6}]:4789`], bad: 0 });
    expect(p.maxBatch).toBeGreaterThan(1); // recvmmsg took several at once
    expect(p.calls).toBeLessThan(300); // sendmmsg sent several per call
    expect(await echo.result()).toEqual({ echoed: 300, from: [`[${A6}]:40000`] });
  });

  it('UDP GSO over IPv6 segments to the route MTU (1500 − 48), and arrives whole at a UDP_GRO socket', async () => {
    const recv = new Fixture(b, 'udp6.mjs', { mode: 'gro-recv', addr: B6, expect: 6 });
    const ready = await recv.waitFor((l) => l.ready && l);
    expect(ready.probes).toEqual({ gso: true, gro: true }); // UDP_SEGMENT and UDP_GRO on an AF_INET6 socket
    const send = await new Fixture(a, 'udp6.mjs', {
      mode: 'gso-send',
      addr: A6,
      to: B6,
      sends: [
        [4000, 4789, 1452, 1], // 1452 + 8 + 40 = 1500: the largest segment the veth takes
        [4000, 4790, 1452, 1],
        [4000, 4789, 1453, 2], // one byte too many for the MTU
        [1000, 4789, 1453, 3], // not longer than its segment: one plain datagram, judged by its size
        [1000, 4790, 1453, 3],
      ],
    }).result();
    expect(send.gso).toBe(true);
    expect(send.sent.slice(0, 2)).toEqual([1, 1]);
    // udp_v6_send_skb: segment + headers over the route MTU. EMSGSIZE on current kernels
    // (6.18 here), EINVAL on older ones, as for IPv4 (see mmsg.ts).
    expect(['EMSGSIZE', 'EINVAL']).toContain(send.sent[2]);
    expect(send.sent.slice(3)).toEqual([1, 1]);

    const got = await recv.result();
    type Row = [number, number, string, string];
    expect(got.plain.map((g: Row) => [g[0], g[1]])).toEqual([
      [1452, 0],
      [1452, 0],
      [1096, 0],
      [1000, 0],
    ]);
    expect(got.gro.map((g: Row) => [g[0], g[1]])).toEqual([
      [4000, 1452],
      [1000, 0],
    ]);
    expect(new Set([...got.plain, ...got.gro].map((g: Row) => g[3]))).toEqual(new Set([`[${A6}]:40000`]));
    const joined = Buffer.concat(got.plain.slice(0, 3).map((g: Row) => Buffer.from(g[2], 'base64')));
    expect(joined.equals(pattern(4000, 1))).toBe(true);
    expect(Buffer.from(got.gro[0][2], 'base64').equals(pattern(4000, 1))).toBe(true);
    expect(Buffer.from(got.plain[3][2], 'base64').equals(pattern(1000, 3))).toBe(true);
  });

  it('IPV6_V6ONLY: a v6 and a v4 socket share a port on the wildcard, and each gets only its own family', async () => {
    const recv = new Fixture(b, 'udp6.mjs', { mode: 'v6only', port: 4800, expect: 2 });
    const ready = await recv.waitFor((l) => l.ready && l);
    expect(ready.v6only).toBe(1);
    const sent = await new Fixture(a, 'udp6.mjs', {
      mode: 'v6only-send',
      addr6: A6,
      addr4: '198.51.100.1',
      to6: B6,
      to4: '198.51.100.2',
      port: 4800,
    }).result();
    expect(sent.sent6).toBe(1);
    // udpv6_sendmsg: a v4-mapped destination on an IPv6-only socket is ENETUNREACH.
    expect(sent.mapped).toMatchObject({ syscall: 'sendmmsg', errnoName: 'ENETUNREACH' });
    const got = await recv.result();
    expect(got.v6).toEqual([['from-v6', `[${A6}]:40001`]]);
    expect(got.v4).toEqual([['from-v4', 40001]]);
    expect(got.late).toBe(0);
  });

  it('handover: of two v6 sockets on one port, the one connected to itself gets nothing', async () => {
    const r = await new Fixture(b, 'udp6.mjs', { mode: 'handover', addr: B6, port: 4810 }).result();
    // 64 flows spread over both; once s1 is connected ([own address]:1), all go to s2.
    expect(r.both.s1 + r.both.s2).toBe(64);
    expect(r.both.s1).toBeGreaterThan(0);
    expect(r.both.s2).toBeGreaterThan(0);
    expect(r.connected).toEqual({ s1: 0, s2: 64 });
  });

  it('explains the classic failures: not local, tentative (DAD), port held (flannel-v6.1), no route', async () => {
    const r = await new Fixture(b, 'udp6.mjs', { mode: 'errors', addr: B6, tentative: 'fd00:198:51:100::7' }).result();
    expect(r.notLocal).toMatchObject({ code: 'ERR_WEFT_SYSCALL', syscall: 'bind', errnoName: 'EADDRNOTAVAIL' });
    expect(r.notLocal.message).toMatch(/^bind \[fd00:198:51:100::99\]:4789: EADDRNOTAVAIL \(cannot assign requested address\) — the address is not configured/);
    expect(r.notLocal.message).toMatch(/tentative.*nodad/);

    expect(r.tentativeListed).toMatch(/inet6 fd00:198:51:100::7\/64 scope global tentative/);
    expect(r.tentative).toMatchObject({ syscall: 'bind', errnoName: 'EADDRNOTAVAIL' });
    expect(r.tentative.message).toContain('duplicate address detection');

    expect(r.inUse).toMatchObject({ syscall: 'bind', errnoName: 'EADDRINUSE' });
    expect(r.vxlan).toMatchObject({ syscall: 'bind', errnoName: 'EADDRINUSE' });
    expect(r.vxlan.message).toMatch(/^bind \[fd00:198:51:100::2\]:8472: EADDRINUSE .*flannel-v6\.1/);

    expect(r.badText).toMatchObject({ code: 'ERR_WEFT_INVALID_ARGUMENT' });
    expect(r.badText.message).toMatch(/"fd00::1::2"/);
    expect(r.v4Text).toMatchObject({ code: 'ERR_WEFT_INVALID_ARGUMENT' });

    expect(r.noRoute).toMatchObject({ syscall: 'sendmmsg', errnoName: 'ENETUNREACH' });
    expect(r.noRoute.message).toContain('no route to the destination');
  });
});
