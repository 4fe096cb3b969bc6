/**
 * `noisefloor serve` against a broker that requires TLS and SASL (test/support/kafka with
 * `saslSsl`: a CA and broker certificate made by openssl for this run, PLAIN users in JAAS,
 * SCRAM credentials written at storage-format time). The daemon runs as the real CLI.
 * Topics are created and results read through the broker's PLAINTEXT listener; only the
 * daemon goes through SASL_SSL.
 *
 * Every captured line (stdout, stderr logs at debug level, --print-config, /metrics) is
 * scanned for the password.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Kafka } from 'kafkajs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startKafkaBroker, type KafkaBrokerHandle } from '../support/kafka/broker.js';
import { testKafka, uniqueName } from '../support/kafka/client.js';
import {
  CLI,
  ROOT,
  ServeProcess,
  createTopics,
  expectedWindows,
  kafkaConfig,
  keyOf,
  killRunning,
  produce,
  readTopic,
  streamData,
  trainTinyModel,
  writeConfig,
} from './helpers.js';

const run = promisify(execFile);
const ALICE = { username: 'alice', password: `alice-${randomBytes(10).toString('hex')}` };
const BOB = { username: 'bob', password: `bob-${randomBytes(10).toString('hex')}` };
const WRONG = `wrong-${randomBytes(10).toString('hex')}`;
const SECRETS = [ALICE.password, BOB.password, WRONG];

let broker: KafkaBrokerHandle;
let kafka: Kafka;
let model: { dir: string; tmp: string };
const running: ServeProcess[] = [];

beforeAll(async () => {
  [broker, model] = await Promise.all([startKafkaBroker({ saslSsl: { users: [ALICE, BOB] } }), trainTinyModel()]);
  kafka = testKafka(broker.brokers);
}, 300_000);

afterEach(() => killRunning(running));

afterAll(async () => {
  await broker?.stop();
  if (model) await rm(model.tmp, { recursive: true, force: true });
});

function start(file: string, env: Record<string, string> = {}): ServeProcess {
  const p = new ServeProcess(file, { NOISEFLOOR_LOG_LEVEL: 'debug', ...env });
  running.push(p);
  return p;
}

/** The one-line error the CLI printed on stderr, if any. */
function cliError(p: ServeProcess): string | undefined {
  return p.logs.map((l) => String(l.msg)).find((m) => m.startsWith('noisefloor serve:'));
}

/** Lines that look like a stack trace frame. */
function stackLines(p: ServeProcess): string[] {
  return p.logs.map((l) => String(l.msg)).filter((m) => /^\s+at \S/.test(m));
}

/** Every line the daemon wrote, as text. */
function allLines(p: ServeProcess): string[] {
  return [...p.stdout, ...p.logs.map((l) => JSON.stringify(l))];
}

function expectNoSecret(lines: string[], what: string): void {
  for (const line of lines) for (const secret of SECRETS) if (line.includes(secret)) throw new Error(`${what} contains a password: ${line.slice(0, 300)}`);
}

async function setup() {
  const topic = uniqueName('sec-in');
  const out = uniqueName('sec-out');
  await createTopics(kafka, [
    { topic, numPartitions: 1 },
    { topic: out, numPartitions: 1 },
  ]);
  return { topic, out, groupId: uniqueName('sec-group') };
}

/** A daemon config whose Kafka connection (source and score-event producer) is the SASL_SSL listener. */
function secureConfig(t: { topic: string; out: string; groupId: string }, security: Record<string, unknown>) {
  const cfg = kafkaConfig({ brokers: broker.saslSsl!.brokers, modelDir: model.dir, ...t, extra: { ...security, retries: 2 } });
  return { ...cfg, shutdownTimeoutMs: 20000 };
}

const STREAMS = ['a', 'b'];
const STEPS = 64;

/** Produces, runs the daemon until every window is on the output topic, scans everything for secrets, stops it. */
async function scoresOverSaslSsl(security: Record<string, unknown>, env: Record<string, string> = {}) {
  const t = await setup();
  await produce(kafka, t.topic, streamData(STREAMS, STEPS), STREAMS, 1);
  const file = await writeConfig(model.tmp, t.groupId, secureConfig(t, security));
  const d = start(file, env);
  const want = expectedWindows(STREAMS, STEPS);
  const got = await readTopic(kafka, t.out, (rs) => new Set(rs.map(keyOf)).size >= want.size);
  expect(new Set(got.map(keyOf))).toEqual(want);
  await d.waitFor(() => d.log('http server listening').length > 0, 'http server');
  const port = (d.log('http server listening')[0] as { port: number }).port;
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  expect(metrics).toContain('noisefloor_windows_scored_total');
  expectNoSecret(metrics.split('\n'), '/metrics');
  d.kill('SIGTERM');
  expect(await d.exited).toBe(0);
  expectNoSecret(allLines(d), 'daemon output');
  return { d, file };
}

