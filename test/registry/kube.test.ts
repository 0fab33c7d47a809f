// The kube subnet manager (--kube-subnet-mgr) against a fake API server.
// kube-fake-apiserver.ts is the one mock in the project: no Kubernetes API
// server can run here. Everything else (client-node, HTTP, JSON, the watch
// stream) is real.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LeaseAdmission, type OwnLeaseChange } from '../../src/dataplane/lease-admission.js';
import { annotationNames } from '../../src/registry/kube-annotations.js';
import { createKubeRegistry, KubeRegistry, type KubeRegistryOptions } from '../../src/registry/kube.js';
import type { LeaseAttrs } from '../../src/registry/types.js';
import type { NetworkConfig } from '../../src/registry/config.js';
import { FakeApiServer } from './kube-fake-apiserver.js';
import { consume, until } from './watch-helper.js';

const P = 'flannel.alpha.coreos.com';
const NET_CONF = '{"Network": "10.244.0.0/16", "EnableNFTables": false, "Backend": {"Type": "vxlan"}}';
const TOKEN = 'weft-test-token';
const MAC_A = '6e:52:f6:1b:1e:83';
const DIST_KUBE = fileURLToPath(new URL('../../dist/src/registry/kube.js', import.meta.url));

/** The annotations flanneld's vxlan backend writes on its node (kube.go AcquireLease). */
function flannelAnnotations(ip: string, mac: string, vni = 1): Record<string, string> {
  return {
    [`${P}/backend-data`]: `{"VNI":${vni},"VtepMAC":"${mac}"}`,
    [`${P}/backend-type`]: 'vxlan',
    [`${P}/kube-subnet-manager`]: 'true',
    [`${P}/public-ip`]: ip,
  };
}
const vxlanAttrs = (ip: string, mac: string): LeaseAttrs => ({ PublicIP: ip, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: mac } });

let dir: string;
let fake: FakeApiServer;
let kubeconfig: string;
let netConf: string;
let logs: string[];
const open: KubeRegistry[] = [];
const stops: AbortController[] = [];

function registry(extra: Partial<KubeRegistryOptions> = {}): KubeRegistry {
  const r = createKubeRegistry({
    nodeName: 'node-a',
    kubeconfigFile: kubeconfig,
    netConfigPath: netConf,
    timeoutMs: 2000,
    logger: { info: (m) => logs.push(m), warn: (m) => logs.push(`WARN ${m}`) },
    ...extra,
  });
  open.push(r);
  return r;
}
function watch(r: KubeRegistry): ReturnType<typeof consume> {
  const ac = new AbortController();
  stops.push(ac);
  return consume(r.watchLeases(ac.signal));
}
const patches = (): typeof fake.requests => fake.requests.filter((q) => q.method === 'PATCH');
const lists = (): number => fake.requests.filter((q) => q.method === 'GET' && q.path === '/api/v1/nodes' && q.query.get('watch') === null).length;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weft-kube-'));
  fake = await FakeApiServer.start({ token: TOKEN });
  kubeconfig = fake.writeKubeconfig(dir);
  netConf = join(dir, 'net-conf.json');
  await writeFile(netConf, NET_CONF);
  logs = [];
});
afterEach(async () => {
  stops.splice(0).forEach((s) => s.abort());
  await Promise.all(open.splice(0).map((r) => r.close()));
  await fake.stop();
  await rm(dir, { recursive: true, force: true });
  vi.unstubAllEnvs();
});

describe('annotation names', () => {
  it('follows flannel newAnnotations for every prefix form (annotations_test.go)', () => {
    const ok: Array<[string, string]> = [
      ['flannel.alpha.coreos.com', 'flannel.alpha.coreos.com/backend-type'],
      ['flannel.alpha.coreos.com/', 'flannel.alpha.coreos.com/backend-type'],
      ['flannel.alpha.coreos.com/prefix', 'flannel.alpha.coreos.com/prefix-backend-type'],
      ['flannel.alpha.coreos.com/prefix-', 'flannel.alpha.coreos.com/prefix-backend-type'],
      ['org.com', 'org.com/backend-type'],
      ['org9.com', 'org9.com/backend-type'],
      ['org.com/9', 'org.com/9-backend-type'],
    ];
    for (const [prefix, want] of ok) expect(annotationNames(prefix).backendType, prefix).toBe(want);
    for (const bad of ['org', 'org/', 'org/prefix', 'org.COM', 'org.com/PREFIX', 'a.b/c/d']) {
      expect(() => annotationNames(bad), bad).toThrow(expect.objectContaining({ code: 'ERR_WEFT_CONFIG' }));
    }
    expect(annotationNames()).toMatchObject({
      subnetKubeManaged: `${P}/kube-subnet-manager`,
      backendData: `${P}/backend-data`,
      backendV6Data: `${P}/backend-v6-data`,
      backendPublicIP: `${P}/public-ip`,
      backendPublicIPv6: `${P}/public-ipv6`,
      backendPublicIPOverwrite: `${P}/public-ip-overwrite`,
    });
  });
});

