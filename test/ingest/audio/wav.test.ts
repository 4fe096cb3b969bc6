import { readFileSync, truncateSync } from 'node:fs';
import path from 'node:path';
import wav from 'node-wav';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError } from '../../../src/util/errors.js';
import { decodeWav, readWav, readWavChunks, readWavInfo } from '../../../src/ingest/audio/wav.js';
import { audioDataDir, concatF32, encodeWav, rng, tempDir, type WavSpec } from '../../support/audio-signals.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const FRAMES = 257;

/** Integer codes covering both extremes, zero and random values for an N-bit PCM channel. */
function pcmCodes(bits: 8 | 16 | 24 | 32, seed: number): number[] {
  const r = rng(seed);
  if (bits === 8) {
    const v = [0, 255, 128, 127, 1];
    while (v.length < FRAMES) v.push(Math.floor(r() * 256));
    return v;
  }
  const full = 2 ** (bits - 1);
  const v = [-full, full - 1, 0, -1, 1];
  while (v.length < FRAMES) v.push(Math.floor(r() * 2 * full) - full);
  return v;
}

function expectedPcm(bits: number, code: number): number {
  return bits === 8 ? (code - 128) / 128 : code / 2 ** (bits - 1);
}

async function collect(gen: AsyncIterable<Float32Array>): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for await (const c of gen) out.push(c);
  return out;
}

async function expectInputError(p: Promise<unknown>, file: string, pattern?: RegExp): Promise<InputError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(InputError);
  const ie = e as InputError;
  expect(ie.location.file).toBe(file);
  expect(ie.message).toContain(file);
  if (pattern) expect(ie.reason).toMatch(pattern);
  return ie;
}

