/**
 * The daemon's HTTP endpoint (node:http, no framework):
 * - GET /metrics      Prometheus exposition of the given registry;
 * - GET /healthz      200 while the process is alive;
 * - GET /readyz       200 when readiness() reports model loaded, consumer joined and not
 *                     draining; else 503 with {ready: false, reasons: [...]};
 * - GET /api/streams  JSON page of per-stream status (?limit=&offset=), from a callback.
 * Default port 9464 (the port registered for Prometheus exporters of this kind).
 *
 * Protection, as Prometheus and its exporters do it (see config/web.ts): with a web config,
 * TLS (optionally mutual) on every endpoint, and HTTP basic auth against bcrypt hashes on
 * every endpoint but the probes /healthz and /readyz (kubelet cannot log in).
 * A wrong or missing login gets 401 with a Basic challenge; unknown users cost the same
 * bcrypt comparison as known ones. Logins that verified are remembered (a hash of user,
 * password and stored hash, at most 64) so a scrape every few seconds does not pay for
 * bcrypt each time. /api/streams can be switched off (`streamsApi: false`), then it is 404.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import bcrypt from 'bcryptjs';
import type { WebSecurity } from '../config/web.js';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { AlertEngine, StreamAlertState } from '../alerts/engine.js';
import type { Logger } from '../util/log.js';
import { silentLogger } from '../util/log.js';

export const DEFAULT_HTTP_PORT = 9464;
export const DEFAULT_PAGE_LIMIT = 100;
export const MAX_PAGE_LIMIT = 1000;

export interface Readiness {
  modelLoaded: boolean;
  consumerJoined: boolean;
  draining: boolean;
  /** Extra reasons not to be ready (e.g. "model reload failed"). */
  reasons?: string[];
}

/** What /api/streams shows for one stream. */
export interface StreamStatus {
  stream: string;
  lastRaw?: number;
  lastScore?: number;
  threshold?: number;
  alert: {
    state: string;
    severity?: string;
    since?: string;
  };
  topChannels: string[];
  [extra: string]: unknown;
}

export interface StreamPage {
  total: number;
  items: StreamStatus[];
}

export interface HttpServerOptions {
  registry: Pick<Registry, 'metrics' | 'contentType'>;
  readiness?: () => Readiness | Promise<Readiness>;
  streams?: (page: { limit: number; offset: number }) => StreamPage | Promise<StreamPage>;
  /** Default 9464; 0 picks a free port. */
  port?: number;
  /** Default 0.0.0.0. */
  host?: string;
  logger?: Logger;
  /** TLS and basic auth from a web config file; none: plain HTTP, open. */
  security?: WebSecurity;
  /** Serve /api/streams (default true). */
  streamsApi?: boolean;
}

/** bcrypt of a random password: compared against when the user is unknown, so timing does not tell users apart. */
const DUMMY_HASH = '$2b$10$ULOgHTns2bMCUIIcwHw8NOwT65A2fx0MKCaF.ss0FpP7BtOkhj0C6';
const VERIFIED_CACHE_SIZE = 64;

/** Page an array (for callers that hold all streams in memory). */
export function pageOf<T>(items: readonly T[], page: { limit: number; offset: number }): { total: number; items: T[] } {
  return { total: items.length, items: items.slice(page.offset, page.offset + page.limit) };
}

/** /api/streams entry from the alert engine's view of a stream. */
export function streamStatusOf(s: StreamAlertState): StreamStatus {
  const st: StreamStatus = { stream: s.stream, alert: { state: s.phase }, topChannels: s.topChannels };
  if (s.lastRaw !== undefined) st.lastRaw = s.lastRaw;
  if (s.lastScore !== undefined) st.lastScore = s.lastScore;
  if (s.threshold !== undefined) st.threshold = s.threshold;
  if (s.severity) st.alert.severity = s.severity;
  if (s.since !== undefined) st.alert.since = new Date(s.since).toISOString();
  return st;
}

/** A `streams` callback over an alert engine's streams, sorted by name. */
export function engineStreams(engine: AlertEngine): NonNullable<HttpServerOptions['streams']> {
  return (page) => {
    const names = engine.streamNames().sort();
    const slice = pageOf(names, page);
    return { total: slice.total, items: slice.items.map((n) => streamStatusOf(engine.state(n)!)) };
  };
}

/** Reasons the readiness state is not ready (empty when ready). */
export function notReadyReasons(r: Readiness): string[] {
  const out: string[] = [];
  if (!r.modelLoaded) out.push('model not loaded');
  if (!r.consumerJoined) out.push('consumer has not joined its group');
  if (r.draining) out.push('draining');
  if (r.reasons) out.push(...r.reasons);
  return out;
}

class BadRequest extends Error {}

function intParam(url: URL, name: string, dflt: number, min: number, max: number): number {
  const v = url.searchParams.get(name);
  if (v === null || v === '') return dflt;
  if (!/^\d+$/.test(v)) throw new BadRequest(`${name} must be a non-negative integer`);
  const n = Number(v);
  if (n < min || n > max) throw new BadRequest(`${name} must be between ${min} and ${max}`);
  return n;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(text);
}

