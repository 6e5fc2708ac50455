import { prng } from '../../src/workload/prng.js';

// Seeded SQL for differential tests of the fingerprint: statements of the shapes real slow logs hold (those of
// the MySQL slow-log generator and the corpus, plus everything the fingerprint rules treat specially:
// comments and hints, strings with escapes, numbers of every form, lists, unions, limits, order by, the
// whole-query special cases), and mutants of them: characters inserted, deleted or duplicated (quotes,
// backslashes, comment markers, digits, brackets, commas, every kind of whitespace, case changes, non-ASCII,
// NUL), two statements spliced, truncation. Same seed → same statements.

export type Rand = () => number;

const TABLES = ['orders', 'customers', 'order_items', 'products', 'payments', 'sessions', 'inventory', 'audit_log', 'users_2009', 'db1.tbl2', '`order`', '"Quoted"', 't', 'T1'];
const COLUMNS = ['id', 'customer_id', 'status', 'total', 'created_at', 'name', 'note', 'qty', 'sku', 'a', 'b', 'ascii_col', 'null_col', 'nullable', 'x1', 'col_b', 'value', 'in_stock', 'limit_', 'ORDER_ID'];
const KEYWORD_CASE = [(s: string) => s.toUpperCase(), (s: string) => s.toLowerCase(), (s: string) => s[0]!.toUpperCase() + s.slice(1).toLowerCase()];

export class SqlStatements {
  private readonly r: Rand;
  constructor(seed: number) {
    this.r = prng(seed);
  }

  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  pick<T>(list: readonly T[]): T {
    return list[this.int(list.length)]!;
  }
  private chance(p: number): boolean {
    return this.r() < p;
  }
  /** a keyword as people write it: upper, lower or capitalised (one style per call) */
  private kw(s: string): string {
    return this.pick(KEYWORD_CASE)(s);
  }
  private ws(): string {
    const p = this.r();
    if (p < 0.8) return ' ';
    return this.pick(['  ', '\n', '\n  ', '\t', '\r\n', ' \n\t', '\f', '\v', ' \v ']);
  }

  literal(): string {
    const id = this.int(10_000_000);
    switch (this.int(22)) {
      case 0: return String(id);
      case 1: return String(-id);
      case 2: return (id / 100).toFixed(2);
      case 3: return `'${this.pick(['new', 'paid', 'done', "O\\'Brien", 'Müller', "it''s", 'a"b', '', '%x%', '\\\\', '日本', 'C:\\\\tmp\\\\', "x\\'", '-- not a comment', '# nor this', 'a/b', "\\\"q\\\""])}'`;
      case 4: return `"${this.pick(['dq', "it's", '', 'a\\"b', 'é', 'x y'])}"`;
      case 5: return `'2026-${String(1 + (id % 12)).padStart(2, '0')}-01 00:00:00'`;
      case 6: return '0x' + id.toString(16).toUpperCase();
      case 7: return '0x' + id.toString(16);
      case 8: return `x'${id.toString(16)}'`;
      case 9: return `b'${id.toString(2)}'`;
      case 10: return `${id % 10}e${id % 7}`;
      case 11: return `.${id % 100}`;
      case 12: return `+${id % 1000}`;
      case 13: return this.kw('null');
      case 14: return this.kw('true');
      case 15: return this.kw('false');
      case 16: return '?';
      case 17: return `@v${id % 9}`;
      case 18: return `NOW()`;
      case 19: return `_utf8mb4'${id}'`;
      case 20: return `N'${id % 100}'`;
      default: return `${id % 1000}.${id % 97}`;
    }
  }

  private list(n: number): string {
    const items: string[] = [];
    for (let i = 0; i < n; i++) items.push(this.literal());
    return items.join(this.pick([', ', ',', ' , ', ',\n']));
  }

  private table(): string {
    return this.pick(TABLES);
  }
  private column(): string {
    return this.pick(COLUMNS);
  }

  private where(): string {
    const parts: string[] = [];
    const k = 1 + this.int(3);
    for (let i = 0; i < k; i++) {
      const c = this.column();
      switch (this.int(8)) {
        case 0: parts.push(`${c} ${this.kw('in')}${this.pick([' ', '', '  '])}(${this.list(1 + this.int(5))})`); break;
        case 1: parts.push(`${c} ${this.kw('is')} ${this.kw('null')}`); break;
        case 2: parts.push(`${c} ${this.kw('like')} ${this.literal()}`); break;
        case 3: parts.push(`${c} ${this.kw('between')} ${this.literal()} ${this.kw('and')} ${this.literal()}`); break;
        case 4: parts.push(`${c}=${this.literal()}`); break;
        default: parts.push(`${c} ${this.pick(['=', '>', '<', '>=', '<>', '!='])} ${this.literal()}`);
      }
    }
    return parts.join(this.ws() + this.kw(this.pick(['and', 'or'])) + ' ');
  }

