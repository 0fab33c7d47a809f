// A tiny HTTP server for the HTTP measurement, run in the far pod with
// `ip netns exec <pod> node http-server.js <ip> <port>`: every request gets "ok\n".
import { createServer } from 'node:http';

const [ip, port] = process.argv.slice(2);
if (!ip || !port) {
  process.stderr.write('usage: http-server.js <ip> <port>\n');
  process.exit(2);
}
const body = Buffer.from('ok\n');
const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 30_000;
server.listen(Number(port), ip, () => process.stderr.write(`listening on ${ip}:${port}\n`));
const stop = () => server.close(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
