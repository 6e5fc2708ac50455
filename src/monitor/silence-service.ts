import type { Logger } from 'pino';
import { errorHeader, silenceReplyHeader } from '../wire/headers.js';
import { decodeSilenceAdd, decodeSilenceExpire, encodeSilences, ProtocolError, type Header, type SilenceRequestHeader } from '../wire/protocol.js';
import { MatcherError } from './dispatch/matchers.js';
import type { Labels } from './model.js';
import { SilenceError, type SilenceStore } from './silences.js';
import type { MonitorEvent, Silence, SilenceInput } from './view.js';

// Silences as a service: one implementation of add / expire / list for both ways in, `slowq silence` over the
// monitor's ZeroMQ port and the dashboard's HTTP API. Changes are durable (SilenceStore) before they are
// answered, logged, and announced as events. The dispatcher asks it which silences mute an alert.

export interface SilenceServiceOptions {
  log: Logger;
  /** announces a change (the dashboard's live events) */
  emit(e: MonitorEvent): void;
}

/** An answer for the ZeroMQ port: a header and, for a silence-reply, its payload. */
export interface SilenceAnswer {
  header: Header;
  payload?: Buffer;
  /** the request's body could not be read (the answer is an `err`): a malformed message, to be counted */
  malformed?: ProtocolError;
}

export class SilenceService {
  /** requests that came over ZeroMQ */
  requests = 0;

  constructor(private readonly store: SilenceStore, private readonly opts: SilenceServiceOptions) {}

  open(): Promise<void> {
    return this.store.open();
  }

  /** Creates a silence (durable before it resolves). Throws MatcherError / SilenceError on bad input. */
  async add(input: SilenceInput): Promise<Silence> {
    const s = await this.store.add(input);
    this.opts.log.info({ silence: s.id, matchers: s.matchers, endsAt: s.endsAt, createdBy: s.createdBy }, 'silence added');
    this.opts.emit({ type: 'silence', action: 'add', silence: s });
    return s;
  }

  /** Expires a silence now; undefined when no silence has that id. */
  async expire(id: string): Promise<Silence | undefined> {
    const s = await this.store.expire(id);
    if (s) {
      this.opts.log.info({ silence: s.id }, 'silence expired');
      this.opts.emit({ type: 'silence', action: 'expire', silence: s });
    }
    return s;
  }

  all(): Silence[] {
    return this.store.all();
  }

  activeCount(): number {
    return this.store.activeCount();
  }

  /** ids of the silences muting an alert with these labels now */
  mutes(labels: Labels): string[] {
    return this.store.mutes(labels);
  }

  /** Answers a `slowq silence` request: a silence-reply with the silences concerned, or an `err`. Never rejects. */
  async answer(h: SilenceRequestHeader, payload: Buffer | undefined): Promise<SilenceAnswer> {
    this.requests++;
    let list: Silence[];
    try {
      if (h.t === 'silence-add') {
        list = [await this.add(decodeSilenceAdd(payload))];
      } else if (h.t === 'silence-expire') {
        const { id } = decodeSilenceExpire(payload);
        const s = await this.expire(id);
        if (!s) throw new ProtocolError('NOT_FOUND', `no silence with id ${id}`);
        list = [s];
      } else {
        list = this.all();
      }
    } catch (err) {
      const code = err instanceof ProtocolError ? err.code : err instanceof MatcherError || err instanceof SilenceError ? 'BAD_SILENCE' : 'FAILED';
      const answer: SilenceAnswer = { header: errorHeader(h.rid, err, code) };
      if (err instanceof ProtocolError && code !== 'NOT_FOUND') answer.malformed = err;
      return answer;
    }
    return { header: silenceReplyHeader(h.rid, list.length), payload: encodeSilences(list) };
  }
}
