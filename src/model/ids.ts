import { hexDigest } from './hex-digest.js';
import type { AlertType } from './record.js';

/** Alert id: the same (source, queryId, type) always gives the same id, so duplicates are recognisable anywhere. */
export function alertId(source: string, queryId: string, type: AlertType): string {
  return hexDigest('sha256', `${source}\0${queryId}\0${type}`).slice(0, 24);
}
