/**
 * `noisefloor serve` with an audio model against the real broker (test/support/kafka), as
 * a real CLI process: s16le PCM messages keyed by device on a 2-partition topic, log-mel
 * windows cut incrementally per device, scored; the device with an added tone (same
 * loudness) is flagged and alerted, the others are not; every window is scored; a SIGKILL
 * and restart resumes every device on its frame grid without losing a window; a non-PCM
 * decoder is refused at start-up.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import kafkajs, { type Kafka } from 'kafkajs';
import YAML from 'yaml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pooledScore } from '../../src/features/audio/horizon.js';
import { scoreClip } from '../../src/features/audio/score.js';
import { runAudioTrainJob } from '../../src/features/audio/train.js';
import { Detector } from '../../src/scoring/detector.js';
import type { PooledScore } from '../../src/scoring/types.js';
import { daemonConfigSchema } from '../../src/config/daemon.js';
import { parseConfig } from '../../src/config/load.js';
import { Rng } from '../../src/util/rng.js';
import { silentLogger } from '../../src/util/log.js';
import { machineClip, SR, tinyAudioConfig, toInt16, writeClip } from '../support/audio-clips.js';
import { retryKafka, sharedKafkaBrokers, testKafka, uniqueName } from '../support/kafka/client.js';
import { ROOT, ServeProcess, createTopics, kafkaConfig, readTopic, readTopicToEnd, writeConfig, killRunning, waitForCommit, withDaemonLogs } from './helpers.js';

const { Partitioners } = kafkajs;
const tmp = mkdtempSync(path.join(tmpdir(), 'nf-serve-audio-'));
const modelDir = path.join(tmp, 'model');
const A = tinyAudioConfig({ loudness: { mode: 'window', targetDb: -20 } }).audio;
const RMS = 0.05;
const T0 = Date.UTC(2024, 0, 1);
let brokers: string[];
let kafka: Kafka;
const running: ServeProcess[] = [];

beforeAll(async () => {
  brokers = sharedKafkaBrokers();
  kafka = testKafka(brokers);
  await mkdir(path.join(tmp, 'train'));
  const files = Array.from({ length: 6 }, (_, i) => writeClip(path.join(tmp, 'train'), `n${i}.wav`, toInt16(machineClip({ seed: 100 + i, rms: RMS }))));
  // horizonWindows 64 > the 61 windows of a test device: the last window's horizon pools the whole device.
  // calibrationClips 0: the denoiser trains on all 6 clips (as the window-flag counts below
  // assume) and the clip calibration uses their held-out tails (the fallback path).
  await runAudioTrainJob({ files, outDir: modelDir, config: tinyAudioConfig({ loudness: { mode: 'window', targetDb: -20 }, horizonWindows: 64, calibrationClips: 0 }, { calibration: { targetFalseAlarmRate: 0.002 } }),
    log: silentLogger,
  });
});

afterEach(() => killRunning(running));

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** int16 codes per device; `tone` adds a 1.3 kHz tone to the second half, rescaled to the same RMS. */
function device(seed: number, seconds: number, tone = false): number[] {
  const half = seconds / 2;
  const a = machineClip({ seed, seconds: half, rms: RMS });
  const b = machineClip({ seed: seed + 1000, seconds: half, rms: RMS, ...(tone ? { tone: 1300, toneRel: 0.6 } : {}) });
  return toInt16(Float32Array.from([...a, ...b]));
}

interface PcmMsg {
  device: string;
  partition: number;
  value: Buffer;
  timestamp: string;
}

/** Each device's codes cut into randomly sized s16le messages, interleaved across devices. */
function pcmMessages(devices: Record<string, number[]>, partitions: number, seed: number): PcmMsg[] {
  const rng = new Rng(seed);
  const names = Object.keys(devices);
  const pos = Object.fromEntries(names.map((d) => [d, 0]));
  const out: PcmMsg[] = [];
  for (;;) {
    const live = names.filter((d) => pos[d] < devices[d].length);
    if (live.length === 0) return out;
    const d = live[rng.int(live.length)];
    const codes = devices[d].slice(pos[d], pos[d] + 200 + rng.int(1000));
    const value = Buffer.alloc(2 * codes.length);
    codes.forEach((c, i) => value.writeInt16LE(c, 2 * i));
    out.push({ device: d, partition: names.indexOf(d) % partitions, value, timestamp: String(Math.round(T0 + (pos[d] / SR) * 1000)) });
    pos[d] += codes.length;
  }
}

