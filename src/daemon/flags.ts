// `weft run` flags, named as flanneld names them where flanneld has them.
// Parsing only: nothing here touches the host. Every error names the flag and
// the fix, and is raised before the daemon changes anything.
// The command line follows Go's flag package, as flanneld's does (go-flags.ts).
import { parseIPv6 } from '../../native-free/addr.js';
import { goRegex } from './iface-select.js';
import { defaultWorkers } from './cpu-quota.js';
import { FlagError, goBool, levelForVerbosity, parseGoFlags } from './go-flags.js';

export { FlagError };

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

export interface RunFlags {
  etcdEndpoints: string[];
  etcdPrefix: string;
  etcdCafile: string | null;
  etcdCertfile: string | null;
  etcdKeyfile: string | null;
  etcdUsername: string | null;
  etcdPassword: string | null;
  registryFile: string;
  /** --iface, several allowed: names or IPv4 addresses, tried in order. */
  ifaces: string[];
  ifaceRegexes: string[];
  ifaceCanReach: string | null;
  publicIp: string | null;
  /** --public-ipv6: with EnableIPv6, the IPv6 address other nodes send to (default: the interface's). */
  publicIpv6: string | null;
  ipMasq: boolean;
  ipMasqFullyRandomDisable: boolean;
  ipBlackholeRoute: boolean;
  iptablesResyncSeconds: number;
  iptablesForwardRules: boolean;
  subnetFile: string;
  stateDir: string;
  healthzIp: string;
  healthzPort: number;
  workers: number;
  logLevel: LogLevel;
  acceptUnknownPeers: boolean;
  /** Anti-spoofing on decapsulation: inner source of the sending node, inner destination of this node. */
  spoofCheck: boolean;
  /** Most peer subnets (route table) and peer nodes (peer table). */
  tableCapacity: number;
  tunName: string;
  renewMarginMinutes: number;
  statusSocket: string;
  /** --status-group: besides root, who may use /status, /trace, /capture (a name or gid; resolved at start). */
  statusGroup: string | null;
  kubeSubnetMgr: boolean;
  kubeconfigFile: string | null;
  kubeApiUrl: string | null;
  kubeAnnotationPrefix: string;
  netConfigPath: string;
  setNodeNetworkUnavailable: boolean;
  /** Offloads asked for; each also falls back on its own when the kernel refuses it. */
  offload: OffloadFlags;
  /** --source-ports: send-only sockets whose ports the outer UDP source port is picked from by inner flow (vxlan, udp); 0 or 1: the backend's port only. */
  sourcePorts: number;
  nodeName: string | null;
  podName: string | null;
  podNamespace: string | null;
  /** Flags accepted but ignored (klog's), to be logged once the daemon has a logger. */
  warnings: string[];
}

export interface OffloadFlags {
  /** IFF_VNET_HDR + TUNSETOFFLOAD: TCP super-packets and partial checksums from the TUN, coalesced (GRO) writes to it. */
  tun: boolean;
  /** UDP_SEGMENT: one send per super-packet's segments (vxlan, udp). */
  udpGso: boolean;
  /** UDP_GRO: the kernel hands coalesced datagrams to the socket (vxlan, udp). */
  udpGro: boolean;
}

interface FlagSpec {
  type: 'string' | 'boolean';
  /** May be given several times (flanneld's --iface, --iface-regex). */
  multiple?: boolean;
  default?: string | boolean;
  help: string;
}

/** Most --source-ports: a few suffice for ECMP and RSS to spread flows; each is one fd, and one sendmmsg vector per worker. */
export const MAX_SOURCE_PORTS = 64;
/**
 * --source-ports by default: 8 ports spread flows over 8 paths or RSS queues
 * (more than most underlays have), at 8 fds per node; a round of a worker
 * makes at most one sendmmsg per port that has something to send.
 */
export const DEFAULT_SOURCE_PORTS = 8;

