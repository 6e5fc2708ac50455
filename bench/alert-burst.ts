import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as zmq from 'zeromq';
import { alertId } from '../src/model/ids.js';
import type { Alert } from '../src/model/record.js';
import { decodeHeader, encodeAlerts, encodeHeader, PROTOCOL_VERSION } from '../src/wire/protocol.js';
import type { BenchReport } from './output.js';
import { slowq, stop } from './harness/processes.js';
import { sleep } from './harness/wait.js';
import { procSample } from './tools.js';

// What an alert storm does to the monitor: a real `slowq monitor` process takes a burst of alerts at a fixed
// rate from a ZeroMQ peer acting as a consumer (acks awaited, as a consumer does), and routes them to two
// webhook receivers served by this process: one grouped the Alertmanager way (group_by source+alertname), one
// per problem (group_by "...") behind a token-bucket rate limit. Printed: what was accepted and when, the
// notifications each receiver got and how many alerts they carried, what the rate limit held back, and the
// monitor's peak RSS and CPU.

export interface AlertBurstOptions {
  /** alerts per second offered */
  rate?: number;
  seconds?: number;
  /** alerts per message (a consumer sends up to 500) */
  perMessage?: number;
  port?: number;
  dir?: string;
}

interface Hook {
  server: Server;
  url: string;
  notifications: number;
  alerts: number;
  /** alerts notifications counted without listing them (the route's max_alerts) */
  truncated: number;
  heldBackSeen: number;
}

