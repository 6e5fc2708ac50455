import { boundPlan, MAX_PLAN_CHARS, type Labels, type PlanFacts } from '../../model/record.js';

// Plans the servers write into their logs, read into a record's `plan` and `planFacts` (README "Plans").
//
// MariaDB / Percona Server (log_slow_verbosity=query_plan,explain): the `# Full_scan: Yes  Full_join: No
// Tmp_table: No  Tmp_table_on_disk: No`, `# Filesort: …  Merge_passes: 0  Priority_queue: No` and
// `# Tmp_tables: 1  Tmp_disk_tables: 0` attributes (which the slow-log parser reads like every `# Key: value`) become
// planFacts, and the `# explain: …` lines (the EXPLAIN table, tab-separated, header row first) the plan.
//
// PostgreSQL (auto_explain): a `duration: 12.3 ms  plan:` message, whose text is `Query Text: SQL` and the plan
// (auto_explain.log_format=text), or a JSON document `{"Query Text": "SQL", "Plan": {…}}` (log_format=json).
// The plan keeps the server's text, less the query text (the record has it): the plan tree, or the JSON
// document without its "Query Text" line. YAML and XML are kept whole, their query text unknown.

/** The slow-log attributes that are plan facts, by the name the log gives them. */
const MYSQL_FACTS: Readonly<Record<string, { key: keyof PlanFacts; kind: 'flag' | 'count' }>> = {
  Full_scan: { key: 'fullScan', kind: 'flag' },
  Full_join: { key: 'fullJoin', kind: 'flag' },
  Tmp_table: { key: 'tmpTable', kind: 'flag' },
  Tmp_table_on_disk: { key: 'tmpTableOnDisk', kind: 'flag' },
  Filesort: { key: 'filesort', kind: 'flag' },
  Filesort_on_disk: { key: 'filesortOnDisk', kind: 'flag' },
  Merge_passes: { key: 'mergePasses', kind: 'count' },
  Priority_queue: { key: 'priorityQueue', kind: 'flag' },
  Tmp_tables: { key: 'tmpTables', kind: 'count' },
  Tmp_disk_tables: { key: 'tmpDiskTables', kind: 'count' },
};

/**
 * Moves the plan facts out of a slow-log entry's labels (where `# Key: value` attributes land, `Yes`/`No` already
 * read as booleans) into planFacts. A value of the wrong kind stays a label. Returns undefined when there are none.
 */
export function takeMysqlPlanFacts(labels: Labels): PlanFacts | undefined {
  let facts: PlanFacts | undefined;
  for (const name of Object.keys(labels)) {
    const fact = Object.hasOwn(MYSQL_FACTS, name) ? MYSQL_FACTS[name] : undefined;
    if (fact === undefined) continue;
    const v = labels[name];
    if (fact.kind === 'flag' ? typeof v !== 'boolean' : typeof v !== 'number' || !(v >= 0)) continue;
    Object.assign((facts ??= {}), { [fact.key]: v });
    delete labels[name];
  }
  return facts;
}

/** What follows `# explain:` on a slow-log line, or undefined when the line is not one. */
export function mysqlExplainRow(line: string): string | undefined {
  if (!line.startsWith('# explain:')) return undefined;
  return line.charCodeAt(10) === 32 ? line.slice(11) : line.slice(10);
}

/** `# explain:` rows kept per entry: far more than a real EXPLAIN has; the plan is cut by boundPlan anyway. */
const MAX_EXPLAIN_ROWS = 256;

/** Adds an `# explain:` row to an entry's rows (a bounded number of them, each at most what a plan carries). */
export function keepExplainRow(rows: string[] | undefined, row: string): string[] {
  const out = rows ?? [];
  if (out.length < MAX_EXPLAIN_ROWS) out.push(row.length > MAX_PLAN_CHARS ? row.slice(0, MAX_PLAN_CHARS) : row);
  return out;
}

/** The `# explain:` rows of one entry, as the plan. */
export function mysqlExplainPlan(rows: readonly string[]): string {
  return boundPlan(rows.join('\n'));
}

// ---------------------------------------------------------------------------------------------------------
// PostgreSQL auto_explain

/** An auto_explain message read. */
export interface PgPlanMessage {
  /** auto_explain's own duration: the executor's time, a little less than the statement's */
  durationMs: number;
  /** the statement the plan is of (`Query Text`), or undefined when the format does not say (YAML, XML) */
  queryText: string | undefined;
  /** the plan as the server wrote it, less the query text; cut by boundPlan */
  plan: string;
  planFacts: PlanFacts | undefined;
}

