import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, cli, haveBinary, tempDir, type CliOptions, type CliResult } from '../helpers/cli.js';
import { haveRedis, startRedis, type Redis } from '../helpers/servers.mjs';
import type { ProgressEvent } from '../../src/cli/progress.js';

/**
 * Every long step says how it goes: on a terminal one line rewritten in
 * place (a real pty, from util-linux `script`), with --json one event a
 * line on stderr (stdout keeps the result), and nothing in a pipe.
 */
let dir: string;
let cleanup: () => void;
let redis: Redis | undefined;
const HAVE_SCRIPT = haveBinary('script');
const HAVE_REDIS = haveRedis();
const HAVE_RCLONE = haveBinary('rclone', ['version']);
const MiB = 1024 * 1024;

const vt = (args: string[], opts: CliOptions = {}): Promise<CliResult> =>
  cli(dir, args, { ...opts, env: { VAULT_TOOL_BACKUP_REPO: join(dir, 'repo'), ...opts.env } });
/** The progress events a run wrote on stderr (its other lines are messages). */
const events = (r: CliResult): ProgressEvent[] =>
  r.stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as ProgressEvent)
    .filter((e) => e.type === 'progress');
const phases = (ev: ProgressEvent[]) => [...new Set(ev.map((e) => e.phase).filter(Boolean))];

beforeAll(async () => {
  ({ dir, cleanup } = tempDir('vt-progress-'));
  expect((await vt(['init'])).code).toBe(0);
  mkdirSync(join(dir, 'data'));
  writeFileSync(join(dir, 'data', 'blob.bin'), randomBytes(6 * MiB));
  if (HAVE_REDIS) redis = await startRedis();
}, 60_000);
afterAll(() => {
  redis?.stop();
  cleanup();
});

