// The version `weft version`, `weft --version` and `weft run --version` print: package.json's.
import { readFileSync } from 'node:fs';

export function weftVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}
