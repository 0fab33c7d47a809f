// The network config at `<prefix>/config`, parsed and checked like flannel's
// subnet.ParseConfig + CheckNetworkConfig (flannel pkg/subnet/config.go) so that
// weft and flannel nodes derive the same SubnetLen/SubnetMin/SubnetMax from it.
// Like Go's encoding/json, key names match case-insensitively and unknown keys are ignored.
import { BACKEND_TYPES, backendOf, isBackendType, NO_KEYS, type BackendConfig, type BackendType, type IpipBackendConfig, type UdpBackendConfig, type VxlanBackendConfig } from '../backend/index.js';
import { UDP_DEFAULT_PORT } from '../backend/udp.js';
import { DEFAULT_VNI, FLANNEL_VXLAN_KERNEL_DEFAULT_PORT, WEFT_VXLAN_DEFAULT_PORT } from '../backend/vxlan.js';
import { ConfigError } from './errors.js';
import { field, isObject } from './codec.js';
import { contains, formatCidr4, formatIPv4, maskOf, parseCidr4, parseIPv4, sizeOf } from './ipv4.js';

/** The backends, each declared in src/backend/ (its config keys, defaults and types live there). */
export const SUPPORTED_BACKENDS = BACKEND_TYPES;
export type { BackendConfig, BackendType, IpipBackendConfig, UdpBackendConfig, VxlanBackendConfig };
export { DEFAULT_VNI, FLANNEL_VXLAN_KERNEL_DEFAULT_PORT, UDP_DEFAULT_PORT, WEFT_VXLAN_DEFAULT_PORT };

/** A checked config with flannel's defaults filled in. Addresses are canonical strings. */
export interface NetworkConfig {
  /** e.g. "10.244.0.0/16" (host bits cleared, as Go's net.ParseCIDR does). */
  Network: string;
  SubnetLen: number;
  /** First and last subnet address a node may lease, e.g. "10.244.1.0" and "10.244.255.0". */
  SubnetMin: string;
  SubnetMax: string;
  Backend: BackendConfig;
  /** flannel's EnableNFTables: --ip-masq and the forward rules in nftables instead of iptables. */
  EnableNFTables: boolean;
}

const EXAMPLE = '{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan"}}';
const show = (v: unknown): string => JSON.stringify(v) ?? String(v);

export function parseNetworkConfig(text: string): NetworkConfig {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`network config is not valid JSON (${(err as Error).message}): write an object such as ${EXAMPLE}`);
  }
  if (!isObject(doc)) throw new ConfigError(`network config is ${show(doc)}: it must be a JSON object such as ${EXAMPLE}`);

  const v4 = optionalBool(doc, 'EnableIPv4', true);
  if (!v4) throw new ConfigError('config key "EnableIPv4" is false: weft needs an IPv4 network; remove the key or set it to true');
  if (optionalBool(doc, 'EnableIPv6', false)) {
    throw new ConfigError('config key "EnableIPv6" is true: weft supports IPv4 networks only; remove the key or set it to false');
  }

  const rawNet = field(doc, 'Network');
  if (rawNet === undefined || rawNet === null || rawNet === '') {
    throw new ConfigError('config key "Network" is missing: set it to the overlay network in CIDR notation, e.g. "Network": "10.244.0.0/16"');
  }
  const net = typeof rawNet === 'string' ? parseCidr4(rawNet) : null;
  if (!net) throw new ConfigError(`config key "Network" is ${show(rawNet)}: it must be an IPv4 network in CIDR notation, e.g. "10.244.0.0/16"`);
  if (net.len > 28) {
    // flannel: each subnet needs a /30 at least and four must fit, the first being unused.
    throw new ConfigError(`config key "Network" is ${show(rawNet)}: the network is too small, its prefix length must be 28 or less`);
  }

  const rawLen = field(doc, 'SubnetLen');
  let subnetLen: number;
  if (rawLen === undefined || rawLen === null || rawLen === 0) {
    // flannel's defaults: a /24 per node when the network is /22 or larger, else a quarter of it.
    subnetLen = net.len <= 22 ? 24 : net.len + 2;
  } else if (typeof rawLen === 'number' && Number.isInteger(rawLen) && rawLen >= net.len + 2 && rawLen <= 30) {
    subnetLen = rawLen;
  } else {
    throw new ConfigError(
      `config key "SubnetLen" is ${show(rawLen)}: it must be between ${net.len + 2} (the Network prefix length ${net.len} + 2, so that at least four subnets fit) and 30`,
    );
  }
  const size = sizeOf(subnetLen);
  // The first subnet is skipped: its address would be the network address of Network.
  const subnetMin = optionalAddr(doc, 'SubnetMin', net, net.ip + size);
  const subnetMax = optionalAddr(doc, 'SubnetMax', net, net.ip + sizeOf(net.len) - size);
  for (const [key, value] of [['SubnetMin', subnetMin], ['SubnetMax', subnetMax]] as const) {
    const aligned = (value & maskOf(subnetLen)) >>> 0;
    if (aligned !== value) {
      throw new ConfigError(
        `config key "${key}" is "${formatIPv4(value)}": it must be on a /${subnetLen} boundary (SubnetLen), e.g. "${formatIPv4(aligned)}"`,
      );
    }
  }
  if (subnetMin > subnetMax) {
    // flannel accepts this and then finds no free subnet; weft says so up front.
    throw new ConfigError(`config key "SubnetMin" is "${formatIPv4(subnetMin)}": it must not be above SubnetMax "${formatIPv4(subnetMax)}"`);
  }

  return {
    Network: formatCidr4(net),
    SubnetLen: subnetLen,
    SubnetMin: formatIPv4(subnetMin),
    SubnetMax: formatIPv4(subnetMax),
    Backend: parseBackend(field(doc, 'Backend')),
    EnableNFTables: optionalBool(doc, 'EnableNFTables', false),
  };
}

