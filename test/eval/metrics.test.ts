import { describe, expect, it } from 'vitest';
import {
  aucPr,
  aucRoc,
  bestCompositeEventF1,
  bestF1,
  bestPointAdjustedF1,
  detectionDelays,
  eventF1,
  partialAucRoc,
  pointAdjustedF1,
  runsOf,
  vus,
} from '../../src/eval/metrics.js';
import { InputError } from '../../src/util/errors.js';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

describe('AUC-ROC and AUC-PR', () => {
  // Pairs (positive, negative): 0.8>0.1, 0.8>0.4, 0.35>0.1, 0.35<0.4 -> AUC = 3/4.
  // Thresholds 0.8: P=1 R=1/2; 0.4: P=1/2 R=1/2; 0.35: P=2/3 R=1 -> AP = 1/2·1 + 1/2·2/3 = 5/6.
  const scores = [0.1, 0.4, 0.35, 0.8];
  const labels = [0, 0, 1, 1];

  it('matches hand-computed values', () => {
    expect(aucRoc(scores, labels)).toBeCloseTo(0.75, 12);
    expect(aucPr(scores, labels)).toBeCloseTo(5 / 6, 12);
  });

  it('treats tied scores as one threshold', () => {
    // All tied: one ROC step from (0,0) to (1,1) -> 0.5; one PR point P=1/2 R=1 -> 0.5,
    // whatever order the tied points were in.
    expect(aucRoc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1])).toBe(0.5);
    expect(aucRoc([0.5, 0.5, 0.5, 0.5], [1, 1, 0, 0])).toBe(0.5);
    expect(aucPr([0.5, 0.5, 0.5, 0.5], [1, 1, 0, 0])).toBe(0.5);
    // Positive 1 beats both negatives (2), positive 0.5 ties one (1/2) and beats one (1):
    // AUC = 3.5/4. PR: thr 1 P=1 R=1/2; thr 0.5 P=2/3 R=1 -> AP = 1/2 + 1/3.
    expect(aucRoc([1, 0.5, 0.5, 0], [1, 1, 0, 0])).toBeCloseTo(0.875, 12);
    expect(aucRoc([1, 0.5, 0.5, 0], [1, 0, 1, 0])).toBeCloseTo(0.875, 12);
    expect(aucPr([1, 0.5, 0.5, 0], [1, 0, 1, 0])).toBeCloseTo(5 / 6, 12);
  });

  it('gives about 0.5 for a random scorer', () => {
    const rand = lcg(1);
    const n = 20000;
    const labels = Array.from({ length: n }, () => (rand() < 0.1 ? 1 : 0));
    const scores = Array.from({ length: n }, () => rand());
    expect(Math.abs(aucRoc(scores, labels) - 0.5)).toBeLessThan(0.03);
    const prevalence = labels.reduce<number>((s, l) => s + l, 0) / n;
    expect(Math.abs(aucPr(scores, labels) - prevalence)).toBeLessThan(0.03);
  });

  it('returns NaN without positives and rejects bad input', () => {
    expect(aucRoc([1, 2], [0, 0])).toBeNaN();
    expect(aucPr([1, 2], [0, 0])).toBeNaN();
    expect(() => aucRoc([1, 2], [0])).toThrow(InputError);
    expect(() => aucRoc([1, 2], [0, 2])).toThrow(InputError);
    expect(() => aucRoc([NaN, 2], [0, 1])).toThrow(InputError);
  });
});

