/**
 * Trivial window detectors that a detection test must see the model beat. A quality test
 * that one of these also passes does not show the model learned anything: it shows the
 * anomaly was loud. Windows are the project's layout: channel-major, data[c * length + i].
 *
 * Each detector is fitted on normal training windows where it has something to fit (a
 * per-channel centre/scale, the k-NN store), so "trivial" means simple, not uncalibrated.
 */
import { fitKnn, knnScore, robustZScore } from '../../src/eval/baselines.js';

export type WindowScorer = (data: Float32Array) => number;

export interface TrivialDetector {
  name: string;
  /** Fits on normal windows of `channels` channels; returns the scorer (higher = more anomalous). */
  fit(train: readonly Float32Array[], channels: number): WindowScorer;
}

function channelStats(train: readonly Float32Array[], channels: number): { mean: Float64Array; std: Float64Array } {
  const mean = new Float64Array(channels);
  const sq = new Float64Array(channels);
  let n = 0;
  for (const w of train) {
    const len = w.length / channels;
    for (let c = 0; c < channels; c++)
      for (let i = 0; i < len; i++) {
        mean[c] += w[c * len + i];
        sq[c] += w[c * len + i] ** 2;
      }
    n += len;
  }
  const std = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    mean[c] /= n;
    std[c] = Math.sqrt(Math.max(sq[c] / n - mean[c] ** 2, 1e-12));
  }
  return { mean, std };
}

/** Largest |x - mean| / std over the window's steps and channels: catches spikes and level shifts. */
export const windowMaxAbs: TrivialDetector = {
  name: 'window max|x|',
  fit(train, channels) {
    const { mean, std } = channelStats(train, channels);
    return (w) => {
      const len = w.length / channels;
      let worst = 0;
      for (let c = 0; c < channels; c++) for (let i = 0; i < len; i++) worst = Math.max(worst, Math.abs(w[c * len + i] - mean[c]) / std[c]);
      return worst;
    };
  },
};

/** Sum of squared first differences, per channel standardised: catches frequency changes and noise bursts. */
export const firstDifferenceEnergy: TrivialDetector = {
  name: 'first-difference energy',
  fit(train, channels) {
    const energy = (w: Float32Array, c: number) => {
      const len = w.length / channels;
      let e = 0;
      for (let i = 1; i < len; i++) e += (w[c * len + i] - w[c * len + i - 1]) ** 2;
      return e;
    };
    const stats = Array.from({ length: channels }, (_, c) => {
      const es = train.map((w) => energy(w, c));
      const m = es.reduce((a, b) => a + b, 0) / es.length;
      const s = Math.sqrt(es.reduce((a, b) => a + (b - m) ** 2, 0) / es.length) || 1;
      return { m, s };
    });
    // Two-sided: a flattened channel loses energy, a faster one gains it.
    return (w) => Math.max(...stats.map(({ m, s }, c) => Math.abs(energy(w, c) - m) / s));
  },
};

/** Per channel, |window mean - training mean| and |window std - training std| in training-spread units (robust z of the window's level and spread). */
export const robustLevelSpread: TrivialDetector = {
  name: 'robust z (window level and spread)',
  fit(train, channels) {
    const feats = (w: Float32Array) => {
      const len = w.length / channels;
      const out: number[] = [];
      for (let c = 0; c < channels; c++) {
        let m = 0;
        for (let i = 0; i < len; i++) m += w[c * len + i];
        m /= len;
        let v = 0;
        for (let i = 0; i < len; i++) v += (w[c * len + i] - m) ** 2;
        out.push(m, Math.sqrt(v / len));
      }
      return out;
    };
    const all = train.map(feats);
    const F = all[0].length;
    const med: number[] = [];
    const mad: number[] = [];
    for (let f = 0; f < F; f++) {
      const col = all.map((a) => a[f]).sort((a, b) => a - b);
      const m = col[col.length >> 1];
      const dev = col.map((x) => Math.abs(x - m)).sort((a, b) => a - b);
      med.push(m);
      mad.push(Math.max(1.4826 * dev[dev.length >> 1], 1e-6));
    }
    return (w) => {
      const f = feats(w);
      let worst = 0;
      for (let i = 0; i < F; i++) worst = Math.max(worst, Math.abs(f[i] - med[i]) / mad[i]);
      return worst;
    };
  },
};

/** The project's robust z baseline (src/eval/baselines.ts): newest step against the window's own median and MAD. */
export const newestStepRobustZ: TrivialDetector = {
  name: 'robust z, newest step (src/eval/baselines.ts)',
  fit(_train, channels) {
    return (w) => robustZScore(w, channels);
  },
};

/** The project's k-NN baseline (src/eval/baselines.ts): distance to the nearest standardised training window. */
export const nearestTrainingWindow: TrivialDetector = {
  name: 'k-NN (src/eval/baselines.ts)',
  fit(train) {
    const model = fitKnn(train, { k: 1, maxTrain: 2000 });
    return (w) => knnScore(model, w);
  },
};

/** Every time-series trivial detector a detection test must name. */
export const TIME_SERIES_TRIVIAL: TrivialDetector[] = [windowMaxAbs, firstDifferenceEnergy, robustLevelSpread, newestStepRobustZ, nearestTrainingWindow];

/**
 * Audio: Euclidean distance of a clip's (or window's) mean log-mel spectrum to the mean of
 * the training clips' mean spectra. `frames` is one log-mel vector per frame.
 */
export function meanSpectrumDistance(trainClips: readonly (readonly Float32Array[])[]): (frames: readonly Float32Array[]) => number {
  const meanOf = (frames: readonly Float32Array[]) => {
    const m = new Float64Array(frames[0].length);
    for (const f of frames) for (let b = 0; b < m.length; b++) m[b] += f[b] / frames.length;
    return m;
  };
  const centre = new Float64Array(trainClips[0][0].length);
  for (const clip of trainClips) {
    const m = meanOf(clip);
    for (let b = 0; b < centre.length; b++) centre[b] += m[b] / trainClips.length;
  }
  return (frames) => {
    const m = meanOf(frames);
    let d = 0;
    for (let b = 0; b < m.length; b++) d += (m[b] - centre[b]) ** 2;
    return Math.sqrt(d);
  };
}
