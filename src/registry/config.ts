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
import { contains6, formatCidr6, formatIPv6, maskOf6, parseCidr6, parseIPv6, sizeOf6, type Cidr6 } from './ipv6.js';

/** The backends, each declared in src/backend/ (its config keys, defaults and types live there). */
export const SUPPORTED_BACKENDS = BACKEND_TYPES;
export type { BackendConfig, BackendType, IpipBackendConfig, UdpBackendConfig, VxlanBackendConfig };
export { DEFAULT_VNI, FLANNEL_VXLAN_KERNEL_DEFAULT_PORT, UDP_DEFAULT_PORT, WEFT_VXLAN_DEFAULT_PORT };

/** A checked config with flannel's defaults filled in. Addresses are canonical strings. */
export interface NetworkConfig {
  /** flannel's EnableIPv4 (default true). False: an IPv6-only network, and the four IPv4 fields below are "" / 0. */
  EnableIPv4: boolean;
  /** flannel's EnableIPv6 (default false): every lease also carries an IPv6 subnet (IPv6Subnet). */
  EnableIPv6: boolean;
  /** e.g. "10.244.0.0/16" (host bits cleared, as Go's net.ParseCIDR does); "" when EnableIPv4 is false. */
  Network: string;
  /** 0 when EnableIPv4 is false. */
  SubnetLen: number;
  /** First and last subnet address a node may lease, e.g. "10.244.1.0" and "10.244.255.0"; "" when EnableIPv4 is false. */
  SubnetMin: string;
  SubnetMax: string;
  /** EnableIPv6 only: e.g. "fd00:10:244::/56" (RFC 5952 text, host bits cleared). */
  IPv6Network?: string;
  /** EnableIPv6 only: flannel's default is 64, or the IPv6Network length + 2 when that is longer than /62. */
  IPv6SubnetLen?: number;
  /** EnableIPv6 only: first and last IPv6 subnet address a node may lease, e.g. "fd00:10:244:1::" and "fd00:10:244:ff::". */
  IPv6SubnetMin?: string;
  IPv6SubnetMax?: string;
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

  // flannel's ParseConfig: EnableIPv4 defaults to true, EnableIPv6 to false.
  const v4 = optionalBool(doc, 'EnableIPv4', true);
  const v6 = optionalBool(doc, 'EnableIPv6', false);
  if (!v4 && !v6) {
    // flannel main.go: ipmatch.GetIPFamily fails when neither family is enabled.
    throw new ConfigError('config keys "EnableIPv4" and "EnableIPv6" are both false: enable at least one (an IPv6-only network is "EnableIPv4": false, "EnableIPv6": true)');
  }
  const backend = parseBackend(field(doc, 'Backend'));
  if (v6 && V4_ONLY_BACKENDS.has(backend.Type)) {
    // flannel's ipip (pkg/backend/ipip) and udp (pkg/backend/udp) backends never look at
    // EnableIPv6: they lease and route the IPv4 subnet only and leave the IPv6 one dead.
    // weft says so instead of leasing an IPv6 subnet nothing can carry.
    throw new ConfigError(
      `config key "EnableIPv6" is true but Backend.Type "${backend.Type}" carries IPv4 only (${backend.Type === 'ipip' ? 'IP-in-IP is IP protocol 4 inside IPv4' : "flannel's udp encapsulation is IPv4-only"}): use "vxlan" or "host-gw" for IPv6, or set "EnableIPv6": false`,
    );
  }
  const out: NetworkConfig = {
    EnableIPv4: v4,
    EnableIPv6: v6,
    Network: '',
    SubnetLen: 0,
    SubnetMin: '',
    SubnetMax: '',
    Backend: backend,
    EnableNFTables: optionalBool(doc, 'EnableNFTables', false),
  };
  // flannel's CheckNetworkConfig checks each family only when it is enabled.
  if (v4) Object.assign(out, parseIPv4Part(doc));
  if (v6) Object.assign(out, parseIPv6Part(doc));
  return out;
}

/** Backends that cannot carry IPv6 (see the refusal above). */
const V4_ONLY_BACKENDS: ReadonlySet<string> = new Set(['ipip', 'udp']);

function parseIPv4Part(doc: Record<string, unknown>): Pick<NetworkConfig, 'Network' | 'SubnetLen' | 'SubnetMin' | 'SubnetMax'> {
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
  };
}

