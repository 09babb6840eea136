import { describe, expect, it } from 'vitest';
import { VaultError } from '../../src/errors/errors.js';
import { pgProblem } from '../../src/backup/kinds/postgres.js';
import { toolMessage } from '../../src/tool/run.js';

/** What libpq prints when it cannot connect, as psql and pg_dump pass it on. */
const REFUSED = [
  'psql: error: connection to server at "localhost" (::1), port 1 failed: Connection refused',
  '\tIs the server running on that host and accepting TCP/IP connections?',
  'connection to server at "localhost" (127.0.0.1), port 1 failed: Connection refused',
  '\tIs the server running on that host and accepting TCP/IP connections?',
  '',
].join('\n');

describe("a tool's message", () => {
  it("keeps libpq's line naming the host, the port and the reason, with the line indented under it", () => {
    const m = toolMessage(REFUSED);
    expect(m).toBe(
      'psql: error: connection to server at "localhost" (::1), port 1 failed: Connection refused (Is the server running on that host and accepting TCP/IP connections?)',
    );
    expect(m).not.toMatch(/^\s/);
  });

  it('an indented line without a line above it, or lines without an error word, never start the message with a tab', () => {
    expect(toolMessage('\tIs the server running locally?\n')).toBe('Is the server running locally?');
    expect(toolMessage('could not connect: Connection refused\n\tIs the server running?\n')).toBe(
      'could not connect: Connection refused (Is the server running?)',
    );
  });
});

describe("psql's failures, named", () => {
  const env = { PGHOST: 'db.internal', PGPORT: '5433' };
  const failed = (said: string) => new VaultError('io', `psql failed (exit 2): ${toolMessage(said)}`, { code: 'tool-failed' });

  it('a database that does not exist is not found (not a server out of reach)', () => {
    const e = pgProblem(
      failed('psql: error: connection to server at "db.internal" (10.0.0.5), port 5433 failed: FATAL:  database "nosuch" does not exist\n'),
      env,
      'backup-failed',
    );
    expect([e.kind, e.code, e.message]).toEqual(['not-found', 'pg-db-missing', 'database nosuch does not exist on the PostgreSQL server db.internal:5433']);
  });

  it('a login refused says so, with the reason', () => {
    const e = pgProblem(
      failed('psql: error: connection to server at "db.internal" (10.0.0.5), port 5433 failed: FATAL:  password authentication failed for user "app"\n'),
      env,
      'backup-failed',
    );
    expect([e.kind, e.code, e.message]).toEqual([
      'backup-failed',
      'pg-login-refused',
      'the PostgreSQL server db.internal:5433 refused the login: password authentication failed for user "app"',
    ]);
  });

  it("a server out of reach keeps libpq's host, port and reason", () => {
    const e = pgProblem(failed(REFUSED), env, 'io');
    expect([e.kind, e.code]).toEqual(['io', 'pg-unreachable']);
    expect(e.message).toBe(
      'cannot reach the PostgreSQL server: connection to server at "localhost" (::1), port 1 failed: Connection refused (Is the server running on that host and accepting TCP/IP connections?)',
    );
  });
});
