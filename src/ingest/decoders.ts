/**
 * Kafka message decoders: pure functions from one consumed record to the time steps it
 * carries. No Kafka client here; the consumer hands over `{ key, value, timestamp, topic,
 * partition, offset }` as kafkajs gives them.
 *
 * Formats:
 *  - json: `{"stream":"s1","ts":1700000000000,"value":1.5}` or `"values":[1.5,2]` for several
 *    channels; field names configurable; ts in epoch ms (or s, `tsUnit`) or an ISO string;
 *    `null` is a missing value (NaN).
 *  - csv: one line, `stream,ts,v1,v2,…` by default; `columns` gives each column's role.
 *    Cells parse like the CSV file reader's (empty, NaN, NA and null are missing).
 *  - pcm: raw little-endian frames, float32 (`f32le`) or int16 (`s16le`, scaled by 1/32768
 *    to [-1, 1)), interleaved when `channels` > 1; the stream id is the message key. One
 *    message yields one time step per frame.
 *
 * A payload without a stream id falls back to the message key, then to `defaultStream`.
 * A payload without a timestamp gets the Kafka record's timestamp (`useMessageTimestamp`).
 *
 * Every failure is a DecodeError (an InputError, code NF_INPUT) with a stable `kind`:
 * `empty`, `oversized` or `malformed`, and the record's topic/partition/offset.
 */
import { z } from 'zod';
import { ConfigError, InputError, type InputLimitName, type InputLocation } from '../util/errors.js';
import { parseNumericCell, parseTimestamp, splitCsvLine } from './csv-line.js';

/** A consumed Kafka record, as far as decoding needs it (kafkajs's KafkaMessage fits). */
export interface RawMessage {
  topic: string;
  partition: number;
  offset: string;
  /** Record timestamp, epoch milliseconds as a decimal string (kafkajs's form). */
  timestamp: string;
  key: Buffer | null;
  value: Buffer | null;
}

export interface DecodedMessage {
  stream: string;
  /** Epoch milliseconds of the first step, when known. */
  ts?: number;
  /** One array per time step, each with one value per channel; NaN marks a missing value. */
  values: Float64Array[];
}

export type DecodeErrorKind = 'empty' | 'oversized' | 'malformed';

/**
 * A record that cannot be decoded. `kind` is stable; `reason` is for people; `limit` names
 * the input limit an `oversized` record broke (message_bytes or channels).
 */
export class DecodeError extends InputError {
  readonly limit: InputLimitName | undefined;
  constructor(
    readonly kind: DecodeErrorKind,
    reason: string,
    location: InputLocation = {},
    options?: { cause?: unknown; limit?: InputLimitName },
  ) {
    super(reason, location, options);
    this.limit = options?.limit;
  }
}

// ----------------------------------------------------------------------------- config

const DEFAULT_MAX_BYTES = 1024 * 1024;
/** Default largest channel count of one record (JSON "values", CSV value columns). */
export const DEFAULT_MAX_CHANNELS = 1024;

const common = {
  /** Largest value accepted, in bytes; larger records are `oversized`. */
  maxBytes: z.number().int().positive().default(DEFAULT_MAX_BYTES),
  /** Stream id when neither the payload nor the message key gives one. */
  defaultStream: z.string().min(1).optional(),
  /** Use the Kafka record timestamp when the payload has none. */
  useMessageTimestamp: z.boolean().default(true),
};

const tsUnit = z.enum(['ms', 's']).default('ms');

export const jsonDecoderSchema = z
  .object({
    format: z.literal('json'),
    ...common,
    fields: z
      .object({
        stream: z.string().min(1).default('stream'),
        ts: z.string().min(1).default('ts'),
        value: z.string().min(1).default('value'),
        values: z.string().min(1).default('values'),
      })
      .strict()
      .prefault({}),
    /** Unit of numeric timestamps. */
    tsUnit,
    /** Expected channel count; a record with another count is `malformed`. */
    channels: z.number().int().positive().optional(),
    /** Records with more channels are `oversized`, refused before their values are parsed. */
    maxChannels: z.number().int().positive().default(DEFAULT_MAX_CHANNELS),
  })
  .strict();

export const CSV_COLUMN_ROLES = ['stream', 'ts', 'value', 'values', 'skip'] as const;
export type CsvColumnRole = (typeof CSV_COLUMN_ROLES)[number];

