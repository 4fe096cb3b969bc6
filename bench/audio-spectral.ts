/**
 * Fifth label-free selection (issue 12, third round; protocol in docs/audio.md): which form
 * of the model-free mean-spectrum statistic to ship. No denoiser is trained: the statistic
 * only needs the log-mel windows. No MIMII test clip (normal 10-19, abnormal) is read.
 *
 *   npm run build && nice -n 10 node dist/bench/audio-spectral.js [data-dir] [--machines N] [--draws N]
 *
 * Development sets:
 *   A. Leave one clip out over the 10 normal training clips (normal/00000000-09): the
 *      reference is the other 9 clips (each cut into 4 parts at the scoring hop, as
 *      training does); the held-out clip is cut into 2.5 s segments, each scored clean and
 *      with `--draws` (2) injections of every kind in bench/audio-inject.ts (equal loudness).
 *   B. Generated machines (bench/audio-machines.ts), ids 0..N−1 (default 6): reference 10
 *      normal 10 s recordings, test 6 normal + 6 of each fault (colour, lowband, harmonic).
 * Candidates: feature variants (mel scale, mel count, fMin, window overlap) × distance
 * (dB; band-standardised; shrunk standardisation; dB after re-referencing to the clip's
 * level; mean per-window dB distance). Every value is turned into a calibrated z the way
 * the product does (leave one recording out within the reference, predictive Student-t),
 * so segments of different folds / machines share one ROC. Level comes from the product's
 * own calibration (fitClipCalibration), for the flag shares of "statistic + level".
 * Criterion: 0.5 · mean AUC over set A's kinds + 0.5 · mean AUC over set B's faults (mean
 * over machines). Rule and margin: docs/audio.md "Fifth run".
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { audioConfigSchema, type AudioSettings } from '../src/features/audio/config.js';
import { AudioWindower } from '../src/features/audio/features.js';
import {
  clipStatistics,
  fitClipCalibration,
  normalQuantileUpper,
  normalUpperTail,
  studentUpperTail,
  windowContribution,
  type WindowContribution,
} from '../src/features/audio/clip-stats.js';
import { cutSegments } from '../src/features/audio/train.js';
import { loadConfigFile } from '../src/config/load.js';
import { aucRoc, partialAucRoc } from '../src/eval/metrics.js';
import { readWav } from '../src/ingest/audio/index.js';
import { Rng } from '../src/util/rng.js';
import { KINDS, inject, type Kind } from './audio-inject.js';
import { MACHINE_FAULTS, machineRecording } from './audio-machines.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', process.argv[1]?.includes('/dist/') ? '..' : '');
const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const positional = args.filter((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1].startsWith('--')));
const dataDir = path.resolve(positional[0] ?? path.resolve(repoRoot, '../shared/data/audio/mimii_fan_id00_0dB'));
const nMachines = Number(flag('--machines') ?? 6);
const draws = Number(flag('--draws') ?? 2);
const SEG_SECONDS = 2.5;
const SEED = 20261203;
const t0 = performance.now();
const el = () => `${((performance.now() - t0) / 1000).toFixed(0)} s`;

// ------------------------------------------------------------------------ candidates

interface FeatureVariant {
  name: string;
  over: Partial<AudioSettings>;
  /** Window hop used for pooling (default the shipped hopFrames). */
  hopFrames?: number;
}
const FEATURES: FeatureVariant[] = [
  { name: 'slaney 128 fMin 0 (shipped)', over: {} },
  { name: 'htk 128 fMin 0', over: { melScale: 'htk' } },
  { name: 'slaney 128 fMin 100', over: { fMin: 100 } },
  { name: 'slaney 64 fMin 0', over: { nMels: 64 } },
  { name: 'htk 64 fMin 0', over: { nMels: 64, melScale: 'htk' } },
  { name: 'slaney 128 fMin 0, windows not overlapping', over: {}, hopFrames: 32 },
  { name: 'htk 128 fMin 0, windows not overlapping', over: { melScale: 'htk' }, hopFrames: 32 },
];
const DISTANCES = ['dB', 'std', 'shrunk', 'dB clip level', 'dB per window'] as const;
type Distance = (typeof DISTANCES)[number];

// ------------------------------------------------------------------------ statistics

type Seg = WindowContribution[];

