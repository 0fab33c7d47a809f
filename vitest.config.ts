import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    // The root suites build network namespaces, start etcd and weft nodes and
    // measure traffic; on a 2-core machine they are steadier one file at a time.
    fileParallelism: false,
  },
});
