/**
 * The test-setup retry of test/support/kafka/client.ts, on the error objects kafkajs really
 * throws: the protocol error a loaded broker answers for a topic created a moment ago, as
 * admin.fetchTopicOffsets passes it on (bare) and as kafkajs's own retrier wraps it.
 */
import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { isRetriableKafkaError, retryKafka } from '../support/kafka/client.js';

const { KafkaJSProtocolError, KafkaJSNumberOfRetriesExceeded, KafkaJSNonRetriableError } = kafkajs as unknown as Record<string, new (e: unknown, o?: unknown) => Error>;
const notLeader = () => new KafkaJSProtocolError({ type: 'NOT_LEADER_FOR_PARTITION', code: 6, retriable: true, message: 'This server is not the leader for that topic-partition' });
const authFailed = () => new KafkaJSProtocolError({ type: 'TOPIC_AUTHORIZATION_FAILED', code: 29, retriable: false, message: 'Not authorized to access topics' });

describe('retryKafka (test setup)', () => {
  it('classifies by the kafkajs retriable flag, through the wrappers kafkajs puts around it', () => {
    expect(isRetriableKafkaError(notLeader())).toBe(true);
    expect(isRetriableKafkaError(new KafkaJSNumberOfRetriesExceeded(notLeader(), { retryCount: 5, retryTime: 100 }))).toBe(true);
    expect(isRetriableKafkaError(authFailed())).toBe(false);
    expect(isRetriableKafkaError(new KafkaJSNonRetriableError(authFailed(), { cause: authFailed() }))).toBe(false);
    expect(isRetriableKafkaError(new Error('This server is not the leader for that topic-partition'))).toBe(false);
  });

  it('retries NOT_LEADER_FOR_PARTITION until the call succeeds', async () => {
    let calls = 0;
    const got = await retryKafka('end offsets', async () => {
      if (++calls < 4) throw notLeader();
      return 'ok';
    });
    expect(got).toBe('ok');
    expect(calls).toBe(4);
  });

  it('throws a non-retriable error at once, and a retriable one at the deadline with what it saw', async () => {
    let calls = 0;
    await expect(
      retryKafka('auth', async () => {
        calls++;
        throw authFailed();
      }),
    ).rejects.toThrow(/Not authorized/);
    expect(calls).toBe(1);
    await expect(
      retryKafka(
        'offsets of t',
        async () => {
          throw notLeader();
        },
        500,
      ),
    ).rejects.toThrow(/offsets of t: still failing .*NOT_LEADER_FOR_PARTITION/);
  });
});
