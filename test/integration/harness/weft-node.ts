// One `weft run` inside a node namespace: started, killed, restarted with the
// same flags (state dir and subnet file survive), asked for /status and /metrics.
import { appendFileSync, existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ethtoolFeatures, nsRun, Proc, waitFor } from './exec.js';
import type { Janitor } from './janitor.js';
import type { DaemonStatus } from '../../../src/cli/status.js';

export const WEFT_BIN = fileURLToPath(new URL('../../../bin/weft.js', import.meta.url));
export const HEALTH = 'http://127.0.0.1:10250';

/**
 * bin/weft.js, run through a symlink in the run dir: the command line then names
 * this run (stale-process cleanup recognises it) and does not contain "weft.js run",
 * so a `pkill -f "weft.js run"` elsewhere on the machine (/tmp/smoke.sh does one)
 * does not kill these nodes in the middle of a test. Node resolves the symlink,
 * so bin/weft.js finds ../dist as usual.
 */
export function weftLauncher(runDir: string): string {
  const link = join(runDir, 'weft-it.js');
  if (!existsSync(link)) {
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(WEFT_BIN, link);
  }
  return link;
}

/** What the daemon's /status answers: the same shape `weft status --json` prints. */
export type WeftStatus = DaemonStatus;

export interface SubnetEnv {
  network: string;
  /** FLANNEL_SUBNET, e.g. 10.244.7.1/24 ("" on an IPv6-only node, which has none) */
  subnet: string;
  mtu: number;
  /** FLANNEL_IPV6_NETWORK / FLANNEL_IPV6_SUBNET (e.g. fd00:10:244:7::1/64) with EnableIPv6, else null. */
  ipv6Network: string | null;
  ipv6Subnet: string | null;
}

export interface Metrics {
  txPackets: number;
  rxPackets: number;
  drops: Record<string, number>;
  backend: string | null;
  raw: string;
}

export function parseMetrics(text: string): Metrics {
  const drops: Record<string, number> = {};
  let txPackets = NaN;
  let rxPackets = NaN;
  let backend: string | null = null;
  for (const line of text.split('\n')) {
    let m = /^weft_dropped_packets_total\{reason="([a-z_]+)"\} (\S+)$/.exec(line);
    if (m) drops[m[1]!] = Number(m[2]);
    m = /^weft_(tx|rx)_packets_total\{backend="([a-z]+)"\} (\S+)$/.exec(line);
    if (m) {
      backend = m[2]!;
      if (m[1] === 'tx') txPackets = Number(m[3]);
      else rxPackets = Number(m[3]);
    }
  }
  return { txPackets, rxPackets, drops, backend, raw: text };
}

/** Where a second weft beside a node's first listens (a rolling update), and its log. */
export interface WeftEndpoints {
  healthzPort?: number;
  /** --status-socket, default weft's own (@weft). */
  statusSocket?: string;
  logName?: string;
}

export class WeftNode {
  proc: Proc | null = null;
  readonly healthzPort: number;
  readonly statusSocket: string | null;
  /** Set when the process was spawned (Date.now()), for gaps measured from the start. */
  spawnedAt = 0;
  readonly dir: string;
  readonly subnetFile: string;
  readonly stateDir: string;
  readonly logFile: string;
  private starts = 0;
  /** Set while the test itself stops or kills this weft. */
  private stopping = false;
  private unexpectedExit: string | null = null;

  constructor(
    private readonly janitor: Janitor,
    readonly name: string,
    readonly ns: string,
    readonly iface: string,
    readonly underlayIp: string,
    runDir: string,
    private readonly etcdEndpoint: string,
    private readonly extraArgs: string[] = [],
    endpoints: WeftEndpoints = {},
  ) {
    this.dir = join(runDir, name);
    mkdirSync(this.dir, { recursive: true });
    this.subnetFile = join(this.dir, 'subnet.env');
    this.stateDir = join(this.dir, 'state');
    this.logFile = join(this.dir, endpoints.logName ?? 'weft.log');
    this.healthzPort = endpoints.healthzPort ?? 10250;
    this.statusSocket = endpoints.statusSocket ?? null;
  }

  /**
   * Another weft for the same node (same namespace, state dir and subnet file, so
   * the same subnet and VTEP MAC), listening elsewhere: the new pod of a rolling
   * update, started beside this one.
   */
  sibling(endpoints: WeftEndpoints): WeftNode {
    return new WeftNode(this.janitor, this.name, this.ns, this.iface, this.underlayIp, dirname(this.dir), this.etcdEndpoint, this.extraArgs, endpoints);
  }

  private get health(): string {
    return `http://127.0.0.1:${this.healthzPort}`;
  }

  args(): string[] {
    return [
      weftLauncher(this.janitor.dir), 'run',
      '--etcd-endpoints', this.etcdEndpoint,
      '--iface', this.iface,
      '--subnet-file', this.subnetFile,
      '--state-dir', this.stateDir,
      '--healthz-ip', '127.0.0.1',
      '--healthz-port', String(this.healthzPort),
      '--workers', '2',
      ...(this.statusSocket ? ['--status-socket', this.statusSocket] : []),
      ...this.extraArgs,
    ];
  }

