import { describe, expect, it } from 'vitest';
import { HISTOGRAM_NAMES, METRIC_NAMES, NoisefloorMetrics, OTHER_STREAM } from '../../src/daemon/metrics.js';
import type { AlertEvent } from '../../src/alerts/types.js';
import type { ScoreEvent } from '../../src/scoring/types.js';

function ev(stream: string, score: number, threshold = 0.99): ScoreEvent {
  return {
    stream,
    start: 0,
    end: 63,
    endTs: 1_700_000_000_000,
    raw: score * 3,
    score,
    threshold,
    anomaly: score >= threshold,
    topChannels: ['a'],
    channelErrors: [1],
    modelVersion: 'v1',
  };
}

/** Value of one sample line `name{labels} value` in the exposition text. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got: Record<string, string> = {};
    for (const kv of (m[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) got[kv[1]] = kv[2];
    if (Object.entries(labels).every(([k, v]) => got[k] === v) && Object.keys(got).length === Object.keys(labels).length) return Number(m[4]);
  }
  return undefined;
}

describe('NoisefloorMetrics', () => {
  it('exports every listed metric with the noisefloor_ prefix plus default process metrics', async () => {
    const m = new NoisefloorMetrics({ version: '1.2.3' });
    m.observeScores([ev('s1', 0.5)]);
    m.observeBatch(4, 0.02);
    m.setModelInfo({ version: 'v1', provider: 'cpu', window: 64, trainedAt: '2026-01-01T00:00:00Z' });
    const text = await m.metrics();
    for (const name of METRIC_NAMES) {
      expect(name).toMatch(/^noisefloor_[a-z0-9_]+$/);
      expect(text, name).toContain(`# TYPE ${name} `);
    }
    for (const h of HISTOGRAM_NAMES) expect(text).toContain(`# TYPE ${h} histogram`);
    expect(text).toContain('process_cpu_user_seconds_total');
    expect(text).toContain('nodejs_eventloop_lag_seconds');
    expect(sample(text, 'noisefloor_build_info', { version: '1.2.3', node_version: process.version })).toBe(1);
    expect(m.contentType).toContain('text/plain');
  });

  it('records scores, thresholds, anomalies and the histogram', async () => {
    const m = new NoisefloorMetrics({ defaultMetrics: false });
    m.observeScores([ev('s1', 0.5), ev('s1', 0.995), ev('s1', 0.2, 0.98)]);
    const t = await m.metrics();
    expect(sample(t, 'noisefloor_windows_scored_total', { stream: 's1' })).toBe(3);
    expect(sample(t, 'noisefloor_anomalous_windows_total', { stream: 's1' })).toBe(1);
    expect(sample(t, 'noisefloor_stream_score', { stream: 's1' })).toBe(0.2);
    expect(sample(t, 'noisefloor_stream_threshold', { stream: 's1' })).toBe(0.98);
    expect(sample(t, 'noisefloor_stream_raw_score', { stream: 's1' })).toBeCloseTo(0.6, 12);
    expect(sample(t, 'noisefloor_stream_last_scored_timestamp_seconds', { stream: 's1' })).toBe(1_700_000_000);
    expect(sample(t, 'noisefloor_window_score_count', { stream: 's1' })).toBe(3);
    expect(sample(t, 'noisefloor_window_score_bucket', { stream: 's1', le: '0.5' })).toBe(2);
    expect(sample(t, 'noisefloor_window_score_bucket', { stream: 's1', le: '0.99' })).toBe(2);
    expect(sample(t, 'noisefloor_window_score_bucket', { stream: 's1', le: '0.995' })).toBe(3);
  });

  it('folds streams beyond maxStreams into stream="_other" and counts them once', async () => {
    const m = new NoisefloorMetrics({ maxStreams: 2, defaultMetrics: false });
    m.observeScores(['a', 'b', 'c', 'd', 'e', 'c', 'a'].map((s) => ev(s, 0.5)));
    m.observeScores([ev('d', 0.7), ev('zz', 0.1)]);
    let t = await m.metrics();
    const streams = new Set([...t.matchAll(/noisefloor_windows_scored_total\{stream="([^"]*)"\}/g)].map((x) => x[1]));
    expect(streams).toEqual(new Set(['a', 'b', OTHER_STREAM]));
    expect(sample(t, 'noisefloor_windows_scored_total', { stream: 'a' })).toBe(2);
    expect(sample(t, 'noisefloor_windows_scored_total', { stream: OTHER_STREAM })).toBe(6);
    expect(sample(t, 'noisefloor_streams_folded_total')).toBe(4); // c, d, e, zz
    expect(sample(t, 'noisefloor_streams_tracked')).toBe(2);
    expect(sample(t, 'noisefloor_stream_score', { stream: OTHER_STREAM })).toBe(0.1);
    // Forgetting a stream frees its slot and removes its series; a stream literally named
    // "_other" never takes a slot.
    m.forgetStream('b');
    m.observeScores([ev(OTHER_STREAM, 0.3), ev('f', 0.4)]);
    t = await m.metrics();
    expect(sample(t, 'noisefloor_windows_scored_total', { stream: 'b' })).toBeUndefined();
    expect(sample(t, 'noisefloor_windows_scored_total', { stream: 'f' })).toBe(1);
    expect(sample(t, 'noisefloor_streams_folded_total')).toBe(5);
  });

  it('tracks firing alerts, model info, sinks, lag and rejections', async () => {
    const m = new NoisefloorMetrics({ maxStreams: 10, defaultMetrics: false, maxReasons: 2 });
    const base = { alertname: 'A', episode: 1, modelVersion: 'v1', topChannels: [], firstWindow: { start: 0, end: 1 }, lastWindow: { start: 0, end: 1 } };
    const nums = { peakScore: 1, peakRaw: 1, lastScore: 1, lastRaw: 1, threshold: 0.9, windowsAbove: 1, startsAt: 0 };
    const a = (fp: string, stream: string, status: 'firing' | 'resolved', severity: 'warning' | 'critical', reason: AlertEvent['reason']): AlertEvent => ({
      ...base,
      ...nums,
      fingerprint: fp,
      stream,
      status,
      severity,
      reason,
    });
    m.observeAlerts([a('f1', 's1', 'firing', 'warning', 'n_of_m'), a('f2', 's2', 'firing', 'warning', 'n_of_m')]);
    m.observeAlerts([a('f1', 's1', 'firing', 'critical', 'escalated')]);
    let t = await m.metrics();
    expect(sample(t, 'noisefloor_alerts_firing', { stream: 's1', severity: 'critical' })).toBe(1);
    expect(sample(t, 'noisefloor_alerts_firing', { stream: 's1', severity: 'warning' })).toBe(0);
    expect(sample(t, 'noisefloor_alerts_firing', { stream: 's2', severity: 'warning' })).toBe(1);
    expect(sample(t, 'noisefloor_alerts_total', { severity: 'warning' })).toBe(2);
    m.observeAlerts([a('f1', 's1', 'resolved', 'critical', 'recovered')]);
    m.setModelInfo({ version: 'v1', provider: 'cpu', window: 64, trainedAt: 't1' });
    m.setModelInfo({ version: 'v2', provider: 'cuda', window: 128, trainedAt: 't2' });
    m.modelReloaded(true);
    m.registerSink('webhook');
    m.sinkFailed('webhook', 3);
    m.setConsumerLag('in', 3, 42);
    m.messagesDecoded('in', 10);
    for (const r of ['x', 'y', 'z', 'w']) m.messagesRejected('in', r);
    t = await m.metrics();
    expect(sample(t, 'noisefloor_alerts_firing', { stream: 's1', severity: 'critical' })).toBe(0);
    expect(sample(t, 'noisefloor_model_info', { version: 'v1', provider: 'cpu', window: '64', trained_at: 't1' })).toBeUndefined();
    expect(sample(t, 'noisefloor_model_info', { version: 'v2', provider: 'cuda', window: '128', trained_at: 't2' })).toBe(1);
    expect(sample(t, 'noisefloor_model_reloads_total', { result: 'success' })).toBe(1);
    expect(sample(t, 'noisefloor_model_reloads_total', { result: 'failure' })).toBe(0);
    expect(sample(t, 'noisefloor_alert_sink_failures_total', { sink: 'webhook' })).toBe(3);
    expect(sample(t, 'noisefloor_alert_sink_deliveries_total', { sink: 'webhook' })).toBe(0);
    expect(sample(t, 'noisefloor_consumer_lag_messages', { topic: 'in', partition: '3' })).toBe(42);
    expect(sample(t, 'noisefloor_messages_decoded_total', { source: 'in' })).toBe(10);
    expect(sample(t, 'noisefloor_messages_rejected_total', { source: 'in', reason: 'other' })).toBe(2);
  });
});
