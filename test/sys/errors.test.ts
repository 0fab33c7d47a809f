// What a failed syscall looks like to the operator (needs root for the namespace).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fixture, cleanupAll, cleanupStale, isRoot, makeNs } from './netns.js';

describe.skipIf(!isRoot())('SyscallError from openTun', () => {
  let ns = '';
  beforeAll(() => {
    cleanupStale();
    ns = makeNs();
  });
  afterAll(cleanupAll);

  const run = (arg: unknown) => new Fixture(ns, 'errors.mjs', arg).result();

  it('says open failed with EACCES and that CAP_NET_ADMIN is needed, for an unprivileged user', async () => {
    const r = await run({ dropTo: 65534, name: 'weft0' });
    expect(r.error).toEqual({
      name: 'SyscallError',
      code: 'ERR_WEFT_SYSCALL',
      syscall: 'open',
      errno: 13,
      errnoName: 'EACCES',
      message: 'open /dev/net/tun: EACCES (permission denied) — weft needs CAP_NET_ADMIN',
    });
  });

  it('names the ioctl and the rule for an invalid interface name', async () => {
    const r = await run({ name: 'bad/name' });
    expect(r.error).toMatchObject({ code: 'ERR_WEFT_SYSCALL', syscall: 'ioctl', errnoName: 'EINVAL' });
    expect(r.error.message).toBe(
      'ioctl TUNSETIFF bad/name: EINVAL (invalid argument) — interface names are 1–15 bytes, not "." or "..", without "/", ":" or whitespace',
    );
  });

  it('refuses a name the kernel would truncate before any syscall', async () => {
    const r = await run({ name: 'a-very-long-ifname' });
    expect(r.error).toMatchObject({ code: 'ERR_WEFT_INVALID_ARGUMENT', name: 'InvalidArgumentError' });
    expect(r.error.message).toMatch(/1–15 bytes/);
  });

  it('lets the kernel choose a name when none is given', async () => {
    expect(await run({})).toEqual({ opened: 'tun0' });
  });
});
