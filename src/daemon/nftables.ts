// flanneld's rules in nftables, for `"EnableNFTables": true` in net-conf.json
// (flannel pkg/trafficmngr/nftables): one table `ip flannel-ipv4` holding
//
//   chain postrtg  (type nat, hook postrouting, priority srcnat)   --ip-masq
//     meta mark 0x4000 return                        kube-proxy's masquerade mark
//     ip saddr <subnet>  ip daddr <network> return   pod → pod: keep the source
//     ip saddr <network> ip daddr <subnet>  return
//     ip saddr != <subnet> ip daddr <network> return
//     ip saddr <network> ip daddr != 224.0.0.0/4 masquerade fully-random
//     ip saddr != <network> ip daddr <network> masquerade fully-random
//   chain forward  (type filter, hook forward, priority filter)   --iptables-forward-rules
//     ip saddr <network> accept
//     ip daddr <network> accept
//
// The rules are flannel's nftables rules word for word; note that the fourth one
// differs from flannel's iptables rule (`! -s <network> -d <subnet>`): that is
// flannel's, kept. Each chain is written in one `nft -f` transaction (add, flush,
// rules), so it is never seen half-built, and `fully-random` is dropped when the
// kernel refuses it (checked with `nft --check` first, as flannel does).
//
// IPv6 ("EnableIPv6": true) has the same two chains in table `ip6 flannel-ipv6`,
// with `ip6 saddr`/`ip6 daddr` and ff00::/8 (multicast) for 224.0.0.0/4. A rule
// list or an NftRules is of one family, told by its CIDRs (both of one family, or
// an NftablesError); IPv6 CIDRs are written in RFC 5952 form, as nft lists them.
//
// As flannel: at start both tables are made (initNftTables, flannel's Init: the
// IPv6 one too on an IPv4-only node, left empty, and the IPv4 one on an IPv6-only
// node), and the other manager's rules are removed (the iptables chains of both
// families when nftables is on, both tables when it is off), so a node switched
// between the two does not keep both; the tables stay on exit.
import { execFile } from 'node:child_process';
import { formatCidr, parseCidr } from '../../native-free/addr.js';
import { WeftError } from '../../native-free/errors.js';
import { ruleFamily } from './rule-family.js';

export class NftablesError extends WeftError {
  constructor(message: string) {
    super('ERR_WEFT_NFTABLES', message);
  }
}

export const NFT_TABLE = 'flannel-ipv4';
export const NFT_TABLE6 = 'flannel-ipv6';

export type NftFamily = 4 | 6;

/** Per family: nft's family word (table and address match) and the table's name. */
const FAMILY = {
  4: { nft: 'ip', table: NFT_TABLE, multicast: '224.0.0.0/4' },
  6: { nft: 'ip6', table: NFT_TABLE6, multicast: 'ff00::/8' },
} as const;

/** `ip flannel-ipv4` or `ip6 flannel-ipv6`. */
export function nftTableName(family: NftFamily): string {
  return `${FAMILY[family].nft} ${FAMILY[family].table}`;
}

interface NftLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** The family of the first CIDR (a colon: IPv6); every other one must be of it. */
export function nftFamilyOf(...cidrs: string[]): NftFamily {
  const { family: first, other } = ruleFamily(cidrs);
  if (other !== undefined) {
    throw new NftablesError(`"${cidrs[0]}" and "${other}" are not of one address family: rules go either in table ip ${NFT_TABLE} or in ip6 ${NFT_TABLE6}`);
  }
  return first;
}

/** `text` if it is a CIDR of `family` (addr.ts's parser): nothing reaches nft unchecked. IPv4 as given, IPv6 canonical. */
function cidr(what: string, text: string, family: NftFamily): string {
  let c: ReturnType<typeof parseCidr> | null = null;
  let why = '';
  try {
    c = parseCidr(text);
  } catch (e) {
    why = `: ${(e as Error).message}`; // named below
  }
  if (c === null || c.family !== family) {
    throw new NftablesError(
      family === 4
        ? `${what} "${text}" is not an IPv4 network in CIDR notation such as 10.244.0.0/16`
        : `${what} "${text}" is not an IPv6 network in CIDR notation such as fd00:10:244::/56${why}`,
    );
  }
  return family === 4 ? text : formatCidr(c);
}

