// `weft run`: the node daemon. Order matters, so that a bad flag or config is
// refused before anything on the host changes. On SIGTERM the daemon closes its
// fds and leaves the rest for the next weft (README "Restarts and upgrades"): the
// lease, the persistent TUN with its address and route, direct routes, the subnet
// file (as flanneld leaves it, so CNI ADD works while weft is away):
//
//   flags → local listeners (status socket, healthz) → underlay → registry + network config → VTEP MAC,
//   sockets → lease → forwarder → snapshot → rules → subnet file → ready
//   … lease events → admission → forwarder; lease renewal; /healthz /readyz /metrics …
//   SIGTERM → forwarder stops → fds closed (`weft uninstall` removes the rest)
//
// The forwarder (forwarder.ts) is the tunnel (tunnel.ts: tables, host with TUN,
// route and sockets, workers; vxlan, ipip, udp) or, for host-gw, the kernel's
// own routes (kernel-routes.ts). Everything else is the same for both.
import type { ServerResponse } from 'node:http';
import { pino, type Logger } from 'pino';
import { parseCidr } from '../../native-free/addr.js';
import { WeftError } from '../../native-free/errors.js';
import { LeaseAdmission } from '../dataplane/lease-admission.js';
import { renderLeaseMetrics } from './lease-metrics.js';
import { keepLeaseRenewed, openSubnetRegistry, RenewTrigger, type Lease, type NetworkConfig, type SubnetRegistry } from '../registry/index.js';
import type { RunFlags } from './flags.js';
import { Host, noSockets, releaseSockets, type UnderlaySockets } from './host.js';
import { LocalInterfaces } from './local.js';
import { renderProcessMetrics } from './process-metrics.js';
import { readPreviousIpv6Subnet, readPreviousSubnet, subnetFileFor, writeSubnetFile } from './subnet-file.js';
import { refuseUnwiredIPv6 } from './ipv6-gate.js';
import { selectInterface, selectIpv6 } from './iface-select.js';
import { familyOf, ForwardRules, IpMasq, iptablesVersion, removeFlannelChains, type IptablesCommands } from './ipmasq.js';
import { loadOrCreateVtepMac } from './vtep-mac.js';
import { tunnelMtu } from './mtu.js';
import { backendOf, hasTunnel } from '../backend/index.js';
import { BlackholeRoute } from './blackhole-route.js';
import { initNftTables, NftRules, nftVersion, removeNftTable } from './nftables.js';
import { chooseIptables } from './iptables-mode.js';
import { requireOnPath } from './tool-on-path.js';
import type { Forwarder } from './forwarder.js';
import { KernelRoutes } from './kernel-routes.js';
import { Tunnel } from './tunnel.js';

export interface Daemon {
  /** Resolves when the daemon has stopped and cleaned up. */
  done: Promise<void>;
  stop(): Promise<void>;
}

/** Bytes an IPv6 outer header takes beyond an IPv4 one (40 − 20): the tunnel MTU over the IPv6 underlay is this much smaller. */
const IPV6_EXTRA = 20;

/** The interface this node uses on the underlay, and the address it publishes. */
interface Underlay {
  iface: string;
  /** The interface's address: sockets bind to it and it is the outer source (before any NAT). */
  address: string;
  /** What other nodes send to (the lease's PublicIP): --public-ip, else the address. Behind NAT, the NAT's. */
  publicIp: string;
  mtu: number;
  /** EnableIPv6: the interface's IPv6 address (bound, the outer source) and the PublicIPv6 published; else null. */
  ipv6: { address: string; publicIp: string } | null;
}

interface Node {
  underlay: Underlay;
  config: NetworkConfig;
  lease: Lease;
  mac: string;
  mtu: number;
  port: number;
  sockets: UnderlaySockets;
}

/**
 * Everything before the host is touched, then the sockets (a port held by a
 * kernel VXLAN device fails here), and only then the lease: a start that
 * cannot bind never rewrites this node's lease (its VTEP MAC) in the registry.
 */
