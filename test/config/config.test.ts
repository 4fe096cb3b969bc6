import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { coreConfigSchema } from '../../src/config/core.js';
import { loadConfigFile } from '../../src/config/load.js';
import { ConfigError } from '../../src/util/errors.js';
import { repoRoot, tempDir } from '../support/core.js';

describe('configuration', () => {
  it('config/example.yaml is valid and equals the defaults', async () => {
    const example = await loadConfigFile(coreConfigSchema, path.join(repoRoot, 'config/example.yaml'));
    expect(example).toEqual(coreConfigSchema.parse({}));
  });

  it('reports every problem with its path', async () => {
    const f = path.join(tempDir(), 'bad.yaml');
    writeFileSync(f, 'window: { length: 2, hop: 0 }\nmodel: { arch: cnn }\nscoring: { t0: 3, bogus: 1 }\n');
    const err = await loadConfigFile(coreConfigSchema, f).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    const issues = (err as ConfigError).issues.join('\n');
    for (const p of ['window.length', 'window.hop', 'model.arch', 'scoring.t0', 'scoring']) expect(issues).toContain(p);
    expect(issues).toContain('bogus');
  });

  it('a missing or unparsable file is a ConfigError naming it', async () => {
    await expect(loadConfigFile(coreConfigSchema, '/nonexistent.yaml')).rejects.toThrow(/nonexistent.yaml/);
    const f = path.join(tempDir(), 'broken.yaml');
    writeFileSync(f, 'window: [unclosed\n');
    await expect(loadConfigFile(coreConfigSchema, f)).rejects.toThrow(/broken.yaml is not valid YAML/);
  });
});
