/**
 * The daemon's HTTP endpoint protected the Prometheus way (http.webConfigFile: TLS and basic
 * auth with bcrypt hashes), checked with raw HTTPS requests and with a real Prometheus that
 * scrapes it over TLS with basic auth, and is refused without credentials.
 * Also: http.host binds one address, http.streamsApi: false turns /api/streams off.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { networkInterfaces, tmpdir } from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import YAML from 'yaml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startPrometheus, waitFor, type RunningService } from '../support/prom/index.js';
import { createCa, createServerCert, type ServerCert, type TestCa } from '../support/tls.js';
import { webConfigSchema } from '../../src/config/web.js';
import { ROOT, ServeProcess, killRunning, writeConfig } from './helpers.js';

const USER = 'prometheus';
const PASSWORD = randomBytes(12).toString('hex');

let tmp: string;
let ca: TestCa;
let otherCa: TestCa;
let cert: ServerCert;
let webConfig: string;
const running: ServeProcess[] = [];
let prom: RunningService | undefined;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'nf-http-sec-'));
  ca = await createCa(tmp, 'http-ca');
  otherCa = await createCa(tmp, 'other-ca');
  cert = await createServerCert(tmp, ca, 'http-server');
  webConfig = path.join(tmp, 'web.yml');
  // Relative paths, as Prometheus allows: resolved against the web config's directory.
  await writeFile(
    webConfig,
    [
      'tls_server_config:',
      `  cert_file: ${path.basename(cert.certFile)}`,
      `  key_file: ${path.basename(cert.keyFile)}`,
      'basic_auth_users:',
      `  ${USER}: ${bcrypt.hashSync(PASSWORD, 10)}`,
      '',
    ].join('\n'),
  );
});

afterEach(async () => {
  await killRunning(running);
  await prom?.stop();
  prom = undefined;
});

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** A quick daemon: generator source and a tiny bootstrap model. */
async function startDaemon(http: Record<string, unknown>): Promise<{ d: ServeProcess; port: number }> {
  const file = await writeConfig(tmp, `serve-${randomBytes(3).toString('hex')}`, {
    source: { generator: { streams: 2, rate: 20 } },
    bootstrap: { rows: 200, epochs: 1, stepsPerEpoch: 2, window: 16, hop: 4, channels: 2 },
    outputs: { stdout: { enabled: false } },
    http: { port: 0, ...http },
  });
  const d = new ServeProcess(file);
  running.push(d);
  await d.waitFor(() => d.log('serving').length > 0, 'daemon serving', 120_000);
  const port = (d.log('http server listening')[0] as { port: number }).port;
  return { d, port };
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(url: string, opts: { ca?: string; auth?: string; cert?: string; key?: string } = {}): Promise<Reply> {
  const u = new URL(url);
  const req = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const r = req(
      u,
      { ca: opts.ca, cert: opts.cert, key: opts.key, headers: opts.auth ? { authorization: `Basic ${Buffer.from(opts.auth).toString('base64')}` } : {} },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    r.on('error', reject);
    r.end();
  });
}

