// "EnableNFTables": true, as flannel: --ip-masq and the forward rules in the nftables
// table `ip flannel-ipv4`, word for word flannel's (pkg/trafficmngr/nftables), checked
// with `nft -j`; a pod masqueraded to the outside; and a node switched between
// iptables and nftables keeps the rules of one only.
//
//   wefttest-<id>-nful   "the outside": bridge wtbr0 198.51.100.254/24
//   wefttest-<id>-nfn1   weft --ip-masq on wtn1 198.51.100.1 (default via .254)
//   wefttest-<id>-nfp1   its pod
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chainScript, NftablesError, nftForwardRules, nftMasqRules, NftRules } from '../../src/daemon/nftables.js';
import { FileRegistry } from '../../src/registry/index.js';
import { parseNetworkConfig } from '../../src/registry/config.js';
import { addPod, type Pod } from '../integration/harness/cluster.js';
import { useJanitor, HOOK_TIMEOUT } from '../integration/harness/context.js';
import { ipn, nsRun, sysctl } from '../integration/harness/exec.js';
import { WeftNode } from '../integration/harness/weft-node.js';
import { isCi } from '../helpers/tshark.js';
import { seenAs as seenAsFrom, skipParity } from './harness.js';

const NETWORK = '10.244.0.0/16';

