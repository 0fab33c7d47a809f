// The node annotations flannel's kube subnet manager reads and writes
// (flannel pkg/subnet/kube/annotations.go and kube.go), and the mapping
// between a Kubernetes Node and a lease. With the default prefix a node that
// flanneld (or weft) runs on carries:
//
//   flannel.alpha.coreos.com/backend-type:        vxlan
//   flannel.alpha.coreos.com/backend-data:        {"VNI":1,"VtepMAC":"6e:52:f6:1b:1e:83"}
//   flannel.alpha.coreos.com/public-ip:           192.168.1.20
//   flannel.alpha.coreos.com/kube-subnet-manager: true
//
// and its subnet is the node's spec.podCIDR, which kube-controller-manager
// (--allocate-node-cidrs) assigns; the network config is a file, not a key.
//
// With EnableIPv6 (flannel kube.go AcquireLease / nodeToLease) the node's IPv6
// pod CIDR is the IPv6 entry of spec.podCIDRs (dual stack: one IPv4 and one
// IPv6 entry; IPv6-only: the IPv6 one alone, or spec.podCIDR), and two more
// annotations carry the IPv6 half of the lease:
//
//   flannel.alpha.coreos.com/backend-v6-data:     {"VNI":1,"VtepMAC":"5a:1f:00:11:22:33"}
//   flannel.alpha.coreos.com/public-ipv6:         fd00:198:51:100::7
//
// (public-ipv6-overwrite replaces public-ipv6 as public-ip-overwrite does
// public-ip). On an IPv6-only vxlan network flannel writes neither backend-data
// nor public-ip: its BackendData is "null".
import { encodeLeaseAttrs, isObject } from './codec.js';
import { ConfigError } from './errors.js';
import { formatCidr4, formatIPv4, parseCidr4, parseIPv4, type Cidr4 } from './ipv4.js';
import { formatCidr6, formatIPv6, parseCidr6, parseIPv6, type Cidr6 } from './ipv6.js';
import type { Lease, LeaseAttrs } from './types.js';

/** flannel's --kube-annotation-prefix default. */
export const DEFAULT_ANNOTATION_PREFIX = 'flannel.alpha.coreos.com';

/** flannel's annotations struct: every name it reads or writes under the prefix. */
export interface AnnotationNames {
  subnetKubeManaged: string;
  backendData: string;
  backendV6Data: string;
  backendType: string;
  backendPublicIP: string;
  backendPublicIPv6: string;
  backendNodePublicIP: string;
  backendNodePublicIPv6: string;
  backendPublicIPOverwrite: string;
  backendPublicIPv6Overwrite: string;
}

/**
 * flannel's newAnnotations: "fqdn" → "fqdn/<name>", "fqdn/x" → "fqdn/x-<name>",
 * "fqdn/x-" or "fqdn/" as they are; at most one slash.
 */
export function annotationNames(prefix: string = DEFAULT_ANNOTATION_PREFIX): AnnotationNames {
  const slashes = prefix.split('/').length - 1;
  if (slashes > 1) throw new ConfigError(`annotation prefix "${prefix}" has ${slashes} slashes: it may contain at most one, e.g. "flannel.alpha.coreos.com" or "example.com/weft"`);
  let p = slashes === 0 ? `${prefix}/` : prefix;
  if (!p.endsWith('/') && !p.endsWith('-')) p += '-';
  // flannel's regexp, anchored at the start too: flannel's is not, so it takes e.g.
  // "Example.com" and the API server then refuses the annotation key.
  if (!/^(?:[a-z0-9_-]+\.)+[a-z0-9_-]+\/(?:[a-z0-9_-]+-)?$/.test(p)) {
    throw new ConfigError(
      `annotation prefix "${prefix}" is not a DNS name optionally followed by "/name": use lower-case letters, digits, "-", "_" and dots, e.g. "flannel.alpha.coreos.com"`,
    );
  }
  return {
    subnetKubeManaged: `${p}kube-subnet-manager`,
    backendData: `${p}backend-data`,
    backendV6Data: `${p}backend-v6-data`,
    backendType: `${p}backend-type`,
    backendPublicIP: `${p}public-ip`,
    backendNodePublicIP: `${p}node-public-ip`,
    backendPublicIPOverwrite: `${p}public-ip-overwrite`,
    backendPublicIPv6: `${p}public-ipv6`,
    backendNodePublicIPv6: `${p}node-public-ipv6`,
    backendPublicIPv6Overwrite: `${p}public-ipv6-overwrite`,
  };
}

/** The parts of a Node we read: typed V1Node objects and raw watch JSON both fit. */
export interface NodeLike {
  metadata?: { name?: string; annotations?: Record<string, string> | null; resourceVersion?: string; creationTimestamp?: string | Date } | null;
  spec?: { podCIDR?: string | null; podCIDRs?: string[] | null } | null;
}

