import { z } from 'zod';
import { audioSchema } from './audio.js';
import { decoderConfigSchema } from '../ingest/decoders.js';
import { dataSchema, scoringSchema, windowMemoryShape } from './core.js';

/**
 * Configuration of `noisefloor serve`: where windows come from (Kafka, a recorded file, a
 * built-in generator), the model, streams, micro-batching, outputs, HTTP/metrics and
 * alerts. Validated once at start-up (every problem reported by its path), defaults filled
 * in. With no file at all, `serve` runs the embedded default: generator source plus a tiny
 * model trained on the fly (see `bootstrap`).
 *
 * Secrets (SASL passwords, TLS key passphrases) are never written in the file itself in
 * production: `passwordEnv` names an environment variable, `passwordFile` a file; inline
 * `password` is accepted for tests and redacted in every dump (`serve --print-config`).
 */

const positiveMs = z.number().int().min(0);

/** Checks that at most one (or, when required, exactly one) of name, nameEnv, nameFile is given. */
function secretRule(name: string, required: boolean) {
  return (v: Record<string, unknown>, ctx: z.RefinementCtx) => {
    const given = [name, `${name}Env`, `${name}File`].filter((k) => v[k] !== undefined);
    if (given.length > 1) ctx.addIssue({ code: 'custom', message: `give only one of ${given.join(', ')}` });
    if (required && given.length === 0) ctx.addIssue({ code: 'custom', message: `one of ${name}, ${name}Env, ${name}File is required` });
  };
}

export const saslSchema = z
  .object({
    mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
    username: z.string().min(1),
    /** Inline password: for tests only; prefer passwordEnv or passwordFile. */
    password: z.string().min(1).optional(),
    passwordEnv: z.string().min(1).optional(),
    passwordFile: z.string().min(1).optional(),
  })
  .strict()
  .superRefine(secretRule('password', true));

const tlsObjectSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** PEM files: CA bundle, client certificate and key (mutual TLS). */
    caFile: z.string().min(1).optional(),
    certFile: z.string().min(1).optional(),
    keyFile: z.string().min(1).optional(),
    /** Passphrase of an encrypted key. */
    keyPassword: z.string().min(1).optional(),
    keyPasswordEnv: z.string().min(1).optional(),
    keyPasswordFile: z.string().min(1).optional(),
    rejectUnauthorized: z.boolean().default(true),
    /** SNI / certificate host name override. */
    servername: z.string().min(1).optional(),
  })
  .strict()
  .superRefine(secretRule('keyPassword', false));

/** `ssl: true` is shorthand for TLS with the system CAs. */
export const tlsSchema = z.preprocess((v) => (v === true ? { enabled: true } : v === false ? { enabled: false } : v), tlsObjectSchema);

export const kafkaConnectionShape = {
  brokers: z.array(z.string().min(1)).min(1),
  clientId: z.string().min(1).default('noisefloor'),
  ssl: tlsSchema.optional(),
  sasl: saslSchema.optional(),
  connectionTimeoutMs: z.number().int().min(100).default(3000),
  requestTimeoutMs: z.number().int().min(100).default(30000),
  /** kafkajs retry policy: retries before an operation (or the consumer) fails. */
  retries: z.number().int().min(0).default(8),
  initialRetryTimeMs: z.number().int().min(1).default(300),
};

export const kafkaSourceSchema = z
  .object({
    ...kafkaConnectionShape,
    topics: z.array(z.string().min(1)).min(1),
    groupId: z.string().min(1).default('noisefloor'),
    /** Where a group with no committed offset starts. */
    fromBeginning: z.boolean().default(false),
    sessionTimeoutMs: z.number().int().min(1000).default(30000),
    heartbeatIntervalMs: z.number().int().min(100).default(3000),
    rebalanceTimeoutMs: z.number().int().min(1000).default(60000),
    maxBytesPerPartition: z.number().int().min(1024).default(1048576),
    /**
     * Most distinct streams one fetched batch may bring in; the batch stops at the first
     * message of one stream more and the rest is fetched again (nothing is lost, stream
     * creation is spread over batches). Counted in noisefloor_input_limit_exceeded_total.
     */
    maxStreamsPerBatch: z.number().int().min(1).default(10000),
    /** How each message is decoded (ingest/decoders.ts); default JSON. */
    decoder: decoderConfigSchema,
    /** Undecodable messages are copied here (with the reason in headers), when set. */
    deadLetterTopic: z.string().min(1).optional(),
    /** How often committable offsets (and the stream states they need) are committed. */
    commitIntervalMs: z.number().int().min(50).default(1000),
    /**
     * Also commit after every N scored batches (0: on the timer only). Bounds what a crash
     * re-scores to about N batches instead of one commit interval (README: duplicates).
     */
    commitEveryBatches: z.number().int().min(0).default(0),
    /**
     * Per-stream state (window-grid position) lives in this compacted topic, written
     * before the offsets it covers are committed and read back on partition assignment.
     */
    changelog: z
      .object({
        /** Default: "<groupId>-noisefloor-state". */
        topic: z.string().min(1).optional(),
        /** Partitions when the daemon creates it; default the largest input topic's. */
        partitions: z.number().int().min(1).optional(),
        /** -1: the broker's default.replication.factor. */
        replicationFactor: z.number().int().min(-1).default(-1),
        /** Create it (cleanup.policy=compact) when missing; false: it must exist. */
        create: z.boolean().default(true),
      })
      .strict()
      .default({ replicationFactor: -1, create: true }),
    /** Deprecated and ignored: stream state moved from the commit metadata to the changelog. */
    resumeMetadataBytes: z.number().int().min(0).optional(),
    /** Also copy records dropped as late (streams.allowedLatenessMs) to deadLetterTopic. */
    deadLetterLate: z.boolean().default(false),
    /**
     * A crashed consumer is restarted (a broker restart makes the first join fail with
     * "coordinator loading", which heals), unless it has not joined or fetched for this
     * long: then the daemon exits 1 so that its supervisor restarts it.
     */
    giveUpAfterMs: z.number().int().min(0).default(120000),
  })
  .strict();

