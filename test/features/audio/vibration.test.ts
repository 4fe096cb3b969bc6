/**
 * Vibration: accelerometer recordings as 48 kHz WAV train and score at their native rate
 * (config/vibration.yaml; docs/audio.md "Vibration"). Generated bearing-like signals: shaft
 * harmonics, a structural resonance excited by broadband noise; the fault adds impacts at
 * an outer-race rate (ball-pass frequency) ringing a high resonance, at the same RMS level.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { audioConfigSchema } from '../../../src/features/audio/config.js';
import { scoreClip, type ClipScore } from '../../../src/features/audio/score.js';
import { runAudioTrainJob } from '../../../src/features/audio/train.js';
import { aucRoc } from '../../../src/eval/metrics.js';
import { readWavInfo } from '../../../src/ingest/audio/index.js';
import { readManifest } from '../../../src/model/artifact.js';
import { Detector } from '../../../src/scoring/detector.js';
import { silentLogger } from '../../../src/util/log.js';
import { Rng } from '../../../src/util/rng.js';
import { repoRoot as ROOT } from '../../support/core.js';
import { toInt16, writeClip } from '../../support/audio-clips.js';

const SR = 48_000;
const RMS = 0.08;

/** Shaft at ~29 Hz with harmonics, a 3.2 kHz structural resonance driven by noise; `fault` adds outer-race impacts (~107/s) ringing at 9 kHz. */
function bearing(seed: number, o: { fault?: boolean; gain?: number; seconds?: number } = {}): Float32Array {
  const rng = new Rng(seed);
  const n = Math.round((o.seconds ?? 2) * SR);
  const x = new Float32Array(n);
  const f0 = 29 * (1 + 0.01 * (rng.next() - 0.5));
  const ph = [0, 1, 2, 3].map(() => 2 * Math.PI * rng.next());
  // Two-pole resonator driven by white noise (the housing's response).
  const res = (fc: number, r: number) => ({ a1: 2 * r * Math.cos((2 * Math.PI * fc) / SR), a2: -r * r, y1: 0, y2: 0 });
  const hous = res(3200, 0.995);
  const ring = res(9000, 0.99);
  const bpfo = 107 * (1 + 0.005 * (rng.next() - 0.5));
  let nextImpact = Math.round(rng.next() * (SR / bpfo));
  for (let i = 0; i < n; i++) {
    const t = i / SR;
    let v = 0;
    for (let h = 0; h < 4; h++) v += (0.3 / (h + 1)) * Math.sin(2 * Math.PI * f0 * (h + 1) * t + ph[h]);
    const hy = hous.a1 * hous.y1 + hous.a2 * hous.y2 + 0.02 * rng.normal();
    hous.y2 = hous.y1;
    hous.y1 = hy;
    let drive = 0;
    if (o.fault && i === nextImpact) {
      drive = 1.5 * (0.8 + 0.4 * rng.next());
      nextImpact += Math.round((SR / bpfo) * (1 + 0.01 * rng.normal()));
    }
    const ry = ring.a1 * ring.y1 + ring.a2 * ring.y2 + drive;
    ring.y2 = ring.y1;
    ring.y1 = ry;
    x[i] = v + hy + 0.02 * ry + 0.01 * rng.normal();
  }
  let s = 0;
  for (const v of x) s += v * v;
  const g = (RMS / Math.sqrt(s / n)) * (o.gain ?? 1);
  for (let i = 0; i < n; i++) x[i] *= g;
  return x;
}

const dir = mkdtempSync(path.join(tmpdir(), 'nf-vibration-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('vibration: 48 kHz accelerometer WAV', () => {
  let det: Detector;
  const normal: string[] = [];
  const faulty: string[] = [];
  const louder: string[] = [];
  beforeAll(async () => {
    for (const d of ['train', 'normal', 'faulty', 'louder']) mkdirSync(path.join(dir, d));
    // 12 normal recordings: the clip statistics are judged as a new recording's predictive
    // Student-t over the reference recordings, and with 6 a clearly separated fault (ranked
    // first, AUC 1) was still not rare enough to flag at 1 %.
    const train = Array.from({ length: 12 }, (_, i) => writeClip(path.join(dir, 'train'), `n${i}.wav`, toInt16(bearing(10 + i)), SR));
    for (let i = 0; i < 4; i++) {
      normal.push(writeClip(path.join(dir, 'normal'), `n${i}.wav`, toInt16(bearing(50 + i)), SR));
      faulty.push(writeClip(path.join(dir, 'faulty'), `f${i}.wav`, toInt16(bearing(60 + i, { fault: true })), SR));
      louder.push(writeClip(path.join(dir, 'louder'), `l${i}.wav`, toInt16(bearing(70 + i, { gain: 2 })), SR));
    }
    // The shipped vibration config's audio section at 48 kHz, with a small window and model so the test trains in seconds.
    const shipped = YAML.parse(readFileSync(path.join(ROOT, 'config/vibration.yaml'), 'utf8')) as { audio: Record<string, unknown> };
    const config = audioConfigSchema.parse({
      audio: { ...shipped.audio, nFft: 1024, hop: 512, nMels: 32, frames: 8, hopFrames: 4, trainHopFrames: 1 },
      model: { arch: 'mixer', patch: 2, dim: 32, depth: 1, T: 100 },
      train: { epochs: 8, stepsPerEpoch: 25, batchSize: 64, patience: 4, seed: 3 },
      scoring: { t0: 0.1, steps: 3, samples: 2 },
      calibration: { targetFalseAlarmRate: 0.01 },
    });
    expect(config.audio.sampleRate).toBe(SR);
    await runAudioTrainJob({ files: train, outDir: path.join(dir, 'model'), config, log: silentLogger });
    det = await Detector.open(path.join(dir, 'model'), { provider: 'cpu', intraOpThreads: 1 }, silentLogger);
  });
  afterAll(async () => {
    await det?.close();
  });

  it('trains at the native 48 kHz: bands reach up to 24 kHz, no resampling', async () => {
    expect((await readWavInfo(normal[0])).sampleRate).toBe(SR);
    const m = await readManifest(path.join(dir, 'model'));
    const bandHz = m.features?.bandHz as number[];
    expect(bandHz[bandHz.length - 1]).toBeGreaterThan(16_000);
    const c = await scoreClip(normal[0], det);
    expect(c.durationSeconds).toBeCloseTo(2, 3);
    expect(c.windows).toBe(Math.floor((Math.floor((2 * SR - 1024) / 512) + 1 - 8) / 4) + 1);
  });

  it('flags outer-race impacts at the same RMS and a louder machine by its level; normal recordings stay unflagged', async () => {
    const score = async (fs: string[]) => Promise.all(fs.map((f) => scoreClip(f, det)));
    const n: ClipScore[] = await score(normal);
    const f: ClipScore[] = await score(faulty);
    const l: ClipScore[] = await score(louder);
    for (const c of n) expect(c.anomaly).toBe(false);
    for (const c of f) {
      expect(c.anomaly).toBe(true);
      expect(c.levelDb).toBeCloseTo(20 * Math.log10(RMS), 0);
      expect(c.stats!.top).not.toBe('level');
    }
    for (const c of l) expect(c.stats).toMatchObject({ anomaly: true, top: 'level' });
    expect(aucRoc([...n, ...f].map((c) => c.rank), [...n.map(() => 0), ...f.map(() => 1)])).toBe(1);
  });
});