/** The postrtg chain's rules, in order, for the family of the CIDRs. */
export function nftMasqRules(network: string, subnet: string, fullyRandom: boolean): string[] {
  const family = nftFamilyOf(network, subnet);
  const n = cidr('network', network, family);
  const s = cidr('subnet', subnet, family);
  const { nft: f, multicast } = FAMILY[family];
  const masq = fullyRandom ? 'masquerade fully-random' : 'masquerade';
  return [
    'meta mark 0x4000 return',
    `${f} saddr ${s} ${f} daddr ${n} return`,
    `${f} saddr ${n} ${f} daddr ${s} return`,
    `${f} saddr != ${s} ${f} daddr ${n} return`,
    `${f} saddr ${n} ${f} daddr != ${multicast} ${masq}`,
    `${f} saddr != ${n} ${f} daddr ${n} ${masq}`,
  ];
}

export function nftForwardRules(network: string): string[] {
  const family = nftFamilyOf(network);
  const n = cidr('network', network, family);
  const f = FAMILY[family].nft;
  return [`${f} saddr ${n} accept`, `${f} daddr ${n} accept`];
}

interface ChainSpec {
  name: string;
  comment: string;
  type: 'nat' | 'filter';
  hook: 'postrouting' | 'forward';
  priority: 'srcnat' | 'filter';
}

const POSTRTG: ChainSpec = { name: 'postrtg', comment: 'chain to manage traffic masquerading by flannel', type: 'nat', hook: 'postrouting', priority: 'srcnat' };
const FORWARD: ChainSpec = { name: 'forward', comment: 'chain to accept flannel traffic', type: 'filter', hook: 'forward', priority: 'filter' };

/** flannel's initTable: the table with its comment (`add` leaves one that exists as it is). */
function tableLine(family: NftFamily): string {
  return `add table ${nftTableName(family)} { comment "rules for ${FAMILY[family].table}" ; }`;
}