async function pickIptables(log: Logger): Promise<IptablesCommands> {
  const c = await chooseIptables();
  log.info({ mode: c.mode, why: c.why }, 'iptables back end chosen');
  return c.cmds;
}

async function join(flags: RunFlags, registry: SubnetRegistry, log: Logger): Promise<Node> {
  // As flanneld: a public IP stored for this node (kube: the node-public-ip annotation) wins over --public-ip.
  const stored = (await registry.storedPublicIp?.()) ?? null;
  if (stored !== null) log.info({ publicIp: stored, flag: flags.publicIp }, 'public IP from the registry (node-public-ip annotation) replaces --public-ip');
  const chosen = selectInterface(
    { ifaces: flags.ifaces, ifaceRegexes: flags.ifaceRegexes, ifaceCanReach: flags.ifaceCanReach, publicIp: stored ?? flags.publicIp },
    undefined,
    log,
  );
  log.info({ iface: chosen.iface, address: chosen.address, publicIp: chosen.publicIp, mtu: chosen.mtu, by: chosen.by }, 'underlay interface chosen');
  const underlay: Underlay = { iface: chosen.iface, address: chosen.address, publicIp: chosen.publicIp, mtu: chosen.mtu, ipv6: null };
  if (underlay.publicIp !== underlay.address) {
    log.info({ publicIp: underlay.publicIp, address: underlay.address }, 'public IP is not on the interface (NAT): publishing it, sending and listening on the interface address');
  }
  const config = await registry.getNetworkConfig();
  refuseUnwiredIPv6(config); // IPv6-only networks (ipv6-gate.ts); dual-stack runs
  if (flags.publicIpv6 !== null && !config.EnableIPv6) log.warn({ publicIpv6: flags.publicIpv6 }, '--public-ipv6 is ignored: the network config does not set "EnableIPv6": true (as flanneld)');
  if (config.EnableIPv6) {
    // As flanneld's LookupExtIface for dual-stack: the IPv6 address of the interface chosen for IPv4.
    const six = selectIpv6(chosen, { publicIpv6: flags.publicIpv6, byDefaultRoute: flags.ifaces.length === 0 && flags.ifaceRegexes.length === 0 && flags.ifaceCanReach === null });
    underlay.ipv6 = { address: six.address6, publicIp: six.publicIpv6 };
    log.info({ iface: chosen.iface, address6: six.address6, publicIpv6: six.publicIpv6 }, 'underlay IPv6 address chosen');
  }
  // --ip-masq without its tool (iptables, or nft with EnableNFTables) is refused before anything
  // on the host changes: looked up on PATH, not run. Which iptables the host uses (legacy or nft),
  // and the tools' versions, are asked once the workers forward (startDataPlane's rules step):
  // each process costs the main thread tens of ms to spawn, and after a restart the pods'
  // traffic waits for the main thread to get through the lease and the snapshot.
  if (flags.ipMasq) requireOnPath(config.EnableNFTables ? 'nft' : 'iptables', '--ip-masq');
  if (flags.ipMasq && config.EnableIPv6 && !config.EnableNFTables) requireOnPath('ip6tables', '--ip-masq with "EnableIPv6": true');
  const spec = backendOf(config.Backend.Type);
  // flannel's host-gw New(): its peers route to our PublicIP as a next hop on their link, which a NAT's address is not.
  if (!hasTunnel(spec) && underlay.publicIp !== underlay.address) {
    throw new WeftError(
      'ERR_WEFT_HOST_GW_NAT',
      `host-gw: the public IP ${underlay.publicIp} is not the address of ${underlay.iface} (${underlay.address}), so this node is probably behind NAT, which host-gw cannot work through (its peers route to the public IP as a next hop on their own link); use vxlan, or drop --public-ip / the node-public-ip annotation`,
    );
  }
  for (const n of spec.notes(config.Backend)) log.warn(n.fields, n.message);
  // Refused here, before the MAC, the sockets or the lease: an MTU that cannot work changes nothing.
  const { mtu, warning: mtuWarning } = tunnelMtu(config.Backend.Type, underlay.mtu, spec.configuredMtu(config.Backend));
  if (mtuWarning !== null) log.warn({ mtu, underlayMtu: underlay.mtu }, mtuWarning);
  if (config.EnableIPv6 && mtu - IPV6_EXTRA < 1280) {
    throw new WeftError('ERR_WEFT_IPV6', `"EnableIPv6": true, but the tunnel MTU over IPv6 would be ${mtu - IPV6_EXTRA}, below IPv6's minimum of 1280 (RFC 8200 §5): give the underlay a larger MTU, or raise Backend.MTU`);
  }
  // host-gw has no VTEP: nothing is written to the state dir.
  const { mac, created } = hasTunnel(spec) ? await loadOrCreateVtepMac(flags.stateDir) : { mac: '', created: false };
  const preferSubnet = (await readPreviousSubnet(flags.subnetFile)) ?? undefined;
  const preferIpv6Subnet = config.EnableIPv6 ? ((await readPreviousIpv6Subnet(flags.subnetFile)) ?? undefined) : undefined;
  const type = config.Backend.Type;
  const port = spec.port(config.Backend);
  const backendData = spec.leaseData(config.Backend, mac);
  const sockets = hasTunnel(spec)
    ? Host.prepare({
        tunName: flags.tunName,
        queues: flags.workers,
        underlay: spec.underlay,
        bindAddr: underlay.address,
        bindAddr6: underlay.ipv6?.address ?? null,
        port,
        udpGso: flags.offload.udpGso,
        udpGro: flags.offload.udpGro,
        sourcePorts: flags.sourcePorts,
      })
    : noSockets();
  try {
    const lease = await registry.acquireLease(
      {
        PublicIP: underlay.publicIp,
        ...(underlay.ipv6 !== null ? { PublicIPv6: underlay.ipv6.publicIp } : {}),
        BackendType: type,
        ...(backendData !== undefined ? { BackendData: backendData } : {}),
        // One TUN carries both families: the IPv6 VTEP is the same VTEP, with the same MAC.
        ...(underlay.ipv6 !== null && backendData !== undefined ? { BackendV6Data: backendData } : {}),
      },
      { ...(preferSubnet ? { preferSubnet } : {}), ...(preferSubnet && preferIpv6Subnet ? { preferIpv6Subnet } : {}) },
    );
    log.info({ subnet: lease.subnet, publicIp: underlay.publicIp, iface: underlay.iface, vtepMac: mac, macCreated: created, backend: type }, 'lease acquired');
    return { underlay, config, lease, mac, mtu, port, sockets };
  } catch (e) {
    releaseSockets(sockets);
    throw e;
  }
}

