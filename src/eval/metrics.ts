/**
 * Evaluation metrics over point-wise anomaly scores and 0/1 labels.
 *
 * Every threshold sweep sorts the scores once (descending) and walks groups of equal
 * scores, so tied scores always switch together: a threshold t flags every point with
 * score >= t. Total cost is O(n log n) per metric (O(n log n + L n) for VUS).
 *
 * Undefined metrics (no positive or no negative labels where one is needed) return NaN
 * rather than throwing, so one degenerate series does not abort a whole benchmark run.
 */
import { InputError } from '../util/errors.js';

export type Scores = ArrayLike<number>;
export type Labels = ArrayLike<0 | 1> | ArrayLike<number>;

/** An inclusive run of indices [start, end]. */
export interface IndexRange {
  start: number;
  end: number;
}

export interface ThresholdF1 {
  f1: number;
  precision: number;
  recall: number;
  threshold: number;
}

/**
 * Event-wise scores at one threshold. `f1`, `precision`, `recall` are event-wise;
 * `compositeF1` combines event recall with point-wise precision (Garg et al., IEEE TNNLS
 * 2022), which, unlike event precision, still penalises flagging everything.
 */
export interface EventScores extends ThresholdF1 {
  labelEvents: number;
  detectedEvents: number;
  predictedEvents: number;
  /** Predicted events that overlap at least one label event. */
  truePredictedEvents: number;
  /** Share of flagged points that are labelled anomalous (0 when nothing is flagged). */
  pointPrecision: number;
  compositeF1: number;
}

function validate(scores: Scores, labels: Labels): number {
  if (scores.length !== labels.length) {
    throw new InputError(`scores (${scores.length}) and labels (${labels.length}) differ in length`);
  }
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (l !== 0 && l !== 1) throw new InputError(`label at index ${i} is ${l}, expected 0 or 1`);
    if (Number.isNaN(scores[i])) throw new InputError(`score at index ${i} is NaN`);
  }
  return scores.length;
}