/** One transaction: the table (if missing), the chain (if missing), emptied, then its rules. */
export function chainScript(chain: ChainSpec, rules: readonly string[], family: NftFamily = 4): string {
  const t = nftTableName(family);
  return [
    tableLine(family),
    `add chain ${t} ${chain.name} { type ${chain.type} hook ${chain.hook} priority ${chain.priority} ; comment "${chain.comment}" ; }`,
    `flush chain ${t} ${chain.name}`,
    ...rules.map((r) => `add rule ${t} ${chain.name} ${r}`),
    '',
  ].join('\n');
}

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function nft(args: string[], input?: string, cmd = 'nft'): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: 30_000, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      const code = (err as NodeJS.ErrnoException | null)?.code;
      if (code === 'ENOENT') {
        reject(new NftablesError(`"${cmd}" was not found: install nftables (Debian: apt-get install nftables), which "EnableNFTables": true needs`));
        return;
      }
      if (err && (err as { killed?: boolean }).killed) {
        reject(new NftablesError(`${cmd} ${args.join(' ')} timed out after 30 s`));
        return;
      }
      resolve({ code: err ? (typeof code === 'number' ? code : 1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** nft's version; refuses to go on without nft (checked before the host is touched). */
export async function nftVersion(cmd = 'nft'): Promise<string> {
  const r = await nft(['--version'], undefined, cmd);
  const m = /v(\d+\.\d+(?:\.\d+)?)/.exec(r.stdout + r.stderr);
  if (r.code !== 0 || !m) throw new NftablesError(`"${cmd} --version" failed (exit ${r.code}): ${(r.stdout + r.stderr).trim()}`);
  return m[1]!;
}

/**
 * flannel's Init in nftables mode: both tables, `ip flannel-ipv4` and `ip6 flannel-ipv6`,
 * whichever families are in use, in one transaction (one that exists is left as it is).
 */
export async function initNftTables(log: NftLogger, cmd = 'nft'): Promise<void> {
  const r = await nft(['-f', '-'], `${tableLine(4)}\n${tableLine(6)}\n`, cmd);
  if (r.code !== 0) throw new NftablesError(`nft could not create tables ip ${NFT_TABLE} and ip6 ${NFT_TABLE6} (exit ${r.code}): ${r.stderr.trim()}`);
  log.info({ tables: [NFT_TABLE, NFT_TABLE6] }, 'nftables tables ready');
}

/** One family's rules: in `ip flannel-ipv4` for IPv4 CIDRs, in `ip6 flannel-ipv6` for IPv6 ones. */
export class NftRules {
  readonly family: NftFamily;

  constructor(
    readonly network: string,
    /** This node's lease subnet (10.244.1.0/24, fd00:10:244:1::/64). */
    readonly subnet: string,
    private readonly log: NftLogger,
    private readonly cmd = 'nft',
  ) {
    nftMasqRules(network, subnet, false); // checks both CIDRs now
    this.family = nftFamilyOf(network, subnet);
  }

  /** The table's name, without its family. */
  get table(): string {
    return FAMILY[this.family].table;
  }

  /** --ip-masq: the postrtg chain; `fully-random` unless disabled or refused by the kernel. */
  async applyMasq(fullyRandom: boolean): Promise<string[]> {
    let rules = nftMasqRules(this.network, this.subnet, fullyRandom);
    if (fullyRandom && (await nft(['--check', '-f', '-'], chainScript(POSTRTG, rules, this.family), this.cmd)).code !== 0) {
      this.log.warn({ table: this.table }, 'nftables: masquerade fully-random is not supported here; masquerading without it');
      rules = nftMasqRules(this.network, this.subnet, false);
    }
    await this.run(POSTRTG, rules);
    this.log.info({ table: this.table, chain: POSTRTG.name, count: rules.length }, 'nftables masquerade rules installed');
    return rules;
  }

  /** --iptables-forward-rules: the forward chain. */
  async applyForward(): Promise<string[]> {
    const rules = nftForwardRules(this.network);
    await this.run(FORWARD, rules);
    this.log.info({ table: this.table, chain: FORWARD.name, count: rules.length }, 'nftables forward rules installed');
    return rules;
  }

  private async run(chain: ChainSpec, rules: readonly string[]): Promise<void> {
    const r = await nft(['-f', '-'], chainScript(chain, rules, this.family), this.cmd);
    if (r.code !== 0) throw new NftablesError(`nft could not write chain ${chain.name} of table ${nftTableName(this.family)} (exit ${r.code}): ${r.stderr.trim()}`);
  }
}

/**
 * Deletes the tables (iptables mode, as flannel's CleanUp of the manager not in use:
 * both families by default, since nftables mode makes both); true if one was there,
 * false if none was or there is no nft.
 */
export async function removeNftTable(log: NftLogger, cmd = 'nft', families: readonly NftFamily[] = [4, 6]): Promise<boolean> {
  let removed = false;
  for (const family of families) {
    const [f, name] = [FAMILY[family].nft, FAMILY[family].table];
    let r: Result;
    try {
      r = await nft(['list', 'table', f, name], undefined, cmd);
    } catch {
      return false; // no nft on this host: nothing of ours can be there
    }
    if (r.code !== 0) continue;
    const del = await nft(['delete', 'table', f, name], undefined, cmd);
    if (del.code !== 0) throw new NftablesError(`nft delete table ${f} ${name} failed (exit ${del.code}): ${del.stderr.trim()}`);
    log.info({ table: name }, 'nftables table of an earlier EnableNFTables run removed (iptables in use)');
    removed = true;
  }
  return removed;
}
