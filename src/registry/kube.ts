// The subnet registry on the Kubernetes Node objects: flannel's kube subnet
// manager (flannel pkg/subnet/kube/kube.go, --kube-subnet-mgr), so that weft
// and flanneld nodes share one cluster.
//
//   network config   a file (flannel --net-config-path, /etc/kube-flannel/net-conf.json,
//                    the kube-flannel-cfg ConfigMap), parsed like the etcd config
//   this node's subnet  node.spec.podCIDR, assigned by kube-controller-manager
//                    (--allocate-node-cidrs); weft never allocates
//   this node's lease   annotations on its Node (kube-annotations.ts), written with a
//                    strategic merge patch on nodes/{name}/status, as flannel does:
//                    flannel's ClusterRole grants patch on nodes/status only
//   other leases     a list + watch of all nodes; a node counts when it carries
//                    `kube-subnet-manager: "true"` and has an IPv4 pod CIDR
//   readiness        the node condition NetworkUnavailable=False, reason FlannelIsUp
//                    (markNetworkAvailable, flannel's CompleteLease)
//
// Leases in Kubernetes never expire: the podCIDR belongs to the node for its
// life, so renewLease is the identity and releaseLease a no-op (flannel:
// RenewLease unimplemented, no release).
//
// @kubernetes/client-node is imported on first use only: loading it takes about
// half a second and 70 MiB, which every `weft` command would pay otherwise
// (the CLI loads the daemon, which loads this registry).
import { readFile } from 'node:fs/promises';
import { parseNetworkConfig, type NetworkConfig } from './config.js';
import { decodeLeaseAttrs, encodeLeaseAttrs } from './codec.js';
import { ConfigError, NoNetworkConfigError, RegistryError } from './errors.js';
import { contains, formatCidr4, isUnicastIPv4, parseCidr4, parseIPv4 } from './ipv4.js';
import { contains6, formatCidr6, formatIPv6, isUnicastIPv6, parseCidr6, parseIPv6 } from './ipv6.js';
import {
  annotationChanges,
  annotationNames,
  annotationsOf,
  desiredAnnotations,
  leaseFingerprint,
  nodeName,
  nodePodCidrs,
  nodeToLease,
  IPV4_ONLY,
  type Families,
  revisionOf,
  type AnnotationNames,
  type NodeLike,
} from './kube-annotations.js';
import type { KubeApi, NodeWatch, WatchEvent } from './kube-api.js';
import { sleep } from './registry.js';
import type { AcquireOptions, Lease, LeaseAttrs, LeaseEvent, RegistryLogger, SubnetRegistry } from './types.js';
import { Inbox } from './inbox.js';

export { DEFAULT_ANNOTATION_PREFIX } from './kube-annotations.js';

/** flannel's --net-config-path default. */
export const DEFAULT_NET_CONFIG_PATH = '/etc/kube-flannel/net-conf.json';
/** flannel's NodeCondition when the network is up (pkg/subnet/kube/kube.go CompleteLease). */
export const NETWORK_AVAILABLE_REASON = 'FlannelIsUp';
export const NETWORK_AVAILABLE_MESSAGE = 'Flannel is running on this node';

const DEFAULT_TIMEOUT_MS = 10_000;

export interface KubeRegistryOptions {
  /**
   * The Node this daemon runs on (flannel: the NODE_NAME environment variable).
   * When absent, `pod` is looked up and its spec.nodeName used.
   */
  nodeName?: string;
  /** flannel's POD_NAME / POD_NAMESPACE fallback (needs RBAC get on pods). */
  pod?: { name: string; namespace: string };
  /** flannel's --kubeconfig-file; absent or empty: the pod's service account (in-cluster). */
  kubeconfigFile?: string;
  /** flannel's --kube-api-url. */
  apiUrl?: string;
  /** flannel's --kube-annotation-prefix; default flannel.alpha.coreos.com. */
  annotationPrefix?: string;
  /** flannel's --net-config-path; default /etc/kube-flannel/net-conf.json. */
  netConfigPath?: string;
  /** Deadline of each API request (not of the watch stream). Default 10000 ms. */
  timeoutMs?: number;
  /** The watch asks the server to end it after this long (then re-watches). Default: random 300-600 s, like client-go. */
  watchTimeoutSeconds?: number;
  /** flannel's --set-node-network-unavailable: completeLease() sets NetworkUnavailable=False. Default true. */
  setNodeNetworkUnavailable?: boolean;
  logger?: RegistryLogger;
}

