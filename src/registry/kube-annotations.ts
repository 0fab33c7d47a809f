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
import { encodeLeaseAttrs, isObject } from './codec.js';
import { ConfigError } from './errors.js';
import { formatCidr4, formatIPv4, parseCidr4, parseIPv4, type Cidr4 } from './ipv4.js';
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
 * public-ip is `public-ip-overwrite` when an operator set that annotation.
 * backend-v6-data and public-ipv6 are never written (weft is IPv4-only).
 */
export function desiredAnnotations(names: AnnotationNames, attrs: LeaseAttrs, current: Record<string, string>): Record<string, string> {
  encodeLeaseAttrs(attrs); // throws InvalidArgumentError on a bad PublicIP
  const overwrite = current[names.backendPublicIPOverwrite];
  return {
    [names.backendType]: attrs.BackendType ?? '',
    [names.backendData]: attrs.BackendData === undefined || attrs.BackendData === null ? 'null' : goJSON(attrs.BackendData),
    [names.backendPublicIP]: overwrite ? overwrite : formatIPv4(parseIPv4(attrs.PublicIP)!),
    [names.subnetKubeManaged]: 'true',
  };
}

/** The subset of `desired` that differs from `current`: what a patch must carry (empty: no patch). */
export function annotationChanges(current: Record<string, string>, desired: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(desired)) if (current[k] !== v) out[k] = v;
  return out;
}

/**
 * The node's IPv4 pod CIDR, like flannel: spec.podCIDRs when set (one or two
 * entries, dual stack), else spec.podCIDR. Null when it has none; throws on
 * malformed values.
 */
export function nodePodCidr4(node: NodeLike): Cidr4 | null {
  const list = node.spec?.podCIDRs ?? [];
  const candidates = list.length > 0 ? list : node.spec?.podCIDR ? [node.spec.podCIDR] : [];
  if (candidates.length > 2) throw new Error(`spec.podCIDRs has ${candidates.length} entries: a node has one IPv4 and at most one IPv6 pod CIDR`);
  for (const text of candidates) {
    if (text.includes(':')) continue; // IPv6
    const c = parseCidr4(text);
    if (!c) throw new Error(`spec.podCIDR "${text}" is not an IPv4 network in CIDR notation`);
    return c;
  }
  return null;
}

export function nodeName(node: NodeLike): string {
  return node.metadata?.name ?? '';
}

/** A resourceVersion as Lease.revision (it is an etcd revision in practice; 0 when opaque). */
export function revisionOf(node: NodeLike): number {
  const rv = node.metadata?.resourceVersion;
  return rv !== undefined && /^\d+$/.test(rv) ? Number(rv) : 0;
}

/**
 * flannel's nodeToLease for an IPv4 network. `null`: the node is not a flannel node
 * (no `kube-subnet-manager: "true"` annotation) or has no IPv4 pod CIDR yet.
 * Throws, with the reason, when it claims to be one but cannot be read.
 */
export function nodeToLease(node: NodeLike, names: AnnotationNames): Lease | null {
  const ann = annotationsOf(node);
  if (ann[names.subnetKubeManaged] !== 'true') return null;
  const cidr = nodePodCidr4(node);
  if (!cidr) return null;
  const ipText = ann[names.backendPublicIP] ?? '';
  const ip = parseIPv4(ipText);
  if (ip === null) throw new Error(`annotation ${names.backendPublicIP} is ${JSON.stringify(ipText)}, not an IPv4 address`);
  const attrs: LeaseAttrs = { PublicIP: formatIPv4(ip), PublicIPv6: null };
  const type = ann[names.backendType];
  if (type) attrs.BackendType = type;
  const raw = ann[names.backendData];
  if (raw !== undefined && raw !== '' && raw !== 'null') {
    let data: unknown;
    try {
      data = JSON.parse(raw);
    } catch (err) {
      throw new Error(`annotation ${names.backendData} is not JSON (${(err as Error).message}): ${raw}`);
    }
    if (data !== null) attrs.BackendData = data;
  }
  const ts = node.metadata?.creationTimestamp; // a string in watch JSON, a Date in typed objects
  const born = ts instanceof Date ? ts.getTime() : Date.parse(ts ?? '');
  return { subnet: formatCidr4(cidr), attrs, expiration: null, revision: revisionOf(node), ...(Number.isFinite(born) ? { created: born } : {}), node: nodeName(node) };
}

/** What makes two leases of one node the same for a consumer: subnet and attrs, not the revision. */
export function leaseFingerprint(lease: Lease): string {
  return `${lease.subnet} ${encodeLeaseAttrs(lease.attrs)}`;
}

export function annotationsOf(node: NodeLike): Record<string, string> {
  const a = node.metadata?.annotations;
  return isObject(a) ? (a as Record<string, string>) : {};
}
