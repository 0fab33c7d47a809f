// The parameters of a trace, as the CLI sends them in the /trace query.
import { parseIPv4, parseIPv6 } from '../../native-free/addr.js';
import type { TraceRequest } from './trace.js';

export function parseTraceQuery(q: URLSearchParams): TraceRequest {
  const src = q.get('src') ?? '';
  const dst = q.get('dst') ?? '';
  // Both IPv4, or both IPv6 (a dual-stack node traces its IPv6 pods too); throws InvalidArgumentError naming the text.
  const v6 = src.includes(':');
  if (dst.includes(':') !== v6) throw new RangeError(`trace ${src} → ${dst}: give two addresses of one family`);
  if (v6) {
    parseIPv6(src);
    parseIPv6(dst);
  } else {
    parseIPv4(src);
    parseIPv4(dst);
  }
  const size = Number(q.get('size') ?? '84');
  if (!Number.isInteger(size)) throw new RangeError(`--size "${q.get('size')}" is not a whole number of bytes`);
  const protocol = q.get('proto') ?? 'icmp';
  if (protocol !== 'udp' && protocol !== 'tcp' && protocol !== 'icmp') throw new RangeError(`--proto "${protocol}": use udp, tcp or icmp`);
  return { src, dst, size, df: q.get('df') !== '0', protocol };
}

export function traceQuery(r: TraceRequest): string {
  return new URLSearchParams({ src: r.src, dst: r.dst, size: String(r.size), df: r.df ? '1' : '0', proto: r.protocol }).toString();
}