describe('readWav on generated files', () => {
  const cases: { format: 'pcm' | 'float'; bits: 8 | 16 | 24 | 32 | 64; extensible: boolean }[] = [];
  for (const extensible of [false, true]) {
    for (const bits of [8, 16, 24, 32] as const) cases.push({ format: 'pcm', bits, extensible });
    cases.push({ format: 'float', bits: 32, extensible });
    cases.push({ format: 'float', bits: 64, extensible });
  }

  it.each(cases)('decodes $format $bits-bit (extensible $extensible), 3 channels', async ({ format, bits, extensible }) => {
    const channels =
      format === 'pcm'
        ? [0, 1, 2].map((c) => pcmCodes(bits as 8 | 16 | 24 | 32, 10 * bits + c))
        : [0, 1, 2].map((c) => {
            const r = rng(bits + c);
            return [-1, 1, 0, 0.5, ...Array.from({ length: FRAMES - 4 }, () => 2 * r() - 1)];
          });
    const expected = channels.map((ch) =>
      ch.map((v) => (format === 'pcm' ? expectedPcm(bits, v) : bits === 32 ? Math.fround(v) : v)),
    );
    const file = tmp.write(`t_${format}${bits}_${extensible}.wav`, encodeWav({ sampleRate: 22050, format, bits, channels, extensible }));

    const info = await readWavInfo(file);
    expect(info).toMatchObject({
      sampleRate: 22050,
      channels: 3,
      bitsPerSample: bits,
      format,
      formatTag: extensible ? 0xfffe : format === 'pcm' ? 1 : 3,
      frames: FRAMES,
      blockAlign: 3 * (bits / 8),
    });
    expect(info.durationSeconds).toBeCloseTo(FRAMES / 22050, 12);

    for (let c = 0; c < 3; c++) {
      const { sampleRate, samples } = await readWav(file, { channel: c });
      expect(sampleRate).toBe(22050);
      expect(Array.from(samples)).toEqual(expected[c].map((v) => Math.fround(v)));
      expect(samples.every((v) => v >= -1 && v <= 1)).toBe(true);
    }
    const mix = (await readWav(file, { channel: 'mix' })).samples;
    const mixDefault = (await readWav(file)).samples;
    expect(mixDefault).toEqual(mix);
    for (let f = 0; f < FRAMES; f++) {
      expect(mix[f]).toBeCloseTo((expected[0][f] + expected[1][f] + expected[2][f]) / 3, 6);
    }
  });

  it('skips LIST/odd-sized/unknown chunks before, between and after fmt and data', async () => {
    const channels = [pcmCodes(16, 3)];
    const base: WavSpec = { sampleRate: 8000, format: 'pcm', bits: 16, channels };
    const plain = tmp.write('plain.wav', encodeWav(base));
    const list = Buffer.from('INFOISFT\x05\x00\x00\x00abcde\x00', 'latin1');
    const fancy = tmp.write(
      'chunky.wav',
      encodeWav({
        ...base,
        before: [{ id: 'JUNK', body: Buffer.alloc(27, 0x5a) }],
        between: [
          { id: 'LIST', body: list },
          { id: 'fact', body: Buffer.from([1, 1, 0, 0]) },
          { id: 'odd!', body: Buffer.alloc(3, 0x64) },
        ],
        after: [{ id: 'LIST', body: list }],
      }),
    );
    expect((await readWav(fancy)).samples).toEqual((await readWav(plain)).samples);
    expect((await readWavInfo(fancy)).frames).toBe(FRAMES);
  });

  it('decodes an in-memory buffer the same as the file', async () => {
    const bytes = encodeWav({ sampleRate: 8000, format: 'pcm', bits: 24, channels: [pcmCodes(24, 9), pcmCodes(24, 8)] });
    const file = tmp.write('mem.wav', bytes);
    const fromBuf = await decodeWav(bytes, { channel: 1 });
    expect(fromBuf.samples).toEqual((await readWav(file, { channel: 1 })).samples);
  });

  it('readWavChunks yields chunkFrames-sized chunks whose concatenation equals readWav', async () => {
    const file = tmp.write(
      'chunks.wav',
      encodeWav({ sampleRate: 16000, format: 'pcm', bits: 24, channels: [pcmCodes(24, 1), pcmCodes(24, 2)], extensible: true }),
    );
    for (const channel of [0, 1, 'mix'] as const) {
      const whole = (await readWav(file, { channel })).samples;
      for (const chunkFrames of [1, 7, 256, 257, 1000]) {
        const chunks = await collect(readWavChunks(file, { chunkFrames, channel }));
        expect(chunks.length).toBe(Math.ceil(FRAMES / chunkFrames));
        chunks.slice(0, -1).forEach((c) => expect(c.length).toBe(chunkFrames));
        expect(concatF32(chunks)).toEqual(whole);
      }
    }
  });

  it('reads a large file incrementally: first chunks of a 128 MiB (sparse) file, memory bounded', async () => {
    const frames = 32 * 1024 * 1024; // 16-bit stereo: 128 MiB of data declared...
    const bytes = encodeWav({ sampleRate: 48000, format: 'pcm', bits: 16, channels: [[1000, -1000], [7, -7]] });
    bytes.writeUInt32LE(frames * 4, 40);
    bytes.writeUInt32LE(36 + frames * 4, 4);
    const file = tmp.write('big.wav', bytes);
    truncateSync(file, 44 + frames * 4); // ...and present, as zeros (sparse on most file systems)
    const info = await readWavInfo(file);
    expect(info.frames).toBe(frames);
    if (!global.gc) throw new Error('global.gc missing: run the tests with node --expose-gc (vitest.config.ts execArgv)');
    global.gc();
    const before = process.memoryUsage().arrayBuffers;
    let n = 0;
    let first: Float32Array | undefined;
    for await (const c of readWavChunks(file, { chunkFrames: 65536, channel: 0 })) {
      first ??= c;
      expect(c.length).toBe(65536);
      if (++n === 20) break;
    }
    expect(Array.from(first!.subarray(0, 3))).toEqual([1000 / 32768, -1000 / 32768, 0]);
    // A whole-file read would need 128 MiB of buffers; the chunked path holds one chunk.
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(32 * 1024 * 1024);
    // readWav refuses files over its limit rather than loading them.
    await expectInputError(readWav(file, { maxBytes: 64 * 1024 * 1024 }), file, /readWavChunks/);
  });

  it('a data chunk of zero frames gives no samples and no chunks', async () => {
    const file = tmp.write('empty.wav', encodeWav({ sampleRate: 16000, format: 'pcm', bits: 16, channels: [[]] }));
    expect((await readWavInfo(file)).frames).toBe(0);
    expect((await readWav(file)).samples.length).toBe(0);
    expect(await collect(readWavChunks(file))).toEqual([]);
  });
});

