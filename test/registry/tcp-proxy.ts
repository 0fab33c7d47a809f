// A loopback TCP proxy that a test can cut and restore, to disconnect one client
// (e.g. a registry's etcd watch) while others keep talking to the server directly,
// or freeze and thaw, to make it a member that is there and says nothing.
import { connect, createServer, type Socket } from 'node:net';

export interface TcpProxy {
  readonly endpoint: string;
  /** Drops every open connection and refuses new ones. */
  cut(): void;
  restore(): void;
  /** Forwards nothing either way and leaves new connections unanswered, sockets open: a frozen (SIGSTOP) member. */
  freeze(): void;
  /** Forwards again, what was held first. */
  thaw(): void;
  close(): Promise<void>;
}

/** A client connection and, once forwarding started, its upstream. */
type Pair = { client: Socket; upstream: Socket | null };

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const pairs = new Set<Pair>();
  let open = true;
  let frozen = false;
  const track = (s: Socket): void => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
  };
  const forward = (pair: Pair): void => {
    const { client } = pair;
    if (pair.upstream === null) {
      const upstream = connect(targetPort, '127.0.0.1');
      track(upstream);
      pair.upstream = upstream;
      client.once('close', () => upstream.destroy());
      upstream.once('close', () => client.destroy());
    }
    client.pipe(pair.upstream).pipe(client);
    client.resume();
    pair.upstream.resume();
  };
  const server = createServer((client) => {
    track(client);
    if (!open) {
      client.destroy();
      return;
    }
    const pair: Pair = { client, upstream: null };
    pairs.add(pair);
    client.once('close', () => pairs.delete(pair));
    if (frozen) client.pause();
    else forward(pair);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    cut() {
      open = false;
      for (const s of sockets) s.destroy();
    },
    restore() {
      open = true;
    },
    freeze() {
      frozen = true;
      for (const { client, upstream } of pairs) {
        client.unpipe();
        upstream?.unpipe();
        client.pause();
        upstream?.pause();
      }
    },
    thaw() {
      frozen = false;
      for (const pair of pairs) forward(pair);
    },
    async close() {
      open = false;
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
