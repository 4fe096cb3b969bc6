/**
 * Structured logs on stderr, so stdout stays free for results: JSON, one object a line
 * (log shippers parse every line), or, for a person at a terminal, one readable line
 * (`16:40:01.123 WARN  message key=value`).
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
export type LogFormat = 'json' | 'text';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
  readonly level: LogLevel;
  readonly format: LogFormat;
}

export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  write?: (line: string) => void;
  base?: Record<string, unknown>;
}

function serialise(value: unknown): unknown {
  if (value instanceof Error) {
    const out: Record<string, unknown> = { name: value.name, message: value.message };
    if ('code' in value) out.code = (value as { code: unknown }).code;
    return out;
  }
  if (typeof value === 'bigint') return value.toString();
  return value;
}

function textValue(v: unknown): string {
  if (v && typeof v === 'object' && 'message' in v && 'name' in v) return JSON.stringify((v as { message: unknown }).message);
  if (typeof v === 'string') return /[\s"=]/.test(v) || v === '' ? JSON.stringify(v) : v;
  return JSON.stringify(v) ?? String(v);
}

/** The text form of one record: time, level, message, then key=value pairs. */
export function formatTextRecord(rec: Record<string, unknown>): string {
  const { time, level, msg, ...rest } = rec;
  const t = typeof time === 'string' ? time.slice(11, 23) : '';
  const pairs = Object.entries(rest)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${textValue(v)}`);
  return [t, String(level).toUpperCase().padEnd(5), String(msg), ...pairs].join(' ');
}

/** The one place NOISEFLOOR_LOG_LEVEL is read; `fallback` when it is unset. */
export function logLevelFromEnv(fallback: LogLevel = 'info'): LogLevel {
  return (process.env.NOISEFLOOR_LOG_LEVEL as LogLevel | undefined) ?? fallback;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? logLevelFromEnv();
  const format = opts.format ?? 'json';
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const base = opts.base ?? {};
  const emit = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[lvl] < ORDER[level]) return;
    const rec: Record<string, unknown> = { time: new Date().toISOString(), level: lvl, msg, ...base };
    if (fields) for (const [k, v] of Object.entries(fields)) rec[k] = serialise(v);
    write(format === 'text' ? formatTextRecord(rec) : JSON.stringify(rec));
  };
  return {
    level,
    format,
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger({ level, format, write, base: { ...base, ...fields } }),
  };
}

/** A logger that drops everything (tests, library use). */
export const silentLogger: Logger = createLogger({ level: 'silent' });
