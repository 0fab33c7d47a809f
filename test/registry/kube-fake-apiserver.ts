// A fake Kubernetes API server for the kube subnet manager's tests.
//
// THIS IS THE ONE MOCK IN THE PROJECT. Every other registry test runs against
// the real thing (etcd, files); a Kubernetes API server cannot run here (no
// cluster, no kube-apiserver binary, no container runtime), so this file
// stands in for one. It implements only what weft uses, with the semantics of
// the real server that weft relies on:
//   GET   /api/v1/nodes                      NodeList with metadata.resourceVersion
//   GET   /api/v1/nodes?watch=true&resourceVersion=N
//         newline-delimited watch events after N (ADDED/MODIFIED/DELETED), ERROR
//         with a 410 Status when N is older than the compaction floor, honours
//         timeoutSeconds; BOOKMARK is not sent
//   GET   /api/v1/nodes/{name}
//   PATCH /api/v1/nodes/{name}               metadata and spec (status kept, like nodeStrategy)
//   PATCH /api/v1/nodes/{name}/status        metadata and status (spec kept, like nodeStatusStrategy)
//         Content-Type strategic-merge-patch+json (lists under status.conditions and
//         status.addresses merged by "type") or merge-patch+json (RFC 7386);
//         anything else is 415, as the real server refuses a JSON object as a json-patch
//   GET   /api/v1/namespaces/{ns}/pods/{name}
// Every write bumps one global resourceVersion, as etcd revisions do; a patch
// that changes nothing writes nothing. With a token set, requests without
// "Authorization: Bearer <token>" get 401; forbid() makes a verb on a resource 403.
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

type Json = Record<string, unknown>;

export interface FakeNodeInit {
  podCIDR?: string;
  podCIDRs?: string[];
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  conditions?: Json[];
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  contentType: string | undefined;
  body: unknown;
}

interface LiveWatch {
  res: ServerResponse;
  /** Stalled watches receive nothing more (a stream the client no longer hears from). */
  stalled: boolean;
  timer: NodeJS.Timeout | undefined;
}

interface HistoryEntry {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: Json;
}

const clone = <T>(v: T): T => structuredClone(v);
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Lists merged by key in a strategic merge patch of a Node (its patchMergeKey tags). */
const MERGE_KEYS: Record<string, string> = { 'status.conditions': 'type', 'status.addresses': 'type' };

function mergePatch(target: Json, patch: Json, strategic: boolean, path = ''): void {
  for (const [key, value] of Object.entries(patch)) {
    const here = path ? `${path}.${key}` : key;
    if (value === null) {
      delete target[key];
    } else if (isObj(value)) {
      const cur = target[key];
      const obj = isObj(cur) ? cur : {};
      mergePatch(obj, value, strategic, here);
      target[key] = obj;
    } else if (strategic && Array.isArray(value) && MERGE_KEYS[here] !== undefined && Array.isArray(target[key])) {
      const k = MERGE_KEYS[here]!;
      const list = target[key] as Json[];
      for (const item of value as Json[]) {
        const i = list.findIndex((e) => e[k] === item[k]);
        if (i >= 0) mergePatch(list[i]!, item, strategic, here);
        else list.push(clone(item));
      }
    } else {
      target[key] = clone(value);
    }
  }
}

