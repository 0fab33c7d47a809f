// HTTP load for the HTTP measurement, run in the near pod with
// `ip netns exec <pod> node http-load.js <url> <seconds> <connections>`:
// autocannon for that long, then one line of JSON on stdout.
import autocannon from 'autocannon';

const [url, seconds, connections] = process.argv.slice(2);
if (!url || !seconds || !connections) {
  process.stderr.write('usage: http-load.js <url> <seconds> <connections>\n');
  process.exit(2);
}
const r = await autocannon({ url, duration: Number(seconds), connections: Number(connections), pipelining: 1, timeout: 5 });
process.stdout.write(
  `${JSON.stringify({
    seconds: r.duration,
    requests: r.requests.total,
    rps: r.requests.total / r.duration,
    rpsPerSecond: { mean: r.requests.mean, min: r.requests.min, max: r.requests.max },
    latencyMs: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max, mean: r.latency.mean },
    errors: r.errors,
    timeouts: r.timeouts,
    non2xx: r.non2xx,
  })}\n`,
);
