// The tunnel MTU, by flannel's rule, so that a net-conf.json means the same MTU to
// weft as to flanneld:
//   vxlan  (Backend.MTU, else the underlay interface's MTU) − 50
//          (flannel pkg/backend/vxlan/device.go: `MTU: devAttrs.MTU - 50`; Backend.MTU
//          is the underlay's MTU, not the device's)
//   ipip   the underlay interface's MTU − 20
//   udp    the underlay interface's MTU − 28 (IPv4 + UDP, flannel's encapOverhead)
// Each backend declares its overhead (src/backend/), the engine's constants,
// which equal flannel's.
import { WeftError } from '../../native-free/errors.js';
import { backendOf, type BackendType } from '../backend/index.js';

/** IPv4's minimum MTU (RFC 791): every host must take 68-byte datagrams whole. */
const MIN_MTU = 68;

export interface TunnelMtu {
  mtu: number;
  /** Set when the configured MTU is above the interface's: packets that size will not leave it whole. */
  warning: string | null;
}

/** `configured` is the config's Backend.MTU (null: not set); only backends with that key (vxlan) read it. */
export function tunnelMtu(backend: BackendType, underlayMtu: number, configured: number | null): TunnelMtu {
  const b = backendOf(backend);
  const overhead = b.overhead;
  const base = b.mtuKey && configured !== null ? configured : underlayMtu;
  const mtu = base - overhead;
  if (mtu < MIN_MTU) {
    const from = base === underlayMtu ? `the underlay interface's MTU ${underlayMtu}` : `Backend.MTU ${base}`;
    throw new WeftError('ERR_WEFT_MTU', `${from} leaves a tunnel MTU of ${mtu} after ${backend}'s ${overhead} bytes; IPv4 needs at least ${MIN_MTU}`);
  }
  const warning =
    base > underlayMtu
      ? `Backend.MTU ${base} is above the underlay interface's MTU ${underlayMtu}: full-size tunnel packets (${base} bytes) will be dropped or fragmented on the way`
      : null;
  return { mtu, warning };
}