function startHook(): Promise<Hook> {
  return new Promise((resolve) => {
    const hook: Hook = { server: createServer(), url: '', notifications: 0, alerts: 0, truncated: 0, heldBackSeen: 0 };
    hook.server.on('request', (req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (d: Buffer) => parts.push(d));
      req.on('end', () => {
        try {
          const body = JSON.parse(Buffer.concat(parts).toString()) as { alerts?: unknown[]; truncatedAlerts?: number };
          hook.notifications++;
          hook.alerts += body.alerts?.length ?? 0;
          hook.truncated += body.truncatedAlerts ?? 0;
        } catch {
          // counted as nothing: the monitor only sends JSON
        }
        res.writeHead(200).end('ok');
      });
    });
    hook.server.listen(0, '127.0.0.1', () => {
      const a = hook.server.address();
      hook.url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/`;
      resolve(hook);
    });
  });
}

/** p50 / p99 / max of a message's send → ack, in ms. */
function ackSummary(ms: number[]): string {
  if (ms.length === 0) return 'none';
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number): string => s[Math.min(s.length - 1, Math.floor(q * s.length))]!.toFixed(1);
  return `${at(0.5)} / ${at(0.99)} / ${s[s.length - 1]!.toFixed(1)}`;
}

function syntheticAlert(i: number, t0: number): Alert {
  const queryId = `burst-${i}`;
  const at = new Date(t0 + i).toISOString();
  return {
    id: alertId('storm-db', queryId, 'slow_query'),
    type: 'slow_query',
    source: i % 2 === 0 ? 'storm-db' : 'storm-db-2',
    queryId,
    fingerprint: `select * from t${i % 50} where id = ?`,
    fingerprintId: `0x${(i % 50).toString(16).padStart(32, '0').toUpperCase()}`,
    sql: `select * from t${i % 50} where id = ${i}`,
    durationMs: 1500 + (i % 1000),
    startedAt: at,
    at,
    severity: 'warning',
    db: 'shop',
    user: 'app',
  };
}

export async function benchAlertBurst(opts: AlertBurstOptions = {}): Promise<BenchReport> {
  const rate = opts.rate ?? 10_000;
  const seconds = opts.seconds ?? 5;
  const perMessage = Math.min(opts.perMessage ?? 500, 500);
  const total = rate * seconds;
  const base = opts.port ?? 27_400;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'slowq-bench-burst-'));
  const grouped = await startHook();
  const perProblem = await startHook();
  const config = join(dir, 'monitor.yaml');
  writeFileSync(config, [
    'route:',
    '  receiver: grouped',
    '  group_by: [source, alertname]',
    '  group_wait: 1s',
    '  group_interval: 2s',
    '  routes:',
    '    - matchers: ["alertname=SlowQuery"]',
    '      receiver: per-problem',
    '      group_by: ["..."]',
    '      group_wait: 0s',
    '      group_interval: 1s',
    '      continue: true',
    '    - matchers: ["alertname=~.*"]',
    '      receiver: grouped',
    'receivers:',
    `  - { name: grouped, webhook: { url: "${grouped.url}" } }`,
    `  - { name: per-problem, webhook: { url: "${perProblem.url}" } }`,
    'rate_limits:',
    '  - { receiver: per-problem, rate: 10, per: 1s, burst: 20 }',
    '',
  ].join('\n'));
  const alertsFile = join(dir, 'alerts.jsonl');
  const monitor = slowq('monitor', ['monitor', '--data', join(dir, 'monitor'), '--port', String(base), '--alerts', alertsFile,
    '--config', config, '--quiet', '--log-level', 'warn', '--http-port', String(base + 1)]);
  const sock = new zmq.Dealer({ linger: 0, sendHighWaterMark: 10_000 });
  try {
    sock.connect(`tcp://127.0.0.1:${base}`);
    await sleep(1500); // the monitor process starts
    /** request id → when it was sent */
    const pending = new Map<number, number>();
    const ackMs: number[] = [];
    const acks = (async () => {
      for (;;) {
        const [h] = await sock.receive();
        const hdr = decodeHeader(h);
        const at = hdr.t === 'alerts-ack' ? pending.get(hdr.rid) : undefined;
        if (hdr.t === 'alerts-ack' && at !== undefined) {
          ackMs.push(performance.now() - at);
          pending.delete(hdr.rid);
        }
      }
    })().catch(() => {});
    const t0 = Date.now();
    let sent = 0;
    let rid = 1;
    let peakPending = 0;
    // fixed offered rate: each tick sends what the schedule says is due, waiting for acks only if more
    // than 20 messages are outstanding (a consumer's outbox sends one at a time; many consumers are many)
    while (sent < total) {
      const due = Math.min(total, Math.floor(((Date.now() - t0) / 1000) * rate));
      while (sent < due && pending.size < 20) {
        const n = Math.min(perMessage, due - sent);
        const alerts = Array.from({ length: n }, (_, k) => syntheticAlert(sent + k, t0));
        pending.set(rid, performance.now());
        await sock.send([encodeHeader({ v: PROTOCOL_VERSION, t: 'alerts', rid: rid++, n }), encodeAlerts(alerts)]);
        sent += n;
      }
      peakPending = Math.max(peakPending, pending.size);
      await sleep(10);
    }
    const sentAt = Date.now();
    const until = Date.now() + 60_000;
    while (pending.size > 0 && Date.now() < until) await sleep(20);
    const ackedAt = Date.now();
    let written = 0;
    while (Date.now() < until) {
      written = readFileSync(alertsFile, 'utf8').split('\n').length - 1;
      if (written >= total) break;
      await sleep(100);
    }
    const writtenAt = Date.now();
    await sleep(4000); // group intervals pass; rate-limited notifications trickle
    const sample = monitor.child.pid ? procSample(monitor.child.pid) : undefined;
    let heldBack = 0;
    try {
      const metrics = await (await fetch(`http://127.0.0.1:${base + 1}/metrics`)).text();
      const m = /slowq_notifications_total\{receiver="per-problem",outcome="held_back"\} (\d+)/.exec(metrics);
      heldBack = m ? Number(m[1]) : 0;
    } catch {
      // no metrics: shown as 0
    }
    void acks;
    const offered = (sentAt - t0) / 1000;
    return {
      bench: 'alert-burst',
      tables: [{
        title: `alert burst: ${total.toLocaleString('en-US')} alerts offered at ${rate.toLocaleString('en-US')}/s to one monitor`,
        columns: ['measure', 'value'],
        rows: [
          ['alerts offered', total],
          ['offered over (s)', offered],
          ['all acked after (s)', (ackedAt - t0) / 1000],
          ['accepted per second', total / ((ackedAt - t0) / 1000)],
          ['in alerts.jsonl after (s)', (writtenAt - t0) / 1000],
          ['alerts.jsonl lines', written],
          ['grouped receiver: notifications', grouped.notifications],
          ['grouped receiver: alerts carried', grouped.alerts],
          ['grouped receiver: alerts counted, not listed (max_alerts 1,000)', grouped.truncated],
          ['per-problem receiver (10/s, burst 20): notifications', perProblem.notifications],
          ['per-problem receiver: alerts carried', perProblem.alerts],
          ['per-problem receiver: holds by the rate limit (one per notification per flush)', heldBack],
          ['per-problem receiver: alerts still queued for it at the end', total - perProblem.alerts],
          ['monitor peak RSS (MiB)', sample ? sample.peakRss / (1 << 20) : null],
          ['monitor CPU (s)', sample ? sample.cpuMs / 1000 : null],
          ['unacked messages at most (of 20 allowed)', peakPending],
          ['ack latency p50 / p99 / max (ms)', ackSummary(ackMs)],
        ],
        notes: [
          'one ZeroMQ peer sends like a consumer (500 alerts per message); the monitor journals and fsyncs before each ack',
          'grouped: group_by [source, alertname], group_wait 1s, group_interval 2s; per-problem: group_by "...", token bucket 10/s burst 20',
          'held-back alerts stay in their groups and go out, at the limit\'s pace and with a heldBack count, in later notifications: none is dropped',
        ],
      }],
      charts: [],
      data: { total, rate, offeredSeconds: offered, ackedSeconds: (ackedAt - t0) / 1000, written, grouped: { ...grouped, server: undefined }, perProblem: { ...perProblem, server: undefined }, heldBack, peakRss: sample?.peakRss, cpuMs: sample?.cpuMs },
    };
  } finally {
    sock.close();
    await stop(monitor);
    grouped.server.close();
    perProblem.server.close();
    if (!opts.dir) rmSync(dir, { recursive: true, force: true });
  }
}
