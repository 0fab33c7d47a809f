// `weft lab`'s pure parts (no root): names, addresses, the CNI-style pod plan.
import { describe, expect, it } from 'vitest';
import {
  assertLabAddress,
  assertLabNamespace,
  link,
  networkConfig,
  nodeAddress,
  ns,
  parseSubnetEnv,
  planPod,
  resolveTarget,
  within,
} from '../../src/lab/common.js';
import { parseNetworkConfig } from '../../src/registry/config.js';

describe('lab names', () => {
  it('names every namespace weftlab-<role> and every link wl… within 15 characters', () => {
    expect([ns.underlay, ns.node(1), ns.pod(8)]).toEqual(['weftlab-ul', 'weftlab-node1', 'weftlab-pod8']);
    const links = [link.underlayBridge, link.podBridge, link.podIface];
    for (let i = 1; i <= 8; i++) links.push(link.nodeUplink(i), link.nodeUplinkPeer(i), link.podHostVeth(i));
    for (const l of links) {
      expect(l).toMatch(/^wl/);
      expect(l.length).toBeLessThanOrEqual(15);
    }
    expect(new Set(links).size).toBe(links.length);
  });

  it('puts nodes at 198.51.100.<10+i>', () => {
    expect(nodeAddress(1)).toBe('198.51.100.11');
    expect(nodeAddress(8)).toBe('198.51.100.18');
  });

  it('resolves short names and refuses anything that is not a lab namespace', () => {
    expect(resolveTarget('pod1')).toBe('weftlab-pod1');
    expect(resolveTarget('node3')).toBe('weftlab-node3');
    expect(resolveTarget('ul')).toBe('weftlab-ul');
    expect(resolveTarget('weftlab-pod2')).toBe('weftlab-pod2');
    for (const bad of ['wefttest-s1', 'pod0', 'root', '../x', 'weftlab-']) expect(() => resolveTarget(bad)).toThrow(/not a lab namespace/);
    expect(() => assertLabNamespace('wefttest-abc123-n1')).toThrow(/refusing/);
  });
});

describe('lab addresses', () => {
  it('only ever uses the underlay /24 and the cluster /16', () => {
    expect(within('10.244.0.0/16', '10.244.255.2')).toBe(true);
    expect(within('10.244.0.0/16', '10.245.0.1')).toBe(false);
    expect(() => assertLabAddress('198.51.100.11')).not.toThrow();
    expect(() => assertLabAddress('10.244.7.2')).not.toThrow();
    for (const bad of ['192.0.2.2', '10.0.0.1', '198.51.101.1']) expect(() => assertLabAddress(bad)).toThrow(/refusing/);
  });

  it('wires a pod as the flannel CNI bridge plugin would: bridge = first host, pod = next, MTU from the file', () => {
    const env = parseSubnetEnv('FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.23.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n', 'subnet.env');
    expect(env).toEqual({ network: '10.244.0.0/16', subnet: '10.244.23.1/24', mtu: 1450 });
    expect(planPod(env)).toEqual({
      bridgeCidr: '10.244.23.1/24',
      gateway: '10.244.23.1',
      podCidr: '10.244.23.2/24',
      podIp: '10.244.23.2',
      lease: '10.244.23.0/24',
      mtu: 1450,
    });
  });

  it('refuses a subnet file outside the cluster network or without room for a pod', () => {
    expect(() => planPod({ network: '10.0.0.0/8', subnet: '10.9.0.1/24', mtu: 1450 })).toThrow(/outside/);
    expect(() => planPod({ network: '10.244.0.0/16', subnet: '10.244.1.1/31', mtu: 1450 })).toThrow(/too small/);
    expect(() => parseSubnetEnv('FLANNEL_SUBNET=10.244.1.1/24\n', 'f')).toThrow(/no FLANNEL_MTU/);
  });
});

describe('lab network config', () => {
  it('is valid for every backend, with the ports the brief names', () => {
    const vx = parseNetworkConfig(networkConfig('vxlan'));
    expect(vx.Network).toBe('10.244.0.0/16');
    expect(vx.Backend).toMatchObject({ Type: 'vxlan', Port: 4789, PortConfigured: true });
    expect(parseNetworkConfig(networkConfig('udp')).Backend).toMatchObject({ Type: 'udp', Port: 8285 });
    expect(parseNetworkConfig(networkConfig('ipip')).Backend).toMatchObject({ Type: 'ipip' });
    expect(JSON.parse(networkConfig('vxlan'))).toEqual({ Network: '10.244.0.0/16', Backend: { Type: 'vxlan', Port: 4789 } });
  });
});
