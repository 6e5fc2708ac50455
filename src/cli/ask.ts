import type { CurveClientConfig } from '../security/curve.js';
import { openSocket } from '../transport/socket.js';

// One request to a running service and its answer, for the short-lived commands (`slowq silence` to the monitor,
// `slowq cluster` to the master): a DEALER whose own timeouts bound the wait, no send queue or receive loop.

export interface AskOptions<T> {
  /** the service, for messages: "monitor", "master" */
  peer: 'monitor' | 'master';
  endpoint: string;
  curve: CurveClientConfig | undefined;
  timeoutMs: number;
  /** the flag that names the endpoint, for the error when nothing answers */
  flag: string;
  /** the answer, or undefined for a message that is not it (a late answer to an earlier request) */
  answer: (msg: Buffer[]) => T | undefined;
}

export async function ask<T>(frames: Buffer[], opts: AskOptions<T>): Promise<T> {
  const { peer, endpoint, timeoutMs } = opts;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new Error('--timeout-ms must be a number > 0');
  const sock = openSocket('dealer', { linger: 0, receiveTimeout: timeoutMs, sendTimeout: timeoutMs }, { peer, curve: opts.curve });
  try {
    sock.connect(endpoint);
    try {
      await sock.send(frames);
    } catch (err) {
      // no connection came up in time: nothing listening, or a CURVE server refusing this process's key
      if ((err as { code?: string }).code === 'EAGAIN') {
        throw new Error(`no answer from the ${peer} at ${endpoint} within ${timeoutMs} ms: could not even send (is it running? does it need --curve-secret/--${peer}-key?)`);
      }
      throw err;
    }
    for (;;) {
      let msg: Buffer[];
      try {
        msg = await sock.receive();
      } catch (err) {
        if ((err as { code?: string }).code === 'EAGAIN') throw new Error(`no answer from the ${peer} at ${endpoint} within ${timeoutMs} ms (is it running? ${opts.flag})`);
        throw err;
      }
      const answer = opts.answer(msg);
      if (answer !== undefined) return answer;
    }
  } finally {
    sock.close();
  }
}