  private orderLimit(): string {
    let s = '';
    if (this.chance(0.4)) {
      const cols: string[] = [];
      for (let i = 0, k = 1 + this.int(3); i < k; i++) cols.push(this.column() + this.pick(['', '', ' ' + this.kw('asc'), ' ' + this.kw('desc'), '  ' + this.kw('asc'), ' ' + this.kw('ascii')]));
      s += this.ws() + this.kw('order by') + ' ' + cols.join(', ');
    }
    if (this.chance(0.4)) {
      s += this.ws() + this.kw('limit') + ' ' + this.pick([`${this.int(100)}`, `${this.int(100)}, ${this.int(50)}`, `${this.int(9)},${this.int(9)}`, `${this.int(100)} ${this.kw('offset')} ${this.int(1000)}`, '?', '?, ?']);
    }
    return s;
  }

  private comment(): string {
    switch (this.int(9)) {
      case 0: return `/* app:checkout request:${this.int(1e6).toString(16)} */`;
      case 1: return `/*!${40000 + this.int(20000)} ${this.kw('straight_join')} */`;
      case 2: return `-- ${this.pick(['note', "it's", 'x'])}\n`;
      case 3: return `# ${this.pick(['hash comment', 'x'])}\n`;
      case 4: return '/**/';
      case 5: return `/*+ BKA(t${this.int(3)}) */`;
      case 6: return `/* ${this.pick(['multi\nline', 'quote \' inside', '"dq"', '-- dashes'])} */`;
      case 7: return `/*${this.pick(['db', 'sakila'])}.${this.pick(['tbl', 'film'])}:${this.int(10)}/${this.int(10)}*/`;
      default: return '--\n';
    }
  }

  private select(): string {
    const cols = this.chance(0.3) ? '*' : Array.from({ length: 1 + this.int(4) }, () => (this.chance(0.2) ? `${this.kw('count')}(${this.column()})` : this.column())).join(', ');
    let s = `${this.kw('select')}${this.ws()}${cols}${this.ws()}${this.kw('from')} ${this.table()}`;
    if (this.chance(0.3)) s += `${this.ws()}${this.kw('join')} ${this.table()} ${this.kw('on')} a.id = b.${this.column()}`;
    if (this.chance(0.8)) s += `${this.ws()}${this.kw('where')} ${this.where()}`;
    if (this.chance(0.1)) s += ` ${this.kw('group by')} ${this.column()}`;
    return s + this.orderLimit();
  }

