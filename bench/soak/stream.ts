// A steady TCP stream between two pods (iperf3 at a fixed rate, one report a
// second) for the whole soak. A client that gives up (a stall past its timeouts)
// is started again and counted. Afterwards: the longest run of seconds in which
// less than a tenth of the rate arrived.
import { readFileSync } from 'node:fs';
import type { Janitor } from '../../test/integration/harness/janitor.js';
import { Proc, sleep } from '../../test/integration/harness/exec.js';

export const STREAM_MBIT = 20;

export interface StreamSummary {
  mbit: number;
  seconds: number;
  /** Seconds in which under a tenth of the rate arrived, and the longest run of them. */
  stalledSeconds: number;
  longestStallS: number;
  meanMbit: number;
  clientRestarts: number;
}

export class Stream {
  private server: Proc;
  private client: Proc | null = null;
  private stopping = false;
  private restarts = 0;
  private runs = 0;
  private loop: Promise<void>;

  constructor(
    private readonly janitor: Janitor,
    private readonly fromNs: string,
    toNs: string,
    private readonly toIp: string,
    private readonly dir: string,
    seconds: number,
  ) {
    this.server = new Proc(janitor, toNs, 'iperf3', ['-s', '-B', toIp, '-p', '5301'], { logFile: `${dir}/iperf3-server.log` });
    this.loop = this.keepRunning(seconds);
  }

  private async keepRunning(seconds: number): Promise<void> {
    await sleep(500);
    const end = Date.now() + seconds * 1000;
    while (!this.stopping && Date.now() < end - 2000) {
      const left = Math.ceil((end - Date.now()) / 1000);
      this.client = new Proc(
        this.janitor,
        this.fromNs,
        'iperf3',
        ['-c', this.toIp, '-p', '5301', '-t', String(left), '-b', `${STREAM_MBIT}M`, '-i', '1', '--forceflush', '--connect-timeout', '3000'],
        { logFile: `${this.dir}/iperf3-client-${this.runs++}.log` },
      );
      const { code } = await this.client.exited;
      if (this.stopping) break;
      if (code !== 0 && Date.now() < end - 2000) {
        this.restarts++;
        await sleep(500);
      }
    }
  }

  async stop(): Promise<StreamSummary> {
    this.stopping = true;
    await this.client?.stop('SIGINT', 3000);
    await this.loop;
    await this.server.stop('SIGTERM', 3000);
    const rates: number[] = [];
    for (let i = 0; i < this.runs; i++) {
      const out = readFileSync(`${this.dir}/iperf3-client-${i}.log`, 'utf8');
      // "[  5]   3.00-4.00   sec  2.38 MBytes  20.0 Mbits/sec    0    ..." (sender side, per second)
      for (const m of out.matchAll(/^\[\s*\d+\]\s+([\d.]+)-([\d.]+)\s+sec\s+[\d.]+ \w?Bytes\s+([\d.]+) (\w?)bits\/sec\s+\d+/gm)) {
        if (Number(m[2]) - Number(m[1]) > 1.5) continue; // the totals at the end
        const unit = m[4] === 'G' ? 1000 : m[4] === 'M' ? 1 : m[4] === 'K' ? 0.001 : 0.000001;
        rates.push(Number(m[3]) * unit);
      }
    }
    let run = 0;
    let longest = 0;
    let stalled = 0;
    for (const r of rates) {
      if (r < STREAM_MBIT / 10) {
        stalled++;
        longest = Math.max(longest, ++run);
      } else run = 0;
    }
    const mean = rates.length ? rates.reduce((a, b) => a + b, 0) / rates.length : 0;
    return { mbit: STREAM_MBIT, seconds: rates.length, stalledSeconds: stalled, longestStallS: longest, meanMbit: Math.round(mean * 10) / 10, clientRestarts: this.restarts };
  }
}
