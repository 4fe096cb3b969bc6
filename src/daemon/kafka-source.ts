/**
 * The Kafka source: a kafkajs consumer group member that decodes messages into steps,
 * feeds the stream registry and queues the windows it cuts.
 *
 * Delivery is at-least-once (see streams.ts for the commit rule): `eachBatch` with
 * `eachBatchAutoResolve: false` and `autoCommit: false`. `resolveOffset` only moves the
 * fetch position; `commitNow()` (every commitIntervalMs, every commitEveryBatches scored
 * batches, and at shutdown) first writes the changed stream states to the changelog
 * (changelog.ts) and waits for their acknowledgement, then commits each lane's commit
 * point. A failing commit is counted (noisefloor_commit_failures_total), makes /readyz
 * report it once it persists, and ends the daemon (exit 1) once it has failed for
 * giveUpAfterMs, like a consumer that cannot fetch. Undecodable messages are
 * counted by reason, logged (rate limited) with topic/partition/offset, copied to the
 * dead-letter topic when one is configured (the offset is held back until that send
 * succeeded), and their offset advances like any other: a bad message never stalls a
 * partition. When the window queue is full, the consumer pauses all its partitions and
 * resumes once the queue has drained to half (heartbeating while it waits).
 *
 * Offset reset: when a partition's fetch position is out of range (its messages were
 * deleted by retention or deleteRecords, or the log was truncated), kafkajs moves it to
 * the earliest or latest offset (fromBeginning) and says so only in its log. The source
 * watches for that line, logs a warning naming topic, partition and the offset it was at,
 * and re-seeks the partition's stream states to the first offset read after the jump
 * (StreamRegistry.reseek), so streams go on along their grids instead of skipping by
 * offsets that now name other messages.
 *
 * Rebalance: kafkajs re-reads every assigned partition from its committed offset after a
 * rebalance, so all partition state is dropped (a new generation) and restored from the
 * changelog (each assigned partition's changelog partition read to its end, in parallel,
 * before its first batch is processed); windows of the old generation still in flight are
 * scored and emitted but no longer count for commits. Partitions that have no changelog
 * state yet but old-format resume points in their commit metadata are migrated from those
 * once (the metadata is not written any more).
 *
 * At start-up the settings are checked against the broker's limits (describeConfigs): the
 * session timeout against group.min/max.session.timeout.ms, the changelog's cleanup policy
 * and max.message.bytes; a mismatch fails start-up with a ConfigError naming the setting.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import kafkajs, { type Admin, type Consumer, type EachBatchPayload, type Kafka, type KafkaMessage, type Producer } from 'kafkajs';
import type { KafkaSourceConfig } from '../config/daemon.js';
import { DecodeError, createDecoder, type Decoder, type RawMessage } from '../ingest/decoders.js';
import { ConfigError } from '../util/errors.js';
import { exponentialDelay, kafkaRetriable, withRetry } from '../util/retry.js';
import type { SampleMessage } from '../features/featurizer.js';
import type { Source, SourceContext } from './sources.js';
import { StateChangelog, type RestoredState } from './changelog.js';
import { decodeResume, stateFromResume, type IngestResult, type LaneCommit, type StreamState } from './streams.js';
import { kafkaClientConfig } from './kafka-client.js';

const { Kafka: KafkaClient, ConfigResourceTypes } = kafkajs;

export interface KafkaSourceOptions {
  /** Connected producer for the dead-letter topic (required when deadLetterTopic is set). */
  producer?: Producer;
  badInputLogIntervalMs: number;
  /** The consumer crashed for good (kafkajs will not restart it). */
  onFatal: (err: Error) => void;
  /** Streams of partitions this member no longer owns. */
  onStreamsRevoked?: (streams: string[]) => void;
}

interface DeadLetter {
  lane: string;
  offset: number;
  message: KafkaMessage;
  topic: string;
  partition: number;
  kind: string;
  reason: string;
}

function laneKey(topic: string, partition: number): string {
  return `${topic}/${partition}`;
}

