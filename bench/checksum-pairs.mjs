// `node bench/checksum-pairs.mjs [sizes...]` (after `npm run build`): the
// checksum rows of bench/cases/checksum.ts, JS and WebAssembly alternately,
// each row in its own process (so no call site sees both implementations),
// 3 times, and the median of each. Run it whole under the lock, as one heavy
// job: `flock /tmp/weft-heavy.lock node bench/checksum-pairs.mjs` (about 3
// minutes). Prints a table and, with --json, the medians.
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const json = args.includes('--json');
const sizes = args.filter((a) => /^\d+$/.test(a)).map(Number);
const SIZES = sizes.length > 0 ? sizes : [20, 40, 64, 1500, 9000, 65535];
const GROUPS = [
  ['sum16-js', 'sum16-wasm'],
  ['copysum-js', 'copywithin-sum-js', 'copywithin-sum-wasm', 'copysum-wasm'],
];
const REPS = 3;

function runRow(name) {
  const out = execFileSync(
    process.execPath,
    [join(root, 'dist/bench/run.js'), '--json', '--filter', name, '--rounds', '5', '--round-ms', '200', '--min-ops', '1'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const rows = JSON.parse(out).filter((r) => r.name === name);
  if (rows.length !== 1) throw new Error(`no single row named ${name}`);
  return rows[0].opsPerSec;
}

const results = {};
for (const size of SIZES) {
  for (const group of GROUPS) {
    for (let rep = 0; rep < REPS; rep++) {
      for (const prefix of group) {
        const name = `${prefix}-${size}`;
        try {
          (results[name] ??= []).push(runRow(name));
        } catch (e) {
          process.stderr.write(`${name}: ${e.message.split('\n')[0]}\n`);
        }
      }
    }
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const table = Object.entries(results).filter(([, xs]) => xs.length > 0).map(([name, xs]) => {
  const size = Number(name.slice(name.lastIndexOf('-') + 1));
  const m = median(xs);
  return { name, opsPerSec: m, nsPerOp: 1e9 / m, gbPerSec: (m * size) / 1e9, runs: xs };
});
for (const r of table) {
  process.stdout.write(
    `${r.name.padEnd(26)} ${(r.opsPerSec / 1e6).toFixed(2).padStart(8)} M/s ${r.nsPerOp.toFixed(1).padStart(9)} ns ${r.gbPerSec.toFixed(2).padStart(7)} GB/s   runs ${r.runs.map((x) => (x / 1e6).toFixed(2)).join(' ')}\n`,
  );
}
if (json) process.stdout.write(`${JSON.stringify(table)}\n`);
