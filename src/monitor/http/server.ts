import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MatcherError } from '../dispatch/matchers.js';
import type { Health } from '../health.js';
import type { MonitorEvent, MonitorView } from '../view.js';
import { isLoopbackHost, presentedToken, tokenMatches } from './auth.js';
import { BadRequest, readJsonObject } from './body.js';
import { dashboardHtml } from './dashboard.js';
import { SseHub } from './events.js';
import { createMetricsRegistry } from './metrics.js';
import { parseSilenceBody } from './silence-input.js';
import { ThroughputSampler } from './throughput.js';
import { busiestClasses } from './classes.js';

// The monitor's HTTP side (node:http, no framework): the dashboard, its JSON API and event stream,
// /metrics for Prometheus, /healthz, and Alertmanager's /-/healthy, /-/ready and POST /-/reload. Loopback by
// default; on any other address every request except the probes (/healthz, /-/healthy, /-/ready) must carry
// the token, and the server will not start there without one.

export interface HttpServerOptions {
  host: string;
  port: number;
  /** required when host is not a loopback address; `Authorization: Bearer <token>` or `?token=` */
  token?: string;
  /** how often throughput is sampled and pushed to open dashboards (default 5 s) */
  statsIntervalMs?: number;
  /** SSE heartbeat comment interval (default 15 s) */
  heartbeatMs?: number;
  /** health beyond "the process answers"; by default the view's own `health()` or `healthy()` if it has one */
  healthy?: () => boolean;
  /** POST /-/reload: re-reads the configuration file (absent: 404, nothing to reload) */
  reload?: () => Promise<{ ok: boolean; error?: string; summary?: string }>;
  /** GET /-/ready: whether the service takes work (default: yes while the server runs) */
  ready?: () => boolean;
}

/** Answered without the token (probes): they say nothing but up/ready/ok. */
const OPEN_PATHS = new Set(['/healthz', '/-/healthy', '/-/ready']);

export interface HttpServer {
  url: string;
  close(): Promise<void>;
}

/** window of the dashboard's "slowest fingerprints" */
const SLOWEST_WINDOW_MS = 3600_000;
/** query classes on the dashboard */
const CLASSES_SHOWN = 50;
const RESOLVED_LIMIT = 50;

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void> | void;

