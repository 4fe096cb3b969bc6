/**
 * Alert events: what the alert engine emits and what the sinks deliver.
 */

export type AlertStatus = 'firing' | 'resolved';
export type AlertSeverity = 'warning' | 'critical';

/** Why an alert changed state. */
export type AlertReason =
  /** N of the last M windows were above threshold. */
  | 'n_of_m'
  /** Severity rose while firing (the peak got rarer); sent as a new 'firing' event. */
  | 'escalated'
  /** R consecutive windows were below the lower (hysteresis) threshold. */
  | 'recovered'
  /** No window arrived for the stream for longer than the stale timeout. */
  | 'stale'
  /** The stream's state was dropped (rebalance, shutdown). */
  | 'reset';

/** Identity and timing of one scored window, as carried in an alert. */
export interface AlertWindowRef {
  start: number;
  end: number;
  startTs?: number | string;
  endTs?: number | string;
}

export interface AlertEvent {
  status: AlertStatus;
  /** Alert rule name; the Alertmanager `alertname` label. */
  alertname: string;
  /**
   * Stable identity of the alert: a hash of alertname and stream. Every event of one
   * stream's alert (firing, re-sends, escalation, resolve) and of its later episodes
   * carries the same fingerprint, like Alertmanager's label fingerprint.
   */
  fingerprint: string;
  /** 1-based count of this stream's alert episodes (fingerprint + episode is unique per episode). */
  episode: number;
  reason: AlertReason;
  stream: string;
  severity: AlertSeverity;
  modelVersion: string;
  /** Channels most often at the top of the per-channel errors over the episode (at most 3). */
  topChannels: string[];
  /** First above-threshold window of the episode and the latest window seen. */
  firstWindow: AlertWindowRef;
  lastWindow: AlertWindowRef;
  /** Highest calibrated score and its raw score over the episode. */
  peakScore: number;
  peakRaw: number;
  /** Calibrated and raw score of the latest window. */
  lastScore: number;
  lastRaw: number;
  /** Calibrated threshold of the latest window. */
  threshold: number;
  /** Windows above threshold during the episode. */
  windowsAbove: number;
  /** Epoch ms (engine clock) the alert started firing. */
  startsAt: number;
  /** Epoch ms (engine clock) it resolved; only on 'resolved'. */
  endsAt?: number;
}
