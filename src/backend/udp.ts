// The udp backend (flannel pkg/backend/udp): the inner IPv4 packet as the
// payload of a UDP datagram to port 8285, no further header, no peer data.
// flannel's oldest backend; its leases leave BackendType empty.
import { decapUdp, decapUdp6 } from '../../native-free/decap/udp.js';
import { encapUdp, UDP_BACKEND_PORT, UDP_OVERHEAD } from '../../native-free/encap/udp.js';
import { IPV4_MIN_HEADER_LENGTH } from '../../native-free/header/ipv4.js';
import { UDP_HEADER_LENGTH } from '../../native-free/header/udp.js';
import type { Backend } from './types.js';
import { udpTraceLine } from './udp-line.js';

/** flannel's udp backend defaultPort. */
export const UDP_DEFAULT_PORT = UDP_BACKEND_PORT;

export interface UdpBackendConfig {
  Type: 'udp';
  Port: number;
}

export const UDP: Backend<UdpBackendConfig> = {
  type: 'udp',
  summary: "IPv4 in UDP to port 8285, flannel's udp backend",
  overhead: UDP_OVERHEAD,
  encapBytes: 0,
  underlay: 'udp',
  defaultPort: UDP_DEFAULT_PORT,
  receivedAt: IPV4_MIN_HEADER_LENGTH + UDP_HEADER_LENGTH,
  encap: encapUdp,
  decap: (ctx, b, off, len, src) => decapUdp(ctx, b, off, len, src),
  decap6: (ctx, b, off, len, src, srcOff) => decapUdp6(ctx, b, off, len, src, srcOff),
  vtepPeers: false,
  mtuKey: false,

  parseConfig: (k) => ({ Type: 'udp', Port: k.int('Port', UDP_DEFAULT_PORT, 1, 65535, 'a UDP port') }),
  port: (c) => c.Port,
  directRouting: () => false,
  vni: () => 0,
  configuredMtu: () => null,
  leaseData: () => undefined,
  notes: () => [],
  describe: (f) => `udp, port ${f.port}`,
  traceHeaders: (b, at) => [udpTraceLine(b, at)],
  traceSocket: (f) =>
    `the UDP socket sends the inner packet as its payload; the kernel writes outer IPv4 and UDP, with source port ${
      f.sourcePort === undefined ? `${f.port} (the socket's)` : `${f.sourcePort}: the send-only socket this flow's hash picks (--source-ports)`
    }`,
  traceChecks: (from) => `sender ${from} is a known node (our lease), inner IPv4 sound, TTL > 0`,
};
