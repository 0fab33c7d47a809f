// In-process checks of the syscall layer that change nothing on the machine:
// errors, pointer passing, bounds checks, struct layouts.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, WeftError } from '../../native-free/errors.js';
import { O_CLOEXEC, O_RDWR, RTM_NEWROUTE } from '../../src/sys/constants.js';
import { SyscallError } from '../../src/sys/errors.js';
import { addressOf, close, errnoName, libc } from '../../src/sys/libc.js';
import { MmsgVector, PacketSlab } from '../../src/sys/mmsg.js';
import { buildRouteMessage } from '../../src/sys/netlink.js';
import { formatIPv4, parseIPv4 } from '../../native-free/addr.js';
import { sockaddrAddr, sockaddrPort, writeSockaddrIn } from '../../src/sys/sockaddr.js';
import { readPacket, writePacket } from '../../src/sys/tun.js';

describe('SyscallError', () => {
  it('carries the call, errno and its name, and says what was attempted', () => {
    let err: unknown;
    try {
      close(-1);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SyscallError);
    expect(err).toBeInstanceOf(WeftError);
    expect(err).toMatchObject({ code: 'ERR_WEFT_SYSCALL', syscall: 'close', errno: 9, errnoName: 'EBADF' });
    expect((err as Error).message).toBe('close fd -1: EBADF (bad file descriptor)');
  });

  it('names errno values the usual way', () => {
    expect([1, 11, 13, 95, 105].map(errnoName)).toEqual(['EPERM', 'EAGAIN', 'EACCES', 'EOPNOTSUPP', 'ENOBUFS']);
  });
});

describe('passing JS memory to libc', () => {
  it('addressOf includes byteOffset and is stable per ArrayBuffer', () => {
    const ab = new ArrayBuffer(4096);
    const whole = new Uint8Array(ab);
    expect(addressOf(new Uint8Array(ab, 100, 10)) - addressOf(whole)).toBe(100);
    expect(addressOf(whole.subarray(7)) - addressOf(whole)).toBe(7);
    const shared = new Uint8Array(new SharedArrayBuffer(64), 8);
    expect(addressOf(shared) % 8).toBe(0);
  });

  it('read() lands 4 MiB in the JS buffer at the given offset, with no copy', () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-sys-'));
    try {
      const data = new Uint8Array(4 << 20).map((_, i) => (i * 2654435761) >>> 24);
      writeFileSync(join(dir, 'f'), data);
      const fd = libc.open(join(dir, 'f'), O_RDWR | O_CLOEXEC, 0);
      expect(fd).toBeGreaterThanOrEqual(0);
      const buf = new Uint8Array(data.length + 1000);
      let got = 0;
      for (let n = 1; n > 0 && got < data.length; got += Math.max(n, 0)) {
        n = readPacket(fd, buf, 999 + got, data.length - got);
      }
      close(fd);
      expect(got).toBe(data.length);
      expect(buf[998]).toBe(0);
      expect(Buffer.compare(buf.subarray(999, 999 + data.length), data)).toBe(0);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it('refuses ranges outside the buffer before calling the kernel', () => {
    const buf = new Uint8Array(100);
    expect(() => readPacket(-1, buf, 50, 51)).toThrow(InvalidArgumentError);
    expect(() => writePacket(-1, buf, -1, 10)).toThrow(/outside a buffer of 100 bytes/);
  });
});

describe('struct layouts', () => {
  it('sockaddr_in: family little-endian, port and address big-endian', () => {
    const b = new Uint8Array(20).fill(0xee);
    writeSockaddrIn(b, 2, parseIPv4('198.51.100.2'), 4789);
    expect([...b.subarray(2, 18)]).toEqual([2, 0, 0x12, 0xb5, 198, 51, 100, 2, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(formatIPv4(sockaddrAddr(b, 2))).toBe('198.51.100.2');
    expect(sockaddrPort(b, 2)).toBe(4789);
  });

  it('mmsg vector entries point into the slab slots', () => {
    const slab = new PacketSlab({ slots: 8, slotSize: 2048, headroom: 128 });
    const vec = new MmsgVector(slab, 8);
    vec.armRecvAll();
    for (let i = 0; i < 8; i++) expect(vec.offset(i)).toBe(i * 2048 + 128);
    vec.setSend(3, 5000, 100, parseIPv4('203.0.113.9'), 4789);
    expect(vec.offset(3)).toBe(5000);
    expect(vec.peerAddr(3)).toBe(parseIPv4('203.0.113.9'));
    expect(() => vec.setSend(0, 16000, 1000, 0, 0)).toThrow(InvalidArgumentError);
  });

  it('rtnetlink route request: header, rtmsg and attributes as iproute2 sends them', () => {
    const m = buildRouteMessage(RTM_NEWROUTE, 0x500, { dst: '10.244.3.0', prefixLen: 24, ifindex: 7 }, 42);
    const v = new DataView(m.buffer, m.byteOffset, m.length);
    expect(v.getUint32(0, true)).toBe(m.length);
    expect(m.length).toBe(16 + 12 + 3 * 8);
    expect([v.getUint16(4, true), v.getUint16(6, true), v.getUint32(8, true)]).toEqual([24, 0x505, 42]);
    expect([...m.subarray(16, 24)]).toEqual([2, 24, 0, 0, 254, 4, 253, 1]); // AF_INET /24 main static link unicast
    expect([...m.subarray(28, 36)]).toEqual([8, 0, 1, 0, 10, 244, 3, 0]); // RTA_DST
    expect(() => buildRouteMessage(RTM_NEWROUTE, 0, { dst: '10.244.3.1', prefixLen: 24, ifindex: 7 }, 1)).toThrow(
      /host bits/,
    );
  });
});
