// flanneld parity, IPv6 ("EnableIPv6": true): the rules flannel writes for an IPv6
// network (pkg/trafficmngr/iptables masqIP6Rules and forwardRules with ip6tables;
// pkg/trafficmngr/nftables, table `ip6 flannel-ipv6`), their restore and removal, the
// legacy/nft choice applied to ip6tables, and what the rules do to real IPv6 traffic
// in network namespaces, beside the IPv4 rules of a dual-stack node.
//
//   wefttest-<id>-inet6   "the internet": wtinet0 fd00:203:0:113::254/64 (203.0.113.254/24)
//   wefttest-<id>-node1   wtup0 fd00:203:0:113::1/64 (its external address; 203.0.113.1/24),
//                         wtn1 fd00:198:51:100::1/64 (198.51.100.1/24) to node2, bridge
//                         wtcni0 fd00:10:244:1::1/64 (10.244.1.1/24), routes to node2's
//                         pods; forwarding on; the rules are installed here
//   wefttest-<id>-node2   wtn2 fd00:198:51:100::2/64 (198.51.100.2/24), bridge wtcni0
//                         fd00:10:244:2::1/64 (10.244.2.1/24), routes to node1's pods
//   wefttest-<id>-pod1/pod2  fd00:10:244:1::2 / fd00:10:244:2::2 (10.244.1.2 / 10.244.2.2)
//   wefttest-<id>-legacy6 a node whose rules are in ip6tables-legacy
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatIPv6, ipv6Mask } from '../../native-free/addr.js';
import { nftMasqRules, NftablesError } from '../../src/daemon/nftables.js';
import { ForwardRules, IpMasq, IptablesError, commandsFor, forwardRules, masqRules } from '../../src/daemon/ipmasq.js';
import { chooseIptables, type Exec } from '../../src/daemon/iptables-mode.js';
import { useJanitor, HOOK_TIMEOUT } from '../integration/harness/context.js';
import { ipn, nsRun, sleep, sysctl, waitFor } from '../integration/harness/exec.js';
import type { Janitor } from '../integration/harness/janitor.js';
import { decodePcapFile, isCi } from '../helpers/tshark.js';
import { Capture } from '../integration/harness/capture.js';
import { Driver, seenAs, skipParity } from './harness.js';

const NETWORK6 = 'fd00:10:244::/56';
const SUBNET6 = 'fd00:10:244:1::/64';
const NETWORK = '10.244.0.0/16';
const SUBNET = '10.244.1.0/24';
const log = { info: (): void => undefined, warn: (): void => undefined };

/** `ip6tables -t nat -S FLANNEL-POSTRTG` as flanneld leaves it (ip6tables ≥ 1.6.2), written out by hand from flannel's masqIP6Rules. */
const FLANNEL_POSTRTG6 = [
  '-N FLANNEL-POSTRTG',
  '-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN',
  '-A FLANNEL-POSTRTG -s fd00:10:244:1::/64 -d fd00:10:244::/56 -m comment --comment "flanneld masq" -j RETURN',
  '-A FLANNEL-POSTRTG -s fd00:10:244::/56 -d fd00:10:244:1::/64 -m comment --comment "flanneld masq" -j RETURN',
  '-A FLANNEL-POSTRTG ! -s fd00:10:244::/56 -d fd00:10:244:1::/64 -m comment --comment "flanneld masq" -j RETURN',
  '-A FLANNEL-POSTRTG -s fd00:10:244::/56 ! -d ff00::/8 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully',
  '-A FLANNEL-POSTRTG ! -s fd00:10:244::/56 -d fd00:10:244::/56 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully',
];
const POSTROUTING_JUMP = '-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG';
const FLANNEL_FWD6 = [
  '-N FLANNEL-FWD',
  '-A FLANNEL-FWD -s fd00:10:244::/56 -m comment --comment "flanneld forward" -j ACCEPT',
  '-A FLANNEL-FWD -d fd00:10:244::/56 -m comment --comment "flanneld forward" -j ACCEPT',
];
const FORWARD_JUMP = '-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD';
/** The IPv4 chain of the same node, to show the two families do not touch each other. */
const FLANNEL_POSTRTG4 = [
  '-N FLANNEL-POSTRTG',
  '-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN',
  '-A FLANNEL-POSTRTG -s 10.244.1.0/24 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j RETURN',
  '-A FLANNEL-POSTRTG -s 10.244.0.0/16 -d 10.244.1.0/24 -m comment --comment "flanneld masq" -j RETURN',
  '-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.1.0/24 -m comment --comment "flanneld masq" -j RETURN',
  '-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully',
  '-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully',
];

