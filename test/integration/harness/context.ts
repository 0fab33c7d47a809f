// Per-file setup shared by the integration describes: one janitor (namespaces,
// processes, run dir) for the whole file, removed in the last afterAll, and a
// check that nothing of ours is left behind.
import { afterAll, beforeAll, beforeEach, expect } from 'vitest';
import { Janitor } from './janitor.js';

export const TEST_TIMEOUT = 120_000;
export const HOOK_TIMEOUT = 120_000;

export function useJanitor(): () => Janitor {
  let janitor: Janitor | null = null;
  let failed = false;
  beforeAll(() => {
    janitor = new Janitor();
    console.log(`integration run ${janitor.id}: namespaces wefttest-${janitor.id}-*, files in ${janitor.dir}`);
  }, HOOK_TIMEOUT); // reaping a crashed run's namespaces can take longer than vitest's default 10 s
  beforeEach((ctx) => {
    ctx.onTestFailed(() => {
      failed = true;
    });
  });
  afterAll(() => {
    if (!janitor) return;
    const j = janitor;
    janitor = null;
    const live = j.liveChildren;
    j.cleanupSync(failed);
    if (failed) console.error(`integration run ${j.id} failed: logs kept in ${j.dir}`);
    expect(j.leftovers(), 'namespaces left behind').toEqual([]);
    expect(live, 'child processes still running when the suite ended').toBe(0);
  }, HOOK_TIMEOUT);
  return () => {
    if (!janitor) throw new Error('janitor used outside the suite');
    return janitor;
  };
}