describe('nftables rules (no root)', () => {
  it("are flannel's, in order, with fully-random unless turned off", () => {
    expect(nftMasqRules(NETWORK, '10.244.3.0/24', true)).toEqual([
      'meta mark 0x4000 return',
      'ip saddr 10.244.3.0/24 ip daddr 10.244.0.0/16 return',
      'ip saddr 10.244.0.0/16 ip daddr 10.244.3.0/24 return',
      'ip saddr != 10.244.3.0/24 ip daddr 10.244.0.0/16 return',
      'ip saddr 10.244.0.0/16 ip daddr != 224.0.0.0/4 masquerade fully-random',
      'ip saddr != 10.244.0.0/16 ip daddr 10.244.0.0/16 masquerade fully-random',
    ]);
    expect(nftMasqRules(NETWORK, '10.244.3.0/24', false).at(-1)).toBe('ip saddr != 10.244.0.0/16 ip daddr 10.244.0.0/16 masquerade');
    expect(nftForwardRules(NETWORK)).toEqual(['ip saddr 10.244.0.0/16 accept', 'ip daddr 10.244.0.0/16 accept']);
  });

  it('write a chain in one transaction: table and chain added if missing, flushed, refilled', () => {
    const script = chainScript({ name: 'forward', comment: 'c', type: 'filter', hook: 'forward', priority: 'filter' }, ['ip saddr 10.244.0.0/16 accept']);
    expect(script.split('\n')).toEqual([
      'add table ip flannel-ipv4 { comment "rules for flannel-ipv4" ; }',
      'add chain ip flannel-ipv4 forward { type filter hook forward priority filter ; comment "c" ; }',
      'flush chain ip flannel-ipv4 forward',
      'add rule ip flannel-ipv4 forward ip saddr 10.244.0.0/16 accept',
      '',
    ]);
  });

  it('refuse what is not a CIDR (nothing reaches nft unchecked)', () => {
    expect(() => nftMasqRules('10.244.0.0/16; flush ruleset', '10.244.3.0/24', true)).toThrow(/network "10.244.0.0\/16; flush ruleset" is not an IPv4 network/);
  });

  it.each([
    { fullyRandom: true, masq: 'masquerade fully-random' },
    { fullyRandom: false, masq: 'masquerade' },
  ])('for IPv6 are flannel addMasqRules with the ip6 family and ff00::/8 (fully-random $fullyRandom)', ({ fullyRandom, masq }) => {
    // written out by hand from flannel's nftables.go (family IPv6)
    expect(nftMasqRules('fd00:10:244::/56', 'fd00:10:244:3::/64', fullyRandom)).toEqual([
      'meta mark 0x4000 return',
      'ip6 saddr fd00:10:244:3::/64 ip6 daddr fd00:10:244::/56 return',
      'ip6 saddr fd00:10:244::/56 ip6 daddr fd00:10:244:3::/64 return',
      'ip6 saddr != fd00:10:244:3::/64 ip6 daddr fd00:10:244::/56 return',
      `ip6 saddr fd00:10:244::/56 ip6 daddr != ff00::/8 ${masq}`,
      `ip6 saddr != fd00:10:244::/56 ip6 daddr fd00:10:244::/56 ${masq}`,
    ]);
    expect(nftForwardRules('fd00:10:244::/56')).toEqual(['ip6 saddr fd00:10:244::/56 accept', 'ip6 daddr fd00:10:244::/56 accept']);
  });

  it('write an IPv6 chain into table ip6 flannel-ipv6, CIDRs as nft lists them', () => {
    const script = chainScript({ name: 'forward', comment: 'c', type: 'filter', hook: 'forward', priority: 'filter' }, nftForwardRules('FD00:10:244:0:0::/56'), 6);
    expect(script.split('\n')).toEqual([
      'add table ip6 flannel-ipv6 { comment "rules for flannel-ipv6" ; }',
      'add chain ip6 flannel-ipv6 forward { type filter hook forward priority filter ; comment "c" ; }',
      'flush chain ip6 flannel-ipv6 forward',
      'add rule ip6 flannel-ipv6 forward ip6 saddr fd00:10:244::/56 accept',
      'add rule ip6 flannel-ipv6 forward ip6 daddr fd00:10:244::/56 accept',
      '',
    ]);
    const log = { info: (): void => undefined, warn: (): void => undefined };
    expect(new NftRules('fd00:10:244::/56', 'fd00:10:244:3::/64', log)).toMatchObject({ family: 6, table: 'flannel-ipv6' });
    expect(new NftRules(NETWORK, '10.244.3.0/24', log)).toMatchObject({ family: 4, table: 'flannel-ipv4' });
  });

  it.each([
    ['10.244.0.0/16', 'fd00:10:244:3::/64', /not of one address family/],
    ['fd00:10:244::/56', '10.244.3.0/24', /not of one address family/],
    ['fd00:10:244::/56; flush ruleset', 'fd00:10:244:3::/64', /not an IPv6 network/],
    ['fd00:10:244::1/56', 'fd00:10:244:3::/64', /host bits set/],
    ['fd00:10:244::/56', 'fe80::%wtn1/64', /zone/],
  ])('refuse IPv6 input that is not two CIDRs of one family (%s, %s)', (n, s, why) => {
    expect(() => nftMasqRules(n, s, true)).toThrow(NftablesError);
    expect(() => nftMasqRules(n, s, true)).toThrow(why);
    expect(() => new NftRules(n, s, { info: () => undefined, warn: () => undefined })).toThrow(NftablesError);
  });

  it('EnableNFTables is read from net-conf.json (default false) and must be a boolean', () => {
    const base = { Network: NETWORK, Backend: { Type: 'vxlan' } };
    expect(parseNetworkConfig(JSON.stringify(base)).EnableNFTables).toBe(false);
    expect(parseNetworkConfig(JSON.stringify({ ...base, EnableNFTables: true })).EnableNFTables).toBe(true);
    expect(() => parseNetworkConfig(JSON.stringify({ ...base, EnableNFTables: 'yes' }))).toThrow(/EnableNFTables/);
  });
});

function noNft(): boolean {
  if (skipParity('nftables parity')) return true;
  if (spawnSync('nft', ['--version'], { stdio: 'ignore' }).error === undefined) return false;
  const msg = 'nftables parity needs nft (apt-get install nftables)';
  if (isCi()) throw new Error(msg);
  console.warn(`${msg}: skipped`);
  return true;
}

