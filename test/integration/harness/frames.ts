// Hand-built VXLAN payloads (what follows the outer UDP header) for the garbage
// test: written byte by byte here, independently of weft's own encoder, so a
// shared misreading of RFC 7348 cannot hide.
//
//   | VXLAN 8: flags(0x08=I) 0 0 0 | VNI(24) | 0 |
//   | Ethernet 14 (+4 with an 802.1Q tag): dst MAC | src MAC | [0x8100 TCI] | EtherType |
//   | IPv4 20 | UDP 8 | payload |

export function parseMac(mac: string): number[] {
  const parts = mac.split(':').map((h) => parseInt(h, 16));
  if (parts.length !== 6 || parts.some((p) => !(p >= 0 && p <= 255))) throw new Error(`bad MAC ${mac}`);
  return parts;
}

function parseIp(ip: string): number[] {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !(p >= 0 && p <= 255))) throw new Error(`bad IPv4 ${ip}`);
  return parts;
}

/** RFC 1071 ones' complement sum over b[off..off+len). */
export function internetChecksum(b: Uint8Array, off: number, len: number): number {
  let sum = 0;
  for (let i = 0; i < len; i += 2) sum += (b[off + i]! << 8) | (i + 1 < len ? b[off + i + 1]! : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export interface Ipv4UdpOptions {
  src: string;
  dst: string;
  /** IP identification: lets a capture tell the packets apart. */
  id: number;
  sport: number;
  dport: number;
  payload?: Uint8Array;
  ttl?: number;
  /** Store a wrong header checksum. */
  badChecksum?: boolean;
}

/** An IPv4/UDP packet (UDP checksum 0: none, allowed over IPv4). */
export function ipv4Udp(o: Ipv4UdpOptions): Uint8Array {
  const payload = o.payload ?? new TextEncoder().encode('weft integration garbage');
  const total = 20 + 8 + payload.length;
  const b = new Uint8Array(total);
  b[0] = 0x45;
  b[2] = total >>> 8;
  b[3] = total & 255;
  b[4] = (o.id >>> 8) & 255;
  b[5] = o.id & 255;
  b[6] = 0x40; // DF
  b[8] = o.ttl ?? 64;
  b[9] = 17;
  b.set(parseIp(o.src), 12);
  b.set(parseIp(o.dst), 16);
  let sum = internetChecksum(b, 0, 20);
  if (o.badChecksum) sum ^= 0x5a5a;
  b[10] = sum >>> 8;
  b[11] = sum & 255;
  b[20] = o.sport >>> 8;
  b[21] = o.sport & 255;
  b[22] = o.dport >>> 8;
  b[23] = o.dport & 255;
  b[24] = (8 + payload.length) >>> 8;
  b[25] = (8 + payload.length) & 255;
  b.set(payload, 28);
  return b;
}

export interface VxlanOptions {
  vni: number;
  /** First byte of the VXLAN header; 0x08 = I flag (valid VNI). */
  flags?: number;
  dstMac: string;
  srcMac: string;
  /** Insert an 802.1Q tag with this VLAN id. */
  vlanId?: number;
  etherType?: number;
  inner: Uint8Array;
}

export function vxlanPayload(o: VxlanOptions): Uint8Array {
  const tag = o.vlanId !== undefined ? 4 : 0;
  const b = new Uint8Array(8 + 14 + tag + o.inner.length);
  b[0] = o.flags ?? 0x08;
  b[4] = (o.vni >>> 16) & 255;
  b[5] = (o.vni >>> 8) & 255;
  b[6] = o.vni & 255;
  b.set(parseMac(o.dstMac), 8);
  b.set(parseMac(o.srcMac), 14);
  let p = 20;
  if (o.vlanId !== undefined) {
    b[p] = 0x81;
    b[p + 1] = 0x00;
    b[p + 2] = (o.vlanId >>> 8) & 0x0f;
    b[p + 3] = o.vlanId & 255;
    p += 4;
  }
  const type = o.etherType ?? 0x0800;
  b[p] = type >>> 8;
  b[p + 1] = type & 255;
  b.set(o.inner, p + 2);
  return b;
}

export const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
