import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { NoisefloorMetrics } from '../../src/daemon/metrics.js';
import { AlertDispatcher, HttpStatusError, KafkaAlertSink, WebhookSink, backoffDelay, type WebhookPayload } from '../../src/alerts/sinks/index.js';
import type { AlertEvent } from '../../src/alerts/types.js';
import { waitFor } from '../support/prom/index.js';

function alert(i: number, status: AlertEvent['status'] = 'firing'): AlertEvent {
  return {
    status,
    alertname: 'NoisefloorAnomaly',
    fingerprint: `fp${i}`,
    episode: 1,
    reason: status === 'firing' ? 'n_of_m' : 'recovered',
    stream: `s${i}`,
    severity: 'warning',
    modelVersion: 'v1',
    topChannels: ['a', 'b'],
    firstWindow: { start: 0, end: 63 },
    lastWindow: { start: 10, end: 73 },
    peakScore: 0.999,
    peakRaw: 4,
    lastScore: 0.995,
    lastRaw: 3,
    threshold: 0.99,
    windowsAbove: 3,
    startsAt: 1_700_000_000_000,
  };
}

interface TestServer {
  url: string;
  bodies: unknown[];
  hits: number;
  close(): Promise<void>;
}

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** A loopback server; `respond` decides per request (return false to never answer). */
async function serve(respond: (n: number, req: IncomingMessage, res: ServerResponse) => boolean | void): Promise<TestServer> {
  const ts: TestServer = { url: '', bodies: [], hits: 0, close: async () => undefined };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      ts.hits++;
      ts.bodies.push(JSON.parse(body));
      respond(ts.hits, req, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  ts.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  ts.close = () =>
    new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    });
  servers.push(ts);
  return ts;
}

const fast = { baseDelayMs: 1, maxDelayMs: 4 };

describe('backoff', () => {
  it('grows exponentially, is capped, and jitters in [0, cap)', () => {
    expect([0, 1, 2, 3, 10].map((a) => backoffDelay(a, 100, 1000, () => 0.999999))).toEqual(
      [100, 200, 400, 800, 1000].map((x) => x * 0.999999),
    );
    expect(backoffDelay(3, 100, 1000, () => 0)).toBe(0);
    expect(backoffDelay(2, 100, 1000, () => 0.5)).toBe(200);
  });
});

describe('WebhookSink', () => {
  it('retries until a server failing the first k requests accepts', async () => {
    const k = 3;
    const srv = await serve((n, _req, res) => {
      res.writeHead(n <= k ? 503 : 200).end(n <= k ? 'busy' : 'ok');
    });
    const sink = new WebhookSink({ url: srv.url, retries: 5, ...fast });
    await sink.send([alert(1), alert(2, 'resolved')]);
    expect(srv.hits).toBe(k + 1);
    expect(sink.lastAttempts).toBe(k + 1);
    const body = srv.bodies.at(-1) as WebhookPayload;
    expect(body.receiver).toBe('noisefloor');
    expect(body.alerts.map((a) => [a.fingerprint, a.status])).toEqual([
      ['fp1', 'firing'],
      ['fp2', 'resolved'],
    ]);
    // Every attempt carried the same payload.
    expect(new Set(srv.bodies.map((b) => JSON.stringify(b))).size).toBe(1);
  });

  it('gives up after its retries and does not retry client errors', async () => {
    const failing = await serve((_n, _req, res) => void res.writeHead(500).end('no'));
    const sink = new WebhookSink({ url: failing.url, retries: 2, ...fast });
    await expect(sink.send([alert(1)])).rejects.toBeInstanceOf(HttpStatusError);
    expect(failing.hits).toBe(3);

    const bad = await serve((_n, _req, res) => void res.writeHead(400).end('bad'));
    const sink2 = new WebhookSink({ url: bad.url, retries: 5, ...fast });
    await expect(sink2.send([alert(1)])).rejects.toMatchObject({ status: 400 });
    expect(bad.hits).toBe(1);
  });

  it('times out a server that never answers, per attempt', async () => {
    const silent = await serve(() => false);
    const sink = new WebhookSink({ url: silent.url, retries: 1, timeoutMs: 50, ...fast });
    await expect(sink.send([alert(1)])).rejects.toThrow(/abort|timeout/i);
    expect(silent.hits).toBe(2);
  });
});