async function produce(topic: string, msgs: PcmMsg[]): Promise<void> {
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true, maxInFlightRequests: 1 });
  await retryKafka('producer connect', () => producer.connect());
  try {
    for (let i = 0; i < msgs.length; i += 200)
      await producer.send({ topic, acks: -1, messages: msgs.slice(i, i + 200).map((m) => ({ partition: m.partition, key: m.device, value: m.value, timestamp: m.timestamp })) });
  } finally {
    await producer.disconnect();
  }
}

/** "device@windowStart" of every window a device of n samples yields (frames every hop, windows every hopFrames). */
function expectedWindows(devices: Record<string, number[]>): Set<string> {
  const out = new Set<string>();
  for (const [d, codes] of Object.entries(devices)) {
    const frames = Math.floor((codes.length - A.nFft) / A.hop) + 1;
    for (let s = 0; s + A.frames <= frames; s += A.hopFrames) out.add(`${d}@${s}`);
  }
  return out;
}

interface Rec {
  stream: string;
  raw: number;
  windowStart: number;
  windowEnd: number;
  startTs?: number;
  anomaly: boolean;
  topChannels: string[];
  horizon?: PooledScore;
}
const keyOf = (r: Rec) => `${r.stream}@${r.windowStart}`;

function start(file: string): ServeProcess {
  const p = new ServeProcess(file);
  running.push(p);
  return p;
}

async function setup(extra: string[] = []) {
  const topic = uniqueName('nf-pcm');
  const out = uniqueName('nf-pcm-out');
  await createTopics(kafka, [{ topic, numPartitions: 2 }, { topic: out, numPartitions: 1 }, ...extra.map((t) => ({ topic: t, numPartitions: 1 }))]);
  return { topic, out, groupId: uniqueName('nf-pcm-group') };
}

function audioServeConfig(o: { topic: string; out: string; groupId: string }) {
  return {
    ...kafkaConfig({ brokers, modelDir, topic: o.topic, out: o.out, groupId: o.groupId, extra: { decoder: { format: 'pcm', sample: 's16le', channels: 1 } } }),
    audio: { sampleRate: SR },
  };
}