export class KafkaSource implements Source {
  readonly kind = 'kafka';
  readonly finished: Promise<void> = new Promise(() => undefined);
  readonly kafka: Kafka;
  private consumer!: Consumer;
  private admin: Admin | null = null;
  private readonly decode: Decoder;
  /** Sampled-signal model (audio): PCM straight to mono samples for the registry's sample slots. */
  private readonly decodeSamples: ((msg: RawMessage) => SampleMessage) | null = null;
  private assigned: { topic: string; partitions: number[] }[] = [];
  private generation = 0;
  private committedAtJoin: Promise<Map<string, { offset: string; metadata: string | null }>> = Promise.resolve(new Map());
  /** Partitions kafkajs reset after an out-of-range fetch, with the offset they were at; re-seeked at their next batch. */
  private readonly offsetResets = new Map<string, number | null>();
  /** Per assigned partition: its changelog restore (started on assignment). */
  private restores = new Map<string, Promise<Map<string, { state: StreamState; encoded: string | null }>>>();
  private restored = new Set<string>();
  private lastCommitted = new Map<string, number>();
  private changelog: StateChangelog | null = null;
  /** Since when commits fail without a success in between (0: they do not). */
  private commitFailingSince = 0;
  private lastCommitError = '';
  private batchesSinceCommit = 0;
  private joined = false;
  /** Last time the consumer joined its group or received a batch (see giveUpAfterMs). */
  private lastHealthyAt = Date.now();
  private stopping = false;
  private paused = false;
  private activeBatches = 0;
  private commitTimer: NodeJS.Timeout | null = null;
  private committing: Promise<void> | null = null;
  /** One more commit after the one in flight (see commitNow). */
  private commitAfter: Promise<void> | null = null;
  private readonly deadLetterSends = new Set<Promise<void>>();
  private readonly rejectCounts: Record<string, number> = {};
  private readonly lastRejectLog = new Map<string, { at: number; suppressed: number }>();
  messages = 0;

  constructor(
    private readonly cfg: KafkaSourceConfig,
    private readonly ctx: SourceContext,
    private readonly opts: KafkaSourceOptions,
  ) {
    const clientConfig = kafkaClientConfig(cfg, ctx.log.child({ component: 'kafka' }));
    const logCreator = clientConfig.logCreator!;
    clientConfig.logCreator = (level) => {
      const write = logCreator(level);
      return (entry) => {
        write(entry);
        // kafkajs's only signal of an out-of-range reset (consumerGroup.recoverFromOffsetOutOfRange).
        const { message, topic, partition } = entry.log as { message?: unknown; topic?: unknown; partition?: unknown };
        if (typeof message === 'string' && message.startsWith('Offset out of range, resetting') && typeof topic === 'string' && typeof partition === 'number') this.offsetOutOfRange(topic, partition);
      };
    };
    this.kafka = new KafkaClient(clientConfig);
    this.decode = createDecoder(cfg.decoder);
    const sampled = ctx.registry.sampled;
    if (sampled) {
      if (cfg.decoder.format !== 'pcm')
        throw new ConfigError(`the model is ${/^[aeiou]/.test(sampled.kind) ? 'an' : 'a'} ${sampled.kind} model: source.kafka.decoder.format must be pcm`, [`source.kafka.decoder.format: got ${cfg.decoder.format}`]);
      this.decodeSamples = sampled.decoder(cfg.decoder);
    }
  }

  ready(): boolean {
    return this.joined && !this.stopping;
  }

  /** Reasons not to be ready beyond joining: commits failing for a while. */
  problems(): string[] {
    if (!this.commitFailingSince) return [];
    const ms = Date.now() - this.commitFailingSince;
    if (ms < this.persistentFailureMs()) return [];
    return [`commits failing for ${Math.round(ms / 1000)} s: ${this.lastCommitError}`];
  }

  /** A commit failure "persists" after a few intervals (a rebalance or a leader move heals sooner). */
  private persistentFailureMs(): number {
    return Math.min(this.cfg.giveUpAfterMs || Number.POSITIVE_INFINITY, Math.max(5000, 5 * this.cfg.commitIntervalMs));
  }

  /** The changelog topic name (default: "<groupId>-noisefloor-state"). */
  get changelogTopic(): string {
    return this.cfg.changelog.topic ?? `${this.cfg.groupId}-noisefloor-state`;
  }