describe('with --json: events on stderr, the result on stdout unchanged', () => {
  let first: CliResult;
  it('a backup: start, the dump, done (a local file is hashed as written, not read back); the next one estimates from it', async () => {
    first = await vt(['backup', 'files', 'data', '--name', 'data', '--json']);
    expect(first.code, first.stderr).toBe(0);
    const ev = events(first);
    expect(ev[0]).toMatchObject({ step: 'backup', item: 'files/data', state: 'start', estimate: null });
    expect(phases(ev)).toEqual(['starting tar', 'tar']);
    expect(ev.at(-1)).toMatchObject({ state: 'done', phase: 'tar' });
    // stdout holds the backup's own events, no progress.
    const made = first.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(made.map((m) => m.type)).toEqual(['start', 'backup', 'summary']);
    const plain = made[1].bytes as number;
    const again = await vt(['backup', 'files', 'data', '--name', 'data', '--json']);
    expect(again.code, again.stderr).toBe(0);
    const start = events(again)[0]!;
    expect(start.estimate).toBeGreaterThan(6 * MiB);
    expect(start.estimate).toBe(plain);
  });

  it.skipIf(!HAVE_RCLONE)('a backup to a remote: the stored file read back, its bytes against its size', async () => {
    mkdirSync(join(dir, 'remote'), { recursive: true });
    const r = await vt(['backup', 'files', 'data', '--name', 'data', '-r', `offsite:${join(dir, 'remote')}`, '--json'], {
      env: { RCLONE_CONFIG_OFFSITE_TYPE: 'local' },
    });
    expect(r.code, r.stderr).toBe(0);
    const ev = events(r);
    expect(phases(ev)).toEqual(['starting tar', 'tar', 'reading back the stored file']);
    expect(ev.at(-1)).toMatchObject({ state: 'done', phase: 'reading back the stored file' });
    expect(ev.at(-1)!.bytes).toBe(ev.at(-1)!.total);
  });

  it('a verify: each backup read in full, its bytes against its size', async () => {
    const r = await vt(['backup', 'verify', 'files/data', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const ev = events(r);
    expect(ev[0]).toMatchObject({ step: 'verify', state: 'start' });
    expect(ev[0]!.item).toMatch(/^files\/data\/\d{8}T\d{6}Z-[0-9a-f]{8}\.tar\.age$/);
    expect(phases(ev)).toEqual(['reading in full (tar -t)']);
    const last = ev.at(-1)!;
    expect(last.state).toBe('done');
    expect(last.bytes).toBe(last.total);
    expect(JSON.parse(r.stdout)).toHaveLength(1);
  });

  it('the quarterly verification: each backup it reads in full shows as a verify step', async () => {
    writeFileSync(join(dir, 'quarter.yaml'), `apiVersion: vault-tool/v1\nkind: VerificationPlan\nbackups:\n  repo: ${join(dir, 'repo')}\n  readData: true\n`);
    const r = await vt(['verify', '--plan', 'quarter.yaml', '--json']);
    expect(r.code, r.stderr).not.toBe(2);
    const ev = events(r).filter((e) => e.step === 'verify');
    expect(ev[0]).toMatchObject({ step: 'verify', state: 'start' });
    expect(phases(ev)).toEqual(['reading in full (tar -t)']);
    expect(ev.at(-1)).toMatchObject({ state: 'done' });
  });

  it('a restore: the full check, then the restore, each of the stored size', async () => {
    const r = await vt(['backup', 'restore', 'files/data', '--to-dir', 'back', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const ev = events(r);
    expect(ev[0]).toMatchObject({ step: 'restore', state: 'start' });
    expect(phases(ev)).toEqual(['checking in full (tar -t)', `restoring into ${join(dir, 'back')}`]);
    expect(ev.at(-1)).toMatchObject({ state: 'done' });
    expect(ev.at(-1)!.bytes).toBe(ev.at(-1)!.total);
  });

  it('a copy: the vault copy written, read back and opened, then registered', async () => {
    const r = await vt(['copy', '--to', join(dir, 'copies'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const ev = events(r);
    expect([...new Set(ev.map((e) => `${e.step} ${e.item}`))]).toEqual(['copy vault copy', 'copy registration']);
    expect(phases(ev)).toEqual([expect.stringMatching(/^writing it to /), 'reading it back', 'opening it', 'recording the copies in the vault']);
    expect(ev.at(-1)!.state).toBe('done');
  });

  it('a failure ends its step with a failed event, then the error', async () => {
    expect((await vt(['backup', 'files', 'data', '--name', 'spoilt'])).code).toBe(0);
    const stored = join(dir, 'repo', 'files', 'spoilt', readdirSync(join(dir, 'repo', 'files', 'spoilt')).find((f) => f.endsWith('.age'))!);
    const bytes = readFileSync(stored);
    bytes[bytes.length >> 1]! ^= 0xff;
    writeFileSync(stored, bytes);
    const r = await vt(['backup', 'restore', 'files/spoilt', '--to-dir', 'spoilt', '--json']);
    expect(r.code, r.stderr).toBe(4);
    const ev = events(r);
    expect(ev[0]).toMatchObject({ step: 'restore', state: 'start' });
    expect(ev.at(-1)).toMatchObject({ state: 'failed', phase: 'checking in full (tar -t)' });
    const lines = r.stderr.trim().split('\n');
    // The error (an event too, with --json) comes after the step's failed event.
    expect(lines.findIndex((l) => l.startsWith('{"type":"error"'))).toBeGreaterThan(lines.findIndex((l) => l.includes('"failed"')));
    // A verify that finds it damaged: its item ends failed, the other backups' done.
    expect((await vt(['backup', 'files', 'data', '--name', 'spoilt'])).code).toBe(0);
    const v = await vt(['backup', 'verify', '--all', '--json']);
    expect(v.code, v.stderr).toBe(8);
    const ends = events(v).filter((e) => e.state === 'done' || e.state === 'failed');
    expect(ends.filter((e) => e.state === 'failed').map((e) => e.item)).toEqual([`files/spoilt/${basename(stored)}`]);
    expect(ends.filter((e) => e.state === 'done').length).toBeGreaterThan(2);
  });

  it.skipIf(!HAVE_REDIS)('a Redis backup says it waits for BGSAVE before its first byte', async () => {
    const r = await vt(['backup', 'redis', '-p', String(redis!.port), '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(phases(events(r))).toEqual(['waiting for Redis BGSAVE', 'redis-cli']);
  });
});

describe('in a pipe', () => {
  it('nothing but the messages: no progress line, no event', async () => {
    const r = await vt(['backup', 'files', 'data', '--name', 'data']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/\r|\u001b|"progress"/);
    const v = await vt(['backup', 'verify', 'files/data']);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stderr).not.toMatch(/\r|\u001b|"progress"/);
  });
});

/** A command on a pty: everything it wrote to the terminal. */
function onTerminal(args: string): Promise<{ code: number | null; raw: string }> {
  return new Promise((res) => {
    const p = spawn('script', ['-qfec', `stty cols 160 rows 40; exec ${process.execPath} ${BIN} ${args}`, '/dev/null'], {
      cwd: dir,
      env: { PATH: process.env.PATH, HOME: dir, VAULT_TOOL_STATE_DIR: join(dir, '.state'), VAULT_TOOL_BACKUP_REPO: join(dir, 'repo'), TERM: 'xterm' },
    });
    let raw = '';
    p.stdout.on('data', (c: Buffer) => (raw += c.toString('utf8')));
    const timer = setTimeout(() => p.kill(), 90_000);
    p.on('close', (code) => {
      clearTimeout(timer);
      res({ code, raw });
    });
  });
}
/** Each line the terminal drew (after a carriage return), escapes removed. */
const drawn = (raw: string) =>
  raw
    .split('\r')
    .map((l) => l.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '').replace(/\n/g, ''))
    .filter(Boolean);

describe.skipIf(!HAVE_SCRIPT)('on a terminal', () => {
  it('a backup shows its bytes of the last backup size, rate and time, and erases the line when done', async () => {
    const t = await onTerminal('backup files data --name data');
    expect(t.code, t.raw).toBe(0);
    const lines = drawn(t.raw);
    expect(
      lines.some((l) =>
        /^backup files\/data: (tar|reading back the stored file): [\d.]+ (bytes|KiB|MiB) of ~?[\d.]+ MiB(, [\d.]+ (bytes|KiB|MiB)\/s)?, \d+s/.test(l),
      ),
      t.raw,
    ).toBe(true);
    // Erased (the line cleared) before the command's own output.
    expect(t.raw).toMatch(/\r\u001b\[K[^\r]*files\/data: \d{8}T/);
  }, 120_000);

  it('a restore shows the full check and the restore of the stored size', async () => {
    const t = await onTerminal(`backup restore files/data --to-dir ${join(dir, 'back2')}`);
    expect(t.code, t.raw).toBe(0);
    const lines = drawn(t.raw);
    expect(
      lines.some((l) => /^restore files\/data: checking in full \(tar -t\): .* of [\d.]+ MiB/.test(l)),
      t.raw,
    ).toBe(true);
  }, 120_000);
});
