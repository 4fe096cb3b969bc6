/**
 * Fuzz: the Kafka message decoders (JSON, CSV, PCM, and the audio PCM decoder) on random
 * and mutated payloads and keys, under random decoder settings. Every input either decodes
 * into well-formed steps or raises a DecodeError naming topic/partition/offset; never a
 * crash, never more output than the input can carry, bounded time.
 */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pcmAudioDecoder } from '../../src/features/audio/slot.js';
import { DecodeError, createDecoder, parseDecoderConfig, type PcmDecoderConfig, type RawMessage } from '../../src/ingest/decoders.js';
import type { InputError } from '../../src/util/errors.js';
import { bytesLike, expectTypedOutcome, fuzzParams } from './fuzz.js';

const enc = (s: string) => new TextEncoder().encode(s);

const JSON_SEEDS = [
  '{"stream":"s1","ts":1700000000000,"value":1.5}',
  '{"stream":"pump-7","ts":"2024-01-01T00:00:00Z","values":[1.5,2,null,-3e-2]}',
  '{"values":[0,1,2],"ts":1700000000}',
  '{"stream":"x","value":null}',
  '{"stream":"a","values":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]}',
].map(enc);

const CSV_SEEDS = ['s1,1700000000000,1.5,2.5,3.5', 'pump,2024-01-01 00:00:00,NaN,,NA', '"q,uoted",1700000000,"1.0",2', 's,,1'].map(enc);

const PCM_SEEDS = [new Uint8Array(new Float32Array([0, 0.5, -0.5, 1, 0.25, -1]).buffer), new Uint8Array(new Int16Array([0, 32767, -32768, 5, 6, 7, 8, 9]).buffer)];

const msgArb = (value: fc.Arbitrary<Buffer>) =>
  fc.record({
    value: fc.option(value, { freq: 20, nil: null }),
    key: fc.option(fc.oneof(fc.string({ maxLength: 12 }).map((s) => Buffer.from(s)), fc.uint8Array({ maxLength: 8 }).map((u) => Buffer.from(u))), { nil: null }),
    timestamp: fc.oneof(fc.constant('1700000000000'), fc.constant('-1'), fc.constant(''), fc.string({ maxLength: 6 })),
    offset: fc.bigInt({ min: 0n, max: 2n ** 62n }).map(String),
    partition: fc.nat({ max: 63 }),
  }).map((m): RawMessage => ({ topic: 'fuzz-topic', ...m }));

const located = (m: RawMessage) => (e: InputError) =>
  e instanceof DecodeError &&
  e.location.topic === m.topic &&
  e.location.partition === m.partition &&
  e.location.offset === m.offset &&
  e.message.startsWith(`${m.topic}/${m.partition}@${m.offset}: `);

/** Decoded steps are arrays of numbers, one per channel, no more values than bytes in. */
function wellFormed(out: { stream: string; values: Float64Array[]; ts?: number }, m: RawMessage, channels?: number): void {
  expect(typeof out.stream).toBe('string');
  expect(out.stream.length).toBeGreaterThan(0);
  expect(out.values.length).toBeGreaterThan(0);
  let n = 0;
  for (const row of out.values) {
    expect(row).toBeInstanceOf(Float64Array);
    if (channels !== undefined) expect(row.length).toBe(channels);
    n += row.length;
  }
  expect(n).toBeLessThanOrEqual(m.value!.length);
  if (out.ts !== undefined) expect(Number.isFinite(out.ts)).toBe(true);
}

const common = fc.record({ maxBytes: fc.oneof(fc.integer({ min: 1, max: 256 }), fc.constant(1024 * 1024)), defaultStream: fc.option(fc.constant('dflt'), { nil: undefined }), useMessageTimestamp: fc.boolean() });

let outcomes = { ok: 0, error: 0 };

