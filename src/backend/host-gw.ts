// The host-gw backend (flannel pkg/backend/hostgw, pkg/backend/route_network.go):
// no encapsulation at all. Every node gets a kernel route to every other node's
// subnet through that node's PublicIP,
//
//     <peer subnet> via <PublicIP> dev <underlay iface>
//
// so the nodes must share one L2 segment (the gateway must be on-link). weft
// opens no TUN, no socket and starts no worker: it keeps the routes in step
// with the leases (daemon/kernel-routes.ts), and the kernel forwards.
//
// As flannel: the tunnel MTU is the interface's (overhead 0), leases carry
// PublicIP and BackendType "host-gw" and no BackendData, the config has no keys
// but Type, and a node behind NAT (PublicIP not its interface's) is refused.
import type { Backend, Decap, Encap } from './types.js';

export interface HostGwBackendConfig {
  Type: 'host-gw';
}

/** No packet of a host-gw network passes through weft; a worker that got one is a bug. */
const NO_TUNNEL = (): never => {
  throw new Error('host-gw has no tunnel: the kernel forwards its packets, weft starts no data-plane worker');
};

export const HOST_GW: Backend<HostGwBackendConfig> = {
  type: 'host-gw',
  summary: 'no encapsulation: a kernel route to each peer subnet via its PublicIP (nodes on one L2 segment)',
  overhead: 0,
  encapBytes: 0,
  underlay: 'none',
  defaultPort: 0,
  receivedAt: 0,
  encap: NO_TUNNEL as Encap,
  decap: NO_TUNNEL as Decap,
  decap6: null,
  vtepPeers: false,
  mtuKey: false,

  parseConfig: () => ({ Type: 'host-gw' }),
  port: () => 0,
  // Every peer is routed directly: DirectRouting is what host-gw is, not an option of it.
  directRouting: () => true,
  vni: () => 0,
  configuredMtu: () => null,
  leaseData: () => undefined,
  notes: () => [],
  describe: () => 'host-gw',
  traceHeaders: () => [],
  traceSocket: () => 'no socket: the kernel forwards the packet unchanged to the peer subnet\'s route',
  traceChecks: () => 'nothing in weft: the kernel routes it',
};