describe('readWav on the MIMII 8-channel WAVE_FORMAT_EXTENSIBLE files', () => {
  const mc = path.join(audioDataDir, 'multichannel');
  const files = ['normal', 'abnormal'].map((kind) => ({
    kind,
    eight: path.join(mc, `fan_id00_${kind}_00000019_8ch.wav`),
    mono: path.join(audioDataDir, 'mimii_fan_id00_0dB', kind, '00000019.wav'),
  }));

  it('reads the extensible header', async () => {
    const info = await readWavInfo(files[0].eight);
    expect(info).toMatchObject({
      sampleRate: 16000,
      channels: 8,
      bitsPerSample: 16,
      validBitsPerSample: 16,
      format: 'pcm',
      formatTag: 0xfffe,
      frames: 160000,
      durationSeconds: 10,
    });
  });

  it('node-wav refuses the extensible file (why we parse RIFF ourselves)', () => {
    expect(() => wav.decode(new Uint8Array(readFileSync(files[0].eight)))).toThrow(/Unsupported format/);
  });

  it('selects channels by their interleaved position in the raw bytes', async () => {
    const raw = readFileSync(files[0].eight);
    const dataAt = raw.indexOf('data', 12, 'latin1') + 8;
    for (const c of [0, 3, 7]) {
      const { samples } = await readWav(files[0].eight, { channel: c });
      for (const f of [0, 1, 2, 12345, 159999]) expect(samples[f]).toBe(raw.readInt16LE(dataAt + f * 16 + c * 2) / 32768);
    }
  });

  it('mixes down to the mean of the 8 channels', async () => {
    const chans = await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map(async (c) => (await readWav(files[0].eight, { channel: c })).samples));
    const mix = (await readWav(files[0].eight, { channel: 'mix' })).samples;
    expect(mix.length).toBe(160000);
    for (let f = 0; f < mix.length; f += 997) {
      const mean = chans.reduce((a, ch) => a + ch[f], 0) / 8;
      expect(mix[f]).toBeCloseTo(mean, 6);
    }
    // The channels are distinct microphones, so the mix differs from any one of them.
    expect(mix).not.toEqual(chans[0]);
  });

  it.each(files)('channel 0 of the $kind 8ch clip is the mono MIMII clip (microphone 1)', async ({ eight, mono }) => {
    const a = (await readWav(eight, { channel: 0 })).samples;
    const b = (await readWav(mono)).samples;
    expect(a.length).toBe(b.length);
    expect(a).toEqual(b);
    // Other microphones are different recordings of the same scene.
    expect((await readWav(eight, { channel: 1 })).samples).not.toEqual(b);
  });

  it('agrees with node-wav on the mono clip (node-wav divides positives by 32767)', async () => {
    const ours = (await readWav(files[0].mono)).samples;
    const theirs = wav.decode(new Uint8Array(readFileSync(files[0].mono))).channelData[0];
    expect(theirs.length).toBe(ours.length);
    for (let i = 0; i < ours.length; i++) {
      if (Math.abs(ours[i] - theirs[i]) > 1 / 32767 + 1e-9) throw new Error(`sample ${i}: ${ours[i]} vs ${theirs[i]}`);
    }
  });

  it('streams the 8ch file in chunks equal to the whole read', async () => {
    const whole = (await readWav(files[1].eight, { channel: 5 })).samples;
    const chunks = await collect(readWavChunks(files[1].eight, { channel: 5, chunkFrames: 4096 }));
    expect(chunks.length).toBe(Math.ceil(160000 / 4096));
    expect(concatF32(chunks)).toEqual(whole);
  });

  it('rejects a channel index the file does not have', async () => {
    await expectInputError(readWav(files[0].eight, { channel: 8 }), files[0].eight, /channel 8/);
    await expectInputError(collect(readWavChunks(files[0].eight, { channel: -1 })), files[0].eight, /channel -1/);
  });
});