export class DaemonHttpServer {
  private server: Server | null = null;
  private readonly log: Logger;
  private boundPort = 0;
  private readonly verified = new Map<string, true>();

  constructor(private readonly opts: HttpServerOptions) {
    this.log = opts.logger ?? silentLogger;
  }

  /** The bound port (after start). */
  get port(): number {
    return this.boundPort;
  }

  /** Listen; resolves with the bound port. */
  async start(): Promise<number> {
    if (this.server) return this.boundPort;
    const onRequest = (req: IncomingMessage, res: ServerResponse) => {
      this.guarded(req, res).catch((err: unknown) => {
        this.log.error('http handler failed', { err, url: req.url });
        if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
        else res.destroy();
      });
    };
    const tls = this.opts.security?.tls;
    const server: Server = tls ? createHttpsServer({ ...tls }, onRequest) : createServer(onRequest);
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port ?? DEFAULT_HTTP_PORT, this.opts.host ?? '0.0.0.0', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.boundPort = (server.address() as AddressInfo).port;
    const sec = this.opts.security;
    this.log.info('http server listening', {
      port: this.boundPort,
      host: this.opts.host ?? '0.0.0.0',
      tls: tls !== undefined,
      mutualTls: tls?.requestCert ?? false,
      basicAuthUsers: sec?.users.size ?? 0,
      streamsApi: this.opts.streamsApi ?? true,
      ...(sec ? { webConfigFile: sec.file } : {}),
    });
    return this.boundPort;
  }

  /** Stop listening and close open connections. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
      setImmediate(() => server.closeAllConnections());
    });
  }

  private async guarded(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const users = this.opts.security?.users;
    // Probes (kubelet, load balancers) cannot log in; liveness and readiness tell nothing about the data.
    const probe = /^\/(healthz|readyz)(\?|$)/.test(req.url ?? '');
    if (users && users.size > 0 && !probe && !(await this.authorized(req.headers.authorization, users))) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="noisefloor", charset="UTF-8"', 'content-type': 'text/plain; charset=utf-8' });
      res.end('Unauthorized\n');
      return;
    }
    return this.handle(req, res);
  }

  /** Basic auth against the bcrypt hashes. */
  private async authorized(header: string | undefined, users: ReadonlyMap<string, string>): Promise<boolean> {
    const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
    if (!m) return false;
    const decoded = Buffer.from(m[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return false;
    const user = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    const hash = users.get(user);
    const key = createHash('sha256').update(`${user}\0${password}\0${hash ?? ''}`).digest('base64');
    if (hash !== undefined && this.verified.has(key)) return true;
    // bcrypt looks at 72 bytes at most; longer passwords are cut, as every bcrypt does.
    const ok = await bcrypt.compare(password, hash ?? DUMMY_HASH);
    if (!ok || hash === undefined) return false;
    if (this.verified.size >= VERIFIED_CACHE_SIZE) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(key, true);
    return true;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' });
      res.end();
      return;
    }
    switch (url.pathname) {
      case '/metrics': {
        const text = await this.opts.registry.metrics();
        res.writeHead(200, { 'content-type': this.opts.registry.contentType });
        res.end(req.method === 'HEAD' ? undefined : text);
        return;
      }
      case '/healthz':
        sendJson(res, 200, { status: 'ok' });
        return;
      case '/readyz': {
        if (!this.opts.readiness) {
          sendJson(res, 503, { ready: false, reasons: ['no readiness check configured'] });
          return;
        }
        const state = await this.opts.readiness();
        const reasons = notReadyReasons(state);
        sendJson(res, reasons.length ? 503 : 200, {
          ready: reasons.length === 0,
          reasons,
          modelLoaded: state.modelLoaded,
          consumerJoined: state.consumerJoined,
          draining: state.draining,
        });
        return;
      }
      case '/api/streams': {
        if (this.opts.streamsApi === false) {
          sendJson(res, 404, { error: 'stream listing is switched off (http.streamsApi: false)' });
          return;
        }
        if (!this.opts.streams) {
          sendJson(res, 404, { error: 'stream listing not available' });
          return;
        }
        let limit: number;
        let offset: number;
        try {
          limit = intParam(url, 'limit', DEFAULT_PAGE_LIMIT, 1, MAX_PAGE_LIMIT);
          offset = intParam(url, 'offset', 0, 0, Number.MAX_SAFE_INTEGER);
        } catch (err) {
          if (err instanceof BadRequest) {
            sendJson(res, 400, { error: err.message });
            return;
          }
          throw err;
        }
        const page = await this.opts.streams({ limit, offset });
        sendJson(res, 200, { total: page.total, limit, offset, streams: page.items });
        return;
      }
      default:
        sendJson(res, 404, { error: 'not found', endpoints: ['/metrics', '/healthz', '/readyz', ...(this.opts.streamsApi === false ? [] : ['/api/streams'])] });
    }
  }
}
