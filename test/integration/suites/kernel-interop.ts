// Test 4: a node whose VXLAN is the kernel's, programmed as flannel programs it,
// among weft nodes (network config "Port": 4789 so both use one port). Traffic
// flows both ways between its pod and weft pods, and what weft puts on the wire
// decodes in tshark as VXLAN with VNI 1, the I flag set and the right inner
// addresses.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodePcapFile } from '../../helpers/tshark.js';
import { Capture } from '../harness/capture.js';
import type { Cluster } from '../harness/cluster.js';
import { HOOK_TIMEOUT, TEST_TIMEOUT } from '../harness/context.js';
import { waitFor } from '../harness/exec.js';
import type { Janitor } from '../harness/janitor.js';
import { KernelNode } from '../harness/kernel-node.js';
import { ping, pingUntilReachable, randomFile, tcpTransfer } from '../harness/traffic.js';
import { FILE_BYTES } from './backend.js';

export const KERNEL_NODE_IP = '198.51.100.100';
export const KERNEL_NODE_SUBNET = '10.244.250.0/24';

export function kernelInteropTests(cluster: () => Cluster, janitor: () => Janitor): void {
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

    it('a 20 MB file crosses intact both ways (weft → kernel, kernel → weft)', async () => {
      const c = cluster();
      const kp = kernel().pod;
      const file = randomFile(janitor().dir, FILE_BYTES);
      for (const [from, to] of [[c.pods[0]!, kp], [kp, c.pods[1]!]] as const) {
        const r = await tcpTransfer(janitor(), from, to, file.path);
        console.log(`[vxlan/kernel] 20 MB ${from.ip} → ${to.ip}: ${r.ms} ms`);
        expect(r.bytes).toBe(FILE_BYTES);
        expect(r.sha256).toBe(file.sha256);
      }
    }, TEST_TIMEOUT);

    it('on the wire (tshark on the kernel node): VNI 1, I flag, MACs and inner addresses right', async () => {
      const c = cluster();
      const kn = kernel();
      const n1 = c.nodes[0]!;
      const p1 = c.pods[0]!;
      const mac1 = (await n1.status()).vtepMac;
      const pings = 5;
      const file = join(janitor().dir, 'kernel-node-underlay.pcapng');
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
  });
}
