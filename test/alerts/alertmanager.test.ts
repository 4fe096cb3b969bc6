import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertEngine } from '../../src/alerts/engine.js';
import { AlertmanagerSink } from '../../src/alerts/sinks/index.js';
import type { ScoreEvent } from '../../src/scoring/types.js';
import { startAlertmanager, waitFor, type RunningService } from '../support/prom/index.js';

interface GettableAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  fingerprint: string;
  status: { state: string };
}

let am: RunningService;
beforeAll(async () => {
  am = await startAlertmanager();
});
afterAll(async () => {
  await am?.stop();
});

async function listAlerts(): Promise<GettableAlert[]> {
  const res = await fetch(`${am.url}/api/v2/alerts`);
  expect(res.status).toBe(200);
  return (await res.json()) as GettableAlert[];
}

function ev(i: number, score: number): ScoreEvent {
  return {
    stream: 'pump-7',
    start: i * 16,
    end: i * 16 + 63,
    startTs: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
    endTs: new Date(Date.UTC(2026, 0, 1, 0, 1, i)).toISOString(),
    raw: score * 10,
    score,
    threshold: 0.99,
    anomaly: score >= 0.99,
    topChannels: ['vibration', 'current'],
    channelErrors: [],
    modelVersion: 'm-2026-01',
  };
}

describe('AlertmanagerSink against a real Alertmanager', () => {
  it('posts a firing alert, escalates it, re-sends it and resolves it', async () => {
    let now = Date.now() - 120_000; // engine clock behind real time so a resolve is in the past for Alertmanager
    const clock = () => now;
    const engine = new AlertEngine({ n: 2, m: 3, resolveWindows: 2, cooldownMs: 0 }, clock);
    const sink = new AlertmanagerSink({ url: am.url, resendIntervalMs: 60_000, now: clock, baseDelayMs: 1, maxDelayMs: 4, externalLabels: { cluster: 'test' } });

    const fired = engine.processBatch([ev(0, 0.995), ev(1, 0.996)]);
    expect(fired.map((a) => a.status)).toEqual(['firing']);
    await sink.send(fired);

    const listed = await waitFor(async () => {
      const all = await listAlerts();
      return all.find((a) => a.labels.stream === 'pump-7' && a.labels.severity === 'warning');
    }, { what: 'alert listed by Alertmanager' });
    expect(listed.labels).toEqual({ alertname: 'NoisefloorAnomaly', stream: 'pump-7', severity: 'warning', model_version: 'm-2026-01', cluster: 'test' });
    expect(listed.annotations.top_channels).toBe('vibration,current');
    expect(listed.annotations.summary).toContain('pump-7');
    expect(listed.annotations.description).toContain('2026-01-01T00:00:00.000Z');
    expect(listed.annotations.fingerprint).toBe(fired[0].fingerprint);
    expect(listed.status.state).toBe('active');
    expect(Date.parse(listed.startsAt)).toBe(fired[0].startsAt);
    // endsAt of a firing alert: 4 re-send intervals ahead.
    expect(Date.parse(listed.endsAt)).toBe(now + 4 * 60_000);

    // Severity escalates: the critical alert replaces the warning one.
    const esc = engine.process(ev(2, 0.9999));
    expect(esc.map((a) => [a.status, a.severity])).toEqual([['firing', 'critical']]);
    await sink.send(esc);
    const after = await listAlerts();
    const mine = after.filter((a) => a.labels.stream === 'pump-7');
    expect(mine.map((a) => a.labels.severity)).toEqual(['critical']);

    // Periodic re-send refreshes endsAt.
    now += 30_000;
    await sink.resend();
    const refreshed = (await listAlerts()).find((a) => a.labels.stream === 'pump-7')!;
    expect(Date.parse(refreshed.endsAt)).toBe(now + 4 * 60_000);

    // Resolve: sent once with endsAt = resolve time; Alertmanager stops listing it as active.
    const resolved = engine.processBatch([ev(3, 0.1), ev(4, 0.1)]);
    expect(resolved.map((a) => a.status)).toEqual(['resolved']);
    await sink.send(resolved);
    expect(sink.activeAlerts()).toEqual([]);
    const final = (await listAlerts()).filter((a) => a.labels.stream === 'pump-7');
    for (const a of final) expect(Date.parse(a.endsAt)).toBe(now);
    const active = await (await fetch(`${am.url}/api/v2/alerts?active=true&filter=${encodeURIComponent('stream="pump-7"')}`)).json();
    expect(active).toEqual([]);
  });
});
