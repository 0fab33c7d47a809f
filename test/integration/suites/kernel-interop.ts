// Test 4: a node whose VXLAN is the kernel's, programmed as flannel programs it,
// among weft nodes (network config "Port": 4789 so both use one port). Traffic
// flows both ways between its pod and weft pods, and what weft puts on the wire
// decodes in tshark as VXLAN with VNI 1, the I flag set and the right inner
// addresses; under bulk TCP every datagram weft sends the kernel node is one
// VXLAN frame within the MTU whose inner IPv4 and TCP checksums are right (with
// offloads on, weft cuts TSO super-packets itself and fills in the checksums the
// kernel left partial: a wrong one is weft's).
//
// The kernel node keeps its offloads at their defaults, so over veth its inner
// TCP/UDP checksums reach weft partial (the pseudo-header sum only, what a NIC
// would complete): the transfers kernel → weft prove weft completes them. One
// test repeats the transfers with TX checksum offload off on the kernel node's
// underlay veth, where the kernel completes them in software as a NIC would.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodePcapFile, TSHARK_CHECKSUM } from '../../helpers/tshark.js';
import { Capture } from '../harness/capture.js';
import { hostIn, type Cluster } from '../harness/cluster.js';
import { HOOK_TIMEOUT, TEST_TIMEOUT } from '../harness/context.js';
import { ethtoolFeatures, nsRun, waitFor } from '../harness/exec.js';
import type { Janitor } from '../harness/janitor.js';
import { KernelNode } from '../harness/kernel-node.js';
import { iperf, ping, pingUntilReachable, randomFile, tcpStream, tcpTransfer } from '../harness/traffic.js';
import type { Pod } from '../harness/cluster.js';
import { FILE_BYTES } from './backend.js';
import { SPOOF_REASONS } from './spoof.js';

export const KERNEL_NODE_IP = '198.51.100.100';
export const KERNEL_NODE_SUBNET = '10.244.250.0/24';
/** The bulk transfer weft → kernel node whose every datagram tshark checks. */
export const WIRE_CHECK_BYTES = 8 * 1024 * 1024;

