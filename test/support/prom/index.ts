/**
 * Helpers that start real Prometheus / Alertmanager processes for tests: loopback only,
 * free ports, temp dirs, killed and cleaned up by stop().
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** Absolute path of the first of `names` found on PATH or as an absolute path, else undefined. */
export function findBinary(...names: string[]): string | undefined {
  for (const n of names) {
    if (n.startsWith('/')) {
      if (existsSync(n)) return n;
      continue;
    }
    for (const dir of (process.env.PATH ?? '').split(delimiter)) {
      const p = join(dir, n);
      if (dir && existsSync(p)) return p;
    }
  }
  return undefined;
}

export function requireBinary(...names: string[]): string {
  const p = findBinary(...names);
  if (!p) throw new Error(`none of ${names.join(', ')} is installed (Debian: apt-get install prometheus prometheus-alertmanager)`);
  return p;
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Poll `fn` until it returns a non-undefined value; throws the last error after the deadline. */
export async function waitFor<T>(fn: () => Promise<T | undefined> | T | undefined, opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {}): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${opts.what ?? 'condition'}${last ? `: ${String(last)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 200));
  }
}

export interface RunningService {
  url: string;
  port: number;
  dir: string;
  proc: ChildProcess;
  /** Captured stdout+stderr (last 64 KiB). */
  output(): string;
  stop(): Promise<void>;
}

async function startService(bin: string, args: (port: number, dir: string) => string[], files: Record<string, string>, what: string): Promise<RunningService> {
  const dir = await mkdtemp(join(tmpdir(), `nf-${what}-`));
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  const port = await freePort();
  const proc = spawn(bin, args(port, dir), { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (b: Buffer) => {
    out = (out + b.toString()).slice(-65536);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    proc.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  const svc: RunningService = {
    url,
    port,
    dir,
    proc,
    output: () => out,
    stop: async () => {
      if (!exited) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
        await exit;
        clearTimeout(t);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    await waitFor(
      async () => {
        if (exited) throw new Error(`${what} exited:\n${out}`);
        const res = await fetch(`${url}/-/ready`);
        await res.text();
        return res.ok ? true : undefined;
      },
      { what: `${what} to be ready`, timeoutMs: 60_000 },
    );
  } catch (err) {
    await svc.stop();
    throw new Error(`${String(err)}\n${out}`);
  }
  return svc;
}

export function prometheusBinary(): string {
  return requireBinary('prometheus');
}
export function promtoolBinary(): string {
  return requireBinary('promtool');
}
export function alertmanagerBinary(): string {
  return requireBinary('prometheus-alertmanager', 'alertmanager', '/usr/bin/prometheus-alertmanager');
}

/** Start Prometheus with the given prometheus.yml text (and extra files next to it). */
export function startPrometheus(configYaml: string, extraFiles: Record<string, string> = {}): Promise<RunningService> {
  return startService(
    prometheusBinary(),
    (port, dir) => [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { 'prometheus.yml': configYaml, ...extraFiles },
    'prometheus',
  );
}

/** A prometheus.yml scraping `targets` (host:port) every `interval`. */
export function scrapeConfig(targets: string[], interval = '1s'): string {
  return [
    'global:',
    `  scrape_interval: ${interval}`,
    `  evaluation_interval: ${interval}`,
    'scrape_configs:',
    '  - job_name: noisefloor',
    `    scrape_interval: ${interval}`,
    '    static_configs:',
    `      - targets: [${targets.map((t) => JSON.stringify(t)).join(', ')}]`,
    '',
  ].join('\n');
}

const MINIMAL_ALERTMANAGER = [
  'route:',
  '  receiver: blackhole',
  '  group_wait: 1h',
  'receivers:',
  '  - name: blackhole',
  '',
].join('\n');

/** Start Alertmanager (clustering off) with a config that routes everything nowhere. */
export function startAlertmanager(configYaml = MINIMAL_ALERTMANAGER): Promise<RunningService> {
  return startService(
    alertmanagerBinary(),
    (port, dir) => [
      `--config.file=${join(dir, 'alertmanager.yml')}`,
      `--storage.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--cluster.listen-address=',
      '--log.level=warn',
    ],
    { 'alertmanager.yml': configYaml },
    'alertmanager',
  );
}

/** Run a command to completion; resolves with its exit code and output. */
export function runCommand(bin: string, args: string[], cwd?: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(bin, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    p.stdout.on('data', (b: Buffer) => (output += b.toString()));
    p.stderr.on('data', (b: Buffer) => (output += b.toString()));
    p.once('error', reject);
    p.once('close', (code) => resolve({ code: code ?? -1, output }));
  });
}
