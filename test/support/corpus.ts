import { readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { ParserOptions } from '../../src/formats/parsers/index.js';

// The corpus of real slow logs the parser and digest tests read: test/corpus/ in the repository (see its
// README for where each file comes from); SLOWQ_CORPUS points the tests at another copy. Compiled, this
// file is dist/test/support/corpus.js, three folders below the repository root.
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The repository's own copy of the corpus. */
export const REPOSITORY_CORPUS_DIR = join(REPO_ROOT, 'test', 'corpus');

export const CORPUS_DIR = process.env.SLOWQ_CORPUS || REPOSITORY_CORPUS_DIR;

/**
 * The sorted names of the files in one corpus folder. A folder that is missing or holds no file throws,
 * naming it: a test that loops over the list must fail then, never pass having compared nothing.
 */
export function corpusFiles(folder: string, root: string = CORPUS_DIR): string[] {
  const dir = join(root, folder);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    throw new Error(`corpus folder ${dir} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)}): the tests need the files of test/corpus/`);
  }
  const files = names.filter((n) => statSync(join(dir, n)).isFile()).sort();
  if (files.length === 0) throw new Error(`corpus folder ${dir} holds no file: the tests need the files of test/corpus/`);
  return files;
}

/** The path of one corpus file, which must be there (a missing one throws, naming it). */
export function corpusFile(folder: string, name: string, root: string = CORPUS_DIR): string {
  const path = join(root, folder, name);
  let isFile = false;
  try {
    isFile = statSync(path).isFile();
  } catch {
    // reported below
  }
  if (!isFile) throw new Error(`corpus file ${path} is missing: the tests need the files of test/corpus/`);
  return path;
}

/**
 * The PostgreSQL logs of the corpus that hold statements: the format each is in and, for stderr/syslog logs,
 * the log_line_prefix its server wrote (the pgbouncer logs are not here: they hold no statements).
 */
export const POSTGRES_CORPUS_FORMATS: Readonly<Record<string, [format: string, options?: ParserOptions]>> = {
  'anonymize.log': ['postgres-csv'],
  'begin_end.log': ['postgres', { logLinePrefix: '%t [%p]: db=%d,user=%u,app=%a,client=%h ' }],
  'cloudsql.log.gz': ['postgres-json'],
  'cnpg.log.gz': ['postgres-json'],
  'csv_statement_without_duration.log': ['postgres-csv'],
  'light.postgres.log.bz2': ['postgres', { logLinePrefix: '%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ' }],
  'logplex.gz': ['postgres', { logLinePrefix: ' sql_error_code = %e ' }],
  'multiline_param.log': ['postgres', { logLinePrefix: '%m [%p] user=%u,db=%d ' }],
  'pg-syslog.1.bz2': ['postgres', { logLinePrefix: 'db=%d,user=%u,app=%a,client=%h ' }],
  'pg-syslog.2.gz': ['postgres', { logLinePrefix: 'db=%d,user=%u,app=%a,client=%h ' }],
  'pg-timezones.log': ['postgres', { logLinePrefix: '%t:%r:%u@%d:[%p]:' }],
  'pg_rawcsv.log': ['postgres'],
  'pg_vacuums.json.gz': ['postgres-json'],
  'pg_vacuums.log.gz': ['postgres', { logLinePrefix: '%t [%p]: [%l-1] user=%u,db=%d,host=%h,app=%a ' }],
  'postgresql_param_range.log': ['postgres', { logLinePrefix: '%t [%p]: [%l-1] [%x] usr=%u,db=%d,appli=%a ' }],
  'queryid.log.gz': ['postgres', { logLinePrefix: '%m [%p] [queryid=%Q] %q%u@%d ' }],
  'rds.log.bz2': ['postgres', { logLinePrefix: '%t:%r:%u@%d:[%p]:' }],
  'stmt_type.log': ['postgres', { logLinePrefix: '%m [%p] ' }],
  'tempfile_only.log.gz': ['postgres', { logLinePrefix: '%t [%p]: [%l-1] user=%u,db=%d ' }],
  'weeknumber.log': ['postgres-csv'],
};