/** name: the log-line prefix of the suite (e.g. "vxlan", "vxlan offloads off"). */
export function kernelInteropTests(cluster: () => Cluster, janitor: () => Janitor, name = 'vxlan'): void {
  describe('kernel VXLAN node (flannel.1, dstport 4789) among weft nodes', () => {
    let k: KernelNode | null = null;
    const kernel = (): KernelNode => {
      if (!k) throw new Error('kernel node not built');
      return k;
    };

    beforeAll(async () => {
      const c = cluster();
      k = await KernelNode.create(c, KERNEL_NODE_IP, KERNEL_NODE_SUBNET);
      await k.publishLease();
      await k.programPeers(await c.leases());
    }, HOOK_TIMEOUT);

    it("weft nodes learn the kernel node's flannel lease", async () => {
      const c = cluster();
      const kn = kernel();
      for (const n of c.nodes) {
        const peer = await waitFor(
          `${n.name} to learn ${kn.subnet}`,
          async () => (await n.status()).peers.find((p) => p.subnet === kn.subnet),
          5000,
        );
        expect(peer.publicIp).toBe(kn.underlayIp);
        expect(peer.vtepMac).toBe(kn.mac);
      }
    }, TEST_TIMEOUT);

    it('ping both ways between the kernel pod and every weft pod', async () => {
      const c = cluster();
      const kp = kernel().pod;
      await pingUntilReachable(c.pods[0]!.ns, kp.ip, 10_000);
      for (const p of c.pods) {
        const there = await ping(p.ns, kp.ip, { count: 3 });
        expect(there.received, `${p.ip} → ${kp.ip}:\n${there.output}`).toBe(3);
        const back = await ping(kp.ns, p.ip, { count: 3 });
        expect(back.received, `${kp.ip} → ${p.ip}:\n${back.output}`).toBe(3);
      }
    }, TEST_TIMEOUT);

    it("anti-spoofing lets the kernel node's own addresses through: its host (flannel.1's .0) to weft pods and weft0, its router's ICMP errors", async () => {
      const c = cluster();
      const kn = kernel();
      const before = await Promise.all(c.nodes.map((n) => n.metrics()));
      const kernelTunnel = hostIn(kn.subnet, 0);
      const weft0s = await Promise.all(c.nodes.map(async (n) => hostIn((await n.status()).lease.subnet, 0)));
      const targets = [...c.pods.map((p) => p.ip), ...weft0s];
      const pings = await Promise.all(targets.map((ip) => ping(kn.ns, ip, { count: 2 })));
      pings.forEach((r, i) => expect(r.received, `${kernelTunnel} (flannel.1) → ${targets[i]} (a weft pod or weft0):\n${r.output}`).toBe(2));
      // TTL 2 from a weft pod: its node forwards it with TTL 1 and the kernel node's
      // router answers "time exceeded" from flannel.1's address, back through weft.
      const p1 = c.pods[0]!;
      const r = await nsRun(p1.ns, 'ping', ['-n', '-c', '1', '-W', '2', '-t', '2', kn.pod.ip], { allowFail: true });
      expect(r.stdout, `ping -t 2 ${p1.ip} → ${kn.pod.ip}`).toMatch(new RegExp(`From ${kernelTunnel.replace(/\./g, '\\.')}.*Time to live exceeded`, 'i'));
      const after = await Promise.all(c.nodes.map((n) => n.metrics()));
      c.nodes.forEach((n, i) => {
        for (const reason of SPOOF_REASONS) expect(after[i]!.drops[reason]! - before[i]!.drops[reason]!, `${n.name} drops ${reason}`).toBe(0);
      });
    }, TEST_TIMEOUT);

    it('a 20 MB file crosses intact both ways (weft → kernel, kernel → weft)', async () => {
      const c = cluster();
      const kp = kernel().pod;
      const file = randomFile(janitor().dir, FILE_BYTES);
      for (const [from, to] of [[c.pods[0]!, kp], [kp, c.pods[1]!]] as const) {
        const r = await tcpTransfer(janitor(), from, to, file.path);
        console.log(`[${name}/kernel] 20 MB ${from.ip} → ${to.ip}: ${r.ms} ms`);
        expect(r.bytes).toBe(FILE_BYTES);
        expect(r.sha256).toBe(file.sha256);
      }
    }, TEST_TIMEOUT);

    /** Inner TCP checksum states tshark reads in `count` datagrams kernel node → weft while iperf3 runs kernel → weft. */
    const innerTcpChecksums = async (file: string, count: number): Promise<{ states: Record<string, number>; gbps: number; bytes: number }> => {
      const c = cluster();
      const kn = kernel();
      const cap = await Capture.start(janitor(), kn.ns, kn.iface, `udp port 4789 and src host ${kn.underlayIp} and dst host ${c.nodes[1]!.underlayIp}`, file, count);
      const r = await iperf(janitor(), kn.pod, c.pods[1]!, 2);
      await cap.finish(10_000);
      const rows = await decodePcapFile(file, { fields: ['tcp.len', 'tcp.checksum.status'], decodeAs: ['udp.port==4789,vxlan'] });
      const states: Record<string, number> = {};
      for (const x of rows) {
        if (Number(x['tcp.len'][0] ?? 0) === 0) continue; // data segments only
        const st = x['tcp.checksum.status'][0] ?? 'none';
        states[st] = (states[st] ?? 0) + 1;
      }
      return { states, gbps: r.gbps, bytes: r.bytesReceived };
    };

    /** iperf3 and a 20 MB sha256-checked file, kernel pod → weft pod and weft pod → kernel pod. */
    const bothWays = async (what: string): Promise<void> => {
      const c = cluster();
      const kp = kernel().pod;
      const file = randomFile(janitor().dir, FILE_BYTES);
      const ways: Array<readonly [Pod, Pod]> = [[kp, c.pods[1]!], [c.pods[0]!, kp]];
      const badBefore = await Promise.all(c.nodes.map(async (n) => (await n.metrics()).drops['bad_checksum']!));
      for (const [from, to] of ways) {
        const i = await iperf(janitor(), from, to, 2);
        console.log(`[${name}/kernel] ${what}: iperf3 ${from.ip} → ${to.ip}: ${i.gbps.toFixed(2)} Gbit/s, ${i.bytesReceived} bytes`);
        expect(i.bytesReceived, `iperf3 ${from.ip} → ${to.ip} moved bytes`).toBeGreaterThan(0);
        const r = await tcpTransfer(janitor(), from, to, file.path);
        expect(r.bytes, `20 MB ${from.ip} → ${to.ip}`).toBe(FILE_BYTES);
        expect(r.sha256, `sha256 ${from.ip} → ${to.ip}`).toBe(file.sha256);
      }
      for (const [i, n] of c.nodes.entries()) {
        expect((await n.metrics()).drops['bad_checksum']! - badBefore[i]!, `${n.name} drops bad_checksum on honest traffic`).toBe(0);
      }
    };

    it("kernel offloads at their defaults: its inner TCP checksums arrive partial, weft completes them (iperf3 and sha256 both ways, no bad_checksum)", async () => {
      const c = cluster();
      const seen = await innerTcpChecksums(join(c.dir, 'kernel-node-partial.pcapng'), 200);
      console.log(`[${name}/kernel] offloads at defaults: inner TCP checksum status of kernel → weft data segments ${JSON.stringify(seen.states)} (tshark: 1 good, 0 bad = partial); iperf3 ${seen.bytes} bytes`);
      // Not a vacuous pass: the lab really hands weft partial checksums (tshark calls them bad).
      expect(seen.states[TSHARK_CHECKSUM.BAD] ?? 0, 'partial inner TCP checksums on the wire').toBeGreaterThan(0);
      expect(seen.bytes).toBeGreaterThan(0);
      await bothWays('offloads at defaults');
    }, TEST_TIMEOUT);

    it('kernel TX checksum offload off on its underlay veth (full checksums, as from a NIC): iperf3 and sha256 both ways', async () => {
      const c = cluster();
      const kn = kernel();
      const wasOn = (await ethtoolFeatures(kn.ns, kn.iface))['tx-checksumming'] === 'on';
      if (wasOn) await nsRun(kn.ns, 'ethtool', ['-K', kn.iface, 'tx', 'off']);
      try {
        expect((await ethtoolFeatures(kn.ns, kn.iface))['tx-checksumming']).toBe('off');
        const seen = await innerTcpChecksums(join(c.dir, 'kernel-node-full.pcapng'), 200);
        console.log(`[${name}/kernel] tx off on ${kn.iface}: inner TCP checksum status of kernel → weft data segments ${JSON.stringify(seen.states)}`);
        expect(Object.keys(seen.states), 'every inner TCP checksum complete on the wire').toEqual([TSHARK_CHECKSUM.GOOD]);
        await bothWays(`tx off on ${kn.iface}`);
      } finally {
        if (wasOn) await nsRun(kn.ns, 'ethtool', ['-K', kn.iface, 'tx', 'on']);
      }
    }, TEST_TIMEOUT);

    it('on the wire (tshark on the kernel node): VNI 1, I flag, MACs and inner addresses right', async () => {
      const c = cluster();
      const kn = kernel();
      const n1 = c.nodes[0]!;
      const p1 = c.pods[0]!;
      const mac1 = (await n1.status()).vtepMac;
      const pings = 5;
      const file = join(c.dir, 'kernel-node-underlay.pcapng');
      // Requests from weft n1 and the kernel's replies, and nothing else runs now.
      const cap = await Capture.start(janitor(), kn.ns, kn.iface, `udp port 4789 and host ${n1.underlayIp}`, file, 2 * pings);
      const r = await ping(p1.ns, kn.pod.ip, { count: pings, intervalS: 0.05 });
      expect(r.received, r.output).toBe(pings);
      await cap.finish(10_000);
      const rows = await decodePcapFile(file, {
        fields: ['ip.src', 'ip.dst', 'udp.dstport', 'vxlan.vni', 'vxlan.flag_i', 'eth.src', 'eth.dst', 'icmp.type'],
        decodeAs: ['udp.port==4789,vxlan'],
        noChecksumPrefs: true,
      });
      expect(rows.length).toBe(2 * pings);
      const fromWeft = rows.filter((x) => x['ip.src'][0] === n1.underlayIp);
      const fromKernel = rows.filter((x) => x['ip.src'][0] === kn.underlayIp);
      expect(fromWeft.length).toBe(pings);
      expect(fromKernel.length).toBe(pings);
      for (const x of fromWeft) {
        expect(x['udp.dstport']).toEqual(['4789']);
        expect(x['vxlan.vni']).toEqual(['1']);
        expect(x['vxlan.flag_i'].map((v) => ['1', 'True', 'true'].includes(v))).toEqual([true]);
        expect(x['ip.dst']).toEqual([kn.underlayIp, kn.pod.ip]);
        expect(x['ip.src']).toEqual([n1.underlayIp, p1.ip]);
        expect(x['eth.src'][1]).toBe(mac1); // inner Ethernet: weft's VTEP MAC → flannel.1's
        expect(x['eth.dst'][1]).toBe(kn.mac);
        expect(x['icmp.type']).toEqual(['8']);
      }
      for (const x of fromKernel) {
        expect(x['vxlan.vni']).toEqual(['1']);
        expect(x['ip.src']).toEqual([kn.underlayIp, kn.pod.ip]);
        expect(x['ip.dst']).toEqual([n1.underlayIp, p1.ip]);
        expect(x['eth.src'][1]).toBe(kn.mac);
        expect(x['eth.dst'][1]).toBe(mac1);
        expect(x['icmp.type']).toEqual(['0']);
      }
    }, TEST_TIMEOUT);

    it('bulk TCP weft → kernel node, tshark on its underlay: every datagram one VXLAN frame within the MTU, inner IPv4 and TCP checksums good', async () => {
      const c = cluster();
      const kn = kernel();
      const n1 = c.nodes[0]!;
      const p1 = c.pods[0]!;
      const tunnelMtu = n1.subnetEnv().mtu;
      expect(kn.mtu, 'flannel.1 and weft agree on the tunnel MTU').toBe(tunnelMtu);
      const underlayMtu = kn.mtu + 50;
      // The lab's wire made to carry what a NIC puts on a real one. A veth hands skbs
      // over as they are: one UDP GSO send would reach the capture as one datagram of
      // up to 64 KB (its segments cut only "by the NIC"), and UDP checksums stay
      // partial (the pseudo-header sum, for a NIC that never fills them in). With TX
      // checksum and UDP segmentation off on the bridge port toward the kernel node,
      // the kernel cuts and checksums there in software, as a NIC would: the capture
      // holds the datagrams the kernel node receives. GRO off on the kernel node's
      // veth (the veth default) keeps the capture point ahead of any re-coalescing.
      // Both are put back afterwards.
      const port = `${kn.iface}p`;
      const NIC_LIKE: Record<string, string> = { 'tx-checksumming': 'tx', 'tx-udp-segmentation': 'tx-udp-segmentation' };
      const before = await ethtoolFeatures(c.ul, port);
      const changed = Object.keys(NIC_LIKE).filter((f) => before[f] === 'on');
      if (changed.length) await nsRun(c.ul, 'ethtool', ['-K', port, ...changed.flatMap((f) => [NIC_LIKE[f]!, 'off'])]);
      const groWasOn = (await ethtoolFeatures(kn.ns, kn.iface))['generic-receive-offload'] === 'on';
      if (groWasOn) await nsRun(kn.ns, 'ethtool', ['-K', kn.iface, 'gro', 'off']);
      try {
        const now = await ethtoolFeatures(c.ul, port);
        expect(now['tx-checksumming'], `${port} tx-checksumming`).toBe('off');
        expect(now['tx-udp-segmentation'] ?? 'off', `${port} tx-udp-segmentation`).toBe('off');
        const file = join(c.dir, 'kernel-node-bulk.pcapng');
        const cap = await Capture.start(janitor(), kn.ns, kn.iface, `udp port 4789 and src host ${n1.underlayIp}`, file, undefined, { bufferMiB: 64 });
        let capOutput = '';
        let r: Awaited<ReturnType<typeof tcpStream>>;
        try {
          r = await tcpStream(janitor(), p1, kn.pod, WIRE_CHECK_BYTES, 60_000);
        } finally {
          capOutput = await cap.stop();
        }
        expect(r.bytes).toBe(WIRE_CHECK_BYTES);
        expect(r.sha256, 'sha256 at the kernel pod = sha256 at the weft pod').toBe(r.sentSha256);

        const t0 = Date.now();
        const rows = await decodePcapFile(file, {
          fields: [
            'frame.number', 'frame.len', 'ip.len', 'ip.flags.mf', 'ip.frag_offset', 'ip.checksum.status',
            'udp.length', 'udp.checksum.status', 'vxlan.vni', 'tcp.len', 'tcp.checksum.status',
          ],
          decodeAs: ['udp.port==4789,vxlan'],
          // CHECKSUM_PREFS (default): tshark verifies IPv4 header, UDP and TCP checksums.
        });
        const decodeMs = Date.now() - t0;
        const { GOOD, NOT_PRESENT } = TSHARK_CHECKSUM;
        const problems = new Map<string, number[]>();
        const bad = (what: string, frame: number): void => {
          const list = problems.get(what) ?? [];
          list.push(frame);
          problems.set(what, list);
        };
        let tcpRows = 0;
        let tcpBytes = 0;
        let maxInner = 0;
        const udpCsum: Record<string, number> = {};
        for (const x of rows) {
          const frame = Number(x['frame.number'][0]);
          const ipLen = x['ip.len'].map(Number);
          if (ipLen.length !== 2) {
            bad('not outer IPv4 + VXLAN + inner IPv4', frame);
            continue;
          }
          const [outer, inner] = ipLen as [number, number];
          maxInner = Math.max(maxInner, inner);
          // The outer datagram: whole (no IP fragment), within the underlay MTU.
          if (x['ip.flags.mf'][0] !== '0' || x['ip.frag_offset'][0] !== '0') bad('outer IPv4 fragment', frame);
          if (outer > underlayMtu || Number(x['frame.len'][0]) > underlayMtu + 14) bad(`outer packet over the underlay MTU ${underlayMtu}`, frame);
          // Exactly one VXLAN frame per datagram: UDP 8 + VXLAN 8 + Ethernet 14 + the inner
          // packet (padded to the 60-byte Ethernet minimum at most). A GSO send cut at the
          // wrong size, or a super-packet, shows here.
          if (Number(x['udp.length'][0]) !== 8 + 8 + 14 + Math.max(inner, 46)) bad('UDP length ≠ one VXLAN frame with its inner packet', frame);
          // The segment itself within the tunnel MTU: no TSO super-packet let through.
          if (inner > tunnelMtu) bad(`inner packet over the tunnel MTU ${tunnelMtu}`, frame);
          if (x['vxlan.vni'][0] !== '1') bad('VNI not 1', frame);
          // IPv4 header checksums, outer (the sending kernel's) and inner (weft's bytes).
          if (x['ip.checksum.status'][0] !== GOOD) bad('outer IPv4 header checksum not good', frame);
          if (x['ip.checksum.status'][1] !== GOOD) bad('inner IPv4 header checksum not good', frame);
          // Outer UDP checksum: never weft's bytes (the kernel fills it in, here in
          // software on the port above); 0 is allowed for VXLAN over IPv4 (RFC 7348
          // §5, the kernel's own default): good or absent, never wrong.
          const u = x['udp.checksum.status'][0] ?? 'none';
          udpCsum[u] = (udpCsum[u] ?? 0) + 1;
          if (u !== GOOD && u !== NOT_PRESENT) bad('outer UDP checksum neither good nor 0', frame);
          if (x['tcp.checksum.status'].length > 0) {
            tcpRows++;
            tcpBytes += Number(x['tcp.len'][0] ?? 0);
            // Inner TCP checksum: with offloads on the pod's kernel leaves it partial and weft completes it per segment.
            if (x['tcp.checksum.status'][0] !== GOOD) bad('inner TCP checksum not good', frame);
          }
        }
        const summary = [...problems].map(([what, frames]) => `${what}: ${frames.length} frames (first ${frames.slice(0, 5).join(', ')})`);
        const captured = /(\d+) packets? captured/.exec(capOutput)?.[1] ?? '?';
        const dropped = /(\d+) packets? dropped/.exec(capOutput)?.[1] ?? '0';
        console.log(
          `[${name}/kernel] ${WIRE_CHECK_BYTES / 1024 / 1024} MiB ${p1.ip} → ${kn.pod.ip} in ${r.ms} ms; on ${kn.iface}: ${rows.length} datagrams from ${n1.name} ` +
            `(tshark: ${captured} captured, ${dropped} dropped; decoded in ${decodeMs} ms), ${tcpRows} TCP, ${tcpBytes} TCP payload bytes, ` +
            `largest inner packet ${maxInner}, outer UDP checksum status ${JSON.stringify(udpCsum)}`,
        );
        expect(summary, `datagrams on ${kn.iface} that break the rules (capture kept in ${file})`).toEqual([]);
        // Not a vacuous pass: the capture holds the transfer (less what tshark may drop).
        expect(tcpRows).toBeGreaterThan(0);
        expect(tcpBytes, 'TCP payload seen on the wire').toBeGreaterThanOrEqual(0.9 * WIRE_CHECK_BYTES);
      } finally {
        if (changed.length) await nsRun(c.ul, 'ethtool', ['-K', port, ...changed.flatMap((f) => [NIC_LIKE[f]!, 'on'])]);
        if (groWasOn) await nsRun(kn.ns, 'ethtool', ['-K', kn.iface, 'gro', 'on']);
      }
    }, TEST_TIMEOUT);
  });
}
