import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NoisefloorMetrics } from '../../src/daemon/metrics.js';
import { DaemonHttpServer } from '../../src/daemon/http.js';
import type { ScoreEvent } from '../../src/scoring/types.js';
import { scrapeConfig, startPrometheus, waitFor, type RunningService } from '../support/prom/index.js';

function ev(stream: string, score: number, i: number): ScoreEvent {
  return {
    stream,
    start: i * 32,
    end: i * 32 + 63,
    raw: score * 7,
    score,
    threshold: 0.99,
    anomaly: score >= 0.99,
    topChannels: ['ch0'],
    channelErrors: [score],
    modelVersion: 'v-test',
  };
}

let prom: RunningService | undefined;
let http: DaemonHttpServer;
const metrics = new NoisefloorMetrics({ version: 'test' });

beforeAll(async () => {
  http = new DaemonHttpServer({ registry: metrics.registry, port: 0, host: '127.0.0.1' });
  const port = await http.start();
  prom = await startPrometheus(scrapeConfig([`127.0.0.1:${port}`], '1s'));
});
afterAll(async () => {
  await prom?.stop();
  await http?.stop();
});

interface QueryResult {
  status: string;
  data: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
}

async function query(q: string): Promise<QueryResult['data']['result']> {
  const res = await fetch(`${prom!.url}/api/v1/query?query=${encodeURIComponent(q)}`);
  const body = (await res.json()) as QueryResult;
  expect(body.status).toBe('success');
  return body.data.result;
}

describe('a real Prometheus scraping the daemon endpoint', () => {
  it('sees the scores fed through metrics.ts', async () => {
    metrics.observeScores([ev('line-a', 0.25, 0), ev('line-a', 0.9975, 1), ev('line-b', 0.125, 0)]);
    metrics.setModelInfo({ version: 'v-test', provider: 'cpu', window: 64, trainedAt: '2026-01-01T00:00:00Z' });

    const a = await waitFor(async () => {
      const r = await query('noisefloor_stream_score{stream="line-a"}');
      return r.length ? r : undefined;
    }, { what: 'first scrape', timeoutMs: 60_000 });
    expect(a).toHaveLength(1);
    expect(a[0].metric).toMatchObject({ __name__: 'noisefloor_stream_score', stream: 'line-a', job: 'noisefloor' });
    expect(Number(a[0].value[1])).toBe(0.9975);

    const b = await query('noisefloor_stream_score{stream="line-b"}');
    expect(Number(b[0].value[1])).toBe(0.125);
    const scored = await query('sum(noisefloor_windows_scored_total)');
    expect(Number(scored[0].value[1])).toBe(3);
    const anomalous = await query('noisefloor_anomalous_windows_total{stream="line-a"}');
    expect(Number(anomalous[0].value[1])).toBe(1);
    const hist = await query('noisefloor_window_score_count{stream="line-a"}');
    expect(Number(hist[0].value[1])).toBe(2);
    const info = await query('noisefloor_model_info');
    expect(info[0].metric).toMatchObject({ version: 'v-test', provider: 'cpu', window: '64' });
    const up = await query('up{job="noisefloor"}');
    expect(Number(up[0].value[1])).toBe(1);
  });
});
