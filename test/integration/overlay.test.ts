// weft end to end, in network namespaces, with a real etcd: see README.md here.
// One file on purpose: vitest runs files in parallel, and these suites share
// the machine's 2 cores and measure time-sensitive things; describes in one
// file run one after the other.
import { describe } from 'vitest';
import { useJanitor } from './harness/context.js';
import { skipIntegration } from './harness/requirements.js';
import { backendSuite, type Extra } from './suites/backend.js';
import { garbageTests } from './suites/garbage.js';
import { kernelInteropTests } from './suites/kernel-interop.js';
import { leaseTests } from './suites/lease.js';
import { mixedRolloutTests } from './suites/mixed-rollout.js';
import { restartTests } from './suites/restart.js';
import { workerDeathTests } from './suites/worker-death.js';
import { failedStartTests } from './suites/failed-start.js';

const restart: Extra = (cluster, _janitor, backend) => restartTests(cluster, backend);
const lease: Extra = (cluster, _janitor, backend) => leaseTests(cluster, backend);
const kernel: Extra = (cluster, janitor) => kernelInteropTests(cluster, janitor);
const garbage: Extra = (cluster, janitor) => garbageTests(cluster, janitor);
const workerDeath: Extra = (cluster, _janitor, backend) => workerDeathTests(cluster, backend);
const failedStart: Extra = (cluster, janitor) => failedStartTests(cluster, janitor);
const mixedRollout: Extra = (cluster, janitor) => mixedRolloutTests(cluster, janitor);

describe.skipIf(skipIntegration('weft integration'))('weft integration (namespaces, etcd)', () => {
  const janitor = useJanitor();
  backendSuite(janitor, 'vxlan', [restart, lease, kernel, garbage, workerDeath, failedStart, mixedRollout]);
  backendSuite(janitor, 'ipip', [restart, lease]);
  backendSuite(janitor, 'udp', [restart, lease]);
});