const PLAN_MESSAGE = /^duration: (\d+(?:\.\d+)?) ms {2}plan:\n?/;
/** the root node of a text plan: not indented, with its cost (auto_explain always prints costs) */
const TEXT_PLAN_ROOT = /^\S.*? {2}\((?:cost|actual)=/;
const JSON_QUERY_TEXT_LINE = /^\s*"Query Text": (".*?(?<!\\)(?:\\\\)*"),?$/;

/** Whether a server message (after `LOG:  `) is an auto_explain plan, cheaply. */
export function isPlanMessage(message: string): boolean {
  return message.startsWith('duration:') && PLAN_MESSAGE.test(message);
}

/** Reads an auto_explain message; undefined when it is not one. `message` has its newlines (no leading tabs). */
export function readPlanMessage(message: string): PgPlanMessage | undefined {
  const m = PLAN_MESSAGE.exec(message);
  if (!m) return undefined;
  const body = message.slice(m[0].length);
  const durationMs = Number(m[1]);
  const trimmed = body.trimStart();
  if (trimmed.startsWith('{')) return jsonPlan(durationMs, body);
  if (trimmed.startsWith('Query Text: ')) return textPlan(durationMs, trimmed);
  return { durationMs, queryText: undefined, plan: boundPlan(body), planFacts: undefined };
}

/**
 * `Query Text: SQL` (the query may span lines), optionally `Query Parameters: …` (PostgreSQL 16+), then the plan,
 * whose first line is its root node: not indented, with `  (cost=` — where the query text ends.
 */
function textPlan(durationMs: number, body: string): PgPlanMessage {
  const lines = body.split('\n');
  let root = -1;
  let params = -1;
  for (let i = 1; i < lines.length; i++) {
    const l = lines[i]!;
    if (params === -1 && l.startsWith('Query Parameters: ')) params = i;
    if (TEXT_PLAN_ROOT.test(l)) {
      root = i;
      break;
    }
  }
  // without a recognisable root, the query text is its first line only
  const queryEnd = params !== -1 ? params : root !== -1 ? root : 1;
  const queryText = [lines[0]!.slice('Query Text: '.length), ...lines.slice(1, queryEnd)].join('\n');
  const plan = lines.slice(queryEnd).join('\n');
  return { durationMs, queryText, plan: boundPlan(plan), planFacts: pgPlanFacts(plan, false) };
}

/** A JSON plan: the document as logged, less its "Query Text" line (the query text is read from the document). */
function jsonPlan(durationMs: number, body: string): PgPlanMessage {
  let queryText: string | undefined;
  try {
    const doc = JSON.parse(body) as unknown;
    if (doc !== null && typeof doc === 'object' && typeof (doc as Record<string, unknown>)['Query Text'] === 'string') {
      queryText = (doc as Record<string, string>)['Query Text'];
    }
  } catch {
    // not JSON after all (a plan cut by the server's message length?): kept as text
  }
  let plan = body;
  if (queryText !== undefined) {
    const lines = body.split('\n');
    const i = lines.findIndex((l) => JSON_QUERY_TEXT_LINE.test(l));
    if (i !== -1) {
      lines.splice(i, 1);
      plan = lines.join('\n');
    }
  }
  return { durationMs, queryText, plan: boundPlan(plan), planFacts: pgPlanFacts(body, true) };
}

/** What a PostgreSQL plan shows of how the statement ran: a Seq Scan, a Sort, a sort that spilled to disk. */
function pgPlanFacts(plan: string, json: boolean): PlanFacts | undefined {
  const facts: PlanFacts = {};
  if (json ? /"Node Type": "Seq Scan"/.test(plan) : /(?:^|-> {2}|\s)(?:Parallel )?Seq Scan on /m.test(plan)) facts.fullScan = true;
  if (json ? /"Node Type": "(?:Incremental )?Sort"/.test(plan) : /(?:^|-> {2})(?:Incremental )?Sort {2}\(/m.test(plan)) facts.filesort = true;
  if (json ? /"Sort Method": "external/.test(plan) : /Sort Method: external/.test(plan)) facts.filesortOnDisk = true;
  return Object.keys(facts).length > 0 ? facts : undefined;
}

/** Query texts compared the way the two log entries of one statement print them. */
export function sameStatement(a: string, b: string): boolean {
  return a === b || a.trim().replace(/;+$/, '').trimEnd() === b.trim().replace(/;+$/, '').trimEnd();
}
