#!/usr/bin/env node
// The compiled CLI lives in dist/ (built by `npm ci` through the prepare script).
// `weft run` starts its worker threads first, so that they load their modules
// while the main thread loads its own (src/cli/early-workers.ts).
const args = process.argv.slice(2);
const early = args[0] === 'run' ? import('../dist/src/cli/early-workers.js').then((m) => m.startEarlyWorkers(args.slice(1)), () => undefined) : Promise.resolve();
early
  .then(() => import('../dist/src/cli/main.js'))
  .then((m) => m.main(args))
  .then(
    (code) => { process.exitCode = code; },
    (err) => { console.error(`weft: ${err?.message ?? err}`); process.exitCode = 1; },
  );
