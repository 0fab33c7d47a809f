// IP-in-IP encapsulation (RFC 2003 §3).
//
//                                        +---------------------------+
//                                        |                           |
//                                        |      Outer IP Header      |
//                                        |                           |
//    +---------------------------+       +---------------------------+
//    |                           |       |                           |
//    |         IP Header         |       |         IP Header         |
//    |                           |       |                           |
//    +---------------------------+ ====> +---------------------------+
//    |                           |       |                           |
//    |                           |       |                           |
//    |         IP Payload        |       |         IP Payload        |
//    |                           |       |                           |
//    |                           |       |                           |
//    +---------------------------+       +---------------------------+
//
// The outer header is a plain IPv4 header with Protocol 4. RFC 2003 fixes what
// the encapsulator copies: DF from the inner header (§3.1, "MUST" when set),
// TTL chosen by the tunnel (§3.1), and it never encapsulates TTL 0. ECN follows
// RFC 6040 (see ../ecn.ts). There is no header of its own: this file holds the
// rules' constants so the backends share them.

import { PROTO_IPIP } from './ipv4.js';

export { PROTO_IPIP };

/** Outer TTL weft uses, as Linux tunnels do by default (net.ipv4.ip_default_ttl). */
export const OUTER_TTL = 64;
