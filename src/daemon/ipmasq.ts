// flanneld's iptables rules: `--ip-masq` (nat FLANNEL-POSTRTG) and the forward
// rules it installs by default (filter FLANNEL-FWD, --iptables-forward-rules).
// The rules, their order and their comments are flannel's
// (pkg/trafficmngr/iptables/iptables.go, masqRules, masqIP6Rules and forwardRules):
//
//   nat     -A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG
//           -A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN
//           -A FLANNEL-POSTRTG -s <subnet> -d <network> -m comment --comment "flanneld masq" -j RETURN
//           -A FLANNEL-POSTRTG -s <network> -d <subnet> -m comment --comment "flanneld masq" -j RETURN
//           -A FLANNEL-POSTRTG ! -s <network> -d <subnet> -m comment --comment "flanneld masq" -j RETURN
//           -A FLANNEL-POSTRTG -s <network> ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully
//           -A FLANNEL-POSTRTG ! -s <network> -d <network> -m comment --comment "flanneld masq" -j MASQUERADE --random-fully
//   filter  -A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD
//           -A FLANNEL-FWD -s <network> -m comment --comment "flanneld forward" -j ACCEPT
//           -A FLANNEL-FWD -d <network> -m comment --comment "flanneld forward" -j ACCEPT
//
// <subnet> is this node's lease (network address, e.g. 10.244.1.0/24). --random-fully
// is used when iptables is 1.6.2 or newer, unless turned off (flannel's
// --ip-masq-fully-random-disable).
//
// IPv6 ("EnableIPv6": true) is the same set with ip6tables: the same chains, in
// ip6tables' own nat and filter tables, with ff00::/8 (multicast) in place of
// 224.0.0.0/4, and --random-fully as ip6tables has it. A set is of one family,
// told by its CIDRs (both of one family, or an IptablesError); a dual-stack node
// has one set of each, as flanneld (its IPv4 rules only when an IPv4 network is
// set, its IPv6 rules only when an IPv6 network is). IPv6 CIDRs are written in
// RFC 5952 form, as flannel's ip.IP6Net prints them and as `ip6tables -S` shows them.
//
// Life cycle, as flanneld's:
//   apply()         creates the chain or flushes it (so the rules of a previous
//                   network or subnet go), then installs every rule in one
//                   `iptables-restore --noflush` transaction: a rule that exists is
//                   deleted and appended again, so the order is flannel's and no
//                   packet sees half a chain.
//   startChecking() every interval (flanneld: --iptables-resync, 5 s) checks each rule
//                   with `iptables -C`; if one is missing, all are deleted and
//                   appended again in one transaction (order matters).
//   on shutdown     flanneld leaves the rules in place (its ctx.Done() only stops
//                   the checker), so pods keep reaching the outside while it
//                   restarts; stopping the checker's signal does the same here.
//   remove()        deletes the rules and the chain: for tests and for an operator
//                   who turns --ip-masq off (flanneld never removes them itself).
//
// Every iptables call waits for the xtables lock (-w). The commands are run with
// execFile (no shell); the network and subnet are checked CIDRs.
import { execFile } from 'node:child_process';
import { formatCidr, parseCidr } from '../../native-free/addr.js';
import { WeftError } from '../../native-free/errors.js';
import { ruleFamily } from './rule-family.js';

export class IptablesError extends WeftError {
  constructor(message: string) {
    super('ERR_WEFT_IPTABLES', message);
  }
}

export interface RuleLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export type Table = 'nat' | 'filter';

/** 4: iptables, 6: ip6tables. */
export type IpFamily = 4 | 6;

export interface IptablesRule {
  table: Table;
  chain: string;
  /** Everything after `-A <chain>`. */
  spec: readonly string[];
}

/** kube-proxy's masquerade mark (flannel trafficmngr.KubeProxyMark). */
export const KUBE_PROXY_MARK = '0x4000/0x4000';
export const MASQ_CHAIN = 'FLANNEL-POSTRTG';
export const FORWARD_CHAIN = 'FLANNEL-FWD';
const MASQ_COMMENT = ['-m', 'comment', '--comment', 'flanneld masq'];
const FORWARD_COMMENT = ['-m', 'comment', '--comment', 'flanneld forward'];
const MULTICAST: Record<IpFamily, string> = { 4: '224.0.0.0/4', 6: 'ff00::/8' };

/**
 * flannel's masqRules(network, lease, ipMasqRandomFullyDisable) for IPv4, or its
 * masqIP6Rules for IPv6 (both CIDRs of one family), in its order.
 */
