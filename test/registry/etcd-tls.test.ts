// TLS (flannel's --etcd-cafile/--etcd-certfile/--etcd-keyfile) and password auth
// (--etcd-username/--etcd-password) passed through to a real etcd.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEtcdRegistry, type EtcdRegistryOptions } from '../../src/registry/etcd.js';
import { startTestEtcd, type TestEtcd } from './etcd-server.js';
import { makeTestPki, type TestPki } from './pki.js';

const PREFIX = '/coreos.com/network';
let dir: string;
let pki: TestPki;
let etcd: TestEtcd;
let admin: Etcd3;

async function config(opts: Partial<EtcdRegistryOptions>): Promise<unknown> {
  const r = createEtcdRegistry({ endpoints: [etcd.endpoint], timeoutMs: 2000, ...opts });
  try {
    return await r.getNetworkConfig();
  } finally {
    await r.close();
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weft-etcd-tls-'));
  pki = makeTestPki(dir);
  etcd = await startTestEtcd({ tls: pki });
  admin = new Etcd3({
    hosts: etcd.endpoint,
    credentials: { rootCertificate: readFileSync(pki.caFile), certChain: readFileSync(pki.clientCertFile), privateKey: readFileSync(pki.clientKeyFile) },
  });
  await admin.put(`${PREFIX}/config`).value('{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan"}}');
}, 60_000);
afterAll(async () => {
  admin?.close();
  await etcd?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('etcd registry over TLS', () => {
  const tls = (): Partial<EtcdRegistryOptions> => ({ caFile: pki.caFile, certFile: pki.clientCertFile, keyFile: pki.clientKeyFile });

  it('connects with the CA and a client certificate', async () => {
    await expect(config(tls())).resolves.toMatchObject({ Network: '10.244.0.0/16' });
  });

  it('fails clearly without a client certificate', async () => {
    await expect(config({ caFile: pki.caFile })).rejects.toMatchObject({ code: 'ERR_WEFT_REGISTRY_UNAVAILABLE' });
  });

  it('refuses half a client identity and unreadable files', () => {
    expect(() => createEtcdRegistry({ endpoints: [etcd.endpoint], certFile: pki.clientCertFile })).toThrow(/certFile and keyFile must be given together/);
    expect(() => createEtcdRegistry({ endpoints: [etcd.endpoint], caFile: join(dir, 'missing.crt') })).toThrow(/etcd caFile ".*missing.crt" cannot be read/);
  });

  it('authenticates with username and password', async () => {
    await admin.role('root').create().catch(() => {}); // may exist already
    await admin.user('root').create('rootpw');
    await admin.user('root').addRole('root');
    await admin.role('weft').create();
    await admin.role('weft').grant({ permission: 'Readwrite', range: admin.range({ prefix: `${PREFIX}/` }) });
    await admin.user('weft').create('weftpw');
    await admin.user('weft').addRole('weft');
    await admin.auth.authEnable({});

    await expect(config({ ...tls(), username: 'weft', password: 'weftpw' })).resolves.toMatchObject({ SubnetLen: 24 });
    await expect(config({ ...tls(), username: 'weft', password: 'wrong' })).rejects.toMatchObject({
      code: 'ERR_WEFT_REGISTRY_UNAVAILABLE',
      message: expect.stringContaining('check the username, password'),
    });
  });
});
