import type { IncomingMessage } from 'node:http';

// Request bodies of the JSON API: bounded in size, must be JSON objects. Failures are BadRequest errors whose
// message goes back to the caller as a 400 (or 413/415) with `{ "error": message }`.

export class BadRequest extends Error {
  constructor(message: string, readonly status = 400) {
    super(message);
  }
}

/** Largest body accepted (a silence is a few hundred bytes). */
export const MAX_BODY_BYTES = 64 * 1024;

export async function readJsonObject(req: IncomingMessage, maxBytes = MAX_BODY_BYTES): Promise<Record<string, unknown>> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== '' && type !== 'application/json') throw new BadRequest(`content-type must be application/json, got ${type}`, 415);
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    req.resume();
    throw new BadRequest(`body of ${declared} bytes is over the limit of ${maxBytes}`, 413);
  }
  const text = await new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > maxBytes) {
        // Reject at once and let the rest drain unread; the caller answers 413 and closes the connection.
        over = true;
        chunks.length = 0;
        reject(new BadRequest(`body is over the limit of ${maxBytes} bytes`, 413));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => { if (!over) resolve(Buffer.concat(chunks).toString('utf8')); });
    req.on('error', (err) => { if (!over) reject(new BadRequest(`could not read the body: ${err.message}`)); });
  });
  if (text.trim() === '') throw new BadRequest('empty body: expected a JSON object');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new BadRequest(`body is not valid JSON: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new BadRequest('body must be a JSON object');
  return value as Record<string, unknown>;
}
