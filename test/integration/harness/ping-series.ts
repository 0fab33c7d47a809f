// A steady ping (one echo every intervalMs) from a pod while something happens
// to a node (a restart, a rolling update): how many were lost, the longest run
// without an answer, and when each answer came (ping -D: wall-clock stamps, so
// they compare with Date.now() of this process).
import { Proc } from './exec.js';
import type { Janitor } from './janitor.js';

export interface PingSeries {
  sent: number;
  /** Distinct echo sequence numbers answered (duplicates not counted). */
  received: number;
  lost: number;
  /** Answers that came twice (ping's DUP!). */
  duplicates: number;
  /** The longest stretch without an answer, in ms: (missing sequence numbers in a row + 1) × interval. */
  longestGapMs: number;
  /** Each answer: sequence number and the time it came (ms since the epoch). */
  replies: { seq: number; at: number }[];
  output: string;
}

export class PingStream {
  private readonly proc: Proc;
  readonly startedAt = Date.now();

  constructor(janitor: Janitor, ns: string, dst: string, readonly intervalMs: number, readonly count: number) {
    this.proc = new Proc(janitor, ns, 'ping', ['-n', '-D', '-i', String(intervalMs / 1000), '-c', String(count), '-W', '1', dst]);
  }

  /** Waits for the last echo (or stops it after timeoutMs) and counts. */
  async result(timeoutMs = this.count * this.intervalMs + 10_000): Promise<PingSeries> {
    const t = setTimeout(() => this.proc.child.kill('SIGINT'), timeoutMs);
    await this.proc.exited;
    clearTimeout(t);
    return parsePing(this.proc.output(), this.intervalMs);
  }

  /** Ends it now (SIGINT: ping prints its summary) and counts. */
  async finish(): Promise<PingSeries> {
    if (this.proc.running) this.proc.child.kill('SIGINT');
    return this.result();
  }

  /** What came so far. */
  sofar(): PingSeries {
    return parsePing(this.proc.output(), this.intervalMs);
  }

  stop(): Promise<unknown> {
    return this.proc.stop('SIGKILL', 1000);
  }
}

export function parsePing(output: string, intervalMs: number): PingSeries {
  const seen = new Set<number>();
  const replies: { seq: number; at: number }[] = [];
  let duplicates = 0;
  for (const m of output.matchAll(/^\[(\d+\.\d+)\] \d+ bytes from [^:]+: icmp_seq=(\d+) .*$/gm)) {
    const seq = Number(m[2]);
    if (seen.has(seq) || / DUP!/.test(m[0])) {
      duplicates++;
      continue;
    }
    seen.add(seq);
    replies.push({ seq, at: Math.round(Number(m[1]) * 1000) });
  }
  const summary = /(\d+) packets transmitted/.exec(output);
  const sent = summary ? Number(summary[1]) : Math.max(0, ...seen);
  const seqs = [...seen].sort((a, b) => a - b);
  // Sequence numbers start at 1; a missing run at either end counts too.
  let longest = 0;
  let prev = 0;
  for (const s of [...seqs, sent + 1]) {
    longest = Math.max(longest, s - prev - 1);
    prev = s;
  }
  return {
    sent,
    received: seen.size,
    lost: sent - seen.size,
    duplicates,
    longestGapMs: (longest + 1) * intervalMs,
    replies,
    output,
  };
}
