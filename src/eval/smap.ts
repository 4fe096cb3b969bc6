/**
 * Readers for the NASA SMAP/MSL telemetry benchmark folder (`smap_msl/`): per channel a
 * `<SPACECRAFT>/<chan>_train.csv` and `_test.csv` with columns c0..cN (c0 telemetry,
 * the rest 0/1 command flags) and `labels.json` with inclusive anomaly row ranges of the
 * test file. The files are a few hundred kilobytes, so they are read whole.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { InputError } from '../util/errors.js';
import { numberAt, readCsvTable, readJsonFile } from './csv.js';

export interface SmapLabelEntry {
  /** Inclusive [start, end] row ranges of the test file. */
  anomalies: [number, number][];
  classes: string[];
  testLength: number;
}

/** A series in the project's window layout: values[c * length + i]. */
export interface ChannelMajorSeries {
  file: string;
  channels: number;
  length: number;
  values: Float32Array;
}

export interface SmapChannel {
  /** `SMAP/A-1` or `MSL/C-1`. */
  id: string;
  spacecraft: string;
  channel: string;
  train: ChannelMajorSeries;
  test: ChannelMajorSeries;
  /** One 0/1 label per test row. */
  labels: Uint8Array;
  classes: string[];
}

/** Reads `labels.json` into a map keyed by channel id (`SMAP/A-1`), ids sorted. */
export function loadSmapLabels(dir: string): Map<string, SmapLabelEntry> {
  const file = path.join(dir, 'labels.json');
  const json = readJsonFile(file);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new InputError('expected an object keyed by channel id', { file });
  }
  const out = new Map<string, SmapLabelEntry>();
  for (const id of Object.keys(json).sort()) {
    const entry = (json as Record<string, unknown>)[id] as Record<string, unknown> | null;
    const anomalies = entry?.anomalies;
    const testLength = entry?.test_length;
    if (!Number.isInteger(testLength) || (testLength as number) < 0) {
      throw new InputError(`"${id}" lacks a non-negative integer test_length`, { file });
    }
    if (!Array.isArray(anomalies)) throw new InputError(`"${id}" lacks an anomalies list`, { file });
    const ranges = anomalies.map((r): [number, number] => {
      const ok = Array.isArray(r) && r.length === 2 && Number.isInteger(r[0]) && Number.isInteger(r[1]);
      if (!ok || r[0] < 0 || r[1] < r[0] || r[1] >= (testLength as number)) {
        throw new InputError(`"${id}" has an anomaly range ${JSON.stringify(r)} outside 0..${(testLength as number) - 1}`, { file });
      }
      return [r[0], r[1]];
    });
    const classes = Array.isArray(entry?.classes) ? (entry!.classes as unknown[]).map(String) : [];
    out.set(id, { anomalies: ranges, classes, testLength: testLength as number });
  }
  return out;
}

/** Channel ids from `labels.json` whose train and test files are present. */
export function listSmapChannels(dir: string): string[] {
  return [...loadSmapLabels(dir).keys()].filter(
    (id) => existsSync(path.join(dir, `${id}_train.csv`)) && existsSync(path.join(dir, `${id}_test.csv`)),
  );
}

/** Per-row 0/1 labels from inclusive anomaly ranges. */
export function smapRowLabels(entry: SmapLabelEntry): Uint8Array {
  const labels = new Uint8Array(entry.testLength);
  for (const [start, end] of entry.anomalies) labels.fill(1, start, end + 1);
  return labels;
}

/** Reads a c0..cN file into channel-major Float32 values. */
export function readSmapSeries(file: string): ChannelMajorSeries {
  const table = readCsvTable(file);
  table.header.forEach((name, c) => {
    if (name !== `c${c}`) throw new InputError(`column ${c + 1} is "${name}", expected "c${c}"`, { file, line: 1 });
  });
  const channels = table.header.length;
  const length = table.rows.length;
  const values = new Float32Array(channels * length);
  for (let i = 0; i < length; i++) {
    for (let c = 0; c < channels; c++) values[c * length + i] = numberAt(table, i, c);
  }
  return { file, channels, length, values };
}

/** Loads one channel (`SMAP/A-1`): train and test series and the test labels. */
export function loadSmapChannel(dir: string, id: string, labels = loadSmapLabels(dir)): SmapChannel {
  const entry = labels.get(id);
  if (!entry) throw new InputError(`no labels for channel "${id}"`, { file: path.join(dir, 'labels.json') });
  const [spacecraft, channel] = id.split('/');
  const train = readSmapSeries(path.join(dir, `${id}_train.csv`));
  const test = readSmapSeries(path.join(dir, `${id}_test.csv`));
  if (train.channels !== test.channels) {
    throw new InputError(`train has ${train.channels} columns but test has ${test.channels}`, { file: test.file });
  }
  if (test.length !== entry.testLength) {
    throw new InputError(`test file has ${test.length} rows but labels.json says ${entry.testLength}`, { file: test.file });
  }
  return { id, spacecraft, channel, train, test, labels: smapRowLabels(entry), classes: entry.classes };
}