describe('serve with an audio model (PCM from Kafka)', () => {
  it('config/serve-audio.yaml is a valid serve config', () => {
    const c = parseConfig(daemonConfigSchema, YAML.parse(readFileSync(path.join(ROOT, 'config/serve-audio.yaml'), 'utf8')), 'serve-audio.yaml');
    expect(c.source.kafka?.decoder).toMatchObject({ format: 'pcm', sample: 's16le' });
    expect(c.audio.sampleRate).toBe(16000);
  });

  it('refuses an audio model fed by a non-PCM decoder at start-up (exit 2, the reason logged)', async () => {
    const { topic, out, groupId } = await setup();
    const cfg = audioServeConfig({ topic, out, groupId });
    const file = await writeConfig(tmp, groupId, { ...cfg, source: { kafka: { ...cfg.source.kafka, decoder: { format: 'json' } } } });
    const d = start(file);
    expect(await d.exited).toBe(2);
    expect(JSON.stringify(d.logs)).toMatch(/decoder\.format: must be pcm for an audio model/);
  });

  it('scores every window of 3 devices and flags only the one with an added tone (same loudness)', async () => {
    const alerts = uniqueName('nf-pcm-alerts');
    const { topic, out, groupId } = await setup([alerts]);
    const seconds = 4;
    const devices = { 'fan-0': device(200, seconds), 'fan-1': device(210, seconds), 'fan-2': device(220, seconds, true) };
    await produce(topic, pcmMessages(devices, 2, 1));
    const file = await writeConfig(tmp, groupId, { ...audioServeConfig({ topic, out, groupId }), alerts: { n: 3, m: 5, sinks: { kafka: { topic: alerts } } } });
    const d = start(file);
    const want = expectedWindows(devices);
    expect(want.size).toBe(3 * 61);
    const got = await withDaemonLogs(readTopic<Rec>(kafka, out, (rs) => new Set(rs.map(keyOf)).size >= want.size), d);
    // Every window scored, none off the frame grid.
    expect(new Set(got.map(keyOf))).toEqual(want);
    // Streaming scores equal offline scores: each device's audio as one WAV through
    // `score`'s clip path gives the same raw score per window as the daemon fed random-sized
    // PCM messages.
    const offline = await Detector.open(modelDir, { provider: 'cpu', intraOpThreads: 1 }, silentLogger);
    try {
      for (const [name, codes] of Object.entries(devices)) {
        const clip = await scoreClip(writeClip(tmp, `${name}.wav`, codes), offline);
        const live = got.filter((r) => r.stream === name);
        expect(live).toHaveLength(clip.windowRaws.length);
        for (const r of live) {
          const want = clip.windowRaws[r.windowStart / A.hopFrames];
          expect(Math.abs(r.raw - want) / Math.abs(want), `${name}@${r.windowStart}: live ${r.raw}, offline ${want}`).toBeLessThan(1e-4);
        }
      }
    } finally {
      await offline.close();
    }
    const toneFrom = (seconds / 2) * SR;
    const flagged = (s: string) => got.filter((r) => r.stream === s && r.anomaly);
    // fan-2: windows wholly inside the tone half are flagged (most of them).
    const inTone = got.filter((r) => r.stream === 'fan-2' && r.windowStart * A.hop >= toneFrom);
    const inToneFlagged = inTone.filter((r) => r.anomaly);
    expect(inToneFlagged.length).toBeGreaterThanOrEqual(0.8 * inTone.length);
    // Normal audio (fan-0, fan-1, fan-2 before the tone; ~150 windows, calibrated false-alarm rate
    // 0.2%): at most a few stray window flags, and none of them raises an alert (below).
    const beforeTone = flagged('fan-2').filter((r) => r.windowEnd * A.hop + A.nFft <= toneFrom);
    expect(beforeTone.length + flagged('fan-0').length + flagged('fan-1').length).toBeLessThanOrEqual(3);
    // Times from the record timestamps; explanations are mel bands.
    const w = got.find((r) => r.stream === 'fan-1' && r.windowStart === 8)!;
    expect(w.startTs).toBeCloseTo(T0 + ((8 * A.hop) / SR) * 1000, -1);
    expect(w.topChannels[0]).toMatch(/^mel\d+@\d+Hz$/);
    expect(d.log('serving')[0]).toMatchObject({ audio: { inputRate: SR, resampled: false } });
    d.kill('SIGTERM');
    expect(await d.exited).toBe(0);
    // Every alert event the daemon wrote (it has exited, so the topic is complete): only fan-2 fired.
    const alertEvents = await readTopicToEnd<{ stream: string; status: string }>(kafka, alerts);
    expect([...new Set(alertEvents.filter((a) => a.status === 'firing').map((a) => a.stream))]).toEqual(['fan-2']);
    // Horizon statistics: after each device's last window they equal `score`'s clip
    // statistics of the same audio (offline, from a WAV of the same samples).
    const det = await Detector.open(modelDir, { provider: 'cpu', intraOpThreads: 1 }, silentLogger);
    try {
      for (const [name, codes] of Object.entries(devices)) {
        const mine = got.filter((r) => r.stream === name);
        const lastRec = mine.reduce((a, b) => (b.windowStart > a.windowStart ? b : a));
        expect(mine.find((r) => r.windowStart === 0)!.horizon!.windows).toBe(1);
        const offline = await scoreClip(writeClip(tmp, `${name}.wav`, codes), det);
        expect(offline.windows).toBe(61);
        expect(lastRec.horizon).toEqual(pooledScore(offline.stats!, det.channelNames));
      }
      // The tone (same loudness) shows in the spectral statistics, not in the level.
      const tone = got.filter((r) => r.stream === 'fan-2').reduce((a, b) => (b.windowStart > a.windowStart ? b : a)).horizon!;
      expect(tone.anomaly).toBe(true);
      expect(tone.top).not.toBe('level');
    } finally {
      await det.close();
    }
  });

  it('SIGKILL mid-stream and restart: every window scored at least once, on the same frame grid', async () => {
    const { topic, out, groupId } = await setup();
    const devices = { 'mic-0': device(300, 4), 'mic-1': device(310, 4), 'mic-2': device(320, 4) };
    const msgs = pcmMessages(devices, 2, 2);
    const half = Math.floor(msgs.length / 2);
    await produce(topic, msgs.slice(0, half));
    const file = await writeConfig(tmp, groupId, { ...audioServeConfig({ topic, out, groupId }), batching: { maxBatch: 4, maxWaitMs: 5, queueCapacity: 32 } });
    const d1 = start(file);
    await d1.waitFor(() => d1.stdout.length >= 40, 'first windows scored');
    await waitForCommit(kafka, groupId, topic);
    d1.kill('SIGKILL');
    await d1.exited;
    const before = d1.stdout.length;
    await produce(topic, msgs.slice(half));
    const d2 = start(file);
    const want = expectedWindows(devices);
    const got = await withDaemonLogs(readTopic<Rec>(kafka, out, (rs) => new Set(rs.map(keyOf)).size >= want.size), d2);
    expect(new Set(got.map(keyOf))).toEqual(want);
    expect(before).toBeLessThan(want.size);
    expect(d2.log('stream state restored').reduce((a, l) => a + Number(l.streams), 0)).toBeGreaterThan(0);
    d2.kill('SIGTERM');
    expect(await d2.exited).toBe(0);
  });
});