/** Indices sorted by score, highest first. */
function descendingOrder(scores: Scores): Uint32Array {
  const order = new Uint32Array(scores.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  order.sort((a, b) => scores[b] - scores[a]);
  return order;
}

/**
 * Cumulative true/false positive counts at each distinct score, highest first: at
 * thresholds[k], points with score >= thresholds[k] are flagged and tps[k]/fps[k] count them.
 */
interface Curve {
  thresholds: number[];
  tps: number[];
  fps: number[];
  positives: number;
  negatives: number;
}

function cumulativeCurve(scores: Scores, labels: Labels): Curve {
  const n = validate(scores, labels);
  const order = descendingOrder(scores);
  const thresholds: number[] = [];
  const tps: number[] = [];
  const fps: number[] = [];
  let tp = 0;
  let fp = 0;
  for (let j = 0; j < n; j++) {
    const i = order[j];
    if (labels[i] === 1) tp++;
    else fp++;
    if (j === n - 1 || scores[order[j + 1]] !== scores[i]) {
      thresholds.push(scores[i]);
      tps.push(tp);
      fps.push(fp);
    }
  }
  return { thresholds, tps, fps, positives: tp, negatives: fp };
}

/** Area under the ROC curve (trapezoids between distinct thresholds, as scikit-learn). */
export function aucRoc(scores: Scores, labels: Labels): number {
  const c = cumulativeCurve(scores, labels);
  if (c.positives === 0 || c.negatives === 0) return NaN;
  let area = 0;
  let prevTpr = 0;
  let prevFpr = 0;
  for (let k = 0; k < c.thresholds.length; k++) {
    const tpr = c.tps[k] / c.positives;
    const fpr = c.fps[k] / c.negatives;
    area += ((fpr - prevFpr) * (tpr + prevTpr)) / 2;
    prevTpr = tpr;
    prevFpr = fpr;
  }
  return area;
}

/**
 * Average precision as scikit-learn's `average_precision_score`: the step sum
 * Σ_k (R_k - R_{k-1}) P_k over distinct thresholds, no interpolation.
 */
export function aucPr(scores: Scores, labels: Labels): number {
  const c = cumulativeCurve(scores, labels);
  if (c.positives === 0) return NaN;
  let ap = 0;
  let prevRecall = 0;
  for (let k = 0; k < c.thresholds.length; k++) {
    const recall = c.tps[k] / c.positives;
    const precision = c.tps[k] / (c.tps[k] + c.fps[k]);
    ap += (recall - prevRecall) * precision;
    prevRecall = recall;
  }
  return ap;
}

/**
 * Partial ROC AUC for FPR in [0, maxFpr], standardised with the McClish correction
 * exactly as scikit-learn's `roc_auc_score(max_fpr=...)`: the curve is cut at maxFpr by
 * linear interpolation, its area A is mapped to 0.5 * (1 + (A - maxFpr²/2) / (maxFpr -
 * maxFpr²/2)), so a random scorer gets 0.5 and a perfect one 1. maxFpr = 1 is plain AUC.
 */
export function partialAucRoc(scores: Scores, labels: Labels, maxFpr: number): number {
  if (!(maxFpr > 0 && maxFpr <= 1)) throw new InputError(`maxFpr must be in (0, 1], got ${maxFpr}`);
  if (maxFpr === 1) return aucRoc(scores, labels);
  const c = cumulativeCurve(scores, labels);
  if (c.positives === 0 || c.negatives === 0) return NaN;
  const fpr = [0, ...c.fps.map((f) => f / c.negatives)];
  const tpr = [0, ...c.tps.map((t) => t / c.positives)];
  // First point with fpr > maxFpr (numpy searchsorted 'right'); it exists since fpr ends at 1.
  let stop = 0;
  while (stop < fpr.length && fpr[stop] <= maxFpr) stop++;
  const x0 = fpr[stop - 1];
  const x1 = fpr[stop];
  const yCut = tpr[stop - 1] + ((tpr[stop] - tpr[stop - 1]) * (maxFpr - x0)) / (x1 - x0);
  let area = 0;
  for (let k = 1; k < stop; k++) area += ((fpr[k] - fpr[k - 1]) * (tpr[k] + tpr[k - 1])) / 2;
  area += ((maxFpr - x0) * (yCut + tpr[stop - 1])) / 2;
  const minArea = 0.5 * maxFpr * maxFpr;
  const maxArea = maxFpr;
  return 0.5 * (1 + (area - minArea) / (maxArea - minArea));
}

function f1Of(precision: number, recall: number): number {
  return precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
}

/** Best point-wise F1 over all thresholds (ties in F1 go to the higher threshold). */
export function bestF1(scores: Scores, labels: Labels): ThresholdF1 {
  const c = cumulativeCurve(scores, labels);
  let best: ThresholdF1 = { f1: 0, precision: 0, recall: 0, threshold: Infinity };
  if (c.positives === 0) return { ...best, f1: NaN };
  for (let k = 0; k < c.thresholds.length; k++) {
    const precision = c.tps[k] / (c.tps[k] + c.fps[k]);
    const recall = c.tps[k] / c.positives;
    const f1 = f1Of(precision, recall);
    if (f1 > best.f1) best = { f1, precision, recall, threshold: c.thresholds[k] };
  }
  return best;
}

/** Maximal runs of 1s (or of truthy values). */
export function runsOf(flags: ArrayLike<number | boolean>): IndexRange[] {
  const out: IndexRange[] = [];
  let start = -1;
  for (let i = 0; i < flags.length; i++) {
    if (flags[i]) {
      if (start < 0) start = i;
    } else if (start >= 0) {
      out.push({ start, end: i - 1 });
      start = -1;
    }
  }
  if (start >= 0) out.push({ start, end: flags.length - 1 });
  return out;
}

function eventIndex(labels: Labels, events: IndexRange[]): Int32Array {
  const of = new Int32Array(labels.length).fill(-1);
  events.forEach((e, k) => of.fill(k, e.start, e.end + 1));
  return of;
}

/**
 * Event-wise precision/recall/F1 at a threshold. Label events are maximal runs of 1s;
 * predicted events are maximal runs of points with score >= threshold. Recall: label
 * events containing at least one flagged point. Precision: predicted events overlapping
 * at least one label event (0 when nothing is predicted).
 *
 * Caution: flagging every point makes one predicted event that overlaps every label
 * event, so event precision = recall = 1. Maximising this F1 over thresholds therefore
 * always ends at the lowest threshold with F1 = 1; use `bestCompositeEventF1` to choose
 * a threshold, and this function at thresholds chosen without labels.
 */
export function eventF1(scores: Scores, labels: Labels, threshold: number): EventScores {
  validate(scores, labels);
  const flags = Array.from({ length: scores.length }, (_, i) => scores[i] >= threshold);
  const labelEvents = runsOf(labels);
  const predicted = runsOf(flags);
  let detectedEvents = 0;
  for (const e of labelEvents) {
    for (let i = e.start; i <= e.end; i++) {
      if (flags[i]) {
        detectedEvents++;
        break;
      }
    }
  }
  let truePredictedEvents = 0;
  for (const p of predicted) {
    for (let i = p.start; i <= p.end; i++) {
      if (labels[i] === 1) {
        truePredictedEvents++;
        break;
      }
    }
  }
  let flagged = 0;
  let flaggedPositive = 0;
  for (let i = 0; i < flags.length; i++) {
    if (flags[i]) {
      flagged++;
      flaggedPositive += labels[i];
    }
  }
  return eventScores(threshold, labelEvents.length, detectedEvents, predicted.length, truePredictedEvents, flagged, flaggedPositive);
}

function eventScores(
  threshold: number,
  labelEvents: number,
  detectedEvents: number,
  predictedEvents: number,
  truePredictedEvents: number,
  flagged: number,
  flaggedPositive: number,
): EventScores {
  const recall = labelEvents ? detectedEvents / labelEvents : NaN;
  const precision = predictedEvents ? truePredictedEvents / predictedEvents : 0;
  const pointPrecision = flagged ? flaggedPositive / flagged : 0;
  return {
    f1: labelEvents ? f1Of(precision, recall) : NaN,
    precision,
    recall,
    threshold,
    labelEvents,
    detectedEvents,
    predictedEvents,
    truePredictedEvents,
    pointPrecision,
    compositeF1: labelEvents ? f1Of(pointPrecision, recall) : NaN,
  };
}

/**
 * The threshold maximising the composite F1 (event recall with point precision; see
 * `EventScores`), with every event-wise score at that threshold. Ties go to the higher
 * threshold. Lowering the threshold only adds flagged points, so predicted events are
 * kept with a union-find over flagged runs: each new point opens a run, merges with
 * flagged neighbours and carries whether its run touches a label event.
 */
export function bestCompositeEventF1(scores: Scores, labels: Labels): EventScores {
  const n = validate(scores, labels);
  const labelEvents = runsOf(labels);
  let best = eventScores(Infinity, labelEvents.length, 0, 0, 0, 0, 0);
  if (!labelEvents.length) return best;
  const eventOf = eventIndex(labels, labelEvents);
  const detected = new Uint8Array(labelEvents.length);
  const flagged = new Uint8Array(n);
  const parent = new Int32Array(n);
  const touches = new Uint8Array(n);
  const find = (x: number): number => {
    while (parent[x] !== x) {
      parent[x] = parent[parent[x]];
      x = parent[x];
    }
    return x;
  };
  let predictedEvents = 0;
  let truePredictedEvents = 0;
  let detectedEvents = 0;
  let flaggedPositive = 0;
  const order = descendingOrder(scores);
  for (let j = 0; j < n; j++) {
    const i = order[j];
    flagged[i] = 1;
    parent[i] = i;
    touches[i] = labels[i] === 1 ? 1 : 0;
    flaggedPositive += touches[i];
    predictedEvents++;
    truePredictedEvents += touches[i];
    for (const nb of [i - 1, i + 1]) {
      if (nb < 0 || nb >= n || !flagged[nb]) continue;
      const a = find(i);
      const b = find(nb);
      if (a === b) continue;
      truePredictedEvents -= touches[a] + touches[b];
      parent[b] = a;
      touches[a] = touches[a] | touches[b];
      truePredictedEvents += touches[a];
      predictedEvents--;
    }
    const e = eventOf[i];
    if (e >= 0 && !detected[e]) {
      detected[e] = 1;
      detectedEvents++;
    }
    if (j === n - 1 || scores[order[j + 1]] !== scores[i]) {
      const here = eventScores(scores[i], labelEvents.length, detectedEvents, predictedEvents, truePredictedEvents, j + 1, flaggedPositive);
      if (here.compositeF1 > best.compositeF1) best = here;
    }
  }
  return best;
}

/**
 * Detection delay per label event at a threshold: steps from the event's first point to
 * its first flagged point, or undefined when the event is missed.
 */
export function detectionDelays(scores: Scores, labels: Labels, threshold: number): (number | undefined)[] {
  validate(scores, labels);
  return runsOf(labels).map((e) => {
    for (let i = e.start; i <= e.end; i++) if (scores[i] >= threshold) return i - e.start;
    return undefined;
  });
}

/**
 * Point-adjusted F1 at a threshold. WARNING: this metric inflates results and is
 * reported only for comparison with papers that use it. If any point of a label event is
 * flagged, every point of that event counts as a true positive, so a single lucky flag in
 * a long event earns the whole event; random scores reach high values on data with long
 * events. Prefer `bestCompositeEventF1`, `aucPr` or `vus`.
 */
export function pointAdjustedF1(scores: Scores, labels: Labels, threshold: number): ThresholdF1 {
  validate(scores, labels);
  let tp = 0;
  let fp = 0;
  let positives = 0;
  for (const e of runsOf(labels)) {
    const len = e.end - e.start + 1;
    positives += len;
    for (let i = e.start; i <= e.end; i++) {
      if (scores[i] >= threshold) {
        tp += len;
        break;
      }
    }
  }
  for (let i = 0; i < scores.length; i++) if (labels[i] === 0 && scores[i] >= threshold) fp++;
  const precision = tp + fp ? tp / (tp + fp) : 0;
  const recall = positives ? tp / positives : NaN;
  return { f1: positives ? f1Of(precision, recall) : NaN, precision, recall, threshold };
}

/** Best point-adjusted F1 over thresholds. Inflated like `pointAdjustedF1`; see there. */
export function bestPointAdjustedF1(scores: Scores, labels: Labels): ThresholdF1 {
  const n = validate(scores, labels);
  const events = runsOf(labels);
  const positives = events.reduce((s, e) => s + e.end - e.start + 1, 0);
  if (!positives) return { f1: NaN, precision: 0, recall: 0, threshold: Infinity };
  const eventOf = eventIndex(labels, events);
  const detected = new Uint8Array(events.length);
  const order = descendingOrder(scores);
  let tp = 0;
  let fp = 0;
  let best: ThresholdF1 = { f1: 0, precision: 0, recall: 0, threshold: Infinity };
  for (let j = 0; j < n; j++) {
    const i = order[j];
    const e = eventOf[i];
    if (e < 0) fp++;
    else if (!detected[e]) {
      detected[e] = 1;
      tp += events[e].end - events[e].start + 1;
    }
    if (j === n - 1 || scores[order[j + 1]] !== scores[i]) {
      const precision = tp / (tp + fp);
      const recall = tp / positives;
      const f1 = f1Of(precision, recall);
      if (f1 > best.f1) best = { f1, precision, recall, threshold: scores[i] };
    }
  }
  return best;
}

export interface VusOptions {
  /** Thresholds sampled from the sorted scores, as the reference's `thre` (default 250). */
  thresholdCount?: number;
}

export interface VusResult {
  vusPr: number;
  vusRoc: number;
  /** Range-AUC-PR for each buffer length 0..maxBuffer. */
  prByBuffer: number[];
  rocByBuffer: number[];
}

/**
 * Volume under the range-based PR and ROC surfaces (Paparrizos et al., VLDB 2022),
 * following `metricor.RangeAUC_volume_opt` of the reference VUS / TSB-UAD code.
 *
 * For each buffer length ℓ = 0..L (L = maxBuffer):
 * - Soft labels: 1 inside label ranges; for a range [s, e], points at distance
 *   d = 1..⌊ℓ/2⌋ before s or after e get sqrt(1 - d/ℓ) (summed where extensions meet,
 *   capped at 1).
 * - Extended ranges: label ranges widened by ⌊ℓ/2⌋ on both sides, merged when they meet.
 * - At each threshold t (flag: score >= t), with soft labels y and flags p:
 *   TP = Σ y·p, Npred = Σ p, P = Σ original labels, P' = (P + Σ y) / 2,
 *   existence = share of extended ranges containing a flag,
 *   TPR = min(TP / P', 1) · existence, FPR = (Npred - TP) / (n - P'), precision = TP / Npred.
 * - Range-AUC-PR(ℓ) = Σ_k (TPR_k - TPR_{k-1}) (prec_k + prec_{k-1}) / 2 starting from
 *   (TPR, prec) = (0, 1); Range-AUC-ROC(ℓ) = trapezoids from (0, 0) to a final (1, 1).
 * VUS-PR / VUS-ROC are the means over ℓ.
 *
 * Like the reference, thresholds are the scores at positions trunc(k (n-1) / (K-1)),
 * k = 0..K-1, of the descending sort (K = thresholdCount), so values match it. Our only
 * change is speed: scores are sorted once and flags accumulated across thresholds, giving
 * O(n log n + L n) instead of O(L K n).
 */
export function vus(scores: Scores, labels: Labels, maxBuffer: number, options: VusOptions = {}): VusResult {
  const n = validate(scores, labels);
  if (!Number.isInteger(maxBuffer) || maxBuffer < 0) throw new InputError(`maxBuffer must be a non-negative integer, got ${maxBuffer}`);
  const thresholdCount = options.thresholdCount ?? 250;
  if (!Number.isInteger(thresholdCount) || thresholdCount < 2) throw new InputError(`thresholdCount must be an integer >= 2`);
  const ranges = runsOf(labels);
  const nan: VusResult = { vusPr: NaN, vusRoc: NaN, prByBuffer: [], rocByBuffer: [] };
  if (!ranges.length || n === 0) return nan;

  const order = descendingOrder(scores);
  // numpy's linspace(0, n-1, K).astype(int): k * step truncated, last exactly n-1.
  const step = (n - 1) / (thresholdCount - 1);
  const positions = Array.from({ length: thresholdCount }, (_, k) => (k === thresholdCount - 1 ? n - 1 : Math.trunc(k * step)));
  let positives = 0;
  for (let i = 0; i < n; i++) positives += labels[i];

  const prByBuffer: number[] = [];
  const rocByBuffer: number[] = [];
  const soft = new Float64Array(n);
  const rangeOf = new Int32Array(n);
  for (let buffer = 0; buffer <= maxBuffer; buffer++) {
    const half = Math.floor(buffer / 2);
    for (let i = 0; i < n; i++) soft[i] = labels[i];
    for (const { start, end } of ranges) {
      for (let x = end + 1; x <= Math.min(end + half, n - 1); x++) soft[x] += Math.sqrt(1 - (x - end) / buffer);
      for (let x = Math.max(start - half, 0); x < start; x++) soft[x] += Math.sqrt(1 - (start - x) / buffer);
    }
    let softSum = 0;
    for (let i = 0; i < n; i++) {
      if (soft[i] > 1) soft[i] = 1;
      softSum += soft[i];
    }

    rangeOf.fill(-1);
    let extended = 0;
    let a = Math.max(ranges[0].start - half, 0);
    for (let r = 0; r < ranges.length; r++) {
      const last = r === ranges.length - 1;
      if (last || ranges[r].end + half < ranges[r + 1].start - half) {
        const b = last ? Math.min(ranges[r].end + half, n - 1) : ranges[r].end + half;
        rangeOf.fill(extended, a, b + 1);
        extended++;
        if (!last) a = ranges[r + 1].start - half;
      }
    }

    const pNew = (positives + softSum) / 2;
    const nNew = n - pNew;
    const hit = new Uint8Array(extended);
    let existing = 0;
    let tp = 0;
    let flaggedCount = 0;
    let cursor = 0;
    let prevTpr = 0;
    let prevFpr = 0;
    let prevPrec = 1;
    let ap = 0;
    let roc = 0;
    for (const pos of positions) {
      const threshold = scores[order[pos]];
      while (cursor < n && scores[order[cursor]] >= threshold) {
        const i = order[cursor++];
        tp += soft[i];
        flaggedCount++;
        const r = rangeOf[i];
        if (r >= 0 && soft[i] > 0 && !hit[r]) {
          hit[r] = 1;
          existing++;
        }
      }
      const tpr = Math.min(tp / pNew, 1) * (existing / extended);
      const fpr = (flaggedCount - tp) / nNew;
      const precision = tp / flaggedCount;
      ap += ((tpr - prevTpr) * (precision + prevPrec)) / 2;
      roc += ((fpr - prevFpr) * (tpr + prevTpr)) / 2;
      prevTpr = tpr;
      prevFpr = fpr;
      prevPrec = precision;
    }
    roc += ((1 - prevFpr) * (1 + prevTpr)) / 2;
    prByBuffer.push(ap);
    rocByBuffer.push(roc);
  }
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  return { vusPr: mean(prByBuffer), vusRoc: mean(rocByBuffer), prByBuffer, rocByBuffer };
}

/** VUS-PR alone; see `vus`. */
export function vusPr(scores: Scores, labels: Labels, maxBuffer: number, options: VusOptions = {}): number {
  return vus(scores, labels, maxBuffer, options).vusPr;
}
