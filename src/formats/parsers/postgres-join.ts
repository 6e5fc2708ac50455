import { boundPlan, type ParsedEvent } from '../../model/record.js';
import type { ParseOutput } from './types.js';
import type { ExecMessage, PgEventFactory, SessionFields } from './postgres-common.js';
import { readPlanMessage, sameStatement, type PgPlanMessage } from './plans.js';
import { isExecMessage, isNum, isOptStr, isPgPlanMessage, isPlain, isSessionFields } from './postgres-carry.js';

// One record per logged statement when a server logs it twice: log_min_duration_statement's `duration: … ms
// statement|execute …` entry and auto_explain's `duration: … ms  plan:` entry of the same backend and statement.
//
// The two come one right after the other from one backend: the plan first for the simple protocol and for
// statements the extended protocol runs to completion at Execute (auto_explain logs at the executor's end, the
// duration entry after it), the duration entry first for a SELECT of the extended protocol (its portal, and so its
// executor, is closed at Sync). A simple query of several statements logs one plan per statement, then one duration
// entry: its plans are joined. So the joiner holds one entry back until the next one shows whether they pair:
//  - same backend (pid) and same statement text (`Query Text`) → one record: the duration entry's time, duration,
//    parameters and session fields, with the plan; its bytes span both entries;
//  - anything else → the held entry alone: a duration entry as before, a plan as a record of its own (step `plan`,
//    auto_explain's duration, the statement from its `Query Text`): a server that logs only through auto_explain
//    gives one record per plan.
// Messages that are not events (connections, checkpoints, …) of other backends pass a held entry by: they make no
// record, so the records stay in file order. An event of another backend in between (a busy log) releases it:
// then the statement is two records, one with the plan and one without. A held entry is emitted at the next
// event, at a message of its own backend, or when the file goes quiet (flush): nothing is kept past the records
// already emitted, so the parser's resume context is unchanged (a held entry is read again after a resume).

/** A complete message that reports a statement: its duration entry, or its plan. */
interface Held {
  exec: ExecMessage | undefined;
  plan: PgPlanMessage | undefined;
  ts: number;
  fields: SessionFields;
  params: string | undefined;
  offset: number;
  end: number;
}

export class PgStatementJoiner {
  private held: Held | undefined;

  constructor(private readonly factory: PgEventFactory) {}

  /** A duration entry (with its parameters) complete. */
  exec(exec: ExecMessage, ts: number, fields: SessionFields, params: string | undefined, offset: number, end: number, out: ParseOutput): void {
    const h = this.held;
    if (h !== undefined && h.exec === undefined && h.plan !== undefined && samePid(h.fields, fields) && pairs(h.plan, exec.sql)) {
      // the plan came first: one record, at the plan's start
      this.held = undefined;
      out.events.push(this.make({ exec, plan: h.plan, ts, fields, params, offset: h.offset, end }));
      return;
    }
    this.release(out);
    const item: Held = { exec, plan: undefined, ts, fields, params, offset, end };
    // an Execute's plan comes after it (at Sync) when its statement is a SELECT: wait for the next message
    if (exec.step === 'execute') this.held = item;
    else out.events.push(this.make(item));
  }

  /** An auto_explain message complete (`message` from `duration:` on, with its newlines). */
  plan(message: string, ts: number, fields: SessionFields, offset: number, end: number, out: ParseOutput): void {
    const plan = readPlanMessage(message);
    if (plan === undefined) return this.other(fields.pid, out);
    const h = this.held;
    if (h !== undefined && samePid(h.fields, fields)) {
      if (h.exec !== undefined && h.plan === undefined && pairs(plan, h.exec.sql)) {
        this.held = undefined;
        out.events.push(this.make({ ...h, plan, end }));
        return;
      }
      if (h.exec === undefined && h.plan !== undefined && h.plan.queryText !== undefined && plan.queryText !== undefined && sameStatement(h.plan.queryText, plan.queryText)) {
        // the next statement of one simple query of several: one plan after the other
        h.plan = joinPlans(h.plan, plan);
        h.end = end;
        h.ts = ts;
        return;
      }
    }
    this.release(out);
    this.held = { exec: undefined, plan, ts, fields, params: undefined, offset, end };
  }

  /** A message that is not an event: its own backend's held entry is complete. */
  other(pid: string | undefined, out: ParseOutput): void {
    if (this.held !== undefined && (pid === undefined || this.held.fields.pid === undefined || pid === this.held.fields.pid)) this.release(out);
  }

  /** The file is quiet or ends: the held entry goes out alone. */
  flush(out: ParseOutput): void {
    this.release(out);
  }

  /** Forget the held entry (a restore: it is read again). */
  reset(): void {
    this.held = undefined;
  }

  /** The held entry, as plain data (a chunk's state: StateCarryingParser), or undefined. */
  state(): unknown {
    return this.held;
  }

  /** Hold what state() gave (anything else: nothing); a copy, as plan() changes what it holds. */
  restoreState(v: unknown): void {
    this.held = isHeld(v) ? { ...v } : undefined;
  }

  private release(out: ParseOutput): void {
    const h = this.held;
    if (h === undefined) return;
    this.held = undefined;
    out.events.push(this.make(h));
  }

  private make(h: Held): ParsedEvent {
    const exec = h.exec ?? { step: 'plan', durationMs: h.plan!.durationMs, sql: h.plan!.queryText ?? '' };
    const ev = this.factory.make(exec, h.ts, h.fields, h.params, h.offset, h.end);
    if (h.plan !== undefined) {
      ev.plan = h.plan.plan;
      if (h.plan.planFacts !== undefined) ev.planFacts = h.plan.planFacts;
    }
    return ev;
  }
}

function isHeld(v: unknown): v is Held {
  return isPlain(v) && (v.exec === undefined || isExecMessage(v.exec)) && (v.plan === undefined || isPgPlanMessage(v.plan)) && (v.exec !== undefined || v.plan !== undefined) &&
    isNum(v.ts) && isSessionFields(v.fields) && isOptStr(v.params) && isNum(v.offset) && isNum(v.end);
}

function samePid(a: SessionFields, b: SessionFields): boolean {
  return a.pid === b.pid;
}

/** A plan whose query text is unknown (YAML, XML) pairs with its backend's next duration entry. */
function pairs(plan: PgPlanMessage, sql: string): boolean {
  return plan.queryText === undefined || sameStatement(plan.queryText, sql);
}

function joinPlans(a: PgPlanMessage, b: PgPlanMessage): PgPlanMessage {
  const facts = a.planFacts || b.planFacts ? { ...a.planFacts, ...b.planFacts } : undefined;
  return { durationMs: a.durationMs + b.durationMs, queryText: a.queryText, plan: boundPlan(`${a.plan}\n\n${b.plan}`), planFacts: facts };
}
