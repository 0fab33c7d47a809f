// `weft lab` end to end, as a user runs it: `weft lab …` child processes (the
// built dist/; build first). Needs root. One file on purpose: there is one lab
// per machine, so these tests run one after the other, and afterAll always runs
// `weft lab down`.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCi } from '../helpers/tshark.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WEFT = `${ROOT}bin/weft.js`;
const SHIM = `${ROOT}test/lab/weft-lab.mjs`;
const LAB_DIR = '/run/weft-lab';
const STATE = `${LAB_DIR}/state.json`;
const T = 120_000;
const TCP = `${ROOT}test/integration/fixtures/tcp.mjs`;
const UDP_GSO = `${ROOT}test/integration/fixtures/udp-gso.mjs`;

/** `weft lab …`: through bin/weft.js once main.ts knows the command, else the shim. */
function labArgv(): string[] {
  const help = spawnSync(process.execPath, [WEFT, '--help'], { encoding: 'utf8' });
  return /^\s+lab\s/m.test(help.stdout ?? '') ? [WEFT, 'lab'] : [SHIM];
}

function missing(): string[] {
  const out: string[] = [];
  if (process.platform !== 'linux') return ['Linux'];
  if (process.getuid?.() !== 0) out.push('root (network namespaces): run as root');
  for (const [tool, fix] of [['ip', 'iproute2'], ['ping', 'iputils-ping'], ['sysctl', 'procps']] as const) {
    if (spawnSync(tool, ['-V'], { stdio: 'ignore' }).error) out.push(`${tool} (apt-get install -y ${fix})`);
  }
  if (!existsSync('/dev/net/tun')) out.push('/dev/net/tun (modprobe tun)');
  if (!existsSync(`${ROOT}dist/src/cli/lab.js`)) out.push('dist/src/cli/lab.js (build first: npx tsc -p tsconfig.json)');
  return out;
}

function skip(): boolean {
  const m = missing();
  if (m.length === 0) return false;
  const msg = `weft lab tests need: ${m.join('; ')}`;
  if (isCi()) throw new Error(`${msg} (required in CI)`);
  console.warn(`${msg}: skipped`);
  return true;
}

const haveEtcd = !spawnSync('etcd', ['--version'], { stdio: 'ignore' }).error;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

let LAB: string[] = [];
/** Set once beforeAll saw no lab: only then is the lab ours to remove. */
let owned = false;

