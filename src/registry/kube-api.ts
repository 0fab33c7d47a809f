// The few Kubernetes API calls the kube subnet manager makes, over
// @kubernetes/client-node, each with a deadline and with failures turned into
// registry errors that name the API server URL and, when refused, the RBAC
// verb and resource the service account lacks. flannel's ClusterRole grants
// exactly these: pods get; nodes get, list, watch; nodes/status patch.
import { existsSync } from 'node:fs';
import {
  ApiException,
  CoreV1Api,
  KubeConfig,
  Observable,
  PatchStrategy,
  Watch,
  type ConfigurationOptions,
  type ObservableMiddleware,
  type V1Node,
} from '@kubernetes/client-node';
import { ConfigError, RegistryError, RegistryUnavailableError } from './errors.js';
import type { NodeLike } from './kube-annotations.js';

/** Where a pod finds its service account (what KubeConfig.loadFromCluster reads). */
export const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export interface KubeConnectOptions {
  /** flannel's --kubeconfig-file; empty or absent: the in-cluster service account. */
  kubeconfigFile?: string;
  /** flannel's --kube-api-url: overrides the server of the kubeconfig (or, alone, an unauthenticated URL). */
  apiUrl?: string;
}

/**
 * A KubeConfig the way flannel's clientcmd.BuildConfigFromFlags(apiUrl, kubeconfig)
 * builds one: the kubeconfig file if given, else the pod's service account.
 * Throws ConfigError saying what to give when neither is available.
 */
export function loadKubeConfig(opts: KubeConnectOptions): KubeConfig {
  const kc = new KubeConfig();
  if (opts.kubeconfigFile) {
    try {
      kc.loadFromFile(opts.kubeconfigFile);
    } catch (err) {
      throw new ConfigError(`kubeconfig "${opts.kubeconfigFile}" cannot be loaded (${(err as Error).message}): give a readable kubeconfig file`);
    }
    if (!kc.getCurrentCluster()) {
      throw new ConfigError(`kubeconfig "${opts.kubeconfigFile}" has no current context with a cluster: set current-context (kubectl config use-context)`);
    }
    if (opts.apiUrl) {
      const cluster = kc.getCurrentCluster()!;
      const clusters = kc.clusters.map((c) => (c === cluster ? { ...c, server: opts.apiUrl!, skipTLSVerify: c.skipTLSVerify || opts.apiUrl!.startsWith('http:') } : c));
      kc.loadFromOptions({ clusters, users: kc.users, contexts: kc.contexts, currentContext: kc.currentContext });
    }
    return kc;
  }
  if (opts.apiUrl) {
    // Like clientcmd with a master URL and no kubeconfig: no credentials. client-node
    // refuses http:// unless TLS checks are off, and plain http has none to turn off.
    kc.loadFromOptions({
      clusters: [{ name: 'api', server: opts.apiUrl, skipTLSVerify: opts.apiUrl.startsWith('http:') }],
      users: [{ name: 'anonymous' }],
      contexts: [{ name: 'api', cluster: 'api', user: 'anonymous' }],
      currentContext: 'api',
    });
    return kc;
  }
  const host = process.env['KUBERNETES_SERVICE_HOST'];
  const port = process.env['KUBERNETES_SERVICE_PORT'];
  if (!host || !port) {
    throw new ConfigError(
      'no kubeconfig file given and not running in a pod (KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are unset): ' +
        'give --kubeconfig-file, or run weft as a pod with a service account',
    );
  }
  if (!existsSync(SERVICE_ACCOUNT_TOKEN)) {
    throw new ConfigError(
      `running in a pod but ${SERVICE_ACCOUNT_TOKEN} is missing: give the pod a service account with automountServiceAccountToken, or give --kubeconfig-file`,
    );
  }
  kc.loadFromCluster();
  return kc;
}

/** A Kubernetes Status body's message, when the error carries one. */
function statusMessage(body: unknown): string | undefined {
  let doc = body;
  if (typeof body === 'string') {
    try {
      doc = JSON.parse(body);
    } catch {
      return body.trim() === '' ? undefined : body.trim().slice(0, 300);
    }
  }
  if (typeof doc === 'object' && doc !== null && typeof (doc as { message?: unknown }).message === 'string') return (doc as { message: string }).message;
  return undefined;
}

