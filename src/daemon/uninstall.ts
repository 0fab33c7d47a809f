// What `weft run` leaves on a node after it stops, so that the next weft takes
// over without an outage (README "Restarts and upgrades"), and its removal:
//
//   - the persistent TUN (weft0) with its /32 address and the cluster route
//     (all three go with the device);
//   - direct routes (rtm_protocol DIRECT_ROUTE_PROTOCOL), with DirectRouting;
//   - the subnet file (as flanneld leaves /run/flannel/subnet.env).
//
// Not touched: the lease in the registry (it runs out, or the operator deletes
// it), the state dir (the VTEP MAC a reinstall would want back), and flannel's
// iptables chains (left as flanneld leaves them).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { DIRECT_ROUTE_PROTOCOL } from './direct-routing.js';
import { deleteTun, existingTunFlags, tunHasQueues } from '../sys/tun.js';

export interface UninstallPlan {
  tunName: string;
  /** null: leave the subnet file. */
  subnetFile: string | null;
  /** Remove the device even while a weft holds queues of it (it then goes when that weft exits). */
  force: boolean;
}

export interface UninstallResult {
  tun: 'removed' | 'absent';
  directRoutes: number;
  subnetFile: 'removed' | 'kept' | 'absent';
}

export class StillRunningError extends Error {}

export async function uninstall(plan: UninstallPlan): Promise<UninstallResult> {
  const flags = existingTunFlags(plan.tunName);
  if (flags === 'not-tun') throw new Error(`${plan.tunName} is not a TUN device: not weft's, not removed`);
  if (flags !== null && tunHasQueues(plan.tunName) && !plan.force) {
    throw new StillRunningError(`a weft still holds ${plan.tunName} (its carrier is on): stop it first, or pass --force`);
  }
  const tun = deleteTun(plan.tunName) ? 'removed' : 'absent';
  const before = directRoutes();
  if (before > 0) execFileSync('ip', ['-4', 'route', 'flush', 'table', 'main', 'proto', String(DIRECT_ROUTE_PROTOCOL)], { stdio: 'ignore' });
  let subnetFile: UninstallResult['subnetFile'] = 'kept';
  if (plan.subnetFile !== null) {
    let existed = true;
    try {
      readFileSync(plan.subnetFile);
    } catch {
      existed = false;
    }
    await rm(plan.subnetFile, { force: true });
    subnetFile = existed ? 'removed' : 'absent';
  }
  return { tun, directRoutes: before, subnetFile };
}

function directRoutes(): number {
  try {
    const out = execFileSync('ip', ['-j', '-4', 'route', 'show', 'table', 'main', 'proto', String(DIRECT_ROUTE_PROTOCOL)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return (JSON.parse(out.trim() || '[]') as unknown[]).length;
  } catch {
    return 0;
  }
}
