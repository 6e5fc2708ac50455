import type { PlanFacts } from '../../model/record.js';
import type { ExecMessage, SessionFields } from './postgres-common.js';
import type { PgPlanMessage } from './plans.js';
import { isPlainMap as isPlain } from '../../wire/schema.js';

// Checks for what a PostgreSQL parser carries from one chunk to the next (StateCarryingParser, types.ts): the
// state comes back from the consumer's durable state or from another consumer's handoff, so a restore takes only
// what has the shape the parser wrote, and nothing else (a state refused starts the stream's parser afresh, as a
// resume does). The values are kept as they are, keys in their order: the records made of them are the same.

export { isPlain };

/** a number that is not NaN (a duration of "9999…" digits is Infinity: refused later, by eventProblem) */
export const isNum = (v: unknown): v is number => typeof v === 'number' && !Number.isNaN(v);
export const isStr = (v: unknown): v is string => typeof v === 'string';
export const isOptStr = (v: unknown): v is string | undefined => v === undefined || typeof v === 'string';

const FIELD_NAMES = new Set(['pid', 'user', 'db', 'host', 'app', 'sessionId', 'sessionLine', 'commandTag', 'backendType', 'pgQueryId']);
const FACT_NAMES = new Set(['fullScan', 'fullJoin', 'tmpTable', 'tmpTableOnDisk', 'filesort', 'filesortOnDisk', 'mergePasses', 'priorityQueue', 'tmpTables', 'tmpDiskTables']);

export function isSessionFields(v: unknown): v is SessionFields {
  return isPlain(v) && Object.entries(v).every(([k, x]) => FIELD_NAMES.has(k) && isOptStr(x));
}

export function isExecMessage(v: unknown): v is ExecMessage {
  return isPlain(v) && (v.step === 'statement' || v.step === 'execute' || v.step === 'plan') && isNum(v.durationMs) && isStr(v.sql) && isOptStr(v.name);
}

function isPlanFacts(v: unknown): v is PlanFacts {
  return isPlain(v) && Object.entries(v).every(([k, x]) => FACT_NAMES.has(k) && (x === undefined || typeof x === 'boolean' || (typeof x === 'number' && Number.isFinite(x) && x >= 0)));
}

export function isPgPlanMessage(v: unknown): v is PgPlanMessage {
  return isPlain(v) && isNum(v.durationMs) && isOptStr(v.queryText) && isStr(v.plan) && (v.planFacts === undefined || isPlanFacts(v.planFacts));
}