const asLines = (rules: ReturnType<typeof masqRules>): string[] => rules.map((r) => `-A ${r.chain} ${r.spec.map((w) => (w.includes(' ') ? `"${w}"` : w)).join(' ')}`);

describe('IPv6 iptables rules (no root)', () => {
  it.each([
    { randomFully: true, tail: ' --random-fully' },
    { randomFully: false, tail: '' },
  ])('are flannel masqIP6Rules, in its order (random-fully $randomFully)', ({ randomFully, tail }) => {
    const want = [POSTROUTING_JUMP, ...FLANNEL_POSTRTG6.slice(1)].map((l) => l.replace(/ --random-fully$/, tail));
    expect(asLines(masqRules(NETWORK6, SUBNET6, randomFully))).toEqual(want);
    expect(masqRules(NETWORK6, SUBNET6, randomFully).every((r) => r.table === 'nat')).toBe(true);
  });

  it('forward rules for an IPv6 network are flannel forwardRules', () => {
    expect(asLines(forwardRules(NETWORK6))).toEqual([FORWARD_JUMP, ...FLANNEL_FWD6.slice(1)]);
  });

  it.each([
    ['FD00:10:244:0::/56', 'fd00:10:244::/56'],
    ['fd00:0010:0244:0000:0000:0000:0000:0000/56', 'fd00:10:244::/56'],
    ['fd00::0/8', 'fd00::/8'],
  ])('write %s as ip6tables -S shows it (%s)', (given, shown) => {
    expect(forwardRules(given)[1]!.spec[1]).toBe(shown);
  });

  it.each([
    [NETWORK, SUBNET6],
    [NETWORK6, SUBNET],
  ])('refuse a network and subnet of two families (%s, %s)', (n, s) => {
    expect(() => masqRules(n, s, true)).toThrow(IptablesError);
    expect(() => masqRules(n, s, true)).toThrow(/not of one address family/);
    expect(() => new IpMasq(n, s, log)).toThrow(IptablesError);
  });

  it.each([
    ['fd00:10:244::/56; ip6tables -F', /not an IPv6 network/],
    ['fd00:10:244::1/56', /host bits set/],
    ['fe80::%eth0/64', /zone/],
    ['fd00:10:244::/129', /not an IPv6 network/],
    ['fd00:10:244:::/56', /not an IPv6 network/],
    ['fd00:10:244::', /not an IPv6 network/],
  ])('refuse what is not an IPv6 CIDR: %s', (bad, why) => {
    expect(() => masqRules(bad, SUBNET6, true)).toThrow(why);
    expect(() => masqRules(NETWORK6, bad, true)).toThrow(IptablesError);
    expect(() => new ForwardRules(bad, log)).toThrow(IptablesError);
  });

  it('any IPv6 network, however written, reaches both managers canonical; with an IPv4 one, never', () => {
    const net6 = fc.tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 128 })).map(([b, len]) => `${formatIPv6(ipv6Mask(b, len))}/${len}`);
    // the same network with every group spelled out in four upper-case digits
    const spelled = (c: string): string => {
      const [a, len] = c.split('/') as [string, string];
      if (a.includes('.')) return c; // ::ffff:a.b.c.d keeps its dotted tail
      const [head, tail = ''] = a.split('::') as [string, string?];
      const groups = (t: string): string[] => (t === '' ? [] : t.split(':'));
      const h = groups(head);
      const t = groups(tail);
      const all = a.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
      return `${all.map((g) => g.toUpperCase().padStart(4, '0')).join(':')}/${len}`;
    };
    fc.assert(
      fc.property(net6, net6, (n, s) => {
        const lines = masqRules(spelled(n), spelled(s), true).map((r) => r.spec.join(' '));
        expect(lines[2]).toBe(`-s ${s} -d ${n} -m comment --comment flanneld masq -j RETURN`);
        expect(nftMasqRules(spelled(n), spelled(s), true)[1]).toBe(`ip6 saddr ${s} ip6 daddr ${n} return`);
        expect(() => masqRules(n, '10.244.1.0/24', true)).toThrow(IptablesError);
        expect(() => nftMasqRules('10.244.0.0/16', s, true)).toThrow(NftablesError);
      }),
      { numRuns: 300 },
    );
  });

  it('a set knows its family; v6 sets run the ip6tables commands of the same commands object', () => {
    expect(new IpMasq(NETWORK, SUBNET, log).family).toBe(4);
    expect(new IpMasq(NETWORK6, SUBNET6, log).family).toBe(6);
    expect(new ForwardRules(NETWORK6, log).family).toBe(6);
    expect(commandsFor({}, 6)).toEqual({ iptables: 'ip6tables', restore: 'ip6tables-restore' });
    expect(commandsFor({}, 4)).toEqual({ iptables: 'iptables', restore: 'iptables-restore' });
    const legacy = { iptables: 'iptables-legacy', iptablesRestore: 'iptables-legacy-restore', ip6tables: 'ip6tables-legacy', ip6tablesRestore: 'ip6tables-legacy-restore' };
    expect(commandsFor(legacy, 6)).toEqual({ iptables: 'ip6tables-legacy', restore: 'ip6tables-legacy-restore' });
    expect(commandsFor(legacy, 4)).toEqual({ iptables: 'iptables-legacy', restore: 'iptables-legacy-restore' });
  });

  it('the chosen iptables mode names ip6tables of that mode', async () => {
    // an exec that has both variants and 3 IPv6 rules in legacy only
    const exec: Exec = async (cmd) => ({
      code: 0,
      stdout: cmd === 'ip6tables-legacy-save' ? '*filter\n-A INPUT -j ACCEPT\n-A INPUT -j ACCEPT\n-A INPUT -j ACCEPT\nCOMMIT\n' : '',
    });
    const c = await chooseIptables(exec);
    expect(c.mode).toBe('legacy');
    expect(c.cmds).toEqual({ iptables: 'iptables-legacy', iptablesRestore: 'iptables-legacy-restore', ip6tables: 'ip6tables-legacy', ip6tablesRestore: 'ip6tables-legacy-restore' });
  });
});

