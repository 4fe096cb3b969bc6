/**
 * One error class per failure kind, each with a stable code. The CLI maps `exitCode`
 * to the process exit status; the daemon logs `code` and keeps running where it can.
 */
export abstract class NoisefloorError extends Error {
  abstract readonly code: string;
  /** Exit status a command uses when this error ends it. */
  readonly exitCode: number = 1;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad command-line usage (unknown flag, missing argument). */
export class UsageError extends NoisefloorError {
  readonly code = 'NF_USAGE';
  override readonly exitCode = 2;
}

/** Invalid configuration; `issues` lists every problem with its path. */
export class ConfigError extends NoisefloorError {
  readonly code = 'NF_CONFIG';
  override readonly exitCode = 2;
  constructor(
    message: string,
    readonly issues: string[] = [],
  ) {
    super(issues.length ? `${message}:\n  ${issues.join('\n  ')}` : message);
  }
}

/** Where a piece of bad input came from, so the message can point at it. */
export interface InputLocation {
  file?: string;
  line?: number;
  column?: string;
  topic?: string;
  partition?: number;
  offset?: string;
}

export function formatLocation(loc: InputLocation): string {
  const parts: string[] = [];
  if (loc.file !== undefined) parts.push(loc.line !== undefined ? `${loc.file}:${loc.line}` : loc.file);
  if (loc.topic !== undefined) parts.push(`${loc.topic}/${loc.partition ?? '?'}@${loc.offset ?? '?'}`);
  if (loc.column !== undefined) parts.push(`column "${loc.column}"`);
  return parts.join(' ');
}

/** Malformed input data: a file row, a Kafka message, a WAV header. */
export class InputError extends NoisefloorError {
  readonly code = 'NF_INPUT';
  override readonly exitCode = 2;
  constructor(
    readonly reason: string,
    readonly location: InputLocation = {},
    options?: { cause?: unknown },
  ) {
    const where = formatLocation(location);
    super(where ? `${where}: ${reason}` : reason, options);
  }
}

/** A service (Kafka broker) refused our credentials: wrong user, password or mechanism. */
export class AuthenticationError extends NoisefloorError {
  readonly code = 'NF_AUTH';
  override readonly exitCode = 2;
}

/** A TLS connection failed: the peer's certificate is not trusted or does not match its name. */
export class TlsError extends NoisefloorError {
  readonly code = 'NF_TLS';
  override readonly exitCode = 2;
}

/** The input limits (README "Security"): each has a config key, a clear error and a counter. */
export type InputLimitName = 'message_bytes' | 'line_bytes' | 'channels' | 'streams_per_batch' | 'wav_header';

/** Input over one of the limits, refused before it is allocated or parsed further. */
export class InputLimitError extends InputError {
  constructor(
    readonly limit: InputLimitName,
    reason: string,
    location: InputLocation = {},
  ) {
    super(reason, location);
  }
}

/** A model directory that is missing, corrupt or incompatible. */
export class ModelLoadError extends NoisefloorError {
  readonly code = 'NF_MODEL_LOAD';
  override readonly exitCode = 2;
}

/** Inputs that do not fit the loaded model (shape, channel count). */
export class ModelInputError extends NoisefloorError {
  readonly code = 'NF_MODEL_INPUT';
}

/** Training could not proceed (too little data, diverged loss). */
export class TrainingError extends NoisefloorError {
  readonly code = 'NF_TRAINING';
}

/** An execution provider was requested that cannot run here. */
export class ProviderError extends NoisefloorError {
  readonly code = 'NF_PROVIDER';
}

export function isNoisefloorError(e: unknown): e is NoisefloorError {
  return e instanceof NoisefloorError;
}

/** An output file or directory that cannot be written (missing folder, a directory, no permission). */
export class OutputError extends NoisefloorError {
  readonly code = 'NF_OUTPUT';
  override readonly exitCode = 2;
}
