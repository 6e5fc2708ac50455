#!/usr/bin/env node
// Writes src/formats/time-zone-abbreviations.ts: every alphabetic time zone abbreviation a server may print, with
// each UTC offset it has meant and in which years. Sources: the system's tzdata (TZif files, every zone, from 1970
// on) and PostgreSQL's timezonesets (the abbreviations PostgreSQL accepts, including obsolete meanings no longer in
// tzdata, such as AST = Arabia or EST = Australian Eastern). slowq ships the result, so reading logs needs neither
// /usr/share/zoneinfo nor PostgreSQL on the machine that runs it.
//
//   node scripts/time-zone-abbreviations.mjs [ZONEINFO_DIR [TIMEZONESETS_DIR]] > src/formats/time-zone-abbreviations.ts
//   node scripts/time-zone-abbreviations.mjs --verify   (after npm run build: checks every zone's abbreviations,
//        1990-2037, through dist/src/formats/time-zones.js against the TZif files; prints each mismatch)

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const FIRST_YEAR = 1970;
/** a meaning still in force (from a zone's rule for the future, or a fixed PostgreSQL entry) */
const FOREVER = 9999;
const LAST_RULE_YEAR = 2037;

// ---- TZif ---------------------------------------------------------------------------------------------

/** The 64-bit part of a TZif file (version 2+): transitions, their types, and the footer (POSIX TZ rule). */
function readTzif(buf) {
  if (buf.length < 44 || buf.toString('latin1', 0, 4) !== 'TZif') return undefined;
  const counts = (o) => ({
    isutc: buf.readUInt32BE(o + 20), isstd: buf.readUInt32BE(o + 24), leap: buf.readUInt32BE(o + 28),
    time: buf.readUInt32BE(o + 32), type: buf.readUInt32BE(o + 36), char: buf.readUInt32BE(o + 40),
  });
  if (buf[4] < 0x32) return undefined; // version 1 only: not what any current tzdata installs
  let h = counts(0);
  let o = 44 + h.time * 5 + h.type * 6 + h.char + h.leap * 8 + h.isstd + h.isutc;
  h = counts(o);
  o += 44;
  const times = [];
  for (let i = 0; i < h.time; i++) times.push(Number(buf.readBigInt64BE(o + i * 8)));
  o += h.time * 8;
  const typeOf = [...buf.subarray(o, o + h.time)];
  o += h.time;
  const types = [];
  for (let i = 0; i < h.type; i++) types.push({ utoff: buf.readInt32BE(o + i * 6), isdst: buf[o + i * 6 + 4] === 1, ai: buf[o + i * 6 + 5] });
  o += h.type * 6;
  const chars = buf.toString('latin1', o, o + h.char);
  for (const t of types) t.abbr = chars.slice(t.ai, chars.indexOf('\0', t.ai));
  o += h.char + h.leap * 12 + h.isstd + h.isutc;
  const footer = buf.toString('latin1', o).split('\n')[1] ?? '';
  return { times, typeOf, types, footer };
}

/** The names and offsets of a POSIX TZ rule (`CST6CDT,M3.2.0,M11.1.0`, `<+08>-8`, `IST-1GMT0,M10.5.0,M3.5.0/1`). */
function footerTypes(rule) {
  const m = /^(<[^>]+>|[A-Za-z]+)([+-]?\d+(?::\d+){0,2})(?:(<[^>]+>|[A-Za-z]+)([+-]?\d+(?::\d+){0,2})?)?/.exec(rule);
  if (!m) return [];
  const seconds = (s) => {
    const sign = s[0] === '-' ? -1 : 1;
    const [h = 0, mi = 0, se = 0] = s.replace(/^[+-]/, '').split(':').map(Number);
    return sign * (h * 3600 + mi * 60 + se);
  };
  const name = (s) => s.replace(/[<>]/g, '');
  const std = { abbr: name(m[1]), utoff: -seconds(m[2]) };
  if (m[3] === undefined) return [std];
  return [std, { abbr: name(m[3]), utoff: m[4] !== undefined ? -seconds(m[4]) : std.utoff + 3600 }];
}

function zoneFiles(root) {
  const out = [];
  const walk = (dir, rel) => {
    for (const n of readdirSync(dir).sort()) {
      if (!rel && (n === 'posix' || n === 'right' || n === 'posixrules' || n === 'localtime' || n === 'Factory')) continue;
      const p = join(dir, n);
      const r = rel ? `${rel}/${n}` : n;
      if (statSync(p).isDirectory()) walk(p, r);
      else {
        const z = readTzif(readFileSync(p));
        if (z) out.push([r, z]);
      }
    }
  };
  walk(root, '');
  return out;
}

const yearOf = (sec) => new Date(sec * 1000).getUTCFullYear();
const isAlphabetic = (abbr) => /^[A-Za-z]+$/.test(abbr);

