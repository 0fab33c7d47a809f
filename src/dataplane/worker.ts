// A data-plane worker thread. Its loop, per round:
//
//   heartbeat                            ← one Atomics.add; the pool replaces a worker whose count stalls
//   poll(TUN queue, socket, 100 ms)      ← parks only when both are idle
//   TUN readable    → TxPath.pump(): read ≤ batch packets from the TunQueue (with
//                     offloads: 64 KB super-packets, cut into segments there),
//                     encapsulate, send through the UnderlaySocket (UDP GSO there)
//   socket readable → RxPath.pump(): receive ≤ batch datagrams (UDP_GRO: split
//                     there), decapsulate, deliver to the TunQueue (coalesced there)
//   stop flag set   → one last pump of both, detach the TUN queue, return (the
//                     main thread owns and closes the fds)
//
// This file wires the kernel implementations of the two I/O interfaces
// (io.ts: tun-queue.ts, underlay.ts) over the fds and memory slab-layout.ts
// lays out, and hands them to the loops with the backend's encap/decap.
//
// Restarts (README "Restarts and upgrades"): a worker attaches its TUN queue when
// it starts forwarding and detaches it when it stops, so beside another weft the
// kernel steers flows only to queues that are being read.
//
// Route and peer tables are shared memory written by the main thread; this
// thread only reads them, so route changes apply to the next packet.
import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { WARM_KIND } from './prewarm.js';
import { createDecapContext } from '../../native-free/decap/context.js';
import { createEncapContext } from '../../native-free/encap/context.js';
import { LpmTable } from '../../native-free/table/lpm.js';
import { PeerTable } from '../../native-free/table/peers.js';
import { backendOf } from '../backend/index.js';
import { WORKER_HEAP_USED, workerRow } from './counters.js';
import { CaptureRing } from './capture-ring.js';
import { CaptureTap } from './capture-tap.js';
import { PollSet } from '../sys/poll.js';
import { RxPath } from './rx-path.js';
import { TxPath } from './tx-path.js';
import { KernelTunQueue } from './tun-queue.js';
import { KernelUnderlay } from './underlay.js';
import { coalesceArea, rxSlab } from './slab-layout.js';
import { CONTROL_GO, CONTROL_STOP, heartbeatIndex, type WorkerInit } from './worker-init.js';
import { setQueueAttached } from '../sys/tun.js';
import { hangIfAsked } from './test-faults.js';

/** Also the longest gap between heartbeats of an idle worker: well under pool.ts's STALE_MS. */
const IDLE_POLL_MS = 100;
/** How often the worker writes its heap size into its counter row (weft_worker_heap_used_bytes). */
const HEAP_EVERY_MS = 1000;

