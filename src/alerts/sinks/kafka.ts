import type { Producer } from 'kafkajs';
import type { AlertEvent } from '../types.js';
import type { AlertSink } from './types.js';

export interface KafkaSinkOptions {
  /** A connected kafkajs producer; the caller owns its lifecycle. */
  producer: Pick<Producer, 'send'>;
  topic: string;
  name?: string;
}

/** Alerts topic: one JSON message per event, keyed by fingerprint (one partition per alert). */
export class KafkaAlertSink implements AlertSink {
  readonly name: string;
  constructor(private readonly opts: KafkaSinkOptions) {
    this.name = opts.name ?? 'kafka';
  }

  async send(events: AlertEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.opts.producer.send({
      topic: this.opts.topic,
      messages: events.map((e) => ({
        key: e.fingerprint,
        value: JSON.stringify(e),
        headers: { status: e.status, severity: e.severity },
      })),
    });
  }
}