export const csvDecoderSchema = z
  .object({
    format: z.literal('csv'),
    ...common,
    /**
     * Role of each column, in order: `stream`, `ts`, `value` (one channel), `skip`, or, last
     * only, `values` (every remaining column is a channel).
     */
    columns: z
      .array(z.enum(CSV_COLUMN_ROLES))
      .min(1)
      .default(['stream', 'ts', 'values'])
      .superRefine((cols, ctx) => {
        const count = (r: CsvColumnRole) => cols.filter((c) => c === r).length;
        if (count('stream') > 1) ctx.addIssue({ code: 'custom', message: 'at most one stream column' });
        if (count('ts') > 1) ctx.addIssue({ code: 'custom', message: 'at most one ts column' });
        const rest = cols.indexOf('values');
        if (rest !== -1 && rest !== cols.length - 1) ctx.addIssue({ code: 'custom', message: '"values" must be the last column' });
        if (count('value') + count('values') === 0) ctx.addIssue({ code: 'custom', message: 'no value column' });
      }),
    delimiter: z.string().length(1).default(','),
    tsUnit,
    channels: z.number().int().positive().optional(),
    /** Records with more value columns are `oversized`, refused before their cells are parsed. */
    maxChannels: z.number().int().positive().default(DEFAULT_MAX_CHANNELS),
  })
  .strict();

export const pcmDecoderSchema = z
  .object({
    format: z.literal('pcm'),
    ...common,
    sample: z.enum(['f32le', 's16le']).default('f32le'),
    /** Interleaved channels per frame. */
    channels: z.number().int().positive().default(1),
  })
  .strict();

/** Decoder settings; `{}` means JSON with the default field names. */
export const decoderConfigSchema = z.preprocess(
  (v) => (v === undefined ? { format: 'json' } : isPlainObject(v) && !('format' in v) ? { ...v, format: 'json' } : v),
  z.discriminatedUnion('format', [jsonDecoderSchema, csvDecoderSchema, pcmDecoderSchema]),
);

export type DecoderConfig = z.output<typeof decoderConfigSchema>;
/** What a config file may say: the parsed form with defaults optional; no format means json. */
export type DecoderConfigInput =
  | z.input<typeof jsonDecoderSchema>
  | Omit<z.input<typeof jsonDecoderSchema>, 'format'>
  | z.input<typeof csvDecoderSchema>
  | z.input<typeof pcmDecoderSchema>;
export type JsonDecoderConfig = z.output<typeof jsonDecoderSchema>;
export type CsvDecoderConfig = z.output<typeof csvDecoderSchema>;
export type PcmDecoderConfig = z.output<typeof pcmDecoderSchema>;

/** Validate decoder settings and fill in defaults; ConfigError lists every problem. */
export function parseDecoderConfig(input: unknown, path = 'decoder'): DecoderConfig {
  const res = decoderConfigSchema.safeParse(input);
  if (res.success) return res.data;
  const issues = res.error.issues.map((i) => `${[path, ...i.path.map(String)].join('.')}: ${i.message}`);
  throw new ConfigError('invalid decoder config', issues);
}

// ----------------------------------------------------------------------------- decoding

export type Decoder = (msg: RawMessage) => DecodedMessage;

/** A decoder for `config` (raw or parsed); the config is validated once, here. */
export function createDecoder(config: DecoderConfigInput | DecoderConfig | undefined = undefined): Decoder {
  const cfg = parseDecoderConfig(config);
  switch (cfg.format) {
    case 'json':
      return (msg) => decodeJson(msg, cfg);
    case 'csv':
      return (msg) => decodeCsv(msg, cfg);
    case 'pcm':
      return (msg) => decodePcm(msg, cfg);
  }
}

/** Decode one record; `config` must already be parsed (see parseDecoderConfig). */
export function decodeMessage(msg: RawMessage, config: DecoderConfig): DecodedMessage {
  switch (config.format) {
    case 'json':
      return decodeJson(msg, config);
    case 'csv':
      return decodeCsv(msg, config);
    case 'pcm':
      return decodePcm(msg, config);
  }
}

