// The tunnel MTU, by flannel's rule, so that a net-conf.json means the same MTU to
// weft as to flanneld:
//   vxlan  (Backend.MTU, else the underlay interface's MTU) − 50
//          (flannel pkg/backend/vxlan/device.go: `MTU: devAttrs.MTU - 50`; Backend.MTU
//          is the underlay's MTU, not the device's)
//   ipip   the underlay interface's MTU − 20
//   udp    the underlay interface's MTU − 28 (IPv4 + UDP, flannel's encapOverhead)
// The overheads are the engine's own constants, which equal flannel's.
import { IPIP_OVERHEAD } from '../../native-free/encap/ipip.js';
import { UDP_OVERHEAD } from '../../native-free/encap/udp.js';
import { VXLAN_OVERHEAD } from '../../native-free/encap/vxlan.js';
import { WeftError } from '../../native-free/errors.js';

export type Backend = 'vxlan' | 'ipip' | 'udp';

/** Bytes each backend adds in front of an inner IPv4 packet. */
export const OVERHEAD: Readonly<Record<Backend, number>> = { vxlan: VXLAN_OVERHEAD, ipip: IPIP_OVERHEAD, udp: UDP_OVERHEAD };

/** IPv4's minimum MTU (RFC 791): every host must take 68-byte datagrams whole. */
const MIN_MTU = 68;

export interface TunnelMtu {
  mtu: number;
  /** Set when the configured MTU is above the interface's: packets that size will not leave it whole. */
  warning: string | null;
}

/** `configured` is the vxlan Backend.MTU (null: not set); the other backends have no such key. */
export function tunnelMtu(backend: Backend, underlayMtu: number, configured: number | null): TunnelMtu {
  const base = backend === 'vxlan' && configured !== null ? configured : underlayMtu;
  const mtu = base - OVERHEAD[backend];
  if (mtu < MIN_MTU) {
    const from = base === underlayMtu ? `the underlay interface's MTU ${underlayMtu}` : `Backend.MTU ${base}`;
    throw new WeftError('ERR_WEFT_MTU', `${from} leaves a tunnel MTU of ${mtu} after ${backend}'s ${OVERHEAD[backend]} bytes; IPv4 needs at least ${MIN_MTU}`);
  }
  const warning =
    base > underlayMtu
      ? `Backend.MTU ${base} is above the underlay interface's MTU ${underlayMtu}: full-size tunnel packets (${base} bytes) will be dropped or fragmented on the way`
      : null;
  return { mtu, warning };
}
