// Which address family a set of firewall rules is for, from its CIDRs (a
// colon: IPv6): iptables or ip6tables (ipmasq.ts), table ip or ip6
// (nftables.ts). Every CIDR of one rule set must be of the first one's
// family; each caller names the other in its own error.

/** The first CIDR's family, and the first CIDR of another family (undefined when there is none). */
export function ruleFamily(cidrs: readonly string[]): { family: 4 | 6; other: string | undefined } {
  const of = (t: string): 4 | 6 => (typeof t === 'string' && t.includes(':') ? 6 : 4);
  const family = of(cidrs[0]!);
  return { family, other: cidrs.find((c) => of(c) !== family) };
}