export async function startHttpServer(view: MonitorView, opts: HttpServerOptions): Promise<HttpServer> {
  const loopback = isLoopbackHost(opts.host);
  if (opts.token !== undefined && opts.token.length < 16) {
    throw new Error('HTTP token must be at least 16 characters (e.g. `openssl rand -hex 16`)');
  }
  if (!loopback && !opts.token) {
    throw new Error(`refusing to serve HTTP on ${opts.host}, which is not a loopback address, without a token: set one (--http-token or SLOWQ_HTTP_TOKEN), or bind 127.0.0.1`);
  }
  const token = opts.token;
  const health = healthOf(view, opts.healthy);

  const hub = new SseHub({ heartbeatMs: opts.heartbeatMs ?? 15_000 });
  const sampler = new ThroughputSampler(view.stats);
  // Alerts by type, counted from the view's events for views whose counters do not carry them.
  const byType: Record<string, number> = {};
  const registry = createMetricsRegistry(view, { alertsByType: () => byType, health });

  const statsSnapshot = () => {
    const now = Date.now();
    return {
      now,
      intervalMs: opts.statsIntervalMs ?? 5000,
      throughput: sampler.history(),
      services: sampler.rows(now),
      slowest: view.slowestFingerprints(SLOWEST_WINDOW_MS, 20),
      classes: busiestClasses(view.stats.all(now), CLASSES_SHOWN),
      counters: view.counters(),
      receivers: view.receiverNames(),
      problems: health().reasons,
    };
  };

  const unsubscribe = view.subscribe((e: MonitorEvent) => {
    if (e.type === 'alert') byType[e.alert.alert.type] = (byType[e.alert.alert.type] ?? 0) + 1;
    hub.send(e.type, eventPayload(e));
  });
  sampler.sample();
  const statsTimer = setInterval(() => {
    sampler.sample();
    if (hub.size > 0) hub.send('stats', statsSnapshot());
  }, opts.statsIntervalMs ?? 5000);
  statsTimer.unref();

  const routes: Record<string, Partial<Record<string, Handler>>> = {
    '/': { GET: (_req, res) => send(res, 200, 'text/html; charset=utf-8', dashboardHtml(), { 'content-security-policy': CSP }) },
    '/events': { GET: (req, res) => hub.attach(req, res) },
    '/api/alerts': { GET: (_req, res) => sendJson(res, 200, { now: Date.now(), active: view.activeAlerts(), resolved: view.recentResolved(RESOLVED_LIMIT) }) },
    '/api/silences': {
      GET: (_req, res) => sendJson(res, 200, { now: Date.now(), silences: view.silences() }),
      POST: async (req, res) => {
        checkSameOrigin(req);
        const input = parseSilenceBody(await readJsonObject(req));
        let silence;
        try {
          silence = await view.addSilence(input);
        } catch (err) {
          if (err instanceof MatcherError || (err as Error).name === 'SilenceError' || (err as Error).constructor?.name === 'SilenceError') {
            throw new BadRequest((err as Error).message);
          }
          throw err;
        }
        sendJson(res, 201, { silence });
      },
    },
    '/api/stats': { GET: (_req, res) => sendJson(res, 200, statsSnapshot()) },
    '/api/classes': {
      GET: (_req, res, url) => sendJson(res, 200, { now: Date.now(), classes: busiestClasses(view.stats.all(), intParam(url, 'limit', CLASSES_SHOWN, 1, 10_000)) }),
    },
    '/api/slowest': {
      GET: (_req, res, url) => {
        const windowMs = intParam(url, 'windowMs', SLOWEST_WINDOW_MS, 60_000, 7 * 24 * 3600_000);
        const limit = intParam(url, 'limit', 20, 1, 500);
        sendJson(res, 200, { windowMs, fingerprints: view.slowestFingerprints(windowMs, limit) });
      },
    },
    '/metrics': {
      GET: async (_req, res) => send(res, 200, registry.contentType, await registry.metrics()),
    },
    // Alertmanager's lifecycle endpoints: liveness, readiness, and a reload of the configuration file.
    '/-/healthy': { GET: (_req, res) => send(res, 200, 'text/plain; charset=utf-8', 'OK\n') },
    '/-/ready': {
      GET: (_req, res) => ((opts.ready?.() ?? true) ? send(res, 200, 'text/plain; charset=utf-8', 'OK\n') : send(res, 503, 'text/plain; charset=utf-8', 'not ready\n')),
    },
    ...(opts.reload && {
      '/-/reload': {
        POST: async (req: IncomingMessage, res: ServerResponse) => {
          checkSameOrigin(req);
          const r = await opts.reload!();
          if (r.ok) return send(res, 200, 'text/plain; charset=utf-8', `configuration reloaded${r.summary ? `: ${r.summary}` : ''}\n`);
          send(res, 500, 'text/plain; charset=utf-8', `failed to reload config: ${r.error ?? 'unknown error'}\n`);
        },
      },
    }),
    '/healthz': {
      GET: (_req, res) => {
        const h = health();
        if (h.status === 'ok') return send(res, 200, 'text/plain; charset=utf-8', 'ok\n');
        send(res, 503, 'text/plain; charset=utf-8', `${h.status}${h.reasons.length > 0 ? `: ${h.reasons.join('; ')}` : ''}\n`);
      },
    },
  };

  const deleteSilence: Handler = async (req, res, url) => {
    checkSameOrigin(req);
    let id: string;
    try {
      id = decodeURIComponent(url.pathname.slice('/api/silences/'.length));
    } catch {
      throw new BadRequest('silence id is not valid URL encoding');
    }
    if (id === '' || id.length > 200) throw new BadRequest('silence id missing or too long');
    const silence = await view.expireSilence(id);
    if (!silence) return sendJson(res, 404, { error: `no silence with id ${JSON.stringify(id)}` });
    sendJson(res, 200, { silence });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      return sendJson(res, 400, { error: 'bad request URL' });
    }
    const path = url.pathname;
    if (!OPEN_PATHS.has(path)) {
      if (token !== undefined && !tokenMatches(presentedToken(req, url), token)) {
        res.setHeader('www-authenticate', 'Bearer realm="slowq"');
        return sendJson(res, 401, { error: 'a token is required: Authorization: Bearer <token>, or ?token=' });
      }
      // Without a token the server is on loopback: refuse Host names that are not local, so a web page
      // elsewhere cannot reach it through DNS rebinding.
      if (token === undefined && !isLoopbackHost(hostnameOf(req.headers.host))) {
        return sendJson(res, 403, { error: 'Host header is not a loopback name' });
      }
    }
    const method = req.method ?? 'GET';
    let handler: Handler | undefined;
    let allowed: string[];
    if (path.startsWith('/api/silences/')) {
      allowed = ['DELETE'];
      if (method === 'DELETE') handler = deleteSilence;
    } else {
      const route = routes[path];
      if (!route) return path.startsWith('/api/') ? sendJson(res, 404, { error: `no such endpoint: ${path}` }) : send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
      allowed = Object.keys(route);
      handler = route[method] ?? (method === 'HEAD' ? route.GET : undefined);
    }
    if (!handler) {
      res.setHeader('allow', allowed.join(', '));
      return sendJson(res, 405, { error: `${method} is not allowed on ${path} (allowed: ${allowed.join(', ')})` });
    }
    await handler(req, res, url);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof BadRequest) {
        // A body over the limit is left unread: close the connection instead of draining it.
        if (err.status === 413) res.setHeader('connection', 'close');
        return sendJson(res, err.status, { error: err.message });
      }
      sendJson(res, 500, { error: `internal error: ${(err as Error).message}` });
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((err: unknown) => {
    unsubscribe();
    clearInterval(statsTimer);
    hub.close();
    throw err;
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${addr.port}`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        unsubscribe();
        clearInterval(statsTimer);
        hub.close();
        const force = setTimeout(() => server.closeAllConnections(), 2000);
        force.unref();
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}

const CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** The health /healthz reports (src/monitor/health.ts): the option's, else the view's `health()` or `healthy()`, else ok. */
function healthOf(view: MonitorView, healthy: (() => boolean) | undefined): () => Health {
  const unhealthy: Health = { status: 'unhealthy', reasons: [] };
  if (healthy) return () => (healthy() ? { status: 'ok', reasons: [] } : unhealthy);
  const v = view as MonitorView & { health?: unknown; healthy?: unknown };
  if (typeof v.health === 'function') return () => (v.health as () => Health).call(view);
  if (typeof v.healthy === 'function') return () => ((v.healthy as () => unknown).call(view) ? { status: 'ok', reasons: [] } : unhealthy);
  return () => ({ status: 'ok', reasons: [] });
}

/** What an SSE event carries: the event without bulky parts (a notification's alerts are summarised). */
function eventPayload(e: MonitorEvent): unknown {
  if (e.type !== 'notification') return e;
  const n = e.notification;
  return {
    type: e.type,
    receiver: e.receiver,
    outcome: e.outcome,
    error: e.error,
    at: Date.now(),
    notification: { id: n.id, groupKey: n.groupKey, status: n.status, alerts: n.alerts.length, truncated: n.truncated, groupLabels: n.groupLabels, heldBack: n.heldBack },
  };
}

/** Browsers send Origin on cross-site writes: refuse one that is not this server. */
function checkSameOrigin(req: IncomingMessage): void {
  const origin = req.headers.origin;
  if (origin === undefined) return;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    throw new BadRequest('bad Origin header', 403);
  }
  if (host !== req.headers.host) throw new BadRequest(`cross-origin request from ${origin} refused`, 403);
}

function hostnameOf(hostHeader: string | undefined): string {
  if (!hostHeader) return '';
  const m = /^(\[[^\]]*\]|[^:]*)(?::\d+)?$/.exec(hostHeader);
  return m ? m[1]! : '';
}

function intParam(url: URL, name: string, dflt: number, min: number, max: number): number {
  const raw = url.searchParams.get(name);
  if (raw === null) return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new BadRequest(`${name}: expected an integer from ${min} to ${max}`);
  return n;
}

function send(res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value));
}
