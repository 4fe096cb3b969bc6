import { defineConfig } from 'vitest/config';

/**
 * The hermetic tests: no Kafka broker, Prometheus, Alertmanager or Chromium, so they run
 * on any Node (`.ci/run` runs them under Node 24 and 22 from the npm registry). CLI tests
 * in here spawn the built CLI with the Node that runs vitest (process.execPath).
 */
export const UNIT_TESTS = [
  // One star where a folder holds hermetic tests but a subfolder is not in this set
  // (test/ingest/audio, test/features/audio: run by `npm test` only).
  'test/cli/**/*.test.ts',
  'test/config/**/*.test.ts',
  'test/e2e/**/*.test.ts',
  'test/ingest/*.test.ts',
  'test/jobs/**/*.test.ts',
  'test/alerts/engine.test.ts',
  'test/daemon/metrics.test.ts',
  'test/report/render.test.ts',
  'test/report/downsample.test.ts',
  'test/daemon/batcher.test.ts',
  'test/daemon/batch-controller.test.ts',
  'test/util/**/*.test.ts',
  'test/features/*.test.ts',
  'test/eval/collect.test.ts',
  'test/model/**/*.test.ts',
  'test/scoring/**/*.test.ts',
  'test/fuzz/**/*.test.ts',
];

export default defineConfig({
  test: {
    include: UNIT_TESTS,
    setupFiles: ['./test/support/cleanup.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    maxWorkers: 2,
    // Memory assertions force a collection first (global.gc), as in vitest.config.ts.
    execArgv: ['--expose-gc'],
    fileParallelism: true,
    reporters: ['default'],
  },
});
