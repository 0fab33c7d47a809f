// What a backend is: everything that differs between vxlan, ipip and udp (and
// the backends to come), declared in one module per backend (vxlan.ts,
// ipip.ts, udp.ts) and looked up by name in index.ts. flannel's shape: one
// package per backend behind one interface, a registry of them.
//
// A backend declares; the others do the work: registry/config.ts reads the
// Backend keys through BackendKeys, daemon/host.ts opens the underlay kind of
// socket, the workers call encap/decap (native-free/encap/, decap/) on every
// packet, lease admission checks the peer data it says peers carry.
//
// Dependencies: engine and sys below, registry, data plane and daemon above.
import type { DecapContext } from '../../native-free/decap/context.js';
import type { EncapContext } from '../../native-free/encap/context.js';

/** Encapsulates b[off, off+len) in place (the engine's encap functions). */
export type Encap = (ctx: EncapContext, b: Uint8Array, off: number, len: number) => number;
/** Decapsulates b[off, off+len) received from underlay address src. */
export type Decap = (ctx: DecapContext, b: Uint8Array, off: number, len: number, src: number) => number;
/** The same for a datagram received over the IPv6 underlay, from the 16-byte address src[srcOff]. */
export type Decap6 = (ctx: DecapContext, b: Uint8Array, off: number, len: number, src: Uint8Array, srcOff: number) => number;

/**
 * The keys of the config's Backend object, as registry/config.ts reads them:
 * flannel's names, matched case-insensitively; a value of the wrong kind or
 * range throws a ConfigError naming "Backend.<key>".
 */
export interface BackendKeys {
  int(key: string, dflt: number, min: number, max: number, what: string): number;
  bool(key: string, dflt: boolean): boolean;
}

/**
 * The underlay sockets the backend sends and receives on (daemon/host.ts opens them):
 *   udp       one UDP socket per worker on the backend's port, SO_REUSEPORT,
 *             UDP_SEGMENT / UDP_GRO where the kernel has them;
 *   ip-in-ip  one raw IPPROTO_IPIP socket, read by worker 0, sent on by all;
 *   none      no tunnel at all (host-gw): no TUN, no socket, no worker; the
 *             kernel forwards, through one route per peer (daemon/kernel-routes.ts).
 */
export type UnderlayKind = 'udp' | 'ip-in-ip' | 'none';

/** What the status line and `weft trace` show of a running node's backend. */
export interface BackendFacts {
  vni: number;
  port: number;
  /**
   * `weft trace`: the outer UDP source port the traced packet's flow leaves
   * from, one of the node's send-only sockets (--source-ports); absent when
   * every datagram leaves from `port`.
   */
  sourcePort?: number;
}

export interface Backend<C extends { Type: string } = { Type: string }> {
  /** The config's Backend.Type and the leases' BackendType. */
  readonly type: C['Type'];
  /** One line for --help and the README. */
  readonly summary: string;
  /** Bytes of outer headers in front of an inner IPv4 packet: tunnel MTU = base MTU − overhead (flannel's figures). */
  readonly overhead: number;
  /** Of those, the bytes the encapsulation writes itself in front of the inner packet (the kernel socket adds the rest). */
  readonly encapBytes: number;
  readonly underlay: UnderlayKind;
  /** The UDP port when the config sets none (vxlan: weft's 4789, see vxlan.ts); 0 without UDP. */
  readonly defaultPort: number;
  /**
   * Where decap starts in an outer packet whose IPv4 header is at 0: behind
   * what the kernel socket strips on receive (28: IPv4 and UDP), or 0 when
   * the socket hands over the outer IPv4 header (raw ip-in-ip).
   */
  readonly receivedAt: number;
  readonly encap: Encap;
  readonly decap: Decap;
  /**
   * decap over an IPv6 underlay (dual-stack, EnableIPv6), or null when the
   * backend cannot run over one (ipip: IP protocol 4 is IPv4 in IPv4;
   * host-gw: no tunnel). Over IPv6 the outer header is 20 bytes longer: the
   * tunnel MTU there is the base MTU − overhead − 20.
   */
  readonly decap6: Decap6 | null;
  /** Peers publish a VTEP MAC and VNI in BackendData (vxlan): lease admission requires a unicast MAC, unique, and the network's VNI. */
  readonly vtepPeers: boolean;

  /** The Backend object's keys, checked, flannel's defaults filled in. */
  parseConfig(keys: BackendKeys): C;
  /** The UDP port datagrams go to and are received on; 0 without UDP. */
  port(c: C): number;
  /** Backend.DirectRouting asked for, a key of vxlan and ipip (flannel's): on-link peers get a kernel route instead of the tunnel. */
  directRouting(c: C): boolean;
  /** The VXLAN network identifier; 0 where there is none. */
  vni(c: C): number;
  /** Backend.MTU is a key of this backend (vxlan): the MTU the tunnel MTU is taken from instead of the underlay interface's. */
  readonly mtuKey: boolean;
  /** That MTU when the config sets it, else null. */
  configuredMtu(c: C): number | null;
  /** BackendData of this node's lease, in flannel's layout; undefined when the backend publishes none. */
  leaseData(c: C, vtepMac: string): Record<string, unknown> | undefined;
  /** Config keys weft reads but does not act on, or defaults that differ from flannel's: one log line each. */
  notes(c: C): Array<{ fields: Record<string, unknown>; message: string }>;
  /** "vxlan, VNI 1, port 4789" for `weft status`. */
  describe(f: BackendFacts): string;
  /** `weft trace`: the headers between the outer IPv4 header and the inner packet, b[at…), one line each. */
  traceHeaders(b: Uint8Array, at: number): string[];
  /** `weft trace`: what the kernel socket does on send. */
  traceSocket(f: BackendFacts): string;
  /** `weft trace`: what the receiver checks, in words. */
  traceChecks(from: string, vtepMac: string, f: BackendFacts): string;
}
