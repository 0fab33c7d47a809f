// weft end to end, in network namespaces, with a real etcd: see README.md here.
// One file on purpose: vitest runs files in parallel, and these suites share
// the machine's 2 cores and measure time-sensitive things; describes in one
// file run one after the other.
import { describe } from 'vitest';
import { useJanitor } from './harness/context.js';
import { skipIntegration } from './harness/requirements.js';
import { backendSuite, OFFLOADS_OFF, type Extra, type SuiteOptions } from './suites/backend.js';
import { bulkTransferTests, GIB, MIB } from './suites/bulk.js';
import { garbageTests } from './suites/garbage.js';
import { kernelInteropTests } from './suites/kernel-interop.js';
import { leaseTests } from './suites/lease.js';
import { mixedRolloutTests } from './suites/mixed-rollout.js';
import { restartTests } from './suites/restart.js';
import { spoofTests } from './suites/spoof.js';
import { workerDeathTests } from './suites/worker-death.js';
import { failedStartTests } from './suites/failed-start.js';

const restart: Extra = (cluster, janitor, backend) => restartTests(cluster, backend, janitor);
const lease: Extra = (cluster, _janitor, backend) => leaseTests(cluster, backend);
const kernel: Extra = (cluster, janitor, _backend, name) => kernelInteropTests(cluster, janitor, name);
const garbage: Extra = (cluster, janitor) => garbageTests(cluster, janitor);
const workerDeath: Extra = (cluster, _janitor, backend) => workerDeathTests(cluster, backend);
const failedStart: Extra = (cluster, janitor) => failedStartTests(cluster, janitor);
const mixedRollout: Extra = (cluster, janitor) => mixedRolloutTests(cluster, janitor);
const spoof: Extra = spoofTests;

/** `weft run` as deployed: every offload at its default (on). */
const ON: SuiteOptions = { label: 'offloads on' };
/**
 * `weft run --offload=false`: the one-syscall-per-packet path, on clusters of their
 * own (tags vo, io). The core checks, the kernel interop and a shorter bulk
 * transfer; why these and not everything: README.md.
 */
const OFF: SuiteOptions = { label: 'offloads off', weftArgs: OFFLOADS_OFF };

describe.skipIf(skipIntegration('weft integration'))('weft integration (namespaces, etcd)', () => {
  const janitor = useJanitor();
  backendSuite(janitor, 'vxlan', [bulkTransferTests(GIB), restart, lease, kernel, garbage, spoof, workerDeath, failedStart, mixedRollout], ON);
  backendSuite(janitor, 'ipip', [restart, lease, spoof], ON);
  backendSuite(janitor, 'udp', [restart, lease, spoof], ON);
  backendSuite(janitor, 'vxlan', [bulkTransferTests(256 * MIB), kernel], { ...OFF, tag: 'vo' });
  backendSuite(janitor, 'ipip', [], { ...OFF, tag: 'io' });
});
