import { AlertEngine, type AlertEngineOptions } from '../alerts/engine.js';
import type { AlertEvent } from '../alerts/types.js';
import type { SeriesRecord } from '../ingest/types.js';
import type { ReportAlert, ReportStream } from '../report/types.js';
import type { ScoreEvent } from '../scoring/types.js';

/** A Float32Array that grows by doubling, for per-row values of unknown count. */
class GrowableFloat32 {
  private buf = new Float32Array(1024);
  length = 0;
  push(v: number): void {
    if (this.length === this.buf.length) {
      const next = new Float32Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.length++] = v;
  }
  toArray(): Float32Array {
    return this.buf.slice(0, this.length);
  }
}

/**
 * The same in float64, for timestamps: epoch milliseconds (about 1.8e12) need 41 bits, and
 * float32's 24-bit mantissa would round them to steps of 131 seconds.
 */
class GrowableFloat64 {
  private buf = new Float64Array(1024);
  length = 0;
  push(v: number): void {
    if (this.length === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.length++] = v;
  }
  toArray(): Float64Array {
    return this.buf.slice(0, this.length);
  }
}

/**
 * Collects one stream's rows and scored windows for the HTML report, and derives its
 * alerts with the daemon's alert engine (same N-of-M and hysteresis), so the report
 * shows what `serve` would have alerted on. Offline there is no wall clock: cooldown is
 * counted in windows only.
 */
export class ReportStreamCollector {
  private readonly values: GrowableFloat32[];
  private readonly timestamps = new GrowableFloat64();
  private hasTimestamps = true;
  private readonly events: ScoreEvent[] = [];

  constructor(
    readonly name: string,
    readonly channels: string[],
  ) {
    this.values = channels.map(() => new GrowableFloat32());
  }

  addRecord(rec: SeriesRecord): void {
    for (let c = 0; c < this.channels.length; c++) this.values[c].push(rec.values[c]);
    if (typeof rec.ts === 'number') this.timestamps.push(rec.ts);
    else this.hasTimestamps = false;
  }

  addEvents(events: ScoreEvent[]): void {
    this.events.push(...events);
  }

  build(threshold: number, alertOptions: AlertEngineOptions = {}): ReportStream {
    const n = this.events.length;
    const C = this.channels.length;
    const start = new Float64Array(n);
    const end = new Float64Array(n);
    const raw = new Float64Array(n);
    const score = new Float64Array(n);
    const anomaly = new Uint8Array(n);
    const topChannel = new Uint16Array(n);
    const channelErrors = new Float32Array(n * C);
    this.events.forEach((e, i) => {
      start[i] = e.start;
      end[i] = e.end;
      raw[i] = e.raw;
      score[i] = e.score;
      anomaly[i] = e.anomaly ? 1 : 0;
      topChannel[i] = Math.max(0, this.channels.indexOf(e.topChannels[0]));
      for (let c = 0; c < C; c++) channelErrors[i * C + c] = e.channelErrors[c] ?? 0;
    });
    const stream: ReportStream = {
      name: this.name,
      channels: this.channels,
      values: this.values.map((v) => v.toArray()),
      windows: { start, end, raw, score, anomaly, topChannel, channelErrors },
      threshold,
      alerts: deriveAlerts(this.events, this.channels, alertOptions),
    };
    if (this.hasTimestamps && this.timestamps.length === this.values[0]?.length) stream.timestamps = this.timestamps.toArray();
    return stream;
  }
}

export function deriveAlerts(events: ScoreEvent[], channels: string[], options: AlertEngineOptions = {}): ReportAlert[] {
  const engine = new AlertEngine({ cooldownMs: 0, ...options }, () => 0);
  const alerts: ReportAlert[] = [];
  let open: AlertEvent | null = null;
  const close = (a: AlertEvent, lastEnd: number) => {
    const inside = events.filter((e) => e.stream === a.stream && e.start >= a.firstWindow.start && e.end <= lastEnd);
    const errs = new Float32Array(channels.length);
    for (const e of inside) for (let c = 0; c < channels.length; c++) errs[c] += (e.channelErrors[c] ?? 0) / Math.max(1, inside.length);
    alerts.push({
      start: a.firstWindow.start,
      end: lastEnd,
      topChannels: a.topChannels,
      channelErrors: errs,
      peakScore: a.peakScore,
      peakRaw: a.peakRaw,
      windows: inside.length,
    });
  };
  for (const ev of events) {
    for (const a of engine.process(ev)) {
      if (a.status === 'firing' && !open) open = a;
      else if (a.status === 'resolved' && open) {
        close(a, a.lastWindow.end);
        open = null;
      } else if (a.status === 'firing' && open) open = { ...(open as AlertEvent), topChannels: a.topChannels, peakScore: a.peakScore, peakRaw: a.peakRaw };
    }
  }
  if (open && events.length) close(open, events[events.length - 1].end);
  return alerts;
}