export function createKubeRegistry(opts: KubeRegistryOptions): KubeRegistry {
  return new KubeRegistry(opts);
}

/** A watch event or the end of the stream, queued for the async loop. */
type WatchItem = { kind: 'event'; ev: WatchEvent } | { kind: 'done'; err: Error | null };

interface Known {
  lease: Lease;
  fingerprint: string;
}

export class KubeRegistry implements SubnetRegistry {
  readonly names: AnnotationNames;
  readonly netConfigPath: string;
  private apiPromise: Promise<KubeApi> | undefined;
  private readonly log: RegistryLogger | undefined;
  private readonly closing = new AbortController();
  private readonly watches = new Set<NodeWatch>();
  private readonly watchTimeoutSeconds: number | undefined;
  private nodeNamePromise: Promise<string> | undefined;
  /** Last warning per node, so a node that stays unreadable is reported once per change. */
  private readonly warned = new Map<string, string>();
  /** The families of the network config last read (getNetworkConfig): which halves a node's lease has. */
  private families: Families = IPV4_ONLY;
  private configRead = false;

  constructor(private readonly opts: KubeRegistryOptions) {
    if (!opts.nodeName && !opts.pod) {
      throw new ConfigError(
        'the kube subnet manager needs this node\'s name: set NODE_NAME (in a DaemonSet: valueFrom.fieldRef.fieldPath: spec.nodeName), or POD_NAME and POD_NAMESPACE',
      );
    }
    this.names = annotationNames(opts.annotationPrefix);
    this.netConfigPath = opts.netConfigPath ?? DEFAULT_NET_CONFIG_PATH;
    this.watchTimeoutSeconds = opts.watchTimeoutSeconds;
    this.log = opts.logger;
  }

