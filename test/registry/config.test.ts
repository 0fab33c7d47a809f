import { describe, expect, it } from 'vitest';
import { parseNetworkConfig, type NetworkConfig } from '../../src/registry/config.js';
import { ConfigError } from '../../src/registry/errors.js';

const vxlanDefaults = { Type: 'vxlan', VNI: 1, Port: 4789, PortConfigured: false, MTU: null, GBP: false, Learning: false, DirectRouting: false };

// Expected values follow flannel pkg/subnet/config.go CheckNetworkConfig.
const valid: Array<[string, unknown, Partial<NetworkConfig>]> = [
  ['/16 → /24 per node, first and last subnet', { Network: '10.244.0.0/16', Backend: { Type: 'vxlan' } },
    { Network: '10.244.0.0/16', SubnetLen: 24, SubnetMin: '10.244.1.0', SubnetMax: '10.244.255.0', Backend: vxlanDefaults as NetworkConfig['Backend'] }],
  ['/22 still gets /24s', { Network: '10.0.0.0/22', Backend: { Type: 'vxlan' } }, { SubnetLen: 24, SubnetMin: '10.0.1.0', SubnetMax: '10.0.3.0' }],
  ['/23 gets prefix+2', { Network: '10.0.0.0/23', Backend: { Type: 'vxlan' } }, { SubnetLen: 25, SubnetMin: '10.0.0.128', SubnetMax: '10.0.1.128' }],
  ['/28 is the smallest', { Network: '10.0.0.0/28', Backend: { Type: 'vxlan' } }, { SubnetLen: 30, SubnetMin: '10.0.0.4', SubnetMax: '10.0.0.12' }],
  ['explicit SubnetLen and range', { Network: '10.1.0.0/16', SubnetLen: 26, SubnetMin: '10.1.4.0', SubnetMax: '10.1.8.192', Backend: { Type: 'vxlan' } },
    { SubnetLen: 26, SubnetMin: '10.1.4.0', SubnetMax: '10.1.8.192' }],
  ['SubnetLen 0 and SubnetMin 0.0.0.0 mean default', { Network: '10.244.0.0/16', SubnetLen: 0, SubnetMin: '0.0.0.0', Backend: { Type: 'vxlan' } },
    { SubnetLen: 24, SubnetMin: '10.244.1.0' }],
  ['host bits in Network are cleared (net.ParseCIDR)', { Network: '10.244.7.9/16', Backend: { Type: 'vxlan' } }, { Network: '10.244.0.0/16' }],
  ['no Backend means udp (flannel default)', { Network: '10.244.0.0/16' }, { Backend: { Type: 'udp', Port: 8285 } }],
  ['keys match case-insensitively like Go', { network: '10.244.0.0/16', backend: { type: 'vxlan', vni: 4096, port: 8472 } },
    { Network: '10.244.0.0/16', Backend: { ...vxlanDefaults, VNI: 4096, Port: 8472, PortConfigured: true } as NetworkConfig['Backend'] }],
  ['vxlan Port 0 is weft default 4789', { Network: '10.244.0.0/16', Backend: { Type: 'vxlan', Port: 0, VNI: 0 } },
    { Backend: { ...vxlanDefaults, VNI: 0 } as NetworkConfig['Backend'] }],
  ['vxlan options', { Network: '10.244.0.0/16', Backend: { Type: 'vxlan', MTU: 1400, GBP: true, Learning: true, DirectRouting: true } },
    { Backend: { ...vxlanDefaults, MTU: 1400, GBP: true, Learning: true, DirectRouting: true } as NetworkConfig['Backend'] }],
  ['ipip', { Network: '10.244.0.0/16', Backend: { Type: 'ipip', DirectRouting: true } }, { Backend: { Type: 'ipip', DirectRouting: true } }],
  ['udp port', { Network: '10.244.0.0/16', Backend: { Type: 'udp', Port: 9000 } }, { Backend: { Type: 'udp', Port: 9000 } }],
  ['flannel config_test.go TestConfigOverrides', { Network: '10.3.0.0/16', SubnetMin: '10.3.5.0', SubnetMax: '10.3.8.0', SubnetLen: 28 },
    { Network: '10.3.0.0/16', SubnetMin: '10.3.5.0', SubnetMax: '10.3.8.0', SubnetLen: 28 }],
  ['IPv4 only by default', { Network: '10.244.0.0/16', Backend: { Type: 'vxlan' } }, { EnableIPv4: true, EnableIPv6: false }],
  // IPv6: flannel's defaults, /64 per node when IPv6Network is /62 or shorter, else its length + 2;
  // the first subnet skipped, the last the network's last.
  ['dual stack /56 → /64s', { Network: '10.244.0.0/16', EnableIPv6: true, IPv6Network: 'fd00:10:244::/56', Backend: { Type: 'vxlan' } },
    { EnableIPv4: true, EnableIPv6: true, Network: '10.244.0.0/16', SubnetLen: 24, IPv6Network: 'fd00:10:244::/56', IPv6SubnetLen: 64,
      IPv6SubnetMin: 'fd00:10:244:1::', IPv6SubnetMax: 'fd00:10:244:ff::' }],
  ['/62 still gets /64s', { Network: '10.244.0.0/16', EnableIPv6: true, IPv6Network: 'fd00::/62', Backend: { Type: 'vxlan' } },
    { IPv6SubnetLen: 64, IPv6SubnetMin: 'fd00:0:0:1::', IPv6SubnetMax: 'fd00:0:0:3::' }],
  ['/63 gets prefix+2', { Network: '10.244.0.0/16', EnableIPv6: true, IPv6Network: 'fd00::/63', Backend: { Type: 'vxlan' } },
    { IPv6SubnetLen: 65, IPv6SubnetMin: 'fd00::8000:0:0:0', IPv6SubnetMax: 'fd00:0:0:1:8000::' }],
  ['/124 is the smallest', { Network: '10.244.0.0/16', EnableIPv6: true, IPv6Network: 'fd00::/124', Backend: { Type: 'vxlan' } },
    { IPv6SubnetLen: 126, IPv6SubnetMin: 'fd00::4', IPv6SubnetMax: 'fd00::c' }],
  ['IPv6 host bits cleared, text made canonical', { Network: '10.244.0.0/16', EnableIPv6: true, IPv6Network: 'FD00:0010:0244:0000::77/48', Backend: { Type: 'vxlan' } },
    { IPv6Network: 'fd00:10:244::/48', IPv6SubnetMin: 'fd00:10:244:1::', IPv6SubnetMax: 'fd00:10:244:ffff::' }],
  ['explicit IPv6SubnetLen and range, "::" means default', { Network: '10.244.0.0/16', EnableIPv6: true, IPv6Network: 'fd00::/48', IPv6SubnetLen: 80,
    IPv6SubnetMin: 'fd00:0:0:5::', IPv6SubnetMax: '::', Backend: { Type: 'vxlan' } },
    { IPv6SubnetLen: 80, IPv6SubnetMin: 'fd00:0:0:5::', IPv6SubnetMax: 'fd00:0:0:ffff:ffff::' }],
  ['global unicast IPv6Network', { Network: '10.244.0.0/16', EnableIPv6: true, IPv6Network: '2001:db8:42::/48', Backend: { Type: 'host-gw' } },
    { IPv6Network: '2001:db8:42::/48', IPv6SubnetLen: 64 }],
  ['IPv6-only: no IPv4 fields, Network ignored', { EnableIPv4: false, EnableIPv6: true, IPv6Network: 'fd00:10:244::/56', Network: '10.244.0.0/16', Backend: { Type: 'vxlan' } },
    { EnableIPv4: false, EnableIPv6: true, Network: '', SubnetLen: 0, SubnetMin: '', SubnetMax: '', IPv6Network: 'fd00:10:244::/56', IPv6SubnetLen: 64 }],
  ['IPv4 only: IPv6 keys ignored without EnableIPv6', { Network: '10.244.0.0/16', IPv6Network: 'garbage', Backend: { Type: 'ipip' } },
    { EnableIPv6: false, Backend: { Type: 'ipip', DirectRouting: false } }],
  ['unknown keys ignored, EnableIPv4 true ok', { Network: '10.244.0.0/16', EnableIPv4: true, EnableNFTables: false, Foo: 1, Backend: { Type: 'vxlan' } }, { SubnetLen: 24 }],
];

