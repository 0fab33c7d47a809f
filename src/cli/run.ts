// `weft run`: parse flags (errors before anything changes), start the daemon,
// stop cleanly on SIGTERM / SIGINT.
import { WeftError } from '../../native-free/errors.js';
import { asksForVersion, parseRunFlags, runUsage } from '../daemon/flags.js';
import { startDaemon } from '../daemon/run.js';
import { weftVersion } from './version.js';

export async function runCommand(argv: string[]): Promise<number> {
  if (asksForVersion(argv)) {
    // flanneld --version: print it and exit, whatever else is on the line.
    console.log(weftVersion());
    return 0;
  }
  let flags;
  try {
    flags = parseRunFlags(argv);
  } catch (e) {
    console.error(`weft run: ${(e as Error).message}`);
    return 2;
  }
  if (flags === null) {
    console.log(runUsage());
    return 0;
  }
  let daemon;
  try {
    daemon = await startDaemon(flags);
  } catch (e) {
    const code = e instanceof WeftError ? ` [${e.code}]` : '';
    console.error(`weft run: ${(e as Error).message}${code}`);
    return 1;
  }
  // Handlers stay installed: a second signal during shutdown must not kill the
  // process half-way through removing what it added.
  let stopping = false;
  const onSignal = (sig: string) => {
    console.error(stopping ? `weft run: ${sig} again; still stopping` : `weft run: ${sig}, stopping`);
    if (stopping) return;
    stopping = true;
    void daemon.stop();
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  await daemon.done;
  return typeof process.exitCode === 'number' ? process.exitCode : 0;
}
