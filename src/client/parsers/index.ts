import { JsonLinesParser } from './jsonl.js';
import type { RecordParser } from './types.js';

/** Every input format by its CLI name. Each entry makes a fresh parser (parsers hold per-file state). */
const FORMATS: Record<string, () => RecordParser> = {
  jsonl: () => new JsonLinesParser(),
};

export const FORMAT_NAMES = (): string[] => Object.keys(FORMATS);

export function createParser(format: string): RecordParser {
  const make = FORMATS[format];
  if (!make) throw new Error(`unknown format "${format}" (known: ${FORMAT_NAMES().join(', ')})`);
  return make();
}
