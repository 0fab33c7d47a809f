// `weft lab up`: builds the lab step by step, printing each one:
//
//   underlay namespace + bridge → node namespaces on it → registry (file or etcd)
//   → `weft run` per node → ready (subnet file + `weft status`) → one pod per node,
//   wired from the node's subnet file as the flannel CNI bridge plugin would
//   → every node sees every other
//
// Refuses to start over an existing lab. If a step fails or the user interrupts,
// removes everything it made (`down`) before returning the error.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { FileRegistry } from '../registry/file.js';
import {
  assertLabAddress,
  type Backend,
  ETCD_ENDPOINT,
  Interrupted,
  LAB_DIR,
  LabError,
  link,
  networkConfig,
  nodeAddress,
  ns as names,
  parseSubnetEnv,
  planPod,
  REGISTRY_FILE,
  seconds,
  sleep,
  UNDERLAY_ADDR,
} from './common.js';
import { labDown } from './down.js';
import { alive, cmdline, ipn, labNamespaces, nsRun, onPath, run } from './exec.js';
import { type LabNode, type LabState, writeState } from './state.js';
import { isLabWeft, logTail, nodeStatus, spawnDetached, startWeft } from './weft.js';

export interface UpOptions {
  nodes: number;
  backend: Backend;
  etcd: boolean;
  say: (line: string) => void;
  /** Aborted on SIGINT/SIGTERM: stop building, clean up. */
  signal: AbortSignal;
  /** Per node, until `weft status` says ready. Default 45 s. */
  readyTimeoutMs?: number;
}

const ETCD_DIR = `${LAB_DIR}/etcd`;
const ETCD_LOG = `${LAB_DIR}/etcd.log`;

function check(signal: AbortSignal): void {
  if (signal.aborted) throw new Interrupted();
}

/** One line per missing piece, each with its fix. */
export function missingTools(opts: { etcd: boolean }): string[] {
  const missing: string[] = [];
  if (!onPath('ip')) missing.push('ip (apt-get install -y iproute2)');
  if (!onPath('sysctl')) missing.push('sysctl (apt-get install -y procps)');
  if (opts.etcd && !onPath('etcd')) missing.push('etcd (apt-get install -y etcd-server)');
  if (!existsSync('/dev/net/tun')) missing.push('/dev/net/tun (modprobe tun)');
  return missing;
}

/** Throws the "a lab exists" refusal when there is one (or its leftovers). */
export function assertNoLab(): void {
  const left = labNamespaces();
  if (left.length > 0 || existsSync(LAB_DIR)) {
    const what = left.length > 0 ? `namespaces ${left.slice(0, 4).join(' ')}${left.length > 4 ? ' …' : ''}` : LAB_DIR;
    throw new LabError(`a weft lab already exists (${what}): run \`weft lab down\` first`);
  }
}

export function workersPerNode(nodes: number): number {
  return availableParallelism() >= 2 * nodes ? 2 : 1;
}