/**
 * The periods of a zone from 1970 on: { abbr, utoff, from, to (seconds; Infinity under the footer rule), summer }.
 * `summer` = daylight time as a reader without tzdata sees it (Intl gives offsets only): the higher of two offsets
 * the zone switches between. It is tzdata's isdst flag, except in zones with "negative DST" (Dublin: GMT is
 * flagged isdst in winter, IST not), where the period with the higher offset is the summer one.
 */
function periodsOf(z) {
  const periods = [];
  const since = Date.UTC(FIRST_YEAR, 0, 1) / 1000;
  for (let i = 0; i < z.times.length; i++) {
    const type = z.types[z.typeOf[i]];
    periods.push({ abbr: type.abbr, utoff: type.utoff, isdst: type.isdst, from: z.times[i], to: z.times[i + 1] ?? Infinity });
  }
  if (periods.length === 0 || periods[0].from > since) {
    const t = z.types[0];
    periods.unshift({ abbr: t.abbr, utoff: t.utoff, isdst: t.isdst, from: -Infinity, to: periods[0]?.from ?? Infinity });
  }
  for (let i = 0; i < periods.length; i++) {
    const p = periods[i];
    const other = [periods[i - 1], periods[i + 1]].find((q) => q !== undefined && q.isdst !== p.isdst && q.utoff !== p.utoff);
    p.summer = other !== undefined ? p.utoff > other.utoff : p.isdst;
  }
  const rule = footerTypes(z.footer);
  if (rule.length === 2 && rule[0].utoff !== rule[1].utoff) {
    // after the last transition the rule alternates its two types until further notice
    const last = periods[periods.length - 1];
    last.to = Infinity;
    const high = Math.max(rule[0].utoff, rule[1].utoff);
    for (const t of rule) periods.push({ ...t, from: last.from, to: Infinity, summer: t.utoff === high });
  }
  return periods.filter((p) => p.to > since);
}

// ---- the table ----------------------------------------------------------------------------------------

/** abbr → offset minutes → { kinds: Set(0 standard | 1 daylight | 2 unknown), years: [from, to][] } */
const table = new Map();
/** abbr → zones whose tzdata uses it (a PostgreSQL entry naming one of those zones adds nothing) */
const usedBy = new Map();

function add(abbr, offsetMin, kind, fromYear, toYear) {
  const key = abbr.toUpperCase();
  let byOffset = table.get(key);
  if (!byOffset) table.set(key, (byOffset = new Map()));
  let m = byOffset.get(offsetMin);
  if (!m) byOffset.set(offsetMin, (m = { kinds: new Set(), years: [] }));
  m.kinds.add(kind);
  m.years.push([fromYear, toYear]);
}

function mergeYears(ranges) {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const out = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else out.push([...r]);
  }
  return out;
}

function fromTzdata(root) {
  const zones = zoneFiles(root);
  for (const [name, z] of zones) {
    for (const p of periodsOf(z)) {
      if (!isAlphabetic(p.abbr) || p.abbr === 'LMT') continue;
      if (p.utoff % 60 !== 0) continue; // seconds-exact local mean times: none after 1970, but never a usable meaning
      add(p.abbr, p.utoff / 60, p.summer ? 1 : 0, Math.max(FIRST_YEAR, p.from === -Infinity ? FIRST_YEAR : yearOf(p.from)), p.to === Infinity ? FOREVER : yearOf(p.to - 1));
      const key = p.abbr.toUpperCase();
      if (!usedBy.has(key)) usedBy.set(key, new Set());
      usedBy.get(key).add(name);
    }
  }
  return new Map(zones);
}

/** The offsets a zone had in each year from 1970, for PostgreSQL entries that name a zone tzdata no longer abbreviates that way. */
function offsetsByYear(z) {
  const years = new Map();
  for (const p of periodsOf(z)) {
    const from = Math.max(FIRST_YEAR, p.from === -Infinity ? FIRST_YEAR : yearOf(p.from));
    const to = p.to === Infinity ? LAST_RULE_YEAR : Math.min(LAST_RULE_YEAR, yearOf(p.to - 1));
    for (let y = from; y <= to; y++) {
      if (!years.has(y)) years.set(y, new Set());
      years.get(y).add(p.utoff);
    }
  }
  return years;
}