function noIp6tables(): boolean {
  if (skipParity('IPv6 ip-masq parity')) return true;
  const need = ['ip6tables', 'ip6tables-restore', 'ip6tables-legacy', 'ip6tables-nft', 'nft'].filter((t) => spawnSync(t, ['--version'], { stdio: 'ignore' }).error !== undefined);
  if (need.length === 0) return false;
  const msg = `IPv6 ip-masq parity needs ${need.join(', ')} (apt-get install iptables nftables)`;
  if (isCi()) throw new Error(msg);
  console.warn(`${msg}: skipped`);
  return true;
}

async function rules(ns: string, cmd: string, table: string, chain: string): Promise<string[] | null> {
  const r = await nsRun(ns, cmd, ['-w', '-t', table, '-S', chain], { allowFail: true });
  return r.code === 0 ? r.stdout.trim().split('\n') : null;
}

async function flannelRulesIn(ns: string, cmd: string, table: string, chain: string, comment: string): Promise<string[]> {
  return ((await rules(ns, cmd, table, chain)) ?? []).filter((l) => l.includes(comment));
}

interface End {
  ns: string;
  dev: string;
  ips: string[];
}

async function addrs(ns: string, dev: string, ips: string[]): Promise<void> {
  // nodad: usable at once (no duplicate address detection in a link we made)
  for (const ip of ips) await ipn(ns, 'addr', 'add', ip, 'dev', dev, ...(ip.includes(':') ? ['nodad'] : []));
}

