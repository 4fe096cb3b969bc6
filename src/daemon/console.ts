/**
 * `serve` at a terminal: instead of a JSON line per window, one readable line per alert
 * start and resolve, and a summary every few seconds (windows/s, streams, anomalous
 * windows, alerts firing, consumer lag, queue). With `--log-format json` or when stdout
 * is not a terminal the daemon writes score events as JSON lines instead (StdoutSink).
 */
import type { AlertEvent } from '../alerts/types.js';
import type { ScoreEvent } from '../scoring/types.js';
import type { ScoreEventSink } from './outputs.js';

export interface ConsoleStats {
  streams: number;
  queue: number;
  /** Total consumer lag in messages (Kafka), null for other sources. */
  lag: number | null;
  firing: number;
}

function clock(ms = Date.now()): string {
  return new Date(ms).toISOString().slice(11, 19);
}

function when(ts: number | string | undefined): string {
  if (typeof ts === 'number' && ts > 1e11 && ts < 1e14) return new Date(ts).toISOString().replace('T', ' ').replace(/\.000Z$|Z$/, '');
  return ts === undefined ? '' : String(ts);
}

export class ConsoleView implements ScoreEventSink {
  readonly name = 'console';
  private windows = 0;
  private anomalous = 0;
  private lastAt = Date.now();
  private lastWindows = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly stats: () => ConsoleStats,
    private readonly intervalMs = 10_000,
  ) {}

  private line(text: string): void {
    this.out.write(`${clock()} ${text}\n`);
  }

  /** The first lines: what runs and where to look. */
  banner(fields: { model: string; source: string; metricsUrl: string | null; sinks: string[] }): void {
    this.line(`serving model ${fields.model} from ${fields.source}; alerts to ${fields.sinks.length ? fields.sinks.join(', ') : 'this console only'}`);
    this.line(fields.metricsUrl ? `metrics at ${fields.metricsUrl} (stream states at /api/streams)` : 'http disabled: no /metrics');
    this.line(`a summary every ${Math.round(this.intervalMs / 1000)} s; alerts as they start and resolve; Ctrl-C stops (score events as JSON: --log-format json)`);
  }

  start(): void {
    this.timer = setInterval(() => this.summary(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.summary();
  }

  async write(events: ScoreEvent[]): Promise<void> {
    this.windows += events.length;
    for (const e of events) if (e.anomaly) this.anomalous++;
  }

  alerts(events: AlertEvent[]): void {
    for (const a of events) {
      const top = a.topChannels.length ? ` top ${a.topChannels.join(', ')}` : '';
      const range = a.firstWindow.startTs !== undefined ? ` from ${when(a.firstWindow.startTs)}` : ` from row ${a.firstWindow.start}`;
      if (a.status === 'firing')
        this.line(
          `ALERT ${a.severity.toUpperCase()} ${a.stream}${a.reason === 'escalated' ? ' (escalated)' : ''}: score ${a.peakScore.toFixed(4)} > ${a.threshold.toFixed(4)},${top}${range}`,
        );
      else {
        const secs = a.endsAt !== undefined ? ` after ${((a.endsAt - a.startsAt) / 1000).toFixed(1)} s` : '';
        this.line(`RESOLVED ${a.stream}${secs} (${a.reason}), ${a.windowsAbove} windows above threshold, peak ${a.peakScore.toFixed(4)}`);
      }
    }
  }

  summary(): void {
    const now = Date.now();
    const secs = Math.max(0.001, (now - this.lastAt) / 1000);
    const rate = (this.windows - this.lastWindows) / secs;
    const s = this.stats();
    const lag = s.lag === null ? '' : `, lag ${s.lag} messages`;
    this.line(
      `${rate.toFixed(rate < 10 ? 1 : 0)} windows/s, ${s.streams} streams, ${this.windows} windows scored, ${this.anomalous} anomalous, alerts firing: ${s.firing}${lag}, queue ${s.queue}`,
    );
    this.lastAt = now;
    this.lastWindows = this.windows;
  }
}
