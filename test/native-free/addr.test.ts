import { isIP } from 'node:net';

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  formatCidr,
  formatIPv4,
  formatIPv6,
  formatMac,
  ipv4Netmask,
  ipv6HasHostBits,
  ipv6Mask,
  parseCidr,
  parseIPv4,
  parseIPv6,
  parseMac,
} from '../../native-free/addr.js';
import { InvalidArgumentError } from '../../native-free/errors.js';
import { hex } from '../helpers/bytes.js';


/** Asserts `fn` throws InvalidArgumentError whose message quotes `quoted`. */
function expectInvalid(fn: () => unknown, quoted: string): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(InvalidArgumentError);
  expect((err as InvalidArgumentError).code).toBe('ERR_WEFT_INVALID_ARGUMENT');
  expect((err as Error).message).toContain(quoted);
}

describe('IPv4', () => {
  it.each([
    ['0.0.0.0', 0],
    ['10.244.1.0', 0x0af40100],
    ['192.168.0.1', 0xc0a80001],
    ['255.255.255.255', 0xffffffff],
    ['1.2.3.4', 0x01020304],
  ])('parses %s', (text, value) => {
    expect(parseIPv4(text)).toBe(value);
    expect(formatIPv4(value)).toBe(text);
  });

  it.each(['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1.2.3.-4', '01.2.3.4', '1.2.3.4 ', ' 1.2.3.4', '1..3.4', 'a.b.c.d', '1.2.3.4/32', '0x1.2.3.4', '1.2.3.1000'])(
    'rejects %j',
    (text) => expectInvalid(() => parseIPv4(text), JSON.stringify(text)),
  );

  it('formats signed int32 results of bit operations as unsigned', () => {
    expect(formatIPv4(0xc0a80001 | 0)).toBe('192.168.0.1');
  });

  it.each([1.5, 2 ** 32, -(2 ** 31) - 1, NaN])('formatIPv4 rejects %s', (v) => {
    expectInvalid(() => formatIPv4(v), String(v));
  });

  it('netmask', () => {
    expect(ipv4Netmask(0)).toBe(0);
    expect(ipv4Netmask(8)).toBe(0xff000000);
    expect(ipv4Netmask(24)).toBe(0xffffff00);
    expect(ipv4Netmask(32)).toBe(0xffffffff);
  });

  it('round-trips every u32 (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), (a) => parseIPv4(formatIPv4(a)) === a));
  });
});

// RFC 5952: no leading zeros; "::" replaces the longest run (>= 2 groups) of
// zero groups, the first one on a tie; IPv4-mapped keeps its dotted quad.
function expectCanonical(text: string): void {
  expect(text).toBe(text.toLowerCase());
  expect(text).not.toMatch(/(^|:)0[0-9a-f]/);
  if (text.startsWith('::ffff:') && text.includes('.')) return;
  const maxRun = (gs: string[]): number => {
    let best = 0;
    let run = 0;
    for (const g of gs) {
      run = g === '0' ? run + 1 : 0;
      best = Math.max(best, run);
    }
    return best;
  };
  const halves = text.split('::');
  if (halves.length === 1) {
    expect(maxRun(text.split(':'))).toBeLessThan(2);
    return;
  }
  const left = halves[0] ? halves[0].split(':') : [];
  const right = halves[1] ? halves[1].split(':') : [];
  const compressed = 8 - left.length - right.length;
  expect(compressed).toBeGreaterThanOrEqual(2);
  expect(maxRun(left)).toBeLessThan(compressed);
  expect(maxRun(right)).toBeLessThanOrEqual(compressed);
}

