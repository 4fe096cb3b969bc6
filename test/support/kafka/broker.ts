/**
 * A real, single-node Kafka broker (KRaft: broker and controller in one JVM) started as a
 * child process for tests. No Docker, no mocks: the jars come from Maven Central through
 * test/support/kafka/pom.xml and are cached, git-ignored, in .cache/kafka/<version>/libs.
 *
 * Broker settings worth knowing when writing tests:
 *  - listens on 127.0.0.1 only, on a free port picked at start (controller on another);
 *  - auto.create.topics.enable=false (unless `autoCreateTopics: true`): create topics with
 *    the admin client first, so a typo in a topic name fails instead of creating a topic;
 *  - replication factor 1 everywhere, __consumer_offsets with 1 partition,
 *    group.initial.rebalance.delay.ms=0 and group.min.session.timeout.ms=1000, so groups
 *    form at once and tests may use short session timeouts.
 *
 * With `saslSsl`, a second listener requires TLS and SASL: a CA and a broker certificate are
 * made with openssl in the broker's directory (the key store is PEM, ssl.keystore.type=PEM),
 * PLAIN users come from the listener's JAAS config, and SCRAM-SHA-256/512 credentials are
 * written into the metadata log at storage-format time (`kafka-storage format --add-scram`).
 * The PLAINTEXT listener stays, so tests can set up topics and read results without
 * credentials while the client under test goes through the secured one.
 *
 * The JVM is stopped on `stop()` (SIGTERM, then SIGKILL after a grace period), killed at
 * process exit, and a tiny shell watchdog kills it if this Node process dies without
 * running its exit handlers (SIGKILL, crash of a pool worker).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import kafkajs from 'kafkajs';
import { createLogger, type Logger } from '../../../src/util/log.js';
import { createCa, createServerCert, encryptKeyForJava } from '../tls.js';

const { Kafka, logLevel } = kafkajs;

/** Kafka release the tests run against (kafka_2.13 on Maven Central). */
export const DEFAULT_KAFKA_VERSION = '4.1.1';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const POM = fileURLToPath(new URL('./pom.xml', import.meta.url));
const COMPLETE_MARKER = '.complete';

export interface KafkaBrokerOptions {
  /** kafka_2.13 version; default env NOISEFLOOR_KAFKA_VERSION, else DEFAULT_KAFKA_VERSION. */
  version?: string;
  /** How long to wait for the broker to answer a metadata request (default 90 s). */
  startTimeoutMs?: number;
  /** Time between SIGTERM and SIGKILL on stop/restart (default 20 s). */
  stopGraceMs?: number;
  /** Let the broker create topics on first use (default false). */
  autoCreateTopics?: boolean;
  /** Max JVM heap in MiB (default 512; the machine is shared). */
  heapMb?: number;
  /** Extra or overriding server.properties entries. */
  config?: Record<string, string | number | boolean>;
  /** Extra JVM arguments, placed before the main class. */
  jvmArgs?: string[];
  /** Where the JSON log lines of this helper go (default: stderr logger, level from env). */
  logger?: Logger;
  /** Add a SASL_SSL listener with these users (PLAIN and SCRAM-SHA-256/512 for each). */
  saslSsl?: { users: { username: string; password: string }[] };
}

export interface SaslSslListener {
  /** Bootstrap servers of the SASL_SSL listener. */
  readonly brokers: string[];
  /** PEM of the CA that signed the broker certificate (SAN IP:127.0.0.1, DNS:localhost). */
  readonly caFile: string;
  readonly mechanisms: readonly string[];
}

export interface KafkaBrokerHandle {
  /** Bootstrap servers, e.g. ['127.0.0.1:40123']. */
  readonly brokers: string[];
  /** The SASL_SSL listener, when started with `saslSsl`. */
  readonly saslSsl: SaslSslListener | undefined;
  readonly version: string;
  /** Directory holding server.properties, the broker's log file and its data (log.dirs). */
  readonly dir: string;
  /** File the JVM's stdout and stderr go to. */
  readonly logFile: string;
  /** Milliseconds from spawning the JVM to the first successful metadata request, last start. */
  readonly startupMs: number;
  /** PID of the running JVM, undefined while it is down. */
  readonly pid: number | undefined;
  /** Stop the JVM (SIGTERM, SIGKILL after the grace period) and delete its directory. Idempotent. */
  stop(): Promise<void>;
  /** Stop gracefully (or reap a killed JVM) and start again on the same ports and data. */
  restart(): Promise<void>;
  /** SIGKILL the JVM now, as in a crash; data stays, so `restart()` recovers it. */
  kill(): void;
  /** The last `n` lines of the broker's log. */
  logTail(n?: number): string;
}