export function masqRules(network: string, subnet: string, randomFully: boolean): IptablesRule[] {
  const family = familyOf(network, subnet);
  const n = cidr('network', network, family);
  const s = cidr('subnet', subnet, family);
  const masq = randomFully ? ['-j', 'MASQUERADE', '--random-fully'] : ['-j', 'MASQUERADE'];
  const r = (chain: string, ...spec: string[]): IptablesRule => ({ table: 'nat', chain, spec });
  return [
    // flannel's rules run before the node's others (its comment; -A appends, as flannel does)
    r('POSTROUTING', ...MASQ_COMMENT, '-j', MASQ_CHAIN),
    // no masquerade for what kube-proxy marked: it masquerades those itself (double NAT bug)
    r(MASQ_CHAIN, '-m', 'mark', '--mark', KUBE_PROXY_MARK, ...MASQ_COMMENT, '-j', 'RETURN'),
    // no NAT inside the overlay
    r(MASQ_CHAIN, '-s', s, '-d', n, ...MASQ_COMMENT, '-j', 'RETURN'),
    r(MASQ_CHAIN, '-s', n, '-d', s, ...MASQ_COMMENT, '-j', 'RETURN'),
    // external traffic arriving for a pod of this node keeps its source
    r(MASQ_CHAIN, '!', '-s', n, '-d', s, ...MASQ_COMMENT, '-j', 'RETURN'),
    // pods to the outside, except multicast
    r(MASQ_CHAIN, '-s', n, '!', '-d', MULTICAST[family], ...MASQ_COMMENT, ...masq),
    // the host (or anything outside the overlay) towards the overlay
    r(MASQ_CHAIN, '!', '-s', n, '-d', n, ...MASQ_COMMENT, ...masq),
  ];
}

/** flannel's forwardRules(network), either family: FORWARD accepts the overlay even under a DROP policy (Docker ≥ 1.13). */
export function forwardRules(network: string): IptablesRule[] {
  const n = cidr('network', network, familyOf(network));
  return [
    { table: 'filter', chain: 'FORWARD', spec: [...FORWARD_COMMENT, '-j', FORWARD_CHAIN] },
    { table: 'filter', chain: FORWARD_CHAIN, spec: ['-s', n, ...FORWARD_COMMENT, '-j', 'ACCEPT'] },
    { table: 'filter', chain: FORWARD_CHAIN, spec: ['-d', n, ...FORWARD_COMMENT, '-j', 'ACCEPT'] },
  ];
}

/** The family of the first CIDR (a colon: IPv6); every other one must be of it. */
export function familyOf(...cidrs: string[]): IpFamily {
  const { family: first, other } = ruleFamily(cidrs);
  if (other !== undefined) {
    throw new IptablesError(`"${cidrs[0]}" and "${other}" are not of one address family: a rule set is either IPv4 (iptables) or IPv6 (ip6tables)`);
  }
  return first;
}

function cidr(what: string, text: string, family: IpFamily): string {
  if (family === 4) {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(text);
    if (!m || m.slice(1, 5).some((p) => Number(p) > 255) || Number(m[5]) > 32) {
      throw new IptablesError(`${what} "${text}" is not an IPv4 network in CIDR notation such as 10.244.0.0/16`);
    }
    return text;
  }
  // addr.ts's parser: hex groups, one "::", no zone, no host bits; printed back canonical
  try {
    const c = parseCidr(text);
    if (c.family === 6) return formatCidr(c);
  } catch (e) {
    throw new IptablesError(`${what} "${text}" is not an IPv6 network in CIDR notation such as fd00:10:244::/56: ${(e as Error).message}`);
  }
  throw new IptablesError(`${what} "${text}" is not an IPv6 network in CIDR notation such as fd00:10:244::/56`);
}

// ---- running iptables ----

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export interface IptablesCommands {
  /** Default "iptables" and "iptables-restore" from PATH. */
  iptables?: string;
  iptablesRestore?: string;
  /** For IPv6 rule sets; default "ip6tables" and "ip6tables-restore" from PATH. */
  ip6tables?: string;
  ip6tablesRestore?: string;
}

/** The iptables and iptables-restore commands of a family. */
export function commandsFor(cmds: IptablesCommands, family: IpFamily): { iptables: string; restore: string } {
  return family === 4
    ? { iptables: cmds.iptables ?? 'iptables', restore: cmds.iptablesRestore ?? 'iptables-restore' }
    : { iptables: cmds.ip6tables ?? 'ip6tables', restore: cmds.ip6tablesRestore ?? 'ip6tables-restore' };
}

