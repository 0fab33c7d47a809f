// Key names and lease values exactly as flannel writes and reads them, so weft and
// flannel nodes can share one registry.
//   key:   <prefix>/subnets/10.244.3.0-24          (flannel pkg/subnet/subnet.go MakeSubnetKey)
//   value: {"PublicIP":"192.168.1.20","PublicIPv6":null,"BackendType":"vxlan",
//           "BackendData":{"VNI":1,"VtepMAC":"6e:52:f6:1b:1e:83"}}
//          (Go's encoding/json of flannel's LeaseAttrs: field order, `null` for the
//           PublicIPv6 pointer, omitempty on the rest)
// IPv6 (flannel pkg/subnet/subnet.go MakeSubnetKey, pkg/lease/lease.go LeaseAttrs):
//   key:   <prefix>/subnets/10.244.3.0-24&fd00:10:244:3::-64   (dual stack: "&" and the
//          IPv6 subnet in Go's net.IP.String() text, i.e. RFC 5952, "-" for "/")
//   key:   <prefix>/subnets/0.0.0.0-0&fd00:10:244:3::-64       (IPv6-only: the IPv4 part is
//          flannel's zero IP4Net, which MakeSubnetKey writes and ParseSubnetKey requires)
//   value: {"PublicIP":"198.51.100.7","PublicIPv6":"fd00:198:51:100::7","BackendType":"vxlan",
//           "BackendData":{"VNI":1,"VtepMAC":"…"},"BackendV6Data":{"VNI":1,"VtepMAC":"…"}}
//          (IPv6-only: "PublicIP":"0.0.0.0", Go's zero IP4, and no BackendData)
import { posix } from 'node:path';
import { InvalidArgumentError } from '../../native-free/errors.js';
import { formatCidr4, formatIPv4, parseCidr4, parseIPv4 } from './ipv4.js';
import { canonicalCidr6, formatIPv6, parseIPv6 } from './ipv6.js';
import type { LeaseAttrs } from './types.js';

/** flannel's --etcd-prefix default. */
export const DEFAULT_PREFIX = '/coreos.com/network';

/** `<prefix>/config`, joined like Go's path.Join. */
export function configKey(prefix: string): string {
  return posix.join(prefix, 'config');
}

/** `<prefix>/subnets/`, the range holding every lease. */
export function subnetsPrefix(prefix: string): string {
  return `${posix.join(prefix, 'subnets')}/`;
}

/** The IPv4 part of an IPv6-only lease's key: flannel's empty IP4Net. */
export const NO_IPV4_KEY_PART = '0.0.0.0-0';

/**
 * "10.244.3.0/24" → "<prefix>/subnets/10.244.3.0-24"; dual stack "…-24&fd00::-64";
 * IPv6-only (subnet "") "…/0.0.0.0-0&fd00::-64".
 */
export function subnetKey(prefix: string, subnet: string, ipv6Subnet?: string): string {
  const v4 = subnet === '' ? NO_IPV4_KEY_PART : subnet.replace('/', '-');
  return subnetsPrefix(prefix) + (ipv6Subnet ? `${v4}&${ipv6Subnet.replace('/', '-')}` : v4);
}

// flannel's subnetRegex, anchored on the name after `subnets/`.
const KEY = /^(\d+\.\d+\.\d+\.\d+)-(\d+)(?:&([a-f\d:]+)-(\d+))?$/;

/**
 * The subnet(s) named by a key under `<prefix>/subnets/`, or null if it is not a
 * (canonical) subnet key. An IPv6-only key ("0.0.0.0-0&…") gives subnet "": no IPv4
 * subnet, never the route 0.0.0.0/0.
 */
