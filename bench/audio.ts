/**
 * Audio feature benchmark: real-time factor (seconds of audio processed per second of
 * compute) for offline and streaming log-mel extraction, 16 kHz mono, on the MIMII clips.
 *
 *   npx tsx bench/audio.ts [dir-of-wavs] [--model <audio-model-dir>] [--threads N]
 *
 * Default directory: ../shared/data/audio/mimii_fan_id00_0dB/normal. Not a test: prints
 * figures only. Progress goes to stderr, the results table to stdout.
 *
 * (d)/(e) are the audio model pipeline with config/audio.yaml: model windows (features +
 * loudness + windowing) and clip scoring (features + ORT denoiser, partial noising + DDIM).
 * Without --model a model with the default settings is trained for 2 epochs on the first
 * clips (scoring cost does not depend on how well it is trained).
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Resampler,
  StreamingContextStacker,
  StreamingLogMel,
  logMelSpectrogram,
  readWav,
  readWavChunks,
  stackContext,
} from '../src/ingest/audio/index.js';
import { audioConfigSchema } from '../src/features/audio/config.js';
import { AudioWindower } from '../src/features/audio/features.js';
import { audioSettingsOf, scoreClip } from '../src/features/audio/score.js';
import { runAudioTrainJob } from '../src/features/audio/train.js';
import { loadConfigFile } from '../src/config/load.js';
import { Detector } from '../src/scoring/detector.js';
import { silentLogger } from '../src/util/log.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cliArgs = process.argv.slice(2);
const modelFlag = cliArgs.indexOf('--model');
const modelArg = modelFlag >= 0 ? cliArgs[modelFlag + 1] : undefined;
const threadsFlag = cliArgs.indexOf('--threads');
/** ORT intra-op threads for (e)/(e2): 0 = ORT's default (all cores); 1 = the one-core real-time factor. */
const threads = threadsFlag >= 0 ? Number(cliArgs[threadsFlag + 1]) : 0;
const dirArg = cliArgs.find((a, i) => !a.startsWith('--') && (i === 0 || (cliArgs[i - 1] !== '--model' && cliArgs[i - 1] !== '--threads')));
const dir = path.resolve(dirArg ?? path.resolve(repoRoot, '../shared/data/audio/mimii_fan_id00_0dB/normal'));
const N_FFT = 1024;
const HOP = 512;
const N_MELS = 128;
const CONTEXT = 5;
const STREAM_CHUNK = 1600; // 100 ms at 16 kHz
/** Passes over the clips per stage, so the timed work is long enough to measure. */
const PASSES = Number(process.env.BENCH_PASSES ?? 3);

const files = readdirSync(dir)
  .filter((f) => f.toLowerCase().endsWith('.wav'))
  .sort()
  .map((f) => path.join(dir, f));
if (files.length === 0) {
  console.error(`no .wav files in ${dir}`);
  process.exit(1);
}

function progress(stage: string, i: number, total = files.length): void {
  process.stderr.write(`\r${stage}: ${i}/${total}`);
  if (i === total) process.stderr.write('\n');
}

const clips: Float32Array[] = [];
let sampleRate = 0;
const t0 = performance.now();
for (const [i, f] of files.entries()) {
  const w = await readWav(f, { channel: 0 });
  if (sampleRate && w.sampleRate !== sampleRate) throw new Error(`${f}: ${w.sampleRate} Hz, expected ${sampleRate}`);
  sampleRate = w.sampleRate;
  clips.push(w.samples);
  progress('read', i + 1);
}
const readSec = (performance.now() - t0) / 1000;
const audioSec = clips.reduce((a, c) => a + c.length, 0) / sampleRate;
const opts = { sampleRate, nFft: N_FFT, hop: HOP, nMels: N_MELS };

// Warm up the JIT on one clip so the first timed file is not an outlier.
logMelSpectrogram(clips[0], { ...opts, center: true });
new StreamingLogMel(opts).push(clips[0]);

let frames = 0;
let t = performance.now();
for (let p = 0; p < PASSES; p++) {
  for (const [i, c] of clips.entries()) {
    const m = logMelSpectrogram(c, { ...opts, center: true });
    frames += stackContext(m, CONTEXT).nFrames;
    progress('offline', p * clips.length + i + 1, PASSES * clips.length);
  }
}
const offlineSec = (performance.now() - t) / 1000;

let streamFrames = 0;
t = performance.now();
for (let p = 0; p < PASSES; p++) {
  for (const [i, c] of clips.entries()) {
    const s = new StreamingLogMel(opts);
    const st = new StreamingContextStacker(N_MELS, CONTEXT);
    for (let j = 0; j < c.length; j += STREAM_CHUNK) streamFrames += st.push(s.push(c.subarray(j, j + STREAM_CHUNK))).nFrames;
    progress('streaming', p * clips.length + i + 1, PASSES * clips.length);
  }
}
const streamSec = (performance.now() - t) / 1000;

t = performance.now();
for (let p = 0; p < PASSES; p++) {
  for (const [i, f] of files.entries()) {
    const s = new StreamingLogMel(opts);
    for await (const chunk of readWavChunks(f, { channel: 0, chunkFrames: STREAM_CHUNK })) s.push(chunk);
    progress('streaming+file', p * files.length + i + 1, PASSES * files.length);
  }
}
const streamFileSec = (performance.now() - t) / 1000;

