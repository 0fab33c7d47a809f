import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findOnPath, requireOnPath } from '../../src/daemon/tool-on-path.js';

const root = mkdtempSync(join(tmpdir(), 'weft-path-'));
const [a, b, c] = ['a', 'b', 'c'].map((d) => {
  mkdirSync(join(root, d));
  return join(root, d);
}) as [string, string, string];
writeFileSync(join(a, 'iptables'), '#!/bin/sh\n');
chmodSync(join(a, 'iptables'), 0o644); // not executable
mkdirSync(join(b, 'iptables')); // a directory of that name
writeFileSync(join(c, 'iptables'), '#!/bin/sh\n');
chmodSync(join(c, 'iptables'), 0o755);
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('tools on PATH', () => {
  it('finds the first executable file, skipping non-executable files, directories and empty entries', () => {
    expect(findOnPath('iptables', ['', a, b, c].join(':'))).toBe(join(c, 'iptables'));
    expect(findOnPath('iptables', [a, b].join(':'))).toBeNull();
    expect(findOnPath('nft', c)).toBeNull();
  });

  it('refuses a flag whose tool is missing, by code, naming the flag and the package', () => {
    expect(() => requireOnPath('iptables', '--ip-masq', c)).not.toThrow();
    expect(() => requireOnPath('nft', '--ip-masq', [a, b, c].join(':'))).toThrow(
      expect.objectContaining({ code: 'ERR_WEFT_MISSING_TOOL', message: expect.stringMatching(/--ip-masq needs "nft".*nftables package/) }),
    );
  });
});
