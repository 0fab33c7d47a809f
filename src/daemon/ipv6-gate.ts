// The one place the daemon refuses an IPv6 network (issue 13). The registry
// accepts and carries flannel's IPv6 config and leases (src/registry/config.ts,
// codec.ts, registry.ts), but the data plane does not route, encapsulate or
// program IPv6 yet: a node that leased an IPv6 subnet and then dropped every
// IPv6 packet would publish a lease its peers send into a black hole. The
// integrator removes this check (and its call in run.ts) when the IPv6 data
// plane is wired; callers match on the code, ERR_WEFT_IPV6_NOT_WIRED.
import { WeftError } from '../../native-free/errors.js';
import type { NetworkConfig } from '../registry/config.js';

export class IPv6NotWiredError extends WeftError {
  constructor(message: string) {
    super('ERR_WEFT_IPV6_NOT_WIRED', message);
  }
}

/** Throws IPv6NotWiredError for EnableIPv6 (dual-stack or IPv6-only): before any lease is taken or anything on the host changes. */
export function refuseUnwiredIPv6(config: NetworkConfig): void {
  if (!config.EnableIPv6) return;
  const what = config.EnableIPv4 ? 'dual-stack' : 'IPv6-only';
  throw new IPv6NotWiredError(
    `the network config enables IPv6 (${what}, IPv6Network ${config.IPv6Network}): weft reads and leases it, but its IPv6 data plane is not wired yet; ` +
      'set "EnableIPv6": false (and "EnableIPv4": true) to run this node, or run flanneld on it for now',
  );
}