export function runWorker(init: WorkerInit): void {
  const backend = backendOf(init.backend);
  const routes = LpmTable.attach(init.routes);
  const v6 = init.ipv6;
  const routes6 = v6 === null ? null : LpmTable.attach(v6.routes);
  const peers = PeerTable.attach(init.peers);
  const localMac = Uint8Array.from(init.localMac);
  const counters = workerRow(init.counters, init.index);
  const control = new Int32Array(init.control);
  const encapCtx = createEncapContext(
    {
      localUnderlay: init.localUnderlay,
      localMac,
      vni: init.vni,
      port: init.port,
      mtu: init.mtu,
      // Kernel sockets add the outer IP (and UDP) header: we write what follows it.
      outerHeaders: false,
      udpChecksum: false,
      ttl: 64,
      // IPv6 pods over the IPv6 underlay, IPv4 pods over the IPv4 one (the engine's default, flannel's devices).
      localUnderlay6: v6 === null ? null : Uint8Array.from(v6.localUnderlay),
      ...(v6 !== null ? { mtu6: v6.mtu } : {}),
    },
    routes,
    routes6,
    peers,
  );
  const s6 = v6?.spoofCheck ?? null;
  const admission =
    init.spoofCheck === null
      ? null
      : {
          routes,
          subnet: init.spoofCheck.subnet,
          mask: init.spoofCheck.mask,
          ...(s6 !== null ? { routes6, subnet6: Uint8Array.from(s6.subnet), prefix6: s6.prefix } : {}),
        };
  const decapCtx = createDecapContext({ vni: init.vni, localMac, acceptUnknownPeers: init.acceptUnknownPeers, admission, innerFamilies: init.innerFamilies }, peers);
  const tap = new CaptureTap(init.captureControl, new CaptureRing(init.captureRing), init.backend);
  const off = init.offload;
  const rxMemory = init.rxFd >= 0 ? rxSlab(init.batch, init.slotSize, coalesceArea(off.tun, off.tun)) : null;
  const tun = new KernelTunQueue({
    fd: init.tunFd,
    counters,
    vnet: off.tun,
    mtu: init.mtu,
    batch: init.batch,
    slotSize: init.slotSize,
    encapBytes: backend.encapBytes,
    coalesceIn: rxMemory !== null && rxMemory.coalesceAt >= 0 ? { buf: rxMemory.slab.buf, offset: rxMemory.coalesceAt } : null,
  });
  const entropy = init.sendFds.length > 0;
  const underlay = new KernelUnderlay({
    txFds: entropy ? init.sendFds : [init.txFd],
    sourcePorts: entropy ? init.sendPorts : [init.port],
    rxFd: init.rxFd,
    port: init.port,
    counters,
    txSlab: tun.slab,
    // With offloads a round's datagrams are mostly GSO runs: 64 entries carry many more datagrams.
    sendEntries: off.tun ? 64 : init.batch,
    gso: off.tun && off.udpGso,
    rxSlab: rxMemory?.slab ?? null,
    batch: init.batch,
    gro: off.udpGro,
  });
  // Dual-stack: the IPv6 socket, its own receive memory and path. Its
  // destinations are peer ids, turned into addresses from the peer table.
  const underlay6 =
    v6 === null
      ? null
      : new KernelUnderlay({
          txFds: [v6.fd],
          sourcePorts: [init.port],
          rxFd: v6.fd,
          port: init.port,
          counters,
          txSlab: tun.slab,
          sendEntries: off.tun ? 64 : init.batch,
          gso: off.tun && off.udpGso,
          rxSlab: rxSlab(init.batch, init.slotSize, 0).slab,
          batch: init.batch,
          gro: off.udpGro,
          addresses6: peers,
        });
  const tx = new TxPath({
    tun,
    underlay,
    ctx: encapCtx,
    encap: backend.encap,
    counters,
    tunnelAddr: init.tunnelAddr,
    tap,
    batch: init.batch,
    underlay6,
    tunnelAddr6: v6 === null ? null : Uint8Array.from(v6.tunnelAddr),
  });
  const rx =
    init.rxFd >= 0
      ? new RxPath({ underlay, tun, ctx: decapCtx, decap: backend.decap, counters, tap, local: init.localUnderlay, localPort: init.port })
      : null;
  const rx6 =
    underlay6 !== null && backend.decap6 !== null
      ? new RxPath({ underlay: underlay6, tun, ctx: decapCtx, decap: backend.decap, decap6: backend.decap6, counters, tap, local: 0, localPort: init.port })
      : null;
  const poll = new PollSet(init.tunFd, init.rxFd, v6?.fd ?? -1);
  const beat = heartbeatIndex(init.index);
  const faults = init.testFaults === undefined ? null : new Int32Array(init.testFaults);
  // Booted; forward only once the tables hold the snapshot (pool.go()). The
  // heartbeat goes on meanwhile: a worker waiting here is alive, not stuck.
  while (Atomics.load(control, CONTROL_GO) === 0) {
    if (Atomics.load(control, CONTROL_STOP) !== 0) return;
    Atomics.add(control, beat, 1);
    Atomics.wait(control, CONTROL_GO, 0, IDLE_POLL_MS);
  }
  // A no-op unless the main thread held the queue back (host.ts: another weft runs).
  setQueueAttached(init.tunFd, true);

  let heapAt = 0;
  while (Atomics.load(control, CONTROL_STOP) === 0) {
    Atomics.add(control, beat, 1);
    // One clock read a round (a round is a batch or an idle poll); the heap object once a second.
    const now = Date.now();
    if (now >= heapAt) {
      heapAt = now + HEAP_EVERY_MS;
      counters[WORKER_HEAP_USED] = getHeapStatistics().used_heap_size;
    }
    if (faults !== null) hangIfAsked(faults, init.index);
    const ready = poll.wait(IDLE_POLL_MS);
    if (ready & PollSet.FIRST) tx.pump();
    if (rx !== null && ready & PollSet.SECOND) rx.pump();
    if (rx6 !== null && ready & PollSet.THIRD) rx6.pump();
  }
  tx.pump();
  rx?.pump();
  rx6?.pump();
  setQueueAttached(init.tunFd, false);
}

const kind = parentPort !== null && workerData !== undefined ? (workerData as { kind?: string }).kind : undefined;
if (kind === 'weft-dataplane') {
  runWorker((workerData as { init: WorkerInit }).init);
} else if (kind === WARM_KIND) {
  // Started early (prewarm.ts): the modules are loaded; the init comes once the daemon has its fds.
  parentPort!.once('message', (m: { init: WorkerInit }) => runWorker(m.init));
}
