// Where the workers hand packets to `weft capture`. Inner: the IP packet as
// the TUN sees it. Outer: the whole IPv4 packet on the underlay. The kernel
// sockets write (TX) or strip (RX) the outer IPv4/UDP headers themselves, so
// for the capture those are rebuilt in the headroom from the same addresses
// and ports the socket uses (IP id and checksum are ours, not the kernel's).
import { backendOf, type BackendType } from '../backend/index.js';
import type { EncapContext } from '../../native-free/encap/context.js';
import * as ip from '../../native-free/header/ipv4.js';
import { UDP_HEADER_LENGTH, writeUdpHeader } from '../../native-free/header/udp.js';
import { writeOuterIpv4, writeOuterUdp4 } from '../../native-free/encap/outer.js';
import { CAPTURE_INNER, CaptureRing } from './capture-ring.js';

export const OUTER_UDP_BYTES = ip.IPV4_MIN_HEADER_LENGTH + UDP_HEADER_LENGTH;

export class CaptureTap {
  private readonly control: Int32Array;
  private readonly rawIp: boolean;

  constructor(
    control: SharedArrayBuffer,
    private readonly ring: CaptureRing,
    backend: BackendType,
  ) {
    this.control = new Int32Array(control);
    // The raw socket sends and receives whole IPv4 packets; a UDP socket's payload gets headers rebuilt in front.
    this.rawIp = backendOf(backend).underlay === 'ip-in-ip';
  }

  /** The capture mode now (0: off); one plain read, cheap enough per packet. */
  get mode(): number {
    return this.control[0]!;
  }

  /** After a successful encapsulation of the inner packet at `inner`, sent from source port `sport` (UDP). */
  tx(ctx: EncapContext, b: Uint8Array, inner: number, innerLen: number, mode: number, sport: number): void {
    const snap = this.control[1]!;
    if (mode === CAPTURE_INNER) return this.ring.push(b, inner, innerLen, snap);
    const r = ctx.result;
    const offset = r.offset;
    const length = r.length;
    if (this.rawIp) {
      writeOuterIpv4(ctx, b, inner - ip.IPV4_MIN_HEADER_LENGTH, innerLen + ip.IPV4_MIN_HEADER_LENGTH, ip.PROTO_IPIP, r.underlay, inner, true);
      this.ring.push(b, inner - ip.IPV4_MIN_HEADER_LENGTH, innerLen + ip.IPV4_MIN_HEADER_LENGTH, snap);
    } else {
      writeOuterUdp4(ctx, b, offset, length, sport, inner);
      this.ring.push(b, r.offset, r.length, snap);
    }
    r.offset = offset; // what the socket sends is unchanged
    r.length = length;
  }

  /**
   * After a receive. `payload` is what the socket returned (for UDP, with
   * OUTER_UDP_BYTES of headroom before it); delivered inner packet when forwarded.
   */
  rx(b: Uint8Array, payload: number, len: number, from: number, fromPort: number, local: number, localPort: number, inner: number, innerLen: number, mode: number): void {
    const snap = this.control[1]!;
    if (mode === CAPTURE_INNER) {
      if (innerLen > 0) this.ring.push(b, inner, innerLen, snap);
      return;
    }
    if (this.rawIp) return this.ring.push(b, payload, len, snap);
    const udp = payload - UDP_HEADER_LENGTH;
    const at = udp - ip.IPV4_MIN_HEADER_LENGTH;
    writeUdpHeader(b, udp, fromPort, localPort, len + UDP_HEADER_LENGTH);
    ip.setVersionIhl(b, at, ip.IPV4_MIN_HEADER_LENGTH);
    ip.setTos(b, at, 0);
    ip.setTotalLength(b, at, len + OUTER_UDP_BYTES);
    ip.setId(b, at, 0);
    ip.setFlagsFragment(b, at, false, false, 0);
    ip.setTtl(b, at, 64);
    ip.setProtocol(b, at, ip.PROTO_UDP);
    ip.setSrc(b, at, from);
    ip.setDst(b, at, local);
    ip.fillHeaderChecksum(b, at);
    this.ring.push(b, at, len + OUTER_UDP_BYTES, snap);
  }
}
