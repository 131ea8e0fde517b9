import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

// One file at a time: lavapipe already spreads each dispatch over every core,
// and dawn.node is a native addon that is happiest in its own process.
// Two tiers: `npm test` (everything but *.slow.test.ts: under ~12 minutes on 2 cores) and
// `npm run test:slow` (WGCAM_TEST_TIER=slow: real torchvision models, a VGG-16-sized file, the
// transfer-learning proof); CI (.ci/run) runs both.
const slow = process.env.WGCAM_TEST_TIER === 'slow';

export default defineConfig({
  test: {
    include: slow ? ['test/**/*.slow.test.ts'] : ['test/**/*.test.ts'],
    exclude: slow ? [] : ['test/**/*.slow.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 120_000,
    // The JSON report lets .ci/run print a plain "N passed, N failed" closing line.
    reporters: ['default', ['json', { outputFile: slow ? '.test-results-slow.json' : '.test-results.json' }]],
    hookTimeout: 60_000,
    // The measured conv-kernel choices of the runs the tests start go into a folder of this
    // test run's own, never into the user's ~/.cache/wgcam.
    env: { WGCAM_CACHE_DIR: mkdtempSync(join(tmpdir(), 'wgcam-test-cache-')) },
  },
});
