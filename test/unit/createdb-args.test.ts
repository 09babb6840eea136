import { describe, expect, it } from 'vitest';
import { createdbArgs } from '../../src/backup/kinds/postgres.js';

describe('the database a restore creates, from --dbname in any form libpq reads', () => {
  it('a bare name as it is; a connection string: its dbname, and the same connection to the maintenance database', () => {
    expect(createdbArgs('orders')).toEqual({ name: 'orders', args: [] });
    expect(createdbArgs('host=/run/pg port=5433 dbname=fresh')).toEqual({
      name: 'fresh',
      args: ['--maintenance-db', 'host=/run/pg port=5433 dbname=fresh dbname=postgres'],
    });
    expect(createdbArgs("host=db1 dbname='my db'")).toMatchObject({ name: 'my db' });
    expect(createdbArgs('postgresql://u@db1:5433/fresh?sslmode=require')).toEqual({
      name: 'fresh',
      args: ['--maintenance-db', 'postgresql://u@db1:5433/postgres?sslmode=require'],
    });
  });

  it('a connection string that does not name its database is refused, never created under its own text', () => {
    expect(() => createdbArgs('service=prod')).toThrow(/does not name it \(dbname=NAME\)/);
  });
});
