import { describe, expect, it } from 'vitest';
import { BACKEND_TYPES, backendOf } from '../../src/backend/index.js';
import { tunnelMtu } from '../../src/daemon/mtu.js';

describe("tunnel MTU by flannel's rule", () => {
  it.each([
    // backend, underlay MTU, Backend.MTU, tunnel MTU (what flanneld gives its device)
    ['vxlan', 1500, null, 1450],
    ['vxlan', 9001, null, 8951],
    ['vxlan', 1500, 1400, 1350], // Backend.MTU is the underlay's MTU, not the device's
    ['ipip', 1500, null, 1480],
    ['udp', 1500, null, 1472],
    ['ipip', 1500, 1400, 1480], // only vxlan has the key
  ] as const)('%s over MTU %i with Backend.MTU %s: %i', (backend, underlay, configured, want) => {
    const r = tunnelMtu(backend, underlay, configured);
    expect(r.mtu).toBe(want);
    expect(r.warning).toBeNull();
  });

  it("the overheads are flannel's: vxlan 50, ipip 20, udp 28, host-gw 0 (the interface's MTU)", () => {
    expect(Object.fromEntries(BACKEND_TYPES.map((t) => [t, backendOf(t).overhead]))).toEqual({ vxlan: 50, ipip: 20, udp: 28, 'host-gw': 0 });
    expect(tunnelMtu('host-gw', 1500, null).mtu).toBe(1500);
  });

  it('warns when Backend.MTU is above the interface', () => {
    const r = tunnelMtu('vxlan', 1500, 9000);
    expect(r.mtu).toBe(8950);
    expect(r.warning).toMatch(/Backend.MTU 9000 is above the underlay interface's MTU 1500/);
  });

  it('refuses a tunnel MTU below 68, naming where it came from', () => {
    expect(() => tunnelMtu('vxlan', 1500, 100)).toThrow(/Backend.MTU 100 leaves a tunnel MTU of 50 after vxlan's 50 bytes; IPv4 needs at least 68/);
    expect(() => tunnelMtu('udp', 90, null)).toThrow(/the underlay interface's MTU 90 leaves a tunnel MTU of 62/);
    expect(tunnelMtu('ipip', 88, null).mtu).toBe(68);
  });
});
