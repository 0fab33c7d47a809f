import { describe, expect, it } from 'vitest';
import { FlagError, parseRunFlags } from '../../src/daemon/flags.js';

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

  it('returns null for --help', () => {
    expect(parseRunFlags(['--help'], {})).toBeNull();
  });

  it.each([
    [['--bogus'], /Unknown option '--bogus'.*weft run --help/],
    [['--workers', '0'], /--workers is "0": it must be a whole number from 1 to 256/],
    [['--workers', 'many'], /--workers is "many"/],
    [['--healthz-port', '70000'], /--healthz-port is "70000"/],
    [['--public-ip', '10.244.1'], /--public-ip is "10.244.1": it must be an IPv4 address/],
    [['--log-level', 'loud'], /--log-level is "loud": use one of trace/],
    [['--etcd-endpoints', 'etcd:2379'], /--etcd-endpoints has "etcd:2379"/],
    [['--etcd-prefix', 'coreos.com/network'], /--etcd-prefix is "coreos.com\/network"/],
    [['--public-ipv6=fd00::1'], /--public-ipv6 is a flanneld flag weft does not support: weft carries IPv4 only/],
    [['--ip-blackhole-route'], /--ip-blackhole-route is a flanneld flag weft does not support/],
    [['-v=2'], /use --log-level/],
  ])('rejects %j with a message naming the flag and the fix', (argv, message) => {
    expect(() => parseRunFlags(argv, {})).toThrow(FlagError);
    expect(() => parseRunFlags(argv, {})).toThrow(message);
  });
});
