import { createHash } from 'node:crypto';
import type { AlertType } from './record.js';

/** Alert id: the same (source, queryId, type) always gives the same id, so duplicates are recognisable anywhere. */
export function alertId(source: string, queryId: string, type: AlertType): string {
  return createHash('sha256').update(source).update('\0').update(queryId).update('\0').update(type).digest('hex').slice(0, 24);
}
