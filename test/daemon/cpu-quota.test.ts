// The default worker count under a CPU quota: table-driven over fake cgroup
// files, then once in a real cgroup of this machine (v1 cpu or v2 cpu.max).
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cpuQuota, defaultWorkers, type ReadText } from '../../src/daemon/cpu-quota.js';

const V2_MOUNT = '30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate';
const V1_MOUNTS = [
  '31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755',
  '32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct',
  '33 31 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory',
].join('\n');

function files(entries: Record<string, string>): ReadText {
  return (path) => entries[path] ?? null;
}

const cases: { name: string; fs: Record<string, string>; quota: number | null; workers8: number }[] = [
  {
    name: 'v2, 1.5 cores on the pod cgroup',
    fs: {
      '/proc/self/cgroup': '0::/kubepods/pod1/c1\n',
      '/proc/self/mountinfo': V2_MOUNT,
      '/sys/fs/cgroup/kubepods/pod1/c1/cpu.max': '150000 100000\n',
    },
    quota: 1.5,
    workers8: 2,
  },
  {
    name: 'v2, no limit on the container, 3 cores on an ancestor',
    fs: {
      '/proc/self/cgroup': '0::/kubepods/pod1/c1\n',
      '/proc/self/mountinfo': V2_MOUNT,
      '/sys/fs/cgroup/kubepods/pod1/c1/cpu.max': 'max 100000\n',
      '/sys/fs/cgroup/kubepods/pod1/cpu.max': '300000 100000\n',
      '/sys/fs/cgroup/kubepods/cpu.max': '600000 100000\n',
    },
    quota: 3,
    workers8: 3,
  },
  {
    name: 'v2 inside a cgroup namespace (the path is "/")',
    fs: { '/proc/self/cgroup': '0::/\n', '/proc/self/mountinfo': V2_MOUNT, '/sys/fs/cgroup/cpu.max': '50000 100000\n' },
    quota: 0.5,
    workers8: 1,
  },
  {
    name: 'v2, no limit anywhere',
    fs: { '/proc/self/cgroup': '0::/user.slice\n', '/proc/self/mountinfo': V2_MOUNT, '/sys/fs/cgroup/user.slice/cpu.max': 'max 100000\n' },
    quota: null,
    workers8: 8,
  },
  {
    name: 'v1 cpu,cpuacct, quota on the container',
    fs: {
      '/proc/self/cgroup': '5:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n',
      '/proc/self/mountinfo': V1_MOUNTS,
      '/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us': '200000\n',
      '/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us': '100000\n',
      '/sys/fs/cgroup/cpu,cpuacct/docker/cpu.cfs_quota_us': '-1\n',
      '/sys/fs/cgroup/cpu,cpuacct/docker/cpu.cfs_period_us': '100000\n',
    },
    quota: 2,
    workers8: 2,
  },
  {
    name: 'v1 mounted at the container\'s own cgroup (mount root /docker/abc)',
    fs: {
      '/proc/self/cgroup': '4:cpu,cpuacct:/docker/abc\n',
      '/proc/self/mountinfo': '32 31 0:29 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro - cgroup cgroup rw,cpu,cpuacct',
      '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us': '25000\n',
      '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us': '100000\n',
    },
    quota: 0.25,
    workers8: 1,
  },
  {
    name: 'a quota above the cores does not add workers',
    fs: { '/proc/self/cgroup': '0::/\n', '/proc/self/mountinfo': V2_MOUNT, '/sys/fs/cgroup/cpu.max': '3200000 100000\n' },
    quota: 32,
    workers8: 8,
  },
  { name: 'no /proc (not Linux)', fs: {}, quota: null, workers8: 8 },
  {
    name: 'garbage in cpu.max is no limit',
    fs: { '/proc/self/cgroup': '0::/\n', '/proc/self/mountinfo': V2_MOUNT, '/sys/fs/cgroup/cpu.max': 'banana\n' },
    quota: null,
    workers8: 8,
  },
];

describe('default workers under a CPU quota', () => {
  it.each(cases)('$name', ({ fs, quota, workers8 }) => {
    expect(cpuQuota(files(fs))).toBe(quota);
    expect(defaultWorkers(files(fs), 8)).toBe(workers8);
  });
});

/** Where this machine lets us make a cgroup with a CPU quota, and how to set it. */
function realCgroup(): { dir: string; limit(dir: string): void } | null {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
  const v1 = mounts.find((l) => / - cgroup /.test(l) && l.split(' - ')[1]!.split(' ')[2]!.split(',').includes('cpu'));
  if (v1) {
    return {
      dir: v1.split(' ')[4]!,
      limit: (dir) => {
        writeFileSync(join(dir, 'cpu.cfs_period_us'), '100000');
        writeFileSync(join(dir, 'cpu.cfs_quota_us'), '50000');
      },
    };
  }
  const v2 = mounts.find((l) => / - cgroup2 /.test(l));
  if (v2 && readFileSync(join(v2.split(' ')[4]!, 'cgroup.subtree_control'), 'utf8').includes('cpu')) {
    return { dir: v2.split(' ')[4]!, limit: (dir) => writeFileSync(join(dir, 'cpu.max'), '50000 100000') };
  }
  return null;
}

const real = process.getuid?.() === 0 && availableParallelism() >= 2 ? realCgroup() : null;

describe.skipIf(real === null)('in a real cgroup (root, a cpu controller we may write to, 2+ cores)', () => {
  it('a process limited to half a core defaults to 1 worker; outside it, to every core', async () => {
    // An interrupted earlier run may have left its (empty) cgroup: remove it first.
    for (const old of readdirSync(real!.dir).filter((e) => e.startsWith('wefttest-cpu-'))) rmdirSync(join(real!.dir, old));
    const dir = join(real!.dir, `wefttest-cpu-${process.pid}`);
    mkdirSync(dir);
    try {
      real!.limit(dir);
      const module = new URL('../../dist/src/daemon/cpu-quota.js', import.meta.url).pathname;
      const print = `import(${JSON.stringify(module)}).then((m) => console.log(m.defaultWorkers()))`;
      const inside = await run('sh', ['-c', `echo $$ > ${join(dir, 'cgroup.procs')} && exec "${process.execPath}" -e '${print}'`]);
      expect(inside.trim()).toBe('1');
      expect((await run(process.execPath, ['-e', print])).trim()).toBe(String(availableParallelism()));
    } finally {
      rmdirSync(dir);
    }
  });
});

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}`))));
  });
}
