// deploy/weft.yaml: every object valid for the API server, and the DaemonSet
// shaped as weft needs it (capabilities, mounts, probes, flags, config) and as
// flannel's kube-flannel.yml has it. No cluster needed.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseRunFlags, RUN_FLAGS } from '../../src/daemon/flags.js';
import { FLANNEL_VXLAN_KERNEL_DEFAULT_PORT, parseNetworkConfig } from '../../src/registry/index.js';
import {
  flagNames,
  flagValue,
  kindKey,
  loadYamlDocuments,
  mergePatch,
  type Obj,
  quantity,
  readRepoFile,
  schedulesOn,
  validateObject,
} from './helpers.js';

const MANIFEST = 'deploy/weft.yaml';
const docs = loadYamlDocuments(readRepoFile(MANIFEST), MANIFEST);
const flannelDocs = loadYamlDocuments(readRepoFile('test/deploy/fixtures/kube-flannel.yml'), 'kube-flannel.yml');

const only = (list: Obj[], kind: string): Obj => {
  const found = list.filter((d) => d['kind'] === kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
  return found[0]!;
};

const namespace = only(docs, 'Namespace');
const serviceAccount = only(docs, 'ServiceAccount');
const clusterRole = only(docs, 'ClusterRole');
const binding = only(docs, 'ClusterRoleBinding');
const configMap = only(docs, 'ConfigMap');
const ds = only(docs, 'DaemonSet');
const pod = ds['spec']['template']['spec'] as Obj;
const containers = pod['containers'] as Obj[];
const initContainers = (pod['initContainers'] ?? []) as Obj[];
const allContainers = [...initContainers, ...containers];
const main = containers.find((c) => c['name'] === 'kube-weft')!;
const args = main['args'] as string[];
const volumes = pod['volumes'] as Obj[];
const volume = (name: string): Obj => volumes.find((v) => v['name'] === name)!;

const flannelDs = only(flannelDocs, 'DaemonSet');
const flannelCm = only(flannelDocs, 'ConfigMap');

/** Flags the manifest passes that come with the kube subnet manager (issue 6): not parsed while a tree lacks them. */
const PENDING_FLAGS = ['kube-subnet-mgr', 'net-config-path'];

describe('deploy/weft.yaml: every object is valid', () => {
  it('holds the objects of kube-flannel.yml, once each', () => {
    expect(docs.map(kindKey).sort()).toEqual(
      [
        'apps/v1/DaemonSet',
        'rbac.authorization.k8s.io/v1/ClusterRole',
        'rbac.authorization.k8s.io/v1/ClusterRoleBinding',
        'v1/ConfigMap',
        'v1/Namespace',
        'v1/ServiceAccount',
      ].sort(),
    );
    // The same kinds as flannel's manifest.
    expect(docs.map(kindKey).sort()).toEqual(flannelDocs.map(kindKey).sort());
  });

  it.each(docs.map((d) => [`${d['kind']} ${d['metadata']?.['name']}`, d] as const))('%s passes the API schema and has no unknown field', (_, doc) => {
    expect(() => validateObject(doc)).not.toThrow();
  });

  it('kube-flannel.yml itself passes the same checks (the checks accept a manifest known to work)', () => {
    for (const doc of flannelDocs) expect(() => validateObject(doc)).not.toThrow();
  });

  // Broken copies: each must fail, or the checks above prove nothing.
  const broken: [string, (d: Obj) => void, RegExp][] = [
    ['hostNetwork is a string', (d) => void (d['spec']['template']['spec']['hostNetwork'] = 'true'), /hostNetwork must be boolean/],
    ['the selector is missing', (d) => void delete d['spec']['selector'], /required property selector/],
    ['a container has no name', (d) => void delete d['spec']['template']['spec']['containers'][0]['name'], /required property name/],
    ['a hostPath type is misspelled', (d) => void (d['spec']['template']['spec']['volumes'][0]['hostPath']['type'] = 'Directory0rCreate'), /allowed values/],
    ['a toleration field is misspelled', (d) => void (d['spec']['template']['spec']['tolerations'][0] = { operator: 'Exists', effekt: 'NoSchedule' }), /unknown fields: .*tolerations\[0\]\.effekt/],
    ['a container field is misspelled', (d) => void (d['spec']['template']['spec']['containers'][0]['volumeMount'] = []), /unknown fields: .*containers\[0\]\.volumeMount\b/],
    ['a probe port is an object', (d) => void (d['spec']['template']['spec']['containers'][0]['livenessProbe']['httpGet']['port'] = {}), /port must be/],
  ];
  it.each(broken)('a copy where %s fails validation', (_, breakIt, message) => {
    const copy = structuredClone(ds);
    breakIt(copy);
    expect(() => validateObject(copy)).toThrow(message);
  });

  it('a label value that is not a string fails validation', () => {
    const copy = structuredClone(namespace);
    copy['metadata']['labels']['pod-security.kubernetes.io/enforce'] = true;
    expect(() => validateObject(copy)).toThrow(/must be string/);
  });
});

describe('namespace, service account and RBAC', () => {
  it('kube-weft, where pod security admits a host-network pod', () => {
    expect(namespace['metadata']['name']).toBe('kube-weft');
    expect(namespace['metadata']['labels']['pod-security.kubernetes.io/enforce']).toBe('privileged');
    for (const d of docs.filter((o) => !['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(o['kind']))) {
      expect(d['metadata']['namespace'], `${d['kind']} ${d['metadata']['name']}`).toBe('kube-weft');
    }
  });

  it('the binding gives the ClusterRole to the service account the DaemonSet runs as', () => {
    expect(binding['roleRef']).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterRole['metadata']['name'] });
    expect(binding['subjects']).toEqual([{ kind: 'ServiceAccount', name: serviceAccount['metadata']['name'], namespace: 'kube-weft' }]);
    expect(pod['serviceAccountName']).toBe(serviceAccount['metadata']['name']);
  });

  const grants = (role: Obj): Set<string> =>
    new Set(
      (role['rules'] as Obj[]).flatMap((r) =>
        (r['apiGroups'] as string[]).flatMap((g) => (r['resources'] as string[]).flatMap((res) => (r['verbs'] as string[]).map((v) => `${g}|${res}|${v}`))),
      ),
    );

  it('the ClusterRole grants what the kube subnet manager uses: nodes get/list/watch, nodes/status patch', () => {
    const mine = grants(clusterRole);
    for (const g of ['|nodes|get', '|nodes|list', '|nodes|watch', '|nodes/status|patch']) expect(mine).toContain(g);
  });

  it('and nothing that flannel\'s ClusterRole does not grant', () => {
    const flannel = grants(only(flannelDocs, 'ClusterRole'));
    expect([...grants(clusterRole)].filter((g) => !flannel.has(g))).toEqual([]);
    expect(JSON.stringify(clusterRole['rules'])).not.toMatch(/"\*"/);
  });
});

/** The API server's rule for a DaemonSet rolling update (ValidateRollingUpdateDaemonSet): exactly one of the two non-zero. */
function rollingUpdateProblems(r: Obj): string[] {
  const unavailable = r['maxUnavailable'] ?? 1;
  const surge = r['maxSurge'] ?? 0;
  const nonZero = (v: unknown): boolean => v !== 0 && v !== '0%';
  if (nonZero(unavailable) && nonZero(surge)) return ['maxSurge may not be set when maxUnavailable is non-zero'];
  if (!nonZero(unavailable) && !nonZero(surge)) return ['maxUnavailable cannot be 0 when maxSurge is 0'];
  return [];
}

describe('the DaemonSet', () => {
  it('runs on the host network on every Linux node, before anything else', () => {
    expect(pod['hostNetwork']).toBe(true);
    expect(pod['hostPID']).toBeUndefined();
    expect(pod['hostIPC']).toBeUndefined();
    expect(pod['priorityClassName']).toBe('system-node-critical');
    expect(pod['tolerations']).toContainEqual({ operator: 'Exists', effect: 'NoSchedule' });
    expect(schedulesOn(pod, { 'kubernetes.io/os': 'linux' })).toBe(true);
    expect(schedulesOn(pod, { 'kubernetes.io/os': 'windows' })).toBe(false);
  });

  it('is not privileged: NET_ADMIN and NET_RAW only, in every container', () => {
    for (const c of allContainers) {
      expect(c['securityContext']?.['privileged'] ?? false, c['name']).toBe(false);
      const added = (c['securityContext']?.['capabilities']?.['add'] ?? []) as string[];
      expect(added.filter((cap) => !['NET_ADMIN', 'NET_RAW'].includes(cap)), c['name']).toEqual([]);
    }
    const caps = main['securityContext']['capabilities']['add'] as string[];
    expect([...caps].sort()).toEqual(['NET_ADMIN', 'NET_RAW']);
    expect(caps).not.toContain('SYS_ADMIN');
    expect(caps).not.toContain('ALL');
  });

  it('every volume mount names a volume, and every volume is mounted', () => {
    const names = new Set(volumes.map((v) => v['name']));
    const mounted = new Set<string>();
    for (const c of allContainers) {
      for (const m of (c['volumeMounts'] ?? []) as Obj[]) {
        expect(names, `${c['name']} mounts ${m['name']}`).toContain(m['name']);
        mounted.add(m['name']);
      }
    }
    expect([...names].filter((n) => !mounted.has(n))).toEqual([]);
  });

  const mountsOf = (c: Obj): Map<string, Obj> =>
    new Map(((c['volumeMounts'] ?? []) as Obj[]).map((m) => [String(m['mountPath']).replace(/(.)\/$/, '$1'), volume(m['name'])]));

  it.each([
    // container, path in the container, host path, hostPath type
    ['kube-weft', '/dev/net/tun', '/dev/net/tun', 'CharDevice'],
    ['kube-weft', '/run/flannel', '/run/flannel', 'DirectoryOrCreate'],
    ['kube-weft', '/run/xtables.lock', '/run/xtables.lock', 'FileOrCreate'],
    ['kube-weft', '/var/lib/weft', '/var/lib/weft', 'DirectoryOrCreate'],
    ['install-cni-plugin', '/opt/cni/bin', '/opt/cni/bin', undefined],
    ['install-cni', '/etc/cni/net.d', '/etc/cni/net.d', undefined],
  ])('%s mounts %s from the host\'s %s (%s)', (container, path, hostPath, type) => {
    const c = allContainers.find((x) => x['name'] === container)!;
    const v = mountsOf(c).get(path);
    expect(v?.['hostPath']).toEqual(type === undefined ? { path: hostPath } : { path: hostPath, type });
  });

  it('mounts net-conf.json from the ConfigMap where --net-config-path says', () => {
    const path = flagValue(args, 'net-config-path')!;
    expect(path).toBe('/etc/kube-flannel/net-conf.json');
    const dir = path.slice(0, path.lastIndexOf('/'));
    const v = mountsOf(main).get(dir);
    expect(v?.['configMap']?.['name']).toBe(configMap['metadata']['name']);
    expect(v?.['configMap']?.['items']).toBeUndefined(); // the whole map: both keys
    expect(Object.keys(configMap['data'])).toContain(path.slice(dir.length + 1));
  });

  it('installs flannel\'s CNI plugin from flannel\'s image, as kube-flannel.yml does', () => {
    const mine = initContainers.find((c) => c['name'] === 'install-cni-plugin')!;
    const theirs = (flannelDs['spec']['template']['spec']['initContainers'] as Obj[]).find((c) => c['name'] === 'install-cni-plugin')!;
    expect(mine['image']).toBe(theirs['image']);
    expect(mine['image']).toMatch(/^ghcr\.io\/flannel-io\/flannel-cni-plugin:v\d/);
    expect([...mine['command'], ...mine['args']]).toEqual([...theirs['command'], ...theirs['args']]);
  });

  it('installs cni-conf.json from the ConfigMap as /etc/cni/net.d/10-weft.conflist, by rename', () => {
    const c = initContainers.find((x) => x['name'] === 'install-cni')!;
    expect(c['image']).toBe(main['image']);
    const script = [...c['command'], ...c['args']].join(' ');
    const src = /cp -f (\S+) (\S+)/.exec(script);
    const mv = /mv -f (\S+) (\S+)/.exec(script);
    expect(src?.[1]).toBe('/etc/kube-flannel/cni-conf.json');
    expect(mv?.[1]).toBe(src?.[2]); // the temporary file is renamed into place
    expect(mv?.[2]).toBe('/etc/cni/net.d/10-weft.conflist');
    // The temporary name must not look like a CNI config (.conf, .conflist, .json) to the runtime.
    expect(src?.[2]).toMatch(/^\/etc\/cni\/net\.d\/\.[^/]*\.tmp$/);
    expect(mountsOf(c).get('/etc/kube-flannel')?.['configMap']?.['name']).toBe(configMap['metadata']['name']);
  });

  describe('the guard against a node that still has flannel\'s VXLAN device', () => {
    const guard = initContainers[0]!;
    /** Runs the guard's shell script with a stand-in `ip` that prints `links` and logs how it was called. */
    const runGuard = (links: string): { status: number | null; stderr: string; ipCalls: string[] } => {
      const dir = mkdtempSync(join(tmpdir(), 'weft-guard-'));
      try {
        writeFileSync(join(dir, 'ip'), `#!/bin/sh\necho "$*" >> "${dir}/calls"\nprintf '%s' "$FAKE_LINKS"\n`);
        chmodSync(join(dir, 'ip'), 0o755);
        writeFileSync(join(dir, 'calls'), '');
        const [sh, ...rest] = [...guard['command'], ...guard['args']] as string[];
        const r = spawnSync(sh!, rest, { env: { PATH: `${dir}:${process.env['PATH']}`, FAKE_LINKS: links }, encoding: 'utf8' });
        const ipCalls = readFileSync(join(dir, 'calls'), 'utf8').split('\n').filter(Boolean);
        return { status: r.status, stderr: r.stderr, ipCalls };
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    };
    const link = (n: number, name: string): string => `${n}: ${name}: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UNKNOWN mode DEFAULT group default \\    link/ether 0e:2a:00:00:00:01 brd ff:ff:ff:ff:ff:ff\n`;

    it('runs first, reads only, and needs no capability', () => {
      expect(guard['name']).toBe('check-no-flannel-vxlan');
      expect(guard['securityContext']).toBeUndefined();
      expect(guard['volumeMounts']).toBeUndefined();
      // The only `ip` command it runs, with or without flannel's device, lists links.
      for (const links of ['', link(5, 'flannel.1')]) expect(runGuard(links).ipCalls).toEqual(['-o link show type vxlan']);
    });

    it('passes on a node without VXLAN devices or with other ones', () => {
      expect(runGuard('')).toMatchObject({ status: 0, stderr: '' });
      expect(runGuard(link(4, 'vxlan0') + link(7, 'flannelish'))).toMatchObject({ status: 0 });
    });

    it('stops, naming the device and the fix, where flannel.<VNI> exists', () => {
      const r = runGuard(link(4, 'vxlan0') + link(5, 'flannel.1'));
      expect(r.status).toBe(1);
      expect(r.stderr).toContain("device flannel.1: stop flannel on this node, then run 'ip link delete flannel.1'");
      expect(runGuard(link(9, 'flannel.4096')).stderr).toContain('flannel.4096');
    });
  });

  it('runs `weft run` through the image entrypoint with flags weft has (or is getting)', () => {
    expect(main['command']).toBeUndefined();
    expect(args[0]).toBe('run');
    expect(args).toContain('--kube-subnet-mgr');
    const unknown = flagNames(args).filter((f) => !(f in RUN_FLAGS) && !PENDING_FLAGS.includes(f));
    expect(unknown).toEqual([]);
  });

  it('`weft run` accepts those flags with the environment the pod gets', () => {
    // The downward API's values for a pod of this DaemonSet.
    const downward: Record<string, string> = { 'metadata.name': 'kube-weft-ds-x7k2p', 'metadata.namespace': 'kube-weft', 'spec.nodeName': 'node-1' };
    const env = Object.fromEntries(
      (main['env'] as Obj[]).map((e) => [e['name'], e['value'] ?? downward[e['valueFrom']?.['fieldRef']?.['fieldPath']]]),
    ) as Record<string, string>;
    expect(Object.values(env).every((v) => typeof v === 'string')).toBe(true);
    // Flags weft does not have yet (PENDING_FLAGS) are left out until they land.
    const known = args.slice(1).filter((a) => !a.startsWith('--') || flagNames([a])[0]! in RUN_FLAGS);
    const flags = parseRunFlags(known, env) as unknown as Record<string, unknown>;
    expect(flags).toMatchObject({ healthzIp: '127.0.0.1', healthzPort: 10267, workers: 2, subnetFile: '/run/flannel/subnet.env', stateDir: '/var/lib/weft' });
    // Where weft writes, the host's directories are mounted.
    const mounts = mountsOf(main);
    expect(mounts.get(dirname(flags['subnetFile'] as string))?.['hostPath']?.['path']).toBe('/run/flannel');
    expect(mounts.get(flags['stateDir'] as string)?.['hostPath']?.['path']).toBe('/var/lib/weft');
    if ('kube-subnet-mgr' in RUN_FLAGS) {
      expect(flags).toMatchObject({ kubeSubnetMgr: true, netConfigPath: '/etc/kube-flannel/net-conf.json', nodeName: 'node-1' });
    }
  });

  it('probes /healthz and /readyz where weft serves them', () => {
    const port = Number(flagValue(args, 'healthz-port'));
    const ip = flagValue(args, 'healthz-ip') ?? RUN_FLAGS['healthz-ip']!.default;
    expect(port).toBeGreaterThan(0);
    const named = new Map(((main['ports'] ?? []) as Obj[]).map((p) => [p['name'], p['containerPort']]));
    for (const [probe, path] of [
      ['livenessProbe', '/healthz'],
      ['readinessProbe', '/readyz'],
    ] as const) {
      const get = main[probe]['httpGet'] as Obj;
      expect(get['path'], probe).toBe(path);
      expect(typeof get['port'] === 'string' ? named.get(get['port']) : get['port'], probe).toBe(port);
      // Without a host the kubelet probes the pod IP, which is the node's address
      // with hostNetwork: a health server on loopback needs host: 127.0.0.1.
      if (ip === '0.0.0.0') expect([undefined, '127.0.0.1'], probe).toContain(get['host']);
      else expect(get['host'], probe).toBe(ip);
    }
  });

  it('updates surge-first: maxSurge 1, maxUnavailable 0 (as the API server validates it), and no port that would be a hostPort', () => {
    const spec = ds['spec'] as Obj;
    expect(spec['updateStrategy']).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
    expect(rollingUpdateProblems(spec['updateStrategy']['rollingUpdate'])).toEqual([]);
    // Broken copies the API server refuses: the check above is not vacuous.
    expect(rollingUpdateProblems({ maxSurge: 1, maxUnavailable: 1 })).toEqual(['maxSurge may not be set when maxUnavailable is non-zero']);
    expect(rollingUpdateProblems({ maxSurge: 0, maxUnavailable: 0 })).toEqual(['maxUnavailable cannot be 0 when maxSurge is 0']);
    expect(rollingUpdateProblems({})).toEqual([]); // the defaults: maxUnavailable 1, maxSurge 0
    // With hostNetwork every containerPort is a hostPort: the surge pod could not be scheduled beside the old.
    for (const c of allContainers) expect(c['ports'], c['name']).toBeUndefined();
    expect(spec['minReadySeconds']).toBeGreaterThanOrEqual(10);
  });

  it('keeps the health server on loopback', () => {
    expect(flagValue(args, 'healthz-ip')).toBe('127.0.0.1');
  });

  it('requests CPU and memory, and limits memory only', () => {
    const r = main['resources'] as Obj;
    expect(quantity(r['requests']['cpu'])).toBeCloseTo(0.1);
    expect(quantity(r['requests']['memory'])).toBeGreaterThanOrEqual(100 * 2 ** 20);
    expect(quantity(r['limits']['memory'])).toBeGreaterThan(quantity(r['requests']['memory']));
    expect(r['limits']['cpu']).toBeUndefined(); // CFS throttling of a data plane drops packets
  });

  it('gives weft its pod and node names from the downward API', () => {
    const env = new Map((main['env'] as Obj[]).map((e) => [e['name'], e['valueFrom']?.['fieldRef']?.['fieldPath']]));
    expect(env.get('POD_NAME')).toBe('metadata.name');
    expect(env.get('POD_NAMESPACE')).toBe('metadata.namespace');
    expect(env.get('NODE_NAME')).toBe('spec.nodeName');
  });

  it('uses one weft image, pinned to a version', () => {
    const images = new Set(allContainers.filter((c) => c['name'] !== 'install-cni-plugin').map((c) => c['image']));
    expect([...images]).toEqual(['ghcr.io/weft-project/weft:0.1.0']);
    for (const c of allContainers) expect(c['image'], c['name']).not.toMatch(/:latest$|^[^:]+$/);
  });
});

describe('the ConfigMap', () => {
  const net = configMap['data']['net-conf.json'] as string;
  const cni = JSON.parse(configMap['data']['cni-conf.json'] as string) as Obj;

  it('net-conf.json is accepted by weft\'s own parser, with flannel\'s kernel VXLAN port', () => {
    const config = parseNetworkConfig(net);
    expect(config.Network).toBe('10.244.0.0/16');
    expect(config.Backend).toMatchObject({ Type: 'vxlan', Port: FLANNEL_VXLAN_KERNEL_DEFAULT_PORT, PortConfigured: true, VNI: 1 });
  });

  it('net-conf.json describes the same network as kube-flannel.yml\'s', () => {
    const theirs = parseNetworkConfig(flannelCm['data']['net-conf.json']); // weft reads flannel's file too
    const mine = parseNetworkConfig(net);
    expect({ ...mine, Backend: undefined }).toEqual({ ...theirs, Backend: undefined });
    expect(mine.Backend.Type).toBe(theirs.Backend.Type);
  });

  it('without the explicit Port weft would not agree with flannel nodes (why the key is there)', () => {
    const withoutPort = JSON.parse(net) as Obj;
    delete withoutPort['Backend']['Port'];
    const c = parseNetworkConfig(JSON.stringify(withoutPort));
    expect(c.Backend.Type === 'vxlan' && c.Backend.Port).not.toBe(FLANNEL_VXLAN_KERNEL_DEFAULT_PORT);
  });

  it('cni-conf.json is a CNI conflist whose first plugin is flannel\'s', () => {
    expect(cni['cniVersion']).toMatch(/^\d+\.\d+\.\d+$/);
    expect(typeof cni['name']).toBe('string');
    expect(Array.isArray(cni['plugins'])).toBe(true);
    for (const p of cni['plugins'] as Obj[]) expect(typeof p['type']).toBe('string');
    expect(cni['plugins'][0]).toEqual({ type: 'flannel', delegate: { hairpinMode: true, isDefaultGateway: true } });
    expect(cni['plugins']).toContainEqual({ type: 'portmap', capabilities: { portMappings: true } });
  });

  it('cni-conf.json is kube-flannel.yml\'s, network name included (host-local keeps its address records per name)', () => {
    expect(cni).toEqual(JSON.parse(flannelCm['data']['cni-conf.json']));
    expect(cni['name']).toBe('cbr0');
  });
});

describe('moving a flannel cluster node by node (deploy/migrate)', () => {
  const patch = JSON.parse(readRepoFile('deploy/migrate/flannel-on-flannel-nodes.patch.json')) as Obj;
  const restore = JSON.parse(readRepoFile('deploy/migrate/flannel-restore.patch.json')) as Obj;
  const patched = mergePatch(flannelDs, patch) as Obj;
  const flannelPod = (d: Obj): Obj => d['spec']['template']['spec'];
  const LABEL = 'weft-project.io/dataplane';

  it('the patched flannel DaemonSet is still valid and otherwise unchanged', () => {
    expect(() => validateObject(patched)).not.toThrow();
    const strip = (d: Obj): Obj => mergePatch(d, { spec: { template: { spec: { affinity: null } } } }) as Obj;
    expect(strip(patched)).toEqual(strip(flannelDs));
  });

  it.each([
    ['a node without the label (a new node, or a cluster without flannel)', {}, 'weft'],
    ['a node labelled flannel', { [LABEL]: 'flannel' }, 'flannel'],
    ['a node labelled weft', { [LABEL]: 'weft' }, 'weft'],
  ])('exactly one data plane runs on %s', (_, extra, expected) => {
    const labels = { 'kubernetes.io/os': 'linux', ...extra };
    const running = [schedulesOn(flannelPod(patched), labels) && 'flannel', schedulesOn(pod, labels) && 'weft'].filter(Boolean);
    expect(running).toEqual([expected]);
  });

  it('without the patch flannel and weft would both run on an unlabelled node', () => {
    const labels = { 'kubernetes.io/os': 'linux' };
    expect(schedulesOn(flannelPod(flannelDs), labels) && schedulesOn(pod, labels)).toBe(true);
  });

  it('neither runs on Windows nodes', () => {
    for (const v of [undefined, 'flannel', 'weft']) {
      const labels: Record<string, string> = { 'kubernetes.io/os': 'windows', ...(v ? { [LABEL]: v } : {}) };
      expect(schedulesOn(flannelPod(patched), labels) || schedulesOn(pod, labels)).toBe(false);
    }
  });

  it('the restore patch gives flannel back its original node affinity', () => {
    const restored = mergePatch(patched, restore) as Obj;
    expect(() => validateObject(restored)).not.toThrow();
    expect(restored).toEqual(flannelDs);
  });
});
