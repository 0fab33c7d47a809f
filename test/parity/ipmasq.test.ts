// flanneld parity, --ip-masq: the rules flannel installs (pkg/trafficmngr/iptables/
// iptables.go masqRules and forwardRules), their periodic restore, their removal,
// and what they do to real traffic, in network namespaces.
//
//   wefttest-<id>-inet   "the internet": wtinet0 203.0.113.254/24
//   wefttest-<id>-node1  wtup0 203.0.113.1/24 (its external address), wtn1 198.51.100.1/24
//                        to node2, bridge wtcni0 10.244.1.1/24, route 10.244.2.0/24 via
//                        node2; ip_forward=1; the rules are installed here
//   wefttest-<id>-node2  wtn2 198.51.100.2/24, bridge wtcni0 10.244.2.1/24, route
//                        10.244.1.0/24 via node1
//   wefttest-<id>-pod1/pod2  10.244.1.2 / 10.244.2.2 behind the bridges
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IptablesError, masqRules, forwardRules } from '../../src/daemon/ipmasq.js';
import { useJanitor, HOOK_TIMEOUT } from '../integration/harness/context.js';
import { ipn, nsRun, sleep, sysctl, waitFor } from '../integration/harness/exec.js';
import type { Janitor } from '../integration/harness/janitor.js';
import { Driver, seenAs, skipParity } from './harness.js';

const NETWORK = '10.244.0.0/16';
const SUBNET = '10.244.1.0/24';

/** `iptables -t nat -S FLANNEL-POSTRTG` as flanneld leaves it (iptables ≥ 1.6.2: --random-fully), written out by hand from flannel's masqRules. */
const FLANNEL_POSTRTG = [
  '-N FLANNEL-POSTRTG',
  '-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN',
  '-A FLANNEL-POSTRTG -s 10.244.1.0/24 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j RETURN',
  '-A FLANNEL-POSTRTG -s 10.244.0.0/16 -d 10.244.1.0/24 -m comment --comment "flanneld masq" -j RETURN',
  '-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.1.0/24 -m comment --comment "flanneld masq" -j RETURN',
  '-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully',
  '-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully',
];
const FLANNEL_POSTROUTING_JUMP = '-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG';
const FLANNEL_FWD = [
  '-N FLANNEL-FWD',
  '-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT',
  '-A FLANNEL-FWD -d 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT',
];
const FLANNEL_FORWARD_JUMP = '-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD';

describe('ip-masq rules (no root)', () => {
  it('are flannel masqRules, in its order, for IPv4', () => {
    const lines = masqRules(NETWORK, SUBNET, true).map((r) => `-A ${r.chain} ${r.spec.map((w) => (w.includes(' ') ? `"${w}"` : w)).join(' ')}`);
    expect(lines).toEqual([FLANNEL_POSTROUTING_JUMP, ...FLANNEL_POSTRTG.slice(1)]);
    expect(masqRules(NETWORK, SUBNET, true).every((r) => r.table === 'nat')).toBe(true);
  });

  it('drop --random-fully when asked (--ip-masq-fully-random-disable)', () => {
    const specs = masqRules(NETWORK, SUBNET, false).map((r) => r.spec.join(' '));
    expect(specs.filter((s) => s.includes('MASQUERADE'))).toHaveLength(2);
    expect(specs.some((s) => s.includes('--random-fully'))).toBe(false);
  });

  it('forward rules are flannel forwardRules', () => {
    const lines = forwardRules(NETWORK).map((r) => `-A ${r.chain} ${r.spec.map((w) => (w.includes(' ') ? `"${w}"` : w)).join(' ')}`);
    expect(lines).toEqual([FLANNEL_FORWARD_JUMP, ...FLANNEL_FWD.slice(1)]);
    expect(forwardRules(NETWORK).every((r) => r.table === 'filter')).toBe(true);
  });

  it('refuse what is not an IPv4 CIDR', () => {
    expect(() => masqRules('10.244.0.0', SUBNET, true)).toThrow(IptablesError);
    expect(() => masqRules(NETWORK, '10.244.1.0/24; rm -rf /', true)).toThrow(/not an IPv4 network/);
  });
});

async function rules(ns: string, table: string, chain: string): Promise<string[] | null> {
  const r = await nsRun(ns, 'iptables', ['-w', '-t', table, '-S', chain], { allowFail: true });
  return r.code === 0 ? r.stdout.trim().split('\n') : null;
}

async function flannelRulesIn(ns: string, table: string, chain: string, comment: string): Promise<string[]> {
  return ((await rules(ns, table, chain)) ?? []).filter((l) => l.includes(comment));
}

async function veth(a: { ns: string; dev: string; ip: string }, b: { ns: string; dev: string; ip: string }): Promise<void> {
  await ipn(a.ns, 'link', 'add', a.dev, 'type', 'veth', 'peer', 'name', b.dev, 'netns', b.ns);
  for (const s of [a, b]) {
    await ipn(s.ns, 'addr', 'add', s.ip, 'dev', s.dev);
    await ipn(s.ns, 'link', 'set', s.dev, 'up');
  }
}

