/**
 * Connection settings -> kafkajs client options: TLS (CA, client cert/key, SNI), SASL
 * (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) with the password read from an environment
 * variable or a file at start-up (never logged), and kafkajs's log lines routed into the
 * daemon's JSON logger.
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import kafkajs, { type KafkaConfig, type SASLOptions } from 'kafkajs';
import type { KafkaConnectionConfig } from '../config/daemon.js';
import { ConfigError } from '../util/errors.js';
import type { Logger } from '../util/log.js';

const { logLevel } = kafkajs;

/** A secret from `<name>` (inline), `<name>Env` or `<name>File`; undefined when none is given. */
export function resolveSecret(obj: Record<string, unknown>, name: string, where: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const inline = obj[name];
  if (typeof inline === 'string') return inline;
  const envName = obj[`${name}Env`];
  if (typeof envName === 'string') {
    const v = env[envName];
    if (v === undefined || v === '') throw new ConfigError(`${where}.${name}Env: environment variable ${envName} is not set`);
    return v;
  }
  const file = obj[`${name}File`];
  if (typeof file === 'string') {
    try {
      return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (e) {
      throw new ConfigError(`${where}.${name}File: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? e})`);
    }
  }
  return undefined;
}

function readPem(file: string | undefined, where: string): string | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`${where}: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
}

export function tlsOptions(conn: KafkaConnectionConfig, where: string, env: NodeJS.ProcessEnv = process.env): ConnectionOptions | undefined {
  const ssl = conn.ssl;
  if (!ssl || !ssl.enabled) return undefined;
  const out: ConnectionOptions = { rejectUnauthorized: ssl.rejectUnauthorized };
  const ca = readPem(ssl.caFile, `${where}.ssl.caFile`);
  const cert = readPem(ssl.certFile, `${where}.ssl.certFile`);
  const key = readPem(ssl.keyFile, `${where}.ssl.keyFile`);
  if (ca !== undefined) out.ca = [ca];
  if (cert !== undefined) out.cert = cert;
  if (key !== undefined) out.key = key;
  const passphrase = resolveSecret(ssl as Record<string, unknown>, 'keyPassword', `${where}.ssl`, env);
  if (passphrase !== undefined) out.passphrase = passphrase;
  if (ssl.servername !== undefined) out.servername = ssl.servername;
  return out;
}

export function saslOptions(conn: KafkaConnectionConfig, where: string, env: NodeJS.ProcessEnv = process.env): SASLOptions | undefined {
  const sasl = conn.sasl;
  if (!sasl) return undefined;
  const password = resolveSecret(sasl as Record<string, unknown>, 'password', `${where}.sasl`, env);
  if (password === undefined) throw new ConfigError(`${where}.sasl: no password`);
  return { mechanism: sasl.mechanism, username: sasl.username, password } as SASLOptions;
}

/** kafkajs log entries as JSON log lines (kafkajs ERROR/WARN/INFO/DEBUG -> ours). */
export function kafkaLogCreator(log: Logger): KafkaConfig['logCreator'] {
  return () => (entry) => {
    const { message, ...extra } = entry.log;
    const fields: Record<string, unknown> = { component: 'kafkajs', namespace: entry.namespace, ...extra };
    delete fields.timestamp;
    delete fields.logger;
    switch (entry.level) {
      case logLevel.ERROR:
        // kafkajs logs retriable connection errors at ERROR; they are recovered by retries.
        log.warn(message, fields);
        break;
      case logLevel.WARN:
        log.warn(message, fields);
        break;
      case logLevel.INFO:
        log.debug(message, fields);
        break;
      default:
        break;
    }
  };
}

/** kafkajs client options for a connection; secrets are read here, once. */
export function kafkaClientConfig(conn: KafkaConnectionConfig, log: Logger, where = 'source.kafka', env: NodeJS.ProcessEnv = process.env): KafkaConfig {
  const cfg: KafkaConfig = {
    clientId: conn.clientId,
    brokers: conn.brokers,
    connectionTimeout: conn.connectionTimeoutMs,
    requestTimeout: conn.requestTimeoutMs,
    retry: { retries: conn.retries, initialRetryTime: conn.initialRetryTimeMs },
    logLevel: log.level === 'debug' ? logLevel.INFO : logLevel.WARN,
    logCreator: kafkaLogCreator(log),
  };
  const ssl = tlsOptions(conn, where, env);
  if (ssl) cfg.ssl = ssl;
  const sasl = saslOptions(conn, where, env);
  if (sasl) cfg.sasl = sasl;
  return cfg;
}