// Go's encoding/json escapes these inside strings; codec.ts does the same for etcd values.
function goJSON(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * The annotations this node must carry for `attrs`, as flannel's AcquireLease
 * writes them: backend-data is the backend's JSON ("null" when it has none),
 * public-ip is `public-ip-overwrite` when an operator set that annotation; with
 * a PublicIPv6, backend-v6-data and public-ipv6 (or `public-ipv6-overwrite`) the
 * same way. flannel's conditions (kube.go AcquireLease): vxlan writes the IPv4
 * pair only when its BackendData is not "null" (an IPv6-only node has none) and
 * the IPv6 pair only when its BackendV6Data is not "null"; host-gw writes the
 * IPv4 pair always and the IPv6 pair when it has a PublicIPv6; other backends
 * (ipip, udp: IPv4 only) the IPv4 pair.
 */
export function desiredAnnotations(names: AnnotationNames, attrs: LeaseAttrs, current: Record<string, string>): Record<string, string> {
  encodeLeaseAttrs(attrs); // throws InvalidArgumentError on a bad PublicIP or PublicIPv6
  const type = attrs.BackendType ?? '';
  const bd = attrs.BackendData === undefined || attrs.BackendData === null ? 'null' : goJSON(attrs.BackendData);
  const bd6 = attrs.BackendV6Data === undefined || attrs.BackendV6Data === null ? 'null' : goJSON(attrs.BackendV6Data);
  const out: Record<string, string> = { [names.backendType]: type };
  if (type !== 'vxlan' || bd !== 'null') {
    const overwrite = current[names.backendPublicIPOverwrite];
    out[names.backendData] = bd;
    out[names.backendPublicIP] = overwrite ? overwrite : formatIPv4(parseIPv4(attrs.PublicIP)!);
  }
  const ip6 = attrs.PublicIPv6 ? parseIPv6(attrs.PublicIPv6) : null;
  if ((type === 'vxlan' && bd6 !== 'null') || (type === 'host-gw' && ip6 !== null)) {
    const overwrite6 = current[names.backendPublicIPv6Overwrite];
    out[names.backendV6Data] = bd6;
    // flannel writes attrs.PublicIPv6.String(): "<nil>" for none; weft refuses to publish none.
    if (ip6 === null) throw new ConfigError(`the ${type} lease has BackendV6Data but no PublicIPv6 to publish in ${names.backendPublicIPv6}`);
    out[names.backendPublicIPv6] = overwrite6 ? overwrite6 : formatIPv6(ip6);
  }
  out[names.subnetKubeManaged] = 'true';
  return out;
}

/** The subset of `desired` that differs from `current`: what a patch must carry (empty: no patch). */
export function annotationChanges(current: Record<string, string>, desired: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(desired)) if (current[k] !== v) out[k] = v;
  return out;
}

/**
 * The node's pod CIDRs by family, like flannel (kube.go nodeToLease, AcquireLease):
 * spec.podCIDRs when set (one or two entries: IPv4, IPv6 or dual stack), else
 * spec.podCIDR. Throws on malformed values, more than two entries, or two of one
 * family (which flannel would resolve silently, differently in its two places).
 */
export function nodePodCidrs(node: NodeLike): { v4: Cidr4 | null; v6: Cidr6 | null } {
  const list = node.spec?.podCIDRs ?? [];
  const candidates = list.length > 0 ? list : node.spec?.podCIDR ? [node.spec.podCIDR] : [];
  // flannel: "node %q pod cidrs should be IPv4/IPv6 only or dualstack"
  if (candidates.length > 2) throw new Error(`spec.podCIDRs has ${candidates.length} entries: a node has one IPv4 and at most one IPv6 pod CIDR`);
  let v4: Cidr4 | null = null;
  let v6: Cidr6 | null = null;
  for (const text of candidates) {
    if (typeof text !== 'string') throw new Error(`spec.podCIDRs holds ${JSON.stringify(text)}, not a CIDR`);
    if (text.includes(':')) {
      const c = parseCidr6(text);
      if (!c) throw new Error(`spec.podCIDRs entry "${text}" is not an IPv6 network in CIDR notation`);
      if (v6) throw new Error(`spec.podCIDRs has two IPv6 entries (${formatCidr6(v6)} and ${text}): a node has at most one per family`);
      v6 = c;
    } else {
      const c = parseCidr4(text);
      if (!c) throw new Error(`spec.podCIDR "${text}" is not an IPv4 network in CIDR notation`);
      if (v4) throw new Error(`spec.podCIDRs has two IPv4 entries (${formatCidr4(v4)} and ${text}): a node has at most one per family`);
      v4 = c;
    }
  }
  return { v4, v6 };
}