export function decodeJson(msg: RawMessage, cfg: JsonDecoderConfig): DecodedMessage {
  const text = payloadText(msg, cfg.maxBytes);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw malformed(msg, `invalid JSON: ${(e as Error).message}`, e);
  }
  if (!isPlainObject(doc)) throw malformed(msg, `expected a JSON object, got ${describe(doc)}`);
  const f = cfg.fields;

  const rawStream = own(doc, f.stream);
  let stream: string | undefined;
  if (rawStream !== undefined && rawStream !== null) {
    if (typeof rawStream !== 'string' || rawStream === '') throw malformed(msg, `"${f.stream}" must be a non-empty string, got ${describe(rawStream)}`);
    stream = rawStream;
  }

  const hasValue = own(doc, f.value) !== undefined;
  const hasValues = own(doc, f.values) !== undefined;
  if (hasValue && hasValues) throw malformed(msg, `both "${f.value}" and "${f.values}" given`);
  let row: Float64Array;
  if (hasValues) {
    const arr = own(doc, f.values);
    if (!Array.isArray(arr)) throw malformed(msg, `"${f.values}" must be an array of numbers, got ${describe(arr)}`);
    if (arr.length === 0) throw malformed(msg, `"${f.values}" is empty`);
    if (arr.length > cfg.maxChannels) throw tooManyChannels(msg, arr.length, cfg.maxChannels);
    row = new Float64Array(arr.length);
    arr.forEach((v, i) => (row[i] = jsonNumber(msg, v, `${f.values}[${i}]`)));
  } else if (hasValue) {
    row = Float64Array.of(jsonNumber(msg, own(doc, f.value), f.value));
  } else {
    throw malformed(msg, `no "${f.value}" or "${f.values}" field`);
  }
  checkChannels(msg, row.length, cfg.channels);

  const rawTs = own(doc, f.ts);
  let ts: number | undefined;
  if (rawTs !== undefined && rawTs !== null) {
    if (typeof rawTs === 'number') ts = numericTs(msg, rawTs, cfg.tsUnit, f.ts);
    else if (typeof rawTs === 'string') ts = textTs(msg, rawTs, cfg.tsUnit, f.ts);
    else throw malformed(msg, `"${f.ts}" must be a number or a date string, got ${describe(rawTs)}`);
  }

  return finish(msg, cfg, stream, ts, [row]);
}

export function decodeCsv(msg: RawMessage, cfg: CsvDecoderConfig): DecodedMessage {
  const text = payloadText(msg, cfg.maxBytes).replace(/\r?\n$/, '');
  if (/[\r\n]/.test(text)) throw malformed(msg, 'expected one CSV line, got several');
  const cells = splitCsvLine(text, cfg.delimiter);
  const cols = cfg.columns;
  const rest = cols[cols.length - 1] === 'values';
  const fixed = rest ? cols.length - 1 : cols.length;
  if (rest ? cells.length <= fixed : cells.length !== fixed) {
    const want = rest ? `more than ${fixed}` : String(fixed);
    throw malformed(msg, `expected ${want} CSV columns (${cols.join(',')}), got ${cells.length}`);
  }
  const valueCells = cells.length - cols.filter((c) => c === 'stream' || c === 'ts' || c === 'skip').length;
  if (valueCells > cfg.maxChannels) throw tooManyChannels(msg, valueCells, cfg.maxChannels);

  let stream: string | undefined;
  let ts: number | undefined;
  const values: number[] = [];
  cells.forEach((cell, i) => {
    const role = i < fixed ? cols[i] : 'values';
    switch (role) {
      case 'stream': {
        const s = cell.trim();
        if (s !== '') stream = s;
        break;
      }
      case 'ts':
        if (cell.trim() !== '') ts = textTs(msg, cell, cfg.tsUnit, `column ${i + 1}`);
        break;
      case 'value':
      case 'values': {
        const v = parseNumericCell(cell);
        if (v === null) throw malformed(msg, `column ${i + 1}: not a number: ${JSON.stringify(cell)}`);
        values.push(v);
        break;
      }
      case 'skip':
        break;
    }
  });
  checkChannels(msg, values.length, cfg.channels);
  return finish(msg, cfg, stream, ts, [Float64Array.from(values)]);
}

