/**
 * Inputs the fuzz tests found that broke a parser, kept as plain regression tests (see
 * docs/FUZZING.md for the log of findings).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { readWavChunks } from '../../src/ingest/audio/wav.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'nf-fuzz-reg-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A float64 WAV with `channels` channels and `frames` frames (fmt and data only). */
function wavFloat64(channels: number, frames: number): Buffer {
  const blockAlign = channels * 8;
  const data = Buffer.alloc(frames * blockAlign);
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVEfmt ', 8, 'latin1');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(3, 20);
  h.writeUInt16LE(channels, 22);
  h.writeUInt32LE(16000, 24);
  h.writeUInt32LE(16000 * blockAlign, 28);
  h.writeUInt16LE(blockAlign, 32);
  h.writeUInt16LE(64, 34);
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}

describe('fuzz findings', () => {
  it('readWavChunks sizes its read buffer by the frames present, not by the header (was chunkFrames x blockAlign)', async () => {
    // 256 channels of float64: 2 KiB per frame; one frame. Before the fix the default
    // chunk of 16384 frames meant a 32 MiB buffer for this 2 KiB file (1 GiB at 8191 channels).
    const f = path.join(dir, 'wide.wav');
    const bytes = wavFloat64(256, 1);
    await writeFile(f, bytes);
    const alloc = vi.spyOn(Buffer, 'alloc');
    try {
      const chunks: Float32Array[] = [];
      for await (const c of readWavChunks(f)) chunks.push(c);
      expect(chunks.map((c) => c.length)).toEqual([1]);
      const biggest = Math.max(...alloc.mock.calls.map((c) => Number(c[0])));
      expect(biggest).toBeLessThanOrEqual(bytes.length);
    } finally {
      alloc.mockRestore();
    }
  });
});
