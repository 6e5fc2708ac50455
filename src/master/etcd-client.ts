// A small client of etcd's v3 API through its JSON gateway (POST /v3/kv/range, /v3/kv/txn, /v3/watch,
// /v3/lease/grant|keepalive|revoke) over Node's fetch: what the shared ring needs (etcd-ring-store.ts) and no more.
// The gateway ships with every etcd (Debian's etcd-server included), so no gRPC stack and no npm dependency are
// needed. Keys and values travel base64-encoded; 64-bit numbers as decimal strings; fields at their zero value are
// left out of answers (a failed txn has no `succeeded`). Endpoints are tried in turn: the one that answered last is
// asked first.

export interface EtcdKv {
  key: string;
  value: Buffer;
  createRevision: number;
  modRevision: number;
  lease: string;
}

export interface EtcdCompare {
  key: string;
  /** MOD: the key's last write; CREATE: its creation (0: the key does not exist) */
  target: 'MOD' | 'CREATE';
  revision: number;
}

export type EtcdOp = { put: { key: string; value: string | Buffer; lease?: string } } | { range: { key: string } } | { delete: { key: string } };

export interface EtcdTxnResult {
  succeeded: boolean;
  /** the store's revision after it */
  revision: number;
  /** for each op run (success's or failure's): the keys a range found */
  ranges: EtcdKv[][];
}

export interface EtcdWatchEvent {
  type: 'PUT' | 'DELETE';
  kv: EtcdKv;
}

export class EtcdError extends Error {}

const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64');
const num = (v: unknown): number => (v === undefined ? 0 : Number(v));

/** The key just past every key with this prefix (etcd's range_end for a prefix). */
export function prefixEnd(prefix: string): string {
  const b = Buffer.from(prefix);
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      const end = Buffer.from(b.subarray(0, i + 1));
      end[i]!++;
      return end.toString('latin1');
    }
  }
  return '\0';
}

interface RawKv { key?: string; value?: string; create_revision?: string; mod_revision?: string; lease?: string }

function kv(raw: RawKv): EtcdKv {
  return {
    key: Buffer.from(raw.key ?? '', 'base64').toString(), value: Buffer.from(raw.value ?? '', 'base64'),
    createRevision: num(raw.create_revision), modRevision: num(raw.mod_revision), lease: raw.lease ?? '0',
  };
}

function op(o: EtcdOp): Record<string, unknown> {
  if ('put' in o) return { request_put: { key: b64(o.put.key), value: b64(o.put.value), ...(o.put.lease && { lease: o.put.lease }) } };
  if ('range' in o) return { request_range: { key: b64(o.range.key) } };
  return { request_delete_range: { key: b64(o.delete.key) } };
}

export class EtcdClient {
  private preferred = 0;

  /** `endpoints`: host:port of each etcd member (the gateway is on the client port) */
  constructor(readonly endpoints: readonly string[], private readonly timeoutMs = 2000) {
    if (endpoints.length === 0) throw new Error('etcd: no endpoint');
  }

  /** The value at `key`, or at every key under it with `prefix`; and the store's revision. */
  async range(key: string, prefix = false): Promise<{ kvs: EtcdKv[]; revision: number }> {
    const r = await this.call('/v3/kv/range', { key: b64(key), ...(prefix && { range_end: b64(Buffer.from(prefixEnd(key), 'latin1')) }) }) as { header?: { revision?: string }; kvs?: RawKv[] };
    return { kvs: (r.kvs ?? []).map(kv), revision: num(r.header?.revision) };
  }

  /** If every comparison holds, `success`, else `failure`, as one atomic step. */
  async txn(compare: EtcdCompare[], success: EtcdOp[], failure: EtcdOp[]): Promise<EtcdTxnResult> {
    const r = await this.call('/v3/kv/txn', {
      compare: compare.map((c) => ({
        key: b64(c.key), result: 'EQUAL', target: c.target, ...(c.target === 'MOD' ? { mod_revision: String(c.revision) } : { create_revision: String(c.revision) }),
      })),
      success: success.map(op), failure: failure.map(op),
    }) as { header?: { revision?: string }; succeeded?: boolean; responses?: Array<{ response_range?: { kvs?: RawKv[] } }> };
    return {
      succeeded: r.succeeded === true, revision: num(r.header?.revision),
      ranges: (r.responses ?? []).map((x) => (x.response_range?.kvs ?? []).map(kv)),
    };
  }

