/**
 * Fuzz: the file readers (CSV, JSON Lines) and the WAV reader on random and mutated files.
 * Every file is read to the end or raises an InputError naming the file (and, for a bad
 * row, its line); never a crash, bounded time; a WAV never decodes to more samples than
 * its bytes can hold, and the chunked reader never allocates more than its chunk needs.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { decodeWav, readWavChunks, readWavInfo } from '../../src/ingest/audio/wav.js';
import { openSeries } from '../../src/ingest/readers.js';
import type { InputError } from '../../src/util/errors.js';
import { bytesLike, expectTypedOutcome, fuzzParams, FUZZ_RUNS } from './fuzz.js';

const enc = (s: string) => new TextEncoder().encode(s);
let dir: string;
let n = 0;
let outcomes = { ok: 0, error: 0 };

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'nf-fuzz-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  outcomes = { ok: 0, error: 0 };
});
afterEach(() => {
  if (process.env.NOISEFLOOR_FUZZ_STATS) console.log('outcomes', JSON.stringify(outcomes));
  expect(outcomes.ok).toBeGreaterThan(0);
  expect(outcomes.error).toBeGreaterThan(0);
});

async function fileWith(bytes: Uint8Array, ext: string): Promise<string> {
  const f = path.join(dir, `in-${n++}${ext}`);
  await writeFile(f, bytes);
  return f;
}

/** Errors that concern the whole file carry no line; a bad row must name its line. */
const fileLevel = /^(file is empty|file has no header line|file has no records|not a regular file|cannot read file)/;
const locatedIn = (file: string) => (e: InputError) => e.location.file === file && (e.location.line !== undefined || fileLevel.test(e.reason)) && e.message.startsWith(file);

async function readAll(file: string, opts: Parameters<typeof openSeries>[1] = {}) {
  const src = await openSeries(file, opts);
  let rows = 0;
  for await (const r of src.records()) {
    expect(r.values.length).toBe(src.header.channels.length);
    rows++;
  }
  return rows;
}

const CSV_SEEDS = [
  'timestamp,value\n2014-04-01 00:00:00,1.5\n2014-04-01 00:05:00,2.5\n2014-04-01 00:10:00,NaN\n',
  'ts,a,b,c\n1,1,2,3\n2,4,5,6\n3,,NA,7\n',
  'a;b\n1;2\n3;4\n',
  '"x","y"\n"1","2"\n"3",""\n',
].map(enc);

const JSONL_SEEDS = [
  '{"ts":1,"a":1,"b":2}\n{"ts":2,"a":3,"b":4}\n{"ts":3,"a":null,"b":"5"}\n',
  '{"timestamp":"2024-01-01T00:00:00Z","values":[1,2,3]}\n{"timestamp":"2024-01-01T00:00:01Z","values":[4,5,6]}\n',
  '{"stream":"s","x":1}\n\n{"stream":"s","x":2}\n',
].map(enc);

/** A WAV file: RIFF header, fmt chunk, an optional extra chunk, data. */
function wav(o: { tag: number; channels: number; rate: number; bits: number; frames: number; extensible?: boolean; extra?: boolean }): Uint8Array {
  const bps = o.bits / 8;
  const data = Buffer.alloc(o.frames * o.channels * bps);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37) & 0xff;
  const fmt = Buffer.alloc(o.extensible ? 40 : 16);
  fmt.writeUInt16LE(o.extensible ? 0xfffe : o.tag, 0);
  fmt.writeUInt16LE(o.channels, 2);
  fmt.writeUInt32LE(o.rate, 4);
  fmt.writeUInt32LE((o.rate * o.channels * bps) % 2 ** 32, 8);
  fmt.writeUInt16LE(o.channels * bps, 12);
  fmt.writeUInt16LE(o.bits, 14);
  if (o.extensible) {
    fmt.writeUInt16LE(22, 16);
    fmt.writeUInt16LE(o.bits, 18);
    fmt.writeUInt32LE(0, 20);
    Buffer.from([o.tag & 0xff, o.tag >> 8, 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xaa, 0, 0x38, 0x9b, 0x71]).copy(fmt, 24);
  }
  const chunk = (id: string, body: Buffer) => {
    const h = Buffer.alloc(8);
    h.write(id, 0, 'latin1');
    h.writeUInt32LE(body.length, 4);
    return Buffer.concat([h, body, body.length & 1 ? Buffer.alloc(1) : Buffer.alloc(0)]);
  };
  const body = Buffer.concat([Buffer.from('WAVE'), chunk('fmt ', fmt), ...(o.extra ? [chunk('LIST', Buffer.from('INFOabc'))] : []), chunk('data', data)]);
  const riff = Buffer.alloc(8);
  riff.write('RIFF', 0, 'latin1');
  riff.writeUInt32LE(body.length, 4);
  return Buffer.concat([riff, body]);
}

const WAV_SEEDS = [
  wav({ tag: 1, channels: 1, rate: 16000, bits: 16, frames: 20 }),
  wav({ tag: 1, channels: 2, rate: 8000, bits: 24, frames: 9, extra: true }),
  wav({ tag: 3, channels: 1, rate: 44100, bits: 32, frames: 10, extensible: true }),
  wav({ tag: 1, channels: 8, rate: 16000, bits: 8, frames: 5 }),
  wav({ tag: 3, channels: 2, rate: 22050, bits: 64, frames: 4 }),
];

