// UDP GSO (UDP_SEGMENT on send) and GRO (UDP_GRO on receive) through MmsgVector.
// The first suites run in this process over 127.0.0.1 (no root needed, nothing is
// configured); the last one (root) sends over a veth pair between two test namespaces,
// where the route MTU is 1500.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../native-free/errors.js';
import { AF_INET, EINVAL, EMSGSIZE, SOL_SOCKET, SO_NO_CHECK } from '../../src/sys/constants.js';
import { SyscallError } from '../../src/sys/errors.js';
import { closeQuietly, libc } from '../../src/sys/libc.js';
import { CMSG_AREA, MmsgVector, PacketSlab, recvBatch, sendBatch } from '../../src/sys/mmsg.js';
import { parseIPv4 } from '../../native-free/addr.js';
import { setIntOption } from '../../src/sys/socket.js';
import { enableUdpGro, localAddress, openUdp, udpGsoSupported, waitReadable } from '../../src/sys/udp.js';
import { cleanupAll, cleanupStale, isRoot, makeNs, veth } from './netns.js';

const LO = parseIPv4('127.0.0.1');
const SOCK_STREAM = 1;

/** Whether this kernel has UDP_SEGMENT (4.18) and UDP_GRO (5.0); probed on a throwaway socket. */
function kernelHasOffloads(): boolean {
  const fd = openUdp('127.0.0.1', 0);
  try {
    return udpGsoSupported(fd) && enableUdpGro(fd);
  } finally {
    closeQuietly(fd);
  }
}
const offloads = kernelHasOffloads();

/** Deterministic, position-dependent bytes, so that a misplaced segment shows. */
function fill(buf: Uint8Array, off: number, len: number, seed: number): void {
  for (let k = 0; k < len; k++) buf[off + k] = (seed * 31 + k * 7 + (k >> 8)) & 0xff;
}

interface Got {
  len: number;
  gso: number;
  data: Buffer;
  port: number;
  truncated: boolean;
}

