import { evaluateFiles } from '../../src/rules/evaluate.js';
import { DEFAULT_RULES } from '../../src/rules/rules.js';
import { readAlerts } from './files.js';
import { sleep, waitFor } from './wait.js';

// The end-to-end check of a run that wrote records while things went wrong (the network scenarios, the rescale
// bench): the alert ids in alerts.jsonl equal the oracle's (`slowq evaluate` over the same logs), none is written
// twice, and the consumers' durable high-water marks add up to the records written (each applied once). It waits,
// bounded, for the pipeline to deliver, then returns what it found: a test asserts it, a bench prints it.

export interface OracleCheckInput {
  alertsFile: string;
  /** each source's logs, as written */
  sources: Array<{ source: string; files: string[] }>;
  /** records written in all */
  written: number;
  /** the sum of the consumers' durable high-water marks, read now */
  highWater: () => number;
  /** how long to wait for the alerts, and again for the high-water marks */
  timeoutMs: number;
}

export interface OracleCheck {
  ok: boolean;
  expectedAlerts: number;
  /** distinct alert ids delivered */
  alerts: number;
  missingAlerts: number;
  extraAlerts: number;
  /** alert ids written more than once */
  duplicateAlerts: number;
  written: number;
  highWaterTotal: number;
  /** what failed, empty when ok */
  failures: string[];
}

export async function checkAgainstOracle(input: OracleCheckInput): Promise<OracleCheck> {
  const want = new Set<string>();
  for (const s of input.sources) {
    await evaluateFiles(s.files, 'jsonl', s.source, DEFAULT_RULES, (alerts) => {
      for (const a of alerts) want.add(a.id);
    });
  }
  const distinct = () => new Set(readAlerts(input.alertsFile).map((a) => a.id)).size;
  await waitFor('all alerts', () => distinct() >= want.size, input.timeoutMs, 250).catch(() => undefined);
  await sleep(1000); // anything more (a duplicate) lands now
  const got = readAlerts(input.alertsFile);
  const seen = new Set<string>();
  let duplicateAlerts = 0;
  for (const a of got) {
    if (seen.has(a.id)) duplicateAlerts++;
    seen.add(a.id);
  }
  let missingAlerts = 0;
  for (const id of want) if (!seen.has(id)) missingAlerts++;
  let extraAlerts = 0;
  for (const id of seen) if (!want.has(id)) extraAlerts++;
  const highWaterTotal = await waitFor('high-water marks', () => (input.highWater() === input.written ? input.written : undefined), input.timeoutMs)
    .catch(() => input.highWater());
  const failures: string[] = [];
  if (missingAlerts) failures.push(`${missingAlerts} alerts of the oracle's are missing`);
  if (extraAlerts) failures.push(`${extraAlerts} alerts the oracle does not give`);
  if (duplicateAlerts) failures.push(`${duplicateAlerts} alert ids written more than once`);
  if (highWaterTotal !== input.written) {
    failures.push(`high-water marks add up to ${highWaterTotal}, not ${input.written}: records ${highWaterTotal > input.written ? 'applied twice' : 'lost'}`);
  }
  return {
    ok: failures.length === 0, expectedAlerts: want.size, alerts: seen.size, missingAlerts, extraAlerts, duplicateAlerts,
    written: input.written, highWaterTotal, failures,
  };
}

/** The check as rows of a bench table: check, expected, got. */
export function oracleRows(c: OracleCheck): Array<[string, number, number]> {
  return [
    ['alerts delivered (ids, oracle: slowq evaluate)', c.expectedAlerts, c.alerts],
    ['alerts missing', 0, c.missingAlerts],
    ['alerts the oracle does not give', 0, c.extraAlerts],
    ['alert ids written twice', 0, c.duplicateAlerts],
    ['records applied (sum of durable high-water marks)', c.written, c.highWaterTotal],
  ];
}
