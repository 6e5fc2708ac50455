import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { localTimeToUtc, LogTimeZone, numericZoneOffset, zoneProblem } from '../src/formats/time-zones.js';

// What a server's printed time means: a wall-clock time plus a zone abbreviation (PostgreSQL) or plus nothing
// (MySQL's classic `# Time:`), read with or without the server's time zone (--log-timezone). Expected instants
// are tzdata's (zdump -v), written out as UTC.

/** `2024-11-03 01:30:00` → its fields read as if UTC, in ms */
function wall(text: string): number {
  const [d, t] = text.split(' ');
  return Date.parse(`${d}T${t}Z`);
}

/** The instant `local abbr` means, as ISO text (or undefined), read in `zone` (an IANA name) or without one. */
function read(zone: string | undefined, local: string, abbr: string): string | undefined {
  const ms = localTimeToUtc(wall(local), abbr, zone === undefined ? undefined : LogTimeZone.open(zone));
  return ms === undefined ? undefined : new Date(ms).toISOString();
}

describe('time zone abbreviations without --log-timezone', () => {
  test('ambiguous ones (different offsets in different zones) give no time, and the problem names --log-timezone', () => {
    for (const abbr of ['CST', 'CDT', 'IST', 'PST', 'BST', 'AST', 'EST']) {
      assert.equal(read(undefined, '2024-01-15 09:05:43', abbr), undefined, abbr);
      assert.match(zoneProblem(wall('2024-01-15 09:05:43'), abbr, undefined), new RegExp(`"${abbr}" is ambiguous \\(it has meant UTC.*--log-timezone`), abbr);
    }
    assert.match(zoneProblem(wall('2024-01-15 09:05:43'), 'CST', undefined), /UTC-06:00, UTC-05:00, UTC\+08:00/);
  });

  test('unknown ones give no time either', () => {
    assert.equal(read(undefined, '2024-01-15 09:05:43', 'XYZT'), undefined);
    assert.match(zoneProblem(wall('2024-01-15 09:05:43'), 'XYZT', undefined), /unknown time zone abbreviation "XYZT".*--log-timezone/);
  });

  test('UTC, GMT, Z, numeric offsets and one-meaning abbreviations (IDT HDT WIT WITA ChST SST CET CEST) are read', () => {
    assert.equal(read(undefined, '2024-01-15 09:05:43', 'UTC'), '2024-01-15T09:05:43.000Z');
    assert.equal(read(undefined, '2024-01-15 09:05:43', 'GMT'), '2024-01-15T09:05:43.000Z');
    assert.equal(read(undefined, '2024-01-15 09:05:43', 'Z'), '2024-01-15T09:05:43.000Z');
    assert.equal(read(undefined, '2024-01-15 09:05:43', '+08'), '2024-01-15T01:05:43.000Z');
    assert.equal(read(undefined, '2024-01-15 09:05:43', '-0330'), '2024-01-15T12:35:43.000Z');
    assert.equal(read(undefined, '2024-01-15 09:05:43', '+05:30'), '2024-01-15T03:35:43.000Z');
    assert.equal(read(undefined, '2024-07-15 09:00:00', 'IDT'), '2024-07-15T06:00:00.000Z');
    assert.equal(read(undefined, '2024-07-15 09:00:00', 'HDT'), '2024-07-15T18:00:00.000Z');
    assert.equal(read(undefined, '2024-07-15 09:00:00', 'WIT'), '2024-07-15T00:00:00.000Z');
    assert.equal(read(undefined, '2024-07-15 09:00:00', 'WITA'), '2024-07-15T01:00:00.000Z');
    assert.equal(read(undefined, '2024-07-15 09:00:00', 'ChST'), '2024-07-14T23:00:00.000Z');
    assert.equal(read(undefined, '2024-07-15 09:00:00', 'SST'), '2024-07-15T20:00:00.000Z');
    assert.equal(read(undefined, '2024-01-15 09:00:00', 'CET'), '2024-01-15T08:00:00.000Z');
    assert.equal(read(undefined, '2024-07-15 09:00:00', 'CEST'), '2024-07-15T07:00:00.000Z');
  });

  test('an abbreviation whose meaning changed is read by the year: MSK was +04 from 2011 to 2014', () => {
    assert.equal(read(undefined, '2019-10-21 12:00:00', 'MSK'), '2019-10-21T09:00:00.000Z');
    assert.equal(read(undefined, '2012-10-21 12:00:00', 'MSK'), '2012-10-21T08:00:00.000Z');
    assert.equal(read(undefined, '2011-10-21 12:00:00', 'MSK'), undefined, 'both meanings in 2011');
  });

  test('numeric zones', () => {
    assert.equal(numericZoneOffset('+0545'), 345);
    assert.equal(numericZoneOffset('-03'), -180);
    assert.equal(numericZoneOffset('Z'), 0);
    assert.equal(numericZoneOffset('CST'), undefined);
  });
});

