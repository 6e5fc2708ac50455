import type { ServiceStats } from '../wire/protocol.js';
import type { Refusals } from './refusals.js';
import { serviceProblems } from './service-health.js';

// What /healthz says (docs/delivery.md, "Health"):
// - `unhealthy` while the monitor is not running (starting, stopping) or its journal writes fail: alerts are
//   not being accepted;
// - `degraded` while it works but something was refused or set aside, so alerts may be missing:
//   · it set aside an entry of its journal or snapshot, or an alert its dispatcher could not handle, since it
//     started (see DATA/monitor/quarantine.jsonl; a restart clears this, having said it once),
//   · it refused a malformed message on its port in the last RECENT_REFUSAL_MS (a peer is sending what it
//     cannot use: a consumer of another version, or a hostile process),
//   · a consumer reports entries of its own state set aside (counter `setAside` of its stats);
//   · the master fenced off a process claiming a consumer's name in the last minute, or a consumer reports itself
//     fenced off (service-health.ts): a stray or stale consumer;
//   · a master cannot reach the shared ring's store (etcd): it routes by the last ring it read, changes wait;
//   · a source cannot make progress: its client's oldest batch has waited stuckAfterMs (30 s) for its ack, with
//     the reason the client last heard (a consumer away, a disk full, no connection), or nothing it read so far
//     was in its format (service-health.ts);
// - `ok` otherwise.
// Both `unhealthy` and `degraded` answer 503, with the reasons in the body.

export const RECENT_REFUSAL_MS = 5 * 60_000;

export interface Health {
  status: 'ok' | 'degraded' | 'unhealthy';
  reasons: string[];
}

export interface HealthFacts {
  running: boolean;
  journalFailing: boolean;
  refusals: Refusals;
  /** the latest counters of every service */
  services: readonly ServiceStats[];
  /** a client whose oldest batch has waited this long for its ack is a stuck source (default 30 s) */
  stuckAfterMs?: number;
  now: number;
}

export function assessHealth(f: HealthFacts): Health {
  if (!f.running) return { status: 'unhealthy', reasons: ['the monitor is not running (starting or stopping)'] };
  if (f.journalFailing) return { status: 'unhealthy', reasons: ['journal writes are failing: alerts are not accepted'] };
  const reasons: string[] = [];
  const r = f.refusals;
  if (r.setAsideTotal > 0) {
    const where = Object.entries(r.setAside).filter(([, n]) => n > 0).map(([w, n]) => `${w} ${n}`).join(', ');
    reasons.push(`${r.setAsideTotal} entries set aside since start (${where}; see quarantine.jsonl in the monitor's data directory)`);
  }
  if (r.lastRefusedAt !== undefined && f.now - r.lastRefusedAt < RECENT_REFUSAL_MS) {
    const kinds = Object.entries(r.refusedByKind()).flatMap(([type, byCode]) => Object.entries(byCode).map(([code, n]) => `${type} ${code} ${n}`));
    reasons.push(`malformed messages refused, the latest ${Math.round((f.now - r.lastRefusedAt) / 1000)} s ago (since start: ${kinds.join(', ')})`);
  }
  reasons.push(...serviceProblems(f.services, f.stuckAfterMs));
  for (const s of f.services) {
    const n = s.kind === 'consumer' ? s.counters.setAside : undefined;
    if (n !== undefined && n > 0) reasons.push(`${s.service} set aside ${n} entries of its state (see quarantine.jsonl in its data directory)`);
  }
  return reasons.length > 0 ? { status: 'degraded', reasons } : { status: 'ok', reasons: [] };
}