export const fileSourceSchema = z
  .object({
    /** CSV or JSONL recordings; each file is one stream (named after the file; same-named files also by their folders). A bad row stops that file; the others go on; exit 2 at the end. */
    paths: z.array(z.string().min(1)).min(1),
    /** Replay speed: 1 real time (from timestamps, else stepMs), N times faster, 0 as fast as possible. */
    speed: z.number().min(0).default(1),
    /** Time between rows of files without timestamps (ms, before speed). */
    stepMs: z.number().min(0).default(1000),
    /** Start again at the end (streams warm up again). */
    loop: z.boolean().default(false),
    /** Longest line, in bytes; a longer one stops the file's replay with an error naming file:line. */
    maxLineBytes: z.number().int().min(16).default(1048576),
    /** Most columns (CSV) or fields (JSONL) per line. */
    maxChannels: z.number().int().min(1).default(1024),
    data: dataSchema.partial().default({}),
  })
  .strict();

export const generatorSourceSchema = z
  .object({
    streams: z.number().int().min(1).max(100000).default(4),
    /** Steps per second per stream. */
    rate: z.number().positive().default(20),
    /** Expected injected anomalies per stream per 1000 steps (0: none). */
    anomalyRate: z.number().min(0).default(2),
    period: z.number().int().min(4).default(32),
    noise: z.number().min(0).default(0.1),
    seed: z.number().int().default(1),
    /** Stop after this many steps per stream (default: run until stopped). */
    maxSteps: z.number().int().min(1).optional(),
    prefix: z.string().min(1).default('gen-'),
  })
  .strict();

export const sourceSchema = z
  .object({
    kafka: kafkaSourceSchema.optional(),
    file: fileSourceSchema.optional(),
    generator: generatorSourceSchema.optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    const n = [s.kafka, s.file, s.generator].filter((x) => x !== undefined).length;
    if (n !== 1) ctx.addIssue({ code: 'custom', message: `exactly one of kafka, file, generator must be given (got ${n})` });
  });

export const modelSourceSchema = z
  .object({
    /** Model directory (from `noisefloor train`); none: train a tiny one at start-up (bootstrap). */
    dir: z.string().min(1).optional(),
    provider: z.enum(['cpu', 'cuda', 'tensorrt', 'webgpu', 'auto']).default('cpu'),
    intraOpThreads: z.number().int().min(0).default(0),
    /** Overrides of the model's own scoring settings. */
    scoring: scoringSchema.partial().default({}),
    /** Reload when the model directory changes (besides SIGHUP). */
    watch: z.boolean().default(true),
    reloadDebounceMs: positiveMs.default(1000),
  })
  .strict();

export const bootstrapSchema = z
  .object({
    /** Synthetic rows the start-up model is trained on. */
    rows: z.number().int().min(200).default(1500),
    epochs: z.number().int().min(1).default(3),
    stepsPerEpoch: z.number().int().min(1).default(15),
    window: z.number().int().min(8).default(32),
    hop: z.number().int().min(1).default(8),
    channels: z.number().int().min(1).max(16).default(3),
    seed: z.number().int().default(42),
  })
  .strict();