export const RUN_FLAGS: Record<string, FlagSpec> = {
  'etcd-endpoints': { type: 'string', default: '', help: 'comma-separated etcd endpoints; empty: the local file registry (--registry-file)' },
  'etcd-prefix': { type: 'string', default: '/coreos.com/network', help: 'etcd prefix of the network config and subnet leases' },
  'etcd-cafile': { type: 'string', help: 'CA certificate to verify etcd with (TLS)' },
  'etcd-certfile': { type: 'string', help: 'client certificate for etcd (TLS)' },
  'etcd-keyfile': { type: 'string', help: 'client key for etcd (TLS)' },
  'etcd-username': { type: 'string', help: 'username for etcd authentication' },
  'etcd-password': { type: 'string', help: 'password for etcd authentication (prefer FLANNELD_ETCD_PASSWORD / WEFT_ETCD_PASSWORD to keep it out of ps)' },
  'registry-file': { type: 'string', default: '/var/lib/weft/registry.json', help: 'the registry used when no etcd endpoint is given (one-machine labs)' },
  iface: {
    type: 'string',
    multiple: true,
    help: 'interface (name or IPv4 address) that carries the overlay; may be given several times: the first that matches wins (default: the one of the default route)',
  },
  'iface-regex': {
    type: 'string',
    multiple: true,
    help: 'regular expression matched against every IPv4 address, then every interface name; may be given several times; tried after every --iface',
  },
  'iface-can-reach': { type: 'string', help: 'use the interface of the route to this IPv4 address (as `ip route get`); tried after --iface and --iface-regex' },
  'public-ip': { type: 'string', help: 'IPv4 address other nodes send to (default: the address of --iface)' },
  'public-ipv6': { type: 'string', help: 'with "EnableIPv6": true, the IPv6 address other nodes send to (default: the IPv6 address of the interface)' },
  'ip-masq': { type: 'boolean', default: false, help: 'masquerade traffic from pods to outside the cluster Network (iptables nat FLANNEL-POSTRTG, as flanneld); sets FLANNEL_IPMASQ=true' },
  'ip-masq-fully-random-disable': { type: 'boolean', default: false, help: 'with --ip-masq, MASQUERADE without --random-fully' },
  'ip-blackhole-route': {
    type: 'boolean',
    default: false,
    help: "add a blackhole route for this node's subnet, checked every --iptables-resync seconds and left on exit (as flanneld; for CNI set-ups without the bridge plugin, such as Canal)",
  },
  'iptables-resync': { type: 'string', default: '5', help: 'check the iptables rules every this many seconds and restore missing ones (1-3600)' },
  'iptables-forward-rules': {
    type: 'boolean',
    default: true,
    help: 'accept forwarding to and from the cluster Network (iptables filter FLANNEL-FWD, as flanneld); --iptables-forward-rules=false turns it off',
  },
  'subnet-file': { type: 'string', default: '/run/flannel/subnet.env', help: 'where to write the subnet file the CNI plugin reads' },
  'state-dir': { type: 'string', default: '/var/lib/weft', help: 'where this node keeps its VTEP MAC across restarts' },
  'healthz-ip': { type: 'string', default: '0.0.0.0', help: 'address of /healthz, /readyz and /metrics' },
  'healthz-port': { type: 'string', default: '0', help: 'port of /healthz, /readyz and /metrics (0: off)' },
  workers: { type: 'string', help: 'data-plane worker threads (default: number of cores, fewer under a container CPU limit)' },
  'log-level': { type: 'string', default: 'info', help: `one of ${LOG_LEVELS.join(', ')}` },
  'kube-subnet-mgr': {
    type: 'boolean',
    default: false,
    help: "take the subnet from this node's spec.podCIDR and publish the lease as node annotations (Kubernetes API), as flanneld does, instead of etcd or --registry-file; the node is NODE_NAME, or the node of POD_NAME/POD_NAMESPACE",
  },
  'kubeconfig-file': { type: 'string', help: "kubeconfig file for --kube-subnet-mgr (default: the pod's service account)" },
  'kube-api-url': { type: 'string', help: "Kubernetes API server URL for --kube-subnet-mgr (default: from the kubeconfig or the pod's service account)" },
  'kube-annotation-prefix': { type: 'string', default: 'flannel.alpha.coreos.com', help: 'prefix of the node annotations with --kube-subnet-mgr; may contain one "/"' },
  'net-config-path': { type: 'string', default: '/etc/kube-flannel/net-conf.json', help: 'network config file with --kube-subnet-mgr' },
  'set-node-network-unavailable': {
    type: 'boolean',
    default: true,
    help: 'with --kube-subnet-mgr, set the node condition NetworkUnavailable to False once ready; =false leaves it alone',
  },
  'status-socket': {
    type: 'string',
    default: '@weft',
    help: 'unix socket where `weft status` reaches this daemon; "@name" is an abstract socket, private to the network namespace',
  },
  'status-group': {
    type: 'string',
    help: 'group (name or gid) whose members may use status, trace and capture on the status socket besides root (checked with SO_PEERCRED)',
  },
  offload: { type: 'string', default: 'true', help: 'all offloads below (true or false); false gives one syscall per packet everywhere' },
  'tun-offload': { type: 'string', default: 'true', help: 'TUN offloads: read TCP super-packets up to 64 KB and segment them here, write received segments coalesced (true or false)' },
  'udp-gso': { type: 'string', default: 'true', help: 'UDP_SEGMENT: send all segments of a super-packet in one call (true or false)' },
  'udp-gro': { type: 'string', default: 'true', help: 'UDP_GRO: receive datagrams the kernel coalesced (true or false)' },
  'source-ports': {
    type: 'string',
    default: String(DEFAULT_SOURCE_PORTS),
    help: `vxlan and udp: send from this many UDP source ports (picked by the kernel from its ephemeral range), each inner flow from one of them by its hash, as the kernel's VXLAN varies the source port (for ECMP and RSS on the underlay); 0 or 1: every datagram from the backend's port (0-${MAX_SOURCE_PORTS})`,
  },
  'tun-name': { type: 'string', default: 'weft0', help: 'name of the TUN device weft creates' },
  'subnet-lease-renew-margin': { type: 'string', default: '60', help: 'renew the lease this many minutes before it expires (1-1439)' },
  'accept-unknown-peers': { type: 'boolean', default: false, help: 'accept encapsulated packets from addresses that are no known node' },
  'spoof-check': {
    type: 'boolean',
    default: true,
    help: "drop decapsulated packets whose inner source is not in the sending node's subnet or whose inner destination is not in this node's; --spoof-check=false turns it off",
  },
  'table-capacity': { type: 'string', default: '10000', help: 'most peer subnets and nodes the route and peer tables hold (1-100000); a lease beyond it waits, and /readyz says not ready' },
  help: { type: 'boolean', default: false, help: 'show this help (also -h)' },
  version: { type: 'boolean', default: false, help: 'print the version and exit' },
};

