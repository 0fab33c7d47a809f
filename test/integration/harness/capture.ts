// tshark captures inside a namespace: started, waited on until it captures,
// stopped (SIGINT: tshark finishes the file), decoded with the shared helper.
import { Proc, sleep } from './exec.js';
import type { Janitor } from './janitor.js';

export class Capture {
  private constructor(
    readonly proc: Proc,
    readonly file: string,
  ) {}

  /**
   * tshark -i iface -f filter -w file [-c count]; resolves once tshark captures.
   * opts.bufferMiB: the kernel capture buffer (-B; tshark's default 2 MiB overflows
   * under bulk traffic at Gbit/s and the capture then misses packets).
   */
  static async start(janitor: Janitor, ns: string, iface: string, filter: string, file: string, count?: number, opts: { bufferMiB?: number } = {}): Promise<Capture> {
    const args = [
      '-n', '-i', iface, '-f', filter, '-w', file,
      ...(count !== undefined ? ['-c', String(count)] : []),
      ...(opts.bufferMiB !== undefined ? ['-B', String(opts.bufferMiB)] : []),
      '-a', 'duration:60',
    ];
    const proc = new Proc(janitor, ns, 'tshark', args);
    // "Capturing on" comes before dumpcap has its filter in place; "Capture started" after.
    await proc.waitOutput(/Capture started/, 20_000);
    await sleep(100);
    return new Capture(proc, file);
  }

  /** Waits for tshark to stop by itself (-c reached), or stops it after timeoutMs. */
  async finish(timeoutMs = 10_000): Promise<string> {
    const t = setTimeout(() => this.proc.child.kill('SIGINT'), timeoutMs);
    await this.proc.exited;
    clearTimeout(t);
    return this.proc.output();
  }

  /** Stops capturing now (SIGINT; tshark closes the file properly). */
  async stop(): Promise<string> {
    if (this.proc.running) this.proc.child.kill('SIGINT');
    const t = setTimeout(() => this.proc.child.kill('SIGKILL'), 10_000);
    await this.proc.exited;
    clearTimeout(t);
    return this.proc.output();
  }
}
