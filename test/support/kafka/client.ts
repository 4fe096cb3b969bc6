/** Small helpers for tests that talk to the test broker with kafkajs. */
import { randomBytes } from 'node:crypto';
import kafkajs, { type Kafka as KafkaClient, type KafkaConfig } from 'kafkajs';
import { inject } from 'vitest';

const { Kafka, logLevel } = kafkajs;

/**
 * Bootstrap servers of the broker that global-setup.ts started for this run. Throws, and so
 * fails the test, when the global setup is not registered: Kafka tests are never skipped.
 */
export function sharedKafkaBrokers(): string[] {
  const brokers = inject('kafkaBrokers');
  if (!Array.isArray(brokers) || brokers.length === 0) {
    throw new Error(
      "no shared Kafka broker: add 'test/support/kafka/global-setup.ts' to test.globalSetup in vitest.config.ts",
    );
  }
  return brokers;
}

/** A kafkajs client for the test broker; quiet unless NOISEFLOOR_TEST_KAFKA_LOG=debug|info|warn. */
export function testKafka(brokers: string[], overrides: Partial<KafkaConfig> = {}): KafkaClient {
  return new Kafka({
    clientId: 'noisefloor-test',
    brokers,
    logLevel: clientLogLevel(),
    connectionTimeout: 3000,
    retry: { initialRetryTime: 100, retries: 8 },
    ...overrides,
  });
}

/** A topic or group name no other test (or earlier run on the shared broker) uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

function clientLogLevel(): kafkajs.logLevel {
  switch (process.env.NOISEFLOOR_TEST_KAFKA_LOG) {
    case 'debug':
      return logLevel.DEBUG;
    case 'info':
      return logLevel.INFO;
    case 'warn':
      return logLevel.WARN;
    default:
      return logLevel.NOTHING;
  }
}
