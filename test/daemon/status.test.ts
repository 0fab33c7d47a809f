import { expect, it } from 'vitest';
import { fetchStatus, formatStatus, type DaemonStatus } from '../../src/cli/status.js';
import { createServer, type AddressInfo } from 'node:net';
import { pino } from 'pino';
import { LocalInterfaces } from '../../src/daemon/local.js';

const quiet = pino({ level: 'silent' });
const flags = (statusSocket: string) => ({ statusSocket, statusGroup: null, healthzIp: '127.0.0.1', healthzPort: 0 });

const sample: DaemonStatus = {
  lease: { subnet: '10.244.7.0/24', publicIp: '198.51.100.7', expiration: '2026-11-27T00:00:00.000Z' },
  backend: 'vxlan', vni: 1, port: 4789, vtepMac: '02:00:00:00:00:07', mtu: 1450, tun: 'weft0', ready: true,
  peers: [{ subnet: '10.244.8.0/24', publicIp: '198.51.100.8', vtepMac: '02:00:00:00:00:08', since: '2026-11-26T00:00:00.000Z' }],
  workers: [{ index: 0, txPackets: 5, txBytes: 500, rxPackets: 4, rxBytes: 400 }],
  workerRestarts: 1,
  workerStalls: 1,
  drops: { bad_vni: 3, short: 0 },
};

it('serves /status on an abstract socket and prints it as tables', async () => {
  const name = `@wefttest-status-${process.pid}`;
  const local = await LocalInterfaces.bind(flags(name), quiet);
  local.serve({ ready: () => true, metrics: () => '', status: () => sample });
  try {
    const got = await fetchStatus(name);
    expect(got).toEqual(sample);
    const text = formatStatus(got);
    expect(text).toContain('10.244.7.0/24 on 198.51.100.7 (vxlan, VNI 1, port 4789)');
    expect(text).toMatch(/10\.244\.8\.0\/24\s+198\.51\.100\.8\s+02:00:00:00:00:08/);
    expect(text).toContain('workers (1, 1 restarted, 1 of them stalled)');
    expect(text).toMatch(/bad_vni\s+3/);
    expect(text).not.toMatch(/short\s+0/);
  } finally {
    local.close();
  }
});

it('weft status shows the source ports, sorted, and what was sent to them; nothing without them', () => {
  const text = formatStatus({ ...sample, sourcePorts: [45000, 33001, 40002], sourcePortDrops: 12 });
  expect(text).toContain('sports    3 source ports by inner flow: 33001 40002 45000 (12 datagrams sent to them dropped unread)');
  expect(formatStatus({ ...sample, sourcePorts: [40002, 40001], sourcePortDrops: 0 })).toMatch(/sports {4}2 source ports by inner flow: 40001 40002\n/);
  expect(formatStatus({ ...sample, sourcePorts: [] })).not.toContain('sports');
  expect(formatStatus(sample)).not.toContain('sports');
});

it('a status socket name somebody holds does not stop the start: the bind is retried until it is free', async () => {
  const name = `@wefttest-squat-${process.pid}`;
  const squatter = await LocalInterfaces.bind(flags(name), quiet);
  squatter.serve({ ready: () => true, metrics: () => '', status: () => ({ ...sample, vni: 99 }) });
  const second = await LocalInterfaces.bind(flags(name), quiet);
  second.serve({ ready: () => true, metrics: () => '', status: () => sample });
  try {
    expect(second.listeners[0]!.bound).toBe(false);
    expect(second.metrics()).toContain('weft_local_listener_up{listener="status"} 0\n');
    expect((await fetchStatus(name)).vni).toBe(99);
    squatter.close();
    const deadline = Date.now() + 5000;
    while (!second.listeners[0]!.bound && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(second.listeners[0]!.bound).toBe(true);
    expect(second.listeners[0]!.inUse).toBeGreaterThan(0);
    expect((await fetchStatus(name)).vni).toBe(1);
    expect(second.metrics()).toContain('weft_local_listener_up{listener="status"} 1\n');
  } finally {
    squatter.close();
    second.close();
  }
});

it('a healthz port somebody holds is retried the same way', async () => {
  const holder = createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  const port = (holder.address() as AddressInfo).port;
  const local = await LocalInterfaces.bind({ ...flags(`@wefttest-hz-${process.pid}`), healthzPort: port }, quiet);
  try {
    const hz = local.listeners[1]!;
    expect(hz.bound).toBe(false);
    expect(local.listeners[0]!.bound).toBe(true);
    await new Promise((r) => holder.close(r));
    const deadline = Date.now() + 5000;
    while (!hz.bound && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(hz.bound).toBe(true);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
  } finally {
    holder.close();
    local.close();
  }
});

it('a bind error other than EADDRINUSE refuses the start', async () => {
  await expect(LocalInterfaces.bind({ ...flags(`@wefttest-x-${process.pid}`), healthzIp: '203.0.113.77', healthzPort: 10999 }, quiet)).rejects.toThrow(
    /cannot serve healthz on 203\.0\.113\.77:10999: .*EADDRNOTAVAIL/,
  );
});

it('says clearly when no daemon answers', async () => {
  await expect(fetchStatus(`@wefttest-nobody-${process.pid}`)).rejects.toThrow(/no weft daemon is running in this network namespace/);
});