describe('kube registry: this node', () => {
  it('reads the network config from --net-config-path and says how to provide a missing one', async () => {
    expect(await registry().getNetworkConfig()).toMatchObject({ Network: '10.244.0.0/16', SubnetLen: 24, Backend: { Type: 'vxlan' } });
    await expect(registry({ netConfigPath: join(dir, 'absent.json') }).getNetworkConfig()).rejects.toMatchObject({
      code: 'ERR_WEFT_NO_NETWORK_CONFIG',
      message: expect.stringContaining(`no network config at ${join(dir, 'absent.json')}: mount net-conf.json of the kube-flannel-cfg ConfigMap there`),
    });
    await writeFile(netConf, '{"Network": "10.244.0.0/16", "SubnetLen": 33}');
    await expect(registry().getNetworkConfig()).rejects.toMatchObject({
      code: 'ERR_WEFT_CONFIG',
      message: expect.stringMatching(new RegExp(`"SubnetLen" is 33.*\\(network config file ${netConf}\\)`)),
    });
  });

  it('acquires spec.podCIDR and writes flannel\'s annotations with a strategic merge patch on nodes/status, only when they differ', async () => {
    fake.addNode('node-a', { podCIDR: '10.244.7.0/24', annotations: { 'node.alpha.kubernetes.io/ttl': '0' } });
    const r = registry();
    const lease = await r.acquireLease(vxlanAttrs('192.168.1.10', MAC_A), { preferSubnet: '10.244.9.1/24' });
    expect(lease).toEqual({
      subnet: '10.244.7.0/24',
      attrs: { PublicIP: '192.168.1.10', PublicIPv6: null, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: MAC_A } },
      expiration: null,
      revision: fake.resourceVersion,
      node: 'node-a',
    });
    // Exactly what flanneld writes, byte for byte; other annotations untouched.
    expect(fake.node('node-a')!['metadata']).toMatchObject({
      annotations: {
        'node.alpha.kubernetes.io/ttl': '0',
        [`${P}/backend-data`]: `{"VNI":1,"VtepMAC":"${MAC_A}"}`,
        [`${P}/backend-type`]: 'vxlan',
        [`${P}/kube-subnet-manager`]: 'true',
        [`${P}/public-ip`]: '192.168.1.10',
      },
    });
    const annotations = (fake.node('node-a')!['metadata'] as { annotations: Record<string, string> }).annotations;
    expect(Object.keys(annotations).filter((k) => k.startsWith(P)).sort()).toEqual([
      `${P}/backend-data`,
      `${P}/backend-type`,
      `${P}/kube-subnet-manager`,
      `${P}/public-ip`,
    ]); // no backend-v6-data, public-ipv6
    expect(patches()).toEqual([
      expect.objectContaining({
        path: '/api/v1/nodes/node-a/status',
        contentType: 'application/strategic-merge-patch+json',
        body: { metadata: { annotations: flannelAnnotations('192.168.1.10', MAC_A) } },
      }),
    ]);
    expect(logs).toContain('previous subnet 10.244.9.1/24 differs from node node-a\'s spec.podCIDR 10.244.7.0/24: using the podCIDR');

    // Same attrs again (a restart): nothing to patch.
    await r.acquireLease(vxlanAttrs('192.168.1.10', MAC_A));
    expect(patches()).toHaveLength(1);
    // A new public IP: only that annotation is patched.
    await r.acquireLease(vxlanAttrs('192.168.1.11', MAC_A));
    expect(patches()[1]!.body).toEqual({ metadata: { annotations: { [`${P}/public-ip`]: '192.168.1.11' } } });

    // Leases in Kubernetes never expire, and nothing is released.
    expect(await r.renewLease(lease)).toBe(lease);
    expect(await r.releaseLease(lease)).toBe(false);
    expect(fake.node('node-a')).toBeDefined();
  });

  it('takes the IPv4 entry of spec.podCIDRs on a dual-stack node, and leaves the v6 annotations alone', async () => {
    fake.addNode('node-a', {
      podCIDR: 'fd00:10:244:7::/64',
      podCIDRs: ['fd00:10:244:7::/64', '10.244.7.0/24'],
      annotations: { [`${P}/backend-v6-data`]: '{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:ff"}', [`${P}/public-ipv6`]: 'fd00::7' },
    });
    const lease = await registry().acquireLease(vxlanAttrs('192.168.1.10', MAC_A));
    expect(lease.subnet).toBe('10.244.7.0/24');
    expect(fake.node('node-a')!['metadata']).toMatchObject({
      annotations: { [`${P}/backend-v6-data`]: '{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:ff"}', [`${P}/public-ipv6`]: 'fd00::7' },
    });
  });

  it('publishes public-ip-overwrite as public-ip, as flannel does', async () => {
    fake.addNode('node-a', { podCIDR: '10.244.7.0/24', annotations: { [`${P}/public-ip-overwrite`]: '203.0.113.7' } });
    const lease = await registry().acquireLease(vxlanAttrs('192.168.1.10', MAC_A));
    expect(fake.node('node-a')!['metadata']).toMatchObject({ annotations: { [`${P}/public-ip`]: '203.0.113.7' } });
    // The lease as other nodes read it: the daemon compares its own node's watch events with it.
    expect(lease.attrs.PublicIP).toBe('203.0.113.7');
  });

  it("reads node-public-ip as flannel's GetStoredPublicIP, refusing one that is no unicast IPv4 address", async () => {
    fake.addNode('node-a', { podCIDR: '10.244.7.0/24' });
    expect(await registry().storedPublicIp()).toBeNull();
    fake.modifyNode('node-a', (n) => void (n.metadata.annotations[`${P}/node-public-ip`] = '203.0.113.9'));
    expect(await registry().storedPublicIp()).toBe('203.0.113.9');
    for (const bad of ['0.0.0.0', '255.255.255.255', '224.0.0.1', '127.0.0.1', '169.254.1.1', 'fd00::1', '203.0.113.09', 'x'.repeat(200)]) {
      fake.modifyNode('node-a', (n) => void (n.metadata.annotations[`${P}/node-public-ip`] = bad));
      await expect(registry().storedPublicIp()).rejects.toThrow(/has annotation .*node-public-ip=".*": not a unicast IPv4 address; fix or remove it/);
    }
  });

  it('writes under --kube-annotation-prefix', async () => {
    fake.addNode('node-a', { podCIDR: '10.244.7.0/24' });
    await registry({ annotationPrefix: 'example.com/weft' }).acquireLease(vxlanAttrs('192.168.1.10', MAC_A));
    expect(fake.node('node-a')!['metadata']).toMatchObject({
      annotations: { 'example.com/weft-backend-type': 'vxlan', 'example.com/weft-kube-subnet-manager': 'true', 'example.com/weft-public-ip': '192.168.1.10' },
    });
    expect(() => registry({ annotationPrefix: 'Example.com' })).toThrow(expect.objectContaining({ code: 'ERR_WEFT_CONFIG' }));
  });

  it('says what to do when the node has no podCIDR, a podCIDR outside Network, or does not exist', async () => {
    fake.addNode('node-a');
    await expect(registry().acquireLease(vxlanAttrs('192.168.1.10', MAC_A))).rejects.toMatchObject({
      code: 'ERR_WEFT_REGISTRY',
      message: expect.stringContaining('node node-a has no spec.podCIDR: start kube-controller-manager with --allocate-node-cidrs'),
    });
    fake.modifyNode('node-a', (n) => (n.spec['podCIDR'] = '10.99.1.0/24'));
    await expect(registry().acquireLease(vxlanAttrs('192.168.1.10', MAC_A))).rejects.toMatchObject({
      message: expect.stringContaining('node node-a has spec.podCIDR 10.99.1.0/24, which is not inside Network 10.244.0.0/16'),
    });
    await expect(registry({ nodeName: 'node-zz' }).acquireLease(vxlanAttrs('192.168.1.10', MAC_A))).rejects.toMatchObject({
      message: expect.stringContaining(`node node-zz does not exist in Kubernetes API server ${fake.url}: set NODE_NAME`),
    });
    expect(patches()).toHaveLength(0);
  });

  it('finds its node through POD_NAME/POD_NAMESPACE when NODE_NAME is not given', async () => {
    fake.addNode('node-b', { podCIDR: '10.244.8.0/24' });
    fake.addPod('kube-flannel', 'kube-flannel-ds-x7k2p', 'node-b');
    const r = registry({ nodeName: undefined, pod: { namespace: 'kube-flannel', name: 'kube-flannel-ds-x7k2p' } });
    expect((await r.acquireLease(vxlanAttrs('192.168.1.20', MAC_A))).subnet).toBe('10.244.8.0/24');
    expect(() => registry({ nodeName: undefined })).toThrow(/set NODE_NAME .*or POD_NAME and POD_NAMESPACE/);
  });

  it('sets NetworkUnavailable=False with reason FlannelIsUp through nodes/status, keeping the other conditions', async () => {
    fake.addNode('node-a', {
      podCIDR: '10.244.7.0/24',
      conditions: [
        { type: 'NetworkUnavailable', status: 'True', reason: 'NoRouteCreated', message: 'Node created without a route' },
        { type: 'Ready', status: 'True', reason: 'KubeletReady' },
      ],
    });
    await registry().markNetworkAvailable();
    const conditions = (fake.node('node-a')!['status'] as { conditions: Array<Record<string, string>> }).conditions;
    expect(conditions).toHaveLength(2);
    expect(conditions).toContainEqual(expect.objectContaining({ type: 'Ready', status: 'True' }));
    const cond = conditions.find((c) => c['type'] === 'NetworkUnavailable')!;
    expect(cond).toMatchObject({ status: 'False', reason: 'FlannelIsUp', message: 'Flannel is running on this node' });
    expect(cond['lastTransitionTime']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(patches()[0]).toMatchObject({ path: '/api/v1/nodes/node-a/status', contentType: 'application/strategic-merge-patch+json' });
  });

  it("completes the lease as flannel's CompleteLease: the condition set, or nothing with --set-node-network-unavailable=false; peers' subnets have our podCIDR's length", async () => {
    fake.addNode('node-a', { podCIDR: '10.244.7.0/25', conditions: [{ type: 'NetworkUnavailable', status: 'True', reason: 'NoRouteCreated' }] });
    const off = registry({ setNodeNetworkUnavailable: false });
    const lease = await off.acquireLease(vxlanAttrs('192.168.1.10', MAC_A));
    expect(off.subnetLen({ SubnetLen: 24 } as NetworkConfig, lease)).toBe(25);
    const before = patches().length;
    await off.completeLease();
    expect(patches()).toHaveLength(before);
    await registry().completeLease();
    expect(patches()).toHaveLength(before + 1);
    const cond = (fake.node('node-a')!['status'] as { conditions: Array<Record<string, string>> }).conditions.find((c) => c['type'] === 'NetworkUnavailable')!;
    expect(cond).toMatchObject({ status: 'False', reason: 'FlannelIsUp' });
  });
});