export function parseSubnetKey(prefix: string, key: string): { subnet: string; ipv6Subnet?: string } | null {
  const base = subnetsPrefix(prefix);
  if (!key.startsWith(base)) return null;
  const m = KEY.exec(key.slice(base.length));
  if (!m) return null;
  const text = `${m[1]}/${m[2]}`;
  const net = parseCidr4(text);
  // flannel never writes host bits; refusing them keeps subnet ↔ key a bijection.
  if (!net || formatCidr4(net) !== text) return null;
  if (m[3] === undefined) return { subnet: text };
  // The same for the IPv6 part: only the RFC 5952 text Go writes ("fd00:0:0:1::", not
  // "fd00::1:0:0:0:0" or "fd00:0000::"), no host bits, length ≤ 128.
  const text6 = `${m[3]}/${m[4]}`;
  if (canonicalCidr6(text6) === null) return null;
  return { subnet: `${m[1]}-${m[2]}` === NO_IPV4_KEY_PART ? '' : text, ipv6Subnet: text6 };
}

// Go's encoding/json escapes these inside strings (HTML safety); we match it byte for byte.
function goJSON(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The stored value for a lease, byte-identical to what flannel's json.Marshal(LeaseAttrs) produces. */
export function encodeLeaseAttrs(attrs: LeaseAttrs): string {
  const ip = parseIPv4(attrs.PublicIP);
  if (ip === null) throw new InvalidArgumentError(`lease PublicIP "${attrs.PublicIP}" is not an IPv4 address`);
  let ip6: string | null = null;
  if (attrs.PublicIPv6) {
    const v = parseIPv6(attrs.PublicIPv6);
    if (v === null) throw new InvalidArgumentError(`lease PublicIPv6 "${attrs.PublicIPv6}" is not an IPv6 address`);
    ip6 = formatIPv6(v); // Go's IP6.MarshalJSON: "%s" of net.IP.String(), RFC 5952
  }
  let out = `{"PublicIP":"${formatIPv4(ip)}","PublicIPv6":${ip6 !== null ? `"${ip6}"` : 'null'}`;
  if (attrs.BackendType) out += `,"BackendType":${goJSON(attrs.BackendType)}`;
  if (attrs.BackendData !== undefined && attrs.BackendData !== null) out += `,"BackendData":${goJSON(attrs.BackendData)}`;
  if (attrs.BackendV6Data !== undefined && attrs.BackendV6Data !== null) out += `,"BackendV6Data":${goJSON(attrs.BackendV6Data)}`;
  return `${out}}`;
}

/** Go's encoding/json matches field names exactly first, then case-insensitively. */
export function field(obj: Record<string, unknown>, name: string): unknown {
  if (Object.hasOwn(obj, name)) return obj[name];
  const lower = name.toLowerCase();
  for (const k of Object.keys(obj)) if (k.toLowerCase() === lower) return obj[k];
  return undefined;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses a stored lease value; throws InvalidArgumentError on what flannel would reject too. */
export function decodeLeaseAttrs(value: string): LeaseAttrs {
  let doc: unknown;
  try {
    doc = JSON.parse(value);
  } catch (err) {
    throw new InvalidArgumentError(`lease value is not JSON: ${(err as Error).message}`);
  }
  if (!isObject(doc)) throw new InvalidArgumentError('lease value is not a JSON object');
  const ip = field(doc, 'PublicIP') ?? '0.0.0.0'; // absent: Go leaves the zero IP
  if (typeof ip !== 'string' || parseIPv4(ip) === null) throw new InvalidArgumentError(`lease PublicIP ${JSON.stringify(ip)} is not an IPv4 address`);
  const attrs: LeaseAttrs = { PublicIP: ip, PublicIPv6: null };
  const ip6 = field(doc, 'PublicIPv6');
  if (typeof ip6 === 'string') attrs.PublicIPv6 = ip6;
  const type = field(doc, 'BackendType');
  if (typeof type === 'string' && type !== '') attrs.BackendType = type;
  const data = field(doc, 'BackendData');
  if (data !== undefined && data !== null) attrs.BackendData = data;
  const data6 = field(doc, 'BackendV6Data');
  if (data6 !== undefined && data6 !== null) attrs.BackendV6Data = data6;
  return attrs;
}

/** The vxlan backend's lease data: src/backend/vxlan.ts. */
export { vxlanLeaseData } from '../backend/vxlan.js';
