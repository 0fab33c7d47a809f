// The UDP header line of `weft trace`, shared by the backends that ride on UDP.
import * as udp from '../../native-free/header/udp.js';

export function udpTraceLine(b: Uint8Array, u: number): string {
  return `UDP           8 B  port ${udp.srcPort(b, u)} → ${udp.dstPort(b, u)}, length ${udp.length(b, u)}`;
}