/** The network and this node's subnet of one family, as the rules take them. */
interface RuleScope {
  network: string;
  subnet: string;
}

/**
 * EnableNFTables: both tables made (flannel's Init), flanneld's iptables chains of
 * both families removed (a node switched from iptables), then per family
 * --ip-masq (fatal if it fails, as flanneld) and the forward rules (logged).
 */
async function applyNftables(flags: RunFlags, scopes: readonly RuleScope[], log: Logger): Promise<void> {
  await initNftTables(log);
  for (const family of [4, 6] as const) {
    // no iptables / ip6tables on this host: no flanneld chains to remove
    await removeFlannelChains(family, log).catch(() => undefined);
  }
  for (const s of scopes) {
    const nft = new NftRules(s.network, s.subnet, log);
    if (flags.ipMasq) await nft.applyMasq(!flags.ipMasqFullyRandomDisable);
    if (flags.iptablesForwardRules) {
      await nft.applyForward().catch((e: unknown) => log.error({ err: (e as Error).message }, 'could not install the nftables forward rules (--iptables-forward-rules); continuing'));
    }
  }
}

export async function startDaemon(flags: RunFlags, log: Logger = pino({ level: flags.logLevel })): Promise<Daemon> {
  for (const w of flags.warnings) log.warn(w);
  // The local listeners before anything else: a name or port that is taken only
  // delays them (they retry), and one that cannot work fails here, before the host changes.
  const local = await LocalInterfaces.bind(flags, log);
  try {
    return await startDataPlane(flags, log, local);
  } catch (e) {
    local.close();
    throw e;
  }
}