describe.skipIf(!offloads)('UDP GSO and GRO over loopback', () => {
  // Send side: one slab, a control vector; receive side: 64 KiB slots (a GRO entry can be
  // that large) and a control vector armed once: recvBatch re-arms the cmsg areas.
  const tx = { fd: -1, port: 0 };
  const plain = { fd: -1, port: 0 }; // an ordinary socket: the kernel segments GSO sends for it
  const gro = { fd: -1, port: 0 }; // UDP_GRO on
  const slab = new PacketSlab({ slots: 8, slotSize: 65536, headroom: 0 });
  const vec = new MmsgVector(slab, 8, { control: true });
  const rslab = new PacketSlab({ slots: 32, slotSize: 65536, headroom: 0 });
  const rvec = new MmsgVector(rslab, 32, { control: true });

  beforeAll(() => {
    for (const s of [tx, plain, gro]) {
      s.fd = openUdp('127.0.0.1', 0, { rcvBuf: 4 << 20, sndBuf: 4 << 20 });
      s.port = localAddress(s.fd).port;
    }
    expect(enableUdpGro(gro.fd)).toBe(true);
    rvec.armRecvAll();
  });
  afterAll(() => {
    for (const s of [tx, plain, gro]) closeQuietly(s.fd);
  });
  afterEach(() => {
    // Nothing a test sent may be left for the next one.
    expect(receive(plain.fd, 1, 30)).toEqual([]);
    expect(receive(gro.fd, 1, 30)).toEqual([]);
  });

  /** Receives until `want` entries came or nothing more arrives within timeoutMs. */
  function receive(fd: number, want: number, timeoutMs = 2000): Got[] {
    const got: Got[] = [];
    const deadline = Date.now() + timeoutMs;
    while (got.length < want) {
      const left = deadline - Date.now();
      if (left <= 0 || !waitReadable(fd, left)) break;
      const n = recvBatch(fd, rvec);
      for (let i = 0; i < n; i++) {
        const off = rvec.offset(i);
        got.push({
          len: rvec.length(i),
          gso: rvec.gsoSize(i),
          data: Buffer.from(rslab.buf.subarray(off, off + rvec.length(i))),
          port: rvec.peerPort(i),
          truncated: rvec.truncated(i),
        });
      }
    }
    return got;
  }

  /** Entry i of vec: len fresh bytes in slot i, to port, with segment. Returns the bytes. */
  function entry(i: number, len: number, port: number, segment: number): Buffer {
    const off = slab.dataOffset(i);
    fill(slab.buf, off, len, i + 1 + segment);
    vec.setSend(i, off, len, LO, port, segment);
    return Buffer.from(slab.buf.subarray(off, off + len));
  }

  /** bytes cut every `size` bytes. */
  function cut(bytes: Buffer, size: number): Buffer[] {
    const parts: Buffer[] = [];
    for (let o = 0; o < bytes.length; o += size) parts.push(bytes.subarray(o, Math.min(o + size, bytes.length)));
    return parts;
  }

  it('finds UDP_SEGMENT and UDP_GRO; refuses them as unsupported on a TCP socket; throws on a bad fd', () => {
    expect(udpGsoSupported(tx.fd)).toBe(true);
    const tcp = libc.socket(AF_INET, SOCK_STREAM, 0);
    expect(tcp).toBeGreaterThanOrEqual(0);
    try {
      // SOL_UDP options on TCP: ENOPROTOOPT, the same answer as a kernel without them.
      expect(udpGsoSupported(tcp)).toBe(false);
      expect(enableUdpGro(tcp)).toBe(false);
    } finally {
      closeQuietly(tcp);
    }
    expect(() => enableUdpGro(-1)).toThrow(SyscallError);
    expect(() => udpGsoSupported(-1)).toThrow(/UDP_SEGMENT.*EBADF/);
  });

  it('GSO send: 3×1000 + 500 bytes with segment 1000 reach a plain socket as 4 datagrams', () => {
    const bytes = entry(0, 3500, plain.port, 1000);
    expect(sendBatch(tx.fd, vec, 0, 1)).toBe(1);
    expect(vec.length(0)).toBe(3500); // sendmmsg's msg_len: the whole buffer
    const got = receive(plain.fd, 4);
    expect(got.map((g) => g.len)).toEqual([1000, 1000, 1000, 500]);
    expect(got.map((g) => g.gso)).toEqual([0, 0, 0, 0]);
    expect(got.map((g) => g.port)).toEqual([tx.port, tx.port, tx.port, tx.port]);
    expect(Buffer.concat(got.map((g) => g.data)).equals(bytes)).toBe(true);
  });

  it('GRO receive: the same send reaches a UDP_GRO socket whole, as one 3500-byte entry with gsoSize 1000', () => {
    // Loopback keeps the GSO skb whole (lo has tx-udp-segmentation) and udp_queue_rcv_skb
    // queues it unsegmented to a socket that accepts GSO packets (UDP_GRO).
    const bytes = entry(0, 3500, gro.port, 1000);
    expect(sendBatch(tx.fd, vec, 0, 1)).toBe(1);
    const got = receive(gro.fd, 1);
    expect(got.map((g) => [g.len, g.gso, g.truncated])).toEqual([[3500, 1000, false]]);
    expect(got[0]!.data.equals(bytes)).toBe(true);
    expect(got[0]!.port).toBe(tx.port);
  });

  it('a mixed vector: GSO, plain and another segment size, in one sendBatch', () => {
    const sends = (port: number) => [entry(0, 2500, port, 1000), entry(1, 700, port, 0), entry(2, 1000, port, 300)];
    const a = sends(plain.port);
    expect(sendBatch(tx.fd, vec, 0, 3)).toBe(3);
    const got = receive(plain.fd, 8);
    expect(got.map((g) => g.len)).toEqual([1000, 1000, 500, 700, 300, 300, 300, 100]);
    expect(got.every((g) => g.gso === 0)).toBe(true);
    const want = [...cut(a[0]!, 1000), a[1]!, ...cut(a[2]!, 300)];
    got.forEach((g, k) => expect(g.data.equals(want[k]!), `datagram ${k}`).toBe(true));

    const b = sends(gro.port);
    expect(sendBatch(tx.fd, vec, 0, 3)).toBe(3);
    const gotGro = receive(gro.fd, 3);
    expect(gotGro.map((g) => [g.len, g.gso])).toEqual([
      [2500, 1000],
      [700, 0],
      [1000, 300],
    ]);
    gotGro.forEach((g, k) => expect(g.data.equals(b[k]!), `entry ${k}`).toBe(true));
  });

  it('gsoSize is 0 for plain datagrams on a GRO socket, and recvBatch re-arms the cmsg areas every time', () => {
    // The kernel sets msg_controllen to what it wrote: 24 after a UDP_GRO cmsg, 0 after
    // a plain datagram. Without the reset in recvBatch the third round would see no cmsg.
    for (const [segment, want] of [
      [1000, [[3000, 1000]]],
      [0, [[3000, 0]]],
      [1000, [[3000, 1000]]],
      [0, [[3000, 0]]],
      [500, [[3000, 500]]],
    ] as const) {
      entry(0, 3000, gro.port, segment);
      expect(sendBatch(tx.fd, vec, 0, 1)).toBe(1);
      expect(receive(gro.fd, 1).map((g) => [g.len, g.gso])).toEqual(want);
    }
    // Several plain datagrams in one recvBatch: each its own entry, no cmsg.
    for (let i = 0; i < 4; i++) entry(i, 100 + i, gro.port, 0);
    expect(sendBatch(tx.fd, vec, 0, 4)).toBe(4);
    expect(receive(gro.fd, 4).map((g) => [g.len, g.gso])).toEqual([
      [100, 0],
      [101, 0],
      [102, 0],
      [103, 0],
    ]);
  });

  it('a GSO send of at most one segment is a plain datagram (no UDP_GRO cmsg)', () => {
    entry(0, 1000, gro.port, 1000);
    entry(1, 999, gro.port, 1000);
    expect(sendBatch(tx.fd, vec, 0, 2)).toBe(2);
    expect(receive(gro.fd, 2).map((g) => [g.len, g.gso])).toEqual([
      [1000, 0],
      [999, 0],
    ]);
  });

  it('segment 0 after a segment clears it: the entry goes out as one datagram', () => {
    const bytes = entry(0, 3500, plain.port, 1000);
    vec.setSend(0, slab.dataOffset(0), 3500, LO, plain.port, 0);
    expect(sendBatch(tx.fd, vec, 0, 1)).toBe(1);
    const got = receive(plain.fd, 1);
    expect(got.map((g) => g.len)).toEqual([3500]);
    expect(got[0]!.data.equals(bytes)).toBe(true);
  });

  it('refuses a segment on a vector without control, and segments outside 1–65535', () => {
    const bare = new MmsgVector(slab, 2);
    expect(bare.control).toBe(false);
    expect(() => bare.setSend(0, 0, 3500, LO, plain.port, 1000)).toThrow(InvalidArgumentError);
    expect(() => bare.setSend(0, 0, 3500, LO, plain.port, 1000)).toThrow(/control: true/);
    bare.setSend(0, 0, 100, LO, plain.port, 0); // plain is fine
    bare.setSend(1, 0, 100, LO, plain.port);
    expect(bare.gsoSize(0)).toBe(0);
    for (const bad of [-1, 65536, 1.5, NaN, Infinity]) {
      expect(() => vec.setSend(7, 0, 100, LO, plain.port, bad), String(bad)).toThrow(InvalidArgumentError);
    }
    expect(() => vec.setSend(7, 0, 100, LO, plain.port, 65535)).not.toThrow();
    vec.setSend(7, 0, 100, LO, plain.port, 0);
  });

  it('lays out msghdr control pointers and the UDP_SEGMENT cmsg as the kernel expects', () => {
    const peek = (v: MmsgVector) => new DataView((v as unknown as { ctl: Uint8Array }).ctl.buffer);
    const s = new PacketSlab({ slots: 4, slotSize: 2048, headroom: 0 });
    const bare = new MmsgVector(s, 4);
    bare.armRecvAll();
    bare.setSend(1, 0, 100, LO, 4789);
    for (let i = 0; i < 4; i++) {
      expect(peek(bare).getBigUint64(i * 64 + 32, true)).toBe(0n); // msg_control NULL
      expect(peek(bare).getBigUint64(i * 64 + 40, true)).toBe(0n); // msg_controllen 0
    }
    expect(peek(bare).byteLength).toBe(4 * (64 + 16 + 16)); // no cmsg areas

    const v = new MmsgVector(s, 4, { control: true });
    const d = peek(v);
    expect(d.byteLength).toBe(4 * (64 + 16 + 16 + CMSG_AREA));
    for (let i = 0; i < 4; i++) {
      expect(Number(d.getBigUint64(i * 64 + 32, true))).toBe(v.ptr + 4 * 96 + i * CMSG_AREA);
      expect(d.getBigUint64(i * 64 + 40, true)).toBe(0n); // until setSend/setRecv
    }
    v.setSend(2, 0, 3000, LO, 4789, 1400);
    expect(d.getBigUint64(2 * 64 + 40, true)).toBe(24n); // CMSG_SPACE(2)
    const area = new Uint8Array(d.buffer, 4 * 96 + 2 * CMSG_AREA, 18);
    expect([...area]).toEqual([18, 0, 0, 0, 0, 0, 0, 0, 17, 0, 0, 0, 103, 0, 0, 0, 1400 & 0xff, 1400 >> 8]);
    v.setSend(2, 0, 3000, LO, 4789, 0);
    expect(d.getBigUint64(2 * 64 + 40, true)).toBe(0n);
    v.armRecvAll();
    for (let i = 0; i < 4; i++) expect(d.getBigUint64(i * 64 + 40, true)).toBe(BigInt(CMSG_AREA));
  });

  it('refused GSO sends throw a SyscallError whose errnoName tells why; later entries can still go', () => {
    const refused = (first: number, n: number): SyscallError => {
      try {
        sendBatch(tx.fd, vec, first, n);
      } catch (e) {
        if (e instanceof SyscallError) return e;
        throw e;
      }
      throw new Error('sendBatch did not throw');
    };
    // More than UDP_MAX_SEGMENTS (64 on old kernels, 128 since 6.11 / late-2024 stable) segments: EINVAL.
    entry(0, 129 * 100, plain.port, 100);
    expect(refused(0, 1)).toMatchObject({ code: 'ERR_WEFT_SYSCALL', syscall: 'sendmmsg', errno: EINVAL, errnoName: 'EINVAL' });
    // More than 65507 bytes in all: EMSGSIZE.
    entry(0, 65508, plain.port, 1000);
    expect(refused(0, 1)).toMatchObject({ errno: EMSGSIZE, errnoName: 'EMSGSIZE' });

    // A refused entry in the middle: sendmmsg stops before it and returns the count
    // so far; the next call, starting there, reports the error; then go on after it.
    const a = entry(0, 64 * 100, plain.port, 100); // 64 segments: fine on every kernel
    entry(1, 129 * 100, plain.port, 100);
    const c = entry(2, 300, plain.port, 0);
    expect(sendBatch(tx.fd, vec, 0, 3)).toBe(1);
    expect(refused(1, 2).errnoName).toBe('EINVAL');
    expect(sendBatch(tx.fd, vec, 2, 1)).toBe(1);
    const got = receive(plain.fd, 65);
    expect(got.length).toBe(65);
    expect(Buffer.concat(got.slice(0, 64).map((g) => g.data)).equals(a)).toBe(true);
    expect(got[64]!.data.equals(c)).toBe(true);
  });

  it('GSO needs UDP checksums: with SO_NO_CHECK every GSO send is EINVAL, plain ones still go', () => {
    const nocheck = openUdp('127.0.0.1', 0);
    try {
      setIntOption(nocheck, SOL_SOCKET, SO_NO_CHECK, 1, 'SO_NO_CHECK');
      entry(0, 3000, plain.port, 1000);
      expect(() => sendBatch(nocheck, vec, 0, 1)).toThrow(expect.objectContaining({ errnoName: 'EINVAL' }));
      entry(0, 500, plain.port, 1000); // even one that would not be segmented
      expect(() => sendBatch(nocheck, vec, 0, 1)).toThrow(expect.objectContaining({ errnoName: 'EINVAL' }));
      entry(0, 500, plain.port, 0);
      expect(sendBatch(nocheck, vec, 0, 1)).toBe(1);
      expect(receive(plain.fd, 1).map((g) => g.len)).toEqual([500]);
    } finally {
      closeQuietly(nocheck);
    }
  });
});

