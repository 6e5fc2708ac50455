import { MAX_TIME_MS } from '../model/bounds.js';
import { MAX_COUNTERS } from './limits.js';
import type { ServiceStats } from './protocol.js';
import { echo, fail, mapOf, number, object, optional, text, type Check } from './schema.js';

// A service's counters in a `stats` payload (docs/wire.md, "stats"). Names are only shown, so long ones are cut
// rather than refused; a counter that is not a number is refused, one that is not finite (NaN from 0/0) left out.

const counterValue: Check<number> = (v, path) => (typeof v === 'number' ? v : fail(path, `must be a number, got ${echo(v)}`));
const counterMap = mapOf({ max: MAX_COUNTERS, what: 'counter', key: text({ min: 1, max: 200 }), value: counterValue });
const counters: Check<Record<string, number>> = (v, path) => {
  const all = counterMap(v, path);
  for (const k of Object.keys(all)) if (!Number.isFinite(all[k])) delete all[k];
  return all;
};

/** a few short texts; long ones are cut, as they are only shown */
const notes = mapOf({ max: 16, what: 'note', key: text({ min: 1, max: 64 }), value: text({ max: 512, cut: true }) });

export const serviceStats: Check<ServiceStats> = object({
  service: text({ min: 1, max: 200, cut: true }),
  kind: text({ max: 50, cut: true }),
  source: optional(text({ max: 200, cut: true })),
  at: number(0, MAX_TIME_MS),
  counters,
  notes: optional(notes),
});
