// Resident memory of the daemons over the soak: VmRSS from /proc/<pid>/status
// every ~10 s, one series per process (a restarted weft is a new series), and
// a least-squares line through each, to tell flat from growing.
import { readFileSync } from 'node:fs';

export const RSS_EVERY_MS = 10_000;
/** The first samples of a process are left out of its fit: heap and JIT warm up. */
export const WARMUP_MS = 30_000;

export interface RssSeries {
  name: string;
  pid: number;
  /** [ms since the soak started, KiB] */
  samples: Array<[number, number]>;
}

export interface RssFit {
  name: string;
  pid: number;
  samples: number;
  minutes: number;
  firstMiB: number;
  lastMiB: number;
  maxMiB: number;
  /** Slope of the fit, MiB per minute, and R². */
  slopeMiBPerMin: number;
  r2: number;
  verdict: 'flat' | 'growing' | 'too short';
}

export function rssKiB(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

export function fit(s: RssSeries): RssFit {
  const t0 = s.samples[0]?.[0] ?? 0;
  const pts = s.samples.filter(([t]) => t - t0 >= WARMUP_MS);
  const mib = (k: number) => Math.round((k / 1024) * 10) / 10;
  const base = { name: s.name, pid: s.pid, samples: pts.length, firstMiB: mib(s.samples[0]?.[1] ?? 0), lastMiB: mib(s.samples.at(-1)?.[1] ?? 0), maxMiB: mib(Math.max(0, ...s.samples.map(([, k]) => k))) };
  const minutes = pts.length > 1 ? (pts.at(-1)![0] - pts[0]![0]) / 60_000 : 0;
  if (pts.length < 4 || minutes < 0.5) return { ...base, minutes, slopeMiBPerMin: 0, r2: 0, verdict: 'too short' };
  const xs = pts.map(([t]) => t / 60_000);
  const ys = pts.map(([, k]) => k / 1024);
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
    syy += (ys[i]! - my) ** 2;
  }
  const slope = sxx > 0 ? sxy / sxx : 0;
  const r2 = sxx > 0 && syy > 0 ? (sxy * sxy) / (sxx * syy) : 0;
  // Growing: the line rises by more than 5 % of the mean, and at least 2 MiB, over the fitted span.
  const growing = slope * minutes > Math.max(0.05 * my, 2);
  return { ...base, minutes: Math.round(minutes * 10) / 10, slopeMiBPerMin: Math.round(slope * 1000) / 1000, r2: Math.round(r2 * 100) / 100, verdict: growing ? 'growing' : 'flat' };
}
