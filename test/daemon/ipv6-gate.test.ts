// The one daemon-level refusal of IPv6 (issue 13): dual-stack runs; an
// IPv6-only network stops the daemon with ERR_WEFT_IPV6_NOT_WIRED before a
// lease is taken (the node's IPv4 half is not optional yet).
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { IPv6NotWiredError, refuseUnwiredIPv6 } from '../../src/daemon/ipv6-gate.js';
import { parseNetworkConfig } from '../../src/registry/config.js';

const cases: Array<[string, object, RegExp | null]> = [
  ['IPv4 only passes', { Network: '10.244.0.0/16', Backend: { Type: 'vxlan' } }, null],
  ['dual stack passes', { Network: '10.244.0.0/16', EnableIPv6: true, IPv6Network: 'fd00:10:244::/56', Backend: { Type: 'vxlan' } }, null],
  ['IPv6-only is refused', { EnableIPv4: false, EnableIPv6: true, IPv6Network: 'fd00:10:244::/56', Backend: { Type: 'host-gw' } }, /IPv6-only \("EnableIPv4": false, IPv6Network fd00:10:244::\/56\).*dual-stack/],
];
it.each(cases)('%s', (_n, doc, message) => {
  const config = parseNetworkConfig(JSON.stringify(doc)); // the registry accepts every one of them
  if (message === null) {
    expect(() => refuseUnwiredIPv6(config)).not.toThrow();
    return;
  }
  let caught: unknown;
  try {
    refuseUnwiredIPv6(config);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(IPv6NotWiredError);
  expect((caught as IPv6NotWiredError).code).toBe('ERR_WEFT_IPV6_NOT_WIRED');
  expect((caught as Error).message).toMatch(message);
});

it('run.ts refuses right after reading the config, before any lease is taken', () => {
  const src = readFileSync(new URL('../../src/daemon/run.ts', import.meta.url), 'utf8');
  const read = src.indexOf('await registry.getNetworkConfig()');
  const gate = src.indexOf('refuseUnwiredIPv6(config)');
  const lease = src.indexOf('acquireLease(');
  expect(read).toBeGreaterThan(0);
  expect(gate).toBeGreaterThan(read);
  expect(lease).toBeGreaterThan(gate);
  expect(src.split('refuseUnwiredIPv6(').length - 1).toBe(1); // one place
});