// Resampling 44.1 kHz -> 16 kHz on the same amount of (synthetic) audio, 100 ms chunks.
const n44 = Math.round(10 * 44100);
const x44 = new Float32Array(n44);
for (let i = 0; i < n44; i++) x44[i] = 0.3 * Math.sin((2 * Math.PI * 1000 * i) / 44100) + 0.1 * Math.sin(i * 0.37);
t = performance.now();
for (let k = 0; k < files.length; k++) {
  const r = new Resampler(44100, 16000);
  for (let j = 0; j < n44; j += 4410) r.push(x44.subarray(j, j + 4410));
  r.flush();
  progress('resample', k + 1);
}
const resampleSec = (performance.now() - t) / 1000;
const resampleAudio = (files.length * n44) / 44100;

// (d) model windows with the default audio settings, 100 ms pushes.
const audioCfg = await loadConfigFile(audioConfigSchema, path.join(repoRoot, 'config/audio.yaml'));
let modelWindows = 0;
t = performance.now();
for (let p = 0; p < PASSES; p++) {
  for (const [i, c] of clips.entries()) {
    const w = new AudioWindower(audioCfg.audio, { stream: 's', inputRate: sampleRate });
    for (let j = 0; j < c.length; j += STREAM_CHUNK) modelWindows += w.push(c.subarray(j, j + STREAM_CHUNK)).length;
    progress('model windows', p * clips.length + i + 1, PASSES * clips.length);
  }
}
const windowSec = (performance.now() - t) / 1000;

// (e) clip scoring with the default audio model: WAV read + features + ORT scoring.
let tmpModel: string | null = null;
let modelDir = modelArg;
if (!modelDir) {
  tmpModel = mkdtempSync(path.join(tmpdir(), 'nf-bench-audio-'));
  modelDir = path.join(tmpModel, 'model');
  process.stderr.write('training a 2-epoch model with config/audio.yaml for the scoring figures...\n');
  const quick = structuredClone(audioCfg);
  quick.train.epochs = 2;
  await runAudioTrainJob({ files: files.slice(0, 3), outDir: modelDir, config: quick, log: silentLogger });
}
const det = await Detector.open(modelDir, { provider: 'cpu', intraOpThreads: threads }, silentLogger);
const scoringSettings = audioSettingsOf(det);
await scoreClip(files[0], det); // warm-up
let scoredWindows = 0;
t = performance.now();
for (const [i, f] of files.entries()) {
  scoredWindows += (await scoreClip(f, det)).windows;
  progress('score clips', i + 1);
}
const scoreSec = (performance.now() - t) / 1000;
// Detector alone on windows made beforehand (the daemon's share once windows exist).
const pre = [];
for (const c of clips.slice(0, 5)) {
  const w = new AudioWindower(scoringSettings, { stream: 's', inputRate: sampleRate });
  pre.push(...w.push(c), ...w.flush());
}
t = performance.now();
for (let i = 0; i < pre.length; i += 256) await det.score(pre.slice(i, i + 256));
const detSec = (performance.now() - t) / 1000;
const detAudio = clips.slice(0, 5).reduce((a, c) => a + c.length, 0) / sampleRate;
await det.close();
if (tmpModel) rmSync(tmpModel, { recursive: true, force: true });
const sc = det.scorer.params;

const row = (name: string, audio: number, wall: number) =>
  console.log(`${name.padEnd(58)} audio ${audio.toFixed(1).padStart(7)} s  wall ${wall.toFixed(3).padStart(7)} s  RTF ${(audio / wall).toFixed(0).padStart(6)}x`);
console.log(`dir ${dir}`);
console.log(
  `files ${files.length}, ${sampleRate} Hz mono (channel 0), n_fft ${N_FFT}, hop ${HOP}, mels ${N_MELS}, context ${CONTEXT}, ` +
    `total audio ${audioSec.toFixed(1)} s x ${PASSES} passes, streaming pushes ${STREAM_CHUNK} samples, node ${process.version}`,
);
row('read WAV (readWav)', audioSec, readSec);
row(`(a) offline log-mel, centred, + stack (${frames / PASSES} vec/pass)`, PASSES * audioSec, offlineSec);
row(`(b) streaming log-mel + stack (${streamFrames / PASSES} vec/pass)`, PASSES * audioSec, streamSec);
row('(b2) streaming log-mel incl. readWavChunks', PASSES * audioSec, streamFileSec);
row('(c) resample 44.1k -> 16k, streaming', resampleAudio, resampleSec);
const a = audioCfg.audio;
console.log(
  `audio model: [${a.nMels} mels x ${a.frames} frames] windows every ${a.hopFrames} frames, loudness ${a.loudness.mode}; ` +
    `scoring ${sc.mode} t0 ${sc.t0} steps ${sc.steps} samples ${sc.samples}, ORT cpu, ${det.model.spec.arch} dim ${det.model.spec.dim} depth ${det.model.spec.depth}`,
);
row(`(d) model windows (log-mel + loudness + windowing, ${modelWindows / PASSES} win/pass)`, PASSES * audioSec, windowSec);
row(`(e) score clips: read + features + denoiser (${scoredWindows} windows)`, audioSec, scoreSec);
row(`(e2) denoiser scoring only, precomputed windows (${pre.length})`, detAudio, detSec);