describe('parseNetworkConfig: valid configs and flannel defaults', () => {
  it.each(valid)('%s', (_name, doc, expected) => {
    expect(parseNetworkConfig(JSON.stringify(doc))).toMatchObject(expected);
  });
});

const net16 = { Network: '10.244.0.0/16' };
const vx = { Backend: { Type: 'vxlan' } };
const v6net = { ...net16, ...vx, EnableIPv6: true, IPv6Network: 'fd00:10:244::/56' };
const invalid: Array<[string, string, string]> = [
  ['not JSON', '{"Network": ', 'network config is not valid JSON'],
  ['not an object', '[1]', 'network config is [1]: it must be a JSON object'],
  ['Network missing', '{}', 'config key "Network" is missing: set it to the overlay network in CIDR notation'],
  ['Network without length', JSON.stringify({ Network: '10.244.0.0' }), 'config key "Network" is "10.244.0.0": it must be an IPv4 network in CIDR notation'],
  ['Network not a string', JSON.stringify({ Network: 10 }), 'config key "Network" is 10'],
  ['Network too small', JSON.stringify({ Network: '10.0.0.0/29' }), 'config key "Network" is "10.0.0.0/29": the network is too small, its prefix length must be 28 or less'],
  ['SubnetLen too long', JSON.stringify({ ...net16, SubnetLen: 33 }),
    'config key "SubnetLen" is 33: it must be between 18 (the Network prefix length 16 + 2, so that at least four subnets fit) and 30'],
  ['SubnetLen 31', JSON.stringify({ ...net16, SubnetLen: 31 }), 'config key "SubnetLen" is 31: it must be between 18'],
  ['SubnetLen too short', JSON.stringify({ ...net16, SubnetLen: 17 }), 'config key "SubnetLen" is 17: it must be between 18'],
  ['SubnetLen a string', JSON.stringify({ ...net16, SubnetLen: '24' }), 'config key "SubnetLen" is "24": it must be between 18'],
  ['SubnetMin outside', JSON.stringify({ ...net16, SubnetMin: '10.245.0.0' }), 'config key "SubnetMin" is "10.245.0.0": it must lie inside Network 10.244.0.0/16'],
  ['SubnetMax not an address', JSON.stringify({ ...net16, SubnetMax: '10.244.300.0' }), 'config key "SubnetMax" is "10.244.300.0": it must be an IPv4 address'],
  ['SubnetMin misaligned', JSON.stringify({ ...net16, SubnetMin: '10.244.1.5' }),
    'config key "SubnetMin" is "10.244.1.5": it must be on a /24 boundary (SubnetLen), e.g. "10.244.1.0"'],
  ['SubnetMin above SubnetMax', JSON.stringify({ ...net16, SubnetMin: '10.244.9.0', SubnetMax: '10.244.3.0' }),
    'config key "SubnetMin" is "10.244.9.0": it must not be above SubnetMax "10.244.3.0"'],
  ['Backend a string', JSON.stringify({ ...net16, Backend: 'vxlan' }), 'config key "Backend" is "vxlan": it must be an object'],
  ['Backend.Type missing', JSON.stringify({ ...net16, Backend: {} }), 'config key "Backend.Type" is missing: set it to one of "vxlan", "ipip", "udp"'],
  ['Backend.Type unsupported', JSON.stringify({ ...net16, Backend: { Type: 'wireguard' } }), 'config key "Backend.Type" is "wireguard": weft supports "vxlan", "ipip", "udp", "host-gw"'],
  ['VNI too big', JSON.stringify({ ...net16, Backend: { Type: 'vxlan', VNI: 16777216 } }), 'config key "Backend.VNI" is 16777216: it must be a VXLAN network identifier, an integer from 0 to 16777215'],
  ['VNI negative', JSON.stringify({ ...net16, Backend: { Type: 'vxlan', VNI: -1 } }), 'config key "Backend.VNI" is -1'],
  ['Port too big', JSON.stringify({ ...net16, Backend: { Type: 'vxlan', Port: 70000 } }), 'config key "Backend.Port" is 70000: it must be a UDP port'],
  ['udp Port 0', JSON.stringify({ ...net16, Backend: { Type: 'udp', Port: 0 } }), 'config key "Backend.Port" is 0: it must be a UDP port, an integer from 1 to 65535'],
  ['GBP not boolean', JSON.stringify({ ...net16, Backend: { Type: 'vxlan', GBP: 'yes' } }), 'config key "Backend.GBP" is "yes": it must be true or false'],
  ['both families off', JSON.stringify({ ...net16, EnableIPv4: false }), 'config keys "EnableIPv4" and "EnableIPv6" are both false: enable at least one'],
  // IPv6 (flannel pkg/subnet/config.go CheckNetworkConfig, EnableIPv6 half).
  ['IPv6Network missing', JSON.stringify({ ...net16, ...vx, EnableIPv6: true }), 'config key "IPv6Network" is missing and "EnableIPv6" is true'],
  ['IPv6Network an IPv4 CIDR', JSON.stringify({ ...net16, ...vx, EnableIPv6: true, IPv6Network: '10.0.0.0/8' }), 'config key "IPv6Network" is "10.0.0.0/8": it must be an IPv6 network in CIDR notation'],
  ['IPv6Network without length', JSON.stringify({ ...net16, ...vx, EnableIPv6: true, IPv6Network: 'fd00::' }), 'config key "IPv6Network" is "fd00::": it must be an IPv6 network'],
  ['IPv6Network ::/0 (flannel takes it)', JSON.stringify({ ...net16, ...vx, EnableIPv6: true, IPv6Network: '::/0' }), 'must lie inside the unique-local fc00::/7 or the global unicast 2000::/3'],
  ['IPv6Network link-local', JSON.stringify({ ...net16, ...vx, EnableIPv6: true, IPv6Network: 'fe80::/64' }), 'config key "IPv6Network" is "fe80::/64": it must lie inside'],
  ['IPv6Network multicast', JSON.stringify({ ...net16, ...vx, EnableIPv6: true, IPv6Network: 'ff02::/16' }), 'it must lie inside'],
  ['IPv6Network v4-mapped', JSON.stringify({ ...net16, ...vx, EnableIPv6: true, IPv6Network: '::ffff:10.0.0.0/104' }), 'it must lie inside'],
  ['IPv6Network too small', JSON.stringify({ ...net16, ...vx, EnableIPv6: true, IPv6Network: 'fd00::/125' }), 'the network is too small, its prefix length must be 124 or less'],
  ['IPv6SubnetLen 127', JSON.stringify({ ...v6net, IPv6SubnetLen: 127 }), 'config key "IPv6SubnetLen" is 127: it must be between 58 (the IPv6Network prefix length 56 + 2, so that at least four subnets fit) and 126'],
  ['IPv6SubnetLen too short', JSON.stringify({ ...v6net, IPv6SubnetLen: 57 }), 'config key "IPv6SubnetLen" is 57: it must be between 58'],
  ['IPv6SubnetLen a string', JSON.stringify({ ...v6net, IPv6SubnetLen: '64' }), 'config key "IPv6SubnetLen" is "64"'],
  ['IPv6SubnetMin outside', JSON.stringify({ ...v6net, IPv6SubnetMin: 'fd00:1::' }), 'config key "IPv6SubnetMin" is "fd00:1::": it must lie inside IPv6Network fd00:10:244::/56'],
  ['IPv6SubnetMax not an address', JSON.stringify({ ...v6net, IPv6SubnetMax: 'fd00::g' }), 'config key "IPv6SubnetMax" is "fd00::g": it must be an IPv6 address'],
  ['IPv6SubnetMin misaligned', JSON.stringify({ ...v6net, IPv6SubnetMin: 'fd00:10:244:1::1' }),
    'config key "IPv6SubnetMin" is "fd00:10:244:1::1": it must be on a /64 boundary (IPv6SubnetLen), e.g. "fd00:10:244:1::"'],
  ['IPv6SubnetMin above IPv6SubnetMax', JSON.stringify({ ...v6net, IPv6SubnetMin: 'fd00:10:244:9::', IPv6SubnetMax: 'fd00:10:244:3::' }),
    'config key "IPv6SubnetMin" is "fd00:10:244:9::": it must not be above IPv6SubnetMax "fd00:10:244:3::"'],
  ['ipip cannot carry IPv6', JSON.stringify({ ...v6net, Backend: { Type: 'ipip' } }), 'config key "EnableIPv6" is true but Backend.Type "ipip" carries IPv4 only'],
  ['udp (the default backend) cannot carry IPv6', JSON.stringify({ ...net16, EnableIPv6: true, IPv6Network: 'fd00::/56' }), 'Backend.Type "udp" carries IPv4 only'],
  ['IPv6-only still needs IPv6Network', JSON.stringify({ ...vx, EnableIPv4: false, EnableIPv6: true }), 'config key "IPv6Network" is missing'],
];

it('carries no IPv6 fields when EnableIPv6 is off', () => {
  const c = parseNetworkConfig(JSON.stringify({ Network: '10.244.0.0/16', IPv6Network: 'fd00::/56', Backend: { Type: 'vxlan' } }));
  expect(Object.keys(c).filter((k) => k.startsWith('IPv6'))).toEqual([]);
});

describe('parseNetworkConfig: errors name the key and the fix', () => {
  it.each(invalid)('%s', (_name, text, message) => {
    let caught: unknown;
    try {
      parseNetworkConfig(text);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).code).toBe('ERR_WEFT_CONFIG');
    expect((caught as ConfigError).message).toContain(message);
  });
});