// flannel pkg/subnet/config.go CheckNetworkConfig, the EnableIPv6 half; sizes as
// flannel's big.Int arithmetic (pkg/ip/ip6net.go GetIPv6SubnetMin/Max).
function parseIPv6Part(doc: Record<string, unknown>): Pick<NetworkConfig, 'IPv6Network' | 'IPv6SubnetLen' | 'IPv6SubnetMin' | 'IPv6SubnetMax'> {
  const EX6 = '"IPv6Network": "fd00:10:244::/56"';
  const raw = field(doc, 'IPv6Network');
  if (raw === undefined || raw === null || raw === '') {
    // flannel: "please define a correct IPv6Network parameter in the flannel config"
    throw new ConfigError(`config key "IPv6Network" is missing and "EnableIPv6" is true: set it to the IPv6 overlay network in CIDR notation, e.g. ${EX6}`);
  }
  const net = typeof raw === 'string' ? parseCidr6(raw) : null;
  if (!net) throw new ConfigError(`config key "IPv6Network" is ${show(raw)}: it must be an IPv6 network in CIDR notation, e.g. ${EX6}`);
  if (!routable6(net)) {
    // flannel takes any prefix, ::/0 included, and routes it through the overlay: weft refuses.
    throw new ConfigError(
      `config key "IPv6Network" is ${show(raw)}: it must lie inside the unique-local fc00::/7 or the global unicast 2000::/3 range ` +
        '(not ::/0, link-local, multicast or IPv4-mapped, which would capture traffic that is not the overlay\'s), e.g. ' + EX6,
    );
  }
  if (net.len > 124) {
    // flannel: "IPv6Network is too small. Minimum useful network prefix is /124"
    throw new ConfigError(`config key "IPv6Network" is ${show(raw)}: the network is too small, its prefix length must be 124 or less`);
  }
  const rawLen = field(doc, 'IPv6SubnetLen');
  let len: number;
  if (rawLen === undefined || rawLen === null || rawLen === 0) {
    len = net.len <= 62 ? 64 : net.len + 2;
  } else if (typeof rawLen === 'number' && Number.isInteger(rawLen) && rawLen >= net.len + 2 && rawLen <= 126) {
    len = rawLen;
  } else {
    // flannel: "SubnetLen must be less than /127", "network must be able to accommodate at least four subnets"
    throw new ConfigError(
      `config key "IPv6SubnetLen" is ${show(rawLen)}: it must be between ${net.len + 2} (the IPv6Network prefix length ${net.len} + 2, so that at least four subnets fit) and 126`,
    );
  }
  const size = sizeOf6(len);
  // As for IPv4, the first subnet is skipped; the last is the network's last /len.
  const min = optionalAddr6(doc, 'IPv6SubnetMin', net, net.ip + size);
  const max = optionalAddr6(doc, 'IPv6SubnetMax', net, net.ip + sizeOf6(net.len) - size);
  for (const [key, value] of [['IPv6SubnetMin', min], ['IPv6SubnetMax', max]] as const) {
    const aligned = value & maskOf6(len);
    if (aligned !== value) {
      throw new ConfigError(`config key "${key}" is "${formatIPv6(value)}": it must be on a /${len} boundary (IPv6SubnetLen), e.g. "${formatIPv6(aligned)}"`);
    }
  }
  if (min > max) {
    // flannel accepts this and then finds no free subnet; weft says so up front.
    throw new ConfigError(`config key "IPv6SubnetMin" is "${formatIPv6(min)}": it must not be above IPv6SubnetMax "${formatIPv6(max)}"`);
  }
  return { IPv6Network: formatCidr6(net), IPv6SubnetLen: len, IPv6SubnetMin: formatIPv6(min), IPv6SubnetMax: formatIPv6(max) };
}

/** Inside fc00::/7 (ULA) or 2000::/3 (global unicast). */
function routable6(net: Cidr6): boolean {
  const top = Number(net.ip >> 120n);
  return (net.len >= 7 && (top & 0xfe) === 0xfc) || (net.len >= 3 && (top & 0xe0) === 0x20);
}

/** An IPv6 address inside IPv6Network; absent, "" or "::" (flannel's ip.IsEmpty) means the default. */
function optionalAddr6(obj: Record<string, unknown>, key: string, net: Cidr6, dflt: bigint): bigint {
  const v = field(obj, key);
  if (v === undefined || v === null || v === '') return dflt;
  const ip = typeof v === 'string' ? parseIPv6(v) : null;
  if (ip === null) throw new ConfigError(`config key "${key}" is ${show(v)}: it must be an IPv6 address such as "fd00:10:244:1::"`);
  if (ip === 0n) return dflt;
  // flannel: "IPv6SubnetMin is not in the range of the IPv6Network"
  if (!contains6(net, ip)) throw new ConfigError(`config key "${key}" is ${show(v)}: it must lie inside IPv6Network ${formatCidr6(net)}`);
  return ip;
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