describe('HTTP endpoint with a web config (TLS + basic auth)', () => {
  it('serves HTTPS; /metrics and /api/streams need the login, the probes do not', async () => {
    const { d, port } = await startDaemon({ webConfigFile: webConfig, host: '127.0.0.1' });
    expect(d.log('http server listening')[0]).toMatchObject({ host: '127.0.0.1', tls: true, basicAuthUsers: 1, streamsApi: true });
    const pem = await readFile(ca.certFile, 'utf8');
    const base = `https://127.0.0.1:${port}`;

    const anonymous = await get(`${base}/metrics`, { ca: pem });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['www-authenticate']).toMatch(/^Basic realm="noisefloor"/);
    expect(anonymous.body).not.toContain('noisefloor_');
    expect((await get(`${base}/metrics`, { ca: pem, auth: `${USER}:wrong` })).status).toBe(401);
    expect((await get(`${base}/metrics`, { ca: pem, auth: `nobody:${PASSWORD}` })).status).toBe(401);
    expect((await get(`${base}/api/streams`, { ca: pem })).status).toBe(401);

    const ok = await get(`${base}/metrics`, { ca: pem, auth: `${USER}:${PASSWORD}` });
    expect(ok.status).toBe(200);
    expect(ok.body).toContain('noisefloor_build_info');
    // Remembered logins still check the password.
    expect((await get(`${base}/metrics`, { ca: pem, auth: `${USER}:${PASSWORD}x` })).status).toBe(401);
    expect((await get(`${base}/api/streams`, { ca: pem, auth: `${USER}:${PASSWORD}` })).status).toBe(200);
    expect((await get(`${base}/healthz`, { ca: pem })).status).toBe(200);

    // Plain HTTP on the TLS port, and a client that trusts another CA, get nothing.
    await expect(get(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();
    await expect(get(`${base}/metrics`, { ca: await readFile(otherCa.certFile, 'utf8'), auth: `${USER}:${PASSWORD}` })).rejects.toThrow(/certificate/);
    for (const l of [...d.stdout, ...d.logs.map((x) => JSON.stringify(x))]) expect(l).not.toContain(PASSWORD);
  });

  it('a real Prometheus scrapes it over TLS with basic auth; a job without credentials is refused', async () => {
    const { port } = await startDaemon({ webConfigFile: webConfig });
    const target = `127.0.0.1:${port}`;
    // The deploy kit's secured job, pointed at this daemon and this run's CA and password.
    const deployed = YAML.parse(await readFile(path.join(ROOT, 'deploy/prometheus/prometheus-secured.yml'), 'utf8')) as {
      scrape_configs: Record<string, unknown>[];
    };
    const job = deployed.scrape_configs.find((j) => j.job_name === 'noisefloor')!;
    expect(job).toMatchObject({ scheme: 'https', basic_auth: { username: USER } });
    const secured = {
      ...job,
      job_name: 'secured',
      scrape_interval: '1s',
      tls_config: { ca_file: 'ca.pem' },
      basic_auth: { username: USER, password_file: 'scrape.password' },
      static_configs: [{ targets: [target] }],
    };
    const anonymous = { job_name: 'anonymous', scrape_interval: '1s', scheme: 'https', tls_config: { ca_file: 'ca.pem' }, static_configs: [{ targets: [target] }] };
    const config = YAML.stringify({ global: { scrape_interval: '1s' }, scrape_configs: [secured, anonymous] });
    prom = await startPrometheus(config, { 'ca.pem': await readFile(ca.certFile, 'utf8'), 'scrape.password': PASSWORD });
    interface Target {
      labels: { job: string };
      health: string;
      lastError: string;
    }
    const targets = await waitFor(
      async () => {
        const res = (await (await fetch(`${prom!.url}/api/v1/targets`)).json()) as { data: { activeTargets: Target[] } };
        const byJob = new Map(res.data.activeTargets.map((t) => [t.labels.job, t]));
        const s = byJob.get('secured');
        const a = byJob.get('anonymous');
        return s && a && s.health !== 'unknown' && a.health !== 'unknown' ? byJob : undefined;
      },
      { what: 'both targets scraped', timeoutMs: 60_000 },
    );
    expect(targets.get('secured')).toMatchObject({ health: 'up', lastError: '' });
    expect(targets.get('anonymous')!.health).toBe('down');
    expect(targets.get('anonymous')!.lastError).toMatch(/401/);
    // The scraped samples are in Prometheus.
    const built = await waitFor(
      async () => {
        const q = encodeURIComponent('noisefloor_build_info{job="secured"}');
        const res = (await (await fetch(`${prom!.url}/api/v1/query?query=${q}`)).json()) as { data: { result: unknown[] } };
        return res.data.result.length > 0 ? res.data.result : undefined;
      },
      { what: 'noisefloor_build_info in Prometheus', timeoutMs: 30_000 },
    );
    expect(built).toHaveLength(1);
  });

  it('http.streamsApi: false turns /api/streams off; without a web config the endpoint is plain HTTP', async () => {
    const { d, port } = await startDaemon({ streamsApi: false, host: '127.0.0.1' });
    expect(d.log('http server listening')[0]).toMatchObject({ tls: false, basicAuthUsers: 0, streamsApi: false });
    const off = await get(`http://127.0.0.1:${port}/api/streams`);
    expect(off.status).toBe(404);
    expect(off.body).toContain('switched off');
    expect((await get(`http://127.0.0.1:${port}/metrics`)).status).toBe(200);
    // Bound to 127.0.0.1 only: another address of this host is refused.
    const other = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal);
    if (other) await expect(get(`http://${other.address}:${port}/healthz`)).rejects.toThrow(/ECONNREFUSED/);
  });

  it('mutual TLS: client_auth_type RequireAndVerifyClientCert admits only clients with a certificate from client_ca_file', async () => {
    const client = await createServerCert(tmp, ca, 'http-client');
    const stranger = await createServerCert(tmp, otherCa, 'http-stranger');
    const mtls = path.join(tmp, 'web-mtls.yml');
    await writeFile(
      mtls,
      [
        'tls_server_config:',
        `  cert_file: ${cert.certFile}`,
        `  key_file: ${cert.keyFile}`,
        '  client_auth_type: RequireAndVerifyClientCert',
        `  client_ca_file: ${ca.certFile}`,
        '  min_version: TLS13',
        '',
      ].join('\n'),
    );
    const { d, port } = await startDaemon({ webConfigFile: mtls });
    expect(d.log('http server listening')[0]).toMatchObject({ tls: true, mutualTls: true });
    const pem = await readFile(ca.certFile, 'utf8');
    const base = `https://127.0.0.1:${port}`;
    const ok = await get(`${base}/metrics`, { ca: pem, cert: await readFile(client.certFile, 'utf8'), key: await readFile(client.keyFile, 'utf8') });
    expect(ok.status).toBe(200);
    // TLS 1.3 reports a refused client certificate after the handshake, as a reset or alert.
    await expect(get(`${base}/metrics`, { ca: pem })).rejects.toThrow();
    await expect(get(`${base}/metrics`, { ca: pem, cert: await readFile(stranger.certFile, 'utf8'), key: await readFile(stranger.keyFile, 'utf8') })).rejects.toThrow();
  });

  it("the deploy kit's example web config is valid", async () => {
    const res = webConfigSchema.safeParse(YAML.parse(await readFile(path.join(ROOT, 'deploy/noisefloor/web.yml'), 'utf8')));
    expect(res.success, JSON.stringify(res.error?.issues)).toBe(true);
  });

  it('a web config with a plain password instead of a bcrypt hash stops start-up (exit 2)', async () => {
    const bad = path.join(tmp, 'web-bad.yml');
    await writeFile(bad, `basic_auth_users:\n  ${USER}: ${PASSWORD}\n`);
    const file = await writeConfig(tmp, 'serve-bad-web', { http: { port: 0, webConfigFile: bad }, outputs: { stdout: { enabled: false } } });
    const d = new ServeProcess(file);
    running.push(d);
    expect(await d.exited).toBe(2);
    // ConfigError: the first line names the file, one line per problem follows.
    const text = d.logs.map((l) => String(l.msg)).join('\n');
    const err = text.slice(text.indexOf('noisefloor serve:'));
    expect(err).toContain('invalid web config file');
    expect(err).toContain(`basic_auth_users.${USER}: must be a bcrypt hash`);
    expect(err).not.toContain(PASSWORD);
  });
});
