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
