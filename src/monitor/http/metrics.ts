import { Counter, Gauge, Registry } from 'prom-client';
import type { ServiceStats } from '../../wire/protocol.js';
import type { Health } from '../health.js';
import type { MonitorView } from '../view.js';

// /metrics: the latest counters every service reported (through the stats table) and the monitor's own, in
// Prometheus text format. Every metric reads its values at scrape time (collect callbacks) into a registry
// of its own, so nothing is copied on the hot path and several servers in one process don't collide.
//
// The services' counters are cumulative since each process started; a restart starts them again from 0,
// which Prometheus' rate() treats as a counter reset.

/** A counter reported by services of one kind, exported as one metric labelled by service (and source). */
interface StatSpec {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  kind: string;
  /** the counter's name in the service's stats; the first one present is used */
  counter: string | string[];
}

// Names as the services count them: ClientStats (src/client/client.ts, with SenderStats: `acked` counts
// batches), ConsumerStats (src/consumer/consumer.ts), MasterStats (src/master/master.ts). A counter a
// service does not report is left out (e.g. `recordsAcked` from clients that only count batches).
const SPECS: StatSpec[] = [
  { kind: 'client', counter: 'read', type: 'counter', name: 'slowq_client_records_read_total', help: 'Records read and parsed from log files.' },
  { kind: 'client', counter: 'records', type: 'counter', name: 'slowq_client_records_sent_total', help: 'Records sent in batches (resends not counted).' },
  { kind: 'client', counter: 'recordsAcked', type: 'counter', name: 'slowq_client_records_acked_total', help: 'Records acknowledged as durable by a consumer.' },
  { kind: 'client', counter: 'acked', type: 'counter', name: 'slowq_client_batches_acked_total', help: 'Batches acknowledged as durable by a consumer.' },
  { kind: 'client', counter: 'deadLettered', type: 'counter', name: 'slowq_client_records_dead_lettered_total', help: 'Malformed input entries written to the dead-letter file.' },
  { kind: 'client', counter: 'batches', type: 'counter', name: 'slowq_client_batches_sent_total', help: 'Batches sent (resends not counted).' },
  { kind: 'client', counter: 'resends', type: 'counter', name: 'slowq_client_batch_resends_total', help: 'Batches sent again after an ack timeout.' },
  { kind: 'client', counter: 'retries', type: 'counter', name: 'slowq_client_batch_retries_total', help: 'Retry answers received (owner away, not ready).' },
  { kind: 'client', counter: 'gaps', type: 'counter', name: 'slowq_client_gaps_total', help: 'Gap answers received (resent from an earlier seq).' },
  { kind: 'client', counter: 'errors', type: 'counter', name: 'slowq_client_errors_total', help: 'Error answers received.' },
  { kind: 'client', counter: 'masterFailovers', type: 'counter', name: 'slowq_client_master_failovers_total', help: 'Moves to another master (several masters: the one sent through died, was cut off, answered retry or not in time).' },
  { kind: 'client', counter: 'streams', type: 'gauge', name: 'slowq_client_streams', help: 'File streams being tailed.' },
  { kind: 'client', counter: 'waitingMs', type: 'gauge', name: 'slowq_client_oldest_unacked_ms', help: 'How long the oldest unacked batch has waited for its ack (0: none waits); a source that cannot make progress grows it.' },
  { kind: 'client', counter: 'unwatchedFiles', type: 'gauge', name: 'slowq_client_unwatched_files', help: 'Files being read without a change notification (inotify refused it, e.g. its watch limit): read at the poll interval only, so their lines wait longer.' },

  { kind: 'consumer', counter: 'requests', type: 'counter', name: 'slowq_consumer_requests_total', help: 'Batches received.' },
  { kind: 'consumer', counter: 'applied', type: 'counter', name: 'slowq_consumer_records_applied_total', help: 'Records applied to the alert state.' },
  { kind: 'consumer', counter: 'duplicates', type: 'counter', name: 'slowq_consumer_records_duplicate_total', help: 'Records already applied (at or below the stream\'s high-water mark), not applied again.' },
  { kind: 'consumer', counter: 'late', type: 'counter', name: 'slowq_consumer_records_late_total', help: 'Records behind the source\'s event-time watermark.' },
  { kind: 'consumer', counter: 'gaps', type: 'counter', name: 'slowq_consumer_gaps_total', help: 'Batches that started past the next expected seq.' },
  { kind: 'consumer', counter: 'malformed', type: 'counter', name: 'slowq_consumer_malformed_total', help: 'Malformed messages dropped.' },
  { kind: 'consumer', counter: 'chunks', type: 'counter', name: 'slowq_consumer_chunks_total', help: 'Raw chunks of logs received (clients with --ship chunks), parsed here.' },
  { kind: 'consumer', counter: 'chunkBytes', type: 'counter', name: 'slowq_consumer_chunk_bytes_total', help: 'Bytes of raw chunks received.' },
  { kind: 'consumer', counter: 'deadLettered', type: 'counter', name: 'slowq_consumer_records_dead_lettered_total', help: 'Lines and entries of raw chunks that could not be used (dead-letter.jsonl in its data directory).' },
  { kind: 'consumer', counter: 'setAside', type: 'counter', name: 'slowq_consumer_set_aside_total', help: 'Entries of its state set aside at load (quarantine.jsonl in its data directory).' },
  { kind: 'consumer', counter: 'commits', type: 'counter', name: 'slowq_consumer_commits_total', help: 'Durable commits (group commits of one or more batches).' },
  { kind: 'consumer', counter: 'commitFailures', type: 'counter', name: 'slowq_consumer_commit_failures_total', help: 'Commits that failed (batches not acked).' },
  { kind: 'consumer', counter: 'alerts', type: 'counter', name: 'slowq_consumer_alerts_total', help: 'Alerts produced.' },
  { kind: 'consumer', counter: 'alertsAcked', type: 'counter', name: 'slowq_consumer_alerts_acked_total', help: 'Alerts acknowledged by the monitor.' },
  { kind: 'consumer', counter: 'outbox', type: 'gauge', name: 'slowq_consumer_outbox_alerts', help: 'Alerts in the outbox, not yet acknowledged by the monitor.' },
  { kind: 'consumer', counter: 'openQueries', type: 'gauge', name: 'slowq_consumer_open_queries', help: 'Running queries being tracked.' },
  { kind: 'consumer', counter: 'regressionClasses', type: 'gauge', name: 'slowq_consumer_regression_classes', help: 'Query classes tracked for regressions (at most rules.max_classes per source).' },
  { kind: 'consumer', counter: 'regressionClassesEvicted', type: 'counter', name: 'slowq_consumer_regression_classes_evicted_total', help: 'Query classes evicted (least recently seen) to stay within rules.max_classes.' },
  { kind: 'consumer', counter: 'fenced', type: 'gauge', name: 'slowq_consumer_fenced', help: '1 while a master fences this process off (another process holds its name); it then answers every request retry.' },
  { kind: 'consumer', counter: 'rulesReloads', type: 'counter', name: 'slowq_consumer_config_reloads_total', help: 'Threshold changes a consumer applied on a configuration reload (SIGHUP): they apply to records applied after it.' },
  { kind: 'consumer', counter: 'rulesReloadFailures', type: 'counter', name: 'slowq_consumer_config_reload_failures_total', help: 'Threshold reloads (SIGHUP) a consumer refused: a bad file, or the snapshot the change starts at failed.' },
  { kind: 'consumer', counter: 'highWaterTotal', type: 'gauge', name: 'slowq_consumer_high_water_total', help: 'Sum of every stream\'s high-water mark (records applied exactly once).' },

  { kind: 'agent', counter: 'inputs', type: 'gauge', name: 'slowq_agent_inputs', help: 'Inputs an agent runs (files, probes).' },
  { kind: 'agent', counter: 'configReloads', type: 'counter', name: 'slowq_agent_config_reloads_total', help: 'Configuration reloads (SIGHUP) an agent took.' },
  { kind: 'agent', counter: 'configReloadFailures', type: 'counter', name: 'slowq_agent_config_reload_failures_total', help: 'Configuration reloads (SIGHUP) an agent refused, or whose new inputs did not start.' },
  { kind: 'agent', counter: 'configLastReloadSuccessful', type: 'gauge', name: 'slowq_agent_config_last_reload_successful', help: 'Whether an agent\'s last reload succeeded (1) or was refused and its inputs stay as they were (0).' },

  { kind: 'master', counter: 'batches', type: 'counter', name: 'slowq_master_batches_total', help: 'Batches routed to consumers.' },
  { kind: 'master', counter: 'replies', type: 'counter', name: 'slowq_master_replies_total', help: 'Consumer replies routed back to clients.' },
  { kind: 'master', counter: 'retries', type: 'counter', name: 'slowq_master_retries_total', help: 'Batches answered with retry (owner away).' },
  { kind: 'master', counter: 'malformed', type: 'counter', name: 'slowq_master_malformed_total', help: 'Malformed messages dropped.' },
  { kind: 'master', counter: 'consumersAlive', type: 'gauge', name: 'slowq_master_consumers_alive', help: 'Consumers heard from within the heartbeat timeout.' },
  { kind: 'master', counter: 'consumersConfigured', type: 'gauge', name: 'slowq_master_consumers_configured', help: 'Consumer names in the ring (--consumers); fewer alive means one is away.' },
  { kind: 'master', counter: 'ownerChanges', type: 'counter', name: 'slowq_master_consumer_owner_changes_total', help: 'Consumer names routed to another process (restarts included).' },
  { kind: 'master', counter: 'takeovers', type: 'counter', name: 'slowq_master_consumer_takeovers_total', help: 'Consumer names taken over by another state or an older start, after the owner\'s silence.' },
  { kind: 'master', counter: 'claimsRefused', type: 'counter', name: 'slowq_master_consumer_claims_refused_total', help: 'Processes refused a consumer name another state holds (two processes claim it).' },
  { kind: 'master', counter: 'staleClaims', type: 'counter', name: 'slowq_master_consumer_stale_claims_total', help: 'Processes refused a consumer name a later start of the same state holds.' },
  { kind: 'master', counter: 'fencedReplies', type: 'counter', name: 'slowq_master_fenced_replies_total', help: 'Replies (acks) of fenced consumer processes, ignored.' },
  { kind: 'master', counter: 'fencedRecently', type: 'gauge', name: 'slowq_master_consumers_fenced_recently', help: 'Fenced consumer processes heard from in the last minute.' },
  { kind: 'master', counter: 'ringVersion', type: 'gauge', name: 'slowq_master_ring_version', help: 'Version of the ring in force (one more at every change of the consumer set).' },
  { kind: 'master', counter: 'ringMoving', type: 'gauge', name: 'slowq_master_ring_moving', help: '1 while a change of the consumer set moves sources (their batches are answered retry).' },
  { kind: 'master', counter: 'ringChangeSeconds', type: 'gauge', name: 'slowq_master_ring_change_seconds', help: 'How long the change under way has taken so far (0 when none).' },
  { kind: 'master', counter: 'handoffsAcked', type: 'counter', name: 'slowq_master_handoffs_total', help: 'Sources moved to a new owner with their state.' },
  { kind: 'master', counter: 'ringStoreDown', type: 'gauge', name: 'slowq_master_ring_store_down', help: '1 while the shared ring\'s store (--ring-store: etcd) cannot be reached: the master routes by the last ring it read, and ring changes wait.' },
  { kind: 'master', counter: 'ringStoreOutages', type: 'counter', name: 'slowq_master_ring_store_outages_total', help: 'Times the shared ring\'s store (etcd) could not be reached.' },
  { kind: 'master', counter: 'ringStoreConflicts', type: 'counter', name: 'slowq_master_ring_store_conflicts_total', help: 'Writes of the shared ring made again because another master wrote it first (compare-and-swap).' },
  { kind: 'master', counter: 'ringDriving', type: 'gauge', name: 'slowq_master_ring_driving', help: '1 while this master drives the change of the shared ring under way.' },
  { kind: 'consumer', counter: 'handoffsOut', type: 'counter', name: 'slowq_consumer_handoffs_out_total', help: 'Sources this consumer gave up with their state when the ring changed.' },
  { kind: 'consumer', counter: 'handoffsIn', type: 'counter', name: 'slowq_consumer_handoffs_in_total', help: 'Sources this consumer received with their state when the ring changed.' },
  { kind: 'consumer', counter: 'handoffsUnconfirmed', type: 'gauge', name: 'slowq_consumer_handoffs_unconfirmed', help: 'Sources given up whose new owner has not confirmed them yet (their state is kept).' },
  { kind: 'consumer', counter: 'ringChangesRefused', type: 'counter', name: 'slowq_consumer_ring_changes_refused_total', help: 'Ring-change messages refused because this consumer has several masters that do not share one ring (--ring-store).' },
  { kind: 'consumer', counter: 'staleRoutes', type: 'counter', name: 'slowq_consumer_stale_routes_total', help: 'Batches refused (retry) because their master routed them by an older ring than one this consumer has had: a master with a stale view of the shared ring.' },
];