describe('partial AUC (scikit-learn max_fpr standardisation)', () => {
  /** Independent check: ROC points by brute force, area by fine trapezoids of the interpolated curve. */
  function referencePartialAuc(scores: number[], labels: number[], maxFpr: number): number {
    const P = labels.filter((l) => l === 1).length;
    const N = labels.length - P;
    const thresholds = [...new Set(scores)].sort((a, b) => b - a);
    const pts: [number, number][] = [[0, 0]];
    for (const t of thresholds) {
      let tp = 0;
      let fp = 0;
      scores.forEach((s, i) => {
        if (s >= t && labels[i]) tp++;
        else if (s >= t) fp++;
      });
      pts.push([fp / N, tp / P]);
    }
    // Upper envelope at each fpr (vertical steps take the top), linear in between.
    const tprAt = (x: number) => {
      let y = 0;
      for (let k = 1; k < pts.length; k++) {
        const [x0, y0] = pts[k - 1];
        const [x1, y1] = pts[k];
        if (x0 === x1 && x0 === x) y = Math.max(y, y1);
        else if (x0 <= x && x < x1) y = Math.max(y, y0 + ((y1 - y0) * (x - x0)) / (x1 - x0));
      }
      return y;
    };
    const steps = 20000;
    let area = 0;
    for (let s = 0; s < steps; s++) {
      const a = (s / steps) * maxFpr;
      const b = ((s + 1) / steps) * maxFpr;
      area += ((b - a) * (tprAt(a + 1e-12) + tprAt(b - 1e-12))) / 2;
    }
    const min = (maxFpr * maxFpr) / 2;
    return 0.5 * (1 + (area - min) / (maxFpr - min));
  }

  it('matches a hand computation', () => {
    // ROC (0,0) (0,.5) (.5,.5) (.5,1) (1,1); up to fpr .5 the area is .5·.5 = .25;
    // McClish: 0.5 (1 + (.25 - .125) / (.5 - .125)) = 2/3.
    expect(partialAucRoc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], 0.5)).toBeCloseTo(2 / 3, 12);
    expect(partialAucRoc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], 1)).toBeCloseTo(0.75, 12);
    // Perfect ranking -> 1; perfectly inverted -> area 0 -> 0.5 (1 - m / (2 - m)).
    expect(partialAucRoc([0, 0, 1, 1], [0, 0, 1, 1], 0.1)).toBeCloseTo(1, 12);
    expect(partialAucRoc([1, 1, 0, 0], [0, 0, 1, 1], 0.1)).toBeCloseTo(0.5 * (1 - 0.1 / 1.9), 12);
  });

  it('matches direct trapezoid integration on random data with ties', () => {
    const rand = lcg(3);
    const n = 300;
    const labels = Array.from({ length: n }, () => (rand() < 0.3 ? 1 : 0));
    const scores = labels.map((l) => Math.round((rand() + 0.4 * l) * 20) / 20);
    for (const maxFpr of [0.05, 0.1, 0.37]) {
      expect(partialAucRoc(scores, labels, maxFpr)).toBeCloseTo(referencePartialAuc(scores, labels, maxFpr), 6);
    }
  });

  it('rejects maxFpr outside (0, 1]', () => {
    expect(() => partialAucRoc([0, 1], [0, 1], 0)).toThrow(InputError);
    expect(() => partialAucRoc([0, 1], [0, 1], 1.5)).toThrow(InputError);
  });
});

describe('best point-wise F1', () => {
  it('picks the best threshold, grouping ties', () => {
    // thr 1: P=1 R=1/2 F1=2/3; thr .5 (both tied points): P=2/3 R=1 F1=.8; thr 0: F1=2/3.
    const best = bestF1([1, 0.5, 0.5, 0], [1, 0, 1, 0]);
    expect(best.threshold).toBe(0.5);
    expect(best.f1).toBeCloseTo(0.8, 12);
    expect(best.precision).toBeCloseTo(2 / 3, 12);
    expect(best.recall).toBe(1);
  });
});

