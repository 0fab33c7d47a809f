// Who may use the status socket's private endpoints (/status, /trace,
// /capture: lease and peer data, and a stream of pod traffic): root, or a
// member of --status-group. The check is SO_PEERCRED on the accepted
// connection (the kernel's record of the client, not anything it sends), so
// the socket can stay abstract: an abstract socket has no file mode, and
// anyone in the network namespace can connect to it.
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { peerCredentials, type PeerCred } from '../sys/peercred.js';
import { FlagError } from './flags.js';

export const PRIVATE_ENDPOINTS = ['status', 'trace', 'capture'] as const;
export type PrivateEndpoint = (typeof PRIVATE_ENDPOINTS)[number];

/** --status-group: a gid, or a group name looked up in /etc/group. */
export function resolveGroup(text: string, groupFile = '/etc/group'): number {
  if (/^\d+$/.test(text)) return Number(text);
  let lines: string[] = [];
  try {
    lines = readFileSync(groupFile, 'utf8').split('\n');
  } catch (e) {
    throw new FlagError(`--status-group is "${text}": cannot read ${groupFile} (${(e as Error).message}); give the gid instead`);
  }
  for (const line of lines) {
    const [name, , gid] = line.split(':');
    if (name === text && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  throw new FlagError(`--status-group is "${text}": no such group in ${groupFile}; give an existing group name or a gid`);
}

export type Verdict = { ok: true; cred: PeerCred } | { ok: false; why: string };

export class LocalAccess {
  /** Refusals by endpoint, for weft_local_refused_total. */
  readonly refused: Record<PrivateEndpoint, number> = { status: 0, trace: 0, capture: 0 };
  /** Connections closed at once: too many open from clients that are not root or --status-group. */
  crowded = 0;
  private readonly verdicts = new WeakMap<Socket, Verdict>();

  constructor(readonly group: number | null) {}

  /** The verdict for one connection, asked once per connection (credentials are fixed at connect()). */
  check(socket: Socket): Verdict {
    let v = this.verdicts.get(socket);
    if (v === undefined) {
      v = this.decide(socket);
      this.verdicts.set(socket, v);
    }
    return v;
  }

  private decide(socket: Socket): Verdict {
    const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (typeof fd !== 'number' || fd < 0) return { ok: false, why: 'cannot tell who is connected (no file descriptor)' };
    let cred: PeerCred;
    try {
      cred = peerCredentials(fd);
    } catch (e) {
      return { ok: false, why: `cannot tell who is connected (${(e as Error).message})` };
    }
    if (cred.uid === 0) return { ok: true, cred };
    const g = this.group;
    if (g !== null && (cred.gid === g || cred.groups.includes(g))) return { ok: true, cred };
    const need = g === null ? 'root' : `root or group ${g} (--status-group)`;
    return { ok: false, why: `needs ${need}; this client is uid ${cred.uid} gid ${cred.gid}` };
  }

  count(endpoint: PrivateEndpoint): void {
    this.refused[endpoint]++;
  }
}

/**
 * The client's side of the same check: the CLI talks to a status socket only
 * if the process serving it is root (or the CLI's own user). An abstract name
 * can be bound by anyone in the network namespace, so without this a squatter
 * could hand `weft status` a made-up lease table or `weft capture` a forged pcap.
 * Returns why not, or null when the server may be trusted.
 */
export function untrustedServer(socket: Socket): string | null {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return 'cannot tell who serves the status socket';
  let cred: PeerCred;
  try {
    cred = peerCredentials(fd);
  } catch (e) {
    return `cannot tell who serves the status socket (${(e as Error).message})`;
  }
  const me = process.getuid?.() ?? 0;
  if (cred.uid === 0 || cred.uid === me) return null;
  return `the process serving the status socket (pid ${cred.pid}) runs as uid ${cred.uid}, not root: it is not weft (a squatter?); not trusting its answer`;
}
