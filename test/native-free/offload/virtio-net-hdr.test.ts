import { describe, expect, it } from 'vitest';

import {
  OFFLOAD_OK,
  VNET_BAD_CSUM_START,
  VNET_BAD_FLAGS,
  VNET_BAD_GSO_SIZE,
  VNET_BAD_GSO_TYPE,
  VNET_BAD_HDR_LEN,
  VNET_SHORT,
} from '../../../native-free/offload/reasons.js';
import {
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_LEN,
  clearVirtioNetHdr,
  setVnetCsumOffset,
  setVnetCsumStart,
  setVnetFlags,
  setVnetGsoSize,
  setVnetGsoType,
  setVnetHdrLen,
  validateVirtioNetHdr,
  vnetCsumOffset,
  vnetCsumStart,
  vnetFlags,
  vnetGsoSize,
  vnetGsoType,
  vnetHdrLen,
  writeVirtioNetHdr,
} from '../../../native-free/offload/virtio-net-hdr.js';

describe('virtio_net_hdr', () => {
  it('is 10 bytes, 16-bit fields little-endian, at an offset', () => {
    const b = new Uint8Array(3 + VIRTIO_NET_HDR_LEN);
    writeVirtioNetHdr(b, 3, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 52, 1448, 20, 16);
    expect(Array.from(b)).toEqual([0, 0, 0, 0x01, 0x01, 0x34, 0x00, 0xa8, 0x05, 0x14, 0x00, 0x10, 0x00]);
    expect([vnetFlags(b, 3), vnetGsoType(b, 3), vnetHdrLen(b, 3), vnetGsoSize(b, 3), vnetCsumStart(b, 3), vnetCsumOffset(b, 3)]).toEqual([1, 1, 52, 1448, 20, 16]);
    setVnetFlags(b, 3, 2);
    setVnetGsoType(b, 3, 0x81);
    setVnetHdrLen(b, 3, 0xfffe);
    setVnetGsoSize(b, 3, 0x1234);
    setVnetCsumStart(b, 3, 0xabcd);
    setVnetCsumOffset(b, 3, 6);
    expect([vnetFlags(b, 3), vnetGsoType(b, 3), vnetHdrLen(b, 3), vnetGsoSize(b, 3), vnetCsumStart(b, 3), vnetCsumOffset(b, 3)]).toEqual([2, 0x81, 0xfffe, 0x1234, 0xabcd, 6]);
    clearVirtioNetHdr(b, 3);
    expect(b.every((x) => x === 0)).toBe(true);
  });

  // [name, header bytes, packet length after the header, reason]
  const cases: Array<[string, number[], number, number]> = [
    ['plain packet', [0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 60, OFFLOAD_OK],
    ['data valid', [2, 0, 0, 0, 0, 0, 0, 0, 0, 0], 60, OFFLOAD_OK],
    ['needs csum, TCP at 20+16', [1, 0, 40, 0, 0, 0, 20, 0, 16, 0], 60, OFFLOAD_OK],
    ['needs csum, field ends at the last byte', [1, 0, 0, 0, 0, 0, 20, 0, 38, 0], 60, OFFLOAD_OK],
    ['needs csum, field one byte past', [1, 0, 0, 0, 0, 0, 20, 0, 39, 0], 60, VNET_BAD_CSUM_START],
    ['csum_start far away', [1, 0, 0, 0, 0, 0, 0xff, 0xff, 16, 0], 60, VNET_BAD_CSUM_START],
    ['csum fields ignored without NEEDS_CSUM', [0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff], 60, OFFLOAD_OK],
    ['tso4', [1, 1, 52, 0, 0xa8, 5, 20, 0, 16, 0], 3000, OFFLOAD_OK],
    ['tso4 ecn', [1, 0x81, 52, 0, 0xa8, 5, 20, 0, 16, 0], 3000, OFFLOAD_OK],
    ['udp, tcpv6, udp_l4 are known', [0, 3, 0, 0, 1, 0, 0, 0, 0, 0], 100, OFFLOAD_OK],
    ['tcpv6', [0, 4, 0, 0, 1, 0, 0, 0, 0, 0], 100, OFFLOAD_OK],
    ['udp_l4', [0, 5, 0, 0, 1, 0, 0, 0, 0, 0], 100, OFFLOAD_OK],
    ['gso_type 2', [0, 2, 0, 0, 1, 0, 0, 0, 0, 0], 100, VNET_BAD_GSO_TYPE],
    ['gso_type 6', [0, 6, 0, 0, 1, 0, 0, 0, 0, 0], 100, VNET_BAD_GSO_TYPE],
    ['ecn without gso', [0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0], 100, VNET_BAD_GSO_TYPE],
    ['gso_size 0', [1, 1, 52, 0, 0, 0, 20, 0, 16, 0], 3000, VNET_BAD_GSO_SIZE],
    ['hdr_len past packet', [0, 0, 61, 0, 0, 0, 0, 0, 0, 0], 60, VNET_BAD_HDR_LEN],
    ['hdr_len = packet', [0, 0, 60, 0, 0, 0, 0, 0, 0, 0], 60, OFFLOAD_OK],
    ['rsc_info flag', [4, 0, 0, 0, 0, 0, 0, 0, 0, 0], 60, VNET_BAD_FLAGS],
    ['flag 0x80', [0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0], 60, VNET_BAD_FLAGS],
  ];
  it.each(cases)('validate: %s', (_name, hdr, plen, reason) => {
    const b = new Uint8Array(5 + VIRTIO_NET_HDR_LEN + plen);
    b.set(hdr, 5);
    expect(validateVirtioNetHdr(b, 5, VIRTIO_NET_HDR_LEN + plen)).toBe(reason);
  });

  it('validate: shorter than the header, or past the array', () => {
    const b = new Uint8Array(12);
    for (let len = 0; len < VIRTIO_NET_HDR_LEN; len++) expect(validateVirtioNetHdr(b, 0, len)).toBe(VNET_SHORT);
    expect(validateVirtioNetHdr(b, 0, 10)).toBe(OFFLOAD_OK);
    expect(validateVirtioNetHdr(b, 3, 10)).toBe(VNET_SHORT);
    expect(validateVirtioNetHdr(b, -1, 10)).toBe(VNET_SHORT);
  });
});
