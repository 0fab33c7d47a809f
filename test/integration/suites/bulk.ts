// A long TCP stream pod to pod (n1 → n2): 1 GiB with the default flags (offloads on),
// less where the suite runs with offloads off. The bytes are pseudo-random (an
// AES-CTR keystream made by fixtures/tcp.mjs while it sends: nothing repeats, nothing
// is written to disk), both ends hash what passes through them, and the sink must
// have exactly as many bytes as were sent, with the same sha256. Long enough for
// every batching path to wrap many times: TSO super-packets cut into segments,
// UDP GSO sends, GRO-coalesced receives and writes, buffer pools reused.
import { expect, it } from 'vitest';
import type { Cluster } from '../harness/cluster.js';
import type { Janitor } from '../harness/janitor.js';
import { tcpChecksumErrors } from '../harness/exec.js';
import { tcpStream } from '../harness/traffic.js';
import type { Extra } from './backend.js';

export const GIB = 1024 * 1024 * 1024;
export const MIB = 1024 * 1024;

/** The transfer itself may take this long (at ~2 Gbit/s 1 GiB takes ~5 s). */
export const BULK_TIMEOUT_MS = 120_000;

const size = (bytes: number): string => (bytes % GIB === 0 ? `${bytes / GIB} GiB` : `${bytes / MIB} MiB`);

export function bulkTransferTests(bytes: number): Extra {
  return (cluster: () => Cluster, janitor: () => Janitor, _backend, name) => {
    it(`${size(bytes)} of pseudo-random bytes pod to pod over one TCP connection: exactly ${bytes} bytes, same sha256 at both ends`, async () => {
      const c = cluster();
      const [from, to] = c.pods as [typeof c.pods[0], typeof c.pods[0]];
      const csumErrors0 = await tcpChecksumErrors(to.ns);
      const r = await tcpStream(janitor(), from, to, bytes, BULK_TIMEOUT_MS);
      console.log(
        `[${name}] ${size(bytes)} ${from.ip} → ${to.ip}: ${(r.ms / 1000).toFixed(1)} s (${((r.bytes * 8) / r.ms / 1e6).toFixed(2)} Gbit/s), ` +
          `sent ${r.sent} bytes sha256 ${r.sentSha256.slice(0, 16)}…, received ${r.bytes} bytes sha256 ${r.sha256.slice(0, 16)}…`,
      );
      expect(r.sent, 'bytes the source sent').toBe(bytes);
      expect(r.bytes, 'bytes the sink received').toBe(bytes);
      expect(r.sha256, 'sha256 at the sink = sha256 at the source').toBe(r.sentSha256);
      // TCP repairs a damaged segment by resending it, hiding it from the
      // sha256: the receiving pod's kernel must have found no bad checksum.
      expect(await tcpChecksumErrors(to.ns), 'TCP segments with a bad checksum at the receiving pod').toBe(csumErrors0);
    }, BULK_TIMEOUT_MS + 20_000);
  };
}
