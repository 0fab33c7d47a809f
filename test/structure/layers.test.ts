// Dependencies point one way (README "Follow a packet"): each folder of src/
// imports only from the folders below it, and the engine from nothing of src/.
//
//   native-free ← sys ← backend ← registry ← dataplane ← daemon ← lab ← cli
//
// Read from the sources (every relative `from '…'`, type-only imports too), so
// a wrong-way import fails here with its file and line.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const LAYERS = ['native-free', 'src/sys', 'src/backend', 'src/registry', 'src/dataplane', 'src/daemon', 'src/lab', 'src/cli'];

function layerOf(path: string): number {
  const rel = relative(ROOT, path);
  return LAYERS.findIndex((l) => rel === l || rel.startsWith(`${l}/`));
}

function* sources(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) yield* sources(join(dir, e.name));
    else if (e.name.endsWith('.ts')) yield join(dir, e.name);
  }
}

it('every folder of src/ imports only from the folders below it', () => {
  const wrong: string[] = [];
  let imports = 0;
  for (const top of ['native-free', 'src']) {
    for (const file of sources(join(ROOT, top))) {
      const from = layerOf(file);
      expect(from, `${relative(ROOT, file)} is in no layer: add its folder to LAYERS`).toBeGreaterThanOrEqual(0);
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          const m = /from '(\.{1,2}\/[^']+)'/.exec(line);
          if (!m) return;
          imports++;
          const to = layerOf(resolve(dirname(file), m[1]!));
          if (to > from) wrong.push(`${relative(ROOT, file)}:${i + 1} (${LAYERS[from]}) imports ${m[1]} (${LAYERS[to] ?? 'outside the layers'})`);
        });
    }
  }
  expect(imports).toBeGreaterThan(200); // the scan saw the code
  expect(wrong).toEqual([]);
});
