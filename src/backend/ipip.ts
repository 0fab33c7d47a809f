// The ipip backend (flannel pkg/backend/ipip): the inner IPv4 packet behind
// one more IPv4 header, IP protocol 4 (RFC 2003), no port, no peer data. The
// kernel's raw socket writes the outer header on send and hands it over on
// receive; weft needs no kernel IPIP module.
import { decapIpip } from '../../native-free/decap/ipip.js';
import { encapIpip, IPIP_OVERHEAD } from '../../native-free/encap/ipip.js';
import type { Backend } from './types.js';

export interface IpipBackendConfig {
  Type: 'ipip';
  DirectRouting: boolean;
}

export const IPIP: Backend<IpipBackendConfig> = {
  type: 'ipip',
  summary: 'IPv4 in IPv4 (RFC 2003, IP protocol 4) on a raw socket, no kernel module needed',
  overhead: IPIP_OVERHEAD,
  encapBytes: 0,
  underlay: 'ip-in-ip',
  defaultPort: 0,
  receivedAt: 0,
  encap: encapIpip,
  // The raw socket hands over the outer IPv4 header, whose source decapIpip reads itself.
  decap: (ctx, b, off, len) => decapIpip(ctx, b, off, len),
  decap6: null,
  vtepPeers: false,
  mtuKey: false,

  parseConfig: (k) => ({ Type: 'ipip', DirectRouting: k.bool('DirectRouting', false) }),
  port: () => 0,
  directRouting: (c) => c.DirectRouting,
  vni: () => 0,
  configuredMtu: () => null,
  leaseData: () => undefined,
  notes: () => [],
  describe: () => 'ipip',
  traceHeaders: () => [],
  traceSocket: () => 'the raw IP-in-IP socket sends the inner packet; the kernel writes the outer IPv4 header (ID, DF, checksum) as above',
  traceChecks: (from) => `sender ${from} is a known node (our lease), protocol 4, inner IPv4 sound, TTL > 0`,
};
