import { describe, expect, it } from 'vitest';
import {
  createDecoder,
  decodeMessage,
  DecodeError,
  parseDecoderConfig,
  type DecodeErrorKind,
  type DecoderConfigInput,
  type RawMessage,
} from '../../src/ingest/decoders.js';
import { ConfigError, InputError } from '../../src/util/errors.js';

const KAFKA_TS = 1_700_000_123_456;

function msg(value: Buffer | string | null, key: string | null = null, extra: Partial<RawMessage> = {}): RawMessage {
  return {
    topic: 'sensors',
    partition: 2,
    offset: '41',
    timestamp: String(KAFKA_TS),
    key: key === null ? null : Buffer.from(key),
    value: typeof value === 'string' ? Buffer.from(value) : value,
    ...extra,
  };
}

function rows(values: Float64Array[]): number[][] {
  return values.map((r) => Array.from(r));
}

function decodeError(config: DecoderConfigInput | undefined, m: RawMessage): DecodeError {
  const decode = createDecoder(config);
  try {
    decode(m);
  } catch (e) {
    expect(e).toBeInstanceOf(DecodeError);
    return e as DecodeError;
  }
  throw new Error('decoded without error');
}

function expectKind(config: DecoderConfigInput | undefined, m: RawMessage, kind: DecodeErrorKind, reason?: RegExp): DecodeError {
  const e = decodeError(config, m);
  expect(e.kind).toBe(kind);
  if (reason) expect(e.reason).toMatch(reason);
  return e;
}

describe('decoder config', () => {
  it('defaults to JSON with the standard field names and a 1 MiB limit', () => {
    for (const input of [undefined, {}, { format: 'json' }]) {
      expect(parseDecoderConfig(input)).toEqual({
        format: 'json',
        maxBytes: 1024 * 1024,
        maxChannels: 1024,
        useMessageTimestamp: true,
        fields: { stream: 'stream', ts: 'ts', value: 'value', values: 'values' },
        tsUnit: 'ms',
      });
    }
  });

  it('fills CSV and PCM defaults', () => {
    expect(parseDecoderConfig({ format: 'csv' })).toMatchObject({ columns: ['stream', 'ts', 'values'], delimiter: ',' });
    expect(parseDecoderConfig({ format: 'pcm' })).toMatchObject({ sample: 'f32le', channels: 1 });
  });

  it('rejects bad settings with ConfigError naming each problem', () => {
    const bad: Array<[unknown, RegExp]> = [
      [{ format: 'xml' }, /decoder\.format/],
      [{ format: 'csv', columns: ['values', 'stream'] }, /decoder\.columns: "values" must be the last column/],
      [{ format: 'csv', columns: ['stream', 'ts'] }, /no value column/],
      [{ format: 'csv', columns: ['ts', 'ts', 'value'] }, /at most one ts column/],
      [{ format: 'pcm', sample: 's24le' }, /decoder\.sample/],
      [{ format: 'json', maxBytes: 0 }, /decoder\.maxBytes/],
      [{ format: 'json', feilds: {} }, /feilds/],
    ];
    for (const [input, message] of bad) {
      expect(() => parseDecoderConfig(input), JSON.stringify(input)).toThrow(ConfigError);
      expect(() => parseDecoderConfig(input), JSON.stringify(input)).toThrow(message);
    }
  });
});