describe('time zone abbreviations with --log-timezone', () => {
  test('each zone of the issue reads its own abbreviations, winter and summer', () => {
    assert.equal(read('Asia/Shanghai', '2024-01-15 09:05:43', 'CST'), '2024-01-15T01:05:43.000Z');
    assert.equal(read('Asia/Shanghai', '2024-07-15 09:05:43', 'CST'), '2024-07-15T01:05:43.000Z');
    assert.equal(read('Asia/Manila', '2024-07-15 09:00:00', 'PST'), '2024-07-15T01:00:00.000Z');
    assert.equal(read('Asia/Jerusalem', '2024-01-15 09:00:00', 'IST'), '2024-01-15T07:00:00.000Z');
    assert.equal(read('Asia/Jerusalem', '2024-07-15 09:00:00', 'IDT'), '2024-07-15T06:00:00.000Z');
    assert.equal(read('Europe/Dublin', '2024-07-15 09:00:00', 'IST'), '2024-07-15T08:00:00.000Z');
    assert.equal(read('Europe/Dublin', '2024-01-15 09:00:00', 'GMT'), '2024-01-15T09:00:00.000Z');
    assert.equal(read('Asia/Kolkata', '2024-07-15 09:00:00', 'IST'), '2024-07-15T03:30:00.000Z');
    assert.equal(read('America/Havana', '2024-01-15 09:00:00', 'CST'), '2024-01-15T14:00:00.000Z');
    assert.equal(read('America/Havana', '2024-07-15 09:00:00', 'CDT'), '2024-07-15T13:00:00.000Z');
    assert.equal(read('America/Chicago', '2024-01-15 09:00:00', 'CST'), '2024-01-15T15:00:00.000Z');
    assert.equal(read('America/Chicago', '2024-07-15 09:00:00', 'CDT'), '2024-07-15T14:00:00.000Z');
    assert.equal(read('America/Adak', '2024-01-15 09:00:00', 'HST'), '2024-01-15T19:00:00.000Z');
    assert.equal(read('America/Adak', '2024-07-15 09:00:00', 'HDT'), '2024-07-15T18:00:00.000Z');
    assert.equal(read('Asia/Jayapura', '2024-07-15 09:00:00', 'WIT'), '2024-07-15T00:00:00.000Z');
    assert.equal(read('Asia/Makassar', '2024-07-15 09:00:00', 'WITA'), '2024-07-15T01:00:00.000Z');
    assert.equal(read('Pacific/Guam', '2024-07-15 09:00:00', 'ChST'), '2024-07-14T23:00:00.000Z');
    assert.equal(read('Pacific/Pago_Pago', '2024-07-15 09:00:00', 'SST'), '2024-07-15T20:00:00.000Z');
    assert.equal(read('Europe/London', '2024-07-15 09:00:00', 'BST'), '2024-07-15T08:00:00.000Z');
    assert.equal(read('America/Halifax', '2024-01-15 09:00:00', 'AST'), '2024-01-15T13:00:00.000Z');
    assert.equal(read('America/New_York', '2024-01-15 09:00:00', 'EST'), '2024-01-15T14:00:00.000Z');
    assert.equal(read('Australia/Sydney', '2024-01-15 09:00:00', 'AEDT'), '2024-01-14T22:00:00.000Z');
  });

  test('daylight time starting: the last second before and the first after, both ways round the gap', () => {
    assert.equal(read('America/Havana', '2024-03-09 23:59:59', 'CST'), '2024-03-10T04:59:59.000Z');
    assert.equal(read('America/Havana', '2024-03-10 01:00:00', 'CDT'), '2024-03-10T05:00:00.000Z');
    assert.equal(read('America/Chicago', '2024-03-10 01:59:59', 'CST'), '2024-03-10T07:59:59.000Z');
    assert.equal(read('America/Chicago', '2024-03-10 03:00:00', 'CDT'), '2024-03-10T08:00:00.000Z');
    assert.equal(read('Europe/Dublin', '2024-03-31 00:59:59', 'GMT'), '2024-03-31T00:59:59.000Z');
    assert.equal(read('Europe/Dublin', '2024-03-31 02:00:00', 'IST'), '2024-03-31T01:00:00.000Z');
    assert.equal(read('Asia/Jerusalem', '2024-03-29 01:59:59', 'IST'), '2024-03-28T23:59:59.000Z');
    assert.equal(read('Asia/Jerusalem', '2024-03-29 03:00:00', 'IDT'), '2024-03-29T00:00:00.000Z');
  });

  test('daylight time ending: the repeated hour is told apart by the abbreviation', () => {
    assert.equal(read('America/Chicago', '2024-11-03 01:30:00', 'CDT'), '2024-11-03T06:30:00.000Z');
    assert.equal(read('America/Chicago', '2024-11-03 01:30:00', 'CST'), '2024-11-03T07:30:00.000Z');
    assert.equal(read('America/Havana', '2024-11-03 00:30:00', 'CDT'), '2024-11-03T04:30:00.000Z');
    assert.equal(read('America/Havana', '2024-11-03 00:30:00', 'CST'), '2024-11-03T05:30:00.000Z');
    assert.equal(read('Europe/Dublin', '2024-10-27 01:30:00', 'IST'), '2024-10-27T00:30:00.000Z');
    assert.equal(read('Europe/Dublin', '2024-10-27 01:30:00', 'GMT'), '2024-10-27T01:30:00.000Z');
    assert.equal(read('Asia/Jerusalem', '2024-10-27 01:30:00', 'IDT'), '2024-10-26T22:30:00.000Z');
    assert.equal(read('Asia/Jerusalem', '2024-10-27 01:30:00', 'IST'), '2024-10-26T23:30:00.000Z');
  });

  test("an abbreviation the zone does not use: read as without the zone if unambiguous, else a problem that says so", () => {
    assert.equal(read('Asia/Shanghai', '2024-01-15 09:00:00', 'UTC'), '2024-01-15T09:00:00.000Z');
    assert.equal(read('Asia/Tokyo', '2024-01-15 09:00:00', 'CST'), undefined);
    assert.match(zoneProblem(wall('2024-01-15 09:00:00'), 'CST', LogTimeZone.open('Asia/Tokyo')), /does not fit --log-timezone Asia\/Tokyo at 2024-01-15 09:00/);
    assert.match(zoneProblem(wall('2024-01-15 09:00:00'), 'XYZT', LogTimeZone.open('Asia/Tokyo')), /unknown time zone abbreviation "XYZT" \(not one --log-timezone Asia\/Tokyo uses\)/);
  });

  test('the same zone under another name (a tzdata link) reads the same', () => {
    assert.equal(read('PRC', '2024-01-15 09:05:43', 'CST'), '2024-01-15T01:05:43.000Z');
    assert.equal(read('US/Central', '2024-01-15 09:00:00', 'CST'), '2024-01-15T15:00:00.000Z');
  });
});