  /** A lease of `ttlSeconds`: its id. */
  async grant(ttlSeconds: number): Promise<string> {
    const r = await this.call('/v3/lease/grant', { TTL: String(ttlSeconds) }) as { ID?: string; error?: string };
    if (!r.ID) throw new EtcdError(`etcd granted no lease${r.error ? `: ${r.error}` : ''}`);
    return r.ID;
  }

  /** Keeps a lease alive once: the seconds it has left (0: it has expired). */
  async keepAlive(id: string): Promise<number> {
    const r = await this.call('/v3/lease/keepalive', { ID: id }) as { result?: { TTL?: string } };
    return num(r.result?.TTL);
  }

  async revoke(id: string): Promise<void> {
    await this.call('/v3/lease/revoke', { ID: id });
  }

  /**
   * Watches every key with `prefix` from `fromRevision`, calling `onEvents` for each batch of changes, until the
   * stream ends (resolves), fails (throws), or `signal` aborts. Resolves with `compacted` true when etcd no longer
   * has `fromRevision` (read the keys again, then watch from there).
   */
  async watch(prefix: string, fromRevision: number, onEvents: (events: EtcdWatchEvent[], revision: number) => void, signal: AbortSignal): Promise<{ compacted: boolean }> {
    const body = { create_request: { key: b64(prefix), range_end: b64(Buffer.from(prefixEnd(prefix), 'latin1')), start_revision: String(fromRevision) } };
    const res = await this.post('/v3/watch', body, signal, false);
    if (!res.body) throw new EtcdError('etcd watch: no body');
    const decoder = new TextDecoder();
    let buffered = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffered += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (!line) continue;
        const msg = JSON.parse(line) as { result?: { header?: { revision?: string }; events?: Array<{ type?: string; kv?: RawKv }>; canceled?: boolean; compact_revision?: string }; error?: { message?: string } };
        if (msg.error) throw new EtcdError(`etcd watch: ${msg.error.message ?? 'error'}`);
        const r = msg.result;
        if (!r) continue;
        if (r.canceled) return { compacted: num(r.compact_revision) > 0 };
        if (r.events?.length) onEvents(r.events.map((e) => ({ type: e.type === 'DELETE' ? 'DELETE' : 'PUT', kv: kv(e.kv ?? {}) })), num(r.header?.revision));
      }
    }
    return { compacted: false };
  }

  private async call(path: string, body: unknown): Promise<unknown> {
    const res = await this.post(path, body, undefined, true);
    return res.json();
  }

  /** POSTs to the preferred endpoint, then to each other in turn; throws the last failure. */
  private async post(path: string, body: unknown, signal: AbortSignal | undefined, timed: boolean): Promise<Response> {
    let last: unknown;
    for (let i = 0; i < this.endpoints.length; i++) {
      const at = (this.preferred + i) % this.endpoints.length;
      const timeout = timed ? AbortSignal.timeout(this.timeoutMs) : undefined;
      const signals = [signal, timeout].filter((s): s is AbortSignal => s !== undefined);
      try {
        const res = await fetch(`http://${this.endpoints[at]}${path}`, {
          method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
          ...(signals.length > 0 && { signal: signals.length === 1 ? signals[0] : AbortSignal.any(signals) }),
        });
        if (!res.ok) {
          const text = await res.text().catch(() => '');
          throw new EtcdError(`etcd at ${this.endpoints[at]} answered ${path} with HTTP ${res.status}: ${text.slice(0, 200)}`);
        }
        this.preferred = at;
        return res;
      } catch (err) {
        if (signal?.aborted) throw err;
        last = err instanceof EtcdError ? err : new EtcdError(`etcd at ${this.endpoints[at]} (${path}): ${(err as Error).message}${(err as { cause?: { code?: string } }).cause?.code ? ` (${(err as { cause: { code: string } }).cause.code})` : ''}`);
      }
    }
    throw last;
  }
}
