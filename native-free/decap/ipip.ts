// IP-in-IP decapsulation (RFC 2003) of what a raw IPPROTO_IPIP socket reads:
// Linux hands raw sockets the whole outer IPv4 header, already reassembled and
// with its checksum checked by the kernel.
//
//   off          off+IHL*4
//   | outer IPv4 | inner IPv4 packet ... |

import { DROP_BAD_INNER, DROP_BAD_OUTER, DROP_SHORT, FORWARD } from '../drop.js';
import * as ip from '../header/ipv4.js';
import { admitInner } from './admit.js';
import type { DecapContext } from './context.js';
import { checkSender, deliverInner } from './deliver.js';

const MIN_LENGTH = 2 * ip.IPV4_MIN_HEADER_LENGTH;

export function decapIpip(ctx: DecapContext, b: Uint8Array, off: number, len: number): number {
  if (len < MIN_LENGTH) return DROP_SHORT;
  if (ip.version(b, off) !== 4 || ip.protocol(b, off) !== ip.PROTO_IPIP) return DROP_BAD_OUTER;
  const hl = ip.headerLength(b, off);
  if (hl < ip.IPV4_MIN_HEADER_LENGTH) return DROP_BAD_OUTER;
  const total = ip.totalLength(b, off);
  if (total > len || total < hl + ip.IPV4_MIN_HEADER_LENGTH) return DROP_BAD_OUTER;
  const sender = checkSender(ctx, ip.src(b, off));
  if (sender !== FORWARD) return sender;
  // IP-in-IP carries IPv4 only; anything else inside is a bad inner packet.
  if (b[off + hl]! >>> 4 !== 4) return DROP_BAD_INNER;
  const code = deliverInner(ctx, b, off + hl, total - hl, ip.ecn(b, off));
  return code !== FORWARD ? code : admitInner(ctx, b, off + hl);
}
