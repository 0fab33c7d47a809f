// The registry of backends: every place that depends on the backend looks it
// up here by name. Adding a backend: its module beside these (one existing
// module is the template), one line in BACKENDS, and its tests.
import { HOST_GW, type HostGwBackendConfig } from './host-gw.js';
import { IPIP, type IpipBackendConfig } from './ipip.js';
import type { Backend, BackendKeys } from './types.js';
import { UDP, type UdpBackendConfig } from './udp.js';
import { VXLAN, type VxlanBackendConfig } from './vxlan.js';

export type BackendConfig = VxlanBackendConfig | IpipBackendConfig | UdpBackendConfig | HostGwBackendConfig;
export type BackendType = BackendConfig['Type'];

/** In the order `weft run --help` and errors list them. */
const BACKENDS: { readonly [T in BackendType]: Backend<Extract<BackendConfig, { Type: T }>> } = { vxlan: VXLAN, ipip: IPIP, udp: UDP, 'host-gw': HOST_GW };

export const BACKEND_TYPES = Object.keys(BACKENDS) as readonly BackendType[];

/** A lease's backend: flannel's udp backend leaves BackendType empty, so an empty (or absent) one means udp. */
export function leaseBackendType(attrs: { BackendType?: string }): string {
  return attrs.BackendType || 'udp';
}

/** A Backend object with no keys: every backend's defaults (flannel: no Backend at all means udp with its defaults). */
export const NO_KEYS: BackendKeys = { int: (_key, dflt) => dflt, bool: (_key, dflt) => dflt };

export function isBackendType(name: unknown): name is BackendType {
  return typeof name === 'string' && Object.hasOwn(BACKENDS, name);
}

/**
 * The backend of a config or a lease. Its methods take that backend's config:
 * pass the Backend object the config holds, whose Type is this one.
 */
export function backendOf(type: BackendType): Backend<BackendConfig> {
  return BACKENDS[type] as unknown as Backend<BackendConfig>;
}

export type { Backend, BackendFacts, BackendKeys, Decap, Encap, UnderlayKind } from './types.js';
export type { HostGwBackendConfig, IpipBackendConfig, UdpBackendConfig, VxlanBackendConfig };

/** The backend runs a tunnel (TUN, sockets, workers); false for host-gw, where the kernel forwards. */
export function hasTunnel(b: Backend<BackendConfig>): boolean {
  return b.underlay !== 'none';
}