/** The node's IPv4 pod CIDR (nodePodCidrs), or null. */
export function nodePodCidr4(node: NodeLike): Cidr4 | null {
  return nodePodCidrs(node).v4;
}

/** Which halves of a lease the network has (NetworkConfig's EnableIPv4 / EnableIPv6). */
export interface Families {
  ipv4: boolean;
  ipv6: boolean;
}
export const IPV4_ONLY: Families = { ipv4: true, ipv6: false };

export function nodeName(node: NodeLike): string {
  return node.metadata?.name ?? '';
}

/** A resourceVersion as Lease.revision (it is an etcd revision in practice; 0 when opaque). */
export function revisionOf(node: NodeLike): number {
  const rv = node.metadata?.resourceVersion;
  return rv !== undefined && /^\d+$/.test(rv) ? Number(rv) : 0;
}

/**
 * flannel's nodeToLease: for each enabled family, its pod CIDR and annotations
 * (IPv4: public-ip, backend-data; IPv6: public-ipv6, backend-v6-data). `null`: the
 * node is not a flannel node (no `kube-subnet-manager: "true"` annotation) or has
 * no pod CIDR of an enabled family yet. Throws, with the reason, when it claims
 * to be one but cannot be read. An IPv6-only lease has subnet "" and PublicIP
 * 0.0.0.0, as the etcd registry's.
 */
export function nodeToLease(node: NodeLike, names: AnnotationNames, families: Families = IPV4_ONLY): Lease | null {
  const ann = annotationsOf(node);
  if (ann[names.subnetKubeManaged] !== 'true') return null;
  const cidrs = nodePodCidrs(node);
  if ((families.ipv4 && !cidrs.v4) || (families.ipv6 && !cidrs.v6)) return null;
  const attrs: LeaseAttrs = { PublicIP: '0.0.0.0', PublicIPv6: null };
  if (families.ipv4) {
    const ipText = ann[names.backendPublicIP] ?? '';
    const ip = parseIPv4(ipText);
    if (ip === null) throw new Error(`annotation ${names.backendPublicIP} is ${JSON.stringify(ipText)}, not an IPv4 address`);
    attrs.PublicIP = formatIPv4(ip);
  }
  if (families.ipv6) {
    const ipText = ann[names.backendPublicIPv6] ?? '';
    const ip = parseIPv6(ipText);
    // flannel: ip.ParseIP6 fails → the node is skipped. Unicast or not is lease admission's call.
    if (ip === null) throw new Error(`annotation ${names.backendPublicIPv6} is ${JSON.stringify(ipText.slice(0, 64))}, not an IPv6 address`);
    attrs.PublicIPv6 = formatIPv6(ip);
  }
  const type = ann[names.backendType];
  if (type) attrs.BackendType = type;
  if (families.ipv4) {
    const data = jsonAnnotation(ann, names.backendData);
    if (data !== undefined) attrs.BackendData = data;
  }
  if (families.ipv6) {
    const data6 = jsonAnnotation(ann, names.backendV6Data);
    if (data6 !== undefined) attrs.BackendV6Data = data6;
  }
  const ts = node.metadata?.creationTimestamp; // a string in watch JSON, a Date in typed objects
  const born = ts instanceof Date ? ts.getTime() : Date.parse(ts ?? '');
  return {
    subnet: families.ipv4 ? formatCidr4(cidrs.v4!) : '',
    ...(families.ipv6 ? { ipv6Subnet: formatCidr6(cidrs.v6!) } : {}),
    attrs,
    expiration: null,
    revision: revisionOf(node),
    ...(Number.isFinite(born) ? { created: born } : {}),
    node: nodeName(node),
  };
}

/** A JSON annotation (backend-data, backend-v6-data); undefined when absent, empty or "null". */
function jsonAnnotation(ann: Record<string, string>, name: string): unknown {
  const raw = ann[name];
  if (raw === undefined || raw === '' || raw === 'null') return undefined;
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch (err) {
    throw new Error(`annotation ${name} is not JSON (${(err as Error).message}): ${raw.slice(0, 200)}`);
  }
  return data === null ? undefined : data;
}

/** What makes two leases of one node the same for a consumer: subnets and attrs, not the revision. */
export function leaseFingerprint(lease: Lease): string {
  return `${lease.subnet} ${lease.ipv6Subnet ?? '-'} ${encodeLeaseAttrs(lease.attrs)}`;
}

export function annotationsOf(node: NodeLike): Record<string, string> {
  const a = node.metadata?.annotations;
  return isObject(a) ? (a as Record<string, string>) : {};
}
