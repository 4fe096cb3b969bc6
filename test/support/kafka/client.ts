/** Small helpers for tests that talk to the test broker with kafkajs. */
import { randomBytes } from 'node:crypto';
import kafkajs, { type Admin, type Kafka as KafkaClient, type KafkaConfig } from 'kafkajs';
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

/**
 * True when `e`, or an error it wraps, is a kafkajs error marked retriable (NOT_LEADER_FOR_PARTITION,
 * LEADER_NOT_AVAILABLE, UNKNOWN_TOPIC_OR_PARTITION, COORDINATOR_LOAD_IN_PROGRESS, a dropped
 * connection, ...). kafkajs wraps the error it gave up on in KafkaJSNumberOfRetriesExceeded
 * (not retriable itself), and some admin calls `bail` on anything but UNKNOWN_TOPIC_OR_PARTITION,
 * so the whole cause chain is looked at.
 */
export function isRetriableKafkaError(e: unknown): boolean {
  for (let cur: unknown = e, depth = 0; cur instanceof Error && depth < 6; cur = (cur as { cause?: unknown }).cause, depth++) {
    const k = cur as Error & { retriable?: unknown };
    if (k.name.startsWith('KafkaJS') && k.name !== 'KafkaJSNonRetriableError' && k.name !== 'KafkaJSNumberOfRetriesExceeded' && k.retriable === true) return true;
  }
  return false;
}

function describeKafkaError(e: unknown): string {
  const k = e as { name?: string; type?: string; message?: string; cause?: unknown };
  const inner = k.cause && k.cause !== e ? ` <- ${describeKafkaError(k.cause)}` : '';
  return `${k.name ?? 'Error'}${k.type ? `(${k.type})` : ''}: ${k.message ?? String(e)}${inner}`;
}

/**
 * Runs `fn` again while it fails with a retriable Kafka error (see isRetriableKafkaError), with
 * exponential backoff (100 ms doubling to 2 s) until `deadlineMs` (default 60 s) has passed;
 * then throws, naming `what` and the last errors. Any other error is thrown at once.
 *
 * Why: a topic created a moment ago on a loaded broker may answer NOT_LEADER_FOR_PARTITION
 * for a while even after createTopics({ waitForLeaders: true }) returned, and kafkajs's admin
 * client retries only UNKNOWN_TOPIC_OR_PARTITION in fetchTopicOffsets: test setup failed there.
 */
export async function retryKafka<T>(what: string, fn: () => Promise<T>, deadlineMs = 60_000): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  let wait = 100;
  const seen: string[] = [];
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (!isRetriableKafkaError(e)) throw e;
      seen.push(describeKafkaError(e));
      if (Date.now() + wait > deadline) {
        throw new Error(`${what}: still failing with retriable Kafka errors after ${seen.length} attempts in ${deadlineMs} ms; last: ${seen.slice(-3).join(' | ')}`, { cause: e });
      }
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(2 * wait, 2000);
    }
  }
}

/**
 * Waits until every partition of `topics` has a leader that answers a ListOffsets request
 * (the first request a producer or a reader's offset check sends), retrying retriable errors.
 */
export async function waitForPartitionLeaders(admin: Admin, topics: { topic: string; numPartitions: number }[], deadlineMs = 60_000): Promise<void> {
  for (const { topic, numPartitions } of topics) {
    await retryKafka(
      `partition leaders of ${topic}`,
      async () => {
        const meta = await admin.fetchTopicMetadata({ topics: [topic] });
        const parts = meta.topics.find((t) => t.name === topic)?.partitions ?? [];
        const led = parts.filter((p) => p.leader >= 0).length;
        if (parts.length !== numPartitions || led !== numPartitions) {
          throw new PartitionsNotLedYet(`${topic}: ${led} of ${numPartitions} partitions have a leader (${parts.length} known)`);
        }
        const offsets = await admin.fetchTopicOffsets(topic);
        if (offsets.length !== numPartitions) throw new PartitionsNotLedYet(`${topic}: offsets of ${offsets.length} of ${numPartitions} partitions`);
      },
      deadlineMs,
    );
  }
}

/** Retriable by construction: metadata not complete yet (named like a kafkajs error on purpose). */
class PartitionsNotLedYet extends Error {
  readonly retriable = true;
  constructor(message: string) {
    super(message);
    this.name = 'KafkaJSPartitionsNotLedYet';
  }
}

/**
 * Vitest timeout for a test that starts (or restarts) its own broker `starts` times and then
 * needs up to `restMs` for its own waits: each start may take the broker helper's default
 * start timeout (90 s) plus a stop grace (20 s) on a loaded machine. The test's own waits
 * then fail first, with their message, instead of vitest's bare "timed out".
 */
export function ownBrokerTestTimeout(starts: number, restMs: number): number {
  return starts * 110_000 + restMs;
}

/**
 * Waits until the broker's group coordinator answers (the __consumer_offsets partition created
 * and loaded). On a fresh broker the first group to join otherwise meets
 * COORDINATOR_LOAD_IN_PROGRESS; a daemon whose consumer crashed on it at its very first join
 * was seen never to rejoin after kafkajs restarted it (a daemon bug, reported in the issue 18
 * note; this keeps tests that are about something else from tripping on it).
 */
export async function waitForGroupCoordinator(brokers: string[], deadlineMs = 90_000): Promise<void> {
  const admin = testKafka(brokers).admin();
  await retryKafka('admin connect', () => admin.connect(), deadlineMs);
  try {
    await retryKafka(
      'group coordinator',
      async () => {
        const { groups } = await admin.describeGroups([`nf-coordinator-warmup-${randomBytes(3).toString('hex')}`]);
        const code = (groups[0] as { errorCode?: number } | undefined)?.errorCode ?? 0;
        if (code !== 0) throw new PartitionsNotLedYet(`describeGroups error code ${code}`);
      },
      deadlineMs,
    );
  } finally {
    await admin.disconnect();
  }
}
