// /proc readers: one process's CPU time and identity, and the whole system's CPU time.
import { readFileSync } from 'node:fs';

export const CLK_TCK = 100; // USER_HZ, 100 on every Linux architecture weft runs on

export interface ProcStat {
  state: string;
  /** utime + stime of all the process's threads, in seconds. */
  cpuSeconds: number;
  /** Start time in clock ticks since boot: with the pid, identifies the process. */
  starttime: number;
}

export function procStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // pid (comm) state ppid ... : comm may hold spaces, so split after the last ')'.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state); utime is field 14, stime 15, starttime 22.
  return { state: f[0]!, cpuSeconds: (Number(f[11]) + Number(f[12])) / CLK_TCK, starttime: Number(f[19]) };
}

/** True while the process runs (a zombie counts as gone). With starttime, only that very process. */
export function alive(pid: number, starttime?: number): boolean {
  const s = procStat(pid);
  if (!s || s.state === 'Z' || s.state === 'X') return false;
  return starttime === undefined || s.starttime === starttime;
}

export interface SystemCpu {
  /** Seconds of CPU time spent busy (user, nice, system, irq, softirq, steal), all CPUs. */
  busy: number;
  /** Seconds of idle + iowait, all CPUs. */
  idle: number;
  softirq: number;
}

/** The aggregate `cpu` line of /proc/stat (guest time is already inside user). */
export function systemCpu(): SystemCpu {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number) as number[];
  return {
    busy: (user! + nice! + system! + irq! + softirq! + steal!) / CLK_TCK,
    idle: (idle! + iowait!) / CLK_TCK,
    softirq: softirq! / CLK_TCK,
  };
}
