import { createWriteStream, type WriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import type { DataConfig } from '../config/core.js';
import { openSeries, type ReaderOptions, type SeriesSource } from '../ingest/readers.js';
import type { InputManifest } from '../model/artifact.js';
import type { SeriesRecord, Window } from '../ingest/types.js';
import { StreamWindower } from '../ingest/windower.js';
import { EventTimeOrder, type OrderDrops, type OrderPolicy } from '../ingest/reorder.js';
import { InputError, OutputError } from '../util/errors.js';
import type { Detector } from '../scoring/detector.js';
import type { WindowScore } from '../scoring/types.js';

export type OutputFormat = 'csv' | 'jsonl';

export interface FileSummary {
  file: string;
  stream: string;
  rows: number;
  windows: number;
  anomalous: number;
  maxScore: number;
  maxRaw: number;
}

/** What offline scoring does with rows out of timestamp order: the daemon's default (streams.allowedLatenessMs 0). */
export const DEFAULT_ORDER_POLICY: OrderPolicy = { allowedLatenessMs: 0, maxBuffered: 1024 };

/**
 * Streams one series through windows and the detector in batches; `onBatch` receives
 * each scored batch in order. The very code path `serve` uses per stream (the same
 * event-time order policy, ingest/reorder.ts: rows with a timestamp out of order beyond
 * `order.allowedLatenessMs` are dropped as late, repeated timestamps as duplicates), plus
 * a final window at the end of the file so that every row is covered.
 */
export async function scoreSource(
  src: SeriesSource,
  detector: Detector,
  onBatch: (windows: Window[], results: WindowScore[]) => void | Promise<void>,
  batchSize = 256,
  onRecord?: (rec: SeriesRecord) => void,
  order: OrderPolicy = DEFAULT_ORDER_POLICY,
  hopOverride?: number,
): Promise<{ rows: number; windows: number } & OrderDrops> {
  const { length } = detector.model.manifest.window;
  const hop = hopOverride ?? detector.model.manifest.window.hop;
  const windower = new StreamWindower(src.header.stream, { length, hop, channels: src.header.channels.length });
  const reorder = new EventTimeOrder<SeriesRecord>(order);
  const drops: OrderDrops = { late: 0, duplicate: 0 };
  let pending: Window[] = [];
  let windows = 0;
  const flush = async () => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    windows += batch.length;
    await onBatch(batch, await detector.score(batch));
  };
  const released: SeriesRecord[] = [];
  const take = async () => {
    for (const rec of released) {
      const w = windower.push(rec);
      if (w) {
        pending.push(w);
        if (pending.length >= batchSize) await flush();
      }
    }
    released.length = 0;
  };
  for await (const rec of src.records()) {
    onRecord?.(rec);
    if (typeof rec.ts === 'number' && Number.isFinite(rec.ts)) {
      const drop = reorder.push({ t: rec.ts, sub: 0 }, rec, released);
      if (drop) drops[drop]++;
    } else released.push(rec);
    if (released.length) await take();
  }
  reorder.flush(released);
  await take();
  const last = windower.flush();
  if (last) pending.push(last);
  await flush();
  if (windower.seen < length) throw new InputError(`only ${windower.seen} rows, fewer than one window of ${length}`, { file: src.file });
  return { rows: windower.seen, windows, ...drops };
}

/**
 * Opens a file with the model's channel names, so columns are matched by name. Reading
 * settings come from `data` (a --config), else from the model (how its training files
 * were read), else from auto-detection.
 */
export function openForModel(file: string, detector: Detector, data: Partial<DataConfig> = {}, stream?: string): Promise<SeriesSource> {
  return openSeries(file, { ...readerSettings(detector.model.manifest.input, data), channels: detector.channelNames, ...(stream ? { stream } : {}) });
}

/** Reader options for scoring data: the config's data section over the model's input settings. */
export function readerSettings(input: InputManifest | undefined, data: Partial<DataConfig> = {}): ReaderOptions {
  const fromModel: Partial<InputManifest> = input ?? {};
  return {
    timestampColumn: data.timestampColumn !== undefined ? data.timestampColumn : fromModel.timestampColumn,
    format: data.format,
    delimiter: data.delimiter ?? fromModel.delimiter,
    header: data.header ?? fromModel.header,
  };
}

/** Epoch milliseconds print as ISO 8601; other timestamps as given. */
export function formatTs(ts: number | string | undefined): string {
  if (ts === undefined) return '';
  if (typeof ts === 'number' && ts > 1e11 && ts < 1e14) return new Date(ts).toISOString();
  return String(ts);
}

function csvCell(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export class ScoreWriter {
  private header = false;
  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly format: OutputFormat,
    private readonly channelNames: string[],
    private readonly withTimestamps: boolean,
  ) {}

  write(windows: Window[], results: WindowScore[]): void {
    let text = '';
    if (this.format === 'csv' && !this.header) {
      this.header = true;
      text += ['stream', 'start', 'end', ...(this.withTimestamps ? ['start_ts', 'end_ts'] : []), 'raw_score', 'score', 'anomaly', 'top_channel'].join(',') + '\n';
    }
    for (let i = 0; i < windows.length; i++) {
      const w = windows[i];
      const r = results[i];
      const top = this.channelNames[r.topChannel] ?? String(r.topChannel);
      if (this.format === 'csv') {
        const cells = [csvCell(w.stream), String(w.start), String(w.end)];
        if (this.withTimestamps) cells.push(csvCell(formatTs(w.startTs)), csvCell(formatTs(w.endTs)));
        cells.push(r.raw.toPrecision(6), r.score.toFixed(6), r.anomaly ? '1' : '0', csvCell(top));
        text += cells.join(',') + '\n';
      } else {
        const row: Record<string, unknown> = { stream: w.stream, start: w.start, end: w.end };
        if (this.withTimestamps) {
          row.start_ts = formatTs(w.startTs);
          row.end_ts = formatTs(w.endTs);
        }
        Object.assign(row, {
          raw_score: Number(r.raw.toPrecision(6)),
          score: Number(r.score.toFixed(6)),
          anomaly: r.anomaly ? 1 : 0,
          top_channel: top,
          channel_errors: Array.from(r.channelErrors, (e) => Number(e.toPrecision(4))),
        });
        text += JSON.stringify(row) + '\n';
      }
    }
    this.out.write(text);
  }
}

/**
 * An output file that appears only when complete: rows go to a temp file renamed into
 * place on success and removed on failure, so an input error leaves no partial output.
 */
export class AtomicOutput {
  readonly stream: WriteStream;
  private readonly tmp: string;
  /** The first write error: kept and raised by commit(), never an unhandled 'error' event. */
  private failure: Error | null = null;
  constructor(readonly file: string) {
    this.tmp = `${file}.partial-${process.pid}`;
    this.stream = createWriteStream(this.tmp);
    this.stream.on('error', (e) => (this.failure ??= e));
  }
  private close(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.failure || this.stream.destroyed) return this.failure ? reject(this.failure) : resolve();
      this.stream.end((err?: Error | null) => (err || this.failure ? reject(err ?? this.failure) : resolve()));
    });
  }
  async commit(): Promise<void> {
    try {
      await this.close();
      await rename(this.tmp, this.file);
    } catch (e) {
      await rm(this.tmp, { force: true }).catch(() => undefined);
      throw new OutputError(`${this.file}: cannot write (${(e as NodeJS.ErrnoException).code ?? String(e)})`, { cause: e });
    }
  }
  async abort(): Promise<void> {
    await this.close().catch(() => undefined);
    await rm(this.tmp, { force: true });
  }
}