function lab(args: string[], timeoutMs = 90_000): Promise<Result> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...LAB, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code, sig) => {
      clearTimeout(timer);
      resolve({ code: code ?? (sig ? 128 : -1), stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

/** `weft lab …` in the background, for interrupting it half-way. */
function labBackground(args: string[]) {
  const child = spawn(process.execPath, [...LAB, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('close', (code, signal) => r({ code, signal })));
  return { child, exited, output: () => out };
}

function labNamespaces(): string[] {
  return spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .stdout.split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith('weftlab-'));
}

/** Processes whose command line names the lab dir (every weft and etcd of a lab does). */
function labProcesses(): string[] {
  const out: string[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8').replace(/\0/g, ' ');
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      if (cmd.includes(`${LAB_DIR}/`)) out.push(`${e} ${cmd}`);
    } catch {
      // gone
    }
  }
  return out;
}

function expectNothingLeft(): void {
  expect(labNamespaces(), 'weftlab-* namespaces left').toEqual([]);
  expect(labProcesses(), 'lab processes left').toEqual([]);
  expect(existsSync(LAB_DIR), `${LAB_DIR} left`).toBe(false);
}

interface StatusJson {
  lab: boolean;
  healthy: boolean;
  phase: string;
  nodes: { name: string; ns: string; alive: boolean; ready: boolean; peers: number | null; subnet: string | null }[];
  pods: { name: string; ns: string; address: string; exists: boolean }[];
}

/** Tcp InCsumErrors of a lab namespace's kernel (/proc/net/snmp is per network namespace). */
async function tcpChecksumErrors(target: string): Promise<number> {
  const r = await lab(['exec', target, '--', 'cat', '/proc/net/snmp']);
  const [names, values] = r.stdout.split('\n').filter((l) => l.startsWith('Tcp:'));
  const i = names!.trim().split(/\s+/).indexOf('InCsumErrors');
  expect(i, r.stdout).toBeGreaterThan(0);
  return Number(values!.trim().split(/\s+/)[i]);
}

async function statusJson(): Promise<StatusJson> {
  const r = await lab(['status', '--json']);
  return JSON.parse(r.stdout) as StatusJson;
}

const podIp = (s: StatusJson, i: number): string => s.pods[i]!.address.split('/')[0]!;

async function waitForState(test: (state: any) => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (test(JSON.parse(readFileSync(STATE, 'utf8')))) return;
    } catch {
      // not there yet, or being replaced
    }
    if (Date.now() > deadline) throw new Error(`state never got there: ${existsSync(STATE) ? readFileSync(STATE, 'utf8') : 'no state file'}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(skip())('weft lab (network namespaces, root)', () => {
  beforeAll(() => {
    LAB = labArgv();
    if (labNamespaces().length > 0 || existsSync(LAB_DIR)) {
      throw new Error(`a weft lab already exists on this machine (${labNamespaces().join(' ') || LAB_DIR}): these tests would remove it; run \`weft lab down\` first`);
    }
    owned = true;
  });

  afterAll(async () => {
    // Whatever happened above: no lab outlives the suite.
    // A lab that was there before the suite (someone's, or another run's) is left alone.
    if (!owned) return;
    await lab(['down'], 60_000);
    expectNothingLeft();
  }, T);

  describe('a 2-node vxlan lab with the file registry', () => {
    it('comes up', async () => {
      const r = await lab(['up', '--nodes', '2']);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/lab up in/);
      expect(labNamespaces().sort()).toEqual(['weftlab-node1', 'weftlab-node2', 'weftlab-pod1', 'weftlab-pod2', 'weftlab-ul']);
      const config = JSON.parse(readFileSync(`${LAB_DIR}/registry.json`, 'utf8'))['/coreos.com/network/config'];
      expect(JSON.parse(config)).toEqual({ Network: '10.244.0.0/16', Backend: { Type: 'vxlan', Port: 4789 } });
    }, T);

    it('lab status shows every node ready', async () => {
      const s = await statusJson();
      expect(s.lab).toBe(true);
      expect(s.healthy).toBe(true);
      expect(s.phase).toBe('up');
      expect(s.nodes.map((n) => [n.name, n.alive, n.ready, n.peers])).toEqual([
        ['node1', true, true, 1],
        ['node2', true, true, 1],
      ]);
      for (const n of s.nodes) expect(n.subnet).toMatch(/^10\.244\.\d+\.0\/24$/);
      const text = await lab(['status']);
      expect(text.code, text.stderr).toBe(0);
      expect(text.stdout).toMatch(/node1\s+weftlab-node1\s+198\.51\.100\.11\s+10\.244\.\d+\.0\/24\s+\d+ alive\s+yes\s+1/);
      expect(text.stdout).toMatch(/pod2\s+weftlab-pod2\s+10\.244\.\d+\.2\/24/);
    }, T);

    it('pods are wired from the subnet file as the flannel CNI bridge plugin would', async () => {
      const s = await statusJson();
      for (const [i, pod] of s.pods.entries()) {
        const env = readFileSync(`${LAB_DIR}/node${i + 1}/subnet.env`, 'utf8');
        const subnet = /^FLANNEL_SUBNET=(.*)$/m.exec(env)![1]!;
        const mtu = /^FLANNEL_MTU=(.*)$/m.exec(env)![1]!;
        const gw = subnet.split('/')[0]!;
        const route = await lab(['exec', pod.name, '--', 'ip', 'route', 'show', 'default']);
        expect(route.stdout).toMatch(new RegExp(`default via ${gw.replace(/\./g, '\\.')} dev wleth0`));
        const addr = await lab(['exec', pod.name, '--', 'ip', '-o', 'link', 'show', 'wleth0']);
        expect(addr.stdout).toMatch(new RegExp(`mtu ${mtu} `));
        const bridge = await lab(['exec', `node${i + 1}`, '--', 'ip', '-o', '-4', 'addr', 'show', 'wlcni0']);
        expect(bridge.stdout).toContain(subnet);
      }
    }, T);

    it('pods ping each other through lab exec', async () => {
      const s = await statusJson();
      const ab = await lab(['exec', 'pod1', '--', 'ping', '-n', '-c', '3', '-i', '0.2', '-W', '2', podIp(s, 1)]);
      expect(ab.code, ab.stdout + ab.stderr).toBe(0);
      expect(ab.stdout).toMatch(/3 packets transmitted, 3 received/);
      const ba = await lab(['exec', 'weftlab-pod2', '--', 'ping', '-n', '-c', '3', '-i', '0.2', '-W', '2', podIp(s, 0)]);
      expect(ba.code, ba.stdout + ba.stderr).toBe(0);
      // The node's own `weft status` saw the packets.
      const st = await lab(['exec', 'node1', '--', 'weft', 'status', '--json']);
      const ws = JSON.parse(st.stdout) as { workers: { txPackets: number; rxPackets: number }[] };
      expect(ws.workers.reduce((a, w) => a + w.txPackets, 0)).toBeGreaterThanOrEqual(6);
    }, T);

    it('weft status in a node prints its lease, peers, workers and drops', async () => {
      const s = await statusJson();
      const st = await lab(['exec', 'node1', '--', 'weft', 'status']);
      expect(st.code, st.stderr).toBe(0);
      expect(st.stdout).toMatch(/^lease {5}10\.244\.\d+\.0\/24 on 198\.51\.100\.\d+ \(vxlan, VNI 1, port 4789\)/m);
      expect(st.stdout).toMatch(/vtep mac  ([0-9a-f]{2}:){5}[0-9a-f]{2} {4}mtu 1450 {4}tun weft0 {4}ready/);
      expect(st.stdout).toContain('peers (1)');
      expect(st.stdout).toContain(s.nodes[1]!.subnet);
      expect(st.stdout).toMatch(/workers \(\d+, 0 restarted\)/);
    }, T);

    it('weft trace walks pod1 → pod2 to delivery, and explains a DF packet over the MTU', async () => {
      const s = await statusJson();
      const ok = await lab(['exec', 'node1', '--', 'weft', 'trace', podIp(s, 0), podIp(s, 1)]);
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.stdout).toContain(`longest prefix ${s.nodes[1]!.subnet}`);
      expect(ok.stdout).toMatch(/VXLAN {9}8 B {2}flags 0x08 \(I\), VNI 1/);
      expect(ok.stdout.trim().split('\n').at(-1)).toBe('= delivered');
      const big = await lab(['exec', 'node1', '--', 'weft', 'trace', podIp(s, 0), podIp(s, 1), '--size', '1460']);
      expect(big.stdout).toMatch(/1460 bytes > tunnel MTU 1450 with DF set/);
      expect(big.stdout.trim().split('\n').at(-1)).toBe('= drop: too_big');
    }, T);

    it.each(['outer', 'inner'] as const)('weft capture --%s writes a pcap tshark reads back', async (side) => {
      const s = await statusJson();
      const file = `${LAB_DIR}/capture-${side}.pcap`;
      const cap = labBackground(['exec', 'node1', '--', 'weft', 'capture', `--${side}`, '-w', file, '--count', '4', '--seconds', '20']);
      await new Promise((r) => setTimeout(r, 800)); // the capture is switched on
      const ping = await lab(['exec', 'pod1', '--', 'ping', '-n', '-c', '3', '-i', '0.2', '-W', '2', podIp(s, 1)]);
      expect(ping.code).toBe(0);
      const done = await cap.exited;
      expect(done.code).toBe(0);
      const fields = side === 'outer'
        ? ['ip.src', 'ip.dst', 'udp.dstport', 'vxlan.vni', 'icmp.type']
        : ['ip.src', 'ip.dst', 'icmp.type'];
      const out = spawnSync('tshark', ['-r', file, '-n', '-T', 'fields', ...fields.flatMap((f) => ['-e', f]), '-E', 'separator=;'], { encoding: 'utf8' });
      expect(out.status, out.stderr).toBe(0);
      const rows = out.stdout.trim().split('\n');
      expect(rows).toHaveLength(4);
      const pods = [podIp(s, 0), podIp(s, 1)];
      for (const row of rows) {
        const [src, dst, ...rest] = row.split(';');
        if (side === 'outer') {
          // outer and inner addresses, in that order: underlay, then the pods
          expect(src!.split(',')[0]).toMatch(/^198\.51\.100\./);
          expect(pods).toContain(src!.split(',')[1]);
          expect(pods).toContain(dst!.split(',')[1]);
          expect(rest[0]).toBe('4789');
          expect(rest[1]).toBe('1');
          expect(['0', '8']).toContain(rest[2]);
        } else {
          expect(pods).toContain(src);
          expect(pods).toContain(dst);
          expect(['0', '8']).toContain(rest[0]);
        }
      }
    }, T);

    it('an outer capture during a 32 MiB TCP transfer (offloads on): the bytes arrive intact; every captured segment is whole, with good checksums', async () => {
      // The segments of a super-packet lie back to back, so an outer capture
      // rebuilds headers over the previous segment's tail and must put it back.
      const s = await statusJson();
      const file = `${LAB_DIR}/capture-bulk.pcap`;
      const cap = labBackground(['exec', 'node1', '--', 'weft', 'capture', '--outer', '-w', file, '--count', '2000', '--seconds', '30']);
      await new Promise((r) => setTimeout(r, 800));
      const csumErrors0 = await tcpChecksumErrors('pod2');
      const sink = labBackground(['exec', 'pod2', '--', process.execPath, TCP, 'sink', podIp(s, 1), '5301']);
      const deadline = Date.now() + 10_000;
      while (!sink.output().includes('listening') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const src = await lab(['exec', 'pod1', '--', process.execPath, TCP, 'stream', String(32 << 20), podIp(s, 1), '5301']);
      expect(src.code, src.stderr).toBe(0);
      expect((await sink.exited).code).toBe(0);
      const sent = JSON.parse(src.stdout.trim().split('\n').at(-1)!) as { sent: number; sha256: string };
      const got = JSON.parse(sink.output().trim().split('\n').at(-1)!) as { bytes: number; sha256: string };
      expect(got).toEqual({ bytes: 32 << 20, sha256: sent.sha256 });
      // TCP would repair a segment damaged on the way by resending it: the
      // receiving pod's kernel must have found no bad checksum at all.
      expect(await tcpChecksumErrors('pod2')).toBe(csumErrors0);
      await cap.exited;
      const out = spawnSync(
        'tshark',
        ['-r', file, '-n', '-o', 'tcp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE', '-Y', 'tcp.len > 0', '-T', 'fields', '-e', 'ip.len', '-e', 'tcp.checksum.status', '-e', 'ip.checksum.status', '-E', 'separator=;'],
        { encoding: 'utf8', maxBuffer: 64 << 20 },
      );
      expect(out.status, out.stderr).toBe(0);
      const rows = out.stdout.trim().split('\n').filter((l) => l !== '');
      expect(rows.length).toBeGreaterThan(100);
      for (const row of rows) {
        const [lens, tcpStatus, ipStatus] = row.split(';');
        const inner = Number(lens!.split(',')[1]);
        expect(inner).toBeLessThanOrEqual(1450); // the vxlan lab's tunnel MTU: one segment, not a super-packet
        expect(tcpStatus).toBe('1'); // Good
        expect(ipStatus!.split(',')[1]).toBe('1');
      }
    }, T);

    it('a pod sending with UDP_SEGMENT: weft reads the UDP super-packets (USO), cuts them, and every datagram arrives intact', async () => {
      const s = await statusJson();
      const metric = async (name: string): Promise<number> => {
        const r = await lab(['exec', 'node1', '--', 'curl', '-s', '127.0.0.1:10250/metrics']);
        return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(r.stdout)?.[1] ?? NaN);
      };
      const super0 = await metric('weft_tso_super_packets_total');
      const sink = labBackground(['exec', 'pod2', '--', process.execPath, UDP_GSO, 'recv', podIp(s, 1), '5302', '2000']);
      const deadline = Date.now() + 10_000;
      while (!sink.output().includes('listening') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const src = await lab(['exec', 'pod1', '--', process.execPath, UDP_GSO, 'send', podIp(s, 1), '5302', '200']);
      expect(src.code, src.stderr).toBe(0);
      expect(JSON.parse(src.stdout.trim())).toEqual({ sent: 2000 });
      expect((await sink.exited).code).toBe(0);
      expect(JSON.parse(sink.output().trim().split('\n').at(-1)!)).toEqual({ datagrams: 2000, bad: 0 });
      // The super-packets reached weft whole: one read per 10 datagrams.
      expect((await metric('weft_tso_super_packets_total')) - super0).toBeGreaterThanOrEqual(100);
    }, T);

    it('small datagrams read one by one are sent as UDP GSO runs: every datagram arrives intact, with far fewer sends', async () => {
      const s = await statusJson();
      const metric = async (name: string): Promise<number> => {
        const r = await lab(['exec', 'node1', '--', 'curl', '-s', '127.0.0.1:10250/metrics']);
        return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(r.stdout)?.[1] ?? NaN);
      };
      const sends0 = await metric('weft_udp_gso_sends_total');
      const segs0 = await metric('weft_udp_gso_segments_total');
      const sink = labBackground(['exec', 'pod2', '--', process.execPath, UDP_GSO, 'recv', podIp(s, 1), '5303', '5000']);
      const deadline = Date.now() + 10_000;
      while (!sink.output().includes('listening') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const src = await lab(['exec', 'pod1', '--', process.execPath, UDP_GSO, 'burst', podIp(s, 1), '5303', '500']);
      expect(src.code, src.stderr).toBe(0);
      expect((await sink.exited).code).toBe(0);
      expect(JSON.parse(sink.output().trim().split('\n').at(-1)!)).toEqual({ datagrams: 5000, bad: 0 });
      const sends = (await metric('weft_udp_gso_sends_total')) - sends0;
      const segs = (await metric('weft_udp_gso_segments_total')) - segs0;
      // Runs formed: datagrams went out several per send (how many depends on how fast weft reads).
      console.log(`5000 datagrams of 1000 bytes: ${segs} sent in ${sends} UDP_SEGMENT sends (${(segs / sends).toFixed(1)} per send)`);
      expect(sends).toBeGreaterThan(0);
      expect(segs / sends).toBeGreaterThan(2);
    }, T);

    it('lab exec returns the command exit code and refuses unknown targets', async () => {
      expect((await lab(['exec', 'pod1', '--', 'sh', '-c', 'exit 7'])).code).toBe(7);
      const none = await lab(['exec', 'pod9', '--', 'true']);
      expect(none.code).toBe(1);
      expect(none.stderr).toMatch(/no weftlab-pod9/);
      const bad = await lab(['exec', 'wefttest-s1', '--', 'true']);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/not a lab namespace/);
    }, T);

    it('a second up is refused and leaves the first lab alone', async () => {
      const r = await lab(['up', '--nodes', '3']);
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toMatch(/^weft lab: a weft lab already exists \(.*\): run `weft lab down` first$/);
      const s = await statusJson();
      expect(s.healthy).toBe(true);
      expect(s.nodes).toHaveLength(2);
    }, T);

    it('down leaves no weftlab-* namespace and no weft process', async () => {
      const r = await lab(['down']);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/removed \/run\/weft-lab/);
      expectNothingLeft();
      const again = await lab(['down']);
      expect(again.code).toBe(0);
      expect(again.stdout).toMatch(/nothing to remove/);
      const st = await lab(['status']);
      expect(st.code).toBe(1);
      expect(st.stderr).toMatch(/no lab is running/);
    }, T);
  });

  it.skipIf(!haveEtcd)('--etcd: a real etcd in the underlay namespace, 3 nodes over the udp backend', async () => {
    try {
      const r = await lab(['up', '--nodes', '3', '--backend', 'udp', '--etcd']);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/etcd pid \d+ on http:\/\/198\.51\.100\.2:2379/);
      const s = await statusJson();
      expect(s.healthy).toBe(true);
      expect(s.nodes.every((n) => n.ready && n.peers === 2)).toBe(true);
      const p = await lab(['exec', 'pod3', '--', 'ping', '-n', '-c', '2', '-i', '0.2', '-W', '2', podIp(s, 0)]);
      expect(p.code, p.stdout + p.stderr).toBe(0);
    } finally {
      const d = await lab(['down']);
      expect(d.code, d.stdout + d.stderr).toBe(0);
    }
    expectNothingLeft();
  }, T);

  it('ipip backend: pods ping each other', async () => {
    try {
      const r = await lab(['up', '--nodes', '2', '--backend', 'ipip']);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const s = await statusJson();
      const p = await lab(['exec', 'pod1', '--', 'ping', '-n', '-c', '2', '-i', '0.2', '-W', '2', podIp(s, 1)]);
      expect(p.code, p.stdout + p.stderr).toBe(0);
    } finally {
      await lab(['down']);
    }
    expectNothingLeft();
  }, T);

  it('host-gw backend: pods ping each other through kernel routes; the status and report show routes, not workers', async () => {
    try {
      const r = await lab(['up', '--nodes', '2', '--backend', 'host-gw']);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/on kernel routes \(host-gw\)/);
      const s = await statusJson();
      expect(s.healthy).toBe(true);
      const p = await lab(['exec', 'pod1', '--', 'ping', '-n', '-c', '2', '-i', '0.2', '-W', '2', podIp(s, 1)]);
      expect(p.code, p.stdout + p.stderr).toBe(0);
      const st = await lab(['exec', 'node1', '--', process.execPath, WEFT, 'status']);
      expect(st.stdout).toMatch(/^routes \(1\)$/m);
      expect(st.stdout).toMatch(/no tunnel: the kernel forwards/);
    } finally {
      await lab(['down']);
    }
    expectNothingLeft();
  }, T);

  it('down cleans up after `up` was killed with SIGKILL half-way', async () => {
    const up = labBackground(['up', '--nodes', '3']);
    try {
      // Half-way: every weft started, pods not yet made.
      await waitForState((s) => s.nodes.length === 3 && s.nodes.every((n: { pid: number | null }) => n.pid !== null) && s.pods.length === 0);
      up.child.kill('SIGKILL');
      await up.exited;
      expect(labNamespaces().length, up.output()).toBeGreaterThanOrEqual(4);
      expect(labProcesses().length).toBeGreaterThanOrEqual(1);
      const st = await statusJson();
      expect(st.healthy).toBe(false);
    } finally {
      up.child.kill('SIGKILL');
      const d = await lab(['down']);
      expect(d.code, d.stdout + d.stderr).toBe(0);
    }
    expectNothingLeft();
  }, T);

  it('down cleans up without the state file', async () => {
    try {
      const r = await lab(['up', '--nodes', '2']);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      rmSync(STATE);
      const st = await lab(['status']);
      expect(st.code).toBe(1);
      expect(st.stderr).toMatch(/lab namespaces exist .* weft lab down/);
      const again = await lab(['up']);
      expect(again.stderr).toMatch(/already exists/);
    } finally {
      const d = await lab(['down']);
      expect(d.code, d.stdout + d.stderr).toBe(0);
    }
    expectNothingLeft();
  }, T);

  it('Ctrl-C during up removes what it made', async () => {
    const up = labBackground(['up', '--nodes', '3']);
    try {
      await waitForState((s) => s.nodes.some((n: { pid: number | null }) => n.pid !== null));
      up.child.kill('SIGINT');
      const { code } = await up.exited;
      expect(code, up.output()).toBe(130);
      expect(up.output()).toMatch(/interrupted/);
      expectNothingLeft();
    } finally {
      up.child.kill('SIGKILL');
      await lab(['down']);
    }
  }, T);

  it('demo runs end to end in under 60 s and leaves nothing behind', async () => {
    const r = await lab(['demo'], 120_000);
    console.log(`weft lab demo took ${(r.ms / 1000).toFixed(1)} s`);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.ms).toBeLessThan(60_000);
    expect(r.stdout.match(/^ {2}ok {3}pod\d .* → pod\d .*: 3\/3 answered/gm)).toHaveLength(3);
    expect(r.stdout).toMatch(/throughput: .*\n {2}\d+ (Mbit\/s|MB in)/);
    expect(r.stdout).toMatch(/weft trace 10\.244\.\d+\.2 10\.244\.\d+\.2/);
    expect(r.stdout).toMatch(/demo done in/);
    expectNothingLeft();
  }, T);

  it('Ctrl-C during the demo still ends with down', async () => {
    const demo = labBackground(['demo']);
    try {
      await waitForState((s) => s.phase === 'up', 60_000);
      demo.child.kill('SIGINT');
      const { code } = await demo.exited;
      expect(code, demo.output()).toBe(130);
      expect(demo.output()).toMatch(/removed \/run\/weft-lab/);
      expectNothingLeft();
    } finally {
      demo.child.kill('SIGKILL');
      await lab(['down']);
    }
  }, T);

  it('says what it needs, in one line, when not run as root', async () => {
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, ...LAB, 'status'], { encoding: 'utf8' });
    if (r.error) return; // no setpriv here
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('weft lab needs root (network namespaces): run it with sudo\n');
  }, T);
});
