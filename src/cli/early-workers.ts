// `weft run` only: starts the data-plane worker threads before anything else loads
// (src/dataplane/prewarm.ts), as many as the daemon will ask for. The flags are
// parsed properly later; here a --workers that is not a plain number is left to
// that parser, and the default (cores, or the container's CPU limit) is used.
import { defaultWorkers } from '../daemon/cpu-quota.js';
import { prewarmWorkers } from '../dataplane/prewarm.js';

export function startEarlyWorkers(args: readonly string[]): void {
  if (args.some((a) => /^--?(h|help|version)(=.*)?$/.test(a))) return;
  let n: number | null = null;
  for (let i = 0; i < args.length; i++) {
    const m = /^--?workers(?:=(.*))?$/.exec(args[i]!);
    if (m) n = Number(m[1] ?? args[i + 1]);
  }
  const env = process.env['WEFT_WORKERS'] ?? process.env['FLANNELD_WORKERS'];
  if (n === null && env) n = Number(env);
  const count = n !== null && Number.isInteger(n) && n >= 1 && n <= 256 ? n : defaultWorkers();
  prewarmWorkers(Math.min(count, 64));
}
