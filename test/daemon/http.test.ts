import { afterEach, describe, expect, it } from 'vitest';
import { AlertEngine } from '../../src/alerts/engine.js';
import { NoisefloorMetrics } from '../../src/daemon/metrics.js';
import { DaemonHttpServer, DEFAULT_HTTP_PORT, engineStreams, type Readiness } from '../../src/daemon/http.js';
import type { ScoreEvent } from '../../src/scoring/types.js';

let server: DaemonHttpServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

function ev(stream: string, score: number): ScoreEvent {
  return { stream, start: 0, end: 9, raw: score, score, threshold: 0.99, anomaly: score >= 0.99, topChannels: ['x', 'y'], channelErrors: [], modelVersion: 'v' };
}

describe('DaemonHttpServer', () => {
  it('serves metrics, health, readiness and a paged stream listing', async () => {
    const metrics = new NoisefloorMetrics({ defaultMetrics: false });
    metrics.observeScores([ev('s1', 0.4)]);
    const ready: Readiness = { modelLoaded: false, consumerJoined: true, draining: false };
    const engine = new AlertEngine({ n: 1, m: 1 }, () => 1_700_000_000_000);
    engine.processBatch(['c', 'a', 'b', 'd'].map((s) => ev(s, s === 'b' ? 0.999 : 0.5)));
    server = new DaemonHttpServer({ registry: metrics.registry, readiness: () => ready, streams: engineStreams(engine), port: 0, host: '127.0.0.1' });
    const port = await server.start();
    expect(DEFAULT_HTTP_PORT).toBe(9464);
    const base = `http://127.0.0.1:${port}`;

    const m = await fetch(`${base}/metrics`);
    expect(m.status).toBe(200);
    expect(m.headers.get('content-type')).toContain('text/plain');
    expect(await m.text()).toContain('noisefloor_stream_score{stream="s1"} 0.4');

    const h = await fetch(`${base}/healthz`);
    expect(h.status).toBe(200);
    await h.text();

    let r = await fetch(`${base}/readyz`);
    expect(r.status).toBe(503);
    expect(await r.json()).toMatchObject({ ready: false, reasons: ['model not loaded'] });
    ready.modelLoaded = true;
    r = await fetch(`${base}/readyz`);
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ ready: true, reasons: [] });
    ready.draining = true;
    ready.consumerJoined = false;
    r = await fetch(`${base}/readyz`);
    expect(r.status).toBe(503);
    expect((await r.json()).reasons).toEqual(['consumer has not joined its group', 'draining']);

    const p = await fetch(`${base}/api/streams?limit=2&offset=1`);
    expect(p.status).toBe(200);
    const page = await p.json();
    expect(page.total).toBe(4);
    expect(page.limit).toBe(2);
    expect(page.offset).toBe(1);
    expect(page.streams.map((s: { stream: string }) => s.stream)).toEqual(['b', 'c']);
    expect(page.streams[0]).toMatchObject({
      stream: 'b',
      lastScore: 0.999,
      lastRaw: 0.999,
      threshold: 0.99,
      alert: { state: 'firing', severity: 'critical', since: new Date(1_700_000_000_000).toISOString() },
      topChannels: ['x', 'y'],
    });
    expect(page.streams[1].alert).toEqual({ state: 'ok' });

    for (const q of ['limit=0', 'limit=abc', 'offset=-1', 'limit=5000']) {
      const bad = await fetch(`${base}/api/streams?${q}`);
      expect(bad.status, q).toBe(400);
      await bad.text();
    }
    const nf = await fetch(`${base}/nope`);
    expect(nf.status).toBe(404);
    await nf.text();
    const post = await fetch(`${base}/metrics`, { method: 'POST' });
    expect(post.status).toBe(405);
    await post.text();
  });

  it('stops cleanly and frees its port', async () => {
    const metrics = new NoisefloorMetrics({ defaultMetrics: false });
    server = new DaemonHttpServer({ registry: metrics.registry, port: 0, host: '127.0.0.1' });
    const port = await server.start();
    await server.stop();
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
    const again = new DaemonHttpServer({ registry: metrics.registry, port, host: '127.0.0.1' });
    expect(await again.start()).toBe(port);
    await again.stop();
  });
});
