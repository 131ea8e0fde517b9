import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

// One file at a time: lavapipe already spreads each dispatch over every core,
// and dawn.node is a native addon that is happiest in its own process.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 120_000,
    // The JSON report lets .ci/run print a plain "N passed, N failed" closing line.
    reporters: ['default', ['json', { outputFile: '.test-results.json' }]],
    hookTimeout: 60_000,
    // The measured conv-kernel choices of the runs the tests start go into a folder of this
    // test run's own, never into the user's ~/.cache/wgcam.
    env: { WGCAM_CACHE_DIR: mkdtempSync(join(tmpdir(), 'wgcam-test-cache-')) },
  },
});