/** The vector a distance compares: the pooled mean log-mel, or re-referenced to the clip's power level. */
function pooledVector(seg: Seg, d: Distance): Float64Array {
  const M = seg[0].spectrum.length;
  const v = new Float64Array(M);
  let lv = 0;
  let pw = 0;
  for (const c of seg) {
    for (let m = 0; m < M; m++) v[m] += c.spectrum[m];
    lv += 10 * Math.log10(Math.max(c.power, 1e-30));
    pw += c.power;
  }
  // Window loudness: spectrum_w = raw_w + target − L_w, so mean_w raw + target − L_clip adds mean L_w − L_clip.
  const shift = d === 'dB clip level' ? lv / seg.length - 10 * Math.log10(Math.max(pw / seg.length, 1e-30)) : 0;
  for (let m = 0; m < M; m++) v[m] = v[m] / seg.length + shift;
  return v;
}

interface Ref {
  mean: Float64Array;
  sd: Float64Array;
  med2: number;
}
function reference(vs: Float64Array[]): Ref {
  const M = vs[0].length;
  const mean = new Float64Array(M);
  const sd = new Float64Array(M);
  for (const v of vs) for (let m = 0; m < M; m++) mean[m] += v[m] / vs.length;
  for (const v of vs) for (let m = 0; m < M; m++) sd[m] += (v[m] - mean[m]) ** 2 / Math.max(1, vs.length - 1);
  for (let m = 0; m < M; m++) sd[m] = Math.max(Math.sqrt(sd[m]), 1e-5);
  const sorted = Array.from(sd).sort((a, b) => a - b);
  return { mean, sd, med2: sorted[Math.floor(M / 2)] ** 2 };
}

function distance(seg: Seg, vec: Float64Array, r: Ref, d: Distance): number {
  const M = vec.length;
  let s = 0;
  if (d === 'dB per window') {
    for (const c of seg) for (let m = 0; m < M; m++) s += (c.spectrum[m] - r.mean[m]) ** 2 / seg.length;
  } else
    for (let m = 0; m < M; m++) {
      const x = vec[m] - r.mean[m];
      s += d === 'std' ? (x / r.sd[m]) ** 2 : d === 'shrunk' ? (x * x) / (r.sd[m] ** 2 + r.med2) : x * x;
    }
  return Math.log(s / M + 1e-12);
}

/** Calibrated statistic: reference of all segments, spread of leave-one-recording-out distances, predictive t. */
function calibrated(refSegs: Seg[], groups: number[], d: Distance): (seg: Seg) => number {
  const vecs = refSegs.map((s) => pooledVector(s, d));
  const all = reference(vecs);
  const own = refSegs.map((s, i) => distance(s, vecs[i], reference(vecs.filter((_, j) => groups[j] !== groups[i])), d));
  const mu = own.reduce((a, b) => a + b, 0) / own.length;
  const sd = Math.max(Math.sqrt(own.reduce((a, b) => a + (b - mu) ** 2, 0) / (own.length - 1)), 1e-4);
  const g = new Set(groups).size;
  const scale = sd * Math.sqrt(1 + 1 / g);
  return (seg) => normalQuantileUpper(studentUpperTail((distance(seg, pooledVector(seg, d), all, d) - mu) / scale, g - 1));
}

function contributions(audio: Float32Array, sr: number, a: AudioSettings, hopFrames: number | undefined): Seg {
  const w = new AudioWindower(a, { stream: 's', inputRate: sr, hopFrames });
  const none = new Float32Array(0);
  return [...w.push(audio), ...w.flush()].map((x) => windowContribution(x.data, a.nMels, a.frames, x.levelDb ?? Number.NaN, 0, none));
}

/** Reference segments of whole recordings: each cut into 4 parts (as spectralSegments does). */
function referenceSegments(recs: Seg[]): { segs: Seg[]; groups: number[] } {
  const segs: Seg[] = [];
  const groups: number[] = [];
  recs.forEach((cs, g) => {
    for (const s of cutSegments([cs], 4, 2).segments) {
      segs.push(s);
      groups.push(g);
    }
  });
  return { segs, groups };
}

// ------------------------------------------------------------------------ data

const base = await loadConfigFile(audioConfigSchema, path.join(repoRoot, 'config/audio.yaml'));
const settings = FEATURES.map((f) => audioConfigSchema.parse({ ...base, audio: { ...base.audio, ...f.over } }).audio);
const normals = (await readdir(path.join(dataDir, 'normal')))
  .filter((f) => f.endsWith('.wav'))
  .sort()
  .slice(0, 10)
  .map((f) => path.join(dataDir, 'normal', f));