describe('fuzz: Kafka decoders', () => {
  beforeEach(() => {
    outcomes = { ok: 0, error: 0 };
  });
  // Both outcomes occur: the inputs are neither all rejected nor all accepted.
  afterEach(() => {
    if (process.env.NOISEFLOOR_FUZZ_STATS) console.log('outcomes', JSON.stringify(outcomes));
    expect(outcomes.ok).toBeGreaterThan(0);
    expect(outcomes.error).toBeGreaterThan(0);
  });

  it('JSON decoder', async () => {
    const cfgArb = fc.tuple(common, fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined }), fc.constantFrom('ms', 's')).map(([c, channels, tsUnit]) =>
      parseDecoderConfig({ format: 'json', ...c, channels, tsUnit }),
    );
    await fc.assert(
      fc.asyncProperty(cfgArb, msgArb(bytesLike(JSON_SEEDS)), async (cfg, m) => {
        const r = await expectTypedOutcome(() => createDecoder(cfg)(m), located(m));
        outcomes[r.ok ? 'ok' : 'error']++;
        if (r.ok) wellFormed(r.value, m, cfg.format === 'json' ? cfg.channels : undefined);
      }),
      fuzzParams(),
    );
  });

  it('CSV decoder', async () => {
    const columns = fc.oneof(
      { weight: 4, arbitrary: fc.constant(['stream', 'ts', 'values']) },
      fc.constant(['stream', 'value']),
      fc.constant(['skip', 'stream', 'ts', 'value', 'value']),
      fc.constant(['ts', 'values']),
    );
    const cfgArb = fc.tuple(common, columns, fc.oneof({ weight: 4, arbitrary: fc.constant(',') }, fc.constantFrom(';', '\t')), fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined })).map(([c, cols, delimiter, channels]) =>
      parseDecoderConfig({ format: 'csv', ...c, columns: cols, delimiter, channels }),
    );
    await fc.assert(
      fc.asyncProperty(cfgArb, msgArb(bytesLike(CSV_SEEDS)), async (cfg, m) => {
        const r = await expectTypedOutcome(() => createDecoder(cfg)(m), located(m));
        outcomes[r.ok ? 'ok' : 'error']++;
        if (r.ok) wellFormed(r.value, m, cfg.format === 'csv' ? cfg.channels : undefined);
      }),
      fuzzParams(),
    );
  });

  it('PCM decoder (time-series steps)', async () => {
    const cfgArb = fc.tuple(common, fc.constantFrom('f32le', 's16le'), fc.integer({ min: 1, max: 8 })).map(([c, sample, channels]) =>
      parseDecoderConfig({ format: 'pcm', ...c, sample, channels }),
    );
    await fc.assert(
      fc.asyncProperty(cfgArb, msgArb(bytesLike(PCM_SEEDS)), async (cfg, m) => {
        const r = await expectTypedOutcome(() => createDecoder(cfg)(m), located(m));
        outcomes[r.ok ? 'ok' : 'error']++;
        if (r.ok) wellFormed(r.value, m, cfg.format === 'pcm' ? cfg.channels : undefined);
      }),
      fuzzParams(),
    );
  });

  it('audio PCM decoder (samples for log-mel windows)', async () => {
    const cfgArb = fc
      .tuple(common, fc.constantFrom('f32le', 's16le'), fc.integer({ min: 1, max: 8 }), fc.oneof(fc.constant('mix' as const), fc.nat({ max: 7 })))
      .map(([c, sample, channels, channel]) => ({ cfg: parseDecoderConfig({ format: 'pcm', ...c, sample, channels }) as PcmDecoderConfig, channel: channel === 'mix' ? channel : channel % channels }));
    await fc.assert(
      fc.asyncProperty(cfgArb, msgArb(bytesLike(PCM_SEEDS)), async ({ cfg, channel }, m) => {
        const r = await expectTypedOutcome(() => pcmAudioDecoder(cfg, channel)(m), located(m));
        outcomes[r.ok ? 'ok' : 'error']++;
        if (r.ok) {
          expect(r.value.samples).toBeInstanceOf(Float32Array);
          expect(r.value.samples.length * cfg.channels * (cfg.sample === 'f32le' ? 4 : 2)).toBe(m.value!.length);
        }
      }),
      fuzzParams(),
    );
  });
});
