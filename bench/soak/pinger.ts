// Pings between pods every 20 ms for the whole soak (`ping -D`: each reply with its
// arrival time), and what they show afterwards: packets lost and the longest time
// without a reply.
import { readFileSync } from 'node:fs';
import type { Janitor } from '../../test/integration/harness/janitor.js';
import { Proc } from '../../test/integration/harness/exec.js';

export const PING_INTERVAL_S = 0.02;

export interface Gap {
  flow: string;
  /** ms since the epoch: the last reply before the gap, and the first after it. */
  from: number;
  to: number;
  ms: number;
}

export interface PingSummary {
  flow: string;
  sent: number;
  received: number;
  lost: number;
  longestGapMs: number;
  /** Gaps of 200 ms or more, longest first. */
  gaps: Gap[];
}

export class Pinger {
  private readonly proc: Proc;

  constructor(
    janitor: Janitor,
    readonly flow: string,
    ns: string,
    dst: string,
    private readonly logFile: string,
  ) {
    // -D: arrival time of each reply; -W 1: a reply later than 1 s is lost; no -c: until stopped.
    this.proc = new Proc(janitor, ns, 'ping', ['-n', '-D', '-i', String(PING_INTERVAL_S), '-W', '1', dst], { logFile });
  }

  /** SIGINT: ping prints its totals and exits. */
  async stop(): Promise<PingSummary> {
    await this.proc.stop('SIGINT', 5000);
    return summarize(this.flow, readFileSync(this.logFile, 'utf8'));
  }
}

export function summarize(flow: string, out: string): PingSummary {
  const totals = /(\d+) packets transmitted, (\d+) received/.exec(out);
  const times: number[] = [];
  for (const m of out.matchAll(/^\[(\d+\.\d+)\] \d+ bytes from .*icmp_seq=\d+/gm)) times.push(Math.round(Number(m[1]) * 1000));
  const gaps: Gap[] = [];
  let longest = 0;
  for (let i = 1; i < times.length; i++) {
    const ms = times[i]! - times[i - 1]!;
    longest = Math.max(longest, ms);
    if (ms >= 200) gaps.push({ flow, from: times[i - 1]!, to: times[i]!, ms });
  }
  const sent = Number(totals?.[1] ?? NaN);
  const received = Number(totals?.[2] ?? times.length);
  return { flow, sent, received, lost: sent - received, longestGapMs: longest, gaps: gaps.sort((a, b) => b.ms - a.ms) };
}
