#!/usr/bin/env node
// `npm run bench:soak [-- --minutes 20]`: builds dist/, then runs the soak
// (bench/soak/soak.run.ts) under vitest, which runs the TypeScript of the
// integration harness (test/integration/harness: janitor, etcd members, weft
// nodes in namespaces) as the tests do. Ctrl-C reaches vitest and its worker
// (one process group): the janitor there kills what it started and deletes the
// namespaces; its detached reaper does so too if the worker dies without that.
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = fileURLToPath(new URL('../../', import.meta.url));
const { values } = parseArgs({ options: { minutes: { type: 'string', default: '20' }, help: { type: 'boolean', default: false } } });
if (values.help) {
  console.log(`usage: npm run bench:soak -- [--minutes N]
  --minutes  how long traffic runs while weft restarts, leases churn, etcd members and workers die (default 20: the memory verdict is taken on the second half)
Needs root, iproute2, etcd-server, iperf3, ping, curl. Writes bench/results/soak-<date>.json.`);
  process.exit(0);
}
const minutes = Number(values.minutes);
if (!(minutes > 0 && minutes <= 24 * 60)) {
  console.error(`--minutes ${values.minutes}: give a number of minutes, e.g. --minutes 10`);
  process.exit(2);
}
const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);
const child = spawn('npx', ['vitest', 'run', '--config', 'bench/soak/vitest.config.ts'], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, WEFT_SOAK_MINUTES: String(minutes) },
});
// Ctrl-C goes to the whole process group; this launcher waits for vitest to clean up.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => child.kill('SIGTERM'));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 130 : 1)));
