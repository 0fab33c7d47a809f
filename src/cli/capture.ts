// `weft capture [--inner|--outer] -w file.pcap [--count N] [--seconds S]`:
// what this node's data plane sends and receives, as a pcap file that
// tcpdump, Wireshark and tshark open (raw IPv4 link type).
import { createWriteStream, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { parseArgs } from 'node:util';
import { socketAddress } from '../daemon/http.js';
import { guardDaemonSocket } from './status.js';

const USAGE = `usage: weft capture [--inner | --outer] -w FILE [--count N] [--seconds S]

--outer (default): whole underlay packets, as sent and received (outer IPv4 and
UDP headers the kernel socket writes are rebuilt from the same addresses).
--inner: the IP packets as the TUN sees them (sent: before encapsulation;
received: after decapsulation, delivered ones only).
Stops after N packets, after S seconds, or on Ctrl-C; the daemon ends any
capture after 600 s, and drops (and counts) packets this client does not read
fast enough. Needs root or --status-group. Run it where "weft run" runs.`;

export async function captureCommand(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        inner: { type: 'boolean', default: false },
        outer: { type: 'boolean', default: false },
        write: { type: 'string', short: 'w' },
        count: { type: 'string', default: '0' },
        seconds: { type: 'string', default: '0' },
        'status-socket': { type: 'string', default: '@weft' },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (e) {
    console.error(`weft capture: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const count = Number(values.count);
  const seconds = Number(values.seconds);
  const problem =
    values.inner && values.outer ? 'give --inner or --outer, not both'
    : values.write === undefined ? 'give the output file with -w FILE'
    : !Number.isInteger(count) || count < 0 ? `--count "${values.count}" is not a whole number`
    : !(seconds >= 0) ? `--seconds "${values.seconds}" is not a number of seconds`
    : null;
  if (problem) {
    console.error(`weft capture: ${problem}\n\n${USAGE}`);
    return 2;
  }
  const side = values.inner ? 'inner' : 'outer';
  return capture(values['status-socket']!, side, count, seconds, values.write!);
}

function capture(socket: string, side: string, count: number, seconds: number, file: string): Promise<number> {
  return new Promise((resolve) => {
    const out = createWriteStream(file);
    let started = false;
    const req = request({ socketPath: socketAddress(socket), path: `/capture?side=${side}&count=${count}&seconds=${Math.min(seconds, 600)}` }, (res) => {
      if (res.statusCode !== 200) {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => {
          console.error(`weft capture: ${body.trim()}`);
          resolve(1);
        });
        return;
      }
      console.error(`capturing ${side} packets${count ? `, ${count} of them` : ''}${seconds ? ` for ${seconds} s` : ''}; Ctrl-C to stop`);
      started = true;
      res.pipe(out);
      const done = () => {
        out.end(() => {
          const lost = Number(res.trailers['x-weft-capture-lost'] ?? 0);
          console.error(`wrote ${countPackets(file)} packets to ${file}${lost ? ` (${lost} more lost: capture ring full, or this client read too slowly)` : ''}`);
          resolve(0);
        });
      };
      res.on('end', done);
      res.on('aborted', done);
    });
    guardDaemonSocket(req);
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (started) return; // stopped by us after data arrived
      const why = e.code === 'ECONNREFUSED' || e.code === 'ENOENT' ? 'no weft daemon is running in this network namespace' : e.message;
      console.error(`weft capture: ${why} (status socket ${socket})`);
      out.destroy();
      resolve(1);
    });
    const stop = () => req.destroy();
    process.once('SIGINT', stop);
    if (seconds > 0) setTimeout(stop, seconds * 1000).unref();
    req.end();
  });
}

/** Packets in a classic pcap file (24-byte header, 16-byte record headers, little-endian). */
function countPackets(file: string): number {
  const b = readFileSync(file);
  let n = 0;
  for (let at = 24; at + 16 <= b.length; at += 16 + b.readUInt32LE(at + 8)) n++;
  return n;
}