describe('IPv6', () => {
  it.each([
    ['::', '00000000000000000000000000000000', '::'],
    ['::1', '00000000000000000000000000000001', '::1'],
    ['1::', '00010000000000000000000000000000', '1::'],
    ['2001:db8::1', '20010db8000000000000000000000001', '2001:db8::1'],
    ['2001:DB8:0:0:0:0:0:1', '20010db8000000000000000000000001', '2001:db8::1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '20010db8000000000000000000000001', '2001:db8::1'],
    ['1:2:3:4:5:6:7:8', '00010002000300040005000600070008', '1:2:3:4:5:6:7:8'],
    // RFC 5952 §4.2.2: one zero group is not compressed
    ['2001:db8:0:1:1:1:1:1', '20010db8000000010001000100010001', '2001:db8:0:1:1:1:1:1'],
    ['2001:db8::1:1:1:1:1', '20010db8000000010001000100010001', '2001:db8:0:1:1:1:1:1'],
    // §4.2.3: the longest run, the first of equal runs
    ['2001:0:0:1:0:0:0:1', '20010000000000010000000000000001', '2001:0:0:1::1'],
    ['2001:db8:0:0:1:0:0:1', '20010db8000000000001000000000001', '2001:db8::1:0:0:1'],
    ['1:2:3:4:5:6:7::', '00010002000300040005000600070000', '1:2:3:4:5:6:7:0'],
    ['::2:3:4:5:6:7:8', '00000002000300040005000600070008', '0:2:3:4:5:6:7:8'],
    // embedded IPv4 tail (RFC 4291 §2.2 form 3); §5: only IPv4-mapped keeps the dotted quad
    ['::ffff:192.0.2.1', '00000000000000000000ffffc0000201', '::ffff:192.0.2.1'],
    ['0:0:0:0:0:ffff:192.0.2.1', '00000000000000000000ffffc0000201', '::ffff:192.0.2.1'],
    ['::13.1.68.3', '0000000000000000000000000d014403', '::d01:4403'],
    ['64:ff9b::192.0.2.33', '0064ff9b0000000000000000c0000221', '64:ff9b::c000:221'],
    ['fd00:10:244:1::5', 'fd000010024400010000000000000005', 'fd00:10:244:1::5'],
  ])('parses %s', (text, bytes, canonical) => {
    const b = parseIPv6(text);
    expect(b).toEqual(hex(bytes));
    expect(formatIPv6(b)).toBe(canonical);
    expectCanonical(canonical);
  });

  it.each([
    '',
    ':',
    ':::',
    '1:::2',
    '1::2::3',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7::8',
    '1:2:3:4::5:6:7:8',
    ':1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:',
    ':1::',
    '::1:',
    '12345::',
    'g::',
    '1.2.3.4',
    '::1.2.3.4:5',
    '::1.2.3',
    '::256.1.1.1',
    '1.2.3.4::',
    'fe80::1%eth0',
    ' ::1',
    '::1/128',
  ])('rejects %j', (text) => expectInvalid(() => parseIPv6(text), JSON.stringify(text)));

  it('formatIPv6 rejects wrong lengths', () => {
    expectInvalid(() => formatIPv6(new Uint8Array(4)), '4 bytes');
  });

  it('agrees with node:net on validity and round-trips (property)', () => {
    const bytes = fc.uint8Array({ minLength: 16, maxLength: 16 });
    // Sparse addresses have zero runs, the interesting case for "::".
    const sparse = fc.array(fc.constantFrom(0, 0, 0, 1, 0xffff, 0xdb8), { minLength: 8, maxLength: 8 }).map((ws) => {
      const b = new Uint8Array(16);
      ws.forEach((w, i) => b.set([w >> 8, w & 255], 2 * i));
      return b;
    });
    fc.assert(
      fc.property(fc.oneof(bytes, sparse), (b) => {
        const text = formatIPv6(b);
        expect(isIP(text)).toBe(6);
        expect(parseIPv6(text)).toEqual(b);
        expectCanonical(text);
        // The WHATWG URL serializer compresses the same way (it has no dotted-quad form).
        if (!text.includes('.')) expect(new URL(`http://[${text}]/`).hostname).toBe(`[${text}]`);
      }),
    );
  });

  it('host bits and masks', () => {
    const p = parseIPv6('fd00:10:244:1::');
    expect(ipv6HasHostBits(p, 64)).toBe(false);
    expect(ipv6HasHostBits(p, 63)).toBe(true);
    expect(formatIPv6(ipv6Mask(parseIPv6('fd00:10:244:1::5'), 64))).toBe('fd00:10:244:1::');
    expect(formatIPv6(ipv6Mask(parseIPv6('ffff::'), 3))).toBe('e000::');
  });
});

describe('CIDR', () => {
  it.each([
    ['10.244.1.0/24', 4, 24],
    ['0.0.0.0/0', 4, 0],
    ['10.244.1.5/32', 4, 32],
    ['fd00:10:244::/56', 6, 56],
    ['::/0', 6, 0],
    ['::1/128', 6, 128],
  ])('parses %s', (text, family, len) => {
    const c = parseCidr(text);
    expect(c.family).toBe(family);
    expect(c.len).toBe(len);
    expect(formatCidr(c)).toBe(text);
  });

  it('canonicalises IPv6 text', () => {
    expect(formatCidr(parseCidr('FD00:0010:0244:0000::/64'))).toBe('fd00:10:244::/64');
  });

  it.each([
    ['10.244.1.5/24', '10.244.1.5/24 has host bits set; did you mean 10.244.1.0/24?'],
    ['10.244.1.0/16', '10.244.1.0/16 has host bits set; did you mean 10.244.0.0/16?'],
    ['1.0.0.0/0', '1.0.0.0/0 has host bits set; did you mean 0.0.0.0/0?'],
    ['fd00:10:244:1::5/64', 'fd00:10:244:1::5/64 has host bits set; did you mean fd00:10:244:1::/64?'],
  ])('rejects host bits in %s', (text, message) => {
    expect(() => parseCidr(text)).toThrow(new InvalidArgumentError(message));
  });

  it.each(['10.244.1.0', '10.244.1.0/', '10.244.1.0/33', '10.244.1.0/024', '10.244.1.0/-1', '10.244.1.0/2/4', '10.244.1/24', '::/129', 'fd00::1%eth0/64', '/24', 'x/1'])(
    'rejects %j',
    (text) => expectInvalid(() => parseCidr(text), JSON.stringify(text)),
  );
});

describe('MAC', () => {
  it.each([
    ['aa:bb:cc:dd:ee:ff', 'aabbccddeeff', 'aa:bb:cc:dd:ee:ff'],
    ['02:42:AC:11:00:02', '0242ac110002', '02:42:ac:11:00:02'],
    ['00:00:00:00:00:00', '000000000000', '00:00:00:00:00:00'],
  ])('parses %s', (text, bytes, canonical) => {
    const m = parseMac(text);
    expect(m).toEqual(hex(bytes));
    expect(formatMac(m)).toBe(canonical);
  });

  it.each(['', 'aa:bb:cc:dd:ee', 'aa:bb:cc:dd:ee:ff:00', 'aa-bb-cc-dd-ee-ff', 'a:bb:cc:dd:ee:ff', 'aaa:bb:cc:dd:ee:ff', 'gg:bb:cc:dd:ee:ff', 'aabb.ccdd.eeff', 'aa:bb:cc:dd:ee:ff '])(
    'rejects %j',
    (text) => expectInvalid(() => parseMac(text), JSON.stringify(text)),
  );

  it('formats from an offset inside a frame', () => {
    const frame = hex('ffffffffffff0242ac1100020800');
    expect(formatMac(frame, 6)).toBe('02:42:ac:11:00:02');
    expectInvalid(() => formatMac(frame, 10), 'offset 10');
  });
});

describe('non-string input from JavaScript callers', () => {
  it.each([
    () => parseIPv4(42 as unknown as string),
    () => parseIPv6(null as unknown as string),
    () => parseCidr(undefined as unknown as string),
    () => parseMac({} as unknown as string),
  ])('throws InvalidArgumentError', (fn) => {
    expect(fn).toThrow(InvalidArgumentError);
  });
});
