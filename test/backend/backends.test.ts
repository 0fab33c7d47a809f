// The contract every backend in src/backend/ keeps, checked for each one the
// registry lists: a new backend gets these tests by its line in BACKENDS.
import { describe, expect, it } from 'vitest';
import { FORWARD } from '../../native-free/drop.js';
import { BACKEND_TYPES, backendOf, hasTunnel, isBackendType, NO_KEYS } from '../../src/backend/index.js';
import { parseNetworkConfig } from '../../src/registry/config.js';
import { A, B, decapAt, encapAt, withHeadroom } from '../helpers/engine.js';
import { ipv4Packet } from '../helpers/packets.js';

const MAC = '0a:58:0a:f4:01:01';

const inner = (): Uint8Array => ipv4Packet({ src: A.subnet | 5, dst: B.subnet | 7, payload: Uint8Array.from({ length: 300 }, (_, i) => i & 0xff) });

const TUNNELS = BACKEND_TYPES.filter((t) => hasTunnel(backendOf(t)));

describe.each(BACKEND_TYPES.map((t) => ({ t })))('backend $t', ({ t }) => {
  const b = backendOf(t);
  const tunnel = TUNNELS.includes(t);

  it('is registered under its own type, and the config parser takes it', () => {
    expect(b.type).toBe(t);
    expect(isBackendType(t)).toBe(true);
    expect(parseNetworkConfig(JSON.stringify({ Network: '10.244.0.0/16', Backend: { Type: t } })).Backend.Type).toBe(t);
  });

  it.runIf(!tunnel)('without a tunnel: no overhead, no port, no socket, and no packet may reach its encap or decap', () => {
    expect([b.overhead, b.encapBytes, b.defaultPort, b.underlay]).toEqual([0, 0, 0, 'none']);
    const { buf, off, len } = withHeadroom(inner());
    expect(() => b.encap(encapAt(A, { mtu: 1500, outerHeaders: true }), buf, off, len)).toThrow(/no tunnel/);
    expect(() => b.decap(decapAt(B), buf, off, len, A.underlay)).toThrow(/no tunnel/);
  });

  it.runIf(tunnel)('encap then decap, as the receiving node, gives the packet back; the outer headers are `overhead` bytes', () => {
    const p = inner();
    const { buf, off, len } = withHeadroom(p);
    const enc = encapAt(A, { mtu: 1500, outerHeaders: true });
    expect(b.encap(enc, buf, off, len)).toBe(FORWARD);
    const r = enc.result;
    expect(off - r.offset).toBe(b.overhead);
    const dec = decapAt(B);
    expect(b.decap(dec, buf, r.offset + b.receivedAt, r.length - b.receivedAt, A.underlay)).toBe(FORWARD);
    expect(buf.subarray(dec.result.offset, dec.result.offset + dec.result.length)).toEqual(p);
  });

  it.runIf(tunnel)('with a kernel socket, encap writes `encapBytes` in front of the packet, the socket the rest', () => {
    const { buf, off, len } = withHeadroom(inner());
    const enc = encapAt(A, { mtu: 1500, outerHeaders: false, udpChecksum: false });
    expect(b.encap(enc, buf, off, len)).toBe(FORWARD);
    expect(off - enc.result.offset).toBe(b.encapBytes);
    expect(b.overhead - b.encapBytes).toBe(b.underlay === 'udp' ? 28 : 20);
    expect(b.receivedAt).toBe(b.underlay === 'udp' ? 28 : 0);
  });

  it('its defaults: a port exactly when it rides on UDP, lease data exactly when peers publish a VTEP', () => {
    const c = b.parseConfig(NO_KEYS);
    expect(c.Type).toBe(t);
    expect(b.port(c)).toBe(b.defaultPort);
    expect(b.defaultPort > 0).toBe(b.underlay === 'udp');
    const data = b.leaseData(c, MAC);
    if (b.vtepPeers) expect(data).toMatchObject({ VNI: b.vni(c), VtepMAC: MAC });
    else expect(data).toBeUndefined();
    expect(b.describe({ vni: b.vni(c), port: b.port(c) })).toMatch(new RegExp(`^${t}\\b`));
    expect(b.summary.length).toBeGreaterThan(10);
  });
});

it('names that are not backends are not looked up, prototype names included', () => {
  for (const name of ['', 'VXLAN', 'hostgw', 'host_gw', 'wireguard', 'constructor', '__proto__', 'toString', 1, null]) expect(isBackendType(name)).toBe(false);
});
