import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { ParserOptions } from '../../src/formats/parsers/index.js';

// The shared corpus of real slow logs lives beside the repository (../shared/corpus), in development and
// in CI alike; SLOWQ_CORPUS points elsewhere. Compiled, this file is dist/test/support/corpus.js.
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export const CORPUS_DIR = process.env.SLOWQ_CORPUS ?? join(REPO_ROOT, '..', 'shared', 'corpus');

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

