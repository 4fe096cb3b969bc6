import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Slow suites (*.slow.test.ts: the configured NAB model, minutes of training) run with
    // `npm run test:slow` (NOISEFLOOR_SLOW_TESTS=1), not in `npm test`: see docs/TESTING.md.
    exclude: process.env.NOISEFLOOR_SLOW_TESTS === '1' ? ['**/node_modules/**'] : ['**/node_modules/**', 'test/**/*.slow.test.ts'],
    // One real Kafka broker (KRaft, from Maven Central jars) shared by the tests that need it.
    globalSetup: ['./test/support/kafka/global-setup.ts'],
    // Folders made with tempDir() are removed after each test file.
    setupFiles: ['./test/support/cleanup.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // Two cores: test files that train models or start brokers must not all run at once.
    maxWorkers: 2,
    // Memory assertions force a collection first (global.gc) so a heap delta measures the code, not leftover garbage.
    execArgv: ['--expose-gc'],
    fileParallelism: true,
    reporters: ['default'],
  },
});
