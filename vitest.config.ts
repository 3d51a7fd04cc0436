import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    // Capture and namespace tests are slow on a 2-core box; no timing assertions live here.
    reporters: ['default', './test/helpers/plain-summary-reporter.ts'],
    // CLI tests spawn bin/llmtap.js, which runs dist/: build once before any test file runs
    globalSetup: ['./test/helpers/build-once.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: 'forks',
    // One test file at a time: live-capture tests replay at recorded timing into veth pairs and
    // the README test runs a full npm install; running them beside CPU-heavy files made timing-
    // dependent heuristics (beacon cadence) flaky on 2 cores.
    fileParallelism: false,
  },
});