describe('kube registry: errors', () => {
  it('names the URL when the API server is down', async () => {
    const url = fake.url;
    await fake.stop();
    fake = await FakeApiServer.start(); // for afterEach; the kubeconfig still points at the stopped one
    const r = registry();
    const err = { code: 'ERR_WEFT_REGISTRY_UNAVAILABLE', message: expect.stringMatching(new RegExp(`^Kubernetes API server ${url} is unreachable \\(get node node-a failed: .*ECONNREFUSED`)) };
    await expect(r.acquireLease(vxlanAttrs('192.168.1.10', MAC_A))).rejects.toMatchObject(err);
    await expect(r.markNetworkAvailable()).rejects.toMatchObject({ code: 'ERR_WEFT_REGISTRY_UNAVAILABLE' });
    const it = r.watchLeases(new AbortController().signal)[Symbol.asyncIterator]();
    await expect(it.next()).rejects.toMatchObject({ message: expect.stringContaining(`Kubernetes API server ${url} is unreachable (list nodes failed`) });
  });

  it('names the RBAC verb and resource when forbidden, and says so when the token is refused', async () => {
    fake.addNode('node-a', { podCIDR: '10.244.7.0/24' });
    fake.forbid('patch', 'nodes/status');
    await expect(registry().acquireLease(vxlanAttrs('192.168.1.10', MAC_A))).rejects.toMatchObject({
      code: 'ERR_WEFT_REGISTRY_UNAVAILABLE',
      message: expect.stringContaining(
        `Kubernetes API server ${fake.url} forbids us to annotate node node-a with its lease (403 Forbidden: nodes "node-a" is forbidden: User "system:serviceaccount:kube-flannel:flannel" cannot patch resource "nodes/status" in API group "" at the cluster scope): grant this service account the RBAC verb "patch" on resource "nodes/status" at the cluster scope`,
      ),
    });
    fake.forbid('list', 'nodes');
    const it = registry().watchLeases(new AbortController().signal)[Symbol.asyncIterator]();
    await expect(it.next()).rejects.toMatchObject({ message: expect.stringContaining('grant this service account the RBAC verb "list" on resource "nodes"') });

    const stranger = registry({ kubeconfigFile: fake.writeKubeconfig(dir, 'wrong-token') });
    await expect(stranger.acquireLease(vxlanAttrs('192.168.1.10', MAC_A))).rejects.toMatchObject({
      message: expect.stringContaining(`Kubernetes API server ${fake.url} did not accept our credentials to get node node-a (401 Unauthorized)`),
    });
  });

  it('refuses to work outside a pod without a kubeconfig', async () => {
    vi.stubEnv('KUBERNETES_SERVICE_HOST', '');
    const lease = vxlanAttrs('192.168.1.10', MAC_A);
    await expect(registry({ kubeconfigFile: undefined }).acquireLease(lease)).rejects.toMatchObject({
      code: 'ERR_WEFT_CONFIG',
      message: expect.stringContaining('not running in a pod (KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are unset): give --kubeconfig-file'),
    });
    await expect(registry({ kubeconfigFile: join(dir, 'nope') }).acquireLease(lease)).rejects.toThrow(/kubeconfig ".*nope" cannot be loaded/);
  });

  // client-node takes ~0.5 s and ~70 MiB to load; every weft command loads the
  // registry, so kube.ts must load it on first use only. Checked on the compiled
  // module graph (dist/, built by `npm test`) with a resolve hook in a fresh process.
  it.skipIf(!existsSync(DIST_KUBE))('does not load @kubernetes/client-node until the registry is used', () => {
    const hook = `let port; export function initialize(d) { port = d.port; }
      export async function resolve(s, c, next) { const r = await next(s, c); port.postMessage(r.url); return r; }`;
    const script = `
      import { register } from 'node:module';
      import { MessageChannel } from 'node:worker_threads';
      const { port1, port2 } = new MessageChannel();
      const seen = [];
      port1.on('message', (m) => seen.push(m));
      port1.unref();
      register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}), { data: { port: port2 }, transferList: [port2] });
      const { createKubeRegistry } = await import(process.argv[1]);
      createKubeRegistry({ nodeName: 'n1' });
      await new Promise((r) => setTimeout(r, 100));
      console.log(seen.filter((u) => u.includes('@kubernetes/client-node')).length);`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script, DIST_KUBE], { encoding: 'utf8' });
    expect(out.trim()).toBe('0');
  });
});

