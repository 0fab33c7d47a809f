// Address families as bits, for "which families does this peer / node have".
// A peer may have an IPv4 underlay, an IPv6 underlay or both (flannel's
// PublicIP / PublicIPv6); a node may carry IPv4 pods, IPv6 pods or both
// (flannel's EnableIPv4 / EnableIPv6).

export const FAMILY_V4 = 1;
export const FAMILY_V6 = 2;
export const FAMILY_BOTH = FAMILY_V4 | FAMILY_V6;