  /**
   * Checks settings against the broker's limits and readies the changelog. Any mismatch is
   * a ConfigError naming the setting and the broker's value.
   */
  private async prepare(): Promise<void> {
    // A broker that just started, or a topic just created, answers "not the leader" for a
    // moment; kafkajs's admin does not retry every such call itself.
    return withRetry(() => this.prepareOnce(), {
      retries: this.cfg.retries,
      retriable: kafkaRetriable,
      delayMs: (attempt) => exponentialDelay(attempt, this.cfg.initialRetryTimeMs, 5000),
      onFailure: async (e, attempt) => {
        this.ctx.log.warn('start-up check failed with a retriable error; retrying', { attempt, err: e });
        await this.changelog?.close();
        this.changelog = null;
      },
    });
  }

  private async prepareOnce(): Promise<void> {
    const { cfg, ctx } = this;
    if (cfg.resumeMetadataBytes !== undefined)
      ctx.log.warn('source.kafka.resumeMetadataBytes is ignored: stream state lives in the changelog topic', { changelog: this.changelogTopic });
    const admin = await this.adminClient();
    const cluster = await admin.describeCluster();
    const brokerId = String(cluster.controller ?? cluster.brokers[0]?.nodeId ?? 0);
    const res = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.BROKER, name: brokerId, configNames: ['group.min.session.timeout.ms', 'group.max.session.timeout.ms'] }],
    });
    const value = (name: string) => Number(res.resources[0]?.configEntries.find((e) => e.configName === name)?.configValue);
    const issues: string[] = [];
    const min = value('group.min.session.timeout.ms');
    const max = value('group.max.session.timeout.ms');
    if (Number.isFinite(min) && cfg.sessionTimeoutMs < min) issues.push(`source.kafka.sessionTimeoutMs: ${cfg.sessionTimeoutMs} is below the broker's group.min.session.timeout.ms (${min})`);
    if (Number.isFinite(max) && cfg.sessionTimeoutMs > max) issues.push(`source.kafka.sessionTimeoutMs: ${cfg.sessionTimeoutMs} is above the broker's group.max.session.timeout.ms (${max})`);
    if (cfg.heartbeatIntervalMs >= cfg.sessionTimeoutMs) issues.push(`source.kafka.heartbeatIntervalMs: ${cfg.heartbeatIntervalMs} must be below sessionTimeoutMs (${cfg.sessionTimeoutMs})`);
    if (issues.length) throw new ConfigError(`source.kafka does not fit the broker's limits (broker ${brokerId})`, issues);
    this.changelog = new StateChangelog(
      this.kafka,
      admin,
      { topic: this.changelogTopic, partitions: cfg.changelog.partitions, replicationFactor: cfg.changelog.replicationFactor, create: cfg.changelog.create },
      cfg.groupId,
      ctx.log.child({ component: 'changelog' }),
      ctx.metrics,
    );
    await this.changelog.init(cfg.topics);
  }

  private async adminClient(): Promise<Admin> {
    if (!this.admin) {
      this.admin = this.kafka.admin();
      await this.admin.connect();
    }
    return this.admin;
  }

  rejected(): Record<string, number> {
    return { ...this.rejectCounts };
  }

  async start(): Promise<void> {
    const { cfg, ctx } = this;
    await this.prepare();
    this.lastHealthyAt = Date.now();
    this.consumer = this.kafka.consumer({
      groupId: cfg.groupId,
      sessionTimeout: cfg.sessionTimeoutMs,
      heartbeatInterval: cfg.heartbeatIntervalMs,
      rebalanceTimeout: cfg.rebalanceTimeoutMs,
      maxBytesPerPartition: cfg.maxBytesPerPartition,
      // kafkajs restarts a crashed consumer forever by default: a daemon whose cluster is
      // gone would neither recover nor exit. Restart while the crash is recent (transient
      // errors such as "coordinator loading" after a broker restart heal), give up once the
      // consumer has been unhealthy for giveUpAfterMs: onFatal then exits 1 and the
      // supervisor restarts the daemon.
      retry: {
        retries: cfg.retries,
        initialRetryTime: cfg.initialRetryTimeMs,
        restartOnFailure: () => Promise.resolve(Date.now() - this.lastHealthyAt < cfg.giveUpAfterMs),
      },
    });
    const ev = this.consumer.events;
    this.consumer.on(ev.GROUP_JOIN, (e) => this.onJoin(e.payload.memberAssignment, e.payload.memberId));
    // A quiet topic is healthy too: successful heartbeats and fetches count.
    const healthy = () => {
      this.lastHealthyAt = Date.now();
    };
    this.consumer.on(ev.HEARTBEAT, healthy);
    this.consumer.on(ev.FETCH, healthy);
    this.consumer.on(ev.REBALANCING, () => {
      this.joined = false;
    });
    this.consumer.on(ev.CRASH, (e) => {
      const { error, restart } = e.payload;
      if (restart) ctx.log.warn('kafka consumer crashed; kafkajs restarts it', { err: error });
      else {
        ctx.log.error('kafka consumer crashed and will not restart', { err: error });
        this.opts.onFatal(error);
      }
    });
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: cfg.topics, fromBeginning: cfg.fromBeginning });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (p) => this.eachBatch(p),
    });
    this.commitTimer = setInterval(() => void this.commitNow(), cfg.commitIntervalMs);
    this.commitTimer.unref();
    ctx.log.info('kafka consumer started', { brokers: cfg.brokers, topics: cfg.topics, groupId: cfg.groupId });
  }

  private onJoin(assignment: Record<string, number[]>, memberId: string): void {
    this.lastHealthyAt = Date.now();
    const before = new Map<string, string[]>();
    for (const key of this.ctx.registry.laneKeys()) before.set(key, [...this.ctx.registry.lane(key).streams.keys()]);
    this.generation++;
    this.ctx.registry.dropAll();
    this.restored.clear();
    this.lastCommitted.clear();
    // kafkajs resolves the committed offsets again after a join (and logs a reset again if one is still out of range).
    this.offsetResets.clear();
    this.assigned = Object.entries(assignment).map(([topic, partitions]) => ({ topic, partitions: [...partitions].sort((a, b) => a - b) }));
    const keep = new Set(this.assigned.flatMap((a) => a.partitions.map((p) => laneKey(a.topic, p))));
    const revoked: string[] = [];
    for (const [key, streams] of before) {
      if (keep.has(key)) continue;
      revoked.push(...streams);
      const [topic, part] = [key.slice(0, key.lastIndexOf('/')), Number(key.slice(key.lastIndexOf('/') + 1))];
      this.ctx.metrics?.removeConsumerLag(topic, part);
    }
    if (revoked.length) this.opts.onStreamsRevoked?.(revoked);
    this.committedAtJoin = this.fetchCommitted();
    const gen = this.generation;
    this.restores = new Map();
    for (const a of this.assigned)
      for (const p of a.partitions) {
        const restore = this.restoreLane(a.topic, p, gen);
        // Awaited by the partition's first batch (which surfaces a failure); a partition with no messages never asks.
        restore.catch(() => undefined);
        this.restores.set(laneKey(a.topic, p), restore);
      }
    this.joined = true;
    if (this.paused) {
      // A rejoin forgets pauses; re-apply while the queue is still full.
      this.consumer.pause(this.assigned);
    }
    this.ctx.log.info('partitions assigned', { memberId, generation: this.generation, assignment: this.assigned });
  }

  /** Committed offsets and metadata of the assigned partitions (old-format resume points, for migration). */
  private async fetchCommitted(): Promise<Map<string, { offset: string; metadata: string | null }>> {
    const out = new Map<string, { offset: string; metadata: string | null }>();
    if (this.assigned.length === 0) return out;
    try {
      const admin = await this.adminClient();
      const res = await admin.fetchOffsets({ groupId: this.cfg.groupId, topics: this.assigned.map((a) => a.topic) });
      for (const t of res) for (const p of t.partitions) out.set(laneKey(t.topic, p.partition), { offset: p.offset, metadata: p.metadata });
    } catch (e) {
      this.ctx.log.warn('could not read the commit metadata (old-format resume points are not migrated)', { err: e });
    }
    return out;
  }

  /**
   * A partition's stream states: its changelog partition read to the end (retried while
   * this generation lasts; the error surfaces if it keeps failing), or, when the changelog
   * has none, old-format resume points from the commit metadata.
   */
  private async restoreLane(topic: string, partition: number, gen: number): Promise<Map<string, { state: StreamState; encoded: string | null }>> {
    const log = this.ctx.log;
    const revoked = () => gen !== this.generation || this.stopping;
    let res: Map<string, RestoredState>;
    try {
      res = await withRetry(
        async () => {
          const r = await this.changelog!.restore(topic, partition);
          log.info('stream state restored', { topic, partition, changelog: `${this.changelogTopic}/${this.changelog!.partitionFor(partition)}`, streams: r.states.size, records: r.records, bytes: r.bytes, seconds: Number(r.seconds.toFixed(3)) });
          return r.states;
        },
        {
          retries: this.cfg.retries,
          delayMs: (attempt) => exponentialDelay(attempt, this.cfg.initialRetryTimeMs, 5000),
          onFailure: (e, attempt) => {
            if (revoked()) return false;
            log.warn('stream state restore failed; retrying', { topic, partition, attempt, err: e });
          },
        },
      );
    } catch (e) {
      // A partition taken away meanwhile needs no state; otherwise the retries ran out.
      if (revoked()) return new Map();
      throw e;
    }
    const out = new Map<string, { state: StreamState; encoded: string | null }>(res);
    if (out.size === 0) {
      const points = decodeResume((await this.committedAtJoin).get(laneKey(topic, partition))?.metadata);
      const now = Date.now();
      for (const [name, p] of points) out.set(name, { state: stateFromResume(p, now), encoded: null });
      if (points.size) log.info('stream state migrated from old commit metadata', { topic, partition, streams: points.size });
    }
    return out;
  }

  /** kafkajs reset (topic, partition) after an out-of-range fetch (see the module comment). */
  private offsetOutOfRange(topic: string, partition: number): void {
    const key = laneKey(topic, partition);
    const { registry, log } = this.ctx;
    const read = registry.hasLane(key) ? registry.lane(key).lastOffset : -1;
    this.offsetResets.set(key, read >= 0 ? read + 1 : null);
    void (async () => {
      const offset = read >= 0 ? read + 1 : Number((await this.committedAtJoin).get(key)?.offset ?? Number.NaN);
      let range: { low: string; high: string } | undefined;
      try {
        const admin = await this.adminClient();
        range = (await admin.fetchTopicOffsets(topic)).find((o) => o.partition === partition);
      } catch {
        /* the warning goes out without the partition's range */
      }
      log.warn('input offset out of range: kafkajs moves the partition to its reset offset; messages in between are not read', {
        topic,
        partition,
        offset: Number.isFinite(offset) ? offset : null,
        resetTo: this.cfg.fromBeginning ? 'earliest' : 'latest',
        ...(range ? { low: Number(range.low), high: Number(range.high) } : {}),
      });
    })();
  }

  private async eachBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const gen = this.generation;
    this.lastHealthyAt = Date.now();
    const { topic, partition } = batch;
    const key = laneKey(topic, partition);
    const { registry, batcher, metrics } = this.ctx;
    this.activeBatches++;
    try {
      if (!this.restored.has(key)) {
        const states = await (this.restores.get(key) ?? this.restoreLane(topic, partition, gen));
        if (gen !== this.generation) return;
        this.restored.add(key);
        registry.restore(key, states, Date.now());
      }
      if (this.offsetResets.has(key) && batch.messages.length > 0) {
        const from = this.offsetResets.get(key) ?? null;
        this.offsetResets.delete(key);
        const offset = Number(batch.messages[0].offset);
        const streams = registry.reseek(key, offset, Date.now());
        this.ctx.log.warn('stream states re-seeked after an offset reset', { topic, partition, from, offset, streams });
      }
      const lane = registry.lane(key);
      const deadLetters: DeadLetter[] = [];
      let lastBeat = Date.now();
      let n = 0;
      const C = this.ctx.channelNames.length;
      // maxStreamsPerBatch: the batch stops before a message of one stream too many; its
      // offset stays unresolved, so it and the rest are fetched again.
      const batchStreams = new Set<string>();
      const admit = (stream: string): boolean => {
        if (batchStreams.has(stream)) return true;
        if (batchStreams.size >= this.cfg.maxStreamsPerBatch) return false;
        batchStreams.add(stream);
        return true;
      };
      let deferredAt: string | null = null;
      // Per-message costs kept out of the loop (bench:kafka -- --detector null): one scratch
      // record for the decoder, the fetch position resolved and the decoded counter bumped
      // at checkpoints instead of per message (kafkajs parses the offset string into a Long
      // on every resolveOffset; prom-client hashes the labels on every inc).
      const raw: RawMessage = { topic, partition, offset: '', timestamp: '', key: null, value: null };
      let unresolved: string | null = null;
      let decoded = 0;
      const checkpoint = () => {
        if (unresolved !== null) resolveOffset(unresolved);
        unresolved = null;
        if (decoded) metrics?.messagesDecoded('kafka', decoded);
        decoded = 0;
      };
      // kafkajs's isStale() (a seek on this partition since the fetch) builds a JSON key on
      // every call: asked at the start and at each checkpoint, not per message. The daemon
      // never seeks, so between checkpoints it cannot change from our side.
      let stale = isStale();
      try {
        for (const message of batch.messages) {
          if (stale || !isRunning() || this.stopping || gen !== this.generation) break;
          const offset = Number(message.offset);
          const now = Date.now();
          try {
            raw.offset = message.offset;
            raw.timestamp = message.timestamp;
            raw.key = message.key;
            raw.value = message.value;
            let stream: string;
            let res: IngestResult;
            if (this.decodeSamples) {
              const am = this.decodeSamples(raw);
              stream = am.stream;
              if (!admit(stream)) {
                deferredAt = message.offset;
                break;
              }
              res = registry.ingestSamples(key, am.stream, offset, am.samples, am.ts, now);
            } else {
              const dm = this.decode(raw);
              for (let i = 0; i < dm.values.length; i++)
                if (dm.values[i].length !== C)
                  throw new DecodeError('malformed', `expected ${C} channel(s) (the model's), got ${dm.values[i].length}`, { topic, partition, offset: message.offset });
              stream = dm.stream;
              if (!admit(stream)) {
                deferredAt = message.offset;
                break;
              }
              res = registry.ingest(key, dm.stream, offset, dm.values, dm.ts, 0, now);
            }
            if (res.kind === 'dropped') this.reject(key, topic, partition, message, 'max_streams', `stream "${stream}" not admitted: maxStreams reached`, null);
            else {
              decoded++;
              for (let i = 0; i < res.windows.length; i++) batcher.push(res.windows[i]);
              if (res.late) this.reject(key, topic, partition, message, 'late', `stream "${stream}": timestamp behind the stream's released steps by more than allowedLatenessMs`, this.cfg.deadLetterLate ? deadLetters : null);
              else if (res.duplicate) this.reject(key, topic, partition, message, 'duplicate', `stream "${stream}": timestamp already seen`, null);
            }
          } catch (e) {
            lane.advance(offset);
            const kind = e instanceof DecodeError ? e.kind : 'error';
            if (e instanceof DecodeError && e.limit) metrics?.inputLimitExceeded('kafka', e.limit);
            this.reject(key, topic, partition, message, kind, (e as Error).message, deadLetters);
          }
          this.messages++;
          unresolved = message.offset;
          if (++n % 256 === 0 || now - lastBeat > 1000) {
            checkpoint();
            await heartbeat();
            lastBeat = Date.now();
            stale = isStale();
          }
          if (batcher.full) {
            checkpoint();
            await this.backpressure(heartbeat, gen);
            stale = isStale();
          }
        }
      } finally {
        checkpoint();
      }
      if (deadLetters.length) this.sendDeadLetters(deadLetters);
      if (deferredAt !== null) {
        metrics?.inputLimitExceeded('kafka', 'streams_per_batch');
        this.ctx.log.debug('batch stopped at maxStreamsPerBatch; the rest is fetched again', { topic, partition, offset: deferredAt, streams: batchStreams.size });
      }
      const hw = Number(batch.highWatermark);
      if (Number.isFinite(hw) && lane.lastOffset >= 0) metrics?.setConsumerLag(topic, partition, Math.max(0, hw - lane.lastOffset - 1));
      metrics?.setQueueDepth('windows', batcher.size);
    } finally {
      this.activeBatches--;
    }
  }

  /** Pause every assigned partition until the queue drained to half; heartbeat meanwhile. */
  private async backpressure(heartbeat: () => Promise<void>, gen: number): Promise<void> {
    const { batcher, log, metrics } = this.ctx;
    this.paused = true;
    this.consumer.pause(this.assigned);
    log.debug('window queue full: partitions paused', { queued: batcher.size });
    metrics?.sourcePaused('kafka');
    metrics?.setQueueDepth('windows', batcher.size);
    try {
      while (batcher.full || batcher.size > batcher.opts.capacity / 2) {
        if (this.stopping || gen !== this.generation || batcher.isClosed) return;
        await Promise.race([batcher.waitForSpace(), sleep(1000)]);
        await heartbeat();
      }
    } finally {
      this.paused = false;
      if (!this.stopping) this.consumer.resume(this.assigned);
      log.debug('window queue drained: partitions resumed', { queued: batcher.size });
    }
  }

  private reject(key: string, topic: string, partition: number, message: KafkaMessage, kind: string, reason: string, deadLetters: DeadLetter[] | null): void {
    this.rejectCounts[kind] = (this.rejectCounts[kind] ?? 0) + 1;
    this.ctx.metrics?.messagesRejected('kafka', kind);
    const now = Date.now();
    const last = this.lastRejectLog.get(kind);
    if (!last || now - last.at >= this.opts.badInputLogIntervalMs) {
      this.ctx.log.warn('bad input message', { topic, partition, offset: message.offset, kind, reason, suppressedSinceLast: last?.suppressed ?? 0 });
      this.lastRejectLog.set(kind, { at: now, suppressed: 0 });
    } else last.suppressed++;
    if (deadLetters && this.cfg.deadLetterTopic && this.opts.producer) {
      const offset = Number(message.offset);
      this.ctx.registry.lane(key).hold(offset);
      deadLetters.push({ lane: key, offset, message, topic, partition, kind, reason });
    }
  }

  /** Sends dead letters, retrying until done or stopping; their offsets are held back meanwhile. */
  private sendDeadLetters(list: DeadLetter[]): void {
    const producer = this.opts.producer!;
    const topic = this.cfg.deadLetterTopic!;
    const gen = this.generation;
    const lanes = list.map((d) => this.ctx.registry.lane(d.lane));
    const p = (async () => {
      try {
        await withRetry(
          () =>
            producer.send({
              topic,
              acks: -1,
              messages: list.map((d) => ({
                key: d.message.key,
                value: d.message.value,
                headers: {
                  'noisefloor-error-kind': d.kind,
                  'noisefloor-error': d.reason.slice(0, 1000),
                  'noisefloor-source-topic': d.topic,
                  'noisefloor-source-partition': String(d.partition),
                  'noisefloor-source-offset': d.message.offset,
                  'noisefloor-source-timestamp': d.message.timestamp,
                },
              })),
            }),
          {
            // Never gives up while the partition is ours: the offsets stay held until the send is done.
            retries: Infinity,
            delayMs: (attempt) => exponentialDelay(attempt, 200, 10_000),
            onFailure: (e, attempt) => {
              if (gen !== this.generation) return false;
              this.ctx.log.error('dead-letter send failed; retrying', { topic, messages: list.length, attempt, err: e });
            },
          },
        );
      } catch {
        // A new generation (the partition was revoked): these offsets are no longer ours to release.
        return;
      }
      list.forEach((d, i) => lanes[i].release(d.offset));
    })();
    this.deadLetterSends.add(p);
    void p.finally(() => this.deadLetterSends.delete(p));
  }

  /** A batch of windows was scored and handed on: commit every commitEveryBatches batches. */
  batchScored(): void {
    if (this.cfg.commitEveryBatches <= 0) return;
    if (++this.batchesSinceCommit >= this.cfg.commitEveryBatches) {
      this.batchesSinceCommit = 0;
      void this.commitNow();
    }
  }

  /**
   * Writes the changed stream states (acknowledged) and then commits every lane's commit
   * point that moved since the last commit. Nothing is committed when the state write fails.
   * A call while a commit is in flight runs one more after it (calls meanwhile share it): the
   * one in flight took its commit points before, so returning it would leave what was done
   * since uncommitted, the shutdown's final commit included.
   */
  commitNow(): Promise<void> {
    if (this.committing) {
      this.commitAfter ??= this.committing.then(() => {
        this.commitAfter = null;
        return this.commitNow();
      });
      return this.commitAfter;
    }
    const run = async () => {
      const gen = this.generation;
      const commits = this.ctx.registry.commits();
      const lanes: { key: string; topic: string; partition: number; c: LaneCommit }[] = [];
      for (const [key, c] of commits) {
        // Lanes whose restore has not run yet have nothing of their own to commit.
        if (!this.restored.has(key)) continue;
        const i = key.lastIndexOf('/');
        lanes.push({ key, topic: key.slice(0, i), partition: Number(key.slice(i + 1)), c });
      }
      const changed = lanes.filter((l) => l.c.changes.length > 0);
      const moved = lanes.filter((l) => this.lastCommitted.get(l.key) !== l.c.offset);
      if (changed.length === 0 && moved.length === 0) return;
      let stage: 'changelog' | 'offsets' = 'changelog';
      try {
        if (changed.length) {
          if (gen !== this.generation) return;
          await this.changelog!.write(changed.map((l) => ({ topic: l.topic, partition: l.partition, changes: l.c.changes })));
          for (const l of changed) this.ctx.registry.lane(l.key).markWritten(l.c.changes);
        }
        stage = 'offsets';
        if (moved.length) {
          await this.consumer.commitOffsets(moved.map((l) => ({ topic: l.topic, partition: l.partition, offset: String(l.c.offset), metadata: null })));
          if (gen === this.generation) for (const l of moved) this.lastCommitted.set(l.key, l.c.offset);
          this.ctx.log.debug('offsets committed', { offsets: moved.map((l) => `${l.key}@${l.c.offset}`), states: changed.reduce((a, l) => a + l.c.changes.length, 0) });
        }
        if (this.commitFailingSince) this.ctx.log.info('commits succeed again', { failedForMs: Date.now() - this.commitFailingSince });
        this.commitFailingSince = 0;
      } catch (e) {
        this.ctx.metrics?.commitFailed(stage);
        const now = Date.now();
        if (!this.commitFailingSince) this.commitFailingSince = now;
        this.lastCommitError = `${stage}: ${(e as Error).message}`;
        const failingMs = now - this.commitFailingSince;
        this.ctx.log.warn(stage === 'changelog' ? 'stream state write failed; offsets not committed; will retry' : 'offset commit failed; will retry', { err: e, failingMs });
        if (this.cfg.giveUpAfterMs > 0 && failingMs >= this.cfg.giveUpAfterMs && !this.stopping) {
          this.ctx.log.error('commits have failed for giveUpAfterMs; giving up', { giveUpAfterMs: this.cfg.giveUpAfterMs, err: e });
          this.opts.onFatal(new Error(`commits failing for ${failingMs} ms: ${this.lastCommitError}`));
        }
      }
    };
    this.committing = run().finally(() => (this.committing = null));
    return this.committing;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.commitTimer) clearInterval(this.commitTimer);
    try {
      if (this.assigned.length) this.consumer.pause(this.assigned);
    } catch {
      /* not running */
    }
    while (this.activeBatches > 0) await sleep(10);
    await Promise.all([...this.deadLetterSends]);
  }

  async close(): Promise<void> {
    await this.committing?.catch(() => undefined);
    await this.consumer?.disconnect().catch((e: unknown) => this.ctx.log.warn('consumer disconnect failed', { err: e }));
    await this.changelog?.close();
    await this.admin?.disconnect().catch(() => undefined);
  }
}
