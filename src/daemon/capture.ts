// Serves `weft capture`: switches the workers' capture taps on, drains their
// rings every few milliseconds into a pcap stream (raw IPv4, LINKTYPE_RAW)
// on the HTTP response, and switches them off when the count is reached, the
// time is up, or the client goes away. One capture at a time.
//
// The client is not trusted to read: what waits in the response (Node's
// buffer above the socket's) is bounded, and packets that do not fit are
// dropped from the capture and counted, never queued. A capture ends after
// `seconds` (at most MAX_CAPTURE_SECONDS, the default) so an abandoned one
// cannot hold the only slot; close, error or time-out all free it.
import type { ServerResponse } from 'node:http';
import { LINKTYPE_RAW, pcapHeader, writePcapRecordHeader, PCAP_RECORD_HEADER_LEN } from '../../native-free/pcap.js';
import { CAPTURE_INNER, CAPTURE_OFF, CAPTURE_OUTER, CaptureRing, type CaptureState } from '../dataplane/capture-ring.js';

const DRAIN_MS = 20;
/** Bytes a capture may have waiting in its response before packets are dropped. */
export const MAX_CAPTURE_BUFFERED = 1 << 20;
export const MAX_CAPTURE_SECONDS = 600;
/** After the end, a client that still has not taken what is queued is cut off. */
const LINGER_MS = 2_000;
/** "<hex length>\r\n" before and "\r\n" after each chunk. */
const CHUNK_FRAMING = 16;

export class CaptureService {
  private readonly control: Int32Array;
  private readonly rings: CaptureRing[];
  private busy = false;
  /** Packets dropped because the client did not read fast enough (all captures). */
  dropped = 0;
  /** Captures ended by their time limit. */
  timedOut = 0;
  /** The running capture's response, for the buffered-bytes gauge. */
  private current: ServerResponse | null = null;

  constructor(
    state: CaptureState,
    private readonly limits = { maxBuffered: MAX_CAPTURE_BUFFERED, maxSeconds: MAX_CAPTURE_SECONDS },
  ) {
    this.control = new Int32Array(state.control);
    this.rings = state.rings.map((r) => new CaptureRing(r));
  }

  get running(): boolean {
    return this.busy;
  }

  /** Streams the capture on res; throws RangeError (nothing written) on bad parameters. */
  handle(q: URLSearchParams, res: ServerResponse): void {
    const side = q.get('side') ?? 'outer';
    const countText = q.get('count') ?? '0';
    const secondsText = q.get('seconds') ?? '0';
    const count = /^\d{1,15}$/.test(countText) ? Number(countText) : NaN;
    const seconds = /^\d{1,15}(\.\d+)?$/.test(secondsText) ? Number(secondsText) : NaN;
    if ((side !== 'inner' && side !== 'outer') || !Number.isInteger(count) || !(seconds >= 0)) {
      throw new RangeError(`capture: side is inner or outer, count a whole number (0: no limit), seconds a number (0: the limit, ${this.limits.maxSeconds})`);
    }
    if (this.busy) {
      res.writeHead(409, { 'content-type': 'text/plain' }).end('another capture is running on this node; stop it first\n');
      return;
    }
    const limitMs = Math.min(seconds === 0 ? this.limits.maxSeconds : seconds, this.limits.maxSeconds) * 1000;
    this.busy = true;
    this.current = res;
    this.rings.forEach((r) => r.reset());
    const ringLostBefore = this.rings.reduce((n, r) => n + r.dropped, 0);
    let droppedHere = 0;
    res.writeHead(200, { 'content-type': 'application/vnd.tcpdump.pcap', trailer: 'x-weft-capture-lost' });
    res.write(pcapHeader(LINKTYPE_RAW));
    Atomics.store(this.control, 0, side === 'inner' ? CAPTURE_INNER : CAPTURE_OUTER);
    let written = 0;
    const maxBuffered = this.limits.maxBuffered;
    const onPacket = (packet: Uint8Array, sec: number, usec: number): void => {
      if (count > 0 && written >= count) return;
      // + CHUNK_FRAMING: the response is chunked, and writableLength counts the framing too.
      if (res.destroyed || res.writableLength + PCAP_RECORD_HEADER_LEN + packet.length + CHUNK_FRAMING > maxBuffered) {
        droppedHere++;
        this.dropped++;
        return;
      }
      const rec = Buffer.allocUnsafe(PCAP_RECORD_HEADER_LEN + packet.length);
      writePcapRecordHeader(rec, 0, packet.length, sec * 1_000_000 + usec);
      rec.set(packet, PCAP_RECORD_HEADER_LEN);
      res.write(rec);
      written++;
    };
    const timer = setInterval(() => {
      // Drained even when the client is slow: the ring must not stall the workers' taps.
      for (const ring of this.rings) ring.drain(onPacket);
      if (count > 0 && written >= count) finish();
    }, DRAIN_MS);
    const deadline = setTimeout(() => {
      this.timedOut++;
      finish();
    }, limitMs);
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      Atomics.store(this.control, 0, CAPTURE_OFF);
      clearInterval(timer);
      clearTimeout(deadline);
      this.busy = false;
      this.current = null;
      if (res.destroyed) return;
      const lost = this.rings.reduce((n, r) => n + r.dropped, 0) - ringLostBefore + droppedHere;
      res.addTrailers({ 'x-weft-capture-lost': String(lost) });
      res.end();
      // A client that reads nothing would keep the queued bytes (and the connection) forever.
      const linger = setTimeout(() => res.destroy(), LINGER_MS);
      linger.unref();
      res.once('close', () => clearTimeout(linger));
    };
    res.once('close', finish);
    res.once('error', finish);
  }

  metrics(): string {
    return (
      [
        '# HELP weft_capture_dropped_total Captured packets dropped because the capture client did not read them fast enough.',
        '# TYPE weft_capture_dropped_total counter',
        `weft_capture_dropped_total ${this.dropped}`,
        '# HELP weft_capture_timed_out_total Captures ended by their time limit.',
        '# TYPE weft_capture_timed_out_total counter',
        `weft_capture_timed_out_total ${this.timedOut}`,
        '# HELP weft_capture_running 1 while a capture holds the slot.',
        '# TYPE weft_capture_running gauge',
        `weft_capture_running ${this.busy ? 1 : 0}`,
        '# HELP weft_capture_buffered_bytes Bytes of the running capture waiting for its client in the daemon (bounded).',
        '# TYPE weft_capture_buffered_bytes gauge',
        `weft_capture_buffered_bytes ${this.current?.writableLength ?? 0}`,
      ].join('\n') + '\n'
    );
  }
}