async function startDataPlane(flags: RunFlags, log: Logger, local: LocalInterfaces): Promise<Daemon> {
  const registry = openSubnetRegistry({
    ...(flags.kubeSubnetMgr
      ? {
          kube: {
            ...(flags.nodeName ? { nodeName: flags.nodeName } : { pod: { name: flags.podName!, namespace: flags.podNamespace! } }),
            ...(flags.kubeconfigFile ? { kubeconfigFile: flags.kubeconfigFile } : {}),
            ...(flags.kubeApiUrl ? { apiUrl: flags.kubeApiUrl } : {}),
            annotationPrefix: flags.kubeAnnotationPrefix,
            netConfigPath: flags.netConfigPath,
            setNodeNetworkUnavailable: flags.setNodeNetworkUnavailable,
            logger: { info: (m: string) => log.info(m), warn: (m: string) => log.warn(m) },
          },
        }
      : {}),
    etcd: {
      endpoints: flags.etcdEndpoints,
      prefix: flags.etcdPrefix,
      ...(flags.etcdCafile ? { caFile: flags.etcdCafile } : {}),
      ...(flags.etcdCertfile ? { certFile: flags.etcdCertfile } : {}),
      ...(flags.etcdKeyfile ? { keyFile: flags.etcdKeyfile } : {}),
      ...(flags.etcdUsername ? { username: flags.etcdUsername } : {}),
      ...(flags.etcdPassword ? { password: flags.etcdPassword } : {}),
      logger: { info: (m) => log.info(m), warn: (m) => log.warn(m) },
    },
    file: { path: flags.registryFile, prefix: flags.etcdPrefix },
  });
  let node: Node;
  try {
    node = await join(flags, registry, log);
  } catch (e) {
    await registry.close();
    throw e;
  }
  const { config, lease, underlay } = node;
  const backend = config.Backend.Type;
  const spec = backendOf(backend);
  const vni = spec.vni(config.Backend);
  const subnet = parseCidr(lease.subnet);
  const network = parseCidr(config.Network);
  if (subnet.family !== 4 || network.family !== 4) {
    releaseSockets(node.sockets);
    await registry.close();
    throw new Error(`weft is IPv4-only: lease ${lease.subnet} in network ${config.Network}`);
  }
  const v6 = config.EnableIPv6 && underlay.ipv6 !== null && lease.ipv6Subnet !== undefined ? { subnet: lease.ipv6Subnet, ...underlay.ipv6 } : null;
  if (config.EnableIPv6 && v6 === null) {
    releaseSockets(node.sockets);
    await registry.close();
    throw new WeftError('ERR_WEFT_IPV6', `"EnableIPv6": true, but the lease ${lease.subnet} came without an IPv6 subnet`);
  }

  // Only leases that pass these checks reach the forwarder (its tables, its routes).
  const admission = new LeaseAdmission({
    network: config.Network,
    // kube: peers' podCIDRs have the length of ours (SubnetLen is for etcd allocation); else SubnetLen, which ours has too.
    subnetLen: registry.subnetLen(config, lease),
    backend,
    vni,
    ...(v6 !== null ? { ipv6: { network: config.IPv6Network!, subnetLen: registry.ipv6SubnetLen(config, lease) } } : {}),
    self: {
      lease,
      publicIps: [underlay.address, lease.attrs.PublicIP],
      mac: spec.vtepPeers ? node.mac : null,
      ...(v6 !== null ? { publicIpv6s: [v6.address, v6.publicIp], macV6: spec.vtepPeers ? node.mac : null } : {}),
    },
    log,
  });
  let fwd: Forwarder;
  try {
    fwd = hasTunnel(spec)
      ? new Tunnel({
          flags,
          log,
          config,
          subnet,
          network,
          underlay,
          mac: node.mac,
          mtu: node.mtu,
          port: node.port,
          sockets: node.sockets,
          // Over IPv6 the outer header is 20 bytes longer (flannel-v6.1 leaves that to fragmentation; weft answers packet-too-big).
          ipv6: v6 === null ? null : { subnet: v6.subnet, network: config.IPv6Network!, address: v6.address, mtu: node.mtu - IPV6_EXTRA },
        })
      : new KernelRoutes({ iface: underlay.iface, subnet: lease.subnet, ipv6Subnet: v6?.subnet ?? null, log });
  } catch (e) {
    await registry.close();
    throw e;
  }

  const abort = new AbortController();
  let ready = false;
  let subnetFileWritten = false;
  let stopping: Promise<void> | null = null;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));

  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      ready = false;
      abort.abort();
      await fwd.stop();
      local.close();
      await registry.close();
      log.info({ subnet: lease.subnet }, 'stopped; lease kept for the next start');
      resolveDone();
    })();
    return stopping;
  };

  const fail = (err: unknown, msg: string): void => {
    log.fatal({ err: (err as Error).message }, msg);
    process.exitCode = 1;
    void stop();
  };

  // Peers: the first batch is the snapshot; the workers start once it is in the
  // tables, and readiness needs the iptables rules too. Not held up by them.
  let rulesDone!: () => void;
  const rulesInstalled = new Promise<void>((r) => (rulesDone = r));
  // Resolved when the workers forward, or when the start is given up (the rules step waits for it).
  let forwarding!: () => void;
  const forwardingStarted = new Promise<void>((r) => (forwarding = r));
  abort.signal.addEventListener('abort', forwarding, { once: true });
  void (async () => {
    try {
      for await (const batch of registry.watchLeases(abort.signal)) {
        const { events, own } = admission.admit(batch);
        // Our own lease gone (deleted by an operator, or expired): another node
        // may be handed this subnet, so stop, as flanneld does. Rewritten by
        // someone else (another PublicIP, MAC, backend): peers now send our
        // pods' traffic elsewhere, and taking it back would fight the writer;
        // stop the same way, with what changed (a restart re-acquires it).
        if (own) {
          fail(new Error(own.detail), own.type === 'removed' ? 'lease revoked; stopping (as flanneld does)' : 'own lease changed by someone else; stopping');
          return;
        }
        fwd.apply(events);
        if (!subnetFileWritten) {
          if (abort.signal.aborted) return;
          fwd.go();
          forwarding();
          await rulesInstalled;
          if (abort.signal.aborted) return;
          fwd.settled(abort.signal);
          await writeSubnetFile(flags.subnetFile, subnetFileFor(config, lease, node.mtu, flags.ipMasq));
          subnetFileWritten = true;
          ready = true;
          log.info({ peers: fwd.peerCount, subnetFile: flags.subnetFile }, 'ready');
          // As flanneld: not awaited, and a failure is only logged.
          registry.completeLease?.().catch((e) => log.error({ err: (e as Error).message }, 'could not complete the lease (kube: set NetworkUnavailable=False on this node)'));
        }
      }
    } catch (e) {
      if (!abort.signal.aborted) fail(e, 'watching leases failed');
    }
  })();

  // flanneld's iptables (or nftables) rules, before the subnet file (flanneld is ready only once
  // they are in). On stop the checkers end with `abort`; the rules stay, as flanneld leaves them.
  // Once the workers forward (or the start failed): see join() for why.
  await forwardingStarted;
  if (abort.signal.aborted) {
    rulesDone();
    return { done, stop };
  }
  const iptables = config.EnableNFTables || !(flags.ipMasq || flags.iptablesForwardRules) ? Promise.resolve({}) : pickIptables(log);
  // flannel's rules per family: IPv4, and with EnableIPv6 the same for IPv6 (masqIP6Rules, ip6tables / ip6 flannel-ipv6).
  const scopes: RuleScope[] = [{ network: config.Network, subnet: lease.subnet }, ...(v6 !== null ? [{ network: config.IPv6Network!, subnet: v6.subnet }] : [])];
  try {
    if (flags.ipMasq && config.EnableNFTables) await nftVersion();
    else if (flags.ipMasq) for (const s of scopes) await iptablesVersion(await iptables, familyOf(s.network));
    if (config.EnableNFTables) await applyNftables(flags, scopes, log);
    else {
      // As flanneld: the manager not in use loses its rules, so a switch back leaves no stale table.
      await removeNftTable(log).catch((e: unknown) => log.warn({ err: (e as Error).message }, 'could not remove the nftables tables of an earlier EnableNFTables run'));
    }
    if (flags.ipMasq && !config.EnableNFTables) {
      for (const s of scopes) {
        const masq = new IpMasq(s.network, s.subnet, log, { ...(await iptables), randomFully: flags.ipMasqFullyRandomDisable ? false : 'auto' });
        await masq.apply();
        masq.startChecking(flags.iptablesResyncSeconds * 1000, abort.signal);
      }
    }
  } catch (e) {
    rulesDone();
    await stop();
    throw e;
  }
  if (flags.iptablesForwardRules && !config.EnableNFTables) {
    for (const s of scopes) {
      // As flanneld: a failure here is logged, not fatal (no iptables on the host, say).
      const forward = new ForwardRules(s.network, log, await iptables);
      try {
        await forward.apply();
        forward.startChecking(flags.iptablesResyncSeconds * 1000, abort.signal);
      } catch (e) {
        log.error({ err: (e as Error).message, family: familyOf(s.network) }, 'could not install the FORWARD rules (--iptables-forward-rules); continuing');
      }
    }
  }
  if (flags.ipBlackholeRoute) {
    const hole = new BlackholeRoute(lease.subnet, log);
    hole.ensure();
    hole.startChecking(flags.iptablesResyncSeconds * 1000, abort.signal);
  }
  rulesDone();

  // Fault injection (tests of renewal during an etcd failover): SIGHUP renews the lease now.
  const trigger = new RenewTrigger();
  if (process.env['WEFT_FAULT_INJECTION'] === '1') {
    process.on('SIGHUP', () => {
      log.warn('fault injection: renewing the lease now');
      trigger.fire();
    });
  }
  void keepLeaseRenewed(registry, lease, {
    signal: abort.signal,
    trigger,
    renewMarginMs: flags.renewMarginMinutes * 60_000,
    onRenewed: (l) => log.info({ subnet: l.subnet, expiration: l.expiration }, 'lease renewed'),
    onError: (e) => log.warn({ err: (e as Error).message }, 'lease renewal failed; retrying'),
  }).catch((e) => {
    if (!abort.signal.aborted) fail(e, 'lease lost');
  });

  const status = () => ({
    lease: {
      subnet: lease.subnet,
      publicIp: underlay.publicIp,
      ...(v6 !== null ? { ipv6Subnet: v6.subnet, publicIpv6: v6.publicIp } : {}),
      expiration: lease.expiration,
    },
    backend,
    vni,
    port: node.port,
    vtepMac: node.mac,
    mtu: node.mtu,
    ready: ready && fwd.notReady() === null,
    ...fwd.status(),
  });

  const source = {
    capture: (q: URLSearchParams, res: ServerResponse) => fwd.capture(q, res),
    trace: (q: URLSearchParams) => fwd.trace(q),
    // Not ready while an accepted lease waits for room in the tables.
    ready: () => (!ready ? 'waiting for the first lease snapshot' : (fwd.notReady() ?? true)),
    metrics: () =>
      fwd.metrics() +
      renderProcessMetrics(process.memoryUsage(), fwd.workerHeapUsed()) +
      renderLeaseMetrics({ rejected: admission.rejections(), tables: fwd.tables() }) +
      local.metrics(),
    status,
  };
  local.serve(source);
  return { done, stop };
}