export function runUsage(): string {
  const rows = Object.entries(RUN_FLAGS).map(([name, f]) => {
    const def = f.default !== undefined && f.default !== '' && f.type === 'string' ? ` (default ${f.default})` : '';
    return `  --${name}${f.type === 'string' ? ' <value>' : ''}\n      ${f.help}${def}`;
  });
  return [
    'usage: weft run [flags]',
    '',
    "Flags are read as Go's flag package reads flanneld's: -name or --name, -name=value or -name value,",
    'a boolean by its name alone or -name=false. Every flag can also come from FLANNELD_<NAME> or WEFT_<NAME>.',
    "klog's -v sets the log level (0-3 info, 4-5 debug, 6+ trace) unless --log-level is given.",
    '',
    'flags:',
    ...rows,
  ].join('\n');
}

function integer(name: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new FlagError(`--${name} is "${text}": it must be a whole number from ${min} to ${max}`);
  }
  return Number(text);
}

function ipv4(name: string, text: string): string {
  const parts = text.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
    throw new FlagError(`--${name} is "${text}": it must be an IPv4 address such as 198.51.100.7`);
  }
  return text;
}

function endpoints(text: string): string[] {
  if (text.trim() === '') return [];
  return text.split(',').map((e) => {
    const url = e.trim();
    if (!/^https?:\/\/[^/\s]+$/.test(url)) {
      throw new FlagError(`--etcd-endpoints has "${url}": each endpoint must look like http://198.51.100.1:2379 or https://host:2379`);
    }
    return url;
  });
}