// ---- over a veth pair (MTU 1500) between two test namespaces ----

const DIST = new URL('../../dist/src/sys/', import.meta.url).href;

// Runs inside a namespace (node -e): receives on a plain and a GRO socket and prints
// what came, as JSON, once `expect` entries came in all or after 5 s.
const RECEIVER = `
const udp = await import(${JSON.stringify(DIST + 'udp.js')});
const arg = JSON.parse(process.argv[1]);
const slab = new udp.PacketSlab({ slots: 64, slotSize: 65536, headroom: 0 });
const vec = new udp.MmsgVector(slab, 64, { control: true });
vec.armRecvAll();
const plain = udp.openUdp(arg.addr, 4789);
const gro = udp.openUdp(arg.addr, 4790);
if (!udp.enableUdpGro(gro)) throw new Error('no UDP_GRO');
console.log(JSON.stringify({ ready: true }));
const got = { plain: [], gro: [] };
const end = Date.now() + 5000;
while (got.plain.length + got.gro.length < arg.expect && Date.now() < end) {
  for (const [name, fd] of [['plain', plain], ['gro', gro]]) {
    const n = udp.recvBatch(fd, vec);
    for (let i = 0; i < n; i++) {
      const off = vec.offset(i);
      got[name].push([vec.length(i), vec.gsoSize(i), Buffer.from(slab.buf.subarray(off, off + vec.length(i))).toString('base64')]);
    }
  }
  udp.waitReadable(plain, 5);
}
console.log(JSON.stringify(got));
`;

