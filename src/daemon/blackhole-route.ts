// --ip-blackhole-route, as flanneld: a blackhole route for this node's own pod
// subnet, so that a packet to an address of the subnet that no pod holds is
// discarded here instead of following the default route out of the node. It is
// meant for CNI set-ups without flannel's bridge (Canal: one /32 route per pod).
//
// flanneld (main.go) checks every --iptables-resync seconds and adds the route when
// the dump has none of type blackhole for the subnet; it never removes it, also not
// on exit. weft does the same (a restart keeps the protection in place), with one
// difference: flanneld adds it at metric 0, and if the bridge plugin then gives cni0
// its address, the kernel appends cni0's route behind the blackhole with the same
// key, and every packet to a pod is discarded (tried here: `ip route get` answers
// EINVAL). weft adds it at the highest metric, so any real route to the subnet wins
// and the blackhole only catches what nothing else routes.
import type { Logger } from 'pino';
import { addRoute, listRoutes } from '../sys/netlink.js';
import { RTN_BLACKHOLE } from '../sys/constants.js';

export type BlackholeState = 'added' | 'present' | 'failed';

/** The last metric there is: every other route to the subnet comes first. */
export const BLACKHOLE_METRIC = 0xffffffff;

export class BlackholeRoute {
  private last: BlackholeState | null = null;
  private readonly dst: string;
  private readonly prefixLen: number;

  constructor(
    /** This node's subnet, "10.244.1.0/24". */
    private readonly subnet: string,
    private readonly log: Pick<Logger, 'info' | 'warn'>,
  ) {
    const [dst, len] = subnet.split('/');
    this.dst = dst!;
    this.prefixLen = Number(len);
  }

  /** Adds the route unless it is there; says what it found, logging only changes. */
  ensure(): BlackholeState {
    let state: BlackholeState;
    let detail = '';
    try {
      const present = listRoutes().some((r) => r.table === 254 && r.type === RTN_BLACKHOLE && r.dst === this.dst && r.prefixLen === this.prefixLen);
      if (present) {
        state = 'present';
      } else {
        addRoute({ dst: this.dst, prefixLen: this.prefixLen, blackhole: true, metric: BLACKHOLE_METRIC });
        state = 'added';
      }
    } catch (e) {
      state = 'failed';
      detail = (e as Error).message;
    }
    if (state !== this.last || state === 'failed') this.report(state, detail);
    this.last = state;
    return state;
  }

  /** Checks every intervalMs until the signal aborts (flanneld: --iptables-resync). */
  startChecking(intervalMs: number, signal: AbortSignal): void {
    const timer = setInterval(() => this.ensure(), intervalMs);
    timer.unref();
    signal.addEventListener('abort', () => clearInterval(timer), { once: true });
  }

  private report(state: BlackholeState, detail: string): void {
    const at = { subnet: this.subnet };
    if (state === 'added') this.log.info(at, 'blackhole route for this node\'s subnet added (--ip-blackhole-route)');
    else if (state === 'present') this.log.info(at, 'blackhole route for this node\'s subnet in place (--ip-blackhole-route)');
    else this.log.warn({ ...at, err: detail }, '--ip-blackhole-route: could not add the blackhole route; retrying');
  }
}
