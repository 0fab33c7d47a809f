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
// As flannel: at start the other manager's rules are removed (the iptables chains
// when nftables is on, this table when it is off), so a node switched between the
// two does not keep both; the table stays on exit. flannel also makes an empty
// `ip6 flannel-ipv6` table; weft carries IPv4 only and does not.
import { execFile } from 'node:child_process';
import { parseCidr } from '../../native-free/addr.js';
import { WeftError } from '../../native-free/errors.js';

export class NftablesError extends WeftError {
  constructor(message: string) {
    super('ERR_WEFT_NFTABLES', message);
  }
}

export const NFT_TABLE = 'flannel-ipv4';
const MULTICAST = '224.0.0.0/4';

interface NftLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** `text` if it is an IPv4 CIDR (addr.ts's parser): nothing reaches nft unchecked. */
function cidr(what: string, text: string): string {
  let c: ReturnType<typeof parseCidr> | null = null;
  try {
    c = parseCidr(text);
  } catch {
    // named below
  }
  if (c === null || c.family !== 4) throw new NftablesError(`${what} "${text}" is not an IPv4 network in CIDR notation such as 10.244.0.0/16`);
  return text;
}

/** The postrtg chain's rules, in order. */
export function nftMasqRules(network: string, subnet: string, fullyRandom: boolean): string[] {
  const n = cidr('network', network);
  const s = cidr('subnet', subnet);
  const masq = fullyRandom ? 'masquerade fully-random' : 'masquerade';
  return [
    'meta mark 0x4000 return',
    `ip saddr ${s} ip daddr ${n} return`,
    `ip saddr ${n} ip daddr ${s} return`,
    `ip saddr != ${s} ip daddr ${n} return`,
    `ip saddr ${n} ip daddr != ${MULTICAST} ${masq}`,
    `ip saddr != ${n} ip daddr ${n} ${masq}`,
  ];
}

export function nftForwardRules(network: string): string[] {
  const n = cidr('network', network);
  return [`ip saddr ${n} accept`, `ip daddr ${n} accept`];
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

/** One transaction: the table (if missing), the chain (if missing), emptied, then its rules. */
export function chainScript(chain: ChainSpec, rules: readonly string[]): string {
  const t = `ip ${NFT_TABLE}`;
  return [
    `add table ${t} { comment "rules for ${NFT_TABLE}" ; }`,
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

export class NftRules {
  constructor(
    readonly network: string,
    /** This node's lease subnet (10.244.1.0/24). */
    readonly subnet: string,
    private readonly log: NftLogger,
    private readonly cmd = 'nft',
  ) {
    nftMasqRules(network, subnet, false); // checks both CIDRs now
  }

  /** --ip-masq: the postrtg chain; `fully-random` unless disabled or refused by the kernel. */
  async applyMasq(fullyRandom: boolean): Promise<string[]> {
    let rules = nftMasqRules(this.network, this.subnet, fullyRandom);
    if (fullyRandom && (await nft(['--check', '-f', '-'], chainScript(POSTRTG, rules), this.cmd)).code !== 0) {
      this.log.warn({ table: NFT_TABLE }, 'nftables: masquerade fully-random is not supported here; masquerading without it');
      rules = nftMasqRules(this.network, this.subnet, false);
    }
    await this.run(POSTRTG, rules);
    this.log.info({ table: NFT_TABLE, chain: POSTRTG.name, count: rules.length }, 'nftables masquerade rules installed');
    return rules;
  }

  /** --iptables-forward-rules: the forward chain. */
  async applyForward(): Promise<string[]> {
    const rules = nftForwardRules(this.network);
    await this.run(FORWARD, rules);
    this.log.info({ table: NFT_TABLE, chain: FORWARD.name, count: rules.length }, 'nftables forward rules installed');
    return rules;
  }

  private async run(chain: ChainSpec, rules: readonly string[]): Promise<void> {
    const r = await nft(['-f', '-'], chainScript(chain, rules), this.cmd);
    if (r.code !== 0) throw new NftablesError(`nft could not write chain ${chain.name} of table ip ${NFT_TABLE} (exit ${r.code}): ${r.stderr.trim()}`);
  }
}

/** Deletes the table (iptables mode, as flannel's cleanup of the manager not in use); false if there was none or no nft. */
export async function removeNftTable(log: NftLogger, cmd = 'nft'): Promise<boolean> {
  let r: Result;
  try {
    r = await nft(['list', 'table', 'ip', NFT_TABLE], undefined, cmd);
  } catch {
    return false; // no nft on this host: nothing of ours can be there
  }
  if (r.code !== 0) return false;
  const del = await nft(['delete', 'table', 'ip', NFT_TABLE], undefined, cmd);
  if (del.code !== 0) throw new NftablesError(`nft delete table ip ${NFT_TABLE} failed (exit ${del.code}): ${del.stderr.trim()}`);
  log.info({ table: NFT_TABLE }, 'nftables table of an earlier EnableNFTables run removed (iptables in use)');
  return true;
}
