import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readHeader, unwrapFileKey } from '../../src/age/file-key.js';
import { decryptPayload, encryptPayload, NONCE_SIZE, payloadKey } from '../../src/age/stream.js';
import { parseManifest } from '../../src/backup/manifest.js';
import { readIdentityFile } from '../../src/backup/wal/identity.js';
import { executePitr, planPitr } from '../../src/backup/wal/restore.js';
import { parseDestination } from '../../src/dest/index.js';
import { BIN, cli, tempDir, type CliOptions, type CliResult } from '../helpers/cli.js';
import { asPostgres, havePostgres, postgresFolder, startPostgres, type Postgres } from '../helpers/servers.mjs';

/**
 * A point-in-time restore holds the stored base backup to its signed SHA-256, not to its header's digest alone: a holder of the
 * backup key (a restore host's identity file) with write access to the repository can re-seal an edited base, or WAL file, under
 * the genuine header and payload nonce, and every chunk then authenticates. And whatever the restore has written when it fails
 * is removed: nothing is left that looks like a restored data directory.
 */
const HAVE_PG = havePostgres();
const NODE = process.execPath;

let dir: string;
let cleanup: () => void;
let repo: string;
let hostKey: string;
let recipient: string;
let pg: Postgres & { data: string };
let idFile: string;
let base: string;