export const streamsSchema = z
  .object({
    /** Streams held at once; messages of further streams are counted and dropped. */
    maxStreams: z.number().int().min(1).default(10000),
    /** A stream silent this long frees its window memory (its grid position is kept); 0: never. */
    idleTimeoutMs: positiveMs.default(600000),
    /**
     * Event time a record may arrive behind its stream's newest one and still be put in
     * order (reorder buffer); later ones are dropped as late, repeated timestamps as
     * duplicates. 0: records must arrive in timestamp order.
     */
    allowedLatenessMs: positiveMs.default(0),
    /** Steps held per stream by the reorder buffer at most (beyond, the oldest is released early). */
    reorderBufferSteps: z.number().int().min(1).default(1024),
    /** States of streams silent this long are deleted (tombstoned); they start again at index 0. 0: kept. */
    stateRetentionMs: positiveMs.default(0),
  })
  .strict();

export const batchingSchema = z
  .object({
    maxBatch: z.number().int().min(1).default(64),
    /** Longest a window waits for its batch to fill. */
    maxWaitMs: positiveMs.default(50),
    /** Windows queued before the consumer pauses its partitions (backpressure). */
    queueCapacity: z.number().int().min(1).default(1024),
    /**
     * Per window, from entering the queue to its events reaching the outputs: batches are
     * sized from the measured cost of the last ones so that it holds when the scorer keeps
     * up; when it does not, batches are maxBatch (throughput first). 0 (default): fixed
     * maxBatch/maxWaitMs; off by default because on the 2-core bench it did not lower the
     * produce-to-score p99 (docs/BENCHMARKS.md).
     */
    latencyTargetMs: z.number().int().min(0).max(600_000).default(0),
  })
  .strict();

