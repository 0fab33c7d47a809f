// Which iptables the host uses (src/daemon/iptables-mode.ts), decided as flannel's
// image decides it (kubernetes-sigs/iptables-wrappers), against real rule sets in
// namespaces: legacy and nft rules are per network namespace.
import { describe, expect, it } from 'vitest';
import { chooseIptables, type Exec } from '../../src/daemon/iptables-mode.js';
import { useJanitor } from '../integration/harness/context.js';
import { nsRun } from '../integration/harness/exec.js';
import { skipParity } from './harness.js';

describe.skipIf(skipParity('iptables mode'))('iptables back end: legacy or nft, as the host uses (root)', () => {
  const janitor = useJanitor();
  const inNs =
    (ns: string): Exec =>
    async (cmd, args) => {
      const r = await nsRun(ns, cmd, args, { allowFail: true });
      return { code: r.code ?? 1, stdout: r.stdout };
    };
  const ipt = (ns: string, mode: string, ...args: string[]) => nsRun(ns, `iptables-${mode}`, ['-w', ...args]);
  // Rules go with their namespace: the janitor's removal is the clean-up.

  it('a fresh namespace: no rules either side, the iptables on PATH', async () => {
    const ns = janitor().addNamespace('imfresh');
    expect(await chooseIptables(inNs(ns))).toMatchObject({ mode: 'default', cmds: {} });
  });

  it('kube-proxy rules in legacy: legacy, and the commands name it', async () => {
    const ns = janitor().addNamespace('imleg');
    for (let i = 0; i < 12; i++) await ipt(ns, 'legacy', '-A', 'INPUT', '-s', `198.51.100.${i + 1}`, '-j', 'ACCEPT');
    const c = await chooseIptables(inNs(ns));
    expect(c).toMatchObject({ mode: 'legacy', cmds: { iptables: 'iptables-legacy', iptablesRestore: 'iptables-legacy-restore' } });
    expect(c.why).toMatch(/12 rules in iptables-legacy against 0 in iptables-nft/);
  });

  it('more rules in nft: nft', async () => {
    const ns = janitor().addNamespace('imnft');
    for (let i = 0; i < 3; i++) await ipt(ns, 'nft', '-A', 'INPUT', '-s', `198.51.100.${i + 1}`, '-j', 'ACCEPT');
    await ipt(ns, 'legacy', '-A', 'INPUT', '-s', '198.51.100.99', '-j', 'ACCEPT');
    expect(await chooseIptables(inNs(ns))).toMatchObject({ mode: 'nft', cmds: { iptables: 'iptables-nft' } });
  });

  it("the kubelet's hint chain wins over rule counts", async () => {
    const ns = janitor().addNamespace('imhint');
    for (let i = 0; i < 12; i++) await ipt(ns, 'legacy', '-A', 'INPUT', '-s', `198.51.100.${i + 1}`, '-j', 'ACCEPT');
    await ipt(ns, 'nft', '-t', 'mangle', '-N', 'KUBE-IPTABLES-HINT');
    const c = await chooseIptables(inNs(ns));
    expect(c.mode).toBe('nft');
    expect(c.why).toMatch(/hint chain is in iptables-nft/);
  });
});
