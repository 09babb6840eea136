import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quoteIdent } from '../../src/backup/sql.js';
import { havePostgres, startPostgres, type Postgres } from '../helpers/servers.mjs';

/**
 * SQL identifiers are quoted one way (quote_ident's rules, always quoted):
 * PostgreSQL reads the quoted text back as exactly the name, whatever it
 * holds, and never as more SQL.
 */
const HAVE_PG = havePostgres();
let pg: Postgres | undefined;

beforeAll(async () => {
  if (HAVE_PG) pg = await startPostgres();
}, 120_000);
afterAll(() => pg?.stop());

describe('quoteIdent', () => {
  it('refuses a NUL, which no identifier can hold', () => {
    expect(quoteIdent('drill_orders')).toBe('"drill_orders"');
    expect(quoteIdent('a"b')).toBe('"a""b"');
    expect(() => quoteIdent('a\0b')).toThrow(/cannot be an SQL identifier: it holds a NUL/);
  });

  it.skipIf(!HAVE_PG)('names exactly the database it was given, against a real server', () => {
    const names = ['drill_orders', 'Upper Case', 'select', 'a"b', 'x; drop database postgres; --', "it's", 'Ärger', '1starts-with-digit'];
    for (const name of names) {
      pg!.sql(`create database ${quoteIdent(name)}`);
      expect(pg!.sql(`select count(*) from pg_database where datname = '${name.replace(/'/g, "''")}'`), name).toBe('1');
      pg!.sql(`drop database ${quoteIdent(name)}`);
      expect(pg!.sql(`select count(*) from pg_database where datname = '${name.replace(/'/g, "''")}'`), name).toBe('0');
    }
    expect(pg!.sql("select count(*) from pg_database where datname = 'postgres'")).toBe('1');
  });
});