describe('JSON decoder', () => {
  const decode = createDecoder({ format: 'json' });

  it('reads one value with stream and epoch-ms timestamp', () => {
    const out = decode(msg('{"stream":"s1","ts":1700000000000,"value":1.5}', 'ignored-key'));
    expect(out.stream).toBe('s1');
    expect(out.ts).toBe(1_700_000_000_000);
    expect(rows(out.values)).toEqual([[1.5]]);
    expect(out.values[0]).toBeInstanceOf(Float64Array);
  });

  it('reads several channels, null as missing, and an ISO timestamp', () => {
    const out = decode(msg('{"stream":"s2","ts":"2023-11-14T22:13:20.250Z","values":[1,-2.5,null,1e3]}'));
    expect(out.ts).toBe(Date.UTC(2023, 10, 14, 22, 13, 20, 250));
    expect(rows(out.values)).toEqual([[1, -2.5, NaN, 1000]]);
  });

  it('takes configurable field names and seconds', () => {
    const d = createDecoder({ fields: { stream: 'id', ts: 'time', values: 'v' }, tsUnit: 's' });
    const out = d(msg('{"id":"pump-3","time":1700000000.5,"v":[0.25,4]}'));
    expect(out).toEqual({ stream: 'pump-3', ts: 1_700_000_000_500, values: [Float64Array.of(0.25, 4)] });
  });

  it('falls back to the message key, then defaultStream, for the stream id', () => {
    expect(decode(msg('{"value":1}', 'from-key')).stream).toBe('from-key');
    expect(createDecoder({ defaultStream: 'fallback' })(msg('{"value":1}')).stream).toBe('fallback');
    expectKind({}, msg('{"value":1}'), 'malformed', /no stream id/);
  });

  it('uses the record timestamp when the payload has none, unless told not to', () => {
    expect(decode(msg('{"stream":"s","value":1}')).ts).toBe(KAFKA_TS);
    expect(decode(msg('{"stream":"s","value":1}', null, { timestamp: '-1' }))).not.toHaveProperty('ts');
    expect(createDecoder({ useMessageTimestamp: false })(msg('{"stream":"s","value":1}'))).not.toHaveProperty('ts');
  });

  it('checks the channel count when one is configured', () => {
    const d = { channels: 2 };
    expect(rows(createDecoder(d)(msg('{"stream":"s","values":[1,2]}')).values)).toEqual([[1, 2]]);
    expectKind(d, msg('{"stream":"s","values":[1,2,3]}'), 'malformed', /expected 2 channel\(s\), got 3/);
    expectKind(d, msg('{"stream":"s","value":1}'), 'malformed', /expected 2 channel\(s\), got 1/);
  });

  it('classifies bad payloads as empty, oversized or malformed', () => {
    expectKind({}, msg(null), 'empty');
    expectKind({}, msg(Buffer.alloc(0)), 'empty');
    expectKind({}, msg(' \n'), 'empty');
    expectKind({ maxBytes: 16 }, msg('{"stream":"s","value":1.25}'), 'oversized', /27 bytes, more than the 16 allowed/);
    // The limit is inclusive: 27 bytes pass a 27-byte limit and fail a 26-byte one.
    expect(createDecoder({ maxBytes: 27 })(msg('{"stream":"s","value":1.25}')).stream).toBe('s');
    expectKind({ maxBytes: 26 }, msg('{"stream":"s","value":1.25}'), 'oversized');

    expectKind({}, msg('{"stream":"s","value":1'), 'malformed', /invalid JSON/);
    expectKind({}, msg('[1,2]'), 'malformed', /expected a JSON object, got an array/);
    expectKind({}, msg('{"stream":"s","value":"1.5"}'), 'malformed', /"value" is not a number: "1.5"/);
    expectKind({}, msg('{"stream":"s","values":[1,"x"]}'), 'malformed', /"values\[1\]" is not a number/);
    expectKind({}, msg('{"stream":"s","values":[]}'), 'malformed', /is empty/);
    expectKind({}, msg('{"stream":"s","values":3}'), 'malformed', /must be an array/);
    expectKind({}, msg('{"stream":"s","value":1,"values":[1]}'), 'malformed', /both/);
    expectKind({}, msg('{"stream":"s"}'), 'malformed', /no "value" or "values" field/);
    expectKind({}, msg('{"stream":7,"value":1}'), 'malformed', /"stream" must be a non-empty string/);
    expectKind({}, msg('{"stream":"s","ts":"yesterday","value":1}'), 'malformed', /not a timestamp/);
    expectKind({}, msg('{"stream":"s","ts":true,"value":1}'), 'malformed', /"ts" must be a number or a date string/);
  });

  it('does not read inherited properties as fields', () => {
    expectKind({ fields: { value: 'constructor' } }, msg('{"stream":"s"}'), 'malformed', /no "constructor"/);
  });

  it('reports errors as InputError located at topic/partition@offset', () => {
    const e = decodeError({}, msg('not json', null, { topic: 'plant-a', partition: 5, offset: '1234' }));
    expect(e).toBeInstanceOf(InputError);
    expect(e.code).toBe('NF_INPUT');
    expect(e.location).toEqual({ topic: 'plant-a', partition: 5, offset: '1234' });
    expect(e.message).toMatch(/^plant-a\/5@1234: invalid JSON/);
  });
});