function httpStatus(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  const code = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

/** An API call: what it does (for messages) and the RBAC it needs. */
export interface ApiCall {
  /** "get node n1" */
  what: string;
  verb: 'get' | 'list' | 'watch' | 'patch';
  /** "nodes", "nodes/status", "pods" */
  resource: string;
  /** Set for namespaced resources. */
  namespace?: string;
}

/** Turns a client-node failure into a registry error naming the URL and, for 401/403, what to grant. */
export function apiError(server: string, call: ApiCall, err: unknown): Error {
  const status = httpStatus(err);
  const detail = err instanceof ApiException ? statusMessage(err.body) : undefined;
  const where = `Kubernetes API server ${server}`;
  if (status === 401) {
    return new RegistryUnavailableError(
      `${where} did not accept our credentials to ${call.what} (401 Unauthorized${detail ? `: ${detail}` : ''}): check the token or client certificate of the kubeconfig or service account`,
      { cause: err },
    );
  }
  if (status === 403) {
    const scope = call.namespace ? `in namespace ${call.namespace}` : 'at the cluster scope (a ClusterRole)';
    return new RegistryUnavailableError(
      `${where} forbids us to ${call.what} (403 Forbidden${detail ? `: ${detail}` : ''}): grant this service account the RBAC verb "${call.verb}" on resource "${call.resource}" ${scope}, ` +
        'as flannel\'s ClusterRole does (pods: get; nodes: get, list, watch; nodes/status: patch)',
      { cause: err },
    );
  }
  if (status !== undefined) {
    return new RegistryError(`${where} refused to ${call.what}: HTTP ${status}${detail ? `: ${detail}` : ''}`, { cause: err });
  }
  const e = err as { name?: string; code?: string; message?: string } | null;
  const msg = e?.message ?? String(err);
  if (e?.name === 'AbortError' || e?.name === 'TimeoutError') {
    return new RegistryUnavailableError(`${where} did not answer in time to ${call.what}: check that it is reachable from this node`, { cause: err });
  }
  if (e?.name === 'FetchError' || typeof e?.code === 'string') {
    return new RegistryUnavailableError(
      `${where} is unreachable (${call.what} failed: ${msg}): check the server URL of --kubeconfig-file (or, in a pod, KUBERNETES_SERVICE_HOST/PORT) and that the API server is running`,
      { cause: err },
    );
  }
  return new RegistryError(`${where}: could not ${call.what}: ${msg}`, { cause: err });
}

/** Per-request options: a Content-Type (client-node picks json-patch by default) and a deadline. */
function requestOptions(timeoutMs: number, contentType?: string): ConfigurationOptions<ObservableMiddleware> {
  const middleware: ObservableMiddleware = {
    pre: (ctx) => {
      if (contentType) ctx.setHeaderParam('Content-Type', contentType);
      ctx.setSignal(AbortSignal.timeout(timeoutMs));
      return new Observable(Promise.resolve(ctx));
    },
    post: (res) => new Observable(Promise.resolve(res)),
  };
  return { middleware: [middleware], middlewareMergeStrategy: 'append' };
}

/** One event of a node watch, as the API server streams it. */
export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR' | string;
  object: unknown;
}

export interface NodeWatch {
  /** Stops the watch; no callback is made afterwards. */
  stop(): void;
}

export class KubeApi {
  readonly server: string;
  private readonly core: CoreV1Api;
  private readonly watcher: Watch;

  constructor(
    kc: KubeConfig,
    private readonly timeoutMs: number,
  ) {
    this.server = kc.getCurrentCluster()?.server ?? '(no server)';
    this.core = kc.makeApiClient(CoreV1Api);
    this.watcher = new Watch(kc);
  }

  private async call<T>(call: ApiCall, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw apiError(this.server, call, err);
    }
  }

  /** The node, or null when the API server says it does not exist. */
  async readNode(name: string): Promise<V1Node | null> {
    try {
      return await this.call({ what: `get node ${name}`, verb: 'get', resource: 'nodes' }, () => this.core.readNode({ name }, requestOptions(this.timeoutMs)));
    } catch (err) {
      if (httpStatus((err as Error).cause) === 404) return null;
      throw err;
    }
  }

  async listNodes(): Promise<{ nodes: NodeLike[]; resourceVersion: string }> {
    const list = await this.call({ what: 'list nodes', verb: 'list', resource: 'nodes' }, () => this.core.listNode({}, requestOptions(this.timeoutMs)));
    return { nodes: list.items, resourceVersion: list.metadata?.resourceVersion ?? '' };
  }

  /** A strategic merge patch on nodes/{name}/status, as flannel sends both its annotations and its condition. */
  async patchNodeStatus(name: string, body: object, what: string): Promise<V1Node> {
    return this.call({ what, verb: 'patch', resource: 'nodes/status' }, () =>
      this.core.patchNodeStatus({ name, body }, requestOptions(this.timeoutMs, PatchStrategy.StrategicMergePatch)),
    );
  }

  /** spec.nodeName of a pod (flannel's POD_NAME/POD_NAMESPACE fallback). */
  async podNodeName(namespace: string, name: string): Promise<string> {
    const pod = await this.call({ what: `get pod ${namespace}/${name}`, verb: 'get', resource: 'pods', namespace }, () =>
      this.core.readNamespacedPod({ namespace, name }, requestOptions(this.timeoutMs)),
    );
    return pod.spec?.nodeName ?? '';
  }

  /**
   * Watches all nodes from `resourceVersion`. `onEvent` gets each event in order;
   * `onDone` is called once, with null when the server ended the stream (its
   * timeoutSeconds) and with a registry error when the watch failed.
   */
  watchNodes(resourceVersion: string, timeoutSeconds: number, onEvent: (ev: WatchEvent) => void, onDone: (err: Error | null) => void): NodeWatch {
    let stopped = false;
    let controller: AbortController | undefined;
    const call: ApiCall = { what: `watch nodes from resourceVersion ${resourceVersion}`, verb: 'watch', resource: 'nodes' };
    const done = (err: unknown): void => {
      if (stopped) return;
      stopped = true;
      onDone(err === null || err === undefined ? null : apiError(this.server, call, err));
    };
    // Watch.watch resolves once the response headers are in; until then there is
    // nothing to abort, so a stop before that aborts as soon as it resolves.
    this.watcher
      .watch(
        '/api/v1/nodes',
        { resourceVersion, allowWatchBookmarks: true, timeoutSeconds },
        (type, object) => {
          if (!stopped) onEvent({ type, object });
        },
        done,
      )
      .then(
        (c) => {
          controller = c;
          if (stopped) c.abort();
        },
        done, // e.g. the credentials could not be read
      );
    return {
      stop: () => {
        stopped = true;
        controller?.abort();
      },
    };
  }
}
