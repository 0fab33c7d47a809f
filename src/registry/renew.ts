// Keeps one lease alive, like flannel's LocalManager.CompleteLease: renew when
// `renewMargin` is left before expiry (flannel --subnet-lease-renew-margin, default
// 60 min, 1..1439 min), retry a failed renewal after a minute, stop for good when
// the lease was lost (flannel then shuts the daemon down).
import { ConfigError, LeaseLostError } from './errors.js';
import { SUBNET_LEASE_TTL_MS, sleep } from './registry.js';
import type { Lease, SubnetRegistry } from './types.js';

export const DEFAULT_RENEW_MARGIN_MS = 60 * 60 * 1000;
const DEFAULT_RETRY_MS = 60 * 1000;
// setTimeout holds at most 2^31-1 ms; longer waits are taken in steps.
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface RenewOptions {
  signal: AbortSignal;
  /** Renew this long before expiry. Default 60 min; must be > 0 and < 24 h. */
  renewMarginMs?: number;
  /** Wait after a failed renewal. Default 1 min. */
  retryDelayMs?: number;
  onRenewed?(lease: Lease): void;
  onError?(err: unknown): void;
  /** Renews at once when fired, whatever the schedule says (tests: WEFT_FAULT_INJECTION's SIGHUP). */
  trigger?: RenewTrigger;
}

/** Fired, it makes keepLeaseRenewed renew now; a fire during a renewal renews once more after it. */
export class RenewTrigger {
  private ctl = new AbortController();
  fire(): void {
    this.ctl.abort();
  }
  get signal(): AbortSignal {
    return this.ctl.signal;
  }
  /** Takes a pending fire: true when there was one. */
  take(): boolean {
    if (!this.ctl.signal.aborted) return false;
    this.ctl = new AbortController();
    return true;
  }
}

/**
 * Renews `lease` until `signal` aborts (then resolves with the latest lease).
 * Rejects with LeaseLostError when the lease was deleted, expired or taken over.
 */
export async function keepLeaseRenewed(registry: SubnetRegistry, lease: Lease, opts: RenewOptions): Promise<Lease> {
  const margin = opts.renewMarginMs ?? DEFAULT_RENEW_MARGIN_MS;
  if (!(margin > 0 && margin < SUBNET_LEASE_TTL_MS)) {
    throw new ConfigError(`renew margin ${margin} ms must be more than 0 and less than 24 h (flannel: --subnet-lease-renew-margin 1..1439 minutes)`);
  }
  const retry = opts.retryDelayMs ?? DEFAULT_RETRY_MS;
  let current = lease;
  let failed = false;
  while (!opts.signal.aborted) {
    if (current.expiration === null) {
      await sleep(MAX_TIMER_MS, opts.signal); // a reservation never expires
      continue;
    }
    const wait = failed ? retry : current.expiration.getTime() - margin - Date.now();
    const fired = opts.trigger?.signal;
    if (wait > 0 && !fired?.aborted) {
      await sleep(Math.min(wait, MAX_TIMER_MS), fired ? AbortSignal.any([opts.signal, fired]) : opts.signal);
      if (!failed && !fired?.aborted && current.expiration.getTime() - margin > Date.now()) continue; // woke early
    }
    opts.trigger?.take();
    if (opts.signal.aborted) break;
    try {
      current = await registry.renewLease(current);
      failed = false;
      opts.onRenewed?.(current);
    } catch (err) {
      if (err instanceof LeaseLostError) throw err;
      failed = true;
      opts.onError?.(err);
    }
  }
  return current;
}