  /** The API client, made on first use from the kubeconfig or the pod's service account (ConfigError when neither works). */
  private api(): Promise<KubeApi> {
    this.apiPromise ??= import('./kube-api.js').then(({ KubeApi, loadKubeConfig }) => {
      const kc = loadKubeConfig({
        ...(this.opts.kubeconfigFile ? { kubeconfigFile: this.opts.kubeconfigFile } : {}),
        ...(this.opts.apiUrl ? { apiUrl: this.opts.apiUrl } : {}),
      });
      return new KubeApi(kc, this.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    });
    return this.apiPromise;
  }

  /** This node's name: the option, else the spec.nodeName of our pod (looked up once). */
  nodeName(): Promise<string> {
    if (this.opts.nodeName) return Promise.resolve(this.opts.nodeName);
    if (!this.nodeNamePromise) {
      const lookup = (async () => {
        const { namespace, name } = this.opts.pod!;
        const api = await this.api();
        const node = await api.podNodeName(namespace, name);
        if (!node) throw new RegistryError(`pod ${namespace}/${name} has no spec.nodeName in ${api.server}: is it scheduled? Set NODE_NAME instead`);
        return node;
      })();
      lookup.catch(() => (this.nodeNamePromise = undefined)); // a failed lookup is tried again next time
      this.nodeNamePromise = lookup;
    }
    return this.nodeNamePromise;
  }

  async getNetworkConfig(): Promise<NetworkConfig> {
    let text: string;
    try {
      text = await readFile(this.netConfigPath, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new NoNetworkConfigError(
          `no network config at ${this.netConfigPath}: mount net-conf.json of the kube-flannel-cfg ConfigMap there, or give --net-config-path ` +
            '(e.g. {"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan"}})',
        );
      }
      throw new ConfigError(`network config ${this.netConfigPath} cannot be read (${(err as Error).message})`);
    }
    try {
      const config = parseNetworkConfig(text);
      this.families = { ipv4: config.EnableIPv4, ipv6: config.EnableIPv6 };
      this.configRead = true;
      return config;
    } catch (err) {
      if (err instanceof ConfigError) throw new ConfigError(`${err.message} (network config file ${this.netConfigPath})`);
      throw err;
    }
  }

  /** podCIDRs are allocated by the controller manager: peers' have the length of ours, not SubnetLen. */
  subnetLen(_config: NetworkConfig, own: Lease): number {
    return Number(own.subnet.slice(own.subnet.indexOf('/') + 1));
  }

  /** The same for IPv6: the length of this node's IPv6 podCIDR (--node-cidr-mask-size-ipv6). */
  ipv6SubnetLen(_config: NetworkConfig, own: Lease): number {
    const s6 = own.ipv6Subnet ?? '';
    return Number(s6.slice(s6.indexOf('/') + 1));
  }

  /** flannel's CompleteLease: NetworkUnavailable=False, unless --set-node-network-unavailable=false. */
  async completeLease(): Promise<void> {
    if (this.opts.setNodeNetworkUnavailable === false) return;
    await this.markNetworkAvailable();
  }

  /** flannel's GetStoredPublicIP: this node's `<prefix>/node-public-ip` annotation, checked as an IPv4 address. */
  async storedPublicIp(): Promise<string | null> {
    const api = await this.api();
    const name = await this.nodeName();
    const node = await api.readNode(name);
    const value = node ? annotationsOf(node)[this.names.backendNodePublicIP] : undefined;
    if (value === undefined || value === '') return null;
    if (!isUnicastIPv4(value)) {
      throw new RegistryError(
        `node ${name} has annotation ${this.names.backendNodePublicIP}="${value.slice(0, 64)}": not a unicast IPv4 address; fix or remove it (kubectl annotate node ${name} ${this.names.backendNodePublicIP}-)`,
      );
    }
    return value;
  }

  /** flannel's GetStoredPublicIP, IPv6: this node's `<prefix>/node-public-ipv6` annotation, checked as a global or unique-local address. */
  async storedPublicIpv6(): Promise<string | null> {
    const api = await this.api();
    const name = await this.nodeName();
    const node = await api.readNode(name);
    const value = node ? annotationsOf(node)[this.names.backendNodePublicIPv6] : undefined;
    if (value === undefined || value === '') return null;
    if (!isUnicastIPv6(value)) {
      throw new RegistryError(
        `node ${name} has annotation ${this.names.backendNodePublicIPv6}="${value.slice(0, 64)}": not a global or unique-local unicast IPv6 address; fix or remove it (kubectl annotate node ${name} ${this.names.backendNodePublicIPv6}-)`,
      );
    }
    return formatIPv6(parseIPv6(value)!);
  }

  /**
   * flannel's AcquireLease: the subnet is this node's spec.podCIDR; the lease attrs are
   * written as annotations on the node when they differ. `opts.preferSubnet` cannot
   * apply (the controller manager chose the subnet) and is only compared.
   */
  async acquireLease(attrs: LeaseAttrs, opts: AcquireOptions = {}): Promise<Lease> {
    encodeLeaseAttrs(attrs); // reject a bad PublicIP before any request
    const config = await this.getNetworkConfig();
    const api = await this.api();
    const name = await this.nodeName();
    const node = await api.readNode(name);
    if (!node) {
      throw new RegistryError(
        `node ${name} does not exist in Kubernetes API server ${api.server}: set NODE_NAME to this node's name as kubectl get nodes shows it (in a DaemonSet: fieldRef spec.nodeName)`,
      );
    }
    let cidrs;
    try {
      cidrs = nodePodCidrs(node);
    } catch (err) {
      throw new RegistryError(`node ${name}: ${(err as Error).message}`);
    }
    let subnet = '';
    if (config.EnableIPv4) {
      const cidr = cidrs.v4;
      if (!cidr) {
        throw new RegistryError(
          `node ${name} has no ${config.EnableIPv6 ? "IPv4 " : ""}spec.podCIDR: start kube-controller-manager with --allocate-node-cidrs ` +
            `(and --cluster-cidr=${config.Network}${config.EnableIPv6 ? ',<IPv6Network>' : ''}), or set the node's podCIDR`,
        );
      }
      subnet = formatCidr4(cidr);
      const network = parseCidr4(config.Network)!;
      if (cidr.len < network.len || !contains(network, cidr.ip)) {
        // flannel: "subnet %q specified in the flannel net config doesn't contain %q PodCIDR of the %q node"
        throw new RegistryError(
          `node ${name} has spec.podCIDR ${subnet}, which is not inside Network ${config.Network} of ${this.netConfigPath}: ` +
            'make kube-controller-manager\'s --cluster-cidr and the Network of net-conf.json the same',
        );
      }
    }
    let ipv6Subnet: string | undefined;
    if (config.EnableIPv6) {
      const cidr6 = cidrs.v6;
      if (!cidr6) {
        throw new RegistryError(
          `node ${name} has no IPv6 entry in spec.podCIDRs (EnableIPv6): start kube-controller-manager with --allocate-node-cidrs and a dual-stack ` +
            `--cluster-cidr (e.g. ${config.EnableIPv4 ? `${config.Network},` : ''}${config.IPv6Network}), or set the node's podCIDRs`,
        );
      }
      ipv6Subnet = formatCidr6(cidr6);
      const network6 = parseCidr6(config.IPv6Network!)!;
      if (cidr6.len < network6.len || !contains6(network6, cidr6.ip)) {
        // flannel: "subnet %q specified in the flannel net config doesn't contain %q IPv6 PodCIDR of the %q node"
        throw new RegistryError(
          `node ${name} has IPv6 podCIDR ${ipv6Subnet}, which is not inside IPv6Network ${config.IPv6Network} of ${this.netConfigPath}: ` +
            'make kube-controller-manager\'s IPv6 --cluster-cidr and the IPv6Network of net-conf.json the same',
        );
      }
      if (!attrs.PublicIPv6) throw new ConfigError(`the network config enables IPv6 (${config.IPv6Network}) but this node's lease has no PublicIPv6`);
    }
    if (opts.preferSubnet !== undefined && subnet !== '') {
      const prev = parseCidr4(opts.preferSubnet);
      if (prev && formatCidr4(prev) !== subnet) this.log?.info(`previous subnet ${opts.preferSubnet} differs from node ${name}'s spec.podCIDR ${subnet}: using the podCIDR`);
    }

    const current = annotationsOf(node);
    const changes = annotationChanges(current, desiredAnnotations(this.names, attrs, current));
    let revision = revisionOf(node);
    if (Object.keys(changes).length > 0) {
      const patched = await api.patchNodeStatus(name, { metadata: { annotations: changes } }, `annotate node ${name} with its lease`);
      revision = revisionOf(patched);
      this.log?.info(`node ${name}: wrote ${Object.keys(changes).join(', ')} (${api.server})`);
    }
    const overwrite = current[this.names.backendPublicIPOverwrite];
    if (overwrite) this.log?.info(`node ${name} publishes public-ip ${overwrite} from annotation ${this.names.backendPublicIPOverwrite}`);
    // The lease as other nodes read it (public-ip is the overwrite when set), so that the
    // daemon can tell its own annotations from someone else's change of them.
    const overwrite6 = current[this.names.backendPublicIPv6Overwrite];
    let published = overwrite && parseIPv4(overwrite) !== null ? { ...attrs, PublicIP: overwrite } : attrs;
    // desiredAnnotations publishes public-ipv6-overwrite as public-ipv6 whenever it is set.
    if (config.EnableIPv6 && overwrite6 && parseIPv6(overwrite6) !== null) published = { ...published, PublicIPv6: overwrite6 };
    const lease: Lease = { subnet, attrs: decodeLeaseAttrs(encodeLeaseAttrs(published)), expiration: null, revision, node: name };
    if (ipv6Subnet !== undefined) lease.ipv6Subnet = ipv6Subnet;
    return lease;
  }

  /** Leases on Node objects do not expire: the lease as it is. */
  async renewLease(lease: Lease): Promise<Lease> {
    return lease;
  }

  /** The podCIDR stays with the node, and so do the annotations (as in flannel): nothing released. */
  async releaseLease(_lease: Lease): Promise<boolean> {
    return false;
  }

  /**
   * flannel's CompleteLease: sets this node's NetworkUnavailable condition to False
   * (reason FlannelIsUp), so pods get scheduled here. Call once the data plane is up.
   */
  async markNetworkAvailable(): Promise<void> {
    const api = await this.api();
    const name = await this.nodeName();
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'); // metav1.Time: RFC 3339, seconds
    const condition = {
      type: 'NetworkUnavailable',
      status: 'False',
      reason: NETWORK_AVAILABLE_REASON,
      message: NETWORK_AVAILABLE_MESSAGE,
      lastTransitionTime: now,
      lastHeartbeatTime: now,
    };
    await api.patchNodeStatus(name, { status: { conditions: [condition] } }, `set condition NetworkUnavailable=False on node ${name}`);
    this.log?.info(`node ${name}: NetworkUnavailable=False (${NETWORK_AVAILABLE_REASON})`);
  }

  /**
   * Leases of all flannel nodes (this one too): a list, then a watch from its
   * resourceVersion. When the watch fails or the server says the version is gone
   * (410, etcd compaction), the nodes are listed again and the difference to what
   * was emitted is the next batch.
   */
  async *watchLeases(signal: AbortSignal): AsyncGenerator<LeaseEvent[]> {
    const stop = AbortSignal.any([signal, this.closing.signal]);
    const known = new Map<string, Known>();
    if (!this.configRead) await this.getNetworkConfig(); // which halves each node's lease has
    const api = await this.api();
    const first = await api.listNodes();
    yield this.diff(known, first.nodes);
    let rv = first.resourceVersion;
    let idle = 0; // watches in a row that ended before delivering anything
    while (!stop.aborted) {
      const timeoutSeconds = this.watchTimeoutSeconds ?? 300 + Math.floor(Math.random() * 300);
      // No event at all (not even a bookmark) for this long: the connection is dead.
      const silenceMs = (timeoutSeconds + 30) * 1000;
      const inbox = new Inbox<WatchItem>();
      const watch = api.watchNodes(
        rv,
        timeoutSeconds,
        (ev) => inbox.push({ kind: 'event', ev }),
        (err) => inbox.push({ kind: 'done', err }),
      );
      this.watches.add(watch);
      let relist = false;
      let delivered = false;
      try {
        for (let ended = false; !ended; ) {
          const items = await inbox.takeAll(stop, silenceMs);
          if (items === undefined) return;
          if (items.length === 0) {
            this.log?.warn(`the node watch on ${api.server} was silent for ${silenceMs / 1000} s: watching again`);
            break;
          }
          const events: LeaseEvent[] = [];
          for (const item of items) {
            if (item.kind === 'done') {
              ended = true;
              if (item.err) {
                relist = true;
                this.log?.warn(`${item.err.message}: listing the nodes again`);
              }
              break;
            }
            const { type, object } = item.ev;
            if (type === 'ERROR') {
              ended = true;
              relist = true;
              const status = object as { code?: number; message?: string } | null;
              this.log?.warn(
                status?.code === 410
                  ? `${api.server}: resourceVersion ${rv} is gone (${status.message ?? '410 Gone'}), most likely compacted: listing the nodes again`
                  : `${api.server} ended the node watch with an error (${status?.code ?? '?'}: ${status?.message ?? JSON.stringify(object)}): listing the nodes again`,
              );
              break;
            }
            delivered = true;
            const node = object as NodeLike;
            if (node?.metadata?.resourceVersion) rv = node.metadata.resourceVersion;
            if (type === 'ADDED' || type === 'MODIFIED') events.push(...this.update(known, node));
            else if (type === 'DELETED') events.push(...this.forget(known, nodeName(node)));
          }
          if (events.length > 0) yield events;
        }
      } finally {
        this.watches.delete(watch);
        watch.stop();
      }
      if (stop.aborted) return;
      // A watch ending again and again at once (refused, no permission) must not spin:
      // back off like flannel, 100 ms .. 5 s.
      idle = delivered ? 0 : idle + 1;
      if (idle > 1) await sleep(Math.min(100 * 2 ** (idle - 2), 5000), stop);
      if (!relist) continue; // the server's timeoutSeconds: watch on from rv
      const fresh = await this.relist(api, stop);
      if (fresh === undefined) return;
      rv = fresh.resourceVersion;
      const events = this.diff(known, fresh.nodes);
      if (events.length > 0) yield events;
    }
  }

  /** Lists until it works (backing off 100 ms .. 5 s), or undefined when stopped. */
  private async relist(api: KubeApi, stop: AbortSignal): Promise<{ nodes: NodeLike[]; resourceVersion: string } | undefined> {
    for (let delay = 100; !stop.aborted; delay = Math.min(delay * 2, 5000)) {
      try {
        return await api.listNodes();
      } catch (err) {
        this.log?.warn(`${(err as Error).message}; retrying in ${delay} ms`);
        await sleep(delay, stop);
      }
    }
    return undefined;
  }

  /** The node's lease, or null (not a flannel node, no podCIDR, or unreadable: warned once). */
  private leaseOf(node: NodeLike): Lease | null {
    const name = nodeName(node);
    try {
      const lease = nodeToLease(node, this.names, this.families);
      this.warned.delete(name);
      return lease;
    } catch (err) {
      const msg = `ignoring node ${name}: ${(err as Error).message}`;
      if (this.warned.get(name) !== msg) this.log?.warn(msg);
      this.warned.set(name, msg);
      return null;
    }
  }

  /** Events for one node's new state; updates `known`. */
  private update(known: Map<string, Known>, node: NodeLike): LeaseEvent[] {
    const name = nodeName(node);
    const lease = this.leaseOf(node);
    if (!lease) return this.forget(known, name);
    const fingerprint = leaseFingerprint(lease);
    const before = known.get(name);
    if (before?.fingerprint === fingerprint) return [];
    known.set(name, { lease, fingerprint });
    const events: LeaseEvent[] = [];
    // A node whose podCIDR changed (deleted and re-registered under the same name) gives its old subnet up.
    if (before && before.lease.subnet !== lease.subnet) events.push({ type: 'removed', lease: before.lease });
    events.push({ type: 'added', lease });
    return events;
  }

  private forget(known: Map<string, Known>, name: string): LeaseEvent[] {
    const before = known.get(name);
    if (!before) return [];
    known.delete(name);
    return [{ type: 'removed', lease: before.lease }];
  }

  /** Events that take a consumer from `known` to a fresh listing; updates `known`. */
  private diff(known: Map<string, Known>, nodes: readonly NodeLike[]): LeaseEvent[] {
    const removed: LeaseEvent[] = [];
    const added: LeaseEvent[] = [];
    const seen = new Set<string>();
    for (const node of nodes) {
      seen.add(nodeName(node));
      for (const ev of this.update(known, node)) (ev.type === 'removed' ? removed : added).push(ev);
    }
    for (const name of [...known.keys()]) if (!seen.has(name)) removed.push(...this.forget(known, name));
    // Removals first: a subnet that moved to another node ends up present.
    return [...removed, ...added];
  }

  async close(): Promise<void> {
    this.closing.abort();
    for (const w of this.watches) w.stop();
    this.watches.clear();
  }
}
