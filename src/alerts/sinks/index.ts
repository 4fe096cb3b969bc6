export type { AlertSink, SinkMetrics } from './types.js';
export { AlertDispatcher, type DispatcherOptions, type SinkStats } from './dispatcher.js';
export { AlertmanagerSink, type AlertmanagerSinkOptions, type PostableAlert } from './alertmanager.js';
export { WebhookSink, type WebhookSinkOptions, type WebhookPayload } from './webhook.js';
export { KafkaAlertSink, type KafkaSinkOptions } from './kafka.js';
export { backoffDelay, postJsonWithRetry, retryable, HttpStatusError, type RetryOptions } from './http.js';
