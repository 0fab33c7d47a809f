// In-process checks of the IPv6 parts of the syscall layer that change nothing on the
// machine (no socket is opened): sockaddr_in6 and mmsg layouts as the kernel reads
// them (offsets from <netinet/in.h> on x86_64), route and address requests as
// iproute2 sends them, and the /proc/sys reading of ipv6.ts over a fake tree.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../native-free/errors.js';
import { parseIPv4, parseIPv6 } from '../../native-free/addr.js';
import { AF_INET6, RTM_DELADDR, RTM_DELROUTE, RTM_NEWADDR, RTM_NEWROUTE, SOCKADDR_IN6_SIZE } from '../../src/sys/constants.js';
import { CMSG_AREA, MmsgVector, PacketSlab } from '../../src/sys/mmsg.js';
import { buildRouteMessage } from '../../src/sys/netlink.js';
import { buildAddressMessage } from '../../src/sys/netlink-addr.js';
import {
  sockaddr6Addr,
  sockaddr6AddrEquals,
  sockaddr6FlowInfo,
  sockaddr6ScopeId,
  sockaddrFamily,
  sockaddrPort,
  toAddr6,
  writeSockaddrIn6,
} from '../../src/sys/sockaddr.js';
import { Ipv6UnavailableError, disableIpv6, enableIpv6, interfaceIpv6Disabled, ipv6Status, requireIpv6 } from '../../src/sys/ipv6.js';

const ctlOf = (v: MmsgVector) => (v as unknown as { ctl: Uint8Array }).ctl;