/** The logger's count of lines it could not hand to the logserver, whatever service reports it. */
const LOG_DROPPED = ['logDropped'];

/** `<peer>ConnectionLosses`, `<peer>ConnectionDownMs`, `<peers>Disconnects`: a connection's counters, by peer. */
const CONNECTION_LOSSES = /^([a-z][A-Za-z0-9]*)ConnectionLosses$/;
const CONNECTION_DOWN_MS = /^([a-z][A-Za-z0-9]*)ConnectionDownMs$/;
const PEER_DISCONNECTS = /^([a-z][A-Za-z0-9]*)Disconnects$/;

/** `<op>MsTotal` with a count `<op>s` (commitMsTotal / commits): exported as total seconds, count and average. */
const MS_TOTAL = /^([a-z][A-Za-z0-9]*)MsTotal$/;

function pick(s: ServiceStats, names: string | string[]): number | undefined {
  for (const n of typeof names === 'string' ? [names] : names) {
    const v = s.counters[n];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
  }
  return undefined;
}

const nonNegative = (v: number) => (v > 0 && Number.isFinite(v) ? v : 0);

export interface MetricsOptions {
  /** alerts accepted per type when the view's counters do not carry them (counted from its events) */
  alertsByType?: () => Record<string, number>;
  /** what /healthz says, exported as a gauge */
  health?: () => Health;
}

