import { describe, expect, it } from 'vitest';
import { decodeLeaseAttrs, encodeLeaseAttrs, parseSubnetKey, subnetKey, vxlanLeaseData, configKey } from '../../src/registry/codec.js';

// Exactly as flannel writes them (flannel Documentation/reservations.md, pkg/subnet/etcd/registry_test.go).
const FLANNEL_VXLAN = '{"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}';
const FLANNEL_UDP = '{"PublicIP":"1.2.3.4","PublicIPv6":null}';

describe('lease values are byte-compatible with flannel', () => {
  it('encodes a vxlan lease like Go encoding/json of LeaseAttrs', () => {
    const attrs = { PublicIP: '192.168.64.3', BackendType: 'vxlan', BackendData: vxlanLeaseData(1, 'C6:D2:32:6F:8F:44') };
    expect(encodeLeaseAttrs(attrs)).toBe(FLANNEL_VXLAN);
  });
  it('encodes a lease without backend fields (flannel udp) with the PublicIPv6 null', () => {
    expect(encodeLeaseAttrs({ PublicIP: '1.2.3.4' })).toBe(FLANNEL_UDP);
  });
  it('round-trips what flannel wrote', () => {
    for (const v of [FLANNEL_VXLAN, FLANNEL_UDP]) expect(encodeLeaseAttrs(decodeLeaseAttrs(v))).toBe(v);
    expect(decodeLeaseAttrs(FLANNEL_VXLAN)).toEqual({
      PublicIP: '192.168.64.3', PublicIPv6: null, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: 'c6:d2:32:6f:8f:44' },
    });
  });
  it('escapes <, > and & as Go does', () => {
    expect(encodeLeaseAttrs({ PublicIP: '1.2.3.4', BackendType: 'a<b>&' })).toBe('{"PublicIP":"1.2.3.4","PublicIPv6":null,"BackendType":"a\\u003cb\\u003e\\u0026"}');
  });
  it('rejects values flannel would reject', () => {
    expect(() => decodeLeaseAttrs('{"PublicIP":"1.2.3"}')).toThrow(/PublicIP/);
    expect(() => decodeLeaseAttrs('nope')).toThrow(/not JSON/);
    expect(() => encodeLeaseAttrs({ PublicIP: 'host' })).toThrow(/PublicIP/);
    expect(() => vxlanLeaseData(1, 'c6:d2:32')).toThrow(/VtepMAC/);
  });
});

describe('keys', () => {
  const P = '/coreos.com/network';
  it('names keys like flannel MakeSubnetKey and path.Join', () => {
    expect(configKey(P)).toBe('/coreos.com/network/config');
    expect(configKey(`${P}/`)).toBe('/coreos.com/network/config');
    expect(subnetKey(P, '10.244.3.0/24')).toBe('/coreos.com/network/subnets/10.244.3.0-24');
    expect(subnetKey(P, '10.244.3.0/24', 'fc00:0:0:3::/64')).toBe('/coreos.com/network/subnets/10.244.3.0-24&fc00:0:0:3::-64');
  });
  it('parses subnet keys and skips the rest', () => {
    expect(parseSubnetKey(P, '/coreos.com/network/subnets/10.244.3.0-24')).toEqual({ subnet: '10.244.3.0/24' });
    expect(parseSubnetKey(P, '/coreos.com/network/subnets/10.244.3.0-24&fc00:0:0:3::-64')).toEqual({ subnet: '10.244.3.0/24', ipv6Subnet: 'fc00:0:0:3::/64' });
    for (const k of ['/coreos.com/network/config', '/coreos.com/network/subnets/10.244.3.5-24', '/coreos.com/network/subnets/10.244.3.0', '/other/subnets/10.244.3.0-24', '/coreos.com/network/subnets/10.244.3.0-33']) {
      expect(parseSubnetKey(P, k)).toBeNull();
    }
  });
});