describe('sockaddr_in6', () => {
  it('is laid out as the kernel reads it: family LE, port BE, flowinfo BE, address at 8, scope id LE at 24', () => {
    expect(SOCKADDR_IN6_SIZE).toBe(28);
    const b = new Uint8Array(40).fill(0xee);
    const addr = new Uint8Array(20);
    addr.set(parseIPv6('fd00:198:51:100::2'), 3); // at an offset in a larger buffer
    writeSockaddrIn6(b, 6, addr, 3, 4789, 0x000abcde, 0x01020304);
    expect([...b.subarray(0, 6)]).toEqual([0xee, 0xee, 0xee, 0xee, 0xee, 0xee]); // nothing before
    expect([...b.subarray(6, 14)]).toEqual([10, 0, 0x12, 0xb5, 0x00, 0x0a, 0xbc, 0xde]);
    expect([...b.subarray(14, 30)]).toEqual([0xfd, 0, 0x01, 0x98, 0, 0x51, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    expect([...b.subarray(30, 34)]).toEqual([4, 3, 2, 1]);
    expect([...b.subarray(34)]).toEqual([0xee, 0xee, 0xee, 0xee, 0xee, 0xee]); // nothing after
    expect(sockaddrFamily(b, 6)).toBe(AF_INET6);
    expect(sockaddrPort(b, 6)).toBe(4789);
    expect(sockaddr6FlowInfo(b, 6)).toBe(0x000abcde);
    expect(sockaddr6ScopeId(b, 6)).toBe(0x01020304);
    const out = new Uint8Array(18);
    sockaddr6Addr(b, 6, out, 2);
    expect([...out.subarray(2)]).toEqual([...parseIPv6('fd00:198:51:100::2')]);
    expect(sockaddr6AddrEquals(b, 6, out, 2)).toBe(true);
    out[17] = 3;
    expect(sockaddr6AddrEquals(b, 6, out, 2)).toBe(false);
  });

  it('toAddr6 takes text or 16 bytes, copies, and names what is wrong', () => {
    const bytes = parseIPv6('fd00::1');
    const copy = toAddr6(bytes);
    expect(copy).toEqual(bytes);
    expect(copy).not.toBe(bytes);
    expect(toAddr6('FD00:0:0::1')).toEqual(bytes);
    expect(() => toAddr6('fd00::1::2')).toThrow(InvalidArgumentError);
    expect(() => toAddr6('10.0.0.1')).toThrow(/invalid IPv6 address "10.0.0.1"/);
    expect(() => toAddr6(new Uint8Array(4))).toThrow(/16 bytes, got 4 bytes/);
  });
});

describe('MmsgVector { family: 6 }', () => {
  const slab = new PacketSlab({ slots: 3, slotSize: 2048, headroom: 64 });
  const peer = parseIPv6('fd00:198:51:100::2');

  it('gives each entry a 28-byte sockaddr_in6 (msg_namelen 28) and keeps the cmsg areas 8-aligned', () => {
    for (const control of [false, true]) {
      const v = new MmsgVector(slab, 3, { family: 6, control });
      const d = new DataView(ctlOf(v).buffer);
      const names = 3 * (64 + 16); // mmsghdr[3] | iovec[3] | sockaddr_in6[3]
      const cmsg = (names + 3 * 28 + 7) & ~7; // 324 → 328
      expect(cmsg).toBe(328);
      expect(d.byteLength).toBe(cmsg + (control ? 3 * CMSG_AREA : 0));
      for (let i = 0; i < 3; i++) {
        expect(Number(d.getBigUint64(i * 64, true))).toBe(v.ptr + names + i * 28); // msg_name
        expect(d.getUint32(i * 64 + 8, true)).toBe(28); // msg_namelen
        if (control) expect(Number(d.getBigUint64(i * 64 + 32, true))).toBe(v.ptr + cmsg + i * CMSG_AREA);
        else expect(d.getBigUint64(i * 64 + 32, true)).toBe(0n);
      }
      v.armRecvAll();
      for (let i = 0; i < 3; i++) expect(d.getUint32(i * 64 + 8, true)).toBe(28);
    }
  });

  it('setSend6 writes the iovec, the sockaddr_in6 and the UDP_SEGMENT cmsg; peerAddr6 and peerPort read them back', () => {
    const v = new MmsgVector(slab, 3, { family: 6, control: true });
    const table = new Uint8Array(64);
    table.set(peer, 32); // a peer table row, read in place
    v.setSend6(1, slab.dataOffset(1), 3000, table, 32, 4789, 1452);
    expect(v.offset(1)).toBe(slab.dataOffset(1));
    expect(v.bufferLength(1)).toBe(3000);
    expect(v.sendSegment(1)).toBe(1452);
    const ctl = ctlOf(v);
    const name = 3 * 80 + 28;
    expect([...ctl.subarray(name, name + 4)]).toEqual([10, 0, 0x12, 0xb5]);
    expect([...ctl.subarray(name + 8, name + 24)]).toEqual([...peer]);
    expect([...ctl.subarray(name + 24, name + 28)]).toEqual([0, 0, 0, 0]); // scope id 0
    const got = new Uint8Array(16);
    v.peerAddr6(1, got, 0);
    expect(got).toEqual(peer);
    expect(v.peerAddr6Equals(1, table, 32)).toBe(true);
    expect(v.peerAddr6Equals(1, table, 0)).toBe(false);
    expect(v.peerPort(1)).toBe(4789);
    const area = new Uint8Array(ctl.buffer, 328 + CMSG_AREA, 18);
    expect([...area]).toEqual([18, 0, 0, 0, 0, 0, 0, 0, 17, 0, 0, 0, 103, 0, 0, 0, 1452 & 0xff, 1452 >> 8]);
    v.setSend6(1, 0, 100, peer, 0, 4789); // segment 0 clears it
    expect(v.sendSegment(1)).toBe(0);
  });

  it('each family API refuses the other family, bad ranges and bad segments', () => {
    const v6 = new MmsgVector(slab, 3, { family: 6 });
    const v4 = new MmsgVector(slab, 3);
    expect(v4.family).toBe(4);
    expect(() => v6.setSend(0, 0, 10, parseIPv4('198.51.100.2'), 4789)).toThrow(/use setSend6/);
    expect(() => v6.peerAddr(0)).toThrow(/use peerAddr6/);
    expect(() => v4.setSend6(0, 0, 10, peer, 0, 4789)).toThrow(/family: 6/);
    expect(() => v4.peerAddr6(0, new Uint8Array(16), 0)).toThrow(/family: 6/);
    expect(() => v6.setSend6(0, 0, 10, peer, 1, 4789)).toThrow(/outside a buffer of 16 bytes/);
    expect(() => v6.peerAddr6(0, new Uint8Array(16), 4)).toThrow(InvalidArgumentError);
    expect(() => v6.peerAddr6(3, new Uint8Array(16), 0)).toThrow(InvalidArgumentError);
    expect(() => v6.setSend6(0, 0, 10, peer, 0, 4789, 1000)).toThrow(/control: true/);
    expect(() => v6.setSend6(0, 0, 100000, peer, 0, 4789)).toThrow(/outside the slab/);
    expect(() => new MmsgVector(slab, 3, { family: 5 as 4 })).toThrow(/family 5/);
    // The v4 vector is as before: sockaddr_in, msg_namelen 16.
    v4.setSend(2, 0, 10, parseIPv4('198.51.100.2'), 4789);
    expect(v4.peerAddr(2)).toBe(parseIPv4('198.51.100.2'));
    expect(new DataView(ctlOf(v4).buffer).getUint32(2 * 64 + 8, true)).toBe(16);
  });
});

describe('IPv6 rtnetlink requests', () => {
  it('route: rtmsg AF_INET6, universe scope, 16-byte RTA_DST and RTA_GATEWAY, as iproute2', () => {
    const m = buildRouteMessage(RTM_NEWROUTE, 0x500, { dst: 'fd00:10:244::', prefixLen: 48, ifindex: 7, gateway: 'fd00:10:244:1::99', metric: 5 }, 42);
    const v = new DataView(m.buffer, m.byteOffset, m.length);
    expect(m.length).toBe(16 + 12 + 20 + 8 + 8 + 20 + 8);
    expect([v.getUint32(0, true), v.getUint16(4, true), v.getUint16(6, true), v.getUint32(8, true)]).toEqual([m.length, 24, 0x505, 42]);
    expect([...m.subarray(16, 24)]).toEqual([10, 48, 0, 0, 254, 4, 0, 1]); // AF_INET6 /48 main static universe unicast
    expect([...m.subarray(28, 32)]).toEqual([20, 0, 1, 0]); // RTA_DST, 16 bytes
    expect([...m.subarray(32, 48)]).toEqual([...parseIPv6('fd00:10:244::')]);
    expect([...m.subarray(64, 68)]).toEqual([20, 0, 5, 0]); // RTA_GATEWAY (after RTA_TABLE, RTA_OIF)
    expect([...m.subarray(68, 84)]).toEqual([...parseIPv6('fd00:10:244:1::99')]);
    const del = buildRouteMessage(RTM_DELROUTE, 0, { dst: parseIPv6('fd00:10:244::'), prefixLen: 48, ifindex: 7 }, 1);
    expect([...del.subarray(16, 24)]).toEqual([10, 48, 0, 0, 254, 0, 0, 0]);
    expect(() => buildRouteMessage(RTM_NEWROUTE, 0, { dst: 'fd00:10:244::1', prefixLen: 127, ifindex: 7 }, 1)).toThrow(/host bits/);
    expect(() => buildRouteMessage(RTM_NEWROUTE, 0, { dst: 'fd00:10:244::', prefixLen: 48, ifindex: 7, src: '10.0.0.1' }, 1)).toThrow(
      /src 10\.0\.0\.1 is IPv4, the destination IPv6/,
    );
    expect(() => buildRouteMessage(RTM_NEWROUTE, 0, { dst: '10.244.0.0', prefixLen: 16, gateway: 'fd00::1' }, 1)).toThrow(
      /gateway fd00::1 is IPv6, the destination IPv4/,
    );
    expect(() => buildRouteMessage(RTM_NEWROUTE, 0, { dst: 'fd00::', prefixLen: 8 }, 1)).toThrow(/needs a device or a gateway/);
  });

  it('address: ifaddrmsg, IFA_LOCAL and IFA_ADDRESS, IFA_F_NODAD by default for IPv6 only', () => {
    const { msg, label } = buildAddressMessage(RTM_NEWADDR, 0x600, { addr: 'fd00:10:244:1::', prefixLen: 64, ifindex: 9 }, 7);
    const v = new DataView(msg.buffer, msg.byteOffset, msg.length);
    expect(label).toBe('RTM_NEWADDR fd00:10:244:1::/64 dev ifindex 9 nodad');
    expect(msg.length).toBe(16 + 8 + 20 + 20 + 8);
    expect([v.getUint16(4, true), v.getUint16(6, true)]).toEqual([20, 0x605]);
    expect([...msg.subarray(16, 24)]).toEqual([10, 64, 0x02, 0, 9, 0, 0, 0]);
    expect([...msg.subarray(24, 28)]).toEqual([20, 0, 2, 0]); // IFA_LOCAL
    expect([...msg.subarray(44, 48)]).toEqual([20, 0, 1, 0]); // IFA_ADDRESS
    expect([...msg.subarray(64, 72)]).toEqual([8, 0, 8, 0, 0x02, 0, 0, 0]); // IFA_FLAGS = NODAD
    const dad = buildAddressMessage(RTM_NEWADDR, 0, { addr: 'fd00::1', prefixLen: 128, ifindex: 9, nodad: false, noPrefixRoute: true }, 1);
    expect([...dad.msg.subarray(16, 20)]).toEqual([10, 128, 0, 0]);
    expect([...dad.msg.subarray(64, 72)]).toEqual([8, 0, 8, 0, 0, 2, 0, 0]); // IFA_F_NOPREFIXROUTE 0x200
    const v4 = buildAddressMessage(RTM_NEWADDR, 0, { addr: '10.244.1.0', prefixLen: 32, ifindex: 9 }, 1);
    expect([...v4.msg.subarray(16, 32)]).toEqual([2, 32, 0, 0, 9, 0, 0, 0, 8, 0, 2, 0, 10, 244, 1, 0]);
    const del = buildAddressMessage(RTM_DELADDR, 0, { addr: 'fd00::1', prefixLen: 64, ifindex: 9 }, 1);
    expect(del.label).toBe('RTM_DELADDR fd00::1/64 dev ifindex 9');
    expect(del.msg.length).toBe(16 + 8 + 40); // no IFA_FLAGS on delete
    expect(() => buildAddressMessage(RTM_NEWADDR, 0, { addr: 'fd00::1', prefixLen: 129, ifindex: 9 }, 1)).toThrow(/0–128/);
    expect(() => buildAddressMessage(RTM_NEWADDR, 0, { addr: 'fd00::1', prefixLen: 64, ifindex: 9, dev: 'x' }, 1)).toThrow(/one interface/);
  });
});

describe('ipv6.ts over a fake /proc/sys', () => {
  const root = mkdtempSync(join(tmpdir(), 'weft-procsys-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const tree = (name: string, files: Record<string, string>): string => {
    const base = join(root, name);
    for (const [path, value] of Object.entries(files)) {
      mkdirSync(join(base, 'net/ipv6/conf', path), { recursive: true });
      writeFileSync(join(base, 'net/ipv6/conf', path, 'disable_ipv6'), value);
    }
    mkdirSync(join(base, 'net'), { recursive: true });
    return base;
  };

  it('no /proc/sys/net/ipv6: no IPv6 in the kernel, and says ipv6.disable=1', () => {
    const base = tree('none', {});
    expect(ipv6Status(base)).toMatchObject({ kernel: false, usable: false, allDisabled: null });
    expect(ipv6Status(base).reason).toMatch(/ipv6\.disable=1/);
    expect(() => requireIpv6(base)).toThrow(Ipv6UnavailableError);
    expect(() => requireIpv6(base)).toThrow(expect.objectContaining({ code: 'ERR_WEFT_IPV6_UNAVAILABLE' }));
  });

  it('all.disable_ipv6 = 1: unusable, says which sysctl to change; default = 1 alone is reported but usable', () => {
    const off = tree('off', { all: '1\n', default: '1\n' });
    expect(ipv6Status(off)).toMatchObject({ kernel: true, allDisabled: true, defaultDisabled: true, usable: false });
    expect(ipv6Status(off).reason).toMatch(/sysctl -w net\.ipv6\.conf\.all\.disable_ipv6=0/);
    const on = tree('on', { all: '0\n', default: '1\n' });
    expect(ipv6Status(on)).toEqual({ kernel: true, allDisabled: false, defaultDisabled: true, usable: true, reason: null });
    expect(() => requireIpv6(on)).not.toThrow();
  });

  it('reads and writes one interface, refuses names that are no interface, and turns fs errors into SyscallErrors', () => {
    const base = tree('iface', { all: '0', default: '0', weft0: '1\n' });
    expect(interfaceIpv6Disabled('weft0', base)).toBe(true);
    enableIpv6('weft0', base);
    expect(readFileSync(join(base, 'net/ipv6/conf/weft0/disable_ipv6'), 'utf8')).toBe('0');
    expect(interfaceIpv6Disabled('weft0', base)).toBe(false);
    disableIpv6('weft0', base);
    expect(interfaceIpv6Disabled('weft0', base)).toBe(true);
    for (const bad of ['..', '.', 'a/b', '', 'a-very-long-ifname']) expect(() => enableIpv6(bad, base), bad).toThrow(InvalidArgumentError);
    expect(() => enableIpv6('nosuch0', base)).toThrow(expect.objectContaining({ code: 'ERR_WEFT_SYSCALL', errnoName: 'ENOENT' }));
    expect(() => interfaceIpv6Disabled('nosuch0', base)).toThrow(/no interface nosuch0 in this network namespace/);
  });
});
