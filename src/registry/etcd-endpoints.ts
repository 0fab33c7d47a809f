// How the etcd client moves between --etcd-endpoints when one of them dies.
//
// etcd3 (lib/connection-pool.js) picks a random host for every call and moves to
// another only when the host's policy *refuses* the call (an open circuit); a call
// that reaches a dead host fails, and with weft's no-retry global policy (a
// timed-out transaction may have committed, see etcd.ts) nothing tried elsewhere.
// Its default host policy opens only after 3 consecutive failures, so a repeat by
// EtcdStore could land on the same dead member again (1 in 3 each time): a new
// node in a cluster with one member killed failed its start now and then.
//
// So, for more than one endpoint:
//   - a host's circuit opens on its first connectivity failure (UNAVAILABLE,
//     DEADLINE_EXCEEDED, ...: etcd3's "recoverable" errors), and etcd3 then skips
//     it: the repeat of a read, the next write, a watch reconnect all go to another
//     member. It is tried again (one call) after a rest (REST_* below) that doubles
//     while it stays dead; a success closes the circuit;
//   - a call whose every host is resting (BrokenCircuitError: nothing was sent), or
//     that a member refused for want of a leader (mid-election), is not an attempt:
//     EtcdStore waits a little and asks again (see etcd.ts);
//   - each attempt has a short deadline, so a member that black-holes (frozen,
//     partitioned) or a proposal lost in a leader election costs seconds, not more;
//   - gRPC keepalive pings detect a dead connection under a long-lived watch (a
//     frozen member keeps its TCP connection open and says nothing), and the watch
//     is then re-established on another member from the revision it had reached;
//   - every call carries etcd's `hasleader` metadata (etcd clientv3's
//     WithRequireLeader): a member without a leader (mid-election, or cut off from
//     the others) refuses at once instead of holding the call until its deadline,
//     and closes watches it can no longer serve, so they move to a member that can.
// With one endpoint there is nowhere else to go: no circuit (each repeat reaches it).
import { circuitBreaker, ConsecutiveBreaker, handleWhen, noop, type IPolicy } from 'cockatiel';
import { GRPCDeadlineExceededError, isRecoverableError, type IOptions } from 'etcd3';
import { InterceptingCall, type Interceptor } from '@grpc/grpc-js';

/**
 * Deadline of each unary attempt unless timeoutMs says otherwise: short with
 * several endpoints (a silent member costs this much before the call moves on),
 * longer with one, where there is nowhere to move and a stalled etcd (a disk
 * stall) is better waited out.
 */
export function defaultAttemptMs(endpoints: number): number {
  return endpoints > 1 ? 2000 : 5000;
}
/**
 * A failed host rests before one call may try it again: 1 s after a refusal (a
 * cheap probe: a killed member refuses at once), 3 s after a call it let run into
 * its deadline (a frozen member: each probe costs a whole deadline); doubling
 * while it keeps failing, up to 5 s, so a member that is back is used again soon.
 */
export const REST_REFUSED_MS = 1000;
export const REST_SILENT_MS = 3000;
export const REST_MAX_MS = 5000;
/** How often EtcdStore asks again while every host rests. */
export const ALL_RESTING_PAUSE_MS = 100;

/**
 * Keepalive under open streams (the watch): a ping after 6 s without one, the
 * connection dropped when its answer takes over 2 s. etcd answers pings more
 * often than every 5 s (its --grpc-keepalive-min-time) with "too_many_pings" and
 * a GOAWAY, hence not lower. Pings are sent only while a call is open.
 * A subchannel pool per channel: etcd3 closes a host's clients after a failure
 * and makes new ones for its next call, and with grpc's shared pool these would
 * get the old connection back, still in its reconnect backoff, failing at once
 * with the old error (seen: a member restarted seconds ago reported refusing,
 * its probes failing until every member rested). Backoff capped at 1 s (grpc's
 * default grows to 120 s).
 */
export const GRPC_OPTIONS: NonNullable<IOptions['grpcOptions']> = {
  'grpc.keepalive_time_ms': 6000,
  'grpc.keepalive_timeout_ms': 2000,
  'grpc.keepalive_permit_without_calls': 0,
  'grpc.use_local_subchannel_pool': 1,
  'grpc.initial_reconnect_backoff_ms': 250,
  'grpc.max_reconnect_backoff_ms': 1000,
};

type Backoff<C = unknown> = { readonly duration: number; next(context: C): Backoff<C> };
/** ms, 2·ms, 4·ms ... up to cap (cockatiel's IBackoff). */
export function doubling(ms: number, cap: number): Backoff {
  return { duration: ms, next: () => doubling(Math.min(ms * 2, cap), cap) };
}

/** What cockatiel hands a circuit's backoff when it opens: the failure. */
type OpenContext = { result: { error: unknown } | { value: unknown } };

/** How long a host rests after this failure, at least (see REST_*). */
export function restAfter(ctx: OpenContext): number {
  return 'error' in ctx.result && ctx.result.error instanceof GRPCDeadlineExceededError ? REST_SILENT_MS : REST_REFUSED_MS;
}

function rest(ms: number): Backoff<OpenContext> {
  return { duration: ms, next: (ctx) => rest(Math.min(Math.max(ms * 2, restAfter(ctx)), REST_MAX_MS)) };
}

/**
 * "etcdserver: no leader": the member refused the call before doing anything
 * (the hasleader check), because the cluster is electing. Not the member's fault
 * (its circuit stays closed) and not an attempt: EtcdStore asks again shortly.
 */
export function noLeader(err: unknown): boolean {
  return err instanceof Error && /etcdserver: no leader/.test(err.message);
}

/** etcd3's per-host policy: a circuit that opens on one connectivity failure (none for a single endpoint). */
export function hostPolicy(endpoints: number): NonNullable<NonNullable<IOptions['faultHandling']>['host']> {
  if (endpoints <= 1) return () => noop;
  return () =>
    circuitBreaker(handleWhen((err) => isRecoverableError(err) && !noLeader(err)), {
      halfOpenAfter: { next: (ctx: OpenContext) => rest(restAfter(ctx)) },
      breaker: new ConsecutiveBreaker(1),
    }) as IPolicy;
}

/** Adds `hasleader: true` to a call's metadata (etcd's rpctypes.MetadataRequireLeaderKey). */
const requireLeader: Interceptor = (options, nextCall) =>
  new InterceptingCall(nextCall(options), {
    start(metadata, listener, next) {
      metadata.set('hasleader', 'true');
      next(metadata, listener);
    },
  });

/** Call options: a deadline per unary attempt, set when it starts (streams get none: a watch lives on). */
export function callOptions(attemptMs: number): NonNullable<IOptions['defaultCallOptions']> {
  return (call) => (call.isStream ? { interceptors: [requireLeader] } : { deadline: Date.now() + attemptMs, interceptors: [requireLeader] });
}

/** Nothing was sent: every host's circuit is open (each failed just now and rests). */
export function allResting(err: unknown): boolean {
  return typeof err === 'object' && err !== null && 'isBrokenCircuitError' in err;
}