export function decodePcm(msg: RawMessage, cfg: PcmDecoderConfig): DecodedMessage {
  const buf = payload(msg, cfg.maxBytes);
  const bytesPerSample = cfg.sample === 'f32le' ? 4 : 2;
  const frameBytes = bytesPerSample * cfg.channels;
  if (buf.length % frameBytes !== 0) {
    throw malformed(
      msg,
      `${buf.length} bytes is not a whole number of ${cfg.sample} frames of ${cfg.channels} channel(s) (${frameBytes} bytes each)`,
    );
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const frames = buf.length / frameBytes;
  const values: Float64Array[] = new Array(frames);
  for (let t = 0, at = 0; t < frames; t++) {
    const row = new Float64Array(cfg.channels);
    for (let c = 0; c < cfg.channels; c++, at += bytesPerSample) {
      row[c] = cfg.sample === 'f32le' ? view.getFloat32(at, true) : view.getInt16(at, true) / 32768;
    }
    values[t] = row;
  }
  return finish(msg, cfg, undefined, undefined, values);
}

// ----------------------------------------------------------------------------- helpers

function locationOf(msg: RawMessage): InputLocation {
  return { topic: msg.topic, partition: msg.partition, offset: msg.offset };
}

function tooManyChannels(msg: RawMessage, got: number, max: number): DecodeError {
  return new DecodeError('oversized', `${got} channels, more than the ${max} allowed (maxChannels)`, locationOf(msg), { limit: 'channels' });
}

function malformed(msg: RawMessage, reason: string, cause?: unknown): DecodeError {
  return new DecodeError('malformed', reason, locationOf(msg), cause === undefined ? undefined : { cause });
}

/** The value bytes, checked for presence and size. */
function payload(msg: RawMessage, maxBytes: number): Buffer {
  const v = msg.value;
  if (v === null || v.length === 0) throw new DecodeError('empty', 'empty message value', locationOf(msg));
  if (v.length > maxBytes) {
    throw new DecodeError('oversized', `message value is ${v.length} bytes, more than the ${maxBytes} allowed (maxBytes)`, locationOf(msg), { limit: 'message_bytes' });
  }
  return v;
}

/** The value as UTF-8 text; whitespace only counts as empty. */
function payloadText(msg: RawMessage, maxBytes: number): string {
  const text = payload(msg, maxBytes).toString('utf8');
  if (text.trim() === '') throw new DecodeError('empty', 'message value is only whitespace', locationOf(msg));
  return text;
}

function finish(
  msg: RawMessage,
  cfg: { defaultStream?: string; useMessageTimestamp: boolean },
  stream: string | undefined,
  ts: number | undefined,
  values: Float64Array[],
): DecodedMessage {
  const id = stream ?? keyStream(msg) ?? cfg.defaultStream;
  if (id === undefined) throw malformed(msg, 'no stream id: none in the payload, no message key and no defaultStream');
  const when = ts ?? (cfg.useMessageTimestamp ? messageTs(msg.timestamp) : undefined);
  return when === undefined ? { stream: id, values } : { stream: id, ts: when, values };
}

function keyStream(msg: RawMessage): string | undefined {
  if (msg.key === null || msg.key.length === 0) return undefined;
  return msg.key.toString('utf8');
}

function messageTs(timestamp: string): number | undefined {
  const n = Number(timestamp);
  // kafkajs gives "-1" when the producer set none (old message formats).
  return timestamp !== '' && Number.isFinite(n) && n >= 0 ? n : undefined;
}

function jsonNumber(msg: RawMessage, v: unknown, where: string): number {
  if (v === null) return Number.NaN;
  if (typeof v !== 'number') throw malformed(msg, `"${where}" is not a number: ${describe(v)}`);
  return v;
}

function numericTs(msg: RawMessage, v: number, unit: 'ms' | 's', where: string): number {
  if (!Number.isFinite(v)) throw malformed(msg, `${where}: timestamp is not finite`);
  return unit === 's' ? v * 1000 : v;
}

function textTs(msg: RawMessage, text: string, unit: 'ms' | 's', where: string): number {
  const parsed = parseTimestamp(text);
  if (typeof parsed === 'string') throw malformed(msg, `${where}: not a timestamp: ${JSON.stringify(text)}`);
  // Plain numbers carry the configured unit; dates always parse to milliseconds.
  return /^\s*[+-]?[\d.]+([eE][+-]?\d+)?\s*$/.test(text) ? numericTs(msg, parsed, unit, where) : parsed;
}

function checkChannels(msg: RawMessage, got: number, want: number | undefined): void {
  if (want !== undefined && got !== want) throw malformed(msg, `expected ${want} channel(s), got ${got}`);
}

/** An own property only: a field named "constructor" must not find Object's. */
function own(doc: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(doc, key) ? doc[key] : undefined;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}