/** Syntax only; which addresses are usable (global or unique-local unicast) iface-select.ts checks. */
function ipv6(name: string, text: string): string {
  try {
    parseIPv6(text);
  } catch {
    throw new FlagError(`--${name} is "${text}": it must be an IPv6 address such as fd00:198:51:100::7`);
  }
  return text;
}

const USAGE_HINT = 'run "weft run --help" for the flags';

/** True if the arguments ask for the version (flanneld's --version), checked before anything else. */
export function asksForVersion(argv: string[]): boolean {
  try {
    return parseGoFlags(argv, RUN_FLAGS, USAGE_HINT).values['version'] === true;
  } catch {
    return false;
  }
}

/** Parses argv; returns null when --help was asked for. */
export function parseRunFlags(argv: string[], env: NodeJS.ProcessEnv = process.env): RunFlags | null {
  const { values, verbosity, warnings } = parseGoFlags(argv, RUN_FLAGS, USAGE_HINT);
  if (values['help'] === true) return null;
  const get = (name: string): string | undefined => {
    const v = values[name] ?? envValue(name, env) ?? RUN_FLAGS[name]!.default;
    return typeof v === 'string' ? v : undefined;
  };
  /** A flag given several times; from the environment, one value (as flanneld's flagutil). */
  const list = (name: string): string[] => {
    const v = values[name];
    if (Array.isArray(v)) return v;
    const e = envValue(name, env);
    return e === undefined || e === '' ? [] : [e];
  };
  /** A Go boolean: from the command line already parsed; from the environment with ParseBool's spellings. */
  const bool = (name: string): boolean => {
    const v = values[name];
    if (typeof v === 'boolean') return v;
    const e = envValue(name, env);
    if (e !== undefined && e !== '') {
      const b = goBool(e);
      if (b === null) throw new FlagError(`${envName(name, env)} is "${e}": --${name} is a boolean, use true or false`);
      return b;
    }
    return RUN_FLAGS[name]!.default === true;
  };
  const explicitLevel = values['log-level'] ?? envValue('log-level', env);
  const logLevel = explicitLevel === undefined && verbosity !== null ? levelForVerbosity(verbosity) : get('log-level')!;
  if (!LOG_LEVELS.includes(logLevel as LogLevel)) {
    throw new FlagError(`--log-level is "${logLevel}": use one of ${LOG_LEVELS.join(', ')}`);
  }
  const prefix = get('etcd-prefix')!;
  if (!prefix.startsWith('/') || prefix.endsWith('/')) {
    throw new FlagError(`--etcd-prefix is "${prefix}": it must start with "/" and not end with one, like /coreos.com/network`);
  }
  const publicIp = get('public-ip');
  const publicIpv6 = get('public-ipv6');
  const workers = get('workers');
  const kubeSubnetMgr = bool('kube-subnet-mgr');
  const nodeName = env['NODE_NAME'] || null;
  const podName = env['POD_NAME'] || null;
  const podNamespace = env['POD_NAMESPACE'] || null;
  if (kubeSubnetMgr && nodeName === null && (podName === null || podNamespace === null)) {
    throw new FlagError("--kube-subnet-mgr needs this node's name: set NODE_NAME (in a DaemonSet, valueFrom.fieldRef.fieldPath: spec.nodeName), or POD_NAME and POD_NAMESPACE");
  }
  const ifaceRegexes = list('iface-regex');
  for (const re of ifaceRegexes) {
    try {
      goRegex(re);
    } catch (e) {
      throw new FlagError(`--iface-regex is "${re}": not a valid regular expression (${(e as Error).message})`);
    }
  }
  const canReach = get('iface-can-reach');
  /** A flag that takes exactly "true" or "false". */
  const trueFalse = (name: string): boolean => {
    const v = get(name)!;
    if (v !== 'true' && v !== 'false') throw new FlagError(`--${name} is "${v}": use true or false`);
    return v === 'true';
  };
  const offloads = trueFalse('offload');
  const offload: OffloadFlags = {
    tun: trueFalse('tun-offload') && offloads,
    udpGso: trueFalse('udp-gso') && offloads,
    udpGro: trueFalse('udp-gro') && offloads,
  };
  return {
    etcdEndpoints: endpoints(get('etcd-endpoints')!),
    etcdPrefix: prefix,
    etcdCafile: get('etcd-cafile') ?? null,
    etcdCertfile: get('etcd-certfile') ?? null,
    etcdKeyfile: get('etcd-keyfile') ?? null,
    etcdUsername: get('etcd-username') ?? null,
    etcdPassword: get('etcd-password') ?? null,
    registryFile: get('registry-file')!,
    ifaces: list('iface'),
    ifaceRegexes,
    ifaceCanReach: canReach ? ipv4('iface-can-reach', canReach) : null,
    publicIp: publicIp === undefined ? null : ipv4('public-ip', publicIp),
    publicIpv6: publicIpv6 === undefined || publicIpv6 === '' ? null : ipv6('public-ipv6', publicIpv6),
    ipMasq: bool('ip-masq'),
    ipMasqFullyRandomDisable: bool('ip-masq-fully-random-disable'),
    ipBlackholeRoute: bool('ip-blackhole-route'),
    iptablesResyncSeconds: integer('iptables-resync', get('iptables-resync')!, 1, 3600),
    iptablesForwardRules: bool('iptables-forward-rules'),
    subnetFile: get('subnet-file')!,
    stateDir: get('state-dir')!,
    healthzIp: ipv4('healthz-ip', get('healthz-ip')!),
    healthzPort: integer('healthz-port', get('healthz-port')!, 0, 65535),
    workers: workers === undefined ? defaultWorkers() : integer('workers', workers, 1, 256),
    logLevel: logLevel as LogLevel,
    acceptUnknownPeers: bool('accept-unknown-peers'),
    spoofCheck: bool('spoof-check'),
    tableCapacity: integer('table-capacity', get('table-capacity')!, 1, 100_000),
    tunName: tunName(get('tun-name')!),
    statusSocket: get('status-socket')!,
    statusGroup: get('status-group') ?? null,
    kubeSubnetMgr,
    kubeconfigFile: get('kubeconfig-file') || null,
    kubeApiUrl: get('kube-api-url') || null,
    kubeAnnotationPrefix: get('kube-annotation-prefix')!,
    netConfigPath: get('net-config-path')!,
    setNodeNetworkUnavailable: bool('set-node-network-unavailable'),
    offload,
    sourcePorts: integer('source-ports', get('source-ports')!, 0, MAX_SOURCE_PORTS),
    nodeName,
    podName,
    podNamespace,
    warnings,
    renewMarginMinutes: integer('subnet-lease-renew-margin', get('subnet-lease-renew-margin')!, 1, 1439),
  };
}

function tunName(text: string): string {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(text) || text === '.' || text === '..') {
    throw new FlagError(`--tun-name is "${text}": use 1-15 letters, digits, ".", "-" or "_"`);
  }
  return text;
}

/** flanneld reads FLANNELD_<FLAG>; weft also reads WEFT_<FLAG>, which wins. */
function envValue(name: string, env: NodeJS.ProcessEnv): string | undefined {
  const key = name.toUpperCase().replace(/-/g, '_');
  // An empty variable is unset, as flannel's flagutil.SetFlagsFromEnv has it.
  return env[`WEFT_${key}`] || env[`FLANNELD_${key}`] || undefined;
}

function envName(name: string, env: NodeJS.ProcessEnv): string {
  const key = name.toUpperCase().replace(/-/g, '_');
  return env[`WEFT_${key}`] ? `WEFT_${key}` : `FLANNELD_${key}`;
}