describe('kube registry: other nodes', () => {
  it('emits flannel nodes as leases: present at the start, appearing, changing, losing annotations, deleted', async () => {
    fake.addNode('node-a', { podCIDR: '10.244.7.0/24' });
    fake.addNode('node-b', { podCIDR: '10.244.8.0/24', annotations: flannelAnnotations('192.168.1.20', '0a:58:0a:f4:08:01') });
    fake.addNode('no-flannel', { podCIDR: '10.244.9.0/24' }); // no kube-subnet-manager annotation
    fake.addNode('no-cidr', { annotations: flannelAnnotations('192.168.1.40', '0a:58:0a:f4:0a:01') }); // no podCIDR yet
    const r = registry();
    await r.acquireLease(vxlanAttrs('192.168.1.10', MAC_A));
    const c = watch(r);
    await until(() => c.batches.length >= 1, 5000, 'the first batch');
    expect(c.batches[0]!.map((e) => [e.type, e.lease.subnet]).sort()).toEqual([
      ['added', '10.244.7.0/24'],
      ['added', '10.244.8.0/24'],
    ]);
    expect(c.state.get('10.244.8.0/24')).toEqual({
      subnet: '10.244.8.0/24',
      attrs: { PublicIP: '192.168.1.20', PublicIPv6: null, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: '0a:58:0a:f4:08:01' } },
      expiration: null,
      revision: expect.any(Number),
      created: expect.any(Number),
      node: 'node-b',
    });

    // A node that flanneld has just annotated.
    fake.addNode('node-c', { podCIDR: '10.244.10.0/24' });
    fake.modifyNode('node-c', (n) => Object.assign(n.metadata.annotations, flannelAnnotations('192.168.1.30', '0a:58:0a:f4:0a:02')));
    await until(() => c.state.has('10.244.10.0/24'), 5000, 'node-c added');
    expect(c.state.get('10.244.10.0/24')!.attrs).toEqual({ PublicIP: '192.168.1.30', PublicIPv6: null, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: '0a:58:0a:f4:0a:02' } });
    // The node without a podCIDR gets one.
    fake.modifyNode('no-cidr', (n) => Object.assign(n.spec, { podCIDR: '10.244.11.0/24', podCIDRs: ['10.244.11.0/24'] }));
    await until(() => c.state.has('10.244.11.0/24'), 5000, 'no-cidr added');

    // flanneld restarted on node-b with a new VTEP MAC: 'added' again, with the new attrs.
    const before = c.batches.length;
    fake.modifyNode('node-b', (n) => (n.metadata.annotations[`${P}/backend-data`] = '{"VNI":1,"VtepMAC":"0a:58:0a:f4:08:99"}'));
    await until(() => c.batches.length > before, 5000, 'node-b changed');
    expect(c.batches.at(-1)).toEqual([{ type: 'added', lease: expect.objectContaining({ subnet: '10.244.8.0/24', attrs: expect.objectContaining({ BackendData: { VNI: 1, VtepMAC: '0a:58:0a:f4:08:99' } }) }) }]);

    // A change that is no lease change (a heartbeat, a label) gives no event.
    const quiet = c.batches.length;
    fake.modifyNode('node-b', (n) => (n.status['conditions'] = [{ type: 'Ready', status: 'True', lastHeartbeatTime: new Date().toISOString() }]));
    fake.modifyNode('node-b', (n) => ((n.metadata['labels'] as Record<string, string>)['team'] = 'net'));
    // Then one that is, to know the two above were seen.
    fake.modifyNode('node-c', (n) => (n.metadata.annotations[`${P}/public-ip`] = '192.168.1.31'));
    await until(() => c.state.get('10.244.10.0/24')?.attrs.PublicIP === '192.168.1.31', 5000, 'node-c public-ip changed');
    expect(c.batches.length).toBe(quiet + 1);

    // Annotations removed (flannel uninstalled there): removed.
    fake.modifyNode('node-c', (n) => (n.metadata.annotations = Object.fromEntries(Object.entries(n.metadata.annotations).filter(([k]) => !k.startsWith(P)))));
    await until(() => !c.state.has('10.244.10.0/24'), 5000, 'node-c removed');
    expect(c.batches.at(-1)).toEqual([{ type: 'removed', lease: expect.objectContaining({ subnet: '10.244.10.0/24' }) }]);

    // Node deleted: removed.
    fake.deleteNode('node-b');
    await until(() => !c.state.has('10.244.8.0/24'), 5000, 'node-b removed');
    expect(c.batches.at(-1)).toEqual([{ type: 'removed', lease: expect.objectContaining({ subnet: '10.244.8.0/24', attrs: expect.objectContaining({ PublicIP: '192.168.1.20' }) }) }]);
    expect([...c.state.keys()].sort()).toEqual(['10.244.11.0/24', '10.244.7.0/24']);
    expect(c.error()).toBeUndefined();
  });

  it('node annotations go through the same lease checks as etcd leases; a change of our own annotations is noticed, our heartbeat is not', async () => {
    fake.addNode('node-a', { podCIDR: '10.244.7.0/24' });
    fake.addNode('node-b', { podCIDR: '10.244.8.0/24', annotations: flannelAnnotations('192.168.1.20', '0a:58:0a:f4:08:01') });
    const r = registry();
    const own = await r.acquireLease(vxlanAttrs('192.168.1.10', MAC_A));
    const admission = new LeaseAdmission({
      network: '10.244.0.0/16',
      subnetLen: 24,
      backend: 'vxlan',
      vni: 1,
      self: { lease: own, publicIps: ['192.168.1.10', own.attrs.PublicIP], mac: MAC_A },
      log: { info() {}, warn() {} },
    });
    const accepted = new Map<string, string>(); // subnet → PublicIP
    const owns: OwnLeaseChange[] = [];
    let batches = 0;
    const ac = new AbortController();
    stops.push(ac);
    void (async () => {
      for await (const batch of r.watchLeases(ac.signal)) {
        const out = admission.admit(batch);
        if (out.own) owns.push(out.own);
        for (const e of out.events) if (e.type === 'added') accepted.set(e.lease.subnet, e.lease.attrs.PublicIP); else accepted.delete(e.lease.subnet);
        batches++;
      }
    })();
    await until(() => accepted.has('10.244.8.0/24'), 5000, 'node-b accepted');
    // Hostile annotations on other nodes, one per check.
    fake.addNode('evil-ip', { podCIDR: '10.244.9.0/24', annotations: flannelAnnotations('192.168.1.20', '0a:58:0a:f4:09:99') }); // node-b's PublicIP
    fake.addNode('evil-mac', { podCIDR: '10.244.10.0/24', annotations: flannelAnnotations('192.168.1.30', 'ff:ff:ff:ff:ff:ff') });
    fake.addNode('evil-self', { podCIDR: '10.244.11.0/24', annotations: flannelAnnotations('192.168.1.10', '0a:58:0a:f4:0b:01') }); // our PublicIP
    fake.addNode('evil-dup', { podCIDR: '10.244.7.0/24', annotations: flannelAnnotations('192.168.1.40', '0a:58:0a:f4:07:99') }); // our podCIDR
    fake.addNode('evil-zero', { podCIDR: '10.244.12.0/24', annotations: flannelAnnotations('0.0.0.0', '0a:58:0a:f4:0c:01') });
    fake.addNode('evil-vni', { podCIDR: '10.244.13.0/24', annotations: flannelAnnotations('192.168.1.50', '0a:58:0a:f4:0d:01', 9) });
    fake.addNode('node-c', { podCIDR: '10.244.14.0/24', annotations: flannelAnnotations('192.168.1.60', '0a:58:0a:f4:0e:01') }); // honest, after them
    await until(() => accepted.has('10.244.14.0/24'), 5000, 'node-c accepted');
    const rejected = Object.fromEntries(admission.rejectedLeases().map((x) => [x.key, x.reason]));
    expect(rejected).toEqual({
      '10.244.9.0/24': 'public_ip_taken',
      '10.244.10.0/24': 'bad_mac',
      '10.244.11.0/24': 'own_public_ip',
      '10.244.7.0/24': 'overlaps_self',
      '10.244.12.0/24': 'bad_public_ip',
      '10.244.13.0/24': 'vni_mismatch',
    });
    expect([...accepted]).toEqual([['10.244.8.0/24', '192.168.1.20'], ['10.244.14.0/24', '192.168.1.60']]);
    // Another node with our podCIDR is not our lease: neither its arrival nor its deletion stops us.
    fake.deleteNode('evil-dup');
    // Our own node: a heartbeat and a label are no change...
    fake.modifyNode('node-a', (n) => (n.status['conditions'] = [{ type: 'Ready', status: 'True', lastHeartbeatTime: new Date().toISOString() }]));
    fake.modifyNode('node-a', (n) => ((n.metadata['labels'] as Record<string, string>)['team'] = 'net'));
    const quiet = batches;
    fake.modifyNode('node-b', (n) => (n.metadata.annotations[`${P}/backend-data`] = '{"VNI":1,"VtepMAC":"0a:58:0a:f4:08:02"}'));
    await until(() => batches > quiet, 5000, 'node-b changed');
    expect(owns).toEqual([]);
    // ...someone rewriting our backend-data is.
    fake.modifyNode('node-a', (n) => (n.metadata.annotations[`${P}/backend-data`] = '{"VNI":1,"VtepMAC":"0a:58:0a:f4:07:66"}'));
    await until(() => owns.length > 0, 5000, 'own change noticed');
    expect(owns[0]).toMatchObject({ type: 'changed', detail: expect.stringContaining('0a:58:0a:f4:07:66') });
  });

  it('skips a flannel node whose annotations cannot be read, warning once', async () => {
    fake.addNode('node-bad', { podCIDR: '10.244.8.0/24', annotations: { ...flannelAnnotations('192.168.1.20', '0a:58:0a:f4:08:01'), [`${P}/public-ip`]: 'not-an-ip' } });
    const c = watch(registry());
    await until(() => c.batches.length >= 1, 5000, 'the first batch');
    expect(c.batches[0]).toEqual([]);
    fake.modifyNode('node-bad', (n) => ((n.metadata['labels'] as Record<string, string>)['x'] = 'y'));
    fake.addNode('node-ok', { podCIDR: '10.244.9.0/24', annotations: flannelAnnotations('192.168.1.21', '0a:58:0a:f4:09:01') });
    await until(() => c.state.has('10.244.9.0/24'), 5000, 'node-ok');
    expect(logs.filter((l) => l.startsWith('WARN ignoring node node-bad: annotation flannel.alpha.coreos.com/public-ip is "not-an-ip"'))).toHaveLength(1);
  });

  it('lists again when the watch ends with 410 Gone, and converges on what it missed', async () => {
    fake.addNode('node-b', { podCIDR: '10.244.8.0/24', annotations: flannelAnnotations('192.168.1.20', '0a:58:0a:f4:08:01') });
    fake.addNode('node-c', { podCIDR: '10.244.10.0/24', annotations: flannelAnnotations('192.168.1.30', '0a:58:0a:f4:0a:01') });
    const c = watch(registry());
    await until(() => c.state.size === 2 && fake.openWatches === 1, 5000, 'the first batch and a watch');
    const listed = lists();

    // The watch hears nothing more while nodes change; then etcd compacts and the server says 410.
    fake.stallWatches();
    fake.deleteNode('node-b');
    fake.modifyNode('node-c', (n) => (n.metadata.annotations[`${P}/public-ip`] = '192.168.1.31'));
    fake.addNode('node-d', { podCIDR: '10.244.12.0/24', annotations: flannelAnnotations('192.168.1.50', '0a:58:0a:f4:0c:01') });
    fake.compact();
    fake.expireWatches();

    await until(() => c.state.size === 2 && c.state.has('10.244.12.0/24') && c.state.get('10.244.10.0/24')?.attrs.PublicIP === '192.168.1.31', 5000, 'convergence');
    expect([...c.state.keys()].sort()).toEqual(['10.244.10.0/24', '10.244.12.0/24']);
    expect(lists()).toBe(listed + 1);
    // The relist's batch, removals first.
    expect(c.batches.at(-1)!.map((e) => [e.type, e.lease.subnet])).toEqual([
      ['removed', '10.244.8.0/24'],
      ['added', '10.244.10.0/24'],
      ['added', '10.244.12.0/24'],
    ]);
    expect(logs.some((l) => /WARN .*resourceVersion \d+ is gone \(too old resource version.*listing the nodes again/.test(l))).toBe(true);

    // And it watches on from the new listing.
    await until(() => fake.openWatches === 1, 5000, 'a new watch');
    fake.deleteNode('node-d');
    await until(() => !c.state.has('10.244.12.0/24'), 5000, 'node-d removed');
    expect(c.error()).toBeUndefined();
  });

  it('watches on from its resourceVersion, without listing, when the server ends a watch (timeoutSeconds)', async () => {
    const c = watch(registry({ watchTimeoutSeconds: 1 }));
    await until(() => c.batches.length >= 1 && fake.openWatches === 1, 5000, 'a watch');
    fake.closeWatches();
    fake.addNode('node-b', { podCIDR: '10.244.8.0/24', annotations: flannelAnnotations('192.168.1.20', '0a:58:0a:f4:08:01') });
    await until(() => c.state.has('10.244.8.0/24'), 5000, 'node-b through the next watch');
    // The server's own timeoutSeconds ends the next one too.
    await new Promise((r) => setTimeout(r, 1500));
    fake.deleteNode('node-b');
    await until(() => !c.state.has('10.244.8.0/24'), 5000, 'node-b removed');
    expect(lists()).toBe(1);
    const watches = fake.requests.filter((q) => q.query.get('watch') === 'true');
    expect(watches.length).toBeGreaterThanOrEqual(3);
    expect(watches[0]!.query.get('resourceVersion')).toBe(String(100));
    expect(watches[0]!.query.get('allowWatchBookmarks')).toBe('true');
  });

  it('lists again when re-watching from a resourceVersion compacted in between (410 at the start of the watch)', async () => {
    fake.addNode('node-b', { podCIDR: '10.244.8.0/24', annotations: flannelAnnotations('192.168.1.20', '0a:58:0a:f4:08:01') });
    const c = watch(registry());
    await until(() => c.state.size === 1 && fake.openWatches === 1, 5000, 'a watch');
    fake.stallWatches();
    fake.deleteNode('node-b');
    fake.compact();
    fake.closeWatches(); // a clean end: the client re-watches from its old resourceVersion, which is gone
    await until(() => c.state.size === 0, 5000, 'convergence');
    expect(lists()).toBe(2);
    const rewatch = fake.requests.filter((q) => q.query.get('watch') === 'true')[1]!;
    expect(Number(rewatch.query.get('resourceVersion'))).toBeLessThan(fake.resourceVersion);
    expect(logs.some((l) => /is gone \(too old resource version/.test(l))).toBe(true);
  });

  it('keeps listing, backing off, while the API server refuses during a watch, then converges', async () => {
    fake.addNode('node-b', { podCIDR: '10.244.8.0/24', annotations: flannelAnnotations('192.168.1.20', '0a:58:0a:f4:08:01') });
    const c = watch(registry());
    await until(() => c.state.size === 1 && fake.openWatches === 1, 5000, 'a watch');
    fake.forbid('list', 'nodes');
    fake.stallWatches();
    fake.deleteNode('node-b');
    fake.expireWatches();
    await until(() => logs.filter((l) => l.includes('RBAC verb "list" on resource "nodes"')).length >= 2, 5000, 'failed relists');
    expect(c.state.size).toBe(1);
    fake.permit('list', 'nodes');
    await until(() => c.state.size === 0, 5000, 'convergence after the refusal');
    expect(c.error()).toBeUndefined();
  });

  it('stops when the signal aborts or the registry closes', async () => {
    const r = registry();
    const ac = new AbortController();
    const c = consume(r.watchLeases(ac.signal));
    await until(() => fake.openWatches === 1, 5000, 'a watch');
    ac.abort();
    await c.done;
    const c2 = watch(r);
    await until(() => c2.batches.length === 1, 5000, 'a second watcher');
    await r.close();
    await c2.done;
    await until(() => fake.openWatches === 0, 5000, 'the watches to close');
  });
});

