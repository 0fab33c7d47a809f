// A real 3-member etcd cluster (Debian etcd-server), one member per network
// namespace, all on one underlay bridge, for failover tests and the soak:
//
//   <tag>ul   underlay: bridge wtbr0 (<net>.254/24); nodes attach to it too
//   <tag>e<i> member i: veth wte<i> (<net>.1<i>/24), etcd client :2379, peer :2380
//
// Members are killed (SIGKILL, as a crash), frozen (SIGSTOP: the TCP connections
// stay up but nothing answers, as a hung host) and started again on their data
// dir (the --initial-cluster flags are then ignored: the member rejoins).
// Everything is created through the janitor (names, pids, cleanup on any exit).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { attachToUnderlay, UNDERLAY_BRIDGE } from './cluster.js';
import { Etcd } from './etcd.js';
import { ipn, nsRun, Proc, sleep, waitFor } from './exec.js';
import type { Janitor } from './janitor.js';

export class EtcdMember {
  proc: Proc | null = null;
  /** Raft member id, as /v3/maintenance/status prints it (decimal string). */
  id = '';
  frozen = false;

  constructor(
    readonly name: string,
    readonly ns: string,
    readonly ip: string,
    readonly dataDir: string,
    readonly logFile: string,
  ) {}

  get endpoint(): string {
    return `http://${this.ip}:2379`;
  }

  get peerUrl(): string {
    return `http://${this.ip}:2380`;
  }

  get running(): boolean {
    return this.proc?.running ?? false;
  }

  /** A JSON-gateway client (curl in the member's namespace) for this member. */
  get client(): Etcd {
    return new Etcd(this.ns, this.endpoint, this.proc!);
  }
}

export interface EtcdClusterOptions {
  /** Namespace role prefix, e.g. 'fo' (roles foul, foe1, ...). */
  tag: string;
  /** First three octets of the underlay, e.g. '203.0.113'. */
  net: string;
  members?: number;
}

export class EtcdCluster {
  readonly members: EtcdMember[] = [];
  ul!: string;
  private readonly namespaces: string[] = [];

  private constructor(
    readonly janitor: Janitor,
    readonly opts: EtcdClusterOptions,
    readonly dir: string,
  ) {}

  /** The underlay and the members, started and agreeing on a leader. */
  static async create(janitor: Janitor, opts: EtcdClusterOptions): Promise<EtcdCluster> {
    const c = new EtcdCluster(janitor, opts, join(janitor.dir, opts.tag));
    try {
      await c.build();
    } catch (e) {
      console.error(`etcd cluster ${opts.tag} failed to start:\n${c.logs()}`);
      await c.destroy();
      throw e;
    }
    return c;
  }

  private async build(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    this.ul = this.addNamespace('ul');
    await ipn(this.ul, 'link', 'add', UNDERLAY_BRIDGE, 'type', 'bridge');
    await ipn(this.ul, 'addr', 'add', `${this.opts.net}.254/24`, 'dev', UNDERLAY_BRIDGE);
    await ipn(this.ul, 'link', 'set', UNDERLAY_BRIDGE, 'up');
    const n = this.opts.members ?? 3;
    for (let i = 1; i <= n; i++) {
      const ns = this.addNamespace(`e${i}`);
      const ip = `${this.opts.net}.${10 + i}`;
      await attachToUnderlay(this.ul, ns, `wte${i}`, ip);
      this.members.push(new EtcdMember(`m${i}`, ns, ip, join(this.dir, `etcd-m${i}`), join(this.dir, `etcd-m${i}.log`)));
    }
    for (const m of this.members) this.spawn(m);
    await this.waitHealthy(30_000);
  }

  /** A further namespace of this cluster (weft nodes, pods), removed with it. */
  addNamespace(role: string): string {
    const ns = this.janitor.addNamespace(`${this.opts.tag}${role}`);
    this.namespaces.push(ns);
    return ns;
  }

  /** Puts a namespace on this cluster's underlay bridge. */
  attach(ns: string, ifname: string, ip: string): Promise<void> {
    return attachToUnderlay(this.ul, ns, ifname, ip);
  }

  /** Every member's client URL: what `--etcd-endpoints` gets. */
  get endpoints(): string[] {
    return this.members.map((m) => m.endpoint);
  }

  private spawn(m: EtcdMember): void {
    mkdirSync(m.dataDir, { recursive: true });
    m.proc = new Proc(
      this.janitor,
      m.ns,
      'etcd',
      [
        '--name', m.name,
        '--data-dir', m.dataDir,
        '--listen-client-urls', m.endpoint,
        '--advertise-client-urls', m.endpoint,
        '--listen-peer-urls', m.peerUrl,
        '--initial-advertise-peer-urls', m.peerUrl,
        '--initial-cluster', this.members.map((x) => `${x.name}=${x.peerUrl}`).join(','),
        '--initial-cluster-state', 'new',
        '--initial-cluster-token', `weft-${this.janitor.id}-${this.opts.tag}`,
        '--logger', 'zap',
        '--log-level', 'warn',
      ],
      { logFile: m.logFile },
    );
    m.frozen = false;
  }