describe('serve over SASL_SSL (real broker with TLS and SASL)', () => {
  it('consumes and produces with SCRAM-SHA-512 (password from a file), and never shows the password', async () => {
    const pwFile = path.join(model.tmp, 'alice.password');
    await writeFile(pwFile, `${ALICE.password}\n`, { mode: 0o600 });
    const { d } = await scoresOverSaslSsl({
      ssl: { caFile: broker.saslSsl!.caFile },
      sasl: { mechanism: 'scram-sha-512', username: ALICE.username, passwordFile: pwFile },
    });
    expect(d.log('serving').length).toBe(1);
    // Debug level: kafkajs's own connection logs went through the logger too.
    expect(d.logs.some((l) => l.component === 'kafkajs')).toBe(true);
  });

  it('consumes and produces with PLAIN (password from an environment variable)', async () => {
    await scoresOverSaslSsl(
      { ssl: { caFile: broker.saslSsl!.caFile }, sasl: { mechanism: 'plain', username: BOB.username, passwordEnv: 'NF_TEST_KAFKA_PASSWORD' } },
      { NF_TEST_KAFKA_PASSWORD: BOB.password },
    );
  });

  it('--print-config redacts an inline password', async () => {
    const t = await setup();
    const file = await writeConfig(
      model.tmp,
      `${t.groupId}-print`,
      secureConfig(t, { ssl: { caFile: broker.saslSsl!.caFile }, sasl: { mechanism: 'scram-sha-512', username: ALICE.username, password: ALICE.password } }),
    );
    const { stdout, stderr } = await run(process.execPath, [CLI, 'serve', '--config', file, '--print-config'], { cwd: ROOT });
    expect(stdout).toContain('password: "[redacted]"');
    expect(stdout).toContain('mechanism: scram-sha-512');
    expectNoSecret([...stdout.split('\n'), ...stderr.split('\n')], '--print-config');
  });

  it('a wrong password fails start-up: exit 2, one clear line naming mechanism, user and broker, no stack', async () => {
    const t = await setup();
    const file = await writeConfig(
      model.tmp,
      `${t.groupId}-wrong`,
      secureConfig(t, { ssl: { caFile: broker.saslSsl!.caFile }, sasl: { mechanism: 'scram-sha-512', username: ALICE.username, password: WRONG } }),
    );
    const d = start(file);
    expect(await d.exited).toBe(2);
    const lines = allLines(d);
    const err = cliError(d);
    expect(err, lines.slice(-10).join('\n')).toBeDefined();
    expect(err).toContain('SASL SCRAM-SHA-512 authentication as user "alice" failed at broker');
    expect(err).toContain(broker.saslSsl!.brokers[0]);
    expect(err).toContain('source.kafka.sasl.username');
    expect(stackLines(d)).toEqual([]);
    expect(lines.some((l) => l.includes('unexpected error'))).toBe(false);
    expectNoSecret(lines, 'output of a failed start');
  });

  it('PLAIN with a wrong password fails the same way', async () => {
    const t = await setup();
    const file = await writeConfig(
      model.tmp,
      `${t.groupId}-wrong-plain`,
      secureConfig(t, { ssl: { caFile: broker.saslSsl!.caFile }, sasl: { mechanism: 'plain', username: BOB.username, password: WRONG } }),
    );
    const d = start(file);
    expect(await d.exited).toBe(2);
    const err = cliError(d);
    expect(err).toContain('SASL PLAIN authentication as user "bob" failed at broker');
    expect(stackLines(d)).toEqual([]);
    expect(err).toContain(broker.saslSsl!.brokers[0]);
    expectNoSecret(allLines(d), 'output of a failed start');
  });

  it('refuses a broker certificate it does not trust (exit 2, says what to set)', async () => {
    const t = await setup();
    const file = await writeConfig(
      model.tmp,
      `${t.groupId}-untrusted`,
      secureConfig(t, { ssl: true, sasl: { mechanism: 'scram-sha-512', username: ALICE.username, password: ALICE.password } }),
    );
    const d = start(file);
    expect(await d.exited).toBe(2);
    const lines = allLines(d);
    const err = cliError(d);
    expect(err, lines.slice(-10).join('\n')).toBeDefined();
    expect(stackLines(d)).toEqual([]);
    expect(err).toContain(`TLS connection to broker ${broker.saslSsl!.brokers[0]} refused`);
    expect(err).toMatch(/certificate/);
    expect(err).toContain('ssl.caFile');
    expect(lines.some((l) => l.includes('unexpected error'))).toBe(false);
    expectNoSecret(lines, 'output of a refused TLS connection');
  });

  it('connects to the untrusted broker with rejectUnauthorized: false, and warns', async () => {
    const { d } = await scoresOverSaslSsl({
      ssl: { enabled: true, rejectUnauthorized: false },
      sasl: { mechanism: 'scram-sha-512', username: ALICE.username, password: ALICE.password },
    });
    const warnings = d.logs.filter((l) => l.level === 'warn' && String(l.msg).startsWith('TLS certificate verification is off'));
    expect(warnings.length).toBeGreaterThan(0);
    expect(warnings[0]).toMatchObject({ setting: 'source.kafka.ssl.rejectUnauthorized' });
  });
});
