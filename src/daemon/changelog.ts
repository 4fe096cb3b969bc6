/**
 * Per-stream state in a compacted Kafka changelog topic (the Kafka Streams pattern).
 *
 * One record per stream: key `["<groupId>","<topic>",<partition>,"<stream>"]` (JSON), value
 * the stream's `StreamState` (streams.ts, JSON, about 100 bytes), or a tombstone. The
 * record for input partition p goes to changelog partition p mod N (N: the changelog's
 * partition count, by default the largest input topic's), so restoring partition p reads
 * one changelog partition, from its start to the end offset it had when the restore began,
 * and nothing else; log compaction keeps that read to about one record per stream.
 *
 * Writes are acknowledged by all in-sync replicas (acks=-1) before the consumer commits the
 * offsets they cover (kafka-source.ts), so a committed offset never runs ahead of its state.
 * Writes from one member are ordered (one request in flight); a retried request may append
 * a record twice, which compaction and "last record wins" make harmless.
 *
 * Restore reads the partition with plain Fetch requests (kafkajs has no consumer without a
 * group; a group join per restore would cost seconds), through the kafkajs cluster of the
 * consumer's own client so that TLS and SASL apply unchanged.
 */
import kafkajs, { type Admin, type Kafka, type Producer } from 'kafkajs';
import type { NoisefloorMetrics } from './metrics.js';
import { ConfigError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { decodeState, type StateChange, type StreamState } from './streams.js';

const { ConfigResourceTypes, Partitioners } = kafkajs;

export interface ChangelogConfig {
  topic: string;
  /** Partitions when the daemon creates the topic; default: the largest input topic's. */
  partitions?: number;
  /** -1: the broker's default.replication.factor. */
  replicationFactor: number;
  /** Create the topic when it does not exist (else: fail start-up). */
  create: boolean;
}

export interface RestoredState {
  state: StreamState;
  encoded: string;
}

export interface RestoreResult {
  states: Map<string, RestoredState>;
  records: number;
  bytes: number;
  seconds: number;
}

/** The subset of kafkajs's (internal) cluster and broker used for restore fetches. */
interface FetchBroker {
  fetch(req: {
    replicaId: number;
    isolationLevel: number;
    maxWaitTime: number;
    minBytes: number;
    maxBytes: number;
    topics: { topic: string; partitions: { partition: number; fetchOffset: string; maxBytes: number }[] }[];
  }): Promise<{ responses: { topicName: string; partitions: { partition: number; errorCode: number; highWatermark: string; messages: { offset: string; key: Buffer | null; value: Buffer | null }[] }[] }[] }>;
}
interface FetchCluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  addTargetTopic(topic: string): Promise<void>;
  refreshMetadata(): Promise<void>;
  findLeaderForPartitions(topic: string, partitions: number[]): Record<string, number[]>;
  findBroker(b: { nodeId: string }): Promise<FetchBroker>;
}

/** The kafkajs client's own cluster factory (same brokers, TLS, SASL, retry). */
function clusterOf(kafka: Kafka): FetchCluster {
  const sym = Object.getOwnPropertySymbols(kafka).find((s) => s.description === 'private:Kafka:createCluster');
  const create = sym ? (kafka as unknown as Record<symbol, unknown>)[sym] : undefined;
  if (typeof create !== 'function') throw new Error('kafkajs: cannot create a cluster for changelog restore (unsupported kafkajs version)');
  return (create as (o: Record<string, unknown>) => FetchCluster)({ allowAutoTopicCreation: false, metadataMaxAge: 300000 });
}

export function stateKey(groupId: string, topic: string, partition: number, stream: string): string {
  return JSON.stringify([groupId, topic, partition, stream]);
}

export class StateChangelog {
  private producer: Producer | null = null;
  private cluster: FetchCluster | null = null;
  private partitionCount = 0;
  /** Largest record batch the topic accepts (max.message.bytes); writes are chunked below it. */
  private maxBatchBytes = 1_000_000;