describe('AlertDispatcher', () => {
  it('never blocks on a stuck sink: bounded queue drops oldest, other sinks keep delivering', async () => {
    const stuck = await serve(() => false);
    const healthy = await serve((_n, _req, res) => void res.writeHead(200).end());
    const metrics = new NoisefloorMetrics({ defaultMetrics: false });
    const d = new AlertDispatcher(
      [new WebhookSink({ name: 'stuck', url: stuck.url, timeoutMs: 600_000, retries: 0 }), new WebhookSink({ name: 'healthy', url: healthy.url, ...fast })],
      { queueSize: 4, maxBatch: 10, metrics },
    );
    d.start();
    let delivered = 0;
    for (let round = 0; round < 5; round++) {
      d.enqueue([alert(3 * round), alert(3 * round + 1), alert(3 * round + 2)]);
      delivered += 3;
      await waitFor(() => (healthy.bodies.flatMap((b) => (b as WebhookPayload).alerts).length === delivered ? true : undefined), { what: 'healthy sink', intervalMs: 10 });
    }
    // The server has seen every body before the sink has read the last response and counted it.
    await waitFor(() => (d.stats().find((s) => s.sink === 'healthy')?.delivered === delivered ? true : undefined), { what: 'healthy sink counted', intervalMs: 10 });
    const stats = Object.fromEntries(d.stats().map((s) => [s.sink, s]));
    // Round 1 went in flight on the stuck sink and never returns; rounds 2-5 (12 events) met a
    // queue of 4: 8 dropped, the 4 newest kept.
    expect(stats.stuck).toMatchObject({ inFlight: 3, queued: 4, dropped: 8, delivered: 0 });
    expect(stats.healthy).toMatchObject({ queued: 0, dropped: 0, delivered: 15 });
    expect(stuck.hits).toBe(1);
    const text = await metrics.metrics();
    expect(text).toContain('noisefloor_alert_sink_dropped_total{sink="stuck"} 8');
    expect(text).toContain('noisefloor_alert_sink_dropped_total{sink="healthy"} 0');
    expect(text).toContain('noisefloor_alert_sink_queue_depth{sink="stuck"} 4');
    expect(text).toContain('noisefloor_alert_sink_deliveries_total{sink="healthy"} 15');
    // Shutdown aborts the stuck send instead of hanging.
    await d.stop(0);
    expect(d.stats().find((s) => s.sink === 'stuck')).toMatchObject({ inFlight: 0, failed: 3 });
  });

  it('counts failures of a failing sink and keeps going', async () => {
    const srv = await serve((n, _req, res) => void res.writeHead(n === 1 ? 500 : 200).end());
    const metrics = new NoisefloorMetrics({ defaultMetrics: false });
    const d = new AlertDispatcher([new WebhookSink({ url: srv.url, retries: 0, ...fast })], { metrics, maxBatch: 1 });
    d.start();
    d.enqueue([alert(1), alert(2)]);
    await d.idle();
    expect(d.stats()[0]).toMatchObject({ delivered: 1, failed: 1 });
    expect(await metrics.metrics()).toContain('noisefloor_alert_sink_failures_total{sink="webhook"} 1');
    await d.stop();
  });

  it('rejects duplicate sink names', () => {
    expect(() => new AlertDispatcher([new WebhookSink({ url: 'http://127.0.0.1:1/' }), new WebhookSink({ url: 'http://127.0.0.1:2/' })])).toThrow(/two sinks/);
  });
});

describe('KafkaAlertSink', () => {
  it('sends one JSON message per event keyed by fingerprint', async () => {
    const sent: { topic: string; messages: { key?: unknown; value: unknown; headers?: unknown }[] }[] = [];
    const producer = {
      send: async (rec: (typeof sent)[number]) => {
        sent.push(rec);
        return [];
      },
    };
    const sink = new KafkaAlertSink({ producer: producer as never, topic: 'noisefloor-alerts' });
    await sink.send([alert(1), alert(2, 'resolved')]);
    await sink.send([]);
    expect(sent).toHaveLength(1);
    expect(sent[0].topic).toBe('noisefloor-alerts');
    expect(sent[0].messages.map((m) => m.key)).toEqual(['fp1', 'fp2']);
    expect(JSON.parse(sent[0].messages[1].value as string)).toEqual(alert(2, 'resolved'));
    expect(sent[0].messages[1].headers).toEqual({ status: 'resolved', severity: 'warning' });
  });
});
