import type { AlertEvent } from '../types.js';
import { postJsonWithRetry, type RetryOptions } from './http.js';
import type { AlertSink } from './types.js';

export interface WebhookSinkOptions extends RetryOptions {
  url: string;
  name?: string;
}

/** Body of a webhook POST. */
export interface WebhookPayload {
  receiver: 'noisefloor';
  version: '1';
  alerts: AlertEvent[];
}

/** Generic JSON webhook: POSTs {receiver, version, alerts} with retries and backoff. */
export class WebhookSink implements AlertSink {
  readonly name: string;
  /** Attempts used by the last successful send (observability, tests). */
  lastAttempts = 0;
  constructor(private readonly opts: WebhookSinkOptions) {
    this.name = opts.name ?? 'webhook';
    new URL(opts.url); // throws on a malformed URL
  }

  async send(events: AlertEvent[], signal?: AbortSignal): Promise<void> {
    const body: WebhookPayload = { receiver: 'noisefloor', version: '1', alerts: events };
    this.lastAttempts = await postJsonWithRetry(this.opts.url, body, this.opts, signal);
  }
}