/** Header fields written straight into the fmt chunk, valid or not: the structure fuzz. */
const wavFieldsArb = fc
  .record({
    tag: fc.constantFrom(1, 3, 0xfffe, 2, 0),
    channels: fc.oneof(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 65535 })),
    rate: fc.oneof(fc.constant(16000), fc.nat()),
    bits: fc.constantFrom(8, 16, 24, 32, 64, 0, 7, 65535),
    frames: fc.integer({ min: 0, max: 16 }),
    extensible: fc.boolean(),
    dataSize: fc.option(fc.oneof(fc.nat({ max: 4096 }), fc.constant(0xffffffff)), { nil: undefined }),
  })
  .map((o) => {
    const sane = { ...o, channels: Math.max(1, Math.min(o.channels, 8)), bits: [8, 16, 24, 32, 64].includes(o.bits) ? o.bits : 16, tag: o.tag === 0xfffe ? 1 : o.tag };
    const b = Buffer.from(wav({ ...sane, rate: 16000, tag: sane.tag === 3 || sane.tag === 1 ? sane.tag : 1 }));
    // Then overwrite fmt fields with the raw (possibly hostile) values.
    const fmt = 20;
    b.writeUInt16LE(o.extensible ? 0xfffe : o.tag, fmt);
    b.writeUInt16LE(o.channels, fmt + 2);
    b.writeUInt32LE(o.rate >>> 0, fmt + 4);
    b.writeUInt16LE((o.channels * Math.max(1, o.bits >> 3)) & 0xffff, fmt + 12);
    b.writeUInt16LE(o.bits, fmt + 14);
    if (o.dataSize !== undefined) {
      const at = b.indexOf('data', 12, 'latin1');
      if (at > 0) b.writeUInt32LE(o.dataSize >>> 0, at + 4);
    }
    return b;
  });

const wavLocated = (file: string) => (e: InputError) => e.location.file === file && e.message.startsWith(file);

describe('fuzz: file readers', () => {
  it('CSV reader', async () => {
    await fc.assert(
      fc.asyncProperty(bytesLike(CSV_SEEDS), fc.constantFrom(',', ';'), async (bytes, delimiter) => {
        const f = await fileWith(bytes, '.csv');
        const r = await expectTypedOutcome(() => readAll(f, { delimiter }), locatedIn(f));
        outcomes[r.ok ? 'ok' : 'error']++;
        await rm(f);
      }),
      fuzzParams(Math.ceil(FUZZ_RUNS / 2)),
    );
  });

  it('JSON Lines reader', async () => {
    await fc.assert(
      fc.asyncProperty(bytesLike(JSONL_SEEDS), async (bytes) => {
        const f = await fileWith(bytes, '.jsonl');
        const r = await expectTypedOutcome(() => readAll(f), locatedIn(f));
        outcomes[r.ok ? 'ok' : 'error']++;
        await rm(f);
      }),
      fuzzParams(Math.ceil(FUZZ_RUNS / 2)),
    );
  });
});

describe('fuzz: WAV reader', () => {
  it('decodeWav on mutated and random bytes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(bytesLike(WAV_SEEDS, 256), wavFieldsArb), fc.oneof(fc.constant('mix' as const), fc.nat({ max: 3 })), async (bytes, channel) => {
        const r = await expectTypedOutcome(() => decodeWav(bytes, { file: 'fuzz.wav', channel }), wavLocated('fuzz.wav'));
        outcomes[r.ok ? 'ok' : 'error']++;
        if (r.ok) {
          expect(r.value.samples.length * r.value.info.blockAlign).toBeLessThanOrEqual(bytes.length);
          expect(r.value.info.channels).toBeGreaterThan(0);
        }
      }),
      fuzzParams(),
    );
  });

  it('readWavInfo and readWavChunks on mutated files: buffers bounded by the file, not by what the header claims', async () => {
    const alloc = vi.spyOn(Buffer, 'alloc');
    try {
      await fc.assert(
        fc.asyncProperty(fc.oneof(bytesLike(WAV_SEEDS, 256), wavFieldsArb), fc.option(fc.integer({ min: 1, max: 64 }), { nil: undefined }), async (bytes, chunkFrames) => {
          const f = await fileWith(bytes, '.wav');
          alloc.mockClear();
          const r = await expectTypedOutcome(async () => {
            const info = await readWavInfo(f);
            let frames = 0;
            for await (const c of readWavChunks(f, chunkFrames === undefined ? {} : { chunkFrames })) frames += c.length;
            expect(frames).toBe(info.frames);
            return info;
          }, wavLocated(f));
          outcomes[r.ok ? 'ok' : 'error']++;
          const biggest = Math.max(0, ...alloc.mock.calls.map((c) => Number(c[0])));
          if (biggest > bytes.length + 64) throw new Error(`allocated ${biggest} bytes for a ${bytes.length}-byte file`);
          await rm(f);
        }),
        fuzzParams(Math.ceil(FUZZ_RUNS / 2)),
      );
    } finally {
      alloc.mockRestore();
    }
  });
});
