/**
 * The HTTP endpoint's web configuration file, in the format of Prometheus's
 * `--web.config.file` (exporter-toolkit), so one file and one habit serve Prometheus, its
 * exporters and noisefloor:
 *
 *   tls_server_config:
 *     cert_file: server.crt          # PEM; relative paths are relative to this file
 *     key_file: server.key
 *     client_auth_type: RequireAndVerifyClientCert   # optional: mutual TLS
 *     client_ca_file: clients-ca.crt
 *     min_version: TLS12             # TLS12 (default) or TLS13
 *   basic_auth_users:
 *     prometheus: $2y$10$...         # bcrypt hash (htpasswd -nBC 10 "" | tr -d ':\n')
 *
 * Supported: the keys above. Unknown keys are an error (a misspelt key must not silently
 * leave the endpoint open). The file is read once at start-up; restart to apply changes.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../util/errors.js';
import { describeIssues } from './load.js';

const BCRYPT = /^\$2[aby]?\$\d{2}\$[./A-Za-z0-9]{53}$/;

export const webConfigSchema = z
  .object({
    tls_server_config: z
      .object({
        cert_file: z.string().min(1),
        key_file: z.string().min(1),
        client_auth_type: z.enum(['NoClientCert', 'RequireAndVerifyClientCert']).default('NoClientCert'),
        client_ca_file: z.string().min(1).optional(),
        min_version: z.enum(['TLS12', 'TLS13']).default('TLS12'),
      })
      .strict()
      .refine((t) => t.client_auth_type === 'NoClientCert' || t.client_ca_file !== undefined, {
        message: 'client_ca_file is required when client_auth_type verifies client certificates',
        path: ['client_ca_file'],
      })
      .optional(),
    basic_auth_users: z
      .record(
        z.string().min(1).regex(/^[^:]+$/, 'a user name cannot contain ":"'),
        z.string().regex(BCRYPT, 'must be a bcrypt hash ($2y$..., 60 characters), not a plain password'),
      )
      .optional(),
  })
  .strict();

/** What the HTTP server needs: PEM contents (read once) and the users' hashes. */
export interface WebSecurity {
  /** The web config file it came from (for logs). */
  file: string;
  tls?: {
    cert: string;
    key: string;
    ca?: string;
    requestCert: boolean;
    rejectUnauthorized: boolean;
    minVersion: 'TLSv1.2' | 'TLSv1.3';
  };
  /** User name -> bcrypt hash; empty when basic auth is off. */
  users: ReadonlyMap<string, string>;
}

function readPem(file: string, base: string, key: string, where: string): string {
  const full = path.resolve(base, file);
  try {
    return readFileSync(full, 'utf8');
  } catch (e) {
    throw new ConfigError(`${where}: tls_server_config.${key}: cannot read ${full} (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
}

/** Reads and validates a web config file; ConfigError names the file and every problem. */
export function loadWebConfig(file: string): WebSecurity {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`http.webConfigFile: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
  let raw: unknown;
  try {
    raw = YAML.parse(text);
  } catch (e) {
    throw new ConfigError(`web config file ${file} is not valid YAML: ${(e as Error).message}`);
  }
  const res = webConfigSchema.safeParse(raw ?? {});
  if (!res.success) throw new ConfigError(`invalid web config file ${file}`, describeIssues(res.error));
  const cfg = res.data;
  const base = path.dirname(path.resolve(file));
  const out: WebSecurity = { file, users: new Map(Object.entries(cfg.basic_auth_users ?? {})) };
  const t = cfg.tls_server_config;
  if (t) {
    const verify = t.client_auth_type === 'RequireAndVerifyClientCert';
    out.tls = {
      cert: readPem(t.cert_file, base, 'cert_file', file),
      key: readPem(t.key_file, base, 'key_file', file),
      requestCert: verify,
      rejectUnauthorized: verify,
      minVersion: t.min_version === 'TLS13' ? 'TLSv1.3' : 'TLSv1.2',
    };
    if (t.client_ca_file !== undefined) out.tls.ca = readPem(t.client_ca_file, base, 'client_ca_file', file);
  }
  return out;
}
