import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { readPreviousSubnet, writeSubnetFile } from '../../src/daemon/subnet-file.js';
import { loadOrCreateVtepMac } from '../../src/daemon/vtep-mac.js';

let dir: string;
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'weft-subnetfile-')); });
afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

it('writes flannel\'s subnet.env and reads the subnet back', async () => {
  const path = join(dir, 'run/flannel/subnet.env');
  await writeSubnetFile(path, { network: '10.244.0.0/16', subnet: '10.244.7.1/24', mtu: 1450, ipMasq: false });
  expect(await readFile(path, 'utf8')).toBe('FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.7.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n');
  expect(await readPreviousSubnet(path)).toBe('10.244.7.0/24');
  expect(await readdir(join(dir, 'run/flannel'))).toEqual(['subnet.env']); // no temp file left
});

it('treats a missing or unreadable subnet file as no preference', async () => {
  expect(await readPreviousSubnet(join(dir, 'none'))).toBeNull();
  await writeFile(join(dir, 'bad'), 'FLANNEL_SUBNET=banana\n');
  expect(await readPreviousSubnet(join(dir, 'bad'))).toBeNull();
});

it('keeps the VTEP MAC across restarts and refuses a corrupt one', async () => {
  const first = await loadOrCreateVtepMac(dir);
  expect(first.created).toBe(true);
  expect(first.mac).toMatch(/^[0-9a-f][26ae](:[0-9a-f]{2}){5}$/);
  const again = await loadOrCreateVtepMac(dir);
  expect(again).toEqual({ mac: first.mac, created: false });
  await writeFile(join(dir, 'vtep-mac'), 'zz\n');
  await expect(loadOrCreateVtepMac(dir)).rejects.toThrow(/not a MAC address/);
});