/** A pod namespace behind bridge wtcni0 of nodeNs. */
async function pod(janitor: Janitor, nodeNs: string, role: string, gateway: string, ip: string): Promise<string> {
  const ns = janitor.addNamespace(role);
  await ipn(nodeNs, 'link', 'add', 'wtcni0', 'type', 'bridge');
  await ipn(nodeNs, 'addr', 'add', `${gateway}/24`, 'dev', 'wtcni0');
  await ipn(nodeNs, 'link', 'set', 'wtcni0', 'up');
  await ipn(nodeNs, 'link', 'add', 'wtveth0', 'type', 'veth', 'peer', 'name', 'wtpod0', 'netns', ns);
  await ipn(nodeNs, 'link', 'set', 'wtveth0', 'master', 'wtcni0', 'up');
  await ipn(ns, 'addr', 'add', `${ip}/24`, 'dev', 'wtpod0');
  await ipn(ns, 'link', 'set', 'wtpod0', 'up');
  await ipn(ns, 'route', 'add', 'default', 'via', gateway);
  return ns;
}

describe.skipIf(skipParity('ip-masq parity'))('ip-masq in namespaces (root, iptables)', () => {
  const janitor = useJanitor();
  let inet: string;
  let node1: string;
  let node2: string;
  let pod1: string;
  let pod2: string;
  let driver: Driver;

  beforeAll(async () => {
    const j = janitor();
    inet = j.addNamespace('inet');
    node1 = j.addNamespace('node1');
    node2 = j.addNamespace('node2');
    await veth({ ns: node1, dev: 'wtup0', ip: '203.0.113.1/24' }, { ns: inet, dev: 'wtinet0', ip: '203.0.113.254/24' });
    await veth({ ns: node1, dev: 'wtn1', ip: '198.51.100.1/24' }, { ns: node2, dev: 'wtn2', ip: '198.51.100.2/24' });
    pod1 = await pod(j, node1, 'pod1', '10.244.1.1', '10.244.1.2');
    pod2 = await pod(j, node2, 'pod2', '10.244.2.1', '10.244.2.2');
    await ipn(node1, 'route', 'add', '10.244.2.0/24', 'via', '198.51.100.2');
    await ipn(node2, 'route', 'add', '10.244.1.0/24', 'via', '198.51.100.1');
    for (const ns of [node1, node2]) await sysctl(ns, 'net.ipv4.ip_forward', '1');
    driver = await Driver.start(j, node1);
  }, HOOK_TIMEOUT);

  afterAll(async () => {
    await driver?.close();
  });

  it('without the rules, pods reach the internet with their own address (control)', async () => {
    // "the internet" routes the cluster back here only for this control case
    await ipn(inet, 'route', 'add', NETWORK, 'via', '203.0.113.1');
    try {
      expect(await seenAs(janitor(), pod1, inet, '203.0.113.254')).toBe('10.244.1.2');
    } finally {
      await ipn(inet, 'route', 'del', NETWORK, 'via', '203.0.113.1');
    }
    expect(await seenAs(janitor(), pod1, inet, '203.0.113.254', 2000)).toBeNull(); // no way back for 10.244.1.2
  });

  it('installs exactly flannel FLANNEL-POSTRTG, jumped to from POSTROUTING, and FLANNEL-FWD', async () => {
    await driver.call('masq.apply', { network: NETWORK, subnet: SUBNET });
    await driver.call('fwd.apply', { network: NETWORK });
    expect(await rules(node1, 'nat', 'FLANNEL-POSTRTG')).toEqual(FLANNEL_POSTRTG);
    expect(await flannelRulesIn(node1, 'nat', 'POSTROUTING', 'flanneld masq')).toEqual([FLANNEL_POSTROUTING_JUMP]);
    expect(await rules(node1, 'filter', 'FLANNEL-FWD')).toEqual(FLANNEL_FWD);
    expect(await flannelRulesIn(node1, 'filter', 'FORWARD', 'flanneld forward')).toEqual([FLANNEL_FORWARD_JUMP]);
    // the other namespaces are untouched
    expect(await rules(node2, 'nat', 'FLANNEL-POSTRTG')).toBeNull();
  });

  it('is idempotent: apply() again leaves one copy of each rule', async () => {
    await driver.call('masq.apply', { network: NETWORK, subnet: SUBNET });
    await driver.call('masq.apply', { network: NETWORK, subnet: SUBNET });
    expect(await rules(node1, 'nat', 'FLANNEL-POSTRTG')).toEqual(FLANNEL_POSTRTG);
    expect(await flannelRulesIn(node1, 'nat', 'POSTROUTING', 'flanneld masq')).toEqual([FLANNEL_POSTROUTING_JUMP]);
  });

  it('a pod reaching the internet is masqueraded to the node address', async () => {
    expect(await seenAs(janitor(), pod1, inet, '203.0.113.254')).toBe('203.0.113.1');
  });

  it('pod-to-pod traffic across nodes keeps the pod address', async () => {
    expect(await seenAs(janitor(), pod1, pod2, '10.244.2.2')).toBe('10.244.1.2');
  });

  it('traffic from outside the cluster to a pod of this node keeps its source', async () => {
    await ipn(inet, 'route', 'add', SUBNET, 'via', '203.0.113.1');
    try {
      expect(await seenAs(janitor(), inet, pod1, '10.244.1.2')).toBe('203.0.113.254');
    } finally {
      await ipn(inet, 'route', 'del', SUBNET, 'via', '203.0.113.1');
    }
  });

  it('restores deleted rules, in flannel order, within the check interval', async () => {
    await driver.call('masq.start', { intervalMs: 1000 });
    // a rule from the middle, and the jump from POSTROUTING
    await nsRun(node1, 'iptables', ['-w', '-t', 'nat', '-D', 'FLANNEL-POSTRTG', '3']);
    await nsRun(node1, 'iptables', ['-w', '-t', 'nat', '-D', 'POSTROUTING', '-m', 'comment', '--comment', 'flanneld masq', '-j', 'FLANNEL-POSTRTG']);
    expect(await rules(node1, 'nat', 'FLANNEL-POSTRTG')).not.toEqual(FLANNEL_POSTRTG);
    const t0 = Date.now();
    await waitFor('FLANNEL-POSTRTG restored', async () => JSON.stringify(await rules(node1, 'nat', 'FLANNEL-POSTRTG')) === JSON.stringify(FLANNEL_POSTRTG), 3000, 100);
    expect(Date.now() - t0).toBeLessThan(2500);
    expect(await flannelRulesIn(node1, 'nat', 'POSTROUTING', 'flanneld masq')).toEqual([FLANNEL_POSTROUTING_JUMP]);

    // the whole chain flushed
    await nsRun(node1, 'iptables', ['-w', '-t', 'nat', '-F', 'FLANNEL-POSTRTG']);
    await waitFor('flushed FLANNEL-POSTRTG restored', async () => JSON.stringify(await rules(node1, 'nat', 'FLANNEL-POSTRTG')) === JSON.stringify(FLANNEL_POSTRTG), 3000, 100);
    expect(driver.logs.some((l) => String(l['msg']).includes('missing'))).toBe(true);
    expect(await seenAs(janitor(), pod1, inet, '203.0.113.254')).toBe('203.0.113.1');
  });

  it('stopping the checker (shutdown) leaves the rules, as flanneld does, and restores no more', async () => {
    await driver.call('masq.stop');
    expect(await rules(node1, 'nat', 'FLANNEL-POSTRTG')).toEqual(FLANNEL_POSTRTG);
    await nsRun(node1, 'iptables', ['-w', '-t', 'nat', '-D', 'FLANNEL-POSTRTG', '2']);
    await sleep(2200);
    expect(await rules(node1, 'nat', 'FLANNEL-POSTRTG')).toHaveLength(FLANNEL_POSTRTG.length - 1);
    expect(await driver.call('masq.ensure')).toBe(true); // one explicit check puts it back
    expect(await rules(node1, 'nat', 'FLANNEL-POSTRTG')).toEqual(FLANNEL_POSTRTG);
  });

  it('remove() deletes the rules and the chain, and the checker does not bring them back', async () => {
    await driver.call('masq.start', { intervalMs: 500 });
    await driver.call('masq.remove');
    await driver.call('fwd.remove');
    expect(await rules(node1, 'nat', 'FLANNEL-POSTRTG')).toBeNull();
    expect(await rules(node1, 'filter', 'FLANNEL-FWD')).toBeNull();
    expect(await flannelRulesIn(node1, 'nat', 'POSTROUTING', 'flanneld')).toEqual([]);
    expect(await flannelRulesIn(node1, 'filter', 'FORWARD', 'flanneld')).toEqual([]);
    await sleep(1200);
    expect(await rules(node1, 'nat', 'FLANNEL-POSTRTG')).toBeNull();
    expect(await seenAs(janitor(), pod1, inet, '203.0.113.254', 2000)).toBeNull(); // no masquerade, no way back
    await driver.call('masq.remove'); // twice is fine
  });

  it('apply() replaces the rules of a previous subnet (flannel flushes its chain at start)', async () => {
    await driver.call('masq.apply', { network: NETWORK, subnet: '10.244.9.0/24' });
    expect((await rules(node1, 'nat', 'FLANNEL-POSTRTG'))!.some((l) => l.includes('10.244.9.0/24'))).toBe(true);
    await driver.call('masq.apply', { network: NETWORK, subnet: SUBNET });
    expect(await rules(node1, 'nat', 'FLANNEL-POSTRTG')).toEqual(FLANNEL_POSTRTG);
    expect(await flannelRulesIn(node1, 'nat', 'POSTROUTING', 'flanneld masq')).toEqual([FLANNEL_POSTROUTING_JUMP]);
    await driver.call('masq.remove');
  });
});
