// Watchdog of one integration run: node reaper.mjs <ownerPid> <runDir>
// Started detached by janitor.ts. When the owner (the vitest worker) dies without
// cleaning up (SIGKILL, crash), kills the processes it recorded (only those whose
// command line names the run dir), kills whatever runs in the run's namespaces,
// and deletes those namespaces. The owner kills this process after a clean exit.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const owner = Number(process.argv[2]);
const dir = process.argv[3];
if (!Number.isInteger(owner) || owner <= 1 || !dir || !dir.includes('weft-it-')) process.exit(2);

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
};
const lines = (p) => {
  try {
    return readFileSync(p, 'utf8').split('\n').filter((l) => l !== '');
  } catch {
    return [];
  }
};
const cmdline = (pid) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
};
const kill = (pid) => {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
};

function reap() {
  for (const p of lines(join(dir, 'pids')).map(Number)) {
    if (Number.isInteger(p) && p > 1 && p !== process.pid && alive(p) && cmdline(p).includes(dir)) kill(p);
  }
  for (const ns of lines(join(dir, 'namespaces')).reverse()) {
    if (!/^wefttest-[a-z0-9]{6}-[a-z0-9]+$/.test(ns)) continue;
    for (let i = 0; i < 3; i++) {
      let pids = [];
      try {
        pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
          .split(/\s+/)
          .filter((s) => /^\d+$/.test(s))
          .map(Number);
      } catch {
        break; // no such namespace
      }
      if (pids.length === 0) break;
      pids.forEach(kill);
      execFileSync('sleep', ['0.1']);
    }
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    } catch {
      // gone
    }
  }
}

const timer = setInterval(() => {
  if (alive(owner)) return;
  clearInterval(timer);
  reap();
  process.exit(0);
}, 500);