  constructor(
    private readonly kafka: Kafka,
    private readonly admin: Admin,
    readonly cfg: ChangelogConfig,
    private readonly groupId: string,
    private readonly log: Logger,
    private readonly metrics?: NoisefloorMetrics,
  ) {}

  get topic(): string {
    return this.cfg.topic;
  }

  get partitions(): number {
    return this.partitionCount;
  }

  /**
   * Creates the topic (cleanup.policy=compact) or checks a pre-created one; reads its
   * limits; connects the producer and the restore cluster. A topic that is not compacted
   * would grow without bound and restore ever slower: start-up fails with a ConfigError.
   */
  async init(inputTopics: string[]): Promise<void> {
    const { admin, cfg } = this;
    const topics = await admin.listTopics();
    if (!topics.includes(cfg.topic)) {
      if (!cfg.create) throw new ConfigError(`source.kafka.changelog.topic: topic ${cfg.topic} does not exist and changelog.create is false`);
      let partitions = cfg.partitions;
      if (partitions === undefined) {
        const md = await admin.fetchTopicMetadata({ topics: inputTopics });
        partitions = Math.max(1, ...md.topics.map((t) => t.partitions.length));
      }
      try {
        await admin.createTopics({
          waitForLeaders: true,
          topics: [
            {
              topic: cfg.topic,
              numPartitions: partitions,
              replicationFactor: cfg.replicationFactor,
              configEntries: [
                { name: 'cleanup.policy', value: 'compact' },
                // Compact soon after writes stop mattering: restore reads ~one record per stream.
                { name: 'segment.ms', value: String(6 * 3600_000) },
                { name: 'min.cleanable.dirty.ratio', value: '0.1' },
              ],
            },
          ],
        });
        this.log.info('state changelog topic created', { topic: cfg.topic, partitions, cleanupPolicy: 'compact' });
      } catch (e) {
        // Another replica may have created it at the same moment.
        if (!(await admin.listTopics()).includes(cfg.topic)) throw e;
      }
    }
    const res = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: cfg.topic, configNames: ['cleanup.policy', 'max.message.bytes'] }],
    });
    const entries = res.resources[0]?.configEntries ?? [];
    const policy = entries.find((e) => e.configName === 'cleanup.policy')?.configValue ?? '';
    if (!policy.split(',').map((s) => s.trim()).includes('compact'))
      throw new ConfigError(`source.kafka.changelog.topic: topic ${cfg.topic} has cleanup.policy=${policy || '(none)'}; a state changelog must be compacted`, [
        `set it with: kafka-configs.sh --alter --entity-type topics --entity-name ${cfg.topic} --add-config cleanup.policy=compact`,
      ]);
    const maxMessage = Number(entries.find((e) => e.configName === 'max.message.bytes')?.configValue);
    if (Number.isFinite(maxMessage) && maxMessage > 0) this.maxBatchBytes = Math.max(4096, Math.floor(maxMessage * 0.8));
    const md = await admin.fetchTopicMetadata({ topics: [cfg.topic] });
    this.partitionCount = md.topics[0]?.partitions.length ?? 0;
    if (this.partitionCount < 1) throw new ConfigError(`source.kafka.changelog.topic: topic ${cfg.topic} has no partitions`);
    this.producer = this.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false, maxInFlightRequests: 1 });
    await this.producer.connect();
    this.cluster = clusterOf(this.kafka);
    await this.cluster.connect();
    await this.cluster.addTargetTopic(cfg.topic);
    this.log.info('state changelog ready', { topic: cfg.topic, partitions: this.partitionCount, cleanupPolicy: policy, maxBatchBytes: this.maxBatchBytes });
  }

  partitionFor(inputPartition: number): number {
    return inputPartition % this.partitionCount;
  }

  /** Writes state changes of input partitions; resolves once every record is acknowledged (acks=-1). */
  async write(changes: { topic: string; partition: number; changes: readonly StateChange[] }[]): Promise<number> {
    const producer = this.producer;
    if (!producer) throw new Error('changelog not initialised');
    const batches: { partition: number; key: string; value: string | null }[][] = [];
    let cur: { partition: number; key: string; value: string | null }[] = [];
    let bytes = 0;
    let n = 0;
    for (const lane of changes) {
      const partition = this.partitionFor(lane.partition);
      for (const c of lane.changes) {
        const key = stateKey(this.groupId, lane.topic, lane.partition, c.stream);
        const size = key.length + (c.value?.length ?? 0) + 64;
        if (bytes + size > this.maxBatchBytes && cur.length) {
          batches.push(cur);
          cur = [];
          bytes = 0;
        }
        cur.push({ partition, key, value: c.value });
        bytes += size;
        n++;
      }
    }
    if (cur.length) batches.push(cur);
    for (const b of batches) await producer.send({ topic: this.cfg.topic, acks: -1, messages: b });
    if (n) this.metrics?.stateRecordsWritten(n);
    return n;
  }

  /**
   * Every state of input partition (topic, partition) this group wrote: its changelog
   * partition read from the start to the end offset it had when the restore began.
   */
  async restore(topic: string, partition: number): Promise<RestoreResult> {
    const cluster = this.cluster;
    if (!cluster) throw new Error('changelog not initialised');
    const t0 = process.hrtime.bigint();
    const p = this.partitionFor(partition);
    const offsets = await this.admin.fetchTopicOffsets(this.cfg.topic);
    const po = offsets.find((o) => o.partition === p);
    const end = Number(po?.high ?? 0);
    let offset = Number(po?.low ?? 0);
    const prefix = JSON.stringify([this.groupId, topic, partition]).slice(0, -1) + ',';
    const states = new Map<string, RestoredState>();
    let records = 0;
    let bytes = 0;
    while (offset < end) {
      const leaders = cluster.findLeaderForPartitions(this.cfg.topic, [p]);
      const nodeId = Object.keys(leaders)[0];
      if (nodeId === undefined) {
        await cluster.refreshMetadata();
        throw new Error(`changelog ${this.cfg.topic}/${p}: no leader`);
      }
      const broker = await cluster.findBroker({ nodeId });
      const res = await broker.fetch({
        replicaId: -1,
        isolationLevel: 0,
        maxWaitTime: 50,
        minBytes: 1,
        maxBytes: 32 << 20,
        topics: [{ topic: this.cfg.topic, partitions: [{ partition: p, fetchOffset: String(offset), maxBytes: 16 << 20 }] }],
      });
      const part = res.responses.find((r) => r.topicName === this.cfg.topic)?.partitions.find((x) => x.partition === p);
      let next = offset;
      for (const m of part?.messages ?? []) {
        const o = Number(m.offset);
        if (o < offset) continue;
        if (o >= end) break;
        next = o + 1;
        records++;
        const key = m.key?.toString('utf8') ?? '';
        bytes += key.length + (m.value?.length ?? 0);
        if (!key.startsWith(prefix)) continue;
        let stream: unknown;
        try {
          stream = (JSON.parse(key) as unknown[])[3];
        } catch {
          continue;
        }
        if (typeof stream !== 'string') continue;
        if (m.value === null) {
          states.delete(stream);
          continue;
        }
        const encoded = m.value.toString('utf8');
        const state = decodeState(encoded);
        if (state) states.set(stream, { state, encoded });
        else this.log.warn('unreadable state record skipped', { topic: this.cfg.topic, partition: p, offset: m.offset });
      }
      // Nothing at or after `offset` below `end`: the rest are empty batches (compacted away).
      if (next === offset) break;
      offset = next;
    }
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    this.metrics?.stateRestored(topic, partition, seconds, states.size, bytes);
    return { states, records, bytes, seconds };
  }

  async close(): Promise<void> {
    await this.producer?.disconnect().catch(() => undefined);
    await this.cluster?.disconnect().catch(() => undefined);
  }
}
