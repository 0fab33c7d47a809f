// Is a tool the daemon will run later installed? Answered from PATH, without
// running it: a start refuses a flag whose tool is missing before anything on the
// host changes, and spawning a process costs the main thread tens of ms (fork and
// exec of a large process), which a restart's forwarding would wait for.
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { WeftError } from '../../native-free/errors.js';

/** A tool a flag needs is not installed. */
export class MissingToolError extends WeftError {
  constructor(message: string) {
    super('ERR_WEFT_MISSING_TOOL', message);
  }
}

/** The path of the executable `name` on PATH, or null. */
export function findOnPath(name: string, path = process.env['PATH'] ?? ''): string | null {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      if (statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  return null;
}

/** Throws MissingToolError naming the flag when `name` is not on PATH. */
export function requireOnPath(name: string, flag: string, path?: string): void {
  if (findOnPath(name, path) === null) {
    throw new MissingToolError(`${flag} needs "${name}", which is not on PATH (${path ?? process.env['PATH'] ?? ''}): install it (Debian: the ${name === 'nft' ? 'nftables' : 'iptables'} package) or drop ${flag}`);
  }
}