function run(cmd: string, args: string[], input?: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: 30_000, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      if (err && typeof (err as NodeJS.ErrnoException).code === 'string') {
        const code = (err as NodeJS.ErrnoException).code;
        reject(
          new IptablesError(
            code === 'ENOENT'
              ? `"${cmd}" was not found: install iptables (Debian: apt-get install iptables), which flannel's --ip-masq and forward rules need`
              : `${cmd} ${args.join(' ')}: ${err.message}`,
          ),
        );
        return;
      }
      const status = err ? ((err as { code?: number | null }).code ?? 1) : 0;
      if (err && (err as { killed?: boolean }).killed) {
        reject(new IptablesError(`${cmd} ${args.join(' ')} timed out after 30 s (is something holding the xtables lock?)`));
        return;
      }
      resolve({ code: typeof status === 'number' ? status : 1, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** iptables' (family 6: ip6tables') version, and whether it has MASQUERADE --random-fully (1.6.2, as go-iptables' HasRandomFully). */
export async function iptablesVersion(cmds: IptablesCommands = {}, family: IpFamily = 4): Promise<{ version: string; randomFully: boolean }> {
  const cmd = commandsFor(cmds, family).iptables;
  const r = await run(cmd, ['--version']);
  const m = /v(\d+)\.(\d+)\.(\d+)/.exec(r.stdout + r.stderr);
  if (r.code !== 0 || !m) throw new IptablesError(`"${cmd} --version" failed (exit ${r.code}): ${(r.stdout + r.stderr).trim()}`);
  const [a, b, c] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return { version: `${a}.${b}.${c}`, randomFully: a > 1 || (a === 1 && (b > 6 || (b === 6 && c >= 2))) };
}

/** iptables-restore takes the comment quoted (as flannel's buildIPTablesRestorePayload). */
function restoreLine(op: '-A' | '-D', rule: IptablesRule): string {
  const words = [op, rule.chain, ...rule.spec].map((w, i, all) => (all[i - 1] === '--comment' || /\s/.test(w) ? `"${w}"` : w));
  return words.join(' ');
}

/**
 * A set of rules in order, kept in place as flanneld keeps its own. Its own chains
 * (FLANNEL-POSTRTG, FLANNEL-FWD) are created, flushed at apply() and deleted at remove().
 */
export class IptablesRuleSet {
  private queue: Promise<unknown> = Promise.resolve();
  private checker: AbortController | null = null;
  private removed = false;
  private readonly iptables: string;
  private readonly restore: string;

  constructor(
    readonly name: string,
    readonly rules: readonly IptablesRule[],
    /** Chains this set owns: created, flushed at apply(), deleted at remove(). */
    readonly chains: readonly { table: Table; chain: string }[],
    protected readonly log: RuleLogger,
    cmds: IptablesCommands = {},
    /** Which of cmds' commands run it: iptables (4) or ip6tables (6). */
    readonly family: IpFamily = 4,
  ) {
    ({ iptables: this.iptables, restore: this.restore } = commandsFor(cmds, family));
  }

  /** Creates or flushes the own chains, then installs every rule in order. */
  apply(): Promise<void> {
    return this.serial(async () => {
      this.removed = false;
      for (const c of this.chains) {
        if (await this.chainExists(c.table, c.chain)) await this.ipt(['-t', c.table, '-F', c.chain]);
        else await this.ipt(['-t', c.table, '-N', c.chain]);
      }
      await this.bootstrap();
      this.log.info({ rules: this.name, count: this.rules.length }, 'iptables rules installed');
    });
  }

  /** Every rule present? (flannel's ipTablesRulesExist: presence, not order.) */
  present(): Promise<boolean> {
    return this.serial(() => this.allExist());
  }

  /** Re-installs all rules if one is missing; true when it had to. */
  ensure(): Promise<boolean> {
    return this.serial(async () => {
      if (this.removed || (await this.allExist())) return false;
      this.log.warn({ rules: this.name }, 'some iptables rules are missing; deleting and recreating them (as flanneld)');
      await this.bootstrap();
      return true;
    });
  }

  /**
   * Checks every intervalMs (the next check starts intervalMs after the previous
   * one ended, as flanneld's time.After loop) until signal aborts or remove().
   * A failing check is logged and retried at the next interval.
   */
  startChecking(intervalMs: number, signal?: AbortSignal): void {
    if (!Number.isFinite(intervalMs) || intervalMs <= 0) throw new IptablesError(`iptables resync interval ${intervalMs} ms: it must be positive`);
    this.checker?.abort();
    const ctl = new AbortController();
    this.checker = ctl;
    const stop = (): void => ctl.abort();
    signal?.addEventListener('abort', stop, { once: true });
    let timer: NodeJS.Timeout | null = null;
    const tick = (): void => {
      timer = null;
      if (ctl.signal.aborted) return;
      this.ensure()
        .catch((e: unknown) => this.log.warn({ rules: this.name, err: (e as Error).message }, 'checking iptables rules failed; retrying'))
        .finally(() => {
          if (!ctl.signal.aborted) schedule();
        });
    };
    const schedule = (): void => {
      timer = setTimeout(tick, intervalMs);
      timer.unref();
    };
    ctl.signal.addEventListener(
      'abort',
      () => {
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', stop);
      },
      { once: true },
    );
    if (signal?.aborted) ctl.abort();
    else schedule();
  }

  /** Stops the checker, deletes the rules that exist and the own chains. */
  remove(): Promise<void> {
    this.checker?.abort();
    this.checker = null;
    return this.serial(async () => {
      this.removed = true;
      const byTable = new Map<Table, string[]>();
      const have = new Map<string, boolean>();
      for (const c of this.chains) have.set(`${c.table}/${c.chain}`, await this.chainExists(c.table, c.chain));
      for (const rule of this.rules) {
        // a rule in a missing own chain, or a jump to one, cannot exist (and -C on it fails)
        const target = rule.spec[rule.spec.length - 1]!;
        if (have.get(`${rule.table}/${rule.chain}`) === false || have.get(`${rule.table}/${target}`) === false) continue;
        if (await this.exists(rule)) push(byTable, rule.table, restoreLine('-D', rule));
      }
      await this.restoreTables(byTable);
      for (const c of [...this.chains].reverse()) {
        if (!(await this.chainExists(c.table, c.chain))) continue;
        await this.ipt(['-t', c.table, '-F', c.chain]);
        await this.ipt(['-t', c.table, '-X', c.chain]);
      }
      this.log.info({ rules: this.name }, 'iptables rules removed');
    });
  }

  // ---- internals ----

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async allExist(): Promise<boolean> {
    const checked = new Map<string, boolean>();
    for (const c of this.chains) checked.set(`${c.table}/${c.chain}`, await this.chainExists(c.table, c.chain));
    for (const rule of this.rules) {
      // a jump to a missing own chain, or a rule in one, is missing (flannel checks ChainExists first)
      const target = rule.spec[rule.spec.length - 1]!;
      for (const key of [`${rule.table}/${rule.chain}`, `${rule.table}/${target}`]) if (checked.get(key) === false) return false;
      if (!(await this.exists(rule))) return false;
    }
    return true;
  }

  /** flannel's ipTablesBootstrap: in one transaction per table, delete each rule that exists and append it again. */
  private async bootstrap(): Promise<void> {
    for (const c of this.chains) if (!(await this.chainExists(c.table, c.chain))) await this.ipt(['-t', c.table, '-N', c.chain]);
    const byTable = new Map<Table, string[]>();
    for (const rule of this.rules) {
      if (await this.exists(rule)) push(byTable, rule.table, restoreLine('-D', rule));
      push(byTable, rule.table, restoreLine('-A', rule));
    }
    await this.restoreTables(byTable);
  }

  private async restoreTables(byTable: Map<Table, string[]>): Promise<void> {
    if (byTable.size === 0) return;
    const payload = [...byTable].map(([table, lines]) => `*${table}\n${lines.join('\n')}\nCOMMIT\n`).join('');
    const r = await run(this.restore, ['-w', '--noflush'], payload);
    if (r.code !== 0) throw new IptablesError(`${this.restore} -w --noflush failed (exit ${r.code}): ${r.stderr.trim()}\n${payload}`);
  }

  private async exists(rule: IptablesRule): Promise<boolean> {
    const r = await run(this.iptables, ['-w', '-t', rule.table, '-C', rule.chain, ...rule.spec]);
    if (r.code === 0) return true;
    if (r.code === 1) return false; // "Bad rule (does a matching rule exist in that chain?)" or no such chain
    throw new IptablesError(`${this.iptables} -t ${rule.table} -C ${rule.chain} ${rule.spec.join(' ')} failed (exit ${r.code}): ${r.stderr.trim()}`);
  }

  private async chainExists(table: Table, chain: string): Promise<boolean> {
    const r = await run(this.iptables, ['-w', '-t', table, '-S', chain]);
    if (r.code === 0) return true;
    if (r.code === 1) return false;
    throw new IptablesError(`${this.iptables} -t ${table} -S ${chain} failed (exit ${r.code}): ${r.stderr.trim()}`);
  }

  private async ipt(args: string[]): Promise<void> {
    const r = await run(this.iptables, ['-w', ...args]);
    if (r.code !== 0) throw new IptablesError(`${this.iptables} ${args.join(' ')} failed (exit ${r.code}): ${r.stderr.trim()}`);
  }
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

export interface IpMasqOptions extends IptablesCommands {
  /**
   * MASQUERADE --random-fully: 'auto' (default) when iptables is 1.6.2 or newer, as
   * flanneld; false for flanneld's --ip-masq-fully-random-disable.
   */
  randomFully?: boolean | 'auto';
}

/**
 * `--ip-masq`: nat FLANNEL-POSTRTG, jumped to from POSTROUTING. IPv4 or IPv6 by
 * its CIDRs: an IPv6 one runs opts' ip6tables commands.
 */
export class IpMasq {
  private set: IptablesRuleSet | null = null;
  readonly family: IpFamily;

  constructor(
    readonly network: string,
    /** This node's lease subnet, network address (e.g. 10.244.1.0/24). */
    readonly subnet: string,
    private readonly log: RuleLogger,
    private readonly opts: IpMasqOptions = {},
  ) {
    masqRules(network, subnet, false); // checks both CIDRs now
    this.family = familyOf(network, subnet);
  }

  /** The rules, once apply() has decided on --random-fully. */
  get rules(): readonly IptablesRule[] {
    return this.set?.rules ?? [];
  }

  async apply(): Promise<void> {
    const set = await this.ruleSet();
    await set.apply();
  }

  /** Starts the periodic check; call after apply(). */
  startChecking(intervalMs: number, signal?: AbortSignal): void {
    if (!this.set) throw new IptablesError('IpMasq.startChecking() before apply()');
    this.set.startChecking(intervalMs, signal);
  }

  ensure(): Promise<boolean> {
    if (!this.set) throw new IptablesError('IpMasq.ensure() before apply()');
    return this.set.ensure();
  }

  async remove(): Promise<void> {
    const set = await this.ruleSet();
    await set.remove();
  }

  private async ruleSet(): Promise<IptablesRuleSet> {
    if (this.set) return this.set;
    let randomFully = this.opts.randomFully ?? 'auto';
    if (randomFully === 'auto') {
      const v = await iptablesVersion(this.opts, this.family);
      randomFully = v.randomFully;
      this.log.info(this.family === 4 ? { iptables: v.version, randomFully } : { ip6tables: v.version, randomFully }, this.family === 4 ? 'iptables found' : 'ip6tables found');
    }
    const rules = masqRules(this.network, this.subnet, randomFully);
    this.set = new IptablesRuleSet(this.family === 4 ? 'ip-masq' : 'ip-masq-ipv6', rules, [{ table: 'nat', chain: MASQ_CHAIN }], this.log, this.opts, this.family);
    return this.set;
  }
}

/**
 * flanneld's forward rules (--iptables-forward-rules, on by default): filter FLANNEL-FWD,
 * jumped to from FORWARD. An IPv6 network runs cmds' ip6tables commands.
 */
export class ForwardRules extends IptablesRuleSet {
  constructor(network: string, log: RuleLogger, cmds: IptablesCommands = {}) {
    const family = familyOf(network);
    super(family === 4 ? 'forward' : 'forward-ipv6', forwardRules(network), [{ table: 'filter', chain: FORWARD_CHAIN }], log, cmds, family);
  }
}

/**
 * Deletes flanneld's chains of one family (FLANNEL-POSTRTG, FLANNEL-FWD) and the jumps
 * to them, whatever network and subnet they were written for: flannel's iptables
 * CleanUp, run when "EnableNFTables" is on (for both families, IPv4-only or not), so a
 * node switched to nftables keeps no iptables rules. The rules inside the chains go
 * with the flush; only the jumps live outside them. No chain there: nothing to do.
 */
export function removeFlannelChains(family: IpFamily, log: RuleLogger, cmds: IptablesCommands = {}): Promise<void> {
  const jumps: IptablesRule[] = [
    { table: 'nat', chain: 'POSTROUTING', spec: [...MASQ_COMMENT, '-j', MASQ_CHAIN] },
    { table: 'filter', chain: 'FORWARD', spec: [...FORWARD_COMMENT, '-j', FORWARD_CHAIN] },
  ];
  const chains = [
    { table: 'nat' as const, chain: MASQ_CHAIN },
    { table: 'filter' as const, chain: FORWARD_CHAIN },
  ];
  return new IptablesRuleSet(family === 4 ? 'flannel-chains' : 'flannel-chains-ipv6', jumps, chains, log, cmds, family).remove();
}