  /** Starts weft and waits for /readyz. */
  async start(readyTimeoutMs = 30_000): Promise<void> {
    if (this.proc?.running) throw new Error(`${this.name}: already running`);
    this.starts++;
    this.stopping = false;
    this.unexpectedExit = null;
    // WEFT_FAULT_INJECTION: SIGUSR2 makes the daemon kill data-plane worker 0, SIGURG makes it spin (suites/worker-death.ts).
    this.spawnedAt = Date.now();
    this.proc = new Proc(this.janitor, this.ns, process.execPath, this.args(), { logFile: this.logFile, env: { WEFT_FAULT_INJECTION: '1' } });
    const proc = this.proc;
    void proc.exited.then(({ code, signal }) => {
      if (this.stopping) return;
      this.unexpectedExit =
        `weft on ${this.name} exited by itself (${signal ?? `code ${code}`}) at ${new Date().toISOString()}, not stopped by the test` +
        (signal ? ` — a signal from outside the test (e.g. a \`pkill -f "weft.js run"\` elsewhere)?` : '');
      appendFileSync(this.logFile, `[integration] ${this.unexpectedExit}\n`);
    });
    await waitFor(
      `${this.name} /readyz`,
      async () => {
        if (!proc.running) throw new Error(`weft on ${this.name} exited (start #${this.starts}):\n${this.log().slice(-4000)}`);
        const r = await nsRun(this.ns, 'curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-m', '1', `${this.health}/readyz`], { allowFail: true });
        return r.stdout === '200';
      },
      readyTimeoutMs,
      100,
    ).catch((e) => {
      throw new Error(`${(e as Error).message}\n--- ${this.name} log ---\n${this.log().slice(-4000)}`);
    });
  }

  /** Sends a signal to the weft process. */
  signal(sig: NodeJS.Signals): void {
    this.proc?.child.kill(sig);
  }

  /** kill -9: no cleanup by weft; the kernel closes its fds (the TUN goes with them). */
  async kill9(): Promise<void> {
    if (!this.proc) return;
    this.stopping = true;
    this.proc.child.kill('SIGKILL');
    await this.proc.exited;
  }

  /** SIGTERM (weft's orderly stop), SIGKILL after graceMs. */
  async stop(graceMs = 5000): Promise<{ code: number | null; signal: NodeJS.Signals | null } | null> {
    if (!this.proc) return null;
    this.stopping = true;
    if (this.unexpectedExit) return this.proc.exited;
    return this.proc.stop('SIGTERM', graceMs);
  }

  get running(): boolean {
    return this.proc?.running ?? false;
  }

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  async get(path: string): Promise<string> {
    if (this.unexpectedExit) throw new Error(this.unexpectedExit);
    return (await nsRun(this.ns, 'curl', ['-sS', '-f', '-m', '3', `${this.health}${path}`])).stdout;
  }

  /** `weft status --json` in the node's namespace: /status is served on the local socket only. */
  async status(): Promise<WeftStatus> {
    if (this.unexpectedExit) throw new Error(this.unexpectedExit);
    return JSON.parse((await nsRun(this.ns, process.execPath, [WEFT_BIN, 'status', '--json', ...(this.statusSocket ? ['--status-socket', this.statusSocket] : [])])).stdout) as WeftStatus;
  }

  async metrics(): Promise<Metrics> {
    return parseMetrics(await this.get('/metrics'));
  }

  subnetEnv(): SubnetEnv {
    const text = readFileSync(this.subnetFile, 'utf8');
    const opt = (k: string): string | null => new RegExp(`^${k}=(.*)$`, 'm').exec(text)?.[1]!.trim() ?? null;
    const v = (k: string): string => {
      const m = opt(k);
      if (m === null) throw new Error(`${this.subnetFile} has no ${k}:\n${text}`);
      return m;
    };
    const ipv6Subnet = opt('FLANNEL_IPV6_SUBNET');
    // IPv6-only: no IPv4 lines at all.
    const v4 = ipv6Subnet === null || opt('FLANNEL_SUBNET') !== null;
    return {
      network: v4 ? v('FLANNEL_NETWORK') : '',
      subnet: v4 ? v('FLANNEL_SUBNET') : '',
      mtu: Number(v('FLANNEL_MTU')),
      ipv6Network: opt('FLANNEL_IPV6_NETWORK'),
      ipv6Subnet,
    };
  }

  /** The kernel's counters of weft0: rx = what weft wrote into it, tx = what the kernel queued for weft. */
  async tunCounters(tun = 'weft0'): Promise<{ rxPackets: number; txPackets: number; txDropped: number }> {
    const out = (await nsRun(this.ns, 'ip', ['-j', '-s', 'link', 'show', 'dev', tun])).stdout;
    const st = (JSON.parse(out) as Array<{ stats64: { rx: { packets: number }; tx: { packets: number; dropped: number } } }>)[0]!.stats64;
    return { rxPackets: st.rx.packets, txPackets: st.tx.packets, txDropped: st.tx.dropped };
  }

  /** `ethtool -k` of weft0 (or tun): feature name → 'on' / 'off' ("[fixed]" dropped). */
  tunFeatures(tun = 'weft0'): Promise<Record<string, string>> {
    return ethtoolFeatures(this.ns, tun);
  }

  /** Does weft0 (or tunName) exist in the node namespace? */
  async hasTun(tun = 'weft0'): Promise<boolean> {
    const r = await nsRun(this.ns, 'ip', ['link', 'show', 'dev', tun], { allowFail: true });
    return r.code === 0;
  }
}