describe('CSV decoder', () => {
  const decode = createDecoder({ format: 'csv' });

  it('reads stream,ts,v1,v2,… by default', () => {
    const out = decode(msg('s1,1700000000000,1.5,-2,3e-2\n'));
    expect(out).toEqual({ stream: 's1', ts: 1_700_000_000_000, values: [Float64Array.of(1.5, -2, 0.03)] });
  });

  it('treats empty, NaN and NA cells as missing and reads zone-less dates as UTC', () => {
    const out = decode(msg('s1,2024-01-02 03:04:05,,NaN,NA,7\r\n'));
    expect(out.ts).toBe(Date.UTC(2024, 0, 2, 3, 4, 5));
    expect(rows(out.values)).toEqual([[NaN, NaN, NaN, 7]]);
  });

  it('follows configured column roles and delimiter', () => {
    const d = createDecoder({ format: 'csv', columns: ['ts', 'skip', 'value', 'stream', 'value'], delimiter: ';' });
    expect(d(msg('1700000000;note;0.5;"tank;1";9', null))).toEqual({
      stream: 'tank;1',
      ts: 1_700_000_000,
      values: [Float64Array.of(0.5, 9)],
    });
    const seconds = createDecoder({ format: 'csv', columns: ['ts', 'values'], tsUnit: 's' });
    expect(seconds(msg('1700000000,1,2', 'k'))).toEqual({ stream: 'k', ts: 1_700_000_000_000, values: [Float64Array.of(1, 2)] });
  });

  it('falls back to the key when the stream cell is empty, and to the record time when ts is', () => {
    expect(decode(msg(',,4', 'key-stream'))).toEqual({ stream: 'key-stream', ts: KAFKA_TS, values: [Float64Array.of(4)] });
  });

  it('rejects bad lines as malformed', () => {
    expectKind({ format: 'csv' }, msg('s1,1700000000000,abc'), 'malformed', /column 3: not a number: "abc"/);
    expectKind({ format: 'csv' }, msg('s1,1700000000000'), 'malformed', /expected more than 2 CSV columns/);
    expectKind({ format: 'csv', columns: ['stream', 'value'] }, msg('s1,1,2'), 'malformed', /expected 2 CSV columns/);
    expectKind({ format: 'csv' }, msg('s1,1,2\ns1,2,3'), 'malformed', /one CSV line/);
    expectKind({ format: 'csv' }, msg('s1,soon,2'), 'malformed', /not a timestamp/);
    expectKind({ format: 'csv', channels: 3 }, msg('s1,1,2,3'), 'malformed', /expected 3 channel\(s\), got 2/);
    expectKind({ format: 'csv' }, msg('\n'), 'empty');
    expectKind({ format: 'csv', maxBytes: 4 }, msg('s1,1,2'), 'oversized');
  });
});

describe('PCM decoder', () => {
  function f32(...xs: number[]): Buffer {
    const b = Buffer.alloc(xs.length * 4);
    xs.forEach((x, i) => b.writeFloatLE(x, i * 4));
    return b;
  }
  function s16(...xs: number[]): Buffer {
    const b = Buffer.alloc(xs.length * 2);
    xs.forEach((x, i) => b.writeInt16LE(x, i * 2));
    return b;
  }

  it('turns float32 frames into one-channel steps, stream from the key', () => {
    const out = createDecoder({ format: 'pcm' })(msg(f32(0.5, -0.25, 1, 0), 'mic-1'));
    expect(out.stream).toBe('mic-1');
    expect(out.ts).toBe(KAFKA_TS);
    expect(rows(out.values)).toEqual([[0.5], [-0.25], [1], [0]]);
  });

  it('scales int16 into [-1, 1)', () => {
    const out = createDecoder({ format: 'pcm', sample: 's16le' })(msg(s16(-32768, 0, 16384, 32767), 'mic-2'));
    expect(rows(out.values)).toEqual([[-1], [0], [0.5], [32767 / 32768]]);
    for (const [v] of rows(out.values)) expect(v >= -1 && v < 1).toBe(true);
  });

  it('splits interleaved channels and reads buffers at odd offsets', () => {
    const backing = Buffer.concat([Buffer.from([0xff]), s16(100, -100, 200, -200)]);
    const unaligned = backing.subarray(1);
    expect(unaligned.byteOffset % 2).toBe(1);
    const out = createDecoder({ format: 'pcm', sample: 's16le', channels: 2 })(msg(unaligned, 'stereo'));
    expect(rows(out.values)).toEqual([
      [100 / 32768, -100 / 32768],
      [200 / 32768, -200 / 32768],
    ]);
    const f = Buffer.concat([Buffer.from([0, 0, 0]), f32(0.75, -0.5)]).subarray(3);
    expect(rows(createDecoder({ format: 'pcm' })(msg(f, 'm')).values)).toEqual([[0.75], [-0.5]]);
  });

  it('rejects partial frames, missing stream ids and bad sizes', () => {
    expectKind({ format: 'pcm', sample: 's16le' }, msg(Buffer.from([1, 2, 3]), 'm'), 'malformed', /3 bytes is not a whole number of s16le frames/);
    expectKind({ format: 'pcm' }, msg(Buffer.alloc(6), 'm'), 'malformed', /f32le frames/);
    expectKind({ format: 'pcm', sample: 's16le', channels: 2 }, msg(Buffer.alloc(6), 'm'), 'malformed', /4 bytes each/);
    expectKind({ format: 'pcm' }, msg(f32(0.5)), 'malformed', /no stream id/);
    expect(createDecoder({ format: 'pcm', defaultStream: 'room' })(msg(f32(0.5))).stream).toBe('room');
    expectKind({ format: 'pcm' }, msg(Buffer.alloc(0), 'm'), 'empty');
    expectKind({ format: 'pcm', maxBytes: 8 }, msg(f32(1, 2, 3), 'm'), 'oversized', /12 bytes/);
  });
});

describe('decodeMessage', () => {
  it('decodes with an already parsed config', () => {
    const cfg = parseDecoderConfig({ format: 'csv', columns: ['stream', 'value'] });
    expect(decodeMessage(msg('a,1'), cfg)).toEqual({ stream: 'a', ts: KAFKA_TS, values: [Float64Array.of(1)] });
  });
});