describe('event-wise metrics', () => {
  // Label events [1,2] and [5,7].
  const labels = [0, 1, 1, 0, 0, 1, 1, 1, 0, 0];
  const scores = [0, 0.9, 0, 0.8, 0.8, 0, 0.6, 0, 0.7, 0];

  it('finds maximal runs', () => {
    expect(runsOf(labels)).toEqual([
      { start: 1, end: 2 },
      { start: 5, end: 7 },
    ]);
  });

  it('counts events at a threshold by hand', () => {
    // thr .75 flags 1,3,4: predicted {1},{3,4}; {1} overlaps -> P=1/2; event [1,2] found -> R=1/2.
    const at75 = eventF1(scores, labels, 0.75);
    expect([at75.predictedEvents, at75.truePredictedEvents, at75.detectedEvents]).toEqual([2, 1, 1]);
    expect(at75.precision).toBe(0.5);
    expect(at75.recall).toBe(0.5);
    expect(at75.f1).toBe(0.5);
    // thr .6 adds 6 and 8: predicted {1},{3,4},{6},{8}; two overlap -> P=1/2, R=1, F1=2/3.
    const at60 = eventF1(scores, labels, 0.6);
    expect([at60.predictedEvents, at60.truePredictedEvents, at60.detectedEvents]).toEqual([4, 2, 2]);
    expect(at60.f1).toBeCloseTo(2 / 3, 12);
    // Nothing flagged: precision 0 by convention.
    expect(eventF1(scores, labels, 2).f1).toBe(0);
  });

  it('computes point precision and composite F1 by hand', () => {
    // thr .6 flags 1,3,4,6,8: labelled among them 1 and 6 -> point precision 2/5;
    // event recall 1 -> composite F1 = 2·(2/5)·1 / (2/5 + 1) = 4/7.
    const at60 = eventF1(scores, labels, 0.6);
    expect(at60.pointPrecision).toBeCloseTo(0.4, 12);
    expect(at60.compositeF1).toBeCloseTo(4 / 7, 12);
  });

  it('best composite F1 equals brute force over every distinct score', () => {
    const rand = lcg(11);
    for (let trial = 0; trial < 20; trial++) {
      const n = 60;
      const lab = Array.from({ length: n }, () => 0);
      for (let e = 0; e < 3; e++) {
        const s = Math.floor(rand() * (n - 6));
        lab.fill(1, s, s + 1 + Math.floor(rand() * 5));
      }
      const sc = Array.from({ length: n }, () => Math.round(rand() * 10) / 10);
      const brute = Math.max(...[...new Set(sc)].map((t) => eventF1(sc, lab, t).compositeF1));
      const best = bestCompositeEventF1(sc, lab);
      expect(best.compositeF1).toBeCloseTo(brute, 12);
      // The incremental union-find agrees with direct counting at the chosen threshold.
      expect(best).toEqual(eventF1(sc, lab, best.threshold));
    }
  });

  it('has the documented weakness that flagging everything scores 1', () => {
    const all = eventF1(scores, labels, 0);
    expect([all.predictedEvents, all.precision, all.recall]).toEqual([1, 1, 1]);
    expect(all.f1).toBe(1);
    // The composite score does not fall for it: point precision is 5/10 there, so 2/3.
    // Thresholds .9 (P 1, R 1/2), .8 (1/3, 1/2), .7 (1/4, 1/2), .6 (2/5, 1), 0 (1/2, 1)
    // give 2/3, 2/5, 1/3, 4/7, 2/3: the tie goes to the higher threshold, .9.
    expect(all.compositeF1).toBeCloseTo(2 / 3, 12);
    const best = bestCompositeEventF1(scores, labels);
    expect(best.threshold).toBe(0.9);
    expect(best.compositeF1).toBeCloseTo(2 / 3, 12);
  });

  it('reports detection delay per event, undefined when missed', () => {
    // thr .75: event [1,2] flagged at 1 -> 0; event [5,7] missed.
    expect(detectionDelays(scores, labels, 0.75)).toEqual([0, undefined]);
    // thr .6: event [5,7] first flagged at 6 -> 1.
    expect(detectionDelays(scores, labels, 0.6)).toEqual([0, 1]);
  });
});

describe('point-adjusted F1 inflation', () => {
  it('counts a whole event once any point in it is flagged', () => {
    // thr .85 flags only 1: adjusted TP = 2 (event [1,2]); FP = 0; positives 5 -> P=1 R=2/5.
    const labels = [0, 1, 1, 0, 0, 1, 1, 1, 0, 0];
    const scores = [0, 0.9, 0, 0.8, 0.8, 0, 0.6, 0, 0.7, 0];
    const pa = pointAdjustedF1(scores, labels, 0.85);
    expect(pa.precision).toBe(1);
    expect(pa.recall).toBeCloseTo(0.4, 12);
    const best = bestPointAdjustedF1(scores, labels);
    const brute = Math.max(...[...new Set(scores)].map((t) => pointAdjustedF1(scores, labels, t).f1));
    expect(best.f1).toBeCloseTo(brute, 12);
  });

  it('gives random scores a high PA-F1 but low event F1 and AUC-PR', () => {
    const rand = lcg(5);
    const n = 10000;
    const labels = new Array<number>(n).fill(0);
    for (let e = 0; e < 5; e++) labels.fill(1, 1000 + e * 1800, 1400 + e * 1800);
    const scores = Array.from({ length: n }, () => rand());
    const pa = bestPointAdjustedF1(scores, labels);
    expect(pa.f1).toBeGreaterThan(0.8);
    // At the threshold PA-F1 picks, most predicted events are false alarms (precision
    // about the labelled share of the series, 0.2), so event F1 stays far lower.
    const ev = eventF1(scores, labels, pa.threshold);
    expect(ev.precision).toBeLessThan(0.3);
    expect(ev.f1).toBeLessThan(0.5);
    expect(bestCompositeEventF1(scores, labels).compositeF1).toBeLessThan(0.5);
    expect(aucPr(scores, labels)).toBeLessThan(0.3);
    expect(bestF1(scores, labels).f1).toBeLessThan(0.4);
  });
});