  /** One statement of a realistic shape. */
  statement(): string {
    let s: string;
    switch (this.int(16)) {
      case 0:
      case 1:
      case 2:
      case 3: s = this.select(); break;
      case 4: s = `${this.kw('update')} ${this.table()} ${this.kw('set')} ${this.column()} = ${this.literal()}, updated_at = NOW() ${this.kw('where')} ${this.where()}${this.orderLimit()}`; break;
      case 5: s = `${this.kw('delete from')} ${this.table()} ${this.kw('where')} ${this.where()}${this.orderLimit()}`; break;
      case 6: {
        const tuples = Array.from({ length: 1 + this.int(4) }, () => `(${this.list(1 + this.int(4))})`);
        s = `${this.pick(['INSERT', 'insert', 'REPLACE', 'INSERT IGNORE', 'insert  ignore'])}${this.ws()}${this.kw('into')} ${this.table()} (a, b) ${this.kw('values')}${this.pick([' ', '', '\n'])}${tuples.join(this.pick([', ', ',', ' , ', ',\n']))}${this.chance(0.2) ? ` ${this.kw('on duplicate key update')} a=${this.kw('values')}(a)` : ''}`;
        break;
      }
      case 7: {
        const x = this.select();
        const n = 1 + this.int(3);
        s = x;
        for (let i = 0; i < n; i++) s += ' ' + this.kw(this.pick(['union', 'union all'])) + ' ' + (this.chance(0.7) ? x : this.select());
        break;
      }
      case 8: s = `${this.pick(['', '  '])}${this.kw('call')}${this.pick([' ', '  ', '\n'])}${this.pick(['refresh_totals', 'db.proc', 'p'])}${this.pick(['(', ' ('])}${this.list(this.int(3))})`; break;
      case 9: s = this.pick([`${this.kw('use')} ${this.pick(['shop', '`my_db`', 'db;'])}`, `${this.kw('begin')}`, 'COMMIT', `${this.kw('set')} ${this.kw('names')} utf8mb4`, `SET autocommit=${this.int(2)}`, `SHOW ${this.kw('variables')} LIKE 'x%'`, 'administrator command: Quit', 'administrator command: Init DB', `SELECT /*!40001 SQL_NO_CACHE */ * FROM \`${this.table()}\``]); break;
      case 10: s = `${this.comment()}${this.ws()}${this.select()}`; break;
      case 11: s = `${this.select()}${this.ws()}${this.comment()}`; break;
      case 12: {
        const sel = this.select();
        const at = this.int(sel.length);
        const cut = sel.indexOf(' ', at);
        s = cut === -1 ? sel : sel.slice(0, cut) + ' ' + this.comment() + sel.slice(cut);
        break;
      }
      case 13: s = `${this.kw('select')} ${this.kw('if')}(${this.column()} ${this.kw('is not null')}, ${this.literal()}, ${this.literal()}) ${this.kw('from')} ${this.table()} ${this.kw('where')} ${this.column()} ${this.kw('not in')} (${this.kw('select')} id ${this.kw('from')} ${this.table()})`; break;
      case 14: s = `${this.kw('select')} * ${this.kw('from')} t ${this.kw('where')} a ${this.kw('in')} (${this.list(2)}) ${this.kw('and')} b ${this.kw('in')}(${this.list(3)}), (${this.list(1)})${this.orderLimit()}`; break;
      default: s = this.select() + this.pick(['', ';', '\n', ' ', '  \n']);
    }
    return this.chance(0.1) ? this.ws() + s : s;
  }

  /** `base` with 1–4 random edits; `other` is spliced in sometimes. */
  mutate(base: string, other: string): string {
    let s = base;
    for (let k = 1 + this.int(4); k > 0; k--) {
      const at = this.int(s.length + 1);
      switch (this.int(10)) {
        case 0:
        case 1:
        case 2: s = s.slice(0, at) + this.spice() + s.slice(at); break;
        case 3: s = s.slice(0, at) + s.slice(at + 1 + this.int(4)); break;
        case 4: {
          const len = 1 + this.int(12);
          s = s.slice(0, at) + s.slice(at, at + len) + s.slice(at);
          break;
        }
        case 5: {
          const len = 1 + this.int(20);
          const part = s.slice(at, at + len);
          s = s.slice(0, at) + (this.chance(0.5) ? part.toUpperCase() : part.toLowerCase()) + s.slice(at + len);
          break;
        }
        case 6: s = s.slice(0, at) + other.slice(this.int(other.length + 1)); break;
        case 7: s = other.slice(0, this.int(other.length + 1)) + s.slice(at); break;
        case 8: s = s.slice(0, at); break;
        default: s = s.slice(0, at) + this.spice() + s.slice(at + 1); // replace a character
      }
    }
    return s;
  }

  /** what mutations insert: the characters and words the fingerprint rules turn on */
  private spice(): string {
    return this.pick(SPICE);
  }
}

const SPICE = [
  "'", "'", '"', '"', '`', '\\', '\\', "\\'", '\\"', '/*', '*/', '/*!', '/**/', '--', '-- ', '#', '-', '+', '.', '?', '??', 'x', 'b', 'X',
  '0', '1', '9', '0x', '1e5', '(', ')', '()', '(?)', ',', ', ', ' ', '  ', '\t', '\n', '\r', '\r\n', '\f', '\v', 'a', 'Z', '_',
  'null', 'NULL', 'true', 'FALSE', ' in ', 'IN (', 'values', 'VALUE', ' union ', ' UNION ALL ', 'select ', 'limit ', ' LIMIT ?, ?',
  ' offset ', 'order by ', 'ORDER BY ', ' asc', ' ASC', 'use ', 'call ', 'é', 'Ä', 'ß', '\u00a0', '€', '名', '😀', '\ud800', '\0',
  'administrator command: ', 'INSERT INTO t VALUES ', '),(',
];