/** Builds the registry behind /metrics. Call `registry.metrics()` to render. */
export function createMetricsRegistry(view: MonitorView, opts: MetricsOptions = {}): Registry {
  const registry = new Registry();
  const services = () => view.stats.all();
  // The monitor's own counters, read by many metrics: made once per scrape, not once per metric. prom-client calls
  // every metric's collect() synchronously within registry.metrics(), so what is held is let go at the first
  // microtask after: the next scrape, even one awaited right after, makes them again.
  let held: ReturnType<MonitorView['counters']> | undefined;
  const counters = (): ReturnType<MonitorView['counters']> => {
    if (!held) {
      held = view.counters();
      queueMicrotask(() => (held = undefined));
    }
    return held;
  };

  for (const spec of SPECS) {
    const labelNames = spec.kind === 'client' ? ['service', 'source'] : ['service'];
    const fill = (m: Counter<string> | Gauge<string>) => {
      m.reset();
      for (const s of services()) {
        if (s.kind !== spec.kind) continue;
        const v = pick(s, spec.counter);
        if (v === undefined) continue;
        const labels: Record<string, string> = { service: s.service };
        if (spec.kind === 'client') labels.source = s.source ?? '';
        if (m instanceof Counter) m.inc(labels, nonNegative(v));
        else m.set(labels, v);
      }
    };
    if (spec.type === 'counter') {
      new Counter({ name: spec.name, help: spec.help, labelNames, registers: [registry], collect() { fill(this); } });
    } else {
      new Gauge({ name: spec.name, help: spec.help, labelNames, registers: [registry], collect() { fill(this); } });
    }
  }

  /** A counter or gauge whose samples are computed at each scrape. */
  const fromSamples = (type: 'counter' | 'gauge', name: string, help: string, labelNames: string[], samples: () => Array<{ labels: Record<string, string>; value: number }>) => {
    const config = { name, help, labelNames, registers: [registry] };
    if (type === 'counter') new Counter({ ...config, collect() { this.reset(); for (const p of samples()) this.inc(p.labels, p.value); } });
    else new Gauge({ ...config, collect() { this.reset(); for (const p of samples()) this.set(p.labels, p.value); } });
  };

  /** One metric per service (and kind) from a counter every kind of service may report, divided by `per` (ms → s). */
  const perService = (type: 'counter' | 'gauge', name: string, help: string, counter: string | string[], per = 1) => {
    const samples = () => {
      const out: Array<{ labels: { service: string; kind: string }; value: number }> = [];
      for (const s of services()) {
        const v = pick(s, counter);
        if (v !== undefined) out.push({ labels: { service: s.service, kind: s.kind }, value: nonNegative(v) / per });
      }
      return out;
    };
    fromSamples(type, name, help, ['service', 'kind'], samples);
  };
  perService('counter', 'slowq_log_lines_dropped_total', 'Log lines a service could not hand to the logserver (down or too slow) and dropped.', LOG_DROPPED);
  // How late each service's event loop ran over its last report interval (src/service/loop-delay.ts).
  const lateLoop = 'delay of a service\'s event loop over its last report interval (a late loop holds up its acks, alerts and heartbeats).';
  perService('gauge', 'slowq_event_loop_delay_max_seconds', `The worst ${lateLoop}`, 'loopDelayMaxMs', 1000);
  perService('gauge', 'slowq_event_loop_delay_p99_seconds', `The 99th percentile of the ${lateLoop}`, 'loopDelayP99Ms', 1000);
  perService('gauge', 'slowq_commit_duration_max_seconds',
    'The slowest durable commit (journal write and fsync) of a service over its last report interval: a disk that stalls holds its acks and alerts while its event loop is idle.', 'commitMsMax', 1000);

  /** Every service's counters whose name matches `pattern` (its first group names what the counter is about). */
  const matching = (pattern: RegExp) => {
    const out: Array<{ s: ServiceStats; about: string; value: number }> = [];
    for (const s of services()) {
      for (const [k, value] of Object.entries(s.counters)) {
        const m = pattern.exec(k);
        if (m) out.push({ s, about: m[1]!, value });
      }
    }
    return out;
  };

  // Connections (src/transport/link-watch.ts, peer-watch.ts): the outages of each connection a service makes,
  // by the peer it connects to, and its peers' connections that closed on the ports it binds.
  const perPeer = (type: 'counter' | 'gauge', name: string, help: string, pattern: RegExp, per = 1) => {
    const samples = () => matching(pattern).map(({ s, about, value }) => ({ labels: { service: s.service, kind: s.kind, peer: about }, value: nonNegative(value) / per }));
    fromSamples(type, name, help, ['service', 'kind', 'peer'], samples);
  };
  perPeer('counter', 'slowq_connection_losses_total', 'Outages of a connection a service makes, by the peer it connects to (master, monitor, logserver).', CONNECTION_LOSSES);
  perPeer('gauge', 'slowq_connection_down_seconds', 'How long a connection a service makes has been lost, by peer (0 while connected).', CONNECTION_DOWN_MS, 1000);
  perPeer('counter', 'slowq_peer_disconnects_total',
    'Connections from peers (client, consumer, peer) to a port a service binds that closed: the peer stopped, or went silent.', PEER_DISCONNECTS);

  // Latencies from cumulative totals: rate(seconds_total) / rate(operations_total) is the recent average;
  // the _avg gauge is the average since the service started.
  const timed = () => matching(MS_TOTAL).map(({ s, about: op, value }) => (
    { labels: { service: s.service, kind: s.kind, operation: op }, seconds: value / 1000, count: s.counters[`${op}s`] }));
  new Counter({
    name: 'slowq_operation_duration_seconds_total',
    help: 'Time spent in an operation (commit: a consumer\'s durable group commit), summed since the service started.',
    labelNames: ['service', 'kind', 'operation'],
    registers: [registry],
    collect() {
      this.reset();
      for (const t of timed()) this.inc(t.labels, nonNegative(t.seconds));
    },
  });
  new Gauge({
    name: 'slowq_operation_duration_seconds_avg',
    help: 'Average duration of an operation since the service started.',
    labelNames: ['service', 'kind', 'operation'],
    registers: [registry],
    collect() {
      this.reset();
      for (const t of timed()) if (t.count !== undefined && t.count > 0) this.set(t.labels, t.seconds / t.count);
    },
  });

  new Gauge({
    name: 'slowq_service_last_report_timestamp_seconds',
    help: 'When a service last reported its counters (services silent for over a minute are not listed).',
    labelNames: ['service', 'kind'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of services()) this.set({ service: s.service, kind: s.kind }, s.at / 1000);
    },
  });

  // The monitor's own counters.
  const monitorCounter = (name: string, help: string, read: (c: ReturnType<MonitorView['counters']>) => number) =>
    new Counter({ name, help, registers: [registry], collect() { this.reset(); this.inc(nonNegative(read(counters()))); } });
  const monitorGauge = (name: string, help: string, read: (c: ReturnType<MonitorView['counters']>) => number) =>
    new Gauge({ name, help, registers: [registry], collect() { this.set(read(counters())); } });
  monitorCounter('slowq_monitor_messages_total', 'Alert messages received from consumers.', (c) => c.messages);
  monitorCounter('slowq_monitor_alerts_received_total', 'Alerts received, duplicates included.', (c) => c.received);
  monitorCounter('slowq_monitor_alerts_accepted_total', 'Alerts accepted (new alert ids).', (c) => c.accepted);
  monitorCounter('slowq_monitor_alerts_duplicate_total', 'Alerts dropped as duplicates by alert id.', (c) => c.duplicates);
  monitorGauge('slowq_monitor_dedup_ids', 'Accepted alert ids remembered to drop resent alerts.', (c) => c.dedupIds ?? 0);
  new Counter({
    name: 'slowq_monitor_dedup_forgotten_total',
    help: 'Accepted alert ids forgotten, by why: age (older than the retention) or room (the oldest beyond the count bound).',
    labelNames: ['why'],
    registers: [registry],
    collect() {
      this.reset();
      const c = counters();
      this.inc({ why: 'age' }, nonNegative(c.dedupForgottenForAge ?? 0));
      this.inc({ why: 'room' }, nonNegative(c.dedupForgottenForRoom ?? 0));
    },
  });
  monitorCounter('slowq_monitor_malformed_total', 'Malformed messages dropped.', (c) => c.malformed);
  monitorCounter('slowq_monitor_commit_failures_total', 'Journal writes that failed (alerts not acked).', (c) => c.commitFailures);
  monitorCounter('slowq_monitor_stats_messages_total', 'Stats messages received.', (c) => c.statsMessages);
  monitorCounter('slowq_monitor_silenced_total', 'Alert deliveries muted by a silence.', (c) => c.silenced);
  monitorCounter('slowq_monitor_inhibited_total', 'Alert deliveries muted by inhibition.', (c) => c.inhibited);
  new Counter({
    name: 'slowq_monitor_rejected_total',
    help: 'Messages refused on the monitor\'s port, by message type (unreadable: wrong frames, or a header that could not be read) and error code.',
    labelNames: ['type', 'code'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [type, byCode] of Object.entries(counters().refused ?? {})) {
        for (const [code, n] of Object.entries(byCode)) this.inc({ type, code }, nonNegative(n));
      }
    },
  });
  new Counter({
    name: 'slowq_monitor_set_aside_total',
    help: 'Entries the monitor set aside since it started (quarantine.jsonl), by where: journal, snapshot, dispatch.',
    labelNames: ['where'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [where, n] of Object.entries(counters().setAside ?? {})) this.inc({ where }, nonNegative(n));
    },
  });
  const health = opts.health;
  if (health) {
    new Gauge({
      name: 'slowq_monitor_health',
      help: 'What /healthz says: 0 ok, 1 degraded (something refused or set aside), 2 unhealthy.',
      registers: [registry],
      collect() {
        this.set({ ok: 0, degraded: 1, unhealthy: 2 }[health().status]);
      },
    });
  }
  // Alertmanager's alertmanager_config_last_reload_* under slowq's prefix (SIGHUP, POST /-/reload).
  const config = () => counters().config;
  new Gauge({
    name: 'slowq_config_last_reload_successful', help: 'Whether the last configuration reload succeeded (1) or was refused and the previous configuration stays in force (0).', registers: [registry],
    collect() { const c = config(); if (c) this.set(c.lastReloadSuccessful ? 1 : 0); },
  });
  new Gauge({
    name: 'slowq_config_last_reload_success_timestamp_seconds', help: 'When the configuration in force was loaded (at start, or by the last successful reload).', registers: [registry],
    collect() { const c = config(); if (c) this.set(c.lastReloadSuccessAt / 1000); },
  });
  new Counter({
    name: 'slowq_config_reload_failures_total', help: 'Configuration reloads refused (bad file; the previous configuration stayed in force).', registers: [registry],
    collect() { this.reset(); const c = config(); if (c) this.inc(nonNegative(c.reloadFailures)); },
  });
  monitorGauge('slowq_monitor_active_alerts', 'Alerts firing now.', (c) => c.activeAlerts);
  monitorGauge('slowq_monitor_groups', 'Aggregation groups.', (c) => c.groups);
  monitorGauge('slowq_monitor_active_silences', 'Silences in effect now.', (c) => c.activeSilences);

  new Counter({
    name: 'slowq_alerts_total',
    help: 'Alerts accepted by the monitor, by type (slow_query, long_running, resolved, stalled, regression, regression_resolved).',
    labelNames: ['type'],
    registers: [registry],
    collect() {
      this.reset();
      const c = counters() as ReturnType<MonitorView['counters']> & { alertsByType?: Record<string, number> };
      const byType = c.alertsByType ?? opts.alertsByType?.() ?? {};
      for (const [type, n] of Object.entries(byType)) this.inc({ type }, nonNegative(n));
    },
  });

  new Counter({
    name: 'slowq_notifications_total',
    help: 'Notifications by receiver and outcome: sent (delivered), failed (given up on), held_back (rate-limited, summarised later).',
    labelNames: ['receiver', 'outcome'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [receiver, r] of Object.entries(counters().receivers)) {
        this.inc({ receiver, outcome: 'sent' }, nonNegative(r.sent));
        this.inc({ receiver, outcome: 'failed' }, nonNegative(r.failed));
        this.inc({ receiver, outcome: 'held_back' }, nonNegative(r.heldBack));
      }
    },
  });
  new Counter({
    name: 'slowq_notification_retries_total',
    help: 'Delivery attempts that were retried, by receiver.',
    labelNames: ['receiver'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [receiver, r] of Object.entries(counters().receivers)) this.inc({ receiver }, nonNegative(r.retries));
    },
  });
  new Gauge({
    name: 'slowq_notifications_pending',
    help: 'Notifications recorded but not yet delivered, by receiver.',
    labelNames: ['receiver'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [receiver, r] of Object.entries(counters().receivers)) this.set({ receiver }, r.pending);
    },
  });

  return registry;
}