if (normals.length < 10) throw new Error(`expected 10 normal training clips in ${dataDir}/normal`);
const clips = await Promise.all(normals.map((f) => readWav(f, { channel: base.audio.channel })));

/** One scored item: its set, kind, label, group for averaging, and z per candidate and level z. */
interface Item {
  set: 'A' | 'B';
  kind: 'clean' | Kind | (typeof MACHINE_FAULTS)[number];
  label: 0 | 1;
  unit: number;
  z: Map<string, number>;
  level: Map<string, number>;
  product: Map<string, Record<string, number>>;
}
const items: Item[] = [];
const key = (fi: number, d: Distance) => `${FEATURES[fi].name} | ${d}`;

function scoreInto(item: Item, audio: Float32Array, sr: number, refs: { segs: Seg[]; groups: number[]; scorers: Map<string, (s: Seg) => number>; cal: ReturnType<typeof fitClipCalibration> }[]) {
  FEATURES.forEach((f, fi) => {
    const seg = contributions(audio, sr, settings[fi], f.hopFrames);
    for (const d of DISTANCES) item.z.set(key(fi, d), refs[fi].scorers.get(d)!(seg));
    const st = clipStatistics(seg, refs[fi].cal, null);
    item.level.set(FEATURES[fi].name, st.z.level);
    item.product.set(FEATURES[fi].name, st.z);
  });
}

function buildRefs(recordings: { audio: Float32Array; sr: number }[]) {
  return FEATURES.map((f, fi) => {
    const { segs, groups } = referenceSegments(recordings.map((r) => contributions(r.audio, r.sr, settings[fi], f.hopFrames)));
    const scorers = new Map(DISTANCES.map((d) => [d, calibrated(segs, groups, d)] as const));
    const cal = fitClipCalibration(segs, { groups, falseAlarmRate: 0.001, spectral: { segments: segs, groups } });
    return { segs, groups, scorers, cal };
  });
}

// Set A: leave one clip out.
for (let c = 0; c < clips.length; c++) {
  const refs = buildRefs(clips.filter((_, j) => j !== c).map((x) => ({ audio: x.samples, sr: x.sampleRate })));
  const { samples, sampleRate: sr } = clips[c];
  const segLen = Math.round(SEG_SECONDS * sr);
  for (let s = 0; s + segLen <= samples.length; s += segLen) {
    const x = samples.slice(s, s + segLen);
    const clean: Item = { set: 'A', kind: 'clean', label: 0, unit: c, z: new Map(), level: new Map(), product: new Map() };
    scoreInto(clean, x, sr, refs);
    items.push(clean);
    KINDS.forEach((kind, k) => {
      for (let d = 0; d < draws; d++) {
        const { y } = inject(x, sr, kind, new Rng(SEED + 10_007 * c + 101 * (s / segLen) + 11 * k + d));
        const it: Item = { set: 'A', kind, label: 1, unit: c, z: new Map(), level: new Map(), product: new Map() };
        scoreInto(it, y, sr, refs);
        items.push(it);
      }
    });
  }
  process.stderr.write(`[${el()}] A: clip ${c} done\n`);
}

// Set B: generated machines.
const SR = 16000;
for (let id = 0; id < nMachines; id++) {
  const refs = buildRefs(Array.from({ length: 10 }, (_, r) => ({ audio: machineRecording(id, r, { sr: SR, seconds: 10 }), sr: SR })));
  for (let r = 0; r < 6; r++) {
    const clean: Item = { set: 'B', kind: 'clean', label: 0, unit: id, z: new Map(), level: new Map(), product: new Map() };
    scoreInto(clean, machineRecording(id, 100 + r, { sr: SR, seconds: 10 }), SR, refs);
    items.push(clean);
    MACHINE_FAULTS.forEach((fault, fi) => {
      const it: Item = { set: 'B', kind: fault, label: 1, unit: id, z: new Map(), level: new Map(), product: new Map() };
      scoreInto(it, machineRecording(id, 200 + 10 * fi + r, { sr: SR, seconds: 10, fault }), SR, refs);
      items.push(it);
    });
  }
  process.stderr.write(`[${el()}] B: machine ${id} done\n`);
}

