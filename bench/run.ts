// `npm run bench [-- --json] [-- --filter NAME]`: every micro-benchmark in
// bench/cases, one after the other on this thread. With --json, stdout is one
// JSON array of {name, opsPerSec, ...}; progress goes to stderr.
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { type BenchCase, type BenchResult, runCase, sinkValue } from './harness.js';
import { cases as engineCases } from './cases/engine.js';
import { cases as engine6Cases } from './cases/engine6.js';
import { cases as tableCases } from './cases/tables.js';
import { cases as offloadCases } from './cases/offload.js';
import { cases as offloadUdpCases } from './cases/offload-udp.js';
import { cases as offload6Cases } from './cases/offload6.js';
import { cases as checksumCases } from './cases/checksum.js';

const all: BenchCase[] = [...engineCases, ...engine6Cases, ...tableCases, ...offloadCases, ...offloadUdpCases, ...offload6Cases, ...checksumCases];

function main(): void {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      filter: { type: 'string' },
      rounds: { type: 'string', default: '5' },
      'round-ms': { type: 'string', default: '400' },
      'min-ops': { type: 'string', default: '10000000' },
    },
  });
  const selected = values.filter ? all.filter((c) => c.name.includes(values.filter!)) : all;
  if (selected.length === 0) throw new Error(`no benchmark matches --filter ${values.filter}; have: ${all.map((c) => c.name).join(', ')}`);
  if (typeof (globalThis as { gc?: unknown }).gc !== 'function') {
    process.stderr.write('note: run with node --expose-gc to measure heap growth\n');
  }
  const opts = { rounds: Number(values.rounds), roundMs: Number(values['round-ms']), minTotalOps: Number(values['min-ops']) };
  const results: BenchResult[] = [];
  process.stderr.write(`node ${process.version}, ${cpus()[0]?.model ?? 'unknown cpu'}\n`);
  for (const c of selected) {
    const r = runCase(c, opts);
    results.push(r);
    const heap = r.heapGrowthBytes === null ? 'n/a' : `${(r.heapGrowthBytes / 1024).toFixed(0)} KiB`;
    process.stderr.write(
      `${r.name.padEnd(22)} ${(r.opsPerSec / 1e6).toFixed(2).padStart(7)} M ${r.unit}/s   heap growth ${heap} over ${(r.opsMeasured / 1e6).toFixed(1)} M\n`,
    );
  }
  if (values.json) process.stdout.write(`${JSON.stringify(results)}\n`);
  if (sinkValue() === 0.5) process.stderr.write('\n'); // keeps the sink observable
}

main();
