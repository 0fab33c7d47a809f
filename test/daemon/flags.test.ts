import { describe, expect, it } from 'vitest';
import { asksForVersion, FlagError, parseRunFlags, runUsage } from '../../src/daemon/flags.js';

describe('weft run flags', () => {
  it('has flannel defaults', () => {
    const f = parseRunFlags([], {})!;
    expect(f.etcdPrefix).toBe('/coreos.com/network');
    expect(f.subnetFile).toBe('/run/flannel/subnet.env');
    expect(f.etcdEndpoints).toEqual([]);
    expect(f.healthzPort).toBe(0);
    expect(f.workers).toBeGreaterThanOrEqual(1);
    expect(f.acceptUnknownPeers).toBe(false);
  });

  it('reads flags in both spellings and from the environment', () => {
    const f = parseRunFlags(['--etcd-endpoints=http://198.51.100.1:2379,http://198.51.100.2:2379', '--workers', '3', '--accept-unknown-peers'], {
      FLANNELD_PUBLIC_IP: '198.51.100.9',
      WEFT_LOG_LEVEL: 'debug',
    })!;
    expect(f.etcdEndpoints).toEqual(['http://198.51.100.1:2379', 'http://198.51.100.2:2379']);
    expect(f.workers).toBe(3);
    expect(f.acceptUnknownPeers).toBe(true);
    expect(f.publicIp).toBe('198.51.100.9');
    expect(f.logLevel).toBe('debug');
  });

  it('--table-capacity: 10000 by default (the tables\' old fixed size), 1-100000', () => {
    expect(parseRunFlags([], {})!.tableCapacity).toBe(10_000);
    expect(parseRunFlags(['--table-capacity', '2'], {})!.tableCapacity).toBe(2);
    expect(parseRunFlags([], { WEFT_TABLE_CAPACITY: '500' })!.tableCapacity).toBe(500);
    expect(() => parseRunFlags(['--table-capacity', '0'], {})).toThrow(FlagError);
    expect(() => parseRunFlags(['--table-capacity', '100001'], {})).toThrow(/table-capacity/);
  });

  it('--source-ports: 8 by default, 0-64 (0 and 1: the backend port only), in --help', () => {
    expect(parseRunFlags([], {})!.sourcePorts).toBe(8);
    expect(parseRunFlags(['--source-ports', '0'], {})!.sourcePorts).toBe(0);
    expect(parseRunFlags(['--source-ports=64'], {})!.sourcePorts).toBe(64);
    expect(parseRunFlags([], { WEFT_SOURCE_PORTS: '2' })!.sourcePorts).toBe(2);
    expect(() => parseRunFlags(['--source-ports', '65'], {})).toThrow(/--source-ports is "65": it must be a whole number from 0 to 64/);
    expect(() => parseRunFlags(['--source-ports', '-1'], {})).toThrow(FlagError);
    expect(runUsage()).toMatch(/--source-ports <value>\n.*UDP source ports.*\(default 8\)/);
  });

  it('--status-group: off by default (root only), a name or gid otherwise; --healthz-ip/port as flanneld', () => {
    const f = parseRunFlags([], {})!;
    expect(f.statusGroup).toBeNull();
    expect([f.healthzIp, f.healthzPort]).toEqual(['0.0.0.0', 0]);
    expect(parseRunFlags(['--status-group', 'weft-status'], {})!.statusGroup).toBe('weft-status');
    expect(parseRunFlags([], { FLANNELD_STATUS_GROUP: '4242' })!.statusGroup).toBe('4242');
  });

  it('offloads: all on by default; --offload=false turns all off; each has its own switch', () => {
    expect(parseRunFlags([], {})!.offload).toEqual({ tun: true, udpGso: true, udpGro: true });
    expect(parseRunFlags(['--offload=false'], {})!.offload).toEqual({ tun: false, udpGso: false, udpGro: false });
    expect(parseRunFlags(['--offload=false', '--udp-gso=true'], {})!.offload).toEqual({ tun: false, udpGso: false, udpGro: false });
    expect(parseRunFlags(['--tun-offload=false'], {})!.offload).toEqual({ tun: false, udpGso: true, udpGro: true });
    expect(parseRunFlags(['--udp-gso', 'false', '--udp-gro=false'], {})!.offload).toEqual({ tun: true, udpGso: false, udpGro: false });
    expect(parseRunFlags([], { WEFT_UDP_GRO: 'false' })!.offload).toEqual({ tun: true, udpGso: true, udpGro: false });
  });

  it.each([['--offload=off'], ['--tun-offload=no'], ['--udp-gso=1'], ['--udp-gro=']])('refuses %s: true or false only', (flag) => {
    expect(() => parseRunFlags([flag], {})).toThrow(/use true or false/);
  });

  it('anti-spoofing: on by default; --spoof-check=false (or WEFT_SPOOF_CHECK=false) turns it off', () => {
    expect(parseRunFlags([], {})!.spoofCheck).toBe(true);
    expect(parseRunFlags(['--spoof-check'], {})!.spoofCheck).toBe(true);
    expect(parseRunFlags(['--spoof-check=false'], {})!.spoofCheck).toBe(false);
    expect(parseRunFlags(['-spoof-check=0'], {})!.spoofCheck).toBe(false);
    expect(parseRunFlags([], { WEFT_SPOOF_CHECK: 'false' })!.spoofCheck).toBe(false);
    expect(() => parseRunFlags([], { WEFT_SPOOF_CHECK: 'off' })).toThrow(/spoof-check is a boolean/);
  });

  it('--public-ipv6: none by default; an IPv6 address as flanneld takes it (also from FLANNELD_PUBLIC_IPV6)', () => {
    expect(parseRunFlags([], {})!.publicIpv6).toBeNull();
    expect(parseRunFlags(['--public-ipv6=fd00:198:51:100::7'], {})!.publicIpv6).toBe('fd00:198:51:100::7');
    expect(parseRunFlags(['-public-ipv6', '2001:db8::1'], {})!.publicIpv6).toBe('2001:db8::1');
    expect(parseRunFlags([], { FLANNELD_PUBLIC_IPV6: 'fd00::9' })!.publicIpv6).toBe('fd00::9');
  });

  it('returns null for --help', () => {
    expect(parseRunFlags(['--help'], {})).toBeNull();
  });

  it.each([
    [['--bogus'], /flag provided but not defined: -bogus.*weft run --help/],
    [['-logtostderr'], /flag provided but not defined: -logtostderr/],
    [['--iface'], /flag needs an argument: -iface/],
    [['--ip-masq=maybe'], /-ip-masq is "maybe": a boolean takes true or false/],
    [['--ip-masq', 'yes'], /unexpected argument "yes": weft run takes flags only/],
    [['eth0'], /unexpected argument "eth0"/],
    [['--', '--iface=eth0'], /unexpected argument "--iface=eth0" after "--"/],
    [['-v', 'high'], /-v is "high": klog's verbosity is a whole number/],
    [['--workers', '0'], /--workers is "0": it must be a whole number from 1 to 256/],
    [['--workers', 'many'], /--workers is "many"/],
    [['--healthz-port', '70000'], /--healthz-port is "70000"/],
    [['--public-ip', '10.244.1'], /--public-ip is "10.244.1": it must be an IPv4 address/],
    [['--log-level', 'loud'], /--log-level is "loud": use one of trace/],
    [['--etcd-endpoints', 'etcd:2379'], /--etcd-endpoints has "etcd:2379"/],
    [['--etcd-prefix', 'coreos.com/network'], /--etcd-prefix is "coreos.com\/network"/],
    [['--public-ipv6=198.51.100.7'], /--public-ipv6 is "198\.51\.100\.7": it must be an IPv6 address/],
    [['--public-ipv6', 'fd00::1::2'], /--public-ipv6 is "fd00::1::2": it must be an IPv6 address/],
  ])('rejects %j with a message naming the flag and the fix', (argv, message) => {
    expect(() => parseRunFlags(argv, {})).toThrow(FlagError);
    expect(() => parseRunFlags(argv, {})).toThrow(message);
  });

  describe("Go's flag rules, as flanneld reads its command line", () => {
    it('takes one or two dashes, =value or the next argument', () => {
      for (const argv of [
        ['-iface=eth1', '-public-ip', '198.51.100.9'],
        ['--iface', 'eth1', '--public-ip=198.51.100.9'],
      ]) {
        const f = parseRunFlags(argv, {})!;
        expect(f.ifaces).toEqual(['eth1']);
        expect(f.publicIp).toBe('198.51.100.9');
      }
    });

    it.each([
      [['--ip-masq'], true],
      [['-ip-masq=true'], true],
      [['--ip-masq=1'], true],
      [['--ip-masq=T'], true],
      [['--ip-masq=False'], false],
      [['--ip-masq=0'], false],
      [['--ip-masq', 'false'], false],
      [[], false],
    ])('boolean %j is %s', (argv, want) => {
      expect(parseRunFlags(argv, {})!.ipMasq).toBe(want);
    });

    it("flanneld's booleans that default to true are turned off with =false", () => {
      const on = parseRunFlags([], {})!;
      expect(on.iptablesForwardRules).toBe(true);
      expect(on.setNodeNetworkUnavailable).toBe(true);
      const off = parseRunFlags(['--iptables-forward-rules=false', '-set-node-network-unavailable=f'], {})!;
      expect(off.iptablesForwardRules).toBe(false);
      expect(off.setNodeNetworkUnavailable).toBe(false);
      expect(parseRunFlags([], { FLANNELD_IPTABLES_FORWARD_RULES: 'false' })!.iptablesForwardRules).toBe(false);
    });

    it('reads booleans from the environment with ParseBool spellings, refusing others by name', () => {
      expect(parseRunFlags([], { FLANNELD_IP_MASQ: 'TRUE' })!.ipMasq).toBe(true);
      expect(parseRunFlags([], { FLANNELD_IP_MASQ: '' })!.ipMasq).toBe(false);
      expect(() => parseRunFlags([], { FLANNELD_IP_MASQ: 'yes' })).toThrow(/FLANNELD_IP_MASQ is "yes": --ip-masq is a boolean/);
    });

    it('the command line wins over the environment, which wins over the default', () => {
      expect(parseRunFlags(['--ip-masq=false'], { FLANNELD_IP_MASQ: 'true' })!.ipMasq).toBe(false);
      expect(parseRunFlags(['--iface=eth2'], { FLANNELD_IFACE: 'eth1' })!.ifaces).toEqual(['eth2']);
      expect(parseRunFlags([], { FLANNELD_IFACE: 'eth1' })!.ifaces).toEqual(['eth1']);
    });

    it("maps klog's -v onto the log level unless --log-level is given; ignores -vmodule with a warning", () => {
      expect(parseRunFlags(['-v=2'], {})!.logLevel).toBe('info');
      expect(parseRunFlags(['--v', '4'], {})!.logLevel).toBe('debug');
      expect(parseRunFlags(['-v=10'], {})!.logLevel).toBe('trace');
      expect(parseRunFlags(['-v=10', '--log-level=warn'], {})!.logLevel).toBe('warn');
      const f = parseRunFlags(['-vmodule=foo=3', '-log_backtrace_at=x.go:1'], {})!;
      expect(f.warnings).toHaveLength(2);
      expect(f.warnings[0]).toMatch(/-vmodule=foo=3 is a klog flag weft does not use; ignored/);
      expect(parseRunFlags([], {})!.warnings).toEqual([]);
    });

    it('-h and -help ask for usage; --version for the version', () => {
      expect(parseRunFlags(['-h'], {})).toBeNull();
      expect(parseRunFlags(['-help'], {})).toBeNull();
      expect(asksForVersion(['--version'])).toBe(true);
      expect(asksForVersion(['--ip-masq', '-version=true'])).toBe(true);
      expect(asksForVersion(['--ip-masq'])).toBe(false);
      expect(asksForVersion(['--nonsense', '--version'])).toBe(false);
    });

    it("takes kube-flannel.yml's and flannel's documented command lines", () => {
      const kube = parseRunFlags(['--ip-masq', '--kube-subnet-mgr', '--healthz-port=8081'], { NODE_NAME: 'n1' })!;
      expect([kube.ipMasq, kube.kubeSubnetMgr, kube.healthzPort]).toEqual([true, true, 8081]);
      const etcd = parseRunFlags(
        ['-etcd-endpoints=http://198.51.100.1:2379', '-etcd-prefix=/coreos.com/network', '-iface=eth0', '-ip-masq', '-v=2', '-subnet-lease-renew-margin', '30'],
        {},
      )!;
      expect(etcd.etcdEndpoints).toEqual(['http://198.51.100.1:2379']);
      expect(etcd.renewMarginMinutes).toBe(30);
      expect(etcd.ipMasq).toBe(true);
    });
  });
});