describe('VUS', () => {
  /** A literal port of metricor.RangeAUC_volume_opt (VUS repo): O(L·K·n), for checking only. */
  function referenceVus(label: number[], score: number[], windowSize: number, thre: number) {
    const n = label.length;
    const seq = runsOf(label).map((r) => [r.start, r.end]);
    const P = label.reduce((s, x) => s + x, 0);
    const sorted = [...score].sort((a, b) => b - a);
    const idx = Array.from({ length: thre }, (_, k) => (k === thre - 1 ? n - 1 : Math.trunc(k * ((n - 1) / (thre - 1)))));
    const newSequence = (w: number) => {
      let a = Math.max(seq[0][0] - Math.floor(w / 2), 0);
      const out: number[][] = [];
      for (let i = 0; i < seq.length - 1; i++) {
        if (seq[i][1] + Math.floor(w / 2) < seq[i + 1][0] - Math.floor(w / 2)) {
          out.push([a, seq[i][1] + Math.floor(w / 2)]);
          a = seq[i + 1][0] - Math.floor(w / 2);
        }
      }
      out.push([a, Math.min(seq[seq.length - 1][1] + Math.floor(w / 2), n - 1)]);
      return out;
    };
    const aps: number[] = [];
    const aucs: number[] = [];
    for (let w = 0; w <= windowSize; w++) {
      const lab = label.map(Number);
      for (const [s, e] of seq) {
        for (let x = e + 1; x < Math.min(e + Math.floor(w / 2) + 1, n); x++) lab[x] += Math.sqrt(1 - (x - e) / w);
        for (let x = Math.max(s - Math.floor(w / 2), 0); x < s; x++) lab[x] += Math.sqrt(1 - (s - x) / w);
      }
      for (let i = 0; i < n; i++) lab[i] = Math.min(1, lab[i]);
      const L = newSequence(w);
      const nLabels = lab.reduce((s, x) => s + x, 0);
      const tf: number[][] = [[0, 0]];
      const prec: number[] = [1];
      for (const i of idx) {
        const pred = score.map((s) => (s >= sorted[i] ? 1 : 0));
        const TP = lab.reduce((s, y, k) => s + y * pred[k], 0);
        const nPred = pred.reduce<number>((s, p) => s + p, 0);
        let existence = 0;
        for (const [a, b] of L) {
          let dot = 0;
          for (let k = a; k <= b; k++) dot += lab[k] * pred[k];
          if (dot > 0) existence++;
        }
        const pNew = (P + nLabels) / 2;
        tf.push([Math.min(TP / pNew, 1) * (existence / L.length), (nPred - TP) / (n - pNew)]);
        prec.push(TP / nPred);
      }
      tf.push([1, 1]);
      let auc = 0;
      for (let k = 1; k < tf.length; k++) auc += ((tf[k][1] - tf[k - 1][1]) * (tf[k][0] + tf[k - 1][0])) / 2;
      let ap = 0;
      for (let k = 1; k < tf.length - 1; k++) ap += ((tf[k][0] - tf[k - 1][0]) * (prec[k] + prec[k - 1])) / 2;
      aps.push(ap);
      aucs.push(auc);
    }
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    return { vusPr: mean(aps), vusRoc: mean(aucs) };
  }

  it('is 1 for a perfect detector without buffer', () => {
    // Thresholds 1 (flags the two label points: TPR 1, precision 1) then 0 (all flagged:
    // TPR stays 1). AP = (1 - 0)(1 + 1)/2 = 1.
    const r = vus([0, 0, 1, 1, 0, 0], [0, 0, 1, 1, 0, 0], 0);
    expect(r.vusPr).toBeCloseTo(1, 12);
    expect(r.vusRoc).toBeCloseTo(1, 12);
  });

  it('matches a literal port of the reference on random data', () => {
    const rand = lcg(9);
    for (let trial = 0; trial < 4; trial++) {
      const n = 300;
      const labels = new Array<number>(n).fill(0);
      labels.fill(1, 40, 55);
      labels.fill(1, 60, 62);
      labels.fill(1, 200 + trial * 10, 230 + trial * 10);
      const scores = labels.map((l) => Math.round((rand() + 0.5 * l) * 30) / 30);
      for (const thre of [250, 17]) {
        const mine = vus(scores, labels, 12, { thresholdCount: thre });
        const ref = referenceVus(labels, scores, 12, thre);
        expect(mine.vusPr).toBeCloseTo(ref.vusPr, 10);
        expect(mine.vusRoc).toBeCloseTo(ref.vusRoc, 10);
      }
    }
  });

  it('credits a detection just before the event only once the buffer reaches it', () => {
    // A flag 2 steps before the event scores like a far-away flag while ⌊ℓ/2⌋ < 2
    // (buffers 0..3), and better from buffer 4 on.
    const labels = new Array<number>(100).fill(0).fill(1, 50, 60);
    const early = new Array<number>(100).fill(0);
    early[48] = 1;
    const far = new Array<number>(100).fill(0);
    far[10] = 1;
    const e = vus(early, labels, 6).prByBuffer;
    const f = vus(far, labels, 6).prByBuffer;
    for (let l = 0; l <= 3; l++) expect(e[l]).toBeCloseTo(f[l], 12);
    for (let l = 4; l <= 6; l++) expect(e[l]).toBeGreaterThan(f[l] + 0.01);
  });
});