async function veth(a: End, b: End): Promise<void> {
  await ipn(a.ns, 'link', 'add', a.dev, 'type', 'veth', 'peer', 'name', b.dev, 'netns', b.ns);
  for (const s of [a, b]) {
    await addrs(s.ns, s.dev, s.ips);
    await ipn(s.ns, 'link', 'set', s.dev, 'up');
  }
}

/** A dual-stack pod behind bridge wtcni0 of nodeNs: gateways .1 / ::1, the pod .2 / ::2. */
async function pod(janitor: Janitor, nodeNs: string, role: string, v4: string, v6: string): Promise<string> {
  const ns = janitor.addNamespace(role);
  await ipn(nodeNs, 'link', 'add', 'wtcni0', 'type', 'bridge');
  await addrs(nodeNs, 'wtcni0', [`${v4}.1/24`, `${v6}1/64`]);
  await ipn(nodeNs, 'link', 'set', 'wtcni0', 'up');
  await ipn(nodeNs, 'link', 'add', 'wtveth0', 'type', 'veth', 'peer', 'name', 'wtpod0', 'netns', ns);
  await ipn(nodeNs, 'link', 'set', 'wtveth0', 'master', 'wtcni0', 'up');
  await addrs(ns, 'wtpod0', [`${v4}.2/24`, `${v6}2/64`]);
  await ipn(ns, 'link', 'set', 'wtpod0', 'up');
  await ipn(ns, 'route', 'add', 'default', 'via', `${v4}.1`);
  await ipn(ns, '-6', 'route', 'add', 'default', 'via', `${v6}1`);
  return ns;
}

/** `nft list table` as text rules per chain (type and comment lines left out), or null when absent. */
async function nftTable(ns: string, family: 'ip' | 'ip6', name: string): Promise<Record<string, string[]> | null> {
  const r = await nsRun(ns, 'nft', ['list', 'table', family, name], { allowFail: true });
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
}

