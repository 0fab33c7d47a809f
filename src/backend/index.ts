// The registry of backends: every place that depends on the backend looks it
// up here by name. Adding a backend: its module beside these (one existing
// module is the template), one line in BACKENDS, and its tests.
import { IPIP, type IpipBackendConfig } from './ipip.js';
import type { Backend } from './types.js';
import { UDP, type UdpBackendConfig } from './udp.js';
import { VXLAN, type VxlanBackendConfig } from './vxlan.js';

export type BackendConfig = VxlanBackendConfig | IpipBackendConfig | UdpBackendConfig;
export type BackendType = BackendConfig['Type'];

/** In the order `weft run --help` and errors list them. */
const BACKENDS: { readonly [T in BackendType]: Backend<Extract<BackendConfig, { Type: T }>> } = { vxlan: VXLAN, ipip: IPIP, udp: UDP };

export const BACKEND_TYPES = Object.keys(BACKENDS) as readonly BackendType[];

/** flannel's udp backend leaves a lease's BackendType empty: an empty one means udp. */
export const EMPTY_LEASE_BACKEND: BackendType = 'udp';

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
export type { IpipBackendConfig, UdpBackendConfig, VxlanBackendConfig };
