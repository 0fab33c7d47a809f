// Which iptables the host uses, legacy (x_tables) or nft (iptables-nft), so that
// weft's FLANNEL-* chains land beside kube-proxy's and the kubelet's, as flannel's
// image arranges with kubernetes-sigs/iptables-wrappers. Two iptables back ends on
// one node see different rule sets; rules written into the unused one have no
// effect the operator can see with the host's `iptables`.
//
// The rule, as the wrapper's:
//   1. the kubelet's hint chains (KUBE-IPTABLES-HINT, KUBE-KUBELET-CANARY in the
//      mangle table) name the mode: in iptables-nft's view → nft, else in legacy's → legacy;
//   2. else the side with more rules (lines starting "-" in *-save output, IPv4 and
//      IPv6) wins;
//   3. a tie (a fresh node: none anywhere) keeps the `iptables` on PATH.
// Each side is asked only when both variants are installed (Debian's iptables
// package has both); otherwise there is nothing to choose.
//
// The choice holds for ip6tables too (ip6tables-legacy / ip6tables-nft, from the same
// package): the wrapper points both at one mode, and the rule counts above are of both.
import { execFile } from 'node:child_process';
import type { IptablesCommands } from './ipmasq.js';

export type Exec = (cmd: string, args: string[]) => Promise<{ code: number; stdout: string }>;

export interface IptablesChoice {
  mode: 'legacy' | 'nft' | 'default';
  cmds: IptablesCommands;
  why: string;
}

const HINTS = /^:(KUBE-IPTABLES-HINT|KUBE-KUBELET-CANARY) /m;

const localExec: Exec = (cmd, args) =>
  new Promise((resolve) => {
    execFile(cmd, args, { timeout: 10_000, maxBuffer: 64 << 20 }, (err, stdout) => {
      resolve({ code: err ? 1 : 0, stdout: err && (err as NodeJS.ErrnoException).code === 'ENOENT' ? '' : stdout });
    });
  });

export async function chooseIptables(exec: Exec = localExec): Promise<IptablesChoice> {
  const ok = async (cmd: string): Promise<boolean> => (await exec(cmd, ['--version'])).code === 0;
  const [haveLegacy, haveNft] = await Promise.all([ok('iptables-legacy'), ok('iptables-nft')]);
  if (!haveLegacy || !haveNft) {
    return { mode: 'default', cmds: {}, why: 'only one iptables variant is installed' };
  }
  const save = async (mode: 'legacy' | 'nft'): Promise<string> => {
    const [v4, v6] = await Promise.all([exec(`iptables-${mode}-save`, []), exec(`ip6tables-${mode}-save`, [])]);
    return `${v4.code === 0 ? v4.stdout : ''}\n${v6.code === 0 ? v6.stdout : ''}`;
  };
  // Both sides at once (the start waits for this); the hint chains are in the mangle table's part.
  const [nftText, legacyText] = await Promise.all([save('nft'), save('legacy')]);
  if (HINTS.test(nftText)) return choice('nft', "the kubelet's hint chain is in iptables-nft");
  if (HINTS.test(legacyText)) return choice('legacy', "the kubelet's hint chain is in iptables-legacy");
  const count = (text: string): number => text.split('\n').filter((l) => l.startsWith('-')).length;
  const legacy = count(legacyText);
  const nft = count(nftText);
  if (legacy > nft) return choice('legacy', `${legacy} rules in iptables-legacy against ${nft} in iptables-nft`);
  if (nft > legacy) return choice('nft', `${nft} rules in iptables-nft against ${legacy} in iptables-legacy`);
  return { mode: 'default', cmds: {}, why: `as many rules in either (${legacy}): the iptables on PATH` };
}

function choice(mode: 'legacy' | 'nft', why: string): IptablesChoice {
  return {
    mode,
    cmds: {
      iptables: `iptables-${mode}`,
      iptablesRestore: `iptables-${mode}-restore`,
      ip6tables: `ip6tables-${mode}`,
      ip6tablesRestore: `ip6tables-${mode}-restore`,
    },
    why,
  };
}
