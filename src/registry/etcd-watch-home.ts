// Which etcd member the lease watch lives on, with several --etcd-endpoints, and
// how weft notices that member going silent.
//
// etcd3's pooled client (etcd-endpoints.ts) picks a random member for a new watch
// stream, and a stream "succeeds" as soon as it is opened: a member that is frozen
// (SIGSTOP, a partition, a stalled host) accepts the TCP connection in its kernel
// and answers nothing, so a watch opened there waits for grpc's connect timeout
// (20 s) while keepalive, which runs only on an established connection, cannot
// help. Seen in CI: a frozen leader, the watch re-opened on it, a lease written
// 17 s earlier still unseen. And a circuit resting after a timeout lets one call
// through to probe it; when that call is the watch, it "succeeds" and closes the
// circuit on the frozen member.
//
// So the watch gets a home of its own, chosen rather than drawn:
//   - one client per endpoint, used for the watch and its probes only;
//   - a home is a member that answers a probe (a serializable read, carrying
//     `hasleader`, so a member cut off from its leader refuses) within
//     WATCH_PROBE_MS; the first to answer wins, the member just left last;
//   - a watch that is not created within WATCH_CONNECT_MS, or whose member fails a
//     probe after WATCH_IDLE_MS without news, or that etcd3 reports disconnected,
//     is lost: its client is closed (a fresh connection next time, not one in
//     grpc's reconnect backoff), and the watch moves on from the revision it had
//     reached (etcd.ts relists, then picks a new home).
// Cost: one member-local read per WATCH_IDLE_MS per node while no lease changes,
// about what flannel's own lease renewals and kubelets' node heartbeats cost.
// With one endpoint there is nowhere to move: the pooled client, as before.
import type { Etcd3 } from 'etcd3';

/** A probe's deadline: a healthy member answers a member-local read in milliseconds. */
export const WATCH_PROBE_MS = 1500;
/** A new watch is created (etcd's "created" answer) within this, or its member is left. */
export const WATCH_CONNECT_MS = 2000;
/** With no watch news for this long, the watch's member is probed. */
export const WATCH_IDLE_MS = 3000;

export class WatchHomes {
  private readonly clients = new Map<string, Etcd3>();
  private closed = false;

  /**
   * @param make a client for one endpoint (its calls' deadline WATCH_PROBE_MS)
   * @param probeKey a key to read (the network config's): its value does not matter
   */
  constructor(
    readonly endpoints: readonly string[],
    private readonly make: (endpoint: string) => Etcd3,
    private readonly probeKey: string,
  ) {}

  client(endpoint: string): Etcd3 {
    if (this.closed) throw new Error('the etcd registry is closed');
    let c = this.clients.get(endpoint);
    if (c === undefined) {
      c = this.make(endpoint);
      this.clients.set(endpoint, c);
    }
    return c;
  }

  /** undefined when the member answered with a leader; else why not. */
  async probe(endpoint: string): Promise<string | undefined> {
    try {
      await this.client(endpoint).get(this.probeKey).serializable(true).exec();
      return undefined;
    } catch (err) {
      return err instanceof Error ? err.message.replace(/:\s*$/, '') : String(err);
    }
  }

  /**
   * The endpoint that answers a probe first, all probed at once; `leaving` only if
   * no other answers. undefined when none answers (the caller backs off).
   */
  async pick(leaving?: string): Promise<string | undefined> {
    const others = this.endpoints.filter((e) => e !== leaving);
    const first = await firstAnswering(others, (e) => this.probe(e));
    if (first !== undefined || leaving === undefined || !this.endpoints.includes(leaving)) return first;
    return (await this.probe(leaving)) === undefined ? leaving : undefined;
  }

  /** Closes an endpoint's client: its streams end, the next call opens a fresh connection. */
  discard(endpoint: string): void {
    const c = this.clients.get(endpoint);
    this.clients.delete(endpoint);
    c?.close();
  }

  close(): void {
    this.closed = true;
    for (const e of [...this.clients.keys()]) this.discard(e);
  }
}

/** The first of `endpoints` whose probe answers undefined (success), or undefined when all fail. */
function firstAnswering(endpoints: readonly string[], probe: (e: string) => Promise<string | undefined>): Promise<string | undefined> {
  if (endpoints.length === 0) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    let pending = endpoints.length;
    for (const e of endpoints) {
      void probe(e).then((why) => {
        pending--;
        if (why === undefined) resolve(e);
        else if (pending === 0) resolve(undefined);
      });
    }
  });
}
