// The one place the daemon refuses an IPv6 network it cannot run yet (issue
// 13). Dual-stack ("EnableIPv6": true beside IPv4) runs: the TUN carries both
// families, IPv6 pods over the IPv6 underlay. IPv6-only ("EnableIPv4": false)
// is refused here: the registry reads and leases it (src/registry), but the
// node's IPv4 half (its TUN address and route, the IPv4 underlay socket, the
// interface chosen by its IPv4 address) is not yet optional. Callers match on
// the code, ERR_WEFT_IPV6_NOT_WIRED.
import { WeftError } from '../../native-free/errors.js';
import type { NetworkConfig } from '../registry/config.js';

export class IPv6NotWiredError extends WeftError {
  constructor(message: string) {
    super('ERR_WEFT_IPV6_NOT_WIRED', message);
  }
}

/** Throws IPv6NotWiredError for an IPv6-only network: before any lease is taken or anything on the host changes. */
export function refuseUnwiredIPv6(config: NetworkConfig): void {
  if (!config.EnableIPv6 || config.EnableIPv4) return;
  throw new IPv6NotWiredError(
    `the network config is IPv6-only ("EnableIPv4": false, IPv6Network ${config.IPv6Network}): weft reads and leases it, but runs IPv6 only beside IPv4 (dual-stack) so far; ` +
      'set "EnableIPv4": true with a Network to run this node dual-stack, or run flanneld on it for now',
  );
}
