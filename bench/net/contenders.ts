// The contenders. Each one adds its own parts to the fixed topology (devices,
// routes, daemons), addresses the pods, and removes exactly those parts again.
import { existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileRegistry } from '../../src/registry/index.js';
import { Daemon } from './daemon.js';
import type { Janitor } from './janitor.js';
import { inNs, ipn, ipnMaybe, waitFor } from './sh.js';
import { WireguardGo } from './wireguard-go.js';

const WEFT_CLI = fileURLToPath(new URL('../../../bin/weft.js', import.meta.url));

/** `weft status --json` of the node in that namespace (over its private status socket). */
function weftStatus(ns: string): string {
  return inNs(ns, process.execPath, [WEFT_CLI, 'status', '--json'], { allowFail: true });
}
import { addressPods, CLUSTER_NETWORK, hostIn, STATIC_SUBNETS, UNDERLAY_MTU, type PodAddrs, type Topology } from './topology.js';

export interface Ctx {
  t: Topology;
  j: Janitor;
  log: (m: string) => void;
}

export interface Setup {
  addrs: PodAddrs;
  /** The device each node must route the other pod's address through (checked before measuring). */
  viaDev: [string, string];
  /** Processes whose CPU time is the data plane's. */
  daemons: Daemon[];
}

export interface Contender {
  readonly name: string;
  /** Binaries it needs besides ip, ping and iperf3. */
  readonly tools: string[];
  setup(ctx: Ctx): Promise<Setup>;
  /** The data plane's own counters after the measurements (weft: non-zero drops per node). */
  stats?(ctx: Ctx): Record<string, unknown>;
  /** Removes what setup added, also after a partial setup; returns problems seen. */
  teardown(ctx: Ctx): Promise<string[]>;
}

/** The node's route to the peer's pod subnet, removed at teardown. */
function peerSubnet(i: number, subnets: [string, string]): string {
  return subnets[1 - i]!;
}

class Routes implements Contender {
  readonly name = 'routes';
  readonly tools: string[] = [];
  async setup({ t }: Ctx): Promise<Setup> {
    for (let i = 0; i < 2; i++) {
      const peer = t.nodes[1 - i]!;
      ipn(t.nodes[i]!.ns, 'route', 'replace', peerSubnet(i, STATIC_SUBNETS), 'via', peer.underlayIp, 'dev', t.nodes[i]!.underlayIf);
    }
    return { addrs: addressPods(t, STATIC_SUBNETS, UNDERLAY_MTU), viaDev: [t.nodes[0].underlayIf, t.nodes[1].underlayIf], daemons: [] };
  }
  async teardown({ t }: Ctx): Promise<string[]> {
    for (let i = 0; i < 2; i++) {
      ipnMaybe(t.nodes[i]!.ns, 'route', 'del', peerSubnet(i, STATIC_SUBNETS));
    }
    return [];
  }
}

/** The kernel's VXLAN, programmed the way flannel's vxlan backend programs it. */
class KernelVxlan implements Contender {
  readonly name = 'kernel-vxlan';
  readonly tools = ['bridge'];
  static readonly DEV = 'flannel.1';
  async setup({ t }: Ctx): Promise<Setup> {
    const dev = KernelVxlan.DEV;
    const macs: string[] = [];
    for (let i = 0; i < 2; i++) {
      const n = t.nodes[i]!;
      ipn(n.ns, 'link', 'add', dev, 'type', 'vxlan', 'id', '1', 'local', n.underlayIp, 'dstport', '4789', 'nolearning', 'dev', n.underlayIf);
      ipn(n.ns, 'link', 'set', dev, 'mtu', String(UNDERLAY_MTU - 50));
      ipn(n.ns, 'addr', 'add', `${hostIn(STATIC_SUBNETS[i]!, 0)}/32`, 'dev', dev);
      ipn(n.ns, 'link', 'set', dev, 'up');
      const link = JSON.parse(ipn(n.ns, '-j', 'link', 'show', 'dev', dev)) as { address: string }[];
      macs.push(link[0]!.address);
    }
    for (let i = 0; i < 2; i++) {
      const n = t.nodes[i]!;
      const peer = t.nodes[1 - i]!;
      const peerNet = peerSubnet(i, STATIC_SUBNETS);
      const peerVtep = hostIn(peerNet, 0);
      const peerMac = macs[1 - i]!;
      ipn(n.ns, 'neigh', 'replace', peerVtep, 'lladdr', peerMac, 'dev', dev, 'nud', 'permanent');
      inNs(n.ns, 'bridge', ['fdb', 'append', peerMac, 'dev', dev, 'dst', peer.underlayIp]);
      ipn(n.ns, 'route', 'replace', peerNet, 'via', peerVtep, 'dev', dev, 'onlink');
    }
    return { addrs: addressPods(t, STATIC_SUBNETS, UNDERLAY_MTU - 50), viaDev: [dev, dev], daemons: [] };
  }
  async teardown({ t }: Ctx): Promise<string[]> {
    // The neighbour, fdb entry and route go with the device.
    for (const n of t.nodes) {
      ipnMaybe(n.ns, 'link', 'del', KernelVxlan.DEV);
    }
    return [];
  }
}

