import { describe, expect, it } from 'vitest';
import { readDumpHead } from '../../src/backup/kinds/postgres.js';

/** A custom-format header as pg_dump writes it (pg_backup_archiver.c, WriteHead): 4-byte integers, each after a sign byte. */
function header(minor: number, database: string, server: string, pgDump: string): Buffer {
  const int = (v: number) => {
    const b = Buffer.alloc(5);
    b[0] = v < 0 ? 1 : 0;
    b.writeUInt32LE(Math.abs(v), 1);
    return b;
  };
  const str = (s: string) => Buffer.concat([int(Buffer.byteLength(s)), Buffer.from(s)]);
  return Buffer.concat([
    Buffer.from('PGDMP'),
    Buffer.from([1, minor, 0, 4, 8, 1]),
    // The compression: an integer (-1, the default) before archive version 1.15, one byte (the algorithm) from it.
    minor >= 15 ? Buffer.from([1]) : int(-1),
    ...[47, 38, 1, 7, 11, 126, 0].map(int),
    str(database),
    str(server),
    str(pgDump),
    Buffer.from('the table of contents follows'),
  ]);
}

describe("a custom-format dump's header", () => {
  it('gives the database, the server version and the version of the pg_dump that wrote it (archive 1.14, PostgreSQL 15)', () => {
    expect(readDumpHead(header(14, 'orders', '15.18 (Debian 15.18-0+deb12u1)', '15.18 (Debian 15.18-0+deb12u1)'))).toEqual({
      database: 'orders',
      server: '15.18 (Debian 15.18-0+deb12u1)',
      pgDump: '15.18 (Debian 15.18-0+deb12u1)',
    });
  });

  it('reads the one-byte compression of archive 1.15 and later (PostgreSQL 16, 17), and a name with spaces and UTF-8', () => {
    expect(readDumpHead(header(16, 'Les Données', '16.4', '17.2'))).toEqual({ database: 'Les Données', server: '16.4', pgDump: '17.2' });
  });

  it('is null, never a guess, for a head cut short, another format or an archive version it does not know', () => {
    const full = header(14, 'orders', '15.1', '15.1');
    for (let n = 0; n < full.length - 'the table of contents follows'.length; n += 7) expect(readDumpHead(full.subarray(0, n)), `${n} bytes`).toBeNull();
    expect(readDumpHead(Buffer.from('-- PostgreSQL database dump\n'))).toBeNull();
    expect(readDumpHead(header(9, 'orders', '15.1', '15.1'))).toBeNull();
    expect(readDumpHead(header(17, 'orders', '15.1', '15.1'))).toBeNull();
    const wrong = Buffer.from(full);
    wrong[5] = 2;
    expect(readDumpHead(wrong)).toBeNull();
  });
});
