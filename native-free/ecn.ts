// ECN across the tunnel, RFC 6040 normal mode.
//
// Encapsulation (§4.1): the outer ECN field is a copy of the inner one.
// Decapsulation (§4.2, Figure 4), inner row × outer column → inner result:
//
//              | Not-ECT  ECT(0)   ECT(1)   CE
//     ---------+----------------------------------
//     Not-ECT  | Not-ECT  Not-ECT  Not-ECT  drop
//     ECT(0)   | ECT(0)   ECT(0)   ECT(1)   CE
//     ECT(1)   | ECT(1)   ECT(1)   ECT(1)   CE
//     CE       | CE       CE       CE       CE
//
// So only two cases change the inner header: outer CE marks an ECN-capable
// inner packet CE, and outer ECT(1) over inner ECT(0) becomes ECT(1).

import { ECN_CE, ECN_ECT0, ECN_ECT1, ECN_NOT_ECT } from './header/ipv4.js';

/** Sentinel: the outer ECN is unknown (the kernel consumed the outer header). */
export const ECN_UNKNOWN = -1;

/** The inner ECN after decapsulation, or -1 when the packet must be dropped. */
export function decapEcn(inner: number, outer: number): number {
  if (outer === ECN_UNKNOWN || outer === ECN_NOT_ECT || inner === ECN_CE) return inner;
  if (inner === ECN_NOT_ECT) return outer === ECN_CE ? -1 : ECN_NOT_ECT;
  if (outer === ECN_CE) return ECN_CE;
  if (outer === ECN_ECT1) return ECN_ECT1;
  return inner === ECN_ECT1 ? ECN_ECT1 : ECN_ECT0;
}