/** Stops daemons (SIGTERM, then SIGKILL) and reports any that did not exit cleanly. */
export async function stopAll(daemons: Daemon[], graceMs: number): Promise<string[]> {
  const problems: string[] = [];
  await Promise.all(
    daemons.map(async (d) => {
      const wasRunning = d.running;
      const e = await d.stop(graceMs);
      if (e.killed) problems.push(`${d.what} did not exit within ${graceMs} ms of SIGTERM (killed)`);
      else if (wasRunning && e.code !== 0 && e.signal !== 'SIGTERM') problems.push(`${d.what} exited ${e.code ?? e.signal} on SIGTERM`);
      else if (!wasRunning) problems.push(`${d.what} had already exited (${e.code ?? e.signal}) before teardown`);
    }),
  );
  return problems;
}

/** quicktun's raw protocol (no crypto): the IP packet in one UDP datagram. */
class Quicktun implements Contender {
  readonly name = 'quicktun';
  readonly tools = ['quicktun'];
  static readonly DEV = 'wbqt0';
  static readonly PORT = 2998;
  static readonly OVERHEAD = 28; // outer IPv4 + UDP
  private daemons: Daemon[] = [];
  async setup({ t, j }: Ctx): Promise<Setup> {
    const dev = Quicktun.DEV;
    for (let i = 0; i < 2; i++) {
      const n = t.nodes[i]!;
      const env = {
        IF_QT_PROTOCOL: 'raw',
        IF_QT_TUN_MODE: '1',
        // quicktun 2.2.6 names its device from IFACE (what ifupdown sets), not IF_QT_INTERFACE.
        IFACE: dev,
        IF_QT_LOCAL_ADDRESS: n.underlayIp,
        IF_QT_LOCAL_PORT: String(Quicktun.PORT),
        IF_QT_REMOTE_ADDRESS: t.nodes[1 - i]!.underlayIp,
        IF_QT_REMOTE_PORT: String(Quicktun.PORT),
      };
      this.daemons.push(Daemon.start(j, n.ns, `quicktun n${i + 1}`, 'quicktun', [], join(j.dir, `quicktun-n${i + 1}.log`), env));
    }
    for (let i = 0; i < 2; i++) {
      const n = t.nodes[i]!;
      const d = this.daemons[i]!;
      await waitFor(`quicktun's ${dev} in ${n.ns}`, 5000, () => {
        d.assertRunning();
        return ipnMaybe(n.ns, 'link', 'show', 'dev', dev) !== null;
      });
      ipn(n.ns, 'link', 'set', dev, 'mtu', String(UNDERLAY_MTU - Quicktun.OVERHEAD), 'up');
      ipn(n.ns, 'route', 'replace', peerSubnet(i, STATIC_SUBNETS), 'dev', dev);
    }
    return { addrs: addressPods(t, STATIC_SUBNETS, UNDERLAY_MTU - Quicktun.OVERHEAD), viaDev: [dev, dev], daemons: this.daemons };
  }
  async teardown(): Promise<string[]> {
    // The TUN (not persistent) and its route go when quicktun exits.
    const problems = await stopAll(this.daemons, 3000);
    this.daemons = [];
    return problems;
  }
}

const WEFT_JS = fileURLToPath(new URL('../../../bin/weft.js', import.meta.url));

/**
 * bin/weft.js through a symlink in the run dir, as the integration suite does: the
 * command line then does not contain "weft.js run", so a `pkill -f "weft.js run"`
 * elsewhere on the machine (/tmp/smoke.sh does one) cannot stop our nodes
 * mid-measurement. Node resolves the link, so bin/weft.js still finds ../dist.
 */
function weftLauncher(runDir: string): string {
  const link = join(runDir, 'weft-bench.js');
  if (!existsSync(link)) symlinkSync(WEFT_JS, link);
  return link;
}
const HEALTHZ_PORT = 10250;

/** FLANNEL_SUBNET=10.244.7.1/24 → 10.244.7.0/24, and FLANNEL_MTU. */
function readSubnetFile(path: string): { subnet: string; mtu: number } | undefined {
  if (!existsSync(path)) return undefined;
  const text = readFileSync(path, 'utf8');
  const s = /^FLANNEL_SUBNET=([\d.]+)\/(\d+)$/m.exec(text);
  const m = /^FLANNEL_MTU=(\d+)$/m.exec(text);
  if (!s || !m) return undefined;
  const len = Number(s[2]);
  const [a, b, c, d] = s[1]!.split('.').map(Number) as [number, number, number, number];
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  const net = (((a << 24) | (b << 16) | (c << 8) | d) & mask) >>> 0;
  return { subnet: `${[net >>> 24, (net >>> 16) & 255, (net >>> 8) & 255, net & 255].join('.')}/${len}`, mtu: Number(m[1]) };
}