// IPv6 (issue 13): flannel pkg/subnet/subnet.go MakeSubnetKey/ParseSubnetKey and
// pkg/lease/lease.go LeaseAttrs as Go's encoding/json writes them (PublicIPv6 a
// *ip.IP6, its MarshalJSON the net.IP text; BackendV6Data a json.RawMessage, omitempty).
describe('IPv6 keys and values as flannel writes them', () => {
  const P = '/coreos.com/network';
  const FLANNEL_DUAL =
    '{"PublicIP":"198.51.100.7","PublicIPv6":"fd00:198:51:100::7","BackendType":"vxlan",' +
    '"BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"},"BackendV6Data":{"VNI":1,"VtepMAC":"5a:1f:00:11:22:33"}}';
  const FLANNEL_V6ONLY = '{"PublicIP":"0.0.0.0","PublicIPv6":"fd00:198:51:100::7","BackendType":"vxlan","BackendV6Data":{"VNI":1,"VtepMAC":"5a:1f:00:11:22:33"}}';

  it('encodes a dual-stack vxlan lease byte for byte, PublicIPv6 in RFC 5952 text', () => {
    const attrs = {
      PublicIP: '198.51.100.7', PublicIPv6: 'FD00:198:51:100:0:0:0:7', BackendType: 'vxlan',
      BackendData: vxlanLeaseData(1, 'c6:d2:32:6f:8f:44'), BackendV6Data: vxlanLeaseData(1, '5A:1F:00:11:22:33'),
    };
    expect(encodeLeaseAttrs(attrs)).toBe(FLANNEL_DUAL);
  });
  it('round-trips flannel dual-stack and IPv6-only values', () => {
    for (const v of [FLANNEL_DUAL, FLANNEL_V6ONLY]) expect(encodeLeaseAttrs(decodeLeaseAttrs(v))).toBe(v);
    expect(decodeLeaseAttrs(FLANNEL_V6ONLY)).toEqual({ PublicIP: '0.0.0.0', PublicIPv6: 'fd00:198:51:100::7', BackendType: 'vxlan', BackendV6Data: { VNI: 1, VtepMAC: '5a:1f:00:11:22:33' } });
  });
  it('refuses to write a PublicIPv6 that is not IPv6', () => {
    expect(() => encodeLeaseAttrs({ PublicIP: '198.51.100.7', PublicIPv6: '198.51.100.7' })).toThrow(/PublicIPv6/);
    expect(() => encodeLeaseAttrs({ PublicIP: '198.51.100.7', PublicIPv6: 'fd00::g' })).toThrow(/PublicIPv6/);
  });
  const keys: Array<[string, string, { subnet: string; ipv6Subnet?: string } | null]> = [
    ['dual stack', '10.244.3.0-24&fd00:10:244:3::-64', { subnet: '10.244.3.0/24', ipv6Subnet: 'fd00:10:244:3::/64' }],
    ['IPv6-only (flannel zero IPv4 part)', '0.0.0.0-0&fd00:10:244:3::-64', { subnet: '', ipv6Subnet: 'fd00:10:244:3::/64' }],
    ['a /126', '10.244.3.0-24&fd00::4-126', { subnet: '10.244.3.0/24', ipv6Subnet: 'fd00::4/126' }],
    ['the zero IPv4 subnet alone stays what it is', '0.0.0.0-0', { subnet: '0.0.0.0/0' }],
    ['IPv6 host bits', '10.244.3.0-24&fd00:10:244:3::1-64', null],
    ['IPv6 not canonical (zero run not compressed)', '10.244.3.0-24&fd00:10:244:3:0:0:0:0-64', null],
    ['IPv6 not canonical (leading zeros)', '10.244.3.0-24&fd00:0010:244:3::-64', null],
    ['IPv6 length 129', '10.244.3.0-24&fd00::-129', null],
    ['IPv6 part empty', '10.244.3.0-24&-64', null],
    ['IPv6 upper case (flannel regex is lower case)', '10.244.3.0-24&FD00::-64', null],
    ['an IPv4 text as IPv6', '10.244.3.0-24&10:244:3:0-64', null],
  ];
  it.each(keys)('parses key %s', (_n, name, expected) => {
    expect(parseSubnetKey(P, `${P}/subnets/${name}`)).toEqual(expected);
    if (expected !== null) expect(subnetKey(P, expected.subnet, expected.ipv6Subnet)).toBe(`${P}/subnets/${name}`);
  });
});