  /** The members that run and are not frozen. */
  get live(): EtcdMember[] {
    return this.members.filter((m) => m.running && !m.frozen);
  }

  /** /v3/maintenance/status of one member: its id and the leader it follows ('0': none). */
  async status(m: EtcdMember): Promise<{ id: string; leader: string; raftIndex: number }> {
    const r = await nsRun(m.ns, 'curl', ['-sS', '-m', '1', '-X', 'POST', `${m.endpoint}/v3/maintenance/status`, '-d', '{}'], { timeoutMs: 5000 });
    const doc = JSON.parse(r.stdout) as { header?: { member_id?: string }; leader?: string; raftIndex?: string };
    if (!doc.header?.member_id) throw new Error(`${m.name}: no status: ${r.stdout}`);
    m.id = String(doc.header.member_id);
    return { id: m.id, leader: String(doc.leader ?? '0'), raftIndex: Number(doc.raftIndex ?? 0) };
  }

  /** Until every live member is healthy and all follow one leader; returns the leader. */
  async waitHealthy(timeoutMs = 20_000): Promise<EtcdMember> {
    return waitFor(
      'the etcd members to agree on a leader',
      async () => {
        for (const m of this.members) {
          if (m.proc && !m.running && !m.frozen) throw new Error(`etcd ${m.name} exited:\n${m.proc.output().slice(-3000)}`);
        }
        const live = this.live;
        const states = await Promise.all(live.map((m) => this.status(m)));
        const leader = states[0]?.leader;
        if (!leader || leader === '0' || !states.every((s) => s.leader === leader)) return undefined;
        for (const m of live) {
          const h = await nsRun(m.ns, 'curl', ['-s', '-m', '1', `${m.endpoint}/health`], { allowFail: true });
          if (!/"health":\s*"?true/.test(h.stdout)) return undefined;
        }
        return this.members.find((m) => m.id === leader);
      },
      timeoutMs,
      100,
    );
  }

  /** The current leader (asked of the live members). */
  async leader(): Promise<EtcdMember> {
    return this.waitHealthy(10_000);
  }

  /** A member that is not the leader. */
  async follower(): Promise<EtcdMember> {
    const leader = await this.leader();
    return this.live.find((m) => m !== leader)!;
  }

  /** kill -9 of a member, as a crash. */
  async kill(m: EtcdMember): Promise<void> {
    if (!m.proc?.running) return;
    if (m.frozen) m.proc.child.kill('SIGCONT');
    m.proc.child.kill('SIGKILL');
    await m.proc.exited;
    m.frozen = false;
  }

  /** SIGSTOP: the member's sockets stay open, nothing answers (a hung host). */
  freeze(m: EtcdMember): void {
    m.proc?.child.kill('SIGSTOP');
    m.frozen = true;
  }

  thaw(m: EtcdMember): void {
    m.proc?.child.kill('SIGCONT');
    m.frozen = false;
  }

  /** Starts a killed member again on its data dir and waits until the cluster is whole. */
  async restart(m: EtcdMember, timeoutMs = 20_000): Promise<void> {
    if (m.running) throw new Error(`etcd ${m.name} is running`);
    this.spawn(m);
    await this.waitHealthy(timeoutMs);
  }

  /** A JSON-gateway client on some live member (the leader is not needed). */
  client(): Etcd {
    const m = this.live[0];
    if (!m) throw new Error('no etcd member is running');
    return m.client;
  }

  /**
   * The test's own etcd writes and reads (as an operator's etcdctl): tried on each
   * live member in turn until one succeeds, since a member mid-election holds a
   * write until it times out. What is under test is weft's client, not this one.
   */
  async retrying<T>(what: string, op: (c: Etcd) => Promise<T>, timeoutMs = 20_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (let i = 0; Date.now() < deadline; i++) {
      const live = this.live;
      if (live.length === 0) break;
      try {
        return await op(live[i % live.length]!.client);
      } catch (e) {
        last = e;
        await sleep(100);
      }
    }
    throw new Error(`etcd: could not ${what} within ${timeoutMs} ms: ${(last as Error | undefined)?.message ?? 'no member running'}`);
  }

  /** Tails of every member's log. */
  logs(maxPerFile = 4000): string {
    return this.members.map((m) => `--- etcd ${m.name} (${m.ip}) ---\n${(m.proc?.output() ?? '').slice(-maxPerFile)}`).join('\n');
  }

  /** Kills the members and deletes this cluster's namespaces (nodes first, the underlay last). */
  async destroy(): Promise<void> {
    await Promise.all(this.members.map((m) => this.kill(m)));
    for (const ns of [...this.namespaces].reverse()) this.janitor.removeNamespace(ns);
    this.namespaces.length = 0;
  }
}
