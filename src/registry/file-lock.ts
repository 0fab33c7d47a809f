// A lock file for the registry file, shared by processes on one machine: created
// with O_EXCL ('wx'), holding {pid, host, token}. A lock whose process is gone (same
// host) or that is older than `staleMs` is broken; breaking goes through a second
// O_EXCL file so two processes cannot both break it and then remove each other's
// fresh lock.
import { randomBytes } from 'node:crypto';
import { open, readFile, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { RegistryUnavailableError } from './errors.js';
import { sleep } from './registry.js';

export interface FileLockOptions {
  /** Give up waiting for the lock after this long. */
  timeoutMs: number;
  /** A lock older than this is taken to be left by a crashed or hung process. */
  staleMs: number;
}

interface Holder {
  pid?: number;
  host?: string;
  token?: string;
}

const HOST = hostname();

async function readHolder(path: string): Promise<Holder> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as Holder;
  } catch {
    return {}; // gone, or created but not yet written
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function tryCreate(path: string, content: string): Promise<boolean> {
  try {
    const fh = await open(path, 'wx', 0o644);
    try {
      await fh.writeFile(content);
    } finally {
      await fh.close();
    }
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new RegistryUnavailableError(`cannot create lock file ${path}: ${(err as Error).message}`, { cause: err });
  }
}

async function unlinkQuietly(path: string): Promise<void> {
  await unlink(path).catch(() => {});
}

/** Removes the lock at `path` if it is stale; true when the caller should just try again at once. */
async function breakIfStale(path: string, staleMs: number): Promise<boolean> {
  const st = await stat(path).catch(() => null);
  if (!st) return true; // released meanwhile
  const holder = await readHolder(path);
  const dead = holder.host === HOST && typeof holder.pid === 'number' && !alive(holder.pid);
  if (!dead && Date.now() - st.mtimeMs < staleMs) return false;
  const breaker = `${path}.break`;
  if (!(await tryCreate(breaker, String(process.pid)))) {
    // Someone else is breaking it; a breaker left by a crash mid-break is stale after 2 s.
    const b = await stat(breaker).catch(() => null);
    if (b && Date.now() - b.mtimeMs > 2000) await unlinkQuietly(breaker);
    return false;
  }
  try {
    const again = await stat(path).catch(() => null);
    if (again && again.ino === st.ino) await unlinkQuietly(path); // still the stale one
  } finally {
    await unlinkQuietly(breaker);
  }
  return true;
}

/** Runs `fn` while holding the lock file `path`. */
export async function withFileLock<T>(path: string, opts: FileLockOptions, fn: () => Promise<T>): Promise<T> {
  const token = randomBytes(8).toString('hex');
  const content = JSON.stringify({ pid: process.pid, host: HOST, token, at: new Date().toISOString() });
  const deadline = Date.now() + opts.timeoutMs;
  while (!(await tryCreate(path, content))) {
    if (await breakIfStale(path, opts.staleMs)) continue;
    if (Date.now() > deadline) {
      const h = await readHolder(path);
      throw new RegistryUnavailableError(
        `registry lock ${path} is held by pid ${h.pid ?? '?'} on ${h.host ?? '?'} for more than ${opts.timeoutMs} ms: ` +
          `if that process is hung, stop it (or delete the lock file)`,
      );
    }
    await sleep(5 + Math.random() * 20);
  }
  try {
    return await fn();
  } finally {
    // Only remove our own lock: if it was broken as stale, it now belongs to someone else.
    if ((await readHolder(path)).token === token) await unlinkQuietly(path);
  }
}
