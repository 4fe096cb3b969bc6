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
import { AuthenticationError, ConfigError, TlsError } from '../util/errors.js';
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
  if (ssl && ssl.rejectUnauthorized === false) {
    log.warn('TLS certificate verification is off: the broker is not authenticated and a man in the middle can read and change the traffic, credentials included', {
      setting: `${where}.ssl.rejectUnauthorized`,
      brokers: conn.brokers,
    });
  }
  const sasl = saslOptions(conn, where, env);
  if (sasl) cfg.sasl = sasl;
  return cfg;
}

const MECHANISM_NAMES: Record<string, string> = { plain: 'PLAIN', 'scram-sha-256': 'SCRAM-SHA-256', 'scram-sha-512': 'SCRAM-SHA-512' };

/** Node/OpenSSL messages and codes of a certificate that does not verify. */
const TLS_FAILURE = /certificate|CERT_|ERR_TLS|altnames|unable to (get|verify)|DEPTH_ZERO|wrong version number|handshake/i;

function causes(e: unknown): { name?: string; message?: string; code?: string; broker?: string }[] {
  const out: { name?: string; message?: string; code?: string; broker?: string }[] = [];
  let cur: unknown = e;
  for (let i = 0; i < 8 && cur && typeof cur === 'object'; i++) {
    const x = cur as { name?: string; message?: string; code?: string; broker?: string; originalError?: unknown; cause?: unknown };
    out.push(x);
    cur = x.originalError ?? x.cause;
  }
  return out;
}

/**
 * A start-up failure of a Kafka client as one of our errors when it is about security:
 * a refused SASL login becomes AuthenticationError naming the mechanism, the user and the
 * brokers; a certificate that does not verify becomes TlsError saying what to set. Both
 * exit 2 without a stack. Anything else is returned unchanged. Messages never contain the
 * password: kafkajs's do not, and we add only names.
 */
export function explainKafkaError(e: unknown, conn: KafkaConnectionConfig, where: string): unknown {
  const chain = causes(e);
  const brokerOf = () => chain.find((c) => typeof c.broker === 'string')?.broker ?? conn.brokers.join(', ');
  const sasl = chain.find((c) => c.name === 'KafkaJSSASLAuthenticationError');
  if (sasl && conn.sasl) {
    const mech = MECHANISM_NAMES[conn.sasl.mechanism] ?? conn.sasl.mechanism;
    const said = (sasl.message ?? '').replace(/^SASL [\w -]+ authentication failed:\s*/, '');
    return new AuthenticationError(
      `${where}: SASL ${mech} authentication as user "${conn.sasl.username}" failed at broker ${brokerOf()}: ${said || 'refused'} ` +
        `(check ${where}.sasl.username, the password and the mechanism the listener accepts)`,
      { cause: e },
    );
  }
  const tls = conn.ssl?.enabled ? chain.find((c) => TLS_FAILURE.test(`${c.message ?? ''} ${c.code ?? ''}`)) : undefined;
  if (tls) {
    const msg = (tls.message ?? '').replace(/^Connection error:\s*/, '');
    const hint = conn.ssl?.caFile
      ? `is ${where}.ssl.caFile (${conn.ssl.caFile}) the CA that signed the broker's certificate, and does the certificate name the host?`
      : `set ${where}.ssl.caFile to the CA that signed the broker's certificate (the system CAs do not trust it)`;
    return new TlsError(`${where}: TLS connection to broker ${brokerOf()} refused: ${msg}; ${hint}`, { cause: e });
  }
  return e;
}