export const outputsSchema = z
  .object({
    /** Score events as JSON lines on stdout (logs go to stderr). */
    stdout: z
      .object({ enabled: z.boolean().default(true), anomaliesOnly: z.boolean().default(false) })
      .strict()
      .default({ enabled: true, anomaliesOnly: false }),
    /** Score events as JSON to a Kafka topic (keyed by stream). Connection: source.kafka's unless brokers are given. */
    kafka: z
      .object({
        topic: z.string().min(1),
        ...kafkaConnectionShape,
        brokers: kafkaConnectionShape.brokers.optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export const httpSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** 9464 by default; 0 picks a free port (logged). */
    port: z.number().int().min(0).max(65535).default(9464),
    /** Address to bind: 0.0.0.0 (every IPv4 interface, so Prometheus can scrape it), 127.0.0.1 for this host only. */
    host: z.string().min(1).default('0.0.0.0'),
    /** Prometheus-style web config (TLS, basic auth with bcrypt hashes), see config/web.ts; none: plain HTTP, open. */
    webConfigFile: z.string().min(1).optional(),
    /** Serve /api/streams (stream names with their scores); false: 404. */
    streamsApi: z.boolean().default(true),
  })
  .strict();

export const metricsSchema = z
  .object({
    /** Streams with their own metric label; the rest fold into stream="_other". */
    maxStreams: z.number().int().min(0).default(100),
  })
  .strict();

const retryShape = {
  timeoutMs: z.number().int().min(1).optional(),
  retries: z.number().int().min(0).optional(),
};

export const alertsSchema = z
  .object({
    enabled: z.boolean().default(true),
    alertname: z.string().min(1).optional(),
    n: z.number().int().min(1).optional(),
    m: z.number().int().min(1).optional(),
    resolveWindows: z.number().int().min(1).optional(),
    resolveRatio: z.number().min(1).optional(),
    criticalRatio: z.number().min(1).optional(),
    cooldownWindows: z.number().int().min(0).optional(),
    cooldownMs: z.number().min(0).optional(),
    warmupWindows: z.number().int().min(0).optional(),
    staleMs: z.number().min(0).optional(),
    sinks: z
      .object({
        queueSize: z.number().int().min(1).default(1000),
        maxBatch: z.number().int().min(1).default(100),
        alertmanager: z
          .object({
            url: z.url(),
            resendIntervalMs: z.number().int().min(1).optional(),
            externalLabels: z.record(z.string(), z.string()).optional(),
            ...retryShape,
          })
          .strict()
          .optional(),
        webhook: z
          .object({ url: z.url(), ...retryShape })
          .strict()
          .optional(),
        /** Alerts topic, on the score-events / source Kafka connection. */
        kafka: z.object({ topic: z.string().min(1) }).strict().optional(),
      })
      .strict()
      .default({ queueSize: 1000, maxBatch: 100 }),
  })
  .strict()
  .refine((a) => (a.n ?? 3) <= (a.m ?? 5), { message: 'n must be <= m', path: ['n'] });

/**
 * Per-stream window memories (src/scoring/memory.ts, the same memory `evaluate.memory`
 * builds): each stream's own recent normal windows, scored by their exact diffusion
 * density and fused with the network's calibrated score (max of calibrated surprises
 * minus log10 2). Stream state: built from the stream's first `warmupWindows` windows,
 * bounded per stream (`capacity`) and in total (`maxStreams`, `maxBytes`; the least
 * recently scored stream is dropped and warms up again when it returns). Not persisted:
 * after a restart or a rebalance a stream warms up again.
 */
export const streamMemorySchema = z
  .object({
    enabled: z.boolean().default(false),
    ...windowMemoryShape,
    /** Serve follows each stream's recent normal behaviour. */
    replacement: windowMemoryShape.replacement.unwrap().default('fifo'),
    /**
     * Windows of a stream (its own past, taken as normal) that build and calibrate its
     * memory. At least 100: the calibration's tail is fitted on the top 10 %, and fewer
     * than 10 points leave no tail (surprise could not pass 2, nothing would be flagged).
     */
    warmupWindows: z.number().int().min(100).default(256),
    /** Most streams with a memory (warming up included). */
    maxStreams: z.number().int().min(1).default(10000),
    /** Most bytes all memories hold together (warm-up buffers included). */
    maxBytes: z.number().int().min(1024).default(256 * 1024 * 1024),
  })
  .strict();

/**
 * Audio input, used when the model is an audio model (manifest features.kind
 * 'audio-logmel'): PCM messages (source.kafka.decoder: {format: pcm, sample, channels}),
 * keyed by device, become log-mel windows with the model's own feature settings.
 */
export const audioInputSchema = z
  .object({
    /** Sample rate of the incoming PCM (Hz); default the model's audio.sampleRate. Resampled when different. */
    sampleRate: audioSchema.shape.sampleRate.unwrap().optional(),
    /** 0-based channel of the interleaved PCM to analyse, or 'mix' (mean); default the model's. */
    channel: audioSchema.shape.channel.unwrap().optional(),
  })
  .strict();

export const daemonConfigSchema = z
  .object({
    source: sourceSchema.default({ generator: generatorSourceSchema.parse({}) }),
    model: modelSourceSchema.default(modelSourceSchema.parse({})),
    bootstrap: bootstrapSchema.default(bootstrapSchema.parse({})),
    streams: streamsSchema.default(streamsSchema.parse({})),
    batching: batchingSchema.default(batchingSchema.parse({})),
    outputs: outputsSchema.default(outputsSchema.parse({})),
    http: httpSchema.default(httpSchema.parse({})),
    metrics: metricsSchema.default(metricsSchema.parse({})),
    alerts: alertsSchema.default(alertsSchema.parse({})),
    audio: audioInputSchema.default({}),
    memory: streamMemorySchema.default(streamMemorySchema.parse({})),
    /** Name of this replica in score events (default host-pid). */
    instanceId: z.string().min(1).optional(),
    /** SIGTERM/SIGINT: longest the drain (finish windows, commit, disconnect) may take. */
    shutdownTimeoutMs: z.number().int().min(100).default(15000),
    /** Bad-input log lines are rate limited to one per this interval (counts are exact). */
    badInputLogIntervalMs: positiveMs.default(5000),
  })
  .strict();

export type DaemonConfig = z.infer<typeof daemonConfigSchema>;
export type KafkaSourceConfig = z.infer<typeof kafkaSourceSchema>;
export type FileSourceConfig = z.infer<typeof fileSourceSchema>;
export type GeneratorSourceConfig = z.infer<typeof generatorSourceSchema>;
export type AudioInputConfig = z.infer<typeof audioInputSchema>;
export type StreamMemoryConfig = z.infer<typeof streamMemorySchema>;
export type BootstrapConfig = z.infer<typeof bootstrapSchema>;
export type SaslConfig = z.infer<typeof saslSchema>;
export type TlsConfig = z.infer<typeof tlsObjectSchema>;
/** Connection settings shared by the consumer and the producers. */
export type KafkaConnectionConfig = Pick<
  KafkaSourceConfig,
  'brokers' | 'clientId' | 'ssl' | 'sasl' | 'connectionTimeoutMs' | 'requestTimeoutMs' | 'retries' | 'initialRetryTimeMs'
>;

const SECRET_KEYS = /^(password|keyPassword|secret|token|apiKey|key)$/i;

/**
 * A copy of `value` with secret values replaced by "[redacted]" (inline passwords, keys,
 * tokens, credentials in URLs). Names of env vars and files stay visible: they are not secrets.
 */
export function redact<T>(value: T): T {
  const walk = (v: unknown, key?: string): unknown => {
    if (key !== undefined && SECRET_KEYS.test(key) && v !== undefined && v !== null) return '[redacted]';
    if (typeof v === 'string') return v.replace(/(\/\/[^/:@\s]+:)[^@/\s]+@/g, '$1[redacted]@');
    if (Array.isArray(v)) return v.map((x) => walk(x));
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, k)]));
    return v;
  };
  return walk(value) as T;
}
