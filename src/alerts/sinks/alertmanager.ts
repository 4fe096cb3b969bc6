/**
 * Alertmanager API v2 sink: POST /api/v2/alerts.
 *
 * Labels: alertname, stream, severity, model_version (+ `externalLabels`); annotations:
 * summary, description, top_channels, peak_score, fingerprint. Firing alerts carry
 * endsAt = now + endsAtFactor * resendInterval and are re-posted every resendIntervalMs
 * while firing (as Prometheus does), so Alertmanager resolves them by itself if the daemon
 * dies. A resolve is posted once with endsAt = the resolve time. When an alert's label set
 * changes while firing (severity escalated, model version changed), the old label set is
 * resolved in the same post, since Alertmanager identifies alerts by their labels.
 */
import type { AlertEvent } from '../types.js';
import { postJsonWithRetry, type RetryOptions } from './http.js';
import type { AlertSink } from './types.js';

export interface AlertmanagerSinkOptions extends RetryOptions {
  /** Alertmanager base URL, e.g. http://alertmanager:9093 (path /api/v2/alerts is added). */
  url: string;
  name?: string;
  /** Re-send period of firing alerts (ms). Default 60000. */
  resendIntervalMs?: number;
  /** endsAt of firing alerts = now + factor * resendIntervalMs. Default 4. */
  endsAtFactor?: number;
  /** Extra labels on every alert (e.g. cluster, instance). */
  externalLabels?: Record<string, string>;
  /** Link back to the daemon (e.g. its /api/streams). */
  generatorURL?: string;
  now?: () => number;
}

/** An alert as Alertmanager's API v2 takes it (postableAlert). */
export interface PostableAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL?: string;
}

function fmtWindow(w: AlertEvent['firstWindow']): string {
  return w.startTs !== undefined ? String(w.startTs) : `#${w.start}`;
}

function fmtWindowEnd(w: AlertEvent['lastWindow']): string {
  return w.endTs !== undefined ? String(w.endTs) : `#${w.end}`;
}

export class AlertmanagerSink implements AlertSink {
  readonly name: string;
  readonly endpoint: string;
  private readonly resendMs: number;
  private readonly factor: number;
  private readonly now: () => number;
  /** fingerprint -> last firing event and the label set sent for it. */
  private readonly active = new Map<string, { event: AlertEvent; labels: Record<string, string> }>();
  private timer: NodeJS.Timeout | null = null;
  private resending: Promise<void> | null = null;

  constructor(private readonly opts: AlertmanagerSinkOptions) {
    this.name = opts.name ?? 'alertmanager';
    this.endpoint = new URL('api/v2/alerts', opts.url.endsWith('/') ? opts.url : opts.url + '/').toString();
    this.resendMs = opts.resendIntervalMs ?? 60_000;
    this.factor = opts.endsAtFactor ?? 4;
    this.now = opts.now ?? Date.now;
    if (!(this.resendMs > 0)) throw new RangeError('alertmanager sink: resendIntervalMs must be > 0');
  }

  labelsOf(e: AlertEvent): Record<string, string> {
    return {
      ...this.opts.externalLabels,
      alertname: e.alertname,
      stream: e.stream,
      severity: e.severity,
      model_version: e.modelVersion,
    };
  }

  /** The postable alert for an event (endsAt: resolve time, or now + factor * resend). */
  toPostable(e: AlertEvent, labels = this.labelsOf(e), endsAt?: number): PostableAlert {
    const ends = endsAt ?? (e.status === 'resolved' ? (e.endsAt ?? this.now()) : this.now() + this.factor * this.resendMs);
    const a: PostableAlert = {
      labels,
      annotations: {
        summary: `Anomaly on stream ${e.stream} (${e.severity})`,
        description:
          `Calibrated score peaked at ${e.peakScore.toFixed(6)} (threshold ${e.threshold.toFixed(6)}, raw ${e.peakRaw.toPrecision(4)}); ` +
          `${e.windowsAbove} window(s) above threshold from ${fmtWindow(e.firstWindow)} to ${fmtWindowEnd(e.lastWindow)}; ` +
          `last score ${e.lastScore.toFixed(6)}; model ${e.modelVersion}.`,
        top_channels: e.topChannels.join(','),
        peak_score: String(e.peakScore),
        fingerprint: e.fingerprint,
      },
      startsAt: new Date(e.startsAt).toISOString(),
      endsAt: new Date(ends).toISOString(),
    };
    if (this.opts.generatorURL) a.generatorURL = this.opts.generatorURL;
    return a;
  }

  async send(events: AlertEvent[], signal?: AbortSignal): Promise<void> {
    const batch: PostableAlert[] = [];
    const now = this.now();
    for (const e of events) {
      const prev = this.active.get(e.fingerprint);
      const labels = this.labelsOf(e);
      if (prev && JSON.stringify(prev.labels) !== JSON.stringify(labels)) {
        batch.push(this.toPostable(prev.event, prev.labels, now));
      }
      if (e.status === 'firing') {
        this.active.set(e.fingerprint, { event: e, labels });
      } else {
        this.active.delete(e.fingerprint);
      }
      batch.push(this.toPostable(e, labels));
    }
    if (batch.length) await postJsonWithRetry(this.endpoint, batch, this.opts, signal);
  }

  /** Alerts this sink believes are firing. */
  activeAlerts(): AlertEvent[] {
    return [...this.active.values()].map((a) => a.event);
  }

  /** Re-post every firing alert with a fresh endsAt. */
  async resend(signal?: AbortSignal): Promise<void> {
    if (this.active.size === 0) return;
    const batch = [...this.active.values()].map((a) => this.toPostable(a.event, a.labels));
    await postJsonWithRetry(this.endpoint, batch, { ...this.opts, retries: 0 }, signal);
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.resending) return;
      this.resending = this.resend()
        .catch(() => undefined)
        .finally(() => (this.resending = null));
    }, this.resendMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.resending;
  }
}
