// The vxlan backend (flannel pkg/backend/vxlan): inner Ethernet frames in
// VXLAN (RFC 7348) over UDP, one VNI per network; every node publishes its
// VTEP MAC in its lease. weft is a VTEP in userspace: the kernel's VXLAN
// devices of flannel nodes are its peers.
import { InvalidArgumentError } from '../../native-free/errors.js';
import { decapVxlan, decapVxlan6 } from '../../native-free/decap/vxlan.js';
import { encapVxlan, VXLAN_OVERHEAD, VXLAN_PAYLOAD_OVERHEAD } from '../../native-free/encap/vxlan.js';
import * as eth from '../../native-free/header/ethernet.js';
import { formatMac } from '../../native-free/addr.js';
import { IPV4_MIN_HEADER_LENGTH } from '../../native-free/header/ipv4.js';
import { UDP_HEADER_LENGTH } from '../../native-free/header/udp.js';
import * as vxlan from '../../native-free/header/vxlan.js';
import type { Backend } from './types.js';
import { udpTraceLine } from './udp-line.js';

/** flannel's vxlan defaultVNI. */
export const DEFAULT_VNI = 1;
/**
 * weft's VXLAN UDP port when the config gives none (or 0): the IANA port 4789.
 * DIFFERENCE FROM FLANNEL: flannel passes Port 0 to the kernel, whose VXLAN default
 * is the pre-IANA port 8472. A weft node and a flannel node would then send to
 * different ports; in a mixed cluster put "Port" in the Backend config explicitly.
 */
export const WEFT_VXLAN_DEFAULT_PORT = 4789;
/** The port flannel's kernel VXLAN device uses when Backend.Port is 0 or absent. */
export const FLANNEL_VXLAN_KERNEL_DEFAULT_PORT = 8472;

export interface VxlanBackendConfig {
  Type: 'vxlan';
  VNI: number;
  /** Effective port: the configured one, else WEFT_VXLAN_DEFAULT_PORT. */
  Port: number;
  /** False when Port came from weft's default (flannel nodes would use 8472 then). */
  PortConfigured: boolean;
  /** null: derive from the underlay interface, like flannel. */
  MTU: number | null;
  GBP: boolean;
  Learning: boolean;
  DirectRouting: boolean;
}

/** BackendData of a vxlan lease (flannel pkg/backend/vxlan/vxlan_network.go vxlanLeaseAttrs). */
export interface VxlanLeaseData {
  VNI: number;
  /** Lower-case colon-separated MAC, as Go's net.HardwareAddr prints it. */
  VtepMAC: string;
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** BackendData for a vxlan lease, fields in flannel's order, MAC lower-cased like Go prints it. */
export function vxlanLeaseData(vni: number, vtepMac: string): VxlanLeaseData {
  const mac = vtepMac.toLowerCase();
  if (!MAC.test(mac)) throw new InvalidArgumentError(`VtepMAC "${vtepMac}" is not a MAC address like 6e:52:f6:1b:1e:83`);
  if (!Number.isInteger(vni) || vni < 0 || vni > 0xffffff) throw new InvalidArgumentError(`VNI ${vni} is not between 0 and 16777215`);
  return { VNI: vni, VtepMAC: mac };
}

export const VXLAN: Backend<VxlanBackendConfig> = {
  type: 'vxlan',
  summary: 'VXLAN over UDP (RFC 7348), interoperable with the kernel VXLAN devices of flannel nodes',
  overhead: VXLAN_OVERHEAD,
  encapBytes: VXLAN_PAYLOAD_OVERHEAD,
  underlay: 'udp',
  defaultPort: WEFT_VXLAN_DEFAULT_PORT,
  receivedAt: IPV4_MIN_HEADER_LENGTH + UDP_HEADER_LENGTH,
  encap: encapVxlan,
  // Five arguments always: the outer ECN is not known to a socket reader (its default).
  decap: (ctx, b, off, len, src) => decapVxlan(ctx, b, off, len, src),
  decap6: (ctx, b, off, len, src, srcOff) => decapVxlan6(ctx, b, off, len, src, srcOff),
  vtepPeers: true,
  mtuKey: true,

  parseConfig(k) {
    const port = k.int('Port', 0, 0, 65535, 'a UDP port');
    const mtu = k.int('MTU', 0, 0, 65535, 'an MTU (0: the interface MTU)');
    return {
      Type: 'vxlan',
      VNI: k.int('VNI', DEFAULT_VNI, 0, 0xffffff, 'a VXLAN network identifier'),
      Port: port === 0 ? WEFT_VXLAN_DEFAULT_PORT : port,
      PortConfigured: port !== 0,
      MTU: mtu === 0 ? null : mtu,
      GBP: k.bool('GBP', false),
      Learning: k.bool('Learning', false),
      DirectRouting: k.bool('DirectRouting', false),
    };
  },
  port: (c) => c.Port,
  directRouting: (c) => c.DirectRouting,
  vni: (c) => c.VNI,
  configuredMtu: (c) => c.MTU,
  leaseData: (c, mac) => ({ ...vxlanLeaseData(c.VNI, mac) }),
  notes(c) {
    const out = [];
    if (c.GBP || c.Learning) {
      out.push({ fields: { GBP: c.GBP, Learning: c.Learning }, message: 'Backend.GBP and Backend.Learning are ignored: weft sends no group policy and programs peers from leases only' });
    }
    if (!c.PortConfigured) out.push({ fields: { port: c.Port }, message: 'Backend.Port is not set: weft uses 4789, flannel nodes would use 8472; set it to mix them' });
    return out;
  },
  describe: (f) => `vxlan, VNI ${f.vni}, port ${f.port}`,
  traceHeaders(b, at) {
    const v = at + UDP_HEADER_LENGTH;
    const e = v + vxlan.VXLAN_HEADER_LENGTH;
    return [
      udpTraceLine(b, at),
      `VXLAN         8 B  flags 0x${vxlan.vxlanFlags(b, v).toString(16).padStart(2, '0')} (I), VNI ${vxlan.vni(b, v)}`,
      `Ethernet     14 B  ${formatMac(b, e + eth.MAC_LENGTH)} → ${formatMac(b, e)}, type 0x${eth.etherType(b, e).toString(16).padStart(4, '0')}`,
    ];
  },
  traceSocket: (f) =>
    f.sourcePort === undefined
      ? `the UDP socket sends from the VXLAN/UDP header on; the kernel writes outer IPv4 and UDP, with source port ${f.port} (the socket's), not the flow hash`
      : `the UDP socket sends from the VXLAN/UDP header on; the kernel writes outer IPv4 and UDP, with source port ${f.sourcePort}: the send-only socket this flow's hash picks (--source-ports), not the RFC 7348 port above`,
  traceChecks: (from, mac, f) => `I flag set, VNI ${f.vni}, sender ${from} is a known node (our lease), inner MAC ${mac} is its own, no VLAN tag, inner IPv4 sound, TTL > 0`,
};