// Sends arg.sends ([len, port, segment] each; bytes: fill pattern) one sendBatch per
// entry from inside a namespace; prints the outcome of each.
const SENDER = `
const udp = await import(${JSON.stringify(DIST + 'udp.js')});
const { parseIPv4 } = await import(${JSON.stringify(new URL('../../dist/native-free/addr.js', import.meta.url).href)});
const arg = JSON.parse(process.argv[1]);
const slab = new udp.PacketSlab({ slots: 1, slotSize: 65536, headroom: 0 });
const vec = new udp.MmsgVector(slab, 1, { control: true });
const fd = udp.openUdp(arg.addr, 40000);
const out = [];
for (const [len, port, segment, seed] of arg.sends) {
  for (let k = 0; k < len; k++) slab.buf[k] = (seed * 31 + k * 7 + (k >> 8)) & 0xff;
  vec.setSend(0, 0, len, parseIPv4(arg.to), port, segment);
  try {
    out.push(udp.sendBatch(fd, vec, 0, 1));
  } catch (e) {
    out.push(e.errnoName);
  }
}
console.log(JSON.stringify(out));
`;

describe.skipIf(!isRoot() || !offloads)('UDP GSO and GRO over a veth pair', () => {
  let a = '';
  let b = '';
  const kids: ChildProcess[] = [];
  beforeAll(() => {
    cleanupStale();
    a = makeNs();
    b = makeNs();
    veth(a, '198.51.100.1', b, '198.51.100.2');
  });
  afterAll(() => {
    for (const k of kids) if (k.exitCode === null) k.kill('SIGKILL');
    cleanupAll();
  });

  /** Runs a script in ns; resolves its stdout lines (JSON), calling onLine as they come. */
  function run(ns: string, script: string, arg: unknown, onLine?: (l: any) => void): Promise<any[]> {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', script, JSON.stringify(arg)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    kids.push(child);
    const lines: any[] = [];
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      for (let i = out.indexOf('\n'); i >= 0; i = out.indexOf('\n')) {
        const l = JSON.parse(out.slice(0, i));
        out = out.slice(i + 1);
        lines.push(l);
        onLine?.(l);
      }
    });
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    return new Promise((resolve, reject) => {
      child.on('exit', (code) => (code === 0 ? resolve(lines) : reject(new Error(`exit ${code}: ${err}`))));
    });
  }

  it('segments to the route MTU, arrives whole at a GRO socket, EMSGSIZE for a segment over the MTU', async () => {
    let ready: () => void = () => {};
    const isReady = new Promise<void>((r) => (ready = r));
    // plain: 1472 + 1472 + 1056, then 1000; gro: [4000/1472], then [1000/0]
    const receiver = run(b, RECEIVER, { addr: '198.51.100.2', expect: 6 }, (l) => l.ready && ready());
    await isReady;
    const sent = await run(a, SENDER, {
      addr: '198.51.100.1',
      to: '198.51.100.2',
      sends: [
        [4000, 4789, 1472, 1], // 1472 + 28 = 1500: the largest segment the veth takes
        [4000, 4790, 1472, 1],
        [4000, 4789, 1473, 2], // one byte too many for the MTU
        [1000, 4789, 1473, 3], // but a send not longer than the segment is judged by its size
        [1000, 4790, 1473, 3],
      ],
    });
    expect(sent).toEqual([[1, 1, 'EMSGSIZE', 1, 1]]);
    const [, got] = await receiver;
    const bytes = (len: number, seed: number) => {
      const buf = new Uint8Array(len);
      fill(buf, 0, len, seed);
      return Buffer.from(buf);
    };
    expect(got.plain.map((g: [number, number, string]) => [g[0], g[1]])).toEqual([
      [1472, 0],
      [1472, 0],
      [1056, 0],
      [1000, 0],
    ]);
    expect(got.gro.map((g: [number, number, string]) => [g[0], g[1]])).toEqual([
      [4000, 1472],
      [1000, 0],
    ]);
    const joined = Buffer.concat(got.plain.slice(0, 3).map((g: [number, number, string]) => Buffer.from(g[2], 'base64')));
    expect(joined.equals(bytes(4000, 1))).toBe(true);
    expect(Buffer.from(got.gro[0][2], 'base64').equals(bytes(4000, 1))).toBe(true);
    expect(Buffer.from(got.plain[3][2], 'base64').equals(bytes(1000, 3))).toBe(true);
  });
});
