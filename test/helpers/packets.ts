// Inner packets for engine tests, built field by field (not by the engine).
import { checksum } from '../../native-free/checksum.js';

export interface Ipv4Spec {
  src: number;
  dst: number;
  protocol?: number;
  ttl?: number;
  tos?: number;
  df?: boolean;
  id?: number;
  payload?: Uint8Array;
  options?: Uint8Array;
}

export function ipv4Packet(s: Ipv4Spec): Uint8Array {
  const opts = s.options ?? new Uint8Array(0);
  const hl = 20 + opts.length;
  const payload = s.payload ?? new Uint8Array(8);
  const p = new Uint8Array(hl + payload.length);
  const total = p.length;
  p[0] = 0x40 | (hl >> 2);
  p[1] = s.tos ?? 0;
  p[2] = total >> 8;
  p[3] = total & 0xff;
  p[4] = ((s.id ?? 0x1234) >> 8) & 0xff;
  p[5] = (s.id ?? 0x1234) & 0xff;
  p[6] = s.df ? 0x40 : 0;
  p[8] = s.ttl ?? 64;
  p[9] = s.protocol ?? 17;
  for (let i = 0; i < 4; i++) {
    p[12 + i] = (s.src >>> (24 - 8 * i)) & 0xff;
    p[16 + i] = (s.dst >>> (24 - 8 * i)) & 0xff;
  }
  p.set(opts, 20);
  const c = checksum(p, 0, hl);
  p[10] = c >> 8;
  p[11] = c & 0xff;
  p.set(payload, hl);
  return p;
}

export function ipv6Packet(src: Uint8Array, dst: Uint8Array, payload: Uint8Array, hopLimit = 64, tc = 0): Uint8Array {
  const p = new Uint8Array(40 + payload.length);
  p[0] = 0x60 | (tc >> 4);
  p[1] = (tc & 0x0f) << 4;
  p[4] = payload.length >> 8;
  p[5] = payload.length & 0xff;
  p[6] = 17;
  p[7] = hopLimit;
  p.set(src, 8);
  p.set(dst, 24);
  p.set(payload, 40);
  return p;
}
