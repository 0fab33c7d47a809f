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
  ['unknown keys ignored, EnableIPv4 true ok', { Network: '10.244.0.0/16', EnableIPv4: true, EnableNFTables: false, Foo: 1, Backend: { Type: 'vxlan' } }, { SubnetLen: 24 }],
];

describe('parseNetworkConfig: valid configs and flannel defaults', () => {
  it.each(valid)('%s', (_name, doc, expected) => {
    expect(parseNetworkConfig(JSON.stringify(doc))).toMatchObject(expected);
  });
});

const net16 = { Network: '10.244.0.0/16' };
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
  ['IPv6 asked for', JSON.stringify({ ...net16, EnableIPv6: true }), 'config key "EnableIPv6" is true: weft supports IPv4 networks only'],
  ['IPv4 turned off', JSON.stringify({ ...net16, EnableIPv4: false }), 'config key "EnableIPv4" is false'],
];

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
