// How many data-plane workers to start by default: the cores this process may
// really use. os.availableParallelism() counts the CPUs of the affinity mask, but
// a container's CPU limit is a CFS quota in its cgroup, invisible there: a
// DaemonSet pod limited to 1 CPU on a 32-core node would start 32 workers that
// share one CPU's worth of time. Like Go's runtime (GOMAXPROCS), weft takes
// ceil(quota / period), the smallest along the cgroup's ancestors, for cgroup v2
// (cpu.max) and v1 (cpu.cfs_quota_us, cpu.cfs_period_us).
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, posix } from 'node:path';

/** Reads a file, or null when it is not there (no such cgroup file, no cgroup fs). */
export type ReadText = (path: string) => string | null;

const readText: ReadText = (path) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
};

/** The CPU quota in cores (fractional), or null when none is set. */
export function cpuQuota(read: ReadText = readText): number | null {
  const cgroups = read('/proc/self/cgroup');
  const mounts = read('/proc/self/mountinfo');
  if (cgroups === null || mounts === null) return null;
  for (const mount of cgroupMounts(mounts)) {
    const path = cgroupPath(cgroups, mount.v2);
    if (path === null || !isWithin(path, mount.root)) continue;
    const quota = smallestQuota(mount, path, read);
    if (quota !== null) return quota;
  }
  return null;
}

/** The default --workers: the cores of the affinity mask, fewer when a CPU quota says so. */
export function defaultWorkers(read: ReadText = readText, cores = availableParallelism()): number {
  const quota = cpuQuota(read);
  return quota === null ? cores : Math.max(1, Math.min(cores, Math.ceil(quota)));
}

interface CgroupMount {
  v2: boolean;
  /** The cgroup this mount shows at its mount point (not "/" inside some containers). */
  root: string;
  mountPoint: string;
}

/** cgroup2 mounts, and v1 mounts of the cpu controller, from /proc/self/mountinfo. */
function cgroupMounts(mountinfo: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    // 32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
    const [left, right] = line.split(' - ');
    if (left === undefined || right === undefined) continue;
    const fields = left.split(' ');
    const [fsType, , superOptions = ''] = right.split(' ');
    const root = fields[3];
    const mountPoint = fields[4];
    if (root === undefined || mountPoint === undefined) continue;
    if (fsType === 'cgroup2') out.push({ v2: true, root: unescape(root), mountPoint: unescape(mountPoint) });
    else if (fsType === 'cgroup' && superOptions.split(',').includes('cpu')) out.push({ v2: false, root: unescape(root), mountPoint: unescape(mountPoint) });
  }
  return out;
}

/** mountinfo escapes spaces and the like as \040. */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** This process's cgroup in the v2 hierarchy ("0::/path") or the v1 cpu one ("4:cpu,cpuacct:/path"). */
function cgroupPath(procCgroup: string, v2: boolean): string | null {
  for (const line of procCgroup.split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const controllers = line.slice(first + 1, second);
    const matches = v2 ? line.slice(0, first) === '0' && controllers === '' : controllers.split(',').includes('cpu');
    if (matches) return line.slice(second + 1);
  }
  return null;
}

function isWithin(path: string, root: string): boolean {
  return root === '/' || path === root || path.startsWith(`${root}/`);
}

/** The smallest quota from this cgroup up to the mount's root. */
function smallestQuota(mount: CgroupMount, path: string, read: ReadText): number | null {
  let smallest: number | null = null;
  let relative = mount.root === '/' ? path : path.slice(mount.root.length) || '/';
  for (;;) {
    const dir = join(mount.mountPoint, relative);
    const quota = mount.v2 ? v2Quota(read(join(dir, 'cpu.max'))) : v1Quota(read(join(dir, 'cpu.cfs_quota_us')), read(join(dir, 'cpu.cfs_period_us')));
    if (quota !== null && (smallest === null || quota < smallest)) smallest = quota;
    if (relative === '/' || relative === '') return smallest;
    relative = posix.dirname(relative);
  }
}

/** cgroup v2 cpu.max: "max 100000" (no limit) or "150000 100000" (1.5 cores). */
function v2Quota(text: string | null): number | null {
  if (text === null) return null;
  const [quota, period] = text.trim().split(/\s+/);
  return ratio(quota, period);
}

/** cgroup v1: cpu.cfs_quota_us is -1 without a limit. */
function v1Quota(quota: string | null, period: string | null): number | null {
  if (quota === null || period === null) return null;
  return ratio(quota.trim(), period.trim());
}

function ratio(quota: string | undefined, period: string | undefined): number | null {
  const q = Number(quota);
  const p = Number(period);
  return Number.isFinite(q) && q > 0 && Number.isFinite(p) && p > 0 ? q / p : null;
}
