import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One real Kafka broker (KRaft, from Maven Central jars) shared by the tests that need it.
    globalSetup: ['./test/support/kafka/global-setup.ts'],
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
