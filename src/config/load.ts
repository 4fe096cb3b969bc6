import { readFile } from 'node:fs/promises';
import YAML from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../util/errors.js';

/** Every problem of a failed validation, one line each, by its path in the file. */
export function describeIssues(error: z.ZodError): string[] {
  return error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
}

export function parseConfig<S extends z.ZodTypeAny>(schema: S, raw: unknown, source: string): z.infer<S> {
  const result = schema.safeParse(raw ?? {});
  if (!result.success) throw new ConfigError(`invalid configuration in ${source}`, describeIssues(result.error));
  return result.data;
}

/** Reads a YAML or JSON file (YAML is a superset of JSON) and validates it. */
export async function loadConfigFile<S extends z.ZodTypeAny>(schema: S, file: string | undefined): Promise<z.infer<S>> {
  if (!file) return parseConfig(schema, {}, 'defaults');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config file ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  let raw: unknown;
  try {
    raw = YAML.parse(text);
  } catch (e) {
    throw new ConfigError(`config file ${file} is not valid YAML/JSON: ${(e as Error).message}`);
  }
  return parseConfig(schema, raw, file);
}