export class KafkaBrokerError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KafkaBrokerError';
  }
}

/** Directory with the broker's jars for `version`, resolving them with Maven if not cached. */
export async function ensureKafkaLibs(version: string, logger: Logger = defaultLogger()): Promise<string> {
  const base = join(REPO_ROOT, '.cache', 'kafka', version);
  const libs = join(base, 'libs');
  if (existsSync(join(libs, COMPLETE_MARKER))) return libs;
  mkdirSync(base, { recursive: true });
  // Resolve into a private directory and rename it into place, so concurrent test
  // processes never see a half-copied libs/ and a failed run leaves nothing behind.
  const tmp = join(base, `libs.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const t0 = Date.now();
  logger.info('resolving kafka jars with maven', { version, into: libs });
  const args = [
    '-q',
    '-B',
    '-f',
    POM,
    `-Dkafka.version=${version}`,
    'dependency:copy-dependencies',
    `-DoutputDirectory=${tmp}`,
    '-DincludeScope=runtime',
  ];
  const res = await run('mvn', args, 600_000);
  if (res.code !== 0) {
    await rm(tmp, { recursive: true, force: true });
    throw new KafkaBrokerError(
      `mvn could not resolve org.apache.kafka:kafka_2.13:${version} (exit ${res.code}): ` +
        `mvn ${args.join(' ')}\n${lastLines(res.output, 40)}`,
    );
  }
  await writeFile(join(tmp, COMPLETE_MARKER), `${new Date().toISOString()}\n`);
  try {
    await rm(libs, { recursive: true, force: true });
    await rename(tmp, libs);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    if (!existsSync(join(libs, COMPLETE_MARKER))) throw e;
  }
  logger.info('kafka jars resolved', { version, ms: Date.now() - t0 });
  return libs;
}

/** Start a fresh single-node broker; resolves once a kafkajs admin can list topics. */
export async function startKafkaBroker(opts: KafkaBrokerOptions = {}): Promise<KafkaBrokerHandle> {
  const logger = (opts.logger ?? defaultLogger()).child({ component: 'test-kafka' });
  const version = opts.version ?? process.env.NOISEFLOOR_KAFKA_VERSION ?? DEFAULT_KAFKA_VERSION;
  for (const u of opts.saslSsl?.users ?? []) {
    // They go into a JAAS string and an --add-scram argument unquoted.
    if (!/^[A-Za-z0-9_-]+$/.test(u.username) || !/^[A-Za-z0-9_-]+$/.test(u.password))
      throw new KafkaBrokerError(`saslSsl user ${JSON.stringify(u.username)}: names and passwords must match [A-Za-z0-9_-]+`);
  }
  const libs = await ensureKafkaLibs(version, logger);
  const [port, controllerPort, securePort] = await freePorts(opts.saslSsl ? 3 : 2);
  const dir = mkdtempSync(join(tmpdir(), 'noisefloor-kafka-'));
  let tls: BrokerTls | undefined;
  if (opts.saslSsl) {
    try {
      tls = await brokerTls(dir, securePort);
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }
  const broker = new Broker(dir, libs, version, port, controllerPort, opts, logger, tls);
  live.add(broker);
  try {
    await broker.format();
    await broker.start();
  } catch (e) {
    await broker.stop();
    throw e;
  }
  return broker;
}

// ---------------------------------------------------------------------------------------

const live = new Set<Broker>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const b of live) b.killAndCleanSync();
  });
}

interface BrokerTls {
  port: number;
  caFile: string;
  keystoreFile: string;
  keyPassword: string;
}

/** CA, broker certificate, and a PEM key store (encrypted key + chain) for Kafka. */
async function brokerTls(dir: string, port: number): Promise<BrokerTls> {
  const pki = join(dir, 'pki');
  mkdirSync(pki);
  const ca = await createCa(pki, 'kafka-ca');
  const cert = await createServerCert(pki, ca, 'kafka-broker');
  const keyPassword = randomBytes(12).toString('hex');
  const encrypted = await encryptKeyForJava(pki, cert.keyFile, keyPassword, 'kafka-broker-key.pem');
  const keystoreFile = join(pki, 'kafka-broker-keystore.pem');
  writeFileSync(keystoreFile, readFileSync(encrypted, 'utf8') + readFileSync(cert.chainFile, 'utf8'));
  return { port, caFile: ca.certFile, keystoreFile, keyPassword };
}

const SCRAM_MECHANISMS = ['SCRAM-SHA-256', 'SCRAM-SHA-512'] as const;

class Broker implements KafkaBrokerHandle {
  readonly brokers: string[];
  readonly saslSsl: SaslSslListener | undefined;
  readonly logFile: string;
  startupMs = 0;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private watchdog: ChildProcess | undefined;
  private stopped = false;
  private readonly propsFile: string;
  private readonly log4jFile: string;
  private readonly dataDir: string;

  constructor(
    readonly dir: string,
    private readonly libs: string,
    readonly version: string,
    private readonly port: number,
    private readonly controllerPort: number,
    private readonly opts: KafkaBrokerOptions,
    private readonly logger: Logger,
    private readonly tls?: BrokerTls,
  ) {
    this.brokers = [`127.0.0.1:${port}`];
    this.saslSsl = tls ? { brokers: [`127.0.0.1:${tls.port}`], caFile: tls.caFile, mechanisms: ['PLAIN', ...SCRAM_MECHANISMS] } : undefined;
    this.logFile = join(dir, 'server.log');
    this.propsFile = join(dir, 'server.properties');
    this.log4jFile = join(dir, 'log4j2.properties');
    this.dataDir = join(dir, 'data');
    writeFileSync(this.propsFile, this.serverProperties());
    writeFileSync(this.log4jFile, LOG4J2_PROPERTIES);
    installExitHook();
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  private serverProperties(): string {
    const tls = this.tls;
    const secure = tls ? `,SASL_SSL://127.0.0.1:${tls.port}` : '';
    const props: Record<string, string | number | boolean> = {
      'process.roles': 'broker,controller',
      'node.id': 1,
      'controller.quorum.voters': `1@127.0.0.1:${this.controllerPort}`,
      listeners: `PLAINTEXT://127.0.0.1:${this.port},CONTROLLER://127.0.0.1:${this.controllerPort}${secure}`,
      'advertised.listeners': `PLAINTEXT://127.0.0.1:${this.port}${secure}`,
      'controller.listener.names': 'CONTROLLER',
      'inter.broker.listener.name': 'PLAINTEXT',
      'listener.security.protocol.map': `PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT${tls ? ',SASL_SSL:SASL_SSL' : ''}`,
      ...(tls ? this.saslSslProperties(tls) : {}),
      'log.dirs': this.dataDir,
      'num.partitions': 1,
      'default.replication.factor': 1,
      'auto.create.topics.enable': this.opts.autoCreateTopics ?? false,
      // Tests produce records with old event times (2024) as their record timestamps. Time
      // retention (7 days, checked every 5 min after the first 30 s) deletes such a topic
      // whole under a running test: a restarted consumer's committed offset then lies below
      // the log start, kafkajs resets it to the (new, empty) start and the test's output stalls.
      'log.retention.ms': -1,
      'offsets.topic.replication.factor': 1,
      'offsets.topic.num.partitions': 1,
      'transaction.state.log.replication.factor': 1,
      'transaction.state.log.min.isr': 1,
      'transaction.state.log.num.partitions': 1,
      'share.coordinator.state.topic.replication.factor': 1,
      'share.coordinator.state.topic.min.isr': 1,
      'group.initial.rebalance.delay.ms': 0,
      'group.min.session.timeout.ms': 1000,
      // After kill() the controller keeps the dead broker's registration until its session
      // expires (default 9 s), and the restarted broker waits for that; keep it short.
      'broker.heartbeat.interval.ms': 500,
      'broker.session.timeout.ms': 2000,
      // Two shared cores: keep the thread pools small.
      'num.network.threads': 2,
      'num.io.threads': 2,
      'num.recovery.threads.per.data.dir': 1,
      'background.threads': 2,
      ...this.opts.config,
    };
    return Object.entries(props)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join('\n')
      .concat('\n');
  }

  private saslSslProperties(tls: BrokerTls): Record<string, string> {
    const users = this.opts.saslSsl?.users ?? [];
    const plainUsers = users.map((u) => `user_${u.username}="${u.password}"`).join(' ');
    const l = 'listener.name.sasl_ssl';
    return {
      [`${l}.ssl.keystore.type`]: 'PEM',
      [`${l}.ssl.keystore.location`]: tls.keystoreFile,
      [`${l}.ssl.key.password`]: tls.keyPassword,
      [`${l}.sasl.enabled.mechanisms`]: ['PLAIN', ...SCRAM_MECHANISMS].join(','),
      [`${l}.plain.sasl.jaas.config`]: `org.apache.kafka.common.security.plain.PlainLoginModule required ${plainUsers};`,
      [`${l}.scram-sha-256.sasl.jaas.config`]: 'org.apache.kafka.common.security.scram.ScramLoginModule required;',
      [`${l}.scram-sha-512.sasl.jaas.config`]: 'org.apache.kafka.common.security.scram.ScramLoginModule required;',
    };
  }

  /** `--add-scram` arguments: SCRAM credentials go into the metadata log when storage is formatted. */
  private scramArgs(): string[] {
    const users = this.opts.saslSsl?.users ?? [];
    return users.flatMap((u) => SCRAM_MECHANISMS.flatMap((m) => ['--add-scram', `${m}=[name=${u.username},password=${u.password}]`]));
  }

  private javaArgs(mainClass: string, args: string[]): string[] {
    const heap = this.opts.heapMb ?? 512;
    return [
      '-Xms64m',
      `-Xmx${heap}m`,
      '-XX:+UseSerialGC',
      '-Djava.awt.headless=true',
      `-Dlog4j2.configurationFile=${this.log4jFile}`,
      `-Dkafka.logs.dir=${this.dir}`,
      ...(this.opts.jvmArgs ?? []),
      '-cp',
      join(this.libs, '*'),
      mainClass,
      ...args,
    ];
  }

  /** `kafka-storage format` with a fresh cluster id (static quorum voters, so no --standalone). */
  async format(): Promise<void> {
    const clusterId = newClusterId();
    const tried: string[] = [];
    // Kafka 3.x and 4.x keep the Scala kafka.tools.StorageTool; a later release may keep
    // only the Java one, which lives in org.apache.kafka.tools.
    for (const main of ['kafka.tools.StorageTool', 'org.apache.kafka.tools.StorageTool']) {
      const res = await run(javaBin(), this.javaArgs(main, ['format', '-t', clusterId, '-c', this.propsFile, ...this.scramArgs()]), 120_000);
      if (res.code === 0) return;
      tried.push(`${main} (exit ${res.code}):\n${lastLines(res.output, 30)}`);
      if (!/Could not find or load main class|ClassNotFoundException/.test(res.output)) break;
    }
    throw new KafkaBrokerError(`formatting Kafka ${this.version} storage in ${this.dataDir} failed:\n${tried.join('\n')}`);
  }

  async start(): Promise<void> {
    if (this.stopped) throw new KafkaBrokerError('broker was stopped; start a new one');
    if (this.child) throw new KafkaBrokerError('broker is already running');
    const t0 = Date.now();
    const fd = openSync(this.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(javaBin(), this.javaArgs('kafka.Kafka', [this.propsFile]), {
        cwd: this.dir,
        stdio: ['ignore', fd, fd],
      });
    } finally {
      closeSync(fd);
    }
    this.child = child;
    let spawnError: Error | undefined;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        if (this.child === child) this.child = undefined;
        this.logger.debug('kafka jvm exited', { pid: child.pid, code, signal });
        this.stopWatchdog();
        resolve();
      });
      child.once('error', (err) => {
        // spawn failure (java missing): no 'exit' follows.
        if (this.child === child) this.child = undefined;
        spawnError = err;
        resolve();
      });
    });
    child.unref();
    if (child.pid !== undefined) this.startWatchdog(child.pid);

    const timeoutMs = this.opts.startTimeoutMs ?? 90_000;
    const deadline = t0 + timeoutMs;
    let lastError: unknown;
    while (true) {
      if (this.child !== child) {
        const why = spawnError ? `could not run ${javaBin()}: ${spawnError.message}` : `exited with ${child.exitCode ?? child.signalCode}`;
        throw new KafkaBrokerError(
          `Kafka ${this.version} broker at ${this.brokers[0]} ${why} before it was ready; last log lines of ${this.logFile}:\n${this.logTail(40)}`,
        );
      }
      try {
        await probe(this.brokers);
        break;
      } catch (e) {
        lastError = e;
      }
      if (Date.now() > deadline) {
        this.kill();
        await this.exited;
        throw new KafkaBrokerError(
          `Kafka ${this.version} broker at ${this.brokers[0]} (pid ${child.pid}) was not ready after ${timeoutMs} ms ` +
            `(last probe error: ${errMessage(lastError)}); last log lines of ${this.logFile}:\n${this.logTail(40)}`,
        );
      }
      await sleep(200);
    }
    this.startupMs = Date.now() - t0;
    this.logger.info('kafka broker ready', {
      version: this.version,
      brokers: this.brokers,
      pid: child.pid,
      startupMs: this.startupMs,
      dir: this.dir,
    });
  }

  private startWatchdog(pid: number): void {
    // `read` returns when our end of the pipe closes, which the kernel does however this
    // process dies; then the JVM and its directory go too. A clean stop kills the watchdog.
    const script = 'read -r _ignored; kill -9 "$1" 2>/dev/null; sleep 1; rm -rf "$2"';
    const wd = spawn('sh', ['-c', script, 'noisefloor-kafka-watchdog', String(pid), this.dir], {
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    wd.on('error', () => {});
    wd.stdin?.on('error', () => {});
    wd.unref();
    (wd.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    this.watchdog = wd;
  }

  private stopWatchdog(): void {
    const wd = this.watchdog;
    this.watchdog = undefined;
    if (wd && wd.exitCode === null && wd.signalCode === null) wd.kill('SIGKILL');
  }

  /** SIGTERM, wait up to the grace period, then SIGKILL; resolves when the JVM is gone. */
  private async terminate(): Promise<void> {
    const child = this.child;
    if (!child) return this.exited;
    const grace = this.opts.stopGraceMs ?? 20_000;
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      this.exited.then(() => false),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(true), grace);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this.logger.warn('kafka broker ignored SIGTERM; killing it', { pid: child.pid, graceMs: grace });
      child.kill('SIGKILL');
      await this.exited;
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    try {
      await this.terminate();
    } finally {
      this.stopWatchdog();
      live.delete(this);
      await rm(this.dir, { recursive: true, force: true });
    }
  }

  async restart(): Promise<void> {
    if (this.stopped) throw new KafkaBrokerError('broker was stopped; start a new one');
    const t0 = Date.now();
    await this.terminate();
    this.logger.debug('kafka broker down for restart', { ms: Date.now() - t0 });
    await this.start();
  }

  kill(): void {
    this.child?.kill('SIGKILL');
  }

  /** Used from the process 'exit' hook: synchronous only. */
  killAndCleanSync(): void {
    try {
      this.child?.kill('SIGKILL');
    } catch {
      /* already gone */
    }
    this.stopWatchdog();
    try {
      rmSync(this.dir, { recursive: true, force: true });
    } catch {
      /* a JVM still writing; the OS temp cleaner gets it */
    }
  }

  logTail(n = 40): string {
    try {
      return lastLines(readFileSync(this.logFile, 'utf8'), n);
    } catch {
      return '(no log written)';
    }
  }
}

const LOG4J2_PROPERTIES = `status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = STDOUT
logger.state.name = state.change.logger
logger.state.level = warn
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = warn
`;

/** One metadata round trip with a short-lived admin client; throws while the broker is not up. */
async function probe(brokers: string[]): Promise<void> {
  const kafka = new Kafka({
    clientId: 'noisefloor-test-probe',
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    requestTimeout: 3000,
    retry: { retries: 0 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.listTopics();
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

function defaultLogger(): Logger {
  return createLogger();
}

function javaBin(): string {
  return process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
}

/** Kafka cluster ids are 16 random bytes in URL-safe base64 without padding, not starting with '-'. */
function newClusterId(): string {
  while (true) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/** Distinct free TCP ports on 127.0.0.1, held open together so they differ. */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const s = createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const addr = s.address();
    if (addr === null || typeof addr === 'string') throw new KafkaBrokerError('could not read a free port');
    return addr.port;
  });
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}

/** Run a command to completion, collecting stdout and stderr together. */
function run(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    let output = '';
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => {
      output += `\n(timed out after ${timeoutMs} ms; killed)`;
      p.kill('SIGKILL');
    }, timeoutMs);
    p.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    p.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    p.once('error', (err) => {
      clearTimeout(timer);
      resolve({ code: 127, output: `${output}\ncould not run ${cmd}: ${err.message}` });
    });
    p.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), output });
    });
  });
}

function lastLines(text: string, n: number): string {
  const lines = text.split('\n');
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  return lines.slice(-n).join('\n');
}

function errMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