export async function labUp(opts: UpOptions): Promise<LabState> {
  const { say } = opts;
  const missing = missingTools(opts);
  if (missing.length > 0) {
    const etcd = missing.find((m) => m.startsWith('etcd '));
    if (etcd && missing.length === 1) throw new LabError('--etcd needs etcd, which is not installed: apt-get install -y etcd-server');
    throw new LabError(`weft lab needs ${missing.join(', ')}`);
  }
  assertNoLab();
  // The claim: mkdir is atomic, so of two `up` at once only one gets here.
  mkdirSync('/run', { recursive: true });
  try {
    mkdirSync(LAB_DIR, { mode: 0o755 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new LabError(`a weft lab already exists (${LAB_DIR}): run \`weft lab down\` first`);
    throw new LabError(`cannot create ${LAB_DIR}: ${(e as Error).message}`);
  }
  const state: LabState = {
    version: 1,
    phase: 'building',
    createdAt: new Date().toISOString(),
    upPid: process.pid,
    backend: opts.backend,
    workers: workersPerNode(opts.nodes),
    registry: opts.etcd ? { kind: 'etcd', endpoint: ETCD_ENDPOINT, pid: null, dataDir: ETCD_DIR, logFile: ETCD_LOG } : { kind: 'file', path: REGISTRY_FILE },
    namespaces: [],
    nodes: [],
    pods: [],
  };
  writeState(state);
  try {
    await build(state, opts);
    state.phase = 'up';
    writeState(state);
    return state;
  } catch (e) {
    // A Ctrl-C also reaches the `ip` commands in flight: their failure is the interruption.
    const why = e instanceof Interrupted || opts.signal.aborted ? 'interrupted' : `failed: ${(e as Error).message}`;
    say(`weft lab up ${why}`);
    say('removing what was made:');
    try {
      await labDown({ say: (l) => say(`  ${l}`) });
    } catch (d) {
      say(`  ${(d as Error).message}`);
    }
    throw e;
  }
}

/** Records the namespace (before it exists: never lost), creates it, lo up, settings. */
async function addNamespace(state: LabState, name: string, sysctls: string[]): Promise<void> {
  state.namespaces.push(name);
  writeState(state);
  await run('ip', ['netns', 'add', name]);
  await ipn(name, 'link', 'set', 'lo', 'up');
  // No IPv6 chatter (router/neighbour solicitations) on the lab's links: weft carries IPv4.
  await nsRun(name, 'sysctl', ['-q', '-e', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1', ...sysctls]);
}

async function build(state: LabState, opts: UpOptions): Promise<void> {
  const { say, signal } = opts;
  const t0 = Date.now();
  const config = networkConfig(opts.backend);
  const registryText = state.registry.kind === 'etcd' ? `etcd at ${ETCD_ENDPOINT} (in ${names.underlay})` : `file registry ${REGISTRY_FILE}`;
  say(`weft lab up: ${opts.nodes} nodes, ${opts.backend}, ${registryText}`);

  // The underlay: one bridge, like the switch between the machines.
  const ul = names.underlay;
  await addNamespace(state, ul, []);
  await ipn(ul, 'link', 'add', link.underlayBridge, 'type', 'bridge');
  assertLabAddress(UNDERLAY_ADDR);
  await ipn(ul, 'addr', 'add', `${UNDERLAY_ADDR}/24`, 'dev', link.underlayBridge);
  await ipn(ul, 'link', 'set', link.underlayBridge, 'up');
  say(`  underlay  ${ul.padEnd(14)} bridge ${link.underlayBridge} ${UNDERLAY_ADDR}/24`);

  for (let i = 1; i <= opts.nodes; i++) {
    check(signal);
    const n = names.node(i);
    const iface = link.nodeUplink(i);
    const address = nodeAddress(i);
    assertLabAddress(address);
    await addNamespace(state, n, ['net.ipv4.ip_forward=1']);
    await ipn(ul, 'link', 'add', link.nodeUplinkPeer(i), 'type', 'veth', 'peer', 'name', iface, 'netns', n);
    await ipn(ul, 'link', 'set', link.nodeUplinkPeer(i), 'master', link.underlayBridge, 'up');
    await ipn(n, 'addr', 'add', `${address}/24`, 'dev', iface);
    await ipn(n, 'link', 'set', iface, 'up');
    const dir = `${LAB_DIR}/node${i}`;
    state.nodes.push({
      index: i,
      name: `node${i}`,
      ns: n,
      iface,
      address,
      pid: null,
      dir,
      logFile: `${dir}/weft.log`,
      subnetFile: `${dir}/subnet.env`,
      stateDir: `${dir}/state`,
      subnet: null,
      mtu: null,
    });
    writeState(state);
    say(`  node${i}     ${n.padEnd(14)} ${iface} ${address}/24 on ${link.underlayBridge}, ip_forward on`);
  }

  check(signal);
  if (state.registry.kind === 'etcd') {
    await startEtcd(state, config, signal);
    say(`  registry  etcd pid ${state.registry.pid} on ${ETCD_ENDPOINT}, /coreos.com/network/config = ${config}`);
  } else {
    const registry = new FileRegistry({ path: REGISTRY_FILE });
    try {
      await registry.putNetworkConfig(config);
    } finally {
      await registry.close();
    }
    say(`  registry  ${REGISTRY_FILE}, /coreos.com/network/config = ${config}`);
  }

  for (const node of state.nodes) {
    check(signal);
    node.pid = startWeft({
      ns: node.ns,
      iface: node.iface,
      dir: node.dir,
      subnetFile: node.subnetFile,
      stateDir: node.stateDir,
      logFile: node.logFile,
      workers: state.workers,
      etcdEndpoint: state.registry.kind === 'etcd' ? ETCD_ENDPOINT : null,
      registryFile: REGISTRY_FILE,
    });
    writeState(state);
    say(`  weft      ${node.name} pid ${node.pid}, ${state.workers} worker${state.workers > 1 ? 's' : ''}, log ${node.logFile}`);
  }

  await Promise.all(state.nodes.map((node) => waitReady(node, opts, t0)));
  writeState(state);

  for (const node of state.nodes) {
    check(signal);
    await addPod(state, node);
    const pod = state.pods[state.pods.length - 1]!;
    say(`  pod${node.index}      ${pod.ns.padEnd(14)} ${link.podIface} ${pod.address} via ${pod.gateway} (${link.podBridge} on ${node.name}), mtu ${pod.mtu}`);
  }

  await waitPeers(state, opts);
  say(`  peers     every node knows the other ${state.nodes.length - 1}`);
  say(`lab up in ${seconds(Date.now() - t0)}`);
}

async function startEtcd(state: LabState, config: string, signal: AbortSignal): Promise<void> {
  if (state.registry.kind !== 'etcd') return;
  mkdirSync(ETCD_DIR, { recursive: true, mode: 0o700 });
  const peer = 'http://127.0.0.1:2380';
  const pid = spawnDetached(
    names.underlay,
    'etcd',
    [
      '--name', 'weftlab',
      '--data-dir', ETCD_DIR,
      '--listen-client-urls', ETCD_ENDPOINT,
      '--advertise-client-urls', ETCD_ENDPOINT,
      '--listen-peer-urls', peer,
      '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `weftlab=${peer}`,
      '--initial-cluster-state', 'new',
      '--logger', 'zap',
      '--log-level', 'warn',
    ],
    ETCD_LOG,
  );
  state.registry.pid = pid;
  writeState(state);
  // The lab process lives in the root namespace and cannot reach etcd (on purpose):
  // a small node script inside the underlay namespace waits for it and puts the config.
  const died = new AbortController();
  const watch = setInterval(() => {
    if (!alive(pid)) died.abort();
  }, 200);
  try {
    await nsRun(names.underlay, process.execPath, ['-e', ETCD_PUT, ETCD_ENDPOINT, '/coreos.com/network/config', config, '20000'], {
      timeoutMs: 30_000,
      signal: AbortSignal.any([signal, died.signal]),
    });
  } catch (e) {
    if (died.signal.aborted && !signal.aborted) throw new LabError(`etcd exited: ${logTail(ETCD_LOG, 3)}`);
    throw e;
  } finally {
    clearInterval(watch);
  }
}

/** node -e ETCD_PUT <endpoint> <key> <value> <timeoutMs>: waits for /health, then PUTs over the v3 JSON gateway. */
const ETCD_PUT = `
const [endpoint, key, value, ms] = process.argv.slice(1);
const b64 = (s) => Buffer.from(s).toString('base64');
const deadline = Date.now() + Number(ms);
(async () => {
  for (;;) {
    try {
      const r = await fetch(endpoint + '/health', { signal: AbortSignal.timeout(1000) });
      if (/"health":\\s*"?true/.test(await r.text())) break;
    } catch {}
    if (Date.now() > deadline) { console.error('etcd is not healthy at ' + endpoint + ' after ' + ms + ' ms'); process.exit(1); }
    await new Promise((r) => setTimeout(r, 100));
  }
  const r = await fetch(endpoint + '/v3/kv/put', { method: 'POST', body: JSON.stringify({ key: b64(key), value: b64(value) }) });
  const t = await r.text();
  if (!r.ok || /"error"/.test(t)) { console.error('etcd put ' + key + ': ' + r.status + ' ' + t); process.exit(1); }
})();
`;

async function waitReady(node: LabNode, opts: UpOptions, t0: number): Promise<void> {
  const timeoutMs = opts.readyTimeoutMs ?? 45_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    check(opts.signal);
    // /proc/<pid>/cmdline reads empty while the process is inside execve (seen
    // here about 1 in 150 starts): that is "starting", not "exited".
    if (node.pid === null || !alive(node.pid) || (!isLabWeft(node.pid) && cmdline(node.pid) !== '')) {
      throw new LabError(`weft on ${node.name} exited: ${logTail(node.logFile)}`);
    }
    if (existsSync(node.subnetFile)) {
      const s = await nodeStatus(node.ns, opts.signal);
      if (s?.ready) {
        const env = parseSubnetEnv(readFileSync(node.subnetFile, 'utf8'), node.subnetFile);
        node.subnet = s.lease.subnet;
        node.mtu = env.mtu;
        opts.say(`  ready     ${node.name} lease ${s.lease.subnet} on ${s.tun ?? 'kernel routes (host-gw)'}, FLANNEL_SUBNET ${env.subnet}, FLANNEL_MTU ${env.mtu} (${seconds(Date.now() - t0)})`);
        return;
      }
    }
    if (Date.now() > deadline) {
      throw new LabError(`weft on ${node.name} is not ready after ${timeoutMs / 1000} s: ${logTail(node.logFile)}`);
    }
    await sleep(150);
  }
}

async function addPod(state: LabState, node: LabNode): Promise<void> {
  const env = parseSubnetEnv(readFileSync(node.subnetFile, 'utf8'), node.subnetFile);
  const plan = planPod(env);
  assertLabAddress(plan.gateway);
  assertLabAddress(plan.podIp);
  const pod = names.pod(node.index);
  const mtu = String(plan.mtu);
  const hostVeth = link.podHostVeth(node.index);
  // The CNI bridge (cni0 in flannel's setup) holds the subnet's first host: the pods' gateway.
  await ipn(node.ns, 'link', 'add', link.podBridge, 'type', 'bridge');
  await ipn(node.ns, 'addr', 'add', plan.bridgeCidr, 'dev', link.podBridge);
  await ipn(node.ns, 'link', 'set', link.podBridge, 'mtu', mtu, 'up');
  await addNamespace(state, pod, []);
  await ipn(node.ns, 'link', 'add', hostVeth, 'mtu', mtu, 'type', 'veth', 'peer', 'name', link.podIface, 'mtu', mtu, 'netns', pod);
  await ipn(node.ns, 'link', 'set', hostVeth, 'master', link.podBridge, 'up');
  await ipn(pod, 'addr', 'add', plan.podCidr, 'dev', link.podIface);
  await ipn(pod, 'link', 'set', link.podIface, 'mtu', mtu, 'up');
  await ipn(pod, 'route', 'add', 'default', 'via', plan.gateway, 'dev', link.podIface);
  state.pods.push({ index: node.index, name: `pod${node.index}`, ns: pod, node: node.ns, address: plan.podCidr, gateway: plan.gateway, mtu: plan.mtu });
  writeState(state);
}

async function waitPeers(state: LabState, opts: UpOptions): Promise<void> {
  const want = state.nodes.length - 1;
  const deadline = Date.now() + 20_000;
  for (const node of state.nodes) {
    for (;;) {
      check(opts.signal);
      const s = await nodeStatus(node.ns, opts.signal);
      if (s && s.peers.length >= want) break;
      if (node.pid === null || !alive(node.pid)) throw new LabError(`weft on ${node.name} exited: ${logTail(node.logFile)}`);
      if (Date.now() > deadline) {
        throw new LabError(`${node.name} sees ${s?.peers.length ?? 'no'} peers, not ${want}, after 20 s: ${logTail(node.logFile)}`);
      }
      await sleep(150);
    }
  }
}