describe.skipIf(noNft())('weft run with EnableNFTables (root, nft)', () => {
  const janitor = useJanitor();
  let node: WeftNode;
  let pod: Pod;
  let ul = '';
  let registryFile = '';

  const setConfig = async (nft: boolean): Promise<void> => {
    const reg = new FileRegistry({ path: registryFile });
    await reg.putNetworkConfig(JSON.stringify({ Network: NETWORK, Backend: { Type: 'vxlan', Port: 4789 }, EnableNFTables: nft }));
    await reg.close();
  };
  /** `nft list table` as text rules per chain, or null when the table is absent. */
  const table = async (): Promise<Record<string, string[]> | null> => {
    const r = await nsRun(node.ns, 'nft', ['list', 'table', 'ip', 'flannel-ipv4'], { allowFail: true });
    if (r.code !== 0) return null;
    const out: Record<string, string[]> = {};
    let chain = '';
    for (const raw of r.stdout.split('\n')) {
      const line = raw.trim();
      const c = /^chain (\S+) \{$/.exec(line);
      if (c) {
        chain = c[1]!;
        out[chain] = [];
      } else if (chain && line && line !== '}' && !line.startsWith('type ') && !line.startsWith('comment ')) out[chain]!.push(line);
    }
    return out;
  };
  const iptablesChains = async (): Promise<string[]> => {
    const out: string[] = [];
    for (const t of ['nat', 'filter']) {
      const r = await nsRun(node.ns, 'iptables', ['-w', '-t', t, '-S'], { allowFail: true });
      for (const l of r.stdout.split('\n')) if (/^-N FLANNEL-/.test(l)) out.push(`${t}/${l.slice(3)}`);
    }
    return out.sort();
  };
  const seenAs = (): Promise<string | null> => seenAsFrom(janitor(), pod.ns, ul, '198.51.100.254');

  beforeAll(async () => {
    const j = janitor();
    const dir = join(j.dir, 'nf');
    registryFile = join(dir, 'registry.json');
    ul = j.addNamespace('nful');
    const ns = j.addNamespace('nfn1');
    await ipn(ul, 'link', 'add', 'wtbr0', 'type', 'bridge');
    await ipn(ul, 'addr', 'add', '198.51.100.254/24', 'dev', 'wtbr0');
    await ipn(ul, 'link', 'set', 'wtbr0', 'up');
    await ipn(ul, 'link', 'add', 'wtn1p', 'type', 'veth', 'peer', 'name', 'wtn1', 'netns', ns);
    await ipn(ul, 'link', 'set', 'wtn1p', 'master', 'wtbr0', 'up');
    await ipn(ns, 'addr', 'add', '198.51.100.1/24', 'dev', 'wtn1');
    await ipn(ns, 'link', 'set', 'wtn1', 'up');
    await ipn(ns, 'route', 'add', 'default', 'via', '198.51.100.254');
    await sysctl(ns, 'net.ipv4.ip_forward', '1');
    mkdirSync(dir, { recursive: true });
    await setConfig(true);
    node = new WeftNode(j, 'nf1', ns, 'wtn1', '198.51.100.1', dir, '', ['--registry-file', registryFile, '--ip-masq']);
    await node.start();
    const env = node.subnetEnv();
    pod = await addPod(j, ns, 'nfp1', env.subnet, env.mtu);
  }, HOOK_TIMEOUT);

  afterAll(async () => {
    await node?.stop().catch(() => undefined);
  }, HOOK_TIMEOUT);

  it("writes flannel's nftables rules and no iptables chains; the pod is masqueraded to the outside", async () => {
    const subnet = node.subnetEnv().subnet.replace(/\.1\//, '.0/');
    const t = await table();
    expect(t).not.toBeNull();
    // nft prints the mark as a 32-bit number
    expect(t!['postrtg']).toEqual(nftMasqRules(NETWORK, subnet, true).map((r) => r.replace('meta mark 0x4000', 'meta mark 0x00004000')));
    expect(t!['forward']).toEqual(nftForwardRules(NETWORK));
    expect(await iptablesChains()).toEqual([]);
    expect(await seenAs()).toBe('198.51.100.1');
  });

  it('switched to iptables, the table goes and the chains come; switched back, the reverse', async () => {
    await node.stop();
    await setConfig(false);
    await node.start();
    expect(await table()).toBeNull();
    expect(await iptablesChains()).toEqual(['filter/FLANNEL-FWD', 'nat/FLANNEL-POSTRTG']);
    expect(await seenAs()).toBe('198.51.100.1');
    await node.stop();
    await setConfig(true);
    await node.start();
    expect(await iptablesChains()).toEqual([]);
    expect(Object.keys((await table()) ?? {}).sort()).toEqual(['forward', 'postrtg']);
    expect(await seenAs()).toBe('198.51.100.1');
  });
});