function fromTimezonesets(dir, zones) {
  for (const f of readdirSync(dir).sort()) {
    for (const raw of readFileSync(join(dir, f), 'utf8').split('\n')) {
      const line = raw.replace(/#.*/, '').trim();
      if (!line || line.startsWith('@')) continue;
      const [abbr, what, d] = line.split(/\s+/);
      if (/^-?\d+$/.test(what)) {
        add(abbr, Number(what) / 60, d === 'D' ? 1 : 0, 0, FOREVER);
        continue;
      }
      // a "dynamic" abbreviation: whatever the zone's offset was at the time
      if (usedBy.get(abbr.toUpperCase())?.has(what)) continue; // tzdata already says when it meant what
      const z = zones.get(what);
      if (!z) throw new Error(`${f}: ${abbr} names zone ${what}, not in the tzdata read`);
      for (const [year, offsets] of offsetsByYear(z)) {
        for (const o of offsets) if (o % 60 === 0) add(abbr, o / 60, 2, year, year === LAST_RULE_YEAR ? FOREVER : year);
      }
    }
  }
}

function tzdataVersion(root) {
  for (const f of ['tzdata.zi', '+VERSION']) {
    const p = join(root, f);
    if (!existsSync(p)) continue;
    const m = /(\d{4}[a-z])/.exec(readFileSync(p, 'utf8').split('\n')[0]);
    if (m) return m[1];
  }
  return 'unknown';
}

function defaultTimezonesets() {
  const root = '/usr/share/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => /^\d+$/.test(v)).map(Number).sort((a, b) => b - a);
  for (const v of versions) if (existsSync(join(root, String(v), 'timezonesets'))) return join(root, String(v), 'timezonesets');
  return undefined;
}

function generate(zoneinfo, timezonesets) {
  const zones = fromTzdata(zoneinfo);
  fromTimezonesets(timezonesets, zones);
  const lines = [];
  for (const abbr of [...table.keys()].sort()) {
    const meanings = [];
    for (const [offset, m] of [...table.get(abbr)].sort((a, b) => a[0] - b[0])) {
      const kind = m.kinds.size === 1 ? [...m.kinds][0] : 2;
      for (const [from, to] of mergeYears(m.years)) meanings.push(`[${offset}, ${kind}, ${from}, ${to}]`);
    }
    lines.push(`  ${/^[A-Z]+$/.test(abbr) ? abbr : `'${abbr}'`}: [${meanings.join(', ')}],`);
  }
  return `// Generated by scripts/time-zone-abbreviations.mjs from tzdata ${tzdataVersion(zoneinfo)} (every zone, 1970 on) and
// PostgreSQL's timezonesets. Do not edit: run the script again when tzdata changes.

/** [minutes east of UTC, 0 standard | 1 daylight | 2 either, first year, last year] */
export type AbbreviationMeaning = readonly [offsetMinutes: number, kind: 0 | 1 | 2, fromYear: number, toYear: number];

export const TZDATA_VERSION = '${tzdataVersion(zoneinfo)}';

/** Every alphabetic time zone abbreviation (upper case) with each offset it has meant, and when. */
export const ABBREVIATIONS: Readonly<Record<string, readonly AbbreviationMeaning[]>> = {
${lines.join('\n')}
};
`;
}

// ---- verification -------------------------------------------------------------------------------------

/** Every period of every zone, 1990-2037, read back through the module: the local time 1 s and 30 min in, with its abbreviation. */
async function verify(zoneinfo) {
  const { LogTimeZone, localTimeToUtc } = await import(new URL('../dist/src/formats/time-zones.js', import.meta.url).href);
  const from = Date.UTC(1990, 0, 1) / 1000;
  const to = Date.UTC(2037, 0, 1) / 1000;
  let checked = 0;
  let wrong = 0;
  let refused = 0;
  let skippedZones = 0;
  for (const [name, z] of zoneFiles(zoneinfo)) {
    let zone;
    try {
      zone = LogTimeZone.open(name);
    } catch {
      skippedZones++;
      continue;
    }
    for (let i = 0; i < z.times.length; i++) {
      const t = z.times[i];
      if (t < from || t > to) continue;
      const type = z.types[z.typeOf[i]];
      for (const after of [1, 1800]) {
        const u = (t + after) * 1000;
        if (z.times[i + 1] !== undefined && t + after >= z.times[i + 1]) continue;
        const local = u + type.utoff * 1000;
        const got = localTimeToUtc(local, type.abbr, zone);
        checked++;
        if (got === u) continue;
        // no reading is a reported problem (the log is not read); a wrong one is a silent error
        if (got === undefined) refused++;
        else wrong++;
        if (refused + wrong <= 40) console.log(`${name} ${new Date(u).toISOString()} ${type.abbr}: ${got === undefined ? 'no reading' : `read as ${new Date(got).toISOString()}`}`);
      }
    }
  }
  console.log(`${checked} readings checked: ${wrong} wrong, ${refused} refused as ambiguous; ${skippedZones} zones this Node does not know`);
  process.exitCode = wrong > 0 ? 1 : 0;
}

const args = process.argv.slice(2);
if (args[0] === '--verify') await verify(args[1] ?? '/usr/share/zoneinfo');
else {
  const timezonesets = args[1] ?? defaultTimezonesets();
  if (!timezonesets) throw new Error('PostgreSQL timezonesets not found: give the directory as the second argument');
  process.stdout.write(generate(args[0] ?? '/usr/share/zoneinfo', timezonesets));
}