describe('corrupt and unsupported WAV files raise InputError naming the file', () => {
  const good = encodeWav({ sampleRate: 16000, format: 'pcm', bits: 16, channels: [pcmCodes(16, 5), pcmCodes(16, 6)] });

  it('garbage bytes', async () => {
    const r = rng(42);
    const file = tmp.write('garbage.wav', Buffer.from(Array.from({ length: 4000 }, () => Math.floor(r() * 256))));
    await expectInputError(readWav(file), file, /RIFF/);
    await expectInputError(readWavInfo(file), file, /RIFF/);
    await expectInputError(collect(readWavChunks(file)), file, /RIFF/);
  });

  it('empty file and a missing file', async () => {
    const file = tmp.write('zero.wav', Buffer.alloc(0));
    await expectInputError(readWav(file), file);
    const missing = path.join(tmp.dir, 'nope.wav');
    await expectInputError(readWav(missing), missing, /cannot open/);
    await expectInputError(collect(readWavChunks(missing)), missing, /cannot open/);
  });

  it('RIFF but not WAVE', async () => {
    const bytes = Buffer.from(good);
    bytes.write('AVI ', 8, 'latin1');
    const file = tmp.write('avi.wav', bytes);
    await expectInputError(readWav(file), file, /WAVE/);
  });

  it('data chunk shorter than declared (truncated file), plain and 8ch extensible', async () => {
    const file = tmp.write('trunc.wav', good.subarray(0, good.length - 100));
    await expectInputError(readWav(file), file, /shorter than declared/);
    await expectInputError(readWavInfo(file), file, /shorter than declared/);
    await expectInputError(collect(readWavChunks(file, { chunkFrames: 16 })), file, /shorter than declared/);
    const eight = readFileSync(path.join(audioDataDir, 'multichannel', 'fan_id00_normal_00000019_8ch.wav'));
    const cut = tmp.write('trunc8.wav', eight.subarray(0, 10000));
    await expectInputError(readWav(cut, { channel: 0 }), cut, /shorter than declared/);
  });

  it('file ending inside the header', async () => {
    for (const n of [8, 20, 30, 44]) {
      const file = tmp.write(`head${n}.wav`, good.subarray(0, n));
      await expectInputError(readWav(file), file);
    }
  });

  it('unsupported formats: ADPCM tag, unknown extensible GUID, 12-bit PCM, 16-bit float', async () => {
    const adpcm = Buffer.from(good);
    adpcm.writeUInt16LE(2, 20);
    const f1 = tmp.write('adpcm.wav', adpcm);
    await expectInputError(readWav(f1), f1, /format tag 0x0002/);

    const ext = encodeWav({ sampleRate: 16000, format: 'pcm', bits: 16, channels: [pcmCodes(16, 1)], extensible: true });
    ext.writeUInt8(0x77, 20 + 24 + 10); // corrupt the GUID tail
    const f2 = tmp.write('guid.wav', ext);
    await expectInputError(readWav(f2), f2, /GUID/);

    const b12 = Buffer.from(good);
    b12.writeUInt16LE(12, 34);
    const f3 = tmp.write('b12.wav', b12);
    await expectInputError(readWav(f3), f3, /bit depth 12/);

    const f16 = Buffer.from(good);
    f16.writeUInt16LE(3, 20);
    const f4 = tmp.write('f16.wav', f16);
    await expectInputError(readWav(f4), f4, /float bit depth 16/);
  });

  it('inconsistent block align and a data chunk before fmt', async () => {
    const ba = Buffer.from(good);
    ba.writeUInt16LE(3, 32);
    const f1 = tmp.write('blockalign.wav', ba);
    await expectInputError(readWav(f1), f1, /block align/);

    // Swap: RIFF header, then data chunk, then fmt chunk.
    const fmt = good.subarray(12, 12 + 8 + 16);
    const data = good.subarray(12 + 8 + 16);
    const swapped = Buffer.concat([good.subarray(0, 12), data, fmt]);
    const f2 = tmp.write('swapped.wav', swapped);
    await expectInputError(readWav(f2), f2, /before the fmt/);
  });
});
