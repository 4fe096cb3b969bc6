/**
 * Audio `score` as a new user meets it (issue 15.7, 15.9): a broken WAV in a glob, a
 * scoring override the calibration was not fitted for, --report on an audio model.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliPath } from '../support/core.js';
import { machineClip, toInt16, writeClip } from '../support/audio-clips.js';

const dir = mkdtempSync(path.join(tmpdir(), 'nf-audio-newuser-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const model = path.join(dir, 'model');

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [cliPath, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, NOISEFLOOR_LOG_LEVEL: 'warn' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  for (const d of ['train', 'test']) mkdirSync(path.join(dir, d), { recursive: true });
  for (let i = 0; i < 4; i++) writeClip(path.join(dir, 'train'), `n${i}.wav`, toInt16(machineClip({ seed: 10 + i, rms: 0.05 })));
  for (let i = 0; i < 3; i++) writeClip(path.join(dir, 'test'), `c${i}.wav`, toInt16(machineClip({ seed: 20 + i, rms: 0.05 })));
  // A clip cut off mid-header, as an interrupted copy leaves it.
  writeFileSync(path.join(dir, 'test/c1-broken.wav'), readFileSync(path.join(dir, 'test/c1.wav')).subarray(0, 30));
  writeFileSync(
    path.join(dir, 'audio.yaml'),
    `audio: { sampleRate: 8000, channel: 0, nFft: 256, hop: 128, nMels: 16, frames: 8, hopFrames: 4, trainHopFrames: 1 }
model: { arch: mixer, patch: 2, dim: 32, depth: 1, T: 100 }
train: { epochs: 3, stepsPerEpoch: 20, batchSize: 64, patience: 4, seed: 3 }
scoring: { t0: 0.3, steps: 3, samples: 2 }
`,
  );
  const t = cli(['train', '--data', 'train/*.wav', '--config', 'audio.yaml', '--out', model]);
  expect(t.stderr).toMatch(/audio model .* written/);
  expect(t.code).toBe(0);
}, 180_000);

describe('audio score for a new user', () => {
  it('one broken WAV in a glob: the other clips are scored and written, the failure named, exit 2', () => {
    const r = cli(['score', '--model', model, 'test/*.wav', '--out', 'clips.csv']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/test\/c1-broken.wav: .*\(clip skipped\)/);
    expect(r.stderr).toMatch(/1 of 4 clip\(s\) could not be read and were skipped \(exit 2\)/);
    const rows = readFileSync(path.join(dir, 'clips.csv'), 'utf8').trim().split('\n').slice(1);
    expect(rows.map((l) => l.split(',')[0])).toEqual(['test/c0.wav', 'test/c1.wav', 'test/c2.wav']);
  });

  it('--t0/--steps other than the model calibration was fitted with: a warning says what that means', () => {
    const r = cli(['score', '--model', model, 'test/c0.wav', '--t0', '0.6', '--steps', '3']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: --t0 0.6 \(model: 0.3\): the model's calibration was fitted with its own settings/);
    expect(r.stderr).not.toMatch(/--steps 3/);
  });

  it('--report on an audio model is refused with the reason, exit 2', () => {
    const r = cli(['score', '--model', model, 'test/c0.wav', '--report', 'r.html']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--report is not available for audio models/);
  });
});