const vt = (args: string[], opts: CliOptions = {}): Promise<CliResult> =>
  cli(dir, args, { ...opts, env: { ...(pg?.env ?? {}), VAULT_TOOL_COMMAND: `${NODE} ${BIN}`, ...opts.env } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const segDir = () => join(repo, 'postgres-wal', 'app', 'segments');

async function switchAndWait(s: Postgres): Promise<void> {
  const name = s.sql('select pg_walfile_name(pg_switch_wal())');
  for (let i = 0; i < 600; i++) {
    if (s.sql("select coalesce(last_archived_wal, '') from pg_stat_archiver") >= name) return;
    await sleep(100);
  }
  throw new Error(`${name} was not archived in time`);
}

/** An edit by a holder of the backup key: the payload decrypted, `edit` applied, sealed again under the genuine header and nonce. */
function underSameHeader(orig: Buffer, edit: (plain: Buffer) => Buffer): Buffer {
  const keys = readIdentityFile(idFile);
  const { header, binary } = readHeader(orig);
  const fileKey = unwrapFileKey(header, { identities: keys.identities.map((k) => k.identity) });
  const start = header.length + NONCE_SIZE;
  const pk = payloadKey(fileKey, binary.subarray(header.length, start));
  return Buffer.concat([binary.subarray(0, start), encryptPayload(pk, edit(Buffer.from(decryptPayload(pk, binary.subarray(start)))))]);
}

/** The restore's prefetcher, stopped (it would leave by itself after a minute). */
function stopPrefetcher(data: string): void {
  try {
    process.kill(Number(readFileSync(join(data, 'vault-tool-spool', 'prefetcher.pid'), 'utf8')));
  } catch {
    /* none running */
  }
}

const drillPlan = (scratch: string) =>
  `apiVersion: vault-tool/v1\nkind: DrillPlan\nrto: 1h\nshares: { files: [shares/share-01-a.share, shares/share-02-b.share] }\nbackups:\n  repo: ${repo}\n  pitr:\n    - { cluster: app, dir: ${scratch} }\n`;

beforeAll(async () => {
  if (!HAVE_PG) return;
  ({ dir, cleanup } = tempDir('vt-pitr-stored-'));
  chmodSync(dir, 0o755);
  repo = postgresFolder(join(dir, 'repo'));
  hostKey = join(postgresFolder(join(dir, 'dbhost')), 'signing.key');
  expect((await vt(['init'])).code).toBe(0);
  recipient = (await vt(['backup', 'key'])).stdout.trim();
  expect((await vt(['escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-c', 'c', '-o', 'shares'])).code).toBe(0);
  pg = (await startPostgres({
    initdb: ['--wal-segsize', '1'],
    conf: {
      archive_mode: 'on',
      wal_level: 'replica',
      archive_timeout: '60s',
      archive_command: `${NODE} ${BIN} backup wal-push %p --cluster app -r ${repo} --recipient ${recipient} --signing-key ${hostKey}`,
    },
  })) as Postgres & { data: string };
  pg.sql('create table events(id serial primary key, phase text not null)');
  pg.sql("insert into events(phase) select 'genuine' from generate_series(1, 50)");
  await switchAndWait(pg);
  const pub = (await vt(['backup', 'key', 'signer', '--signing-key', hostKey])).stdout.trim();
  expect((await vt(['backup', 'key', 'trust', pub, '--label', 'db1'])).code).toBe(0);
  // The data directory of a server that was itself restored: that restore's spool (its restore.sh) is in it, and in its base backup.
  asPostgres('sh', ['-c', 'mkdir -p "$1/vault-tool-spool/in" && echo "# the old restore" > "$1/vault-tool-spool/restore.sh"', 'sh', pg.data]);
  const b = await vt(['backup', 'postgres', '--base', '--cluster', 'app', '-r', repo, '--fast-checkpoint', '--json']);
  expect(b.code, b.stderr).toBe(0);
  base = `postgres-base/app/${
    b.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .find((l) => l.type === 'backup').file
  }`;
  pg.sql("insert into events(phase) select 'after' from generate_series(1, 5)");
  await switchAndWait(pg);
  idFile = join(dir, 'backup.id');
  expect((await vt(['backup', 'key', 'export-identity', '-o', idFile])).code).toBe(0);
}, 240_000);

afterAll(() => {
  pg?.stop();
  cleanup?.();
});

describe.skipIf(!HAVE_PG)('the stored base backup and WAL held to their signed SHA-256', () => {
  const restore = (to: string) => vt(['backup', 'restore', base, '--to-dir', to, '--identity', idFile, '--no-archive', '-r', repo]);

  it('a base re-sealed under its genuine header by a holder of the backup key (postgresql.conf edited): the restore refuses it at the end of its one pass, removes everything it wrote and leaves the folder given empty, with its mode; the drill fails it', async () => {
    const stored = join(repo, base);
    const orig = readFileSync(stored);
    const edited = underSameHeader(orig, (tar) => {
      const i = tar.indexOf('CONNECTIONS AND AUTHENTICATION');
      expect(i).toBeGreaterThan(0);
      const t = Buffer.from(tar);
      t.write('EDITED BY A HOLDER OF THE KEY!', i);
      return t;
    });
    // Same size, same header and nonce: only the whole file's digest tells it from the one backed up.
    expect(edited.length).toBe(orig.length);
    writeFileSync(stored, edited);
    try {
      const data = join(dir, 'from-edited');
      mkdirSync(data, { mode: 0o750 });
      chmodSync(data, 0o750);
      const r = await restore(data);
      expect(r.code, r.stderr).toBe(8);
      expect(r.stderr).toMatch(
        /^vault-tool: error: postgres-base\/app\/\S+ is not the backup its manifest describes \(its stored bytes differ from the signed SHA-256\): nothing was restored$/m,
      );
      expect(readdirSync(data)).toEqual([]);
      expect(statSync(data).mode & 0o777).toBe(0o750);
      // A folder the restore made goes with what it wrote.
      const made = join(dir, 'made', 'data');
      const r2 = await restore(made);
      expect(r2.code, r2.stderr).toBe(8);
      expect(existsSync(join(dir, 'made'))).toBe(false);
      // The drill is a verification: it checks every file against backup_manifest besides, and fails the edit.
      const scratch = join(postgresFolder(join(dir, 'scratch-base')), 'pitr');
      writeFileSync(join(dir, 'drill-base.yaml'), drillPlan(scratch));
      const d = await vt(['drill', '--plan', 'drill-base.yaml']);
      expect(d.code, d.stdout + d.stderr).not.toBe(0);
      expect(d.stdout + d.stderr).toMatch(/postgresql\.conf fails its SHA256 checksum/);
      // An edit no file's checksum sees (the padding after a member's data, which tar skips): the whole file's digest fails it, in
      // the drill and a restore.
      writeFileSync(
        stored,
        underSameHeader(orig, (tar) => {
          const t = Buffer.from(tar);
          for (let o = 0; t[o] !== 0; ) {
            const size = Number.parseInt(
              t
                .subarray(o + 124, o + 136)
                .toString('latin1')
                .replace(/\0.*$/s, '')
                .trim(),
              8,
            );
            if (size % 512) {
              const pad = o + 512 + size;
              expect(t[pad]).toBe(0);
              t.write('X', pad);
              return t;
            }
            o += 512 + Math.ceil(size / 512) * 512;
          }
          throw new Error('no member with padding');
        }),
      );
      const d2 = await vt(['drill', '--plan', 'drill-base.yaml']);
      expect(d2.code, d2.stdout + d2.stderr).not.toBe(0);
      expect(d2.stdout + d2.stderr).toMatch(/its stored bytes differ from the signed SHA-256/);
      const r3 = await restore(data);
      expect(r3.code, r3.stderr).toBe(8);
      expect(r3.stderr).toMatch(/its stored bytes differ from the signed SHA-256/);
      expect(readdirSync(data)).toEqual([]);
      // Through the library, with a spool given outside the data directory that holds a file of its own: what the restore wrote
      // into it (its script, first, last, the segments it placed) goes with the rest; the spool's own file stays.
      const outside = join(dir, 'outside-spool');
      mkdirSync(outside);
      writeFileSync(join(outside, 'keep-me'), 'x');
      const keys = readIdentityFile(idFile);
      const lr = { dest: parseDestination(repo, '/', { env: process.env }) };
      const lm = parseManifest(readFileSync(join(repo, `${base}.manifest.json`), 'utf8'), base);
      const plan = await planPitr(lr, lm, keys, {
        dataDir: join(dir, 'lib-outside', 'data'),
        target: { action: 'promote' },
        restoreCommand: 'false',
        spool: { dir: outside, script: '#!/bin/sh\nexit 1\n' },
        noArchive: true,
      });
      await expect(executePitr(lr, plan, keys, process.env, new Date())).rejects.toThrow(/its stored bytes differ from the signed SHA-256/);
      expect(existsSync(join(dir, 'lib-outside', 'data'))).toBe(false);
      expect(readdirSync(outside).sort()).toEqual(['absent', 'ask', 'in', 'keep-me', 'ok', 'pending', 'tmp']);
      expect(readdirSync(join(outside, 'in'))).toEqual([]);
    } finally {
      writeFileSync(stored, orig);
    }
  }, 300_000);

  it('a WAL file re-sealed under its genuine header by a holder of the backup key: the drill, a verification, fails it', async () => {
    const segs = readdirSync(segDir())
      .filter((n) => /^[0-9A-F]{24}\.age$/.test(n))
      .sort();
    // The newest segment, closed by a switch: the rest of it is zeros PostgreSQL never reads, so a replay alone would not tell.
    const stored = join(segDir(), segs[segs.length - 1]!);
    const orig = readFileSync(stored);
    writeFileSync(
      stored,
      underSameHeader(orig, (wal) => {
        const at = wal.length - 64;
        expect(wal.subarray(at).every((b) => b === 0)).toBe(true);
        const w = Buffer.from(wal);
        w.write('EDITED', at);
        return w;
      }),
    );
    try {
      const scratch = join(postgresFolder(join(dir, 'scratch-wal')), 'pitr');
      writeFileSync(join(dir, 'drill-wal.yaml'), drillPlan(scratch));
      const d = await vt(['drill', '--plan', 'drill-wal.yaml']);
      expect(d.code, d.stdout + d.stderr).not.toBe(0);
      expect(d.stdout + d.stderr).toMatch(/the stored file is not the one its manifest describes \(SHA-256 differs\)/);
      expect(d.stdout + d.stderr).toMatch(/point-in-time restore of app\s+FAIL/);
    } finally {
      writeFileSync(stored, orig);
    }
  }, 300_000);

  it("--to-dir DIR/ and DIR/./: the same restore as DIR, the base's own spool (of a server itself restored) left out, the restore's settings written", async () => {
    for (const [i, spelled] of [(d: string) => `${d}/`, (d: string) => `${d}/.`, (d: string) => d].entries()) {
      const data = join(dir, `spelled-${i}`);
      const r = await restore(spelled(data));
      await sleep(500);
      stopPrefetcher(data);
      expect(r.code, `${spelled(data)}: ${r.stderr}`).toBe(0);
      expect(readFileSync(join(data, 'vault-tool-spool', 'restore.sh'), 'utf8')).not.toContain('# the old restore');
      expect(readFileSync(join(data, 'postgresql.auto.conf'), 'utf8')).toMatch(/^restore_command = '.*vault-tool-spool\/restore\.sh/m);
      expect(existsSync(join(data, 'recovery.signal'))).toBe(true);
    }
  }, 300_000);

  it('a failure once writing has begun (its spool cannot be made): everything written is removed, a folder given left empty', async () => {
    const keys = readIdentityFile(idFile);
    const r = { dest: parseDestination(repo, '/', { env: process.env }) };
    const m = parseManifest(readFileSync(join(repo, `${base}.manifest.json`), 'utf8'), base);
    for (const given of [false, true]) {
      const data = join(dir, given ? 'lib-given' : 'lib-made', 'data');
      if (given) {
        mkdirSync(data, { recursive: true, mode: 0o755 });
        chmodSync(data, 0o755);
      }
      // A spool under a file of the base: the spool is made (with the data directory) before the base is extracted, and cannot be.
      const plan = await planPitr(r, m, keys, {
        dataDir: data,
        target: { action: 'promote' },
        restoreCommand: 'false',
        spool: { dir: join(data, 'PG_VERSION', 'spool'), script: '#!/bin/sh\nexit 1\n' },
        noArchive: true,
      });
      await expect(executePitr(r, plan, keys, process.env, new Date())).rejects.toThrow(/a spool is made only inside an existing folder/);
      if (given) {
        expect(readdirSync(data)).toEqual([]);
        expect(statSync(data).mode & 0o777).toBe(0o755);
      } else expect(existsSync(data)).toBe(false);
    }
  }, 300_000);
});
