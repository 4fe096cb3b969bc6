/** serve's configuration: defaults, every error by its path, secrets, redaction, --print-config. */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { daemonConfigSchema, redact } from '../../src/config/daemon.js';
import { parseConfig } from '../../src/config/load.js';
import { kafkaClientConfig } from '../../src/daemon/kafka-client.js';
import { ConfigError } from '../../src/util/errors.js';
import { silentLogger } from '../../src/util/log.js';
import { tempDir } from '../support/core.js';
import { cliPath as CLI } from '../support/core.js';

const run = promisify(execFile);

describe('daemon config', () => {
  it('no config: the embedded default (generator, bootstrap model, port 9464)', () => {
    const c = parseConfig(daemonConfigSchema, undefined, 'defaults');
    expect(c.source.generator).toBeDefined();
    expect(c.model.dir).toBeUndefined();
    expect(c.http.port).toBe(9464);
  });

  it('reports every problem with its path', () => {
    let err: ConfigError | undefined;
    try {
      parseConfig(
        daemonConfigSchema,
        {
          source: { kafka: { brokers: [], topics: ['t'], decoder: { format: 'pcm', sample: 'u8' }, sasl: { mechanism: 'plain', username: 'u' } } },
          batching: { maxBatch: 0 },
          bogus: 1,
        },
        'test.yaml',
      );
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const issues = err!.issues.join('\n');
    expect(issues).toMatch(/^source\.kafka\.brokers:/m);
    expect(issues).toMatch(/^source\.kafka\.decoder\.sample:/m);
    expect(issues).toMatch(/^source\.kafka\.sasl:.*password/m);
    expect(issues).toMatch(/^batching\.maxBatch:/m);
    expect(issues).toMatch(/bogus/);
    expect(() => parseConfig(daemonConfigSchema, { source: { generator: {}, file: { paths: ['x'] } } }, 't')).toThrow(/exactly one of kafka, file, generator/);
  });

  it('SASL password from an env var or a file; TLS options; secrets redacted', async () => {
    const dir = tempDir('nf-cfg-');
    const pw = path.join(dir, 'pw');
    await writeFile(pw, 's3cret-file\n');
    const c = parseConfig(
      daemonConfigSchema,
      {
        source: {
          kafka: { brokers: ['b:9093'], topics: ['t'], ssl: true, sasl: { mechanism: 'scram-sha-512', username: 'nf', passwordEnv: 'NF_TEST_PW' } },
        },
        outputs: { kafka: { topic: 'o', brokers: ['x:1'], sasl: { mechanism: 'plain', username: 'a', passwordFile: pw } } },
        alerts: { sinks: { webhook: { url: 'https://user:hunter2@example.com/hook' } } },
      },
      't',
    );
    const k = kafkaClientConfig(c.source.kafka!, silentLogger, 'source.kafka', { NF_TEST_PW: 's3cret-env' });
    expect(k.sasl).toEqual({ mechanism: 'scram-sha-512', username: 'nf', password: 's3cret-env' });
    expect(k.ssl).toMatchObject({ rejectUnauthorized: true });
    const o = c.outputs.kafka!;
    const k2 = kafkaClientConfig({ ...c.source.kafka!, ...o, brokers: o.brokers! }, silentLogger, 'outputs.kafka', {});
    expect(k2.sasl).toMatchObject({ password: 's3cret-file' });
    expect(() => kafkaClientConfig(c.source.kafka!, silentLogger, 'source.kafka', {})).toThrow(/NF_TEST_PW is not set/);
    const inline = parseConfig(daemonConfigSchema, { source: { kafka: { brokers: ['b'], topics: ['t'], sasl: { mechanism: 'plain', username: 'u', password: 'inline-pw' } } } }, 't');
    const dump = JSON.stringify(redact(inline)) + JSON.stringify(redact(c));
    expect(dump).not.toMatch(/inline-pw|hunter2/);
    expect(dump).toContain('NF_TEST_PW');
  });

  it('serve --print-config prints the effective config, redacted, and exits 0', async () => {
    const dir = tempDir('nf-cfg-');
    const file = path.join(dir, 'c.yaml');
    await writeFile(file, 'source:\n  kafka:\n    brokers: [b:9092]\n    topics: [t]\n    sasl: {mechanism: plain, username: u, password: topsecret}\n');
    const { stdout } = await run(process.execPath, [CLI, 'serve', '--config', file, '--print-config']);
    expect(stdout).toContain('groupId: noisefloor');
    expect(stdout).toContain('password: "[redacted]"');
    expect(stdout).not.toContain('topsecret');
    const bad = path.join(dir, 'bad.yaml');
    await writeFile(bad, 'batching: {maxBatch: -1}\n');
    const res = await run(process.execPath, [CLI, 'serve', '--config', bad]).catch((e: { code: number; stderr: string }) => e);
    expect((res as { code: number }).code).toBe(2);
    expect((res as { stderr: string }).stderr).toMatch(/batching\.maxBatch/);
  });
});
