/**
 * Input limits (README "Security"): each refuses its input with an error that names the
 * limit and the place, before the oversized thing is allocated or parsed.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_FMT_CHUNK_BYTES, decodeWav, readWavInfo } from '../../src/ingest/audio/wav.js';
import { DecodeError, createDecoder, type RawMessage } from '../../src/ingest/decoders.js';
import { MAX_LINE_BYTES, openSeries } from '../../src/ingest/readers.js';
import { InputLimitError } from '../../src/util/errors.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'nf-limits-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const msg = (value: string): RawMessage => ({ topic: 't', partition: 2, offset: '41', timestamp: '1700000000000', key: Buffer.from('k'), value: Buffer.from(value) });

function decodeError(f: () => unknown): DecodeError {
  try {
    f();
  } catch (e) {
    if (e instanceof DecodeError) return e;
    throw e;
  }
  throw new Error('no error');
}

async function readAll(file: string, opts: Parameters<typeof openSeries>[1] = {}): Promise<number> {
  const src = await openSeries(file, opts);
  let n = 0;
  for await (const _ of src.records()) n++;
  return n;
}

async function limitError(p: Promise<unknown>): Promise<InputLimitError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof InputLimitError) return e;
    throw e;
  }
  throw new Error('no error');
}

describe('message limits (Kafka decoders)', () => {
  it('maxBytes: a larger message is oversized (limit message_bytes), named by topic/partition@offset', () => {
    const e = decodeError(() => createDecoder({ maxBytes: 10 })(msg('{"value":1.25}')));
    expect(e).toMatchObject({ kind: 'oversized', limit: 'message_bytes' });
    expect(e.message).toBe('t/2@41: message value is 14 bytes, more than the 10 allowed (maxBytes)');
  });

  it('maxChannels: JSON "values" and CSV value columns beyond it are oversized (limit channels)', () => {
    const values = Array.from({ length: 9 }, (_, i) => i);
    const j = decodeError(() => createDecoder({ maxChannels: 8 })(msg(JSON.stringify({ stream: 's', values }))));
    expect(j).toMatchObject({ kind: 'oversized', limit: 'channels' });
    expect(j.message).toBe('t/2@41: 9 channels, more than the 8 allowed (maxChannels)');
    const c = decodeError(() => createDecoder({ format: 'csv', maxChannels: 8 })(msg(`s,1700000000000,${values.join(',')}`)));
    expect(c).toMatchObject({ kind: 'oversized', limit: 'channels' });
    // At the limit it decodes.
    expect(createDecoder({ maxChannels: 9 })(msg(JSON.stringify({ stream: 's', values }))).values[0]).toHaveLength(9);
    expect(createDecoder({ format: 'csv', maxChannels: 9 })(msg(`s,1,${values.join(',')}`)).values[0]).toHaveLength(9);
  });
});

describe('file limits (CSV / JSONL readers)', () => {
  it('maxLineBytes: a long line is refused with file:line while it is read', async () => {
    const f = path.join(dir, 'long.csv');
    await writeFile(f, `ts,a\n1,1\n2,1.${'0'.repeat(500)}\n3,3\n`);
    const e = await limitError(readAll(f, { maxLineBytes: 100 }));
    expect(e.limit).toBe('line_bytes');
    expect(e.message).toBe(`${f}:3: line is longer than 100 bytes (maxLineBytes); is this a text file with line breaks?`);
    expect(await readAll(f, { maxLineBytes: 600 })).toBe(3);
  });

  it('a file without line breaks larger than the default limit fails before it is held in memory', async () => {
    const f = path.join(dir, 'noline.jsonl');
    await writeFile(f, Buffer.alloc(MAX_LINE_BYTES * 3, 0x61));
    const e = await limitError(readAll(f));
    expect(e).toMatchObject({ limit: 'line_bytes', location: { file: f, line: 1 } });
  });

  it('line breaks: LF, CRLF and lone CR, also across read chunks', async () => {
    const f = path.join(dir, 'breaks.csv');
    const rows = Array.from({ length: 30000 }, (_, i) => `${i},${i % 7}`);
    const seps = ['\n', '\r\n', '\r'];
    await writeFile(f, 'ts,a\r\n' + rows.map((r, i) => r + seps[i % 3]).join(''));
    const src = await openSeries(f);
    const lines: number[] = [];
    for await (const r of src.records()) lines.push(r.line!);
    expect(lines.length).toBe(30000);
    expect(lines[0]).toBe(2);
    expect(lines.at(-1)).toBe(30001);
  });

  it('maxChannels: a header with more columns, or a JSONL record with more fields, is refused', async () => {
    const f = path.join(dir, 'wide.csv');
    await writeFile(f, `${Array.from({ length: 20 }, (_, i) => `c${i}`).join(',')}\n${Array(20).fill(1).join(',')}\n`);
    const e = await limitError(readAll(f, { maxChannels: 10 }));
    expect(e).toMatchObject({ limit: 'channels', location: { file: f, line: 1 } });
    expect(e.reason).toBe('20 columns, more than the 10 allowed (maxChannels)');
    const j = path.join(dir, 'wide.jsonl');
    await writeFile(j, JSON.stringify({ values: Array(20).fill(1) }) + '\n');
    expect((await limitError(readAll(j, { maxChannels: 10 }))).limit).toBe('channels');
  });
});

describe('WAV header limits', () => {
  function header(o: { channels: number; fmtSize?: number }): Buffer {
    const fmtSize = o.fmtSize ?? 16;
    const h = Buffer.alloc(12 + 8 + fmtSize + 8);
    h.write('RIFF', 0, 'latin1');
    h.writeUInt32LE(h.length - 8, 4);
    h.write('WAVEfmt ', 8, 'latin1');
    h.writeUInt32LE(fmtSize, 16);
    h.writeUInt16LE(1, 20);
    h.writeUInt16LE(o.channels, 22);
    h.writeUInt32LE(16000, 24);
    h.writeUInt32LE(16000 * 2 * o.channels, 28);
    h.writeUInt16LE((2 * o.channels) & 0xffff, 32);
    h.writeUInt16LE(16, 34);
    h.write('data', 20 + fmtSize, 'latin1');
    h.writeUInt32LE(0, 24 + fmtSize);
    return h;
  }

  it('more channels than maxChannels (default 256) is refused', async () => {
    const e = await limitError(decodeWav(header({ channels: 300 }), { file: 'x.wav' }));
    expect(e.limit).toBe('wav_header');
    expect(e.message).toBe('x.wav: fmt chunk declares 300 channels, more than the 256 allowed (maxChannels)');
    expect((await decodeWav(header({ channels: 300 }), { maxChannels: 300 })).info.channels).toBe(300);
  });

  it('a fmt chunk over 64 KiB is refused before it is read', async () => {
    const f = path.join(dir, 'bigfmt.wav');
    await writeFile(f, header({ channels: 1, fmtSize: MAX_FMT_CHUNK_BYTES + 2 }));
    const e = await limitError(readWavInfo(f));
    expect(e.limit).toBe('wav_header');
    expect(e.message).toContain(`fmt chunk of ${MAX_FMT_CHUNK_BYTES + 2} bytes`);
  });
});
