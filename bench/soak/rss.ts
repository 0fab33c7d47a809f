// Resident memory of the daemons over the soak: VmRSS from /proc/<pid>/status
// every ~10 s, one series per process (a restarted weft is a new series), and
// a least-squares line through each, to tell flat from growing.
//
// The verdict is taken on the second half of a series: in its first minutes a
// fresh daemon's memory rises while V8 grows its reserved heap to its working
// size (measured here: 17 → 25 MiB over the first 8 minutes of a 20-minute
// soak, flat after), which is no leak. A leak keeps rising in the second half
// too. The slope over the whole series is reported beside it.
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
  /** Slope of the fit over the second half, MiB per minute, and R²; the span it covers. */
  slopeMiBPerMin: number;
  r2: number;
  /** Slope of the fit over the whole series (after WARMUP_MS), MiB per minute. */
  wholeSlopeMiBPerMin: number;
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

interface Line {
  slope: number;
  r2: number;
  mean: number;
  minutes: number;
}

function line(pts: Array<[number, number]>): Line | null {
  const minutes = pts.length > 1 ? (pts.at(-1)![0] - pts[0]![0]) / 60_000 : 0;
  if (pts.length < 4 || minutes < 0.5) return null;
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
  return { slope, r2: sxx > 0 && syy > 0 ? (sxy * sxy) / (sxx * syy) : 0, mean: my, minutes };
}

export function fit(s: RssSeries): RssFit {
  const t0 = s.samples[0]?.[0] ?? 0;
  const tEnd = s.samples.at(-1)?.[0] ?? t0;
  const pts = s.samples.filter(([t]) => t - t0 >= WARMUP_MS);
  const half = s.samples.filter(([t]) => t >= t0 + (tEnd - t0) / 2);
  const mib = (k: number) => Math.round((k / 1024) * 10) / 10;
  const base = { name: s.name, pid: s.pid, samples: half.length, firstMiB: mib(s.samples[0]?.[1] ?? 0), lastMiB: mib(s.samples.at(-1)?.[1] ?? 0), maxMiB: mib(Math.max(0, ...s.samples.map(([, k]) => k))) };
  const whole = line(pts);
  const settled = line(half);
  if (whole === null || settled === null) return { ...base, minutes: settled?.minutes ?? 0, slopeMiBPerMin: 0, r2: 0, wholeSlopeMiBPerMin: 0, verdict: 'too short' };
  // Growing: over the second half the line rises by more than 5 % of its mean, and at least 2 MiB.
  const growing = settled.slope * settled.minutes > Math.max(0.05 * settled.mean, 2);
  return {
    ...base,
    minutes: Math.round(settled.minutes * 10) / 10,
    slopeMiBPerMin: Math.round(settled.slope * 1000) / 1000,
    r2: Math.round(settled.r2 * 100) / 100,
    wholeSlopeMiBPerMin: Math.round(whole.slope * 1000) / 1000,
    verdict: growing ? 'growing' : 'flat',
  };
}
