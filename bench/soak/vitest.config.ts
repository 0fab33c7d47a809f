// vitest runs the soak (not a test: `npm test` includes only test/**). See run.mjs.
import { defineConfig } from 'vitest/config';

const minutes = Number(process.env['WEFT_SOAK_MINUTES'] ?? '20');

export default defineConfig({
  test: {
    include: ['bench/soak/soak.run.ts'],
    testTimeout: (minutes + 10) * 60_000,
    hookTimeout: 180_000,
    fileParallelism: false,
  },
});