describe.skipIf(noIp6tables())('IPv6 ip-masq and forward rules in namespaces (root, ip6tables, nft)', () => {
  const janitor = useJanitor();
  const INET6 = 'fd00:203:0:113::254';
  const NODE1_EXT6 = 'fd00:203:0:113::1';
  const POD1 = 'fd00:10:244:1::2';
  const POD2 = 'fd00:10:244:2::2';
  let inet: string;
  let node1: string;
  let node2: string;
  let pod1: string;
  let pod2: string;
  let driver: Driver;

  beforeAll(async () => {
    const j = janitor();
    inet = j.addNamespace('inet6');
    node1 = j.addNamespace('node1');
    node2 = j.addNamespace('node2');
    await veth({ ns: node1, dev: 'wtup0', ips: ['203.0.113.1/24', `${NODE1_EXT6}/64`] }, { ns: inet, dev: 'wtinet0', ips: ['203.0.113.254/24', `${INET6}/64`] });
    await veth({ ns: node1, dev: 'wtn1', ips: ['198.51.100.1/24', 'fd00:198:51:100::1/64'] }, { ns: node2, dev: 'wtn2', ips: ['198.51.100.2/24', 'fd00:198:51:100::2/64'] });
    pod1 = await pod(j, node1, 'pod1', '10.244.1', 'fd00:10:244:1::');
    pod2 = await pod(j, node2, 'pod2', '10.244.2', 'fd00:10:244:2::');
    await ipn(node1, 'route', 'add', '10.244.2.0/24', 'via', '198.51.100.2');
    await ipn(node2, 'route', 'add', '10.244.1.0/24', 'via', '198.51.100.1');
    await ipn(node1, '-6', 'route', 'add', 'fd00:10:244:2::/64', 'via', 'fd00:198:51:100::2');
    await ipn(node2, '-6', 'route', 'add', 'fd00:10:244:1::/64', 'via', 'fd00:198:51:100::1');
    for (const ns of [node1, node2]) {
      await sysctl(ns, 'net.ipv4.ip_forward', '1');
      await sysctl(ns, 'net.ipv6.conf.all.forwarding', '1');
    }
    driver = await Driver.start(j, node1);
  }, HOOK_TIMEOUT);

  afterAll(async () => {
    await driver?.close();
  });

  it('without the rules, an IPv6 pod reaches the internet with its own address (control)', async () => {
    await ipn(inet, '-6', 'route', 'add', NETWORK6, 'via', NODE1_EXT6);
    try {
      expect(await seenAs(janitor(), pod1, inet, INET6)).toBe(POD1);
    } finally {
      await ipn(inet, '-6', 'route', 'del', NETWORK6, 'via', NODE1_EXT6);
    }
    expect(await seenAs(janitor(), pod1, inet, INET6, 2000)).toBeNull(); // no way back for the pod's address
  });

  it('installs exactly flannel FLANNEL-POSTRTG and FLANNEL-FWD with ip6tables, beside the IPv4 ones', async () => {
    await driver.call('masq.apply', { network: NETWORK, subnet: SUBNET, key: 'v4' });
    await driver.call('fwd.apply', { network: NETWORK, key: 'v4' });
    await driver.call('masq.apply', { network: NETWORK6, subnet: SUBNET6, key: 'v6' });
    await driver.call('fwd.apply', { network: NETWORK6, key: 'v6' });
    expect(await rules(node1, 'ip6tables', 'nat', 'FLANNEL-POSTRTG')).toEqual(FLANNEL_POSTRTG6);
    expect(await flannelRulesIn(node1, 'ip6tables', 'nat', 'POSTROUTING', 'flanneld masq')).toEqual([POSTROUTING_JUMP]);
    expect(await rules(node1, 'ip6tables', 'filter', 'FLANNEL-FWD')).toEqual(FLANNEL_FWD6);
    expect(await flannelRulesIn(node1, 'ip6tables', 'filter', 'FORWARD', 'flanneld forward')).toEqual([FORWARD_JUMP]);
    expect(await rules(node1, 'iptables', 'nat', 'FLANNEL-POSTRTG')).toEqual(FLANNEL_POSTRTG4);
    expect(driver.logs.some((l) => l['msg'] === 'ip6tables found' && l['randomFully'] === true)).toBe(true);
    expect(await rules(node2, 'ip6tables', 'nat', 'FLANNEL-POSTRTG')).toBeNull();
  });

  it('an IPv6 pod reaching the internet is masqueraded to the node external IPv6 address', async () => {
    // on the wire in the far namespace (tshark), and as its server saw it
    const file = join(janitor().dir, 'inet6.pcapng');
    const cap = await Capture.start(janitor(), inet, 'wtinet0', 'ip6 and tcp', file);
    expect(await seenAs(janitor(), pod1, inet, INET6)).toBe(NODE1_EXT6);
    await sleep(300); // what tshark has read reaches its file
    await cap.stop();
    const rows = await decodePcapFile(file, { fields: ['ipv6.src', 'ipv6.dst'] });
    const toInet = rows.filter((r) => r['ipv6.dst'][0] === INET6);
    expect(toInet.length).toBeGreaterThan(2); // SYN, ACK, ... of the connection
    expect(new Set(toInet.map((r) => r['ipv6.src'][0]))).toEqual(new Set([NODE1_EXT6]));
    expect(rows.some((r) => r['ipv6.src'][0] === POD1 || r['ipv6.dst'][0] === POD1)).toBe(false);
    expect(await seenAs(janitor(), pod1, inet, '203.0.113.254')).toBe('203.0.113.1'); // and IPv4 still
  });

  it('IPv6 pod-to-pod traffic across nodes keeps the pod address', async () => {
    expect(await seenAs(janitor(), pod1, pod2, POD2)).toBe(POD1);
    expect(await seenAs(janitor(), pod2, pod1, POD1)).toBe(POD2);
  });

  it('IPv6 traffic from outside the cluster to a pod of this node keeps its source', async () => {
    await ipn(inet, '-6', 'route', 'add', SUBNET6, 'via', NODE1_EXT6);
    try {
      expect(await seenAs(janitor(), inet, pod1, POD1)).toBe(INET6);
    } finally {
      await ipn(inet, '-6', 'route', 'del', SUBNET6, 'via', NODE1_EXT6);
    }
  });

  it('restores deleted IPv6 rules in flannel order within the check interval, leaving IPv4 alone', async () => {
    await driver.call('masq.start', { intervalMs: 1000, key: 'v6' });
    await nsRun(node1, 'ip6tables', ['-w', '-t', 'nat', '-D', 'FLANNEL-POSTRTG', '3']);
    await nsRun(node1, 'ip6tables', ['-w', '-t', 'nat', '-D', 'POSTROUTING', '-m', 'comment', '--comment', 'flanneld masq', '-j', 'FLANNEL-POSTRTG']);
    expect(await rules(node1, 'ip6tables', 'nat', 'FLANNEL-POSTRTG')).not.toEqual(FLANNEL_POSTRTG6);
    const t0 = Date.now();
    const restored = async (): Promise<boolean> => JSON.stringify(await rules(node1, 'ip6tables', 'nat', 'FLANNEL-POSTRTG')) === JSON.stringify(FLANNEL_POSTRTG6);
    await waitFor('ip6tables FLANNEL-POSTRTG restored', restored, 3000, 100);
    expect(Date.now() - t0).toBeLessThan(2500);
    expect(await flannelRulesIn(node1, 'ip6tables', 'nat', 'POSTROUTING', 'flanneld masq')).toEqual([POSTROUTING_JUMP]);
    expect(driver.logs.some((l) => l['rules'] === 'ip-masq-ipv6' && String(l['msg']).includes('missing'))).toBe(true);
    expect(await rules(node1, 'iptables', 'nat', 'FLANNEL-POSTRTG')).toEqual(FLANNEL_POSTRTG4);
    expect(await seenAs(janitor(), pod1, inet, INET6)).toBe(NODE1_EXT6);
    await driver.call('masq.stop', { key: 'v6' });
  });

  it('apply() replaces the rules of a previous IPv6 subnet (flannel recycles them, prevIPv6Subnet)', async () => {
    await driver.call('masq.apply', { network: NETWORK6, subnet: 'fd00:10:244:9::/64', key: 'v6' });
    expect((await rules(node1, 'ip6tables', 'nat', 'FLANNEL-POSTRTG'))!.some((l) => l.includes('fd00:10:244:9::/64'))).toBe(true);
    await driver.call('masq.apply', { network: NETWORK6, subnet: SUBNET6, key: 'v6' });
    expect(await rules(node1, 'ip6tables', 'nat', 'FLANNEL-POSTRTG')).toEqual(FLANNEL_POSTRTG6);
    expect(await flannelRulesIn(node1, 'ip6tables', 'nat', 'POSTROUTING', 'flanneld masq')).toEqual([POSTROUTING_JUMP]);
  });

  it('remove() of the IPv6 sets deletes their rules and chains only; the IPv4 ones stay', async () => {
    await driver.call('masq.remove', { key: 'v6' });
    await driver.call('fwd.remove', { key: 'v6' });
    expect(await rules(node1, 'ip6tables', 'nat', 'FLANNEL-POSTRTG')).toBeNull();
    expect(await rules(node1, 'ip6tables', 'filter', 'FLANNEL-FWD')).toBeNull();
    expect(await flannelRulesIn(node1, 'ip6tables', 'nat', 'POSTROUTING', 'flanneld')).toEqual([]);
    expect(await flannelRulesIn(node1, 'ip6tables', 'filter', 'FORWARD', 'flanneld')).toEqual([]);
    expect(await rules(node1, 'iptables', 'nat', 'FLANNEL-POSTRTG')).toEqual(FLANNEL_POSTRTG4);
    expect(await seenAs(janitor(), pod1, inet, INET6, 2000)).toBeNull();
    await driver.call('masq.remove', { key: 'v6' }); // twice is fine
  });

  it("removeFlannelChains(6) is flannel's CleanUp: chains and jumps go whatever network they were for", async () => {
    await driver.call('masq.apply', { network: 'fd00:99::/48', subnet: 'fd00:99:0:5::/64', key: 'other' });
    await driver.call('fwd.apply', { network: 'fd00:99::/48', key: 'other' });
    await driver.call('chains.remove', { family: 6 });
    expect(await rules(node1, 'ip6tables', 'nat', 'FLANNEL-POSTRTG')).toBeNull();
    expect(await rules(node1, 'ip6tables', 'filter', 'FLANNEL-FWD')).toBeNull();
    expect(await flannelRulesIn(node1, 'ip6tables', 'nat', 'POSTROUTING', 'flanneld')).toEqual([]);
    expect(await flannelRulesIn(node1, 'ip6tables', 'filter', 'FORWARD', 'flanneld')).toEqual([]);
    expect(await rules(node1, 'iptables', 'nat', 'FLANNEL-POSTRTG')).toEqual(FLANNEL_POSTRTG4);
    await driver.call('chains.remove', { family: 6 }); // nothing there: fine
    await driver.call('chains.remove', { family: 4 });
    expect(await rules(node1, 'iptables', 'nat', 'FLANNEL-POSTRTG')).toBeNull();
    expect(await rules(node1, 'iptables', 'filter', 'FLANNEL-FWD')).toBeNull();
    expect(await flannelRulesIn(node1, 'iptables', 'nat', 'POSTROUTING', 'flanneld')).toEqual([]);
  });

  it("EnableNFTables: both tables made (flannel's Init), the IPv6 rules in ip6 flannel-ipv6; the pod masqueraded", async () => {
    await driver.call('nft.init');
    // an IPv4-only node has the IPv6 table too, empty, as flannel's
    expect(await nftTable(node1, 'ip6', 'flannel-ipv6')).toEqual({});
    expect(await nftTable(node1, 'ip', 'flannel-ipv4')).toEqual({});
    await driver.call('nft.masq', { network: NETWORK, subnet: SUBNET });
    await driver.call('nft.masq', { network: NETWORK6, subnet: SUBNET6 });
    await driver.call('nft.forward', { network: NETWORK6, subnet: SUBNET6 });
    // written out by hand from flannel's addMasqRules (IPv6 family); nft prints the mark in 32 bits
    expect(await nftTable(node1, 'ip6', 'flannel-ipv6')).toEqual({
      postrtg: [
        'meta mark 0x00004000 return',
        'ip6 saddr fd00:10:244:1::/64 ip6 daddr fd00:10:244::/56 return',
        'ip6 saddr fd00:10:244::/56 ip6 daddr fd00:10:244:1::/64 return',
        'ip6 saddr != fd00:10:244:1::/64 ip6 daddr fd00:10:244::/56 return',
        'ip6 saddr fd00:10:244::/56 ip6 daddr != ff00::/8 masquerade fully-random',
        'ip6 saddr != fd00:10:244::/56 ip6 daddr fd00:10:244::/56 masquerade fully-random',
      ],
      forward: ['ip6 saddr fd00:10:244::/56 accept', 'ip6 daddr fd00:10:244::/56 accept'],
    });
    expect(Object.keys((await nftTable(node1, 'ip', 'flannel-ipv4'))!)).toEqual(['postrtg']);
    expect(await rules(node1, 'ip6tables', 'nat', 'FLANNEL-POSTRTG')).toBeNull();
    expect(await seenAs(janitor(), pod1, inet, INET6)).toBe(NODE1_EXT6);
    expect(await seenAs(janitor(), pod1, pod2, POD2)).toBe(POD1);
    expect(await seenAs(janitor(), pod1, inet, '203.0.113.254')).toBe('203.0.113.1');
  });

  it('applied again (a restart), the IPv6 chains hold one copy of each rule', async () => {
    await driver.call('nft.init');
    await driver.call('nft.masq', { network: NETWORK6, subnet: SUBNET6, fullyRandom: false });
    const t = await nftTable(node1, 'ip6', 'flannel-ipv6');
    expect(t!['postrtg']).toHaveLength(6);
    expect(t!['postrtg']!.at(-1)).toBe('ip6 saddr != fd00:10:244::/56 ip6 daddr fd00:10:244::/56 masquerade');
    expect(t!['forward']).toHaveLength(2);
  });

  it('iptables mode again: removeNftTable deletes both tables, as flannel CleanUp', async () => {
    expect(await driver.call('nft.remove', {})).toBe(true);
    expect(await nftTable(node1, 'ip6', 'flannel-ipv6')).toBeNull();
    expect(await nftTable(node1, 'ip', 'flannel-ipv4')).toBeNull();
    expect(await driver.call('nft.remove', {})).toBe(false);
    expect(await seenAs(janitor(), pod1, inet, INET6, 2000)).toBeNull();
  });

  it('removeNftTable for one family leaves the other table', async () => {
    await driver.call('nft.init');
    expect(await driver.call('nft.remove', { families: [6] })).toBe(true);
    expect(await nftTable(node1, 'ip6', 'flannel-ipv6')).toBeNull();
    expect(await nftTable(node1, 'ip', 'flannel-ipv4')).toEqual({});
    expect(await driver.call('nft.remove', { families: [4] })).toBe(true);
  });

  it('a node whose rules are in ip6tables-legacy gets its IPv6 chains there', async () => {
    const ns = janitor().addNamespace('legacy6');
    for (let i = 1; i <= 6; i++) await nsRun(ns, 'ip6tables-legacy', ['-w', '-A', 'INPUT', '-s', `fd00:198:51:100::${i}`, '-j', 'ACCEPT']);
    const d = await Driver.start(janitor(), ns);
    try {
      const choice = await d.call<{ mode: string; cmds: Record<string, string> }>('iptables.choose');
      expect(choice.mode).toBe('legacy');
      await d.call('masq.apply', { network: NETWORK6, subnet: SUBNET6, cmds: choice.cmds });
      await d.call('fwd.apply', { network: NETWORK6, cmds: choice.cmds });
      expect(await rules(ns, 'ip6tables-legacy', 'nat', 'FLANNEL-POSTRTG')).toEqual(FLANNEL_POSTRTG6);
      expect(await rules(ns, 'ip6tables-legacy', 'filter', 'FLANNEL-FWD')).toEqual(FLANNEL_FWD6);
      expect(await rules(ns, 'ip6tables-nft', 'nat', 'FLANNEL-POSTRTG')).toBeNull();
      await d.call('masq.remove');
      expect(await rules(ns, 'ip6tables-legacy', 'nat', 'FLANNEL-POSTRTG')).toBeNull();
      await d.call('chains.remove', { family: 6, cmds: choice.cmds });
      expect(await rules(ns, 'ip6tables-legacy', 'filter', 'FLANNEL-FWD')).toBeNull();
      expect(await flannelRulesIn(ns, 'ip6tables-legacy', 'filter', 'FORWARD', 'flanneld')).toEqual([]);
    } finally {
      await d.close();
    }
  });
});