function status(code: number, reason: string, message: string): Json {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

export class FakeApiServer {
  readonly requests: RecordedRequest[] = [];
  private readonly nodes = new Map<string, Json>();
  private readonly pods = new Map<string, Json>();
  private readonly history: HistoryEntry[] = [];
  private readonly watches = new Set<LiveWatch>();
  private readonly forbidden = new Set<string>();
  private rv = 100;
  private compactedRv = 0;
  private uid = 0;

  private constructor(
    private readonly server: Server,
    readonly url: string,
    readonly token: string | undefined,
  ) {}

  /** Starts on 127.0.0.1, a random port. */
  static async start(opts: { token?: string } = {}): Promise<FakeApiServer> {
    let fake: FakeApiServer | undefined;
    const server = createServer((req, res) => fake!.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    fake = new FakeApiServer(server, `http://127.0.0.1:${port}`, opts.token);
    return fake;
  }

  /**
   * Writes a kubeconfig for this server and returns its path. client-node only
   * talks plain http when insecure-skip-tls-verify is set (there is no TLS to verify).
   */
  writeKubeconfig(dir: string, token = this.token): string {
    const path = join(dir, `kubeconfig-${this.url.replace(/\W/g, '_')}.json`);
    const user = token === undefined ? {} : { token };
    writeFileSync(
      path,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'fake', cluster: { server: this.url, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'weft', user }],
        contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'weft' } }],
        'current-context': 'fake',
      }),
    );
    return path;
  }

  // ---- what tests do to the cluster ----

  get resourceVersion(): number {
    return this.rv;
  }

  get openWatches(): number {
    return this.watches.size;
  }

  /** A copy of the node as stored, or undefined. */
  node(name: string): Json | undefined {
    const n = this.nodes.get(name);
    return n && clone(n);
  }

  addNode(name: string, init: FakeNodeInit = {}): Json {
    if (this.nodes.has(name)) throw new Error(`node ${name} exists`);
    const node: Json = {
      kind: 'Node',
      apiVersion: 'v1',
      metadata: {
        name,
        uid: `uid-${++this.uid}`,
        labels: { 'kubernetes.io/hostname': name, ...init.labels },
        annotations: { ...init.annotations },
        creationTimestamp: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      },
      spec: {
        ...(init.podCIDR !== undefined ? { podCIDR: init.podCIDR } : {}),
        ...(init.podCIDRs !== undefined ? { podCIDRs: init.podCIDRs } : init.podCIDR !== undefined ? { podCIDRs: [init.podCIDR] } : {}),
      },
      status: {
        conditions: init.conditions ?? [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' }],
        addresses: [{ type: 'Hostname', address: name }],
      },
    };
    this.write('ADDED', node);
    return clone(node);
  }

  /** Changes a node in place (as another client would) and emits MODIFIED. */
  modifyNode(name: string, change: (node: { metadata: Json & { annotations: Record<string, string> }; spec: Json; status: Json }) => void): void {
    const node = this.nodes.get(name);
    if (!node) throw new Error(`no node ${name}`);
    const copy = clone(node) as { metadata: Json & { annotations: Record<string, string> }; spec: Json; status: Json };
    copy.metadata.annotations ??= {};
    change(copy);
    this.write('MODIFIED', copy as unknown as Json);
  }

  deleteNode(name: string): void {
    const node = this.nodes.get(name);
    if (!node) throw new Error(`no node ${name}`);
    this.nodes.delete(name);
    this.rv += 1;
    const object = clone(node);
    (object['metadata'] as Json)['resourceVersion'] = String(this.rv);
    this.record({ rv: this.rv, type: 'DELETED', object });
  }

  addPod(namespace: string, name: string, nodeName: string): void {
    this.pods.set(`${namespace}/${name}`, { kind: 'Pod', apiVersion: 'v1', metadata: { name, namespace }, spec: { nodeName } });
  }

  /** Makes `verb` on `resource` ("nodes", "nodes/status", "pods") answer 403, as RBAC would. */
  forbid(verb: string, resource: string): void {
    this.forbidden.add(`${verb} ${resource}`);
  }

  permit(verb: string, resource: string): void {
    this.forbidden.delete(`${verb} ${resource}`);
  }

  /** Forgets history up to now: watches from an older resourceVersion get 410 Gone. */
  compact(): void {
    this.compactedRv = this.rv;
    this.history.splice(0);
  }

  /** Open watches stop receiving events (the stream stays open); changes made now are missed. */
  stallWatches(): void {
    for (const w of this.watches) w.stalled = true;
  }

  /** Ends every open watch with an ERROR event carrying a 410 Status, as after a compaction. */
  expireWatches(): void {
    for (const w of [...this.watches]) {
      this.send(w, { type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${this.compactedRv} (${this.rv})`) }, true);
      this.endWatch(w);
    }
  }

  /** Ends every open watch cleanly, as the server does when timeoutSeconds runs out. */
  closeWatches(): void {
    for (const w of [...this.watches]) this.endWatch(w);
  }

  async stop(): Promise<void> {
    for (const w of [...this.watches]) w.res.destroy();
    this.watches.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---- internals ----

  private write(type: 'ADDED' | 'MODIFIED', node: Json): void {
    const meta = node['metadata'] as Json;
    this.rv += 1;
    meta['resourceVersion'] = String(this.rv);
    this.nodes.set(meta['name'] as string, node);
    this.record({ rv: this.rv, type, object: clone(node) });
  }

  private record(entry: HistoryEntry): void {
    this.history.push(entry);
    for (const w of this.watches) this.send(w, { type: entry.type, object: entry.object });
  }

  private send(w: LiveWatch, event: Json, force = false): void {
    if (w.stalled && !force) return;
    w.res.write(`${JSON.stringify(event)}\n`);
  }

  private endWatch(w: LiveWatch): void {
    clearTimeout(w.timer);
    this.watches.delete(w);
    w.res.end();
  }

  private reply(res: ServerResponse, code: number, body: unknown): void {
    res.writeHead(code, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString();
    let body: unknown = text;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      /* keep the text */
    }
    const contentType = req.headers['content-type']?.split(';')[0]?.trim();
    this.requests.push({ method: req.method ?? '', path: url.pathname, query: url.searchParams, contentType, body });

    if (this.token !== undefined && req.headers.authorization !== `Bearer ${this.token}`) {
      return this.reply(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
    }
    const deny = (verb: string, resource: string, name?: string): boolean => {
      if (!this.forbidden.has(`${verb} ${resource}`)) return false;
      const what = `${resource.split('/')[0]}${name ? ` "${name}"` : ''}`;
      this.reply(
        res,
        403,
        status(
          403,
          'Forbidden',
          `${what} is forbidden: User "system:serviceaccount:kube-flannel:flannel" cannot ${verb} resource "${resource}" in API group "" at the cluster scope`,
        ),
      );
      return true;
    };

    const parts = url.pathname.split('/').filter(Boolean); // api v1 nodes [name] [status]
    if (parts[0] !== 'api' || parts[1] !== 'v1') return this.reply(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));

    if (parts[2] === 'namespaces' && parts[4] === 'pods' && parts.length === 6 && req.method === 'GET') {
      if (deny('get', 'pods', parts[5])) return;
      const pod = this.pods.get(`${parts[3]}/${parts[5]}`);
      return pod ? this.reply(res, 200, pod) : this.reply(res, 404, status(404, 'NotFound', `pods "${parts[5]}" not found`));
    }
    if (parts[2] !== 'nodes') return this.reply(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
    const name = parts[3];

    if (name === undefined && req.method === 'GET') {
      const watch = url.searchParams.get('watch');
      if (watch === 'true' || watch === '1') {
        if (deny('watch', 'nodes')) return;
        return this.startWatch(url, res);
      }
      if (deny('list', 'nodes')) return;
      return this.reply(res, 200, { kind: 'NodeList', apiVersion: 'v1', metadata: { resourceVersion: String(this.rv) }, items: [...this.nodes.values()] });
    }
    if (name !== undefined && parts.length === 4 && req.method === 'GET') {
      if (deny('get', 'nodes', name)) return;
      const node = this.nodes.get(name);
      return node ? this.reply(res, 200, node) : this.reply(res, 404, status(404, 'NotFound', `nodes "${name}" not found`));
    }
    if (name !== undefined && req.method === 'PATCH' && (parts.length === 4 || (parts.length === 5 && parts[4] === 'status'))) {
      const sub = parts.length === 5;
      if (deny('patch', sub ? 'nodes/status' : 'nodes', name)) return;
      if (contentType !== 'application/strategic-merge-patch+json' && contentType !== 'application/merge-patch+json') {
        return this.reply(res, 415, status(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got ${contentType})`));
      }
      if (!isObj(body)) return this.reply(res, 400, status(400, 'BadRequest', 'the patch is not a JSON object'));
      const node = this.nodes.get(name);
      if (!node) return this.reply(res, 404, status(404, 'NotFound', `nodes "${name}" not found`));
      const next = clone(node);
      mergePatch(next, body, contentType === 'application/strategic-merge-patch+json');
      // What the strategies reset: the other half of the object, and identity fields.
      if (sub) next['spec'] = clone(node['spec']);
      else next['status'] = clone(node['status']);
      const meta = next['metadata'] as Json;
      const old = node['metadata'] as Json;
      for (const k of ['name', 'uid', 'resourceVersion', 'creationTimestamp']) meta[k] = old[k];
      if (JSON.stringify(next) === JSON.stringify(node)) return this.reply(res, 200, node); // no write
      this.write('MODIFIED', next);
      return this.reply(res, 200, next);
    }
    return this.reply(res, 405, status(405, 'MethodNotAllowed', `${req.method} is not supported on ${url.pathname}`));
  }

  private startWatch(url: URL, res: ServerResponse): void {
    const from = Number(url.searchParams.get('resourceVersion') ?? '0');
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    const w: LiveWatch = { res, stalled: false, timer: undefined };
    if (from !== 0 && from < this.compactedRv) {
      // What the real server does for a resourceVersion etcd no longer has.
      this.send(w, { type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${from} (${this.compactedRv})`) });
      res.end();
      return;
    }
    const timeout = Number(url.searchParams.get('timeoutSeconds') ?? '0');
    if (timeout > 0) w.timer = setTimeout(() => this.endWatch(w), timeout * 1000);
    res.on('close', () => {
      clearTimeout(w.timer);
      this.watches.delete(w);
    });
    this.watches.add(w);
    for (const e of this.history) if (e.rv > from) this.send(w, { type: e.type, object: e.object });
  }
}