// IPv6 (issue 13): flannel kube.go AcquireLease / nodeToLease with EnableIPv6 — the
// IPv6 entry of spec.podCIDRs, and the backend-v6-data / public-ipv6 annotations.
describe('kube registry: IPv6', () => {
  const DUAL_CONF = '{"Network": "10.244.0.0/16", "EnableIPv6": true, "IPv6Network": "fd00:10:244::/56", "Backend": {"Type": "vxlan"}}';
  const V6ONLY_CONF = '{"EnableIPv4": false, "EnableIPv6": true, "IPv6Network": "fd00:10:244::/56", "Backend": {"Type": "vxlan"}}';
  const MAC6_A = '5a:1f:00:11:22:33';
  const dualAttrs = (ip: string, ip6: string, mac: string, mac6: string): LeaseAttrs => ({
    PublicIP: ip, PublicIPv6: ip6, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: mac }, BackendV6Data: { VNI: 1, VtepMAC: mac6 },
  });
  /** What flanneld's vxlan backend writes on a dual-stack node. */
  const flannelDual = (ip: string, ip6: string, mac: string, mac6: string): Record<string, string> => ({
    ...flannelAnnotations(ip, mac),
    [`${P}/backend-v6-data`]: `{"VNI":1,"VtepMAC":"${mac6}"}`,
    [`${P}/public-ipv6`]: ip6,
  });

  it('dual stack: takes both podCIDRs and writes the IPv6 annotations byte for byte', async () => {
    await writeFile(netConf, DUAL_CONF);
    fake.addNode('node-a', { podCIDR: '10.244.7.0/24', podCIDRs: ['10.244.7.0/24', 'fd00:10:244:7::/64'] });
    const r = registry();
    await r.getNetworkConfig();
    const lease = await r.acquireLease(dualAttrs('198.51.100.10', 'FD00:198:51:100:0::10', MAC_A, MAC6_A));
    expect(lease).toMatchObject({ subnet: '10.244.7.0/24', ipv6Subnet: 'fd00:10:244:7::/64', attrs: { PublicIPv6: 'fd00:198:51:100::10' } });
    expect(patches()).toEqual([expect.objectContaining({ body: { metadata: { annotations: flannelDual('198.51.100.10', 'fd00:198:51:100::10', MAC_A, MAC6_A) } } })]);
    expect(r.ipv6SubnetLen({} as NetworkConfig, lease)).toBe(64);
    // Same attrs again: nothing to patch.
    await r.acquireLease(dualAttrs('198.51.100.10', 'fd00:198:51:100::10', MAC_A, MAC6_A));
    expect(patches()).toHaveLength(1);
  });

  it("reads node-public-ipv6 as flannel's GetStoredPublicIP (IPv6), refusing one that is no global or unique-local address", async () => {
    fake.addNode('node-a', { podCIDRs: ['10.244.7.0/24', 'fd00:10:244:7::/64'] });
    expect(await registry().storedPublicIpv6()).toBeNull();
    fake.modifyNode('node-a', (n) => void (n.metadata.annotations[`${P}/node-public-ipv6`] = 'FD00:203:0:113::9'));
    expect(await registry().storedPublicIpv6()).toBe('fd00:203:0:113::9');
    for (const bad of ['::', '::1', 'fe80::1', 'ff02::1', '::ffff:203.0.113.9', '203.0.113.9', 'x'.repeat(200)]) {
      fake.modifyNode('node-a', (n) => void (n.metadata.annotations[`${P}/node-public-ipv6`] = bad));
      await expect(registry().storedPublicIpv6()).rejects.toThrow(/has annotation .*node-public-ipv6=".*": not a global or unique-local unicast IPv6 address/);
    }
  });

  it('publishes public-ipv6-overwrite as public-ipv6', async () => {
    await writeFile(netConf, DUAL_CONF);
    fake.addNode('node-a', { podCIDRs: ['10.244.7.0/24', 'fd00:10:244:7::/64'], annotations: { [`${P}/public-ipv6-overwrite`]: 'fd00:203:0:113::7' } });
    const lease = await registry().acquireLease(dualAttrs('198.51.100.10', 'fd00:198:51:100::10', MAC_A, MAC6_A));
    expect(fake.node('node-a')!['metadata']).toMatchObject({ annotations: { [`${P}/public-ipv6`]: 'fd00:203:0:113::7' } });
    expect(lease.attrs.PublicIPv6).toBe('fd00:203:0:113::7');
  });

  it('IPv6-only: the IPv6 podCIDR alone, no backend-data or public-ip written (flannel: BackendData "null")', async () => {
    await writeFile(netConf, V6ONLY_CONF);
    fake.addNode('node-a', { podCIDR: 'fd00:10:244:7::/64', podCIDRs: ['fd00:10:244:7::/64'] });
    const lease = await registry().acquireLease({ PublicIP: '0.0.0.0', PublicIPv6: 'fd00:198:51:100::10', BackendType: 'vxlan', BackendV6Data: { VNI: 1, VtepMAC: MAC6_A } });
    expect(lease).toMatchObject({ subnet: '', ipv6Subnet: 'fd00:10:244:7::/64' });
    expect(patches()[0]!.body).toEqual({
      metadata: { annotations: { [`${P}/backend-type`]: 'vxlan', [`${P}/backend-v6-data`]: `{"VNI":1,"VtepMAC":"${MAC6_A}"}`, [`${P}/public-ipv6`]: 'fd00:198:51:100::10', [`${P}/kube-subnet-manager`]: 'true' } },
    });
  });

  const refusals: Array<[string, string, object, RegExp]> = [
    ['no IPv6 podCIDR on a dual-stack network', DUAL_CONF, { podCIDRs: ['10.244.7.0/24'] }, /has no IPv6 entry in spec.podCIDRs/],
    ['an IPv6 podCIDR outside IPv6Network', DUAL_CONF, { podCIDRs: ['10.244.7.0/24', 'fd00:99:1::/64'] }, /IPv6 podCIDR fd00:99:1::\/64, which is not inside IPv6Network fd00:10:244::\/56/],
    ['three podCIDRs', DUAL_CONF, { podCIDRs: ['10.244.7.0/24', 'fd00:10:244:7::/64', 'fd00:10:244:8::/64'] }, /spec.podCIDRs has 3 entries/],
    ['two IPv6 podCIDRs', DUAL_CONF, { podCIDRs: ['fd00:10:244:7::/64', 'fd00:10:244:8::/64'] }, /two IPv6 entries/],
    ['a malformed IPv6 podCIDR', DUAL_CONF, { podCIDRs: ['10.244.7.0/24', 'fd00::zz/64'] }, /"fd00::zz\/64" is not an IPv6 network/],
    ['IPv6-only without an IPv6 podCIDR', V6ONLY_CONF, { podCIDR: '10.244.7.0/24' }, /has no IPv6 entry/],
  ];
  it.each(refusals)('refuses %s', async (_n, conf, init, message) => {
    await writeFile(netConf, conf);
    fake.addNode('node-a', init);
    await expect(registry().acquireLease(dualAttrs('198.51.100.10', 'fd00:198:51:100::10', MAC_A, MAC6_A))).rejects.toMatchObject({ code: 'ERR_WEFT_REGISTRY', message: expect.stringMatching(message) });
  });

  it('reads flanneld dual-stack nodes as leases; hostile IPv6 annotations are skipped or refused and counted; honest ones flow', async () => {
    await writeFile(netConf, DUAL_CONF);
    fake.addNode('node-a', { podCIDRs: ['10.244.7.0/24', 'fd00:10:244:7::/64'] });
    fake.addNode('node-b', { podCIDRs: ['10.244.8.0/24', 'fd00:10:244:8::/64'], annotations: flannelDual('198.51.100.20', 'fd00:198:51:100::20', '0a:58:0a:f4:08:01', '5a:58:0a:f4:08:01') });
    // Unreadable: public-ipv6 not an address (skipped with a warning, as flannel skips it).
    fake.addNode('node-x', { podCIDRs: ['10.244.9.0/24', 'fd00:10:244:9::/64'], annotations: flannelDual('198.51.100.30', 'not-an-ip', '0a:58:0a:f4:09:01', '5a:58:0a:f4:09:01') });
    // Readable but hostile: a link-local PublicIPv6, and a multicast IPv6 VTEP MAC.
    fake.addNode('node-y', { podCIDRs: ['10.244.10.0/24', 'fd00:10:244:a::/64'], annotations: flannelDual('198.51.100.40', 'fe80::40', '0a:58:0a:f4:0a:01', '5a:58:0a:f4:0a:01') });
    fake.addNode('node-z', { podCIDRs: ['10.244.11.0/24', 'fd00:10:244:b::/64'], annotations: flannelDual('198.51.100.50', 'fd00:198:51:100::50', '0a:58:0a:f4:0b:01', '33:33:00:00:00:01') });
    const r = registry();
    const self = await r.acquireLease(dualAttrs('198.51.100.10', 'fd00:198:51:100::10', MAC_A, MAC6_A));
    const config = await r.getNetworkConfig();
    const admission = new LeaseAdmission({
      network: config.Network, subnetLen: r.subnetLen(config, self), backend: 'vxlan', vni: 1,
      ipv6: { network: config.IPv6Network!, subnetLen: r.ipv6SubnetLen(config, self) },
      self: { lease: self, publicIps: ['198.51.100.10'], mac: MAC_A, publicIpv6s: ['fd00:198:51:100::10'], macV6: MAC6_A },
      log: { info() {}, warn() {} },
    });
    const accepted = new Map<string, string | undefined>();
    const ac = new AbortController();
    stops.push(ac);
    void (async () => {
      for await (const batch of r.watchLeases(ac.signal)) {
        for (const e of admission.admit(batch).events) {
          if (e.type === 'added') accepted.set(e.lease.node!, e.lease.ipv6Subnet);
          else accepted.delete(e.lease.node!);
        }
      }
    })();
    await until(() => accepted.size === 1, 5000, 'node-b accepted');
    expect([...accepted]).toEqual([['node-b', 'fd00:10:244:8::/64']]);
    expect(admission.rejections().get('bad_public_ipv6')).toBe(1);
    expect(admission.rejections().get('bad_v6_mac')).toBe(1);
    expect(logs.some((l) => l.startsWith('WARN ignoring node node-x') && l.includes('public-ipv6'))).toBe(true);
    // An honest newcomer gets in.
    fake.addNode('node-c', { podCIDRs: ['10.244.12.0/24', 'fd00:10:244:c::/64'], annotations: flannelDual('198.51.100.60', 'fd00:198:51:100::60', '0a:58:0a:f4:0c:01', '5a:58:0a:f4:0c:01') });
    await until(() => accepted.has('node-c'), 5000, 'node-c accepted');
    expect(accepted.get('node-c')).toBe('fd00:10:244:c::/64');
  });
});
