// The subnet registry's public face. etcd when endpoints are given (shared with
// flannel nodes), else one local file (single machine, labs).
import { createEtcdRegistry, type EtcdRegistryOptions } from './etcd.js';
import { DEFAULT_REGISTRY_FILE, FileRegistry, type FileRegistryOptions } from './file.js';
import type { SubnetRegistry } from './types.js';
import { createKubeRegistry, type KubeRegistryOptions } from './kube.js';

export interface OpenRegistryOptions {
  /** etcd settings; used when `etcd.endpoints` is non-empty. */
  etcd?: EtcdRegistryOptions;
  /** The kube subnet manager (--kube-subnet-mgr): node podCIDRs and annotations. When given, etcd and file are ignored. */
  kube?: KubeRegistryOptions;
  /** The file registry's settings otherwise; path defaults to DEFAULT_REGISTRY_FILE. */
  file?: Partial<FileRegistryOptions>;
}

export function openSubnetRegistry(opts: OpenRegistryOptions = {}): SubnetRegistry {
  if (opts.kube) return createKubeRegistry(opts.kube);
  if (opts.etcd && opts.etcd.endpoints.length > 0) return createEtcdRegistry(opts.etcd);
  return new FileRegistry({ ...opts.file, path: opts.file?.path ?? DEFAULT_REGISTRY_FILE });
}

export type { AcquireOptions, Lease, LeaseAttrs, LeaseEvent, RegistryLogger, SubnetRegistry, VxlanLeaseData } from './types.js';
export type { BackendConfig, IpipBackendConfig, NetworkConfig, UdpBackendConfig, VxlanBackendConfig } from './config.js';
export {
  DEFAULT_VNI,
  FLANNEL_VXLAN_KERNEL_DEFAULT_PORT,
  parseNetworkConfig,
  SUPPORTED_BACKENDS,
  UDP_DEFAULT_PORT,
  WEFT_VXLAN_DEFAULT_PORT,
} from './config.js';
export { DEFAULT_PREFIX, decodeLeaseAttrs, encodeLeaseAttrs, vxlanLeaseData } from './codec.js';
export { createEtcdRegistry, type EtcdRegistryOptions } from './etcd.js';
export { DEFAULT_REGISTRY_FILE, FileRegistry, type FileRegistryOptions } from './file.js';
export { DEFAULT_RENEW_MARGIN_MS, keepLeaseRenewed, RenewTrigger, type RenewOptions } from './renew.js';
export { SUBNET_LEASE_TTL_MS } from './registry.js';
export * from './errors.js';
export { createKubeRegistry, DEFAULT_ANNOTATION_PREFIX, DEFAULT_NET_CONFIG_PATH, KubeRegistry, NETWORK_AVAILABLE_REASON, type KubeRegistryOptions } from './kube.js';
// IPv6 subnets as 128-bit numbers (registry/ipv6.ts); the byte forms for the engine are native-free/addr.ts's.
export { canonicalCidr6, formatCidr6, isUnicastIPv6, parseCidr6, type Cidr6 } from './ipv6.js';
