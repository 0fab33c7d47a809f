// Serves `weft capture`: switches the workers' capture taps on, drains their
// rings every few milliseconds into a pcap stream (raw IPv4, LINKTYPE_RAW)
// on the HTTP response, and switches them off when the count is reached or
// the client goes away. One capture at a time.
import type { ServerResponse } from 'node:http';
import { LINKTYPE_RAW, pcapHeader, writePcapRecordHeader, PCAP_RECORD_HEADER_LEN } from '../../native-free/pcap.js';
import { CAPTURE_INNER, CAPTURE_OFF, CAPTURE_OUTER, CaptureRing, type CaptureState } from '../dataplane/capture-ring.js';

const DRAIN_MS = 20;

export class CaptureService {
  private readonly control: Int32Array;
  private readonly rings: CaptureRing[];
  private busy = false;

  constructor(state: CaptureState) {
    this.control = new Int32Array(state.control);
    this.rings = state.rings.map((r) => new CaptureRing(r));
  }

  handle(q: URLSearchParams, res: ServerResponse): void {
    const side = q.get('side') ?? 'outer';
    const count = Number(q.get('count') ?? '0');
    if ((side !== 'inner' && side !== 'outer') || !Number.isInteger(count) || count < 0) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('capture: side is inner or outer, count a whole number (0: until stopped)\n');
      return;
    }
    if (this.busy) {
      res.writeHead(409, { 'content-type': 'text/plain' }).end('another capture is running on this node; stop it first\n');
      return;
    }
    this.busy = true;
    this.rings.forEach((r) => r.reset());
    const dropsBefore = this.rings.reduce((n, r) => n + r.dropped, 0);
    res.writeHead(200, { 'content-type': 'application/vnd.tcpdump.pcap', trailer: 'x-weft-capture-lost' });
    res.write(pcapHeader(LINKTYPE_RAW));
    Atomics.store(this.control, 0, side === 'inner' ? CAPTURE_INNER : CAPTURE_OUTER);
    let written = 0;
    const timer = setInterval(() => {
      for (const ring of this.rings) {
        ring.drain((packet, sec, usec) => {
          if (count > 0 && written >= count) return;
          const rec = Buffer.allocUnsafe(PCAP_RECORD_HEADER_LEN + packet.length);
          writePcapRecordHeader(rec, 0, packet.length, sec * 1_000_000 + usec);
          rec.set(packet, PCAP_RECORD_HEADER_LEN);
          res.write(rec);
          written++;
        });
      }
      if (count > 0 && written >= count) finish();
    }, DRAIN_MS);
    const finish = (): void => {
      if (!this.busy) return;
      Atomics.store(this.control, 0, CAPTURE_OFF);
      clearInterval(timer);
      this.busy = false;
      const lost = this.rings.reduce((n, r) => n + r.dropped, 0) - dropsBefore;
      res.addTrailers({ 'x-weft-capture-lost': String(lost) });
      res.end();
    };
    res.on('close', finish);
  }
}
