// `weft trace <src> <dst>`: asks the local daemon to walk one packet through
// its live state, and prints each step.
import { parseArgs } from 'node:util';
import type { TraceStep } from '../daemon/trace.js';
import { traceQuery } from '../daemon/trace-query.js';
import { daemonGet } from './status.js';

const USAGE = `usage: weft trace <src-ip> <dst-ip> [--size BYTES] [--no-df] [--proto icmp|udp|tcp] [--json]

Walks one packet from <src-ip> to <dst-ip> through this node: the kernel route,
weft's route and peer, the headers the engine builds (with sizes), the MTU
check, and what the receiving node will check. Run it where "weft run" runs.`;

export async function traceCommand(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        size: { type: 'string', default: '84' },
        'no-df': { type: 'boolean', default: false },
        proto: { type: 'string', default: 'icmp' },
        json: { type: 'boolean', default: false },
        'status-socket': { type: 'string', default: '@weft' },
        help: { type: 'boolean', default: false },
      },
    });
  } catch (e) {
    console.error(`weft trace: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length !== 2) {
    console.error(`weft trace: give a source and a destination address\n\n${USAGE}`);
    return 2;
  }
  const query = traceQuery({
    src: positionals[0]!,
    dst: positionals[1]!,
    size: Number(values.size),
    df: !values['no-df'],
    protocol: values.proto as 'icmp',
  });
  try {
    const t = await daemonGet<{ steps: TraceStep[]; verdict: string }>(values['status-socket']!, `/trace?${query}`);
    if (values.json) console.log(JSON.stringify(t, null, 2));
    else {
      for (const s of t.steps) console.log(`${s.ok ? ' ' : '!'} ${s.step.padEnd(13)} ${s.detail}`);
      console.log(`= ${t.verdict}`);
    }
    return 0;
  } catch (e) {
    console.error(`weft trace: ${(e as Error).message}`);
    return 1;
  }
}