describe('local times without a zone (MySQL # Time:)', () => {
  const chicago = LogTimeZone.open('America/Chicago');
  const iso = (ms: number) => new Date(ms).toISOString();

  test('read in the zone, summer and winter; without a zone, as UTC', () => {
    assert.equal(iso(chicago.fromLocal(wall('2024-01-15 09:00:00'))), '2024-01-15T15:00:00.000Z');
    assert.equal(iso(chicago.fromLocal(wall('2024-07-15 09:00:00'))), '2024-07-15T14:00:00.000Z');
    assert.equal(iso(LogTimeZone.open('Asia/Shanghai').fromLocal(wall('2024-07-15 09:00:00'))), '2024-07-15T01:00:00.000Z');
    assert.equal(localTimeToUtc(wall('2024-07-15 09:00:00'), '', undefined), wall('2024-07-15 09:00:00'));
  });

  test('the repeated hour: the reading nearest the previous time of the log, else the earlier', () => {
    const t = wall('2024-11-03 01:30:00');
    assert.equal(iso(chicago.fromLocal(t)), '2024-11-03T06:30:00.000Z');
    assert.equal(iso(chicago.fromLocal(t, Date.parse('2024-11-03T06:50:00Z'))), '2024-11-03T06:30:00.000Z', 'first pass: after 01:50 CDT');
    assert.equal(iso(chicago.fromLocal(t, Date.parse('2024-11-03T07:10:00Z'))), '2024-11-03T07:30:00.000Z', 'second pass: after 01:10 CST');
  });

  test('the skipped hour: read with the offset before the change (02:30 is 03:30 daylight time)', () => {
    assert.equal(iso(chicago.fromLocal(wall('2024-03-10 02:30:00'))), '2024-03-10T08:30:00.000Z');
  });

  test('an unknown zone name is an error that says what to give', () => {
    assert.throws(() => LogTimeZone.open('Mars/Olympus'), /--log-timezone: unknown time zone "Mars\/Olympus".*IANA name/);
  });
});
