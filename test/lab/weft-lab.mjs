#!/usr/bin/env node
// `weft lab …` before the command is registered in src/cli/main.ts:
//   node test/lab/weft-lab.mjs up --nodes 2
// Runs the compiled command (build first: npx tsc -p tsconfig.json).
import('../../dist/src/cli/lab.js').then((m) => m.labCommand(process.argv.slice(2))).then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(`weft lab: ${err?.message ?? err}`); process.exitCode = 1; },
);
