import { expect, it } from 'vitest';
import { fetchStatus, formatStatus, type DaemonStatus } from '../../src/cli/status.js';
import { startStatusSocket } from '../../src/daemon/http.js';

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
  const server = await startStatusSocket(name, { ready: () => true, metrics: () => '', status: () => sample });
  try {
    await expect(startStatusSocket(name, { ready: () => true, metrics: () => '' })).rejects.toThrow(/another weft is answering on @wefttest-status/);
    const got = await fetchStatus(name);
    expect(got).toEqual(sample);
    const text = formatStatus(got);
    expect(text).toContain('10.244.7.0/24 on 198.51.100.7 (vxlan, VNI 1, port 4789)');
    expect(text).toMatch(/10\.244\.8\.0\/24\s+198\.51\.100\.8\s+02:00:00:00:00:08/);
    expect(text).toContain('workers (1, 1 restarted, 1 of them stalled)');
    expect(text).toMatch(/bad_vni\s+3/);
    expect(text).not.toMatch(/short\s+0/);
  } finally {
    server.close();
  }
});

it('says clearly when no daemon answers', async () => {
  await expect(fetchStatus(`@wefttest-nobody-${process.pid}`)).rejects.toThrow(/no weft daemon is running in this network namespace/);
});