class Weft implements Contender {
  readonly name: string;
  readonly tools: string[] = ['curl'];
  private daemons: Daemon[] = [];
  constructor(
    readonly backend: 'vxlan' | 'ipip' | 'udp',
    readonly port: number,
    /** --offload=false: one syscall per packet everywhere, to show what the offloads are worth. */
    readonly offload = true,
  ) {
    this.name = `weft-${backend}${offload ? '' : '-no-offload'}`;
  }

  async setup({ t, j }: Ctx): Promise<Setup> {
    const dir = join(j.dir, this.name);
    mkdirSync(dir, { recursive: true });
    const registryFile = join(dir, 'registry.json');
    const registry = new FileRegistry({ path: registryFile });
    await registry.putNetworkConfig(JSON.stringify({ Network: CLUSTER_NETWORK, Backend: { Type: this.backend, ...(this.port ? { Port: this.port } : {}) } }));
    await registry.close();
    const subnetFiles: string[] = [];
    for (let i = 0; i < 2; i++) {
      const n = t.nodes[i]!;
      const nodeDir = join(dir, `n${i + 1}`);
      mkdirSync(nodeDir, { recursive: true });
      subnetFiles.push(join(nodeDir, 'subnet.env'));
      const args = [
        weftLauncher(j.dir), 'run',
        '--iface', n.underlayIf,
        '--registry-file', registryFile,
        '--subnet-file', subnetFiles[i]!,
        '--state-dir', join(nodeDir, 'state'),
        '--healthz-ip', '127.0.0.1',
        '--healthz-port', String(HEALTHZ_PORT),
        '--workers', '2',
        ...(this.offload ? [] : ['--offload=false']),
      ];
      this.daemons.push(Daemon.start(j, n.ns, `weft ${this.backend} n${i + 1}`, process.execPath, args, join(nodeDir, 'weft.log')));
    }
    // Ready: subnet file written (weft writes it once the first lease snapshot is applied)...
    const leased = await Promise.all(
      subnetFiles.map((f, i) =>
        waitFor(`weft's subnet file ${f}`, 15_000, () => {
          this.daemons[i]!.assertRunning();
          return readSubnetFile(f);
        }),
      ),
    );
    // ...and each node has the other as a peer (the file registry is polled).
    for (let i = 0; i < 2; i++) {
      const n = t.nodes[i]!;
      await waitFor(`weft n${i + 1} to see its peer`, 10_000, () => {
        this.daemons[i]!.assertRunning();
        const body = weftStatus(n.ns);
        try {
          return (JSON.parse(body) as { peers: unknown[] }).peers.length >= 1;
        } catch {
          return false;
        }
      });
    }
    const mtu = Math.min(leased[0]!.mtu, leased[1]!.mtu);
    return { addrs: addressPods(t, [leased[0]!.subnet, leased[1]!.subnet], mtu), viaDev: ['weft0', 'weft0'], daemons: this.daemons };
  }

  stats({ t }: Ctx): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    t.nodes.forEach((n, i) => {
      const body = weftStatus(n.ns);
      try {
        const st = JSON.parse(body) as { drops: Record<string, number>; workerRestarts: number; workers: unknown[] };
        out[`n${i + 1}`] = {
          drops: Object.fromEntries(Object.entries(st.drops).filter(([, v]) => v > 0)),
          workerRestarts: st.workerRestarts,
          workers: st.workers,
        };
      } catch {
        out[`n${i + 1}`] = { error: `no /status: ${body.slice(0, 200)}` };
      }
    });
    return out;
  }

  async teardown({ t }: Ctx): Promise<string[]> {
    const problems = await stopAll(this.daemons, 5000);
    this.daemons = [];
    for (const n of t.nodes) {
      // weft removes its TUN and route on SIGTERM; anything left is a weft bug.
      if (ipnMaybe(n.ns, 'link', 'show', 'dev', 'weft0') !== null) {
        problems.push(`${n.ns}: weft0 still exists after weft stopped; deleting it`);
        ipnMaybe(n.ns, 'link', 'del', 'weft0');
      }
    }
    return problems;
  }
}

export function allContenders(): Contender[] {
  return [new Routes(), new KernelVxlan(), new Quicktun(), new Weft('vxlan', 4789), new Weft('ipip', 0), new Weft('udp', 8285), new Weft('vxlan', 4789, false), new WireguardGo()];
}
