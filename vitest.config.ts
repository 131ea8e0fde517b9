import { defineConfig } from 'vitest/config';

// One file at a time: lavapipe already spreads each dispatch over every core,
// and dawn.node is a native addon that is happiest in its own process.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