// ------------------------------------------------------------------------ table

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
function aucOf(set: 'A' | 'B', kind: string, score: (it: Item) => number, maxFpr = 1): number {
  const units = set === 'A' ? [0] : Array.from({ length: nMachines }, (_, i) => i);
  // Set A: one ROC over all folds (z share one scale); set B: per machine, then the mean.
  return mean(
    units.map((u) => {
      const sel = items.filter((it) => it.set === set && (it.kind === 'clean' || it.kind === kind) && (set === 'A' || it.unit === u));
      const s = sel.map(score);
      const l = sel.map((it) => it.label);
      return maxFpr === 1 ? aucRoc(s, l) : partialAucRoc(s, l, maxFpr);
    }),
  );
}
const NOMINAL = [0.001, 0.01, 0.05];
function flagged(set: 'A' | 'B', score: (it: Item) => number, levelOf: (it: Item) => number, rate: number): string {
  const clean = items.filter((it) => it.set === set && it.label === 0);
  const f = clean.filter((it) => 3 * normalUpperTail(Math.max(score(it), levelOf(it))) <= rate).length;
  return `${((100 * f) / clean.length).toFixed(1)} %`;
}

interface Row {
  name: string;
  fi: number;
  crit: number;
  a: number[];
  b: number[];
  pa: number;
  pb: number;
  flagsA: string;
  flagsB: string;
  order: number;
}
const rows: Row[] = [];
FEATURES.forEach((f, fi) => {
  const cands: { name: string; score: (it: Item) => number }[] = [
    ...DISTANCES.map((d) => ({ name: key(fi, d), score: (it: Item) => it.z.get(key(fi, d))! })),
    ...(['spectrumDb', 'spectrum', 'profile', 'knn'] as const).map((s) => ({ name: `${f.name} | product ${s}`, score: (it: Item) => it.product.get(f.name)![s] })),
  ];
  for (const c of cands) {
    const a = KINDS.map((k) => aucOf('A', k, c.score));
    const b = MACHINE_FAULTS.map((k) => aucOf('B', k, c.score));
    const lv = (it: Item) => it.level.get(f.name)!;
    rows.push({
      name: c.name,
      fi,
      crit: 0.5 * mean(a) + 0.5 * mean(b),
      a,
      b,
      pa: mean(KINDS.map((k) => aucOf('A', k, c.score, 0.1))),
      pb: mean(MACHINE_FAULTS.map((k) => aucOf('B', k, c.score, 0.1))),
      flagsA: NOMINAL.map((r) => flagged('A', c.score, lv, r)).join(' / '),
      flagsB: NOMINAL.map((r) => flagged('B', c.score, lv, r)).join(' / '),
      order: rows.length,
    });
  }
});

const fmt = (v: number) => v.toFixed(3);
const nA = items.filter((i) => i.set === 'A');
const nB = items.filter((i) => i.set === 'B');
console.log(
  `Fifth selection (model-free, development data only): A = leave one clip out over normal 00-09, ${nA.filter((i) => i.label === 0).length} clean + ${nA.length - nA.filter((i) => i.label === 0).length} injected 2.5 s segments; B = ${nMachines} generated machines, ${nB.filter((i) => i.label === 0).length} normal + ${nB.length - nB.filter((i) => i.label === 0).length} faulty 10 s recordings. Criterion = 0.5·mean AUC(A kinds) + 0.5·mean AUC(B faults).\n`,
);
console.log(`| candidate | criterion | ${KINDS.join(' | ')} | ${MACHINE_FAULTS.map((k) => `B ${k}`).join(' | ')} | pAUC A / B | clean A flagged with level at 0.1 / 1 / 5 % | clean B flagged |`);
console.log(`|---|---|${KINDS.map(() => '---|').join('')}${MACHINE_FAULTS.map(() => '---|').join('')}---|---|---|`);
for (const r of rows) console.log(`| ${r.name} | ${fmt(r.crit)} | ${r.a.map(fmt).join(' | ')} | ${r.b.map(fmt).join(' | ')} | ${fmt(r.pa)} / ${fmt(r.pb)} | ${r.flagsA} | ${r.flagsB} |`);
const shipped = rows.find((r) => r.name === key(0, 'dB'))!;
const eligible = rows.filter((r) => !r.name.includes('product') && Number.parseFloat(r.flagsA) <= 5);
const best = eligible.reduce((x, y) => (y.crit > x.crit ? y : x), eligible[0]);
const winner = best && best.crit > shipped.crit + 0.01 ? best : shipped;
console.log(`\nshipped (${shipped.name}) ${fmt(shipped.crit)}; best eligible ${best?.name} ${fmt(best?.crit ?? Number.NaN)}; chosen: ${winner.name}`);
console.log(`total wall ${el()}, node ${process.version}`);
