/**
 * A louder faulty machine, judged after RMS equalisation (the MIMII fan situation: the
 * abnormal clips are louder, so the clip level alone separates them as recorded; equalised,
 * only the spectrum can). Generated data: normal recordings are a hum with jittered
 * harmonics plus broadband noise, each recording with its own slight colour; the fault adds
 * a band of energy around 1.5 kHz (a rubbing / bearing band) and makes the machine 4 dB
 * louder. The detector is the shipped combined clip score (schema default `clipScores`) of
 * a trained tiny model.
 *
 * Asserted: as recorded, the RMS level separates the faults (the trivial detector works
 * there); RMS-equalised it fails (AUC within 0.2 of chance) while the detector clears
 * 0.9 and beats it by 0.3; and clean held-out recordings are flagged at a rate near the
 * model's nominal false-alarm rate (at most 1 of 12 at 1 %).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scoreClip, type ClipScore } from '../../../src/features/audio/score.js';
import { runAudioTrainJob } from '../../../src/features/audio/train.js';
import { aucRoc } from '../../../src/eval/metrics.js';
import { Detector } from '../../../src/scoring/detector.js';
import { silentLogger } from '../../../src/util/log.js';
import { Rng } from '../../../src/util/rng.js';
import { SR, tinyAudioConfig, toInt16, writeClip } from '../../support/audio-clips.js';

const RMS = 0.05;
const N_TEST = 12;

/** One recording: hum (5 jittered harmonics of ~100 Hz), coloured noise, optional fault band; scaled to `rms`. */
function recording(seed: number, o: { fault?: boolean; rms: number; seconds?: number }): Float32Array {
  const rng = new Rng(seed);
  const n = Math.round((o.seconds ?? 2) * SR);
  const f0 = 100 * (1 + 0.01 * (rng.next() - 0.5));
  const amps = [0.3, 0.2, 0.15, 0.1, 0.08].map((a) => a * (0.85 + 0.3 * rng.next()));
  const phases = amps.map(() => 2 * Math.PI * rng.next());
  // Fault: 12 partials spread over 1.35-1.65 kHz (a narrow noisy band), random phases.
  const band = o.fault ? Array.from({ length: 12 }, () => [1350 + 300 * rng.next(), 2 * Math.PI * rng.next()]) : [];
  const colour = 0.6 + 0.3 * rng.next(); // one-pole low-pass coefficient of the noise: each recording its own colour
  const x = new Float32Array(n);
  let lp = 0;
  for (let i = 0; i < n; i++) {
    const t = i / SR;
    let v = 0;
    for (let h = 0; h < amps.length; h++) v += amps[h] * Math.sin(2 * Math.PI * f0 * (h + 1) * t + phases[h]);
    lp = colour * lp + (1 - colour) * rng.normal();
    v += 0.25 * lp + 0.02 * rng.normal();
    for (const [f, ph] of band) v += 0.025 * Math.sin(2 * Math.PI * f * t + ph);
    x[i] = v;
  }
  let s = 0;
  for (const v of x) s += v * v;
  const g = o.rms / Math.sqrt(s / n);
  for (let i = 0; i < n; i++) x[i] *= g;
  return x;
}

const dir = mkdtempSync(path.join(tmpdir(), 'nf-audio-equalised-'));
let det: Detector;
const normal: string[] = [];
const faultRecorded: string[] = [];
const faultEqualised: string[] = [];
const labels = [...Array.from({ length: N_TEST }, () => 0), ...Array.from({ length: N_TEST }, () => 1)];

beforeAll(async () => {
  for (const d of ['train', 'normal', 'recorded', 'equalised']) mkdirSync(path.join(dir, d));
  const train: string[] = [];
  for (let i = 0; i < 10; i++) train.push(writeClip(path.join(dir, 'train'), `n${i}.wav`, toInt16(recording(1000 + i, { rms: RMS }))));
  for (let i = 0; i < N_TEST; i++) {
    normal.push(writeClip(path.join(dir, 'normal'), `n${i}.wav`, toInt16(recording(2000 + i, { rms: RMS }))));
    // The same faulty recording 4 dB louder (as recorded) and at the normal RMS (equalised).
    faultRecorded.push(writeClip(path.join(dir, 'recorded'), `a${i}.wav`, toInt16(recording(3000 + i, { fault: true, rms: RMS * 10 ** (4 / 20) }))));
    faultEqualised.push(writeClip(path.join(dir, 'equalised'), `a${i}.wav`, toInt16(recording(3000 + i, { fault: true, rms: RMS }))));
  }
  const config = tinyAudioConfig({ loudness: { mode: 'window', targetDb: -20 } });
  await runAudioTrainJob({ files: train, outDir: path.join(dir, 'model'), config, log: silentLogger });
  det = await Detector.open(path.join(dir, 'model'), { provider: 'cpu', intraOpThreads: 1 }, silentLogger);
}, 300_000);

afterAll(async () => {
  await det?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function scoreAll(files: string[]): Promise<ClipScore[]> {
  const out: ClipScore[] = [];
  for (const f of files) out.push(await scoreClip(f, det));
  return out;
}

/** AUC of the better direction: a level detector may flag louder or quieter clips. */
const eitherWay = (auc: number) => Math.max(auc, 1 - auc);

describe('audio quality: a louder faulty machine, RMS-equalised', () => {
  it('the RMS level separates faults only as recorded; equalised it fails while the combined clip score clears 0.9', async () => {
    const n = await scoreAll(normal);
    const rec = await scoreAll(faultRecorded);
    const eq = await scoreAll(faultEqualised);
    const levelRecorded = eitherWay(aucRoc([...n, ...rec].map((c) => c.levelDb), labels));
    const levelEqualised = eitherWay(aucRoc([...n, ...eq].map((c) => c.levelDb), labels));
    const detRecorded = aucRoc([...n, ...rec].map((c) => c.rank), labels);
    const detEqualised = aucRoc([...n, ...eq].map((c) => c.rank), labels);
    const flaggedClean = n.filter((c) => c.anomaly).length;
    console.log(
      `equalised fault: RMS level AUC ${levelRecorded.toFixed(3)} as recorded, ${levelEqualised.toFixed(3)} equalised; ` +
        `combined clip score ${detRecorded.toFixed(3)} / ${detEqualised.toFixed(3)} (top: ${eq.map((c) => c.stats?.top).join(',')}); ` +
        `clean flagged ${flaggedClean}/${N_TEST}, faults flagged ${eq.filter((c) => c.anomaly).length}/${N_TEST} equalised`,
    );
    expect(levelRecorded).toBeGreaterThanOrEqual(0.99);
    // Equalised, the level carries nothing: every clip within 0.05 dB of the others, and the AUC near chance.
    const eqLevels = [...n, ...eq].map((c) => c.levelDb);
    expect(Math.max(...eqLevels) - Math.min(...eqLevels)).toBeLessThan(0.05);
    expect(levelEqualised).toBeLessThan(0.7);
    expect(detRecorded).toBeGreaterThanOrEqual(0.99);
    expect(detEqualised).toBeGreaterThanOrEqual(0.9);
    expect(detEqualised - levelEqualised).toBeGreaterThanOrEqual(0.3);
    expect(flaggedClean).toBeLessThanOrEqual(1);
  });
});