function parseBackend(raw: unknown): BackendConfig {
  const names = SUPPORTED_BACKENDS.map((b) => `"${b}"`).join(', ');
  // flannel's parseBackendType: no Backend at all means udp.
  if (raw === undefined || raw === null) return backendOf('udp').parseConfig(NO_KEYS);
  if (!isObject(raw)) throw new ConfigError(`config key "Backend" is ${show(raw)}: it must be an object, e.g. "Backend": {"Type": "vxlan"}`);
  const type = field(raw, 'Type');
  if (type === undefined || type === null || type === '') {
    throw new ConfigError(`config key "Backend.Type" is missing: set it to one of ${names}`);
  }
  if (!isBackendType(type)) throw new ConfigError(`config key "Backend.Type" is ${show(type)}: weft supports ${names}`);
  return backendOf(type).parseConfig({
    int: (key, dflt, min, max, what) => optionalInt(raw, key, dflt, min, max, what, 'Backend.'),
    bool: (key, dflt) => optionalBool(raw, key, dflt, 'Backend.'),
  });
}

function optionalBool(obj: Record<string, unknown>, key: string, dflt: boolean, path = ''): boolean {
  const v = field(obj, key);
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'boolean') throw new ConfigError(`config key "${path}${key}" is ${show(v)}: it must be true or false`);
  return v;
}

function optionalInt(obj: Record<string, unknown>, key: string, dflt: number, min: number, max: number, what: string, path = ''): number {
  const v = field(obj, key);
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(`config key "${path}${key}" is ${show(v)}: it must be ${what}, an integer from ${min} to ${max}`);
  }
  return v;
}

/** An address inside Network; absent or "0.0.0.0" (flannel's zero value) means the default. */
function optionalAddr(obj: Record<string, unknown>, key: string, net: { ip: number; len: number }, dflt: number): number {
  const v = field(obj, key);
  if (v === undefined || v === null || v === '0.0.0.0') return dflt;
  const ip = typeof v === 'string' ? parseIPv4(v) : null;
  if (ip === null) throw new ConfigError(`config key "${key}" is ${show(v)}: it must be an IPv4 address such as "10.244.1.0"`);
  if (!contains(net, ip)) throw new ConfigError(`config key "${key}" is ${show(v)}: it must lie inside Network ${formatCidr4(net)}`);
  return ip;
}
