import { mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { walSegment } from '../helpers/wal-segment.js';
import { cli, tempDir, type CliOptions, type CliResult } from '../helpers/cli.js';

/**
 * What is in the repository but not proven must never read as a pass, and
 * the operator is told which file, why, and the command that judges it:
 * - a WAL file a later push completed from a file found without its
 *   manifest, until a full read passes it (`backup status` and `status`:
 *   not judged, exit 20);
 * - a backup whose full read failed, even once its file is put back whole
 *   (it stays excluded, exit 8, until a full read passes it; prune never
 *   removes the component's good backup because of it);
 * - and on the pushing side: wal-push finds a manifest it cannot vouch for
 *   (exit 4), and says how to archive the segment again.
 */
describe('status names what does not count yet, and the command that judges it', () => {
  let dir: string;
  let cleanup: () => void;
  const vt = (args: string[], o: CliOptions = {}): Promise<CliResult> => cli(dir, args, o);
  const segs = () => join(dir, 'repo', 'postgres-wal', 'main', 'segments');
  const wal = ['--cluster', 'main', '-r', 'repo'];
  const n1 = '000000010000000000000001';
  const n2 = '000000010000000000000002';
  const n3 = '000000010000000000000003';

  beforeAll(async () => {
    ({ dir, cleanup } = tempDir('vt-status-unproven-'));
    expect((await vt(['init'])).code).toBe(0);
    const pub = (await vt(['backup', 'key', 'signer'])).stdout.trim();
    expect((await vt(['backup', 'key', 'trust', pub, '--label', 'db1'])).code).toBe(0);
    mkdirSync(join(dir, 'pg_wal'));
    mkdirSync(join(dir, 'app'));
    writeFileSync(join(dir, 'app', 'config.yml'), 'a: 1\n');
    writeFileSync(join(dir, 'pg_wal', n1), walSegment(1n, 0x11));
    writeFileSync(join(dir, 'pg_wal', n2), walSegment(2n, 0x22));
    // The archive, made by this host's first push (its archive.json signed by a trusted host).
    writeFileSync(join(dir, 'pg_wal', n3), walSegment(3n, 0x33));
    const first = await vt(['backup', 'wal-push', join('pg_wal', n3), ...wal]);
    expect(first.code, first.stderr).toBe(0);
  }, 60_000);
  afterAll(() => cleanup());

  it('wal-push refuses a manifest another key signed (exit 4), replaces nothing, and says how to archive the segment again', async () => {
    const planted = await vt(['backup', 'wal-push', join('pg_wal', n1), ...wal, '--signing-key', 'other.key']);
    expect(planted.code, planted.stderr).toBe(0);
    const before = readFileSync(join(segs(), `${n1}.age.manifest.json`));
    const r = await vt(['backup', 'wal-push', join('pg_wal', n1), ...wal]);
    expect(r.code, r.stderr).toBe(4);
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toMatch(
      new RegExp(
        `^vault-tool: error: ${n1}: .*${n1}\\.age\\.manifest\\.json is signed by host key [0-9a-f]{16}, not by this host's signing key .*: it is not taken as archived; nothing was archived, and nothing in the archive was replaced$`,
      ),
    );
    expect(lines[1]).toMatch(
      /^vault-tool: hint: move .*\.age\.manifest\.json and .*\.age out of the archive .*`vault-tool backup wal-verify --cluster main`.*archives .* again from the server's copy$/,
    );
    expect(readFileSync(join(segs(), `${n1}.age.manifest.json`))).toEqual(before);
    // The fix the hint names: moved aside, the next attempt archives it, signed by this host.
    mkdirSync(join(dir, 'aside'));
    for (const f of [`${n1}.age`, `${n1}.age.manifest.json`]) {
      writeFileSync(join(dir, 'aside', f), readFileSync(join(segs(), f)));
      unlinkSync(join(segs(), f));
    }
    const again = await vt(['backup', 'wal-push', join('pg_wal', n1), ...wal]);
    expect(again.code, again.stderr).toBe(0);
  });

  it('a completed WAL file no full read has passed: backup status and status name it, not judged (exit 20), with the command', async () => {
    expect((await vt(['backup', 'wal-push', join('pg_wal', n2), ...wal])).code).toBe(0);
    // A push killed between its file and its manifest; the retry completes it from the file's stanza.
    unlinkSync(join(segs(), `${n2}.age.manifest.json`));
    const retry = await vt(['backup', 'wal-push', join('pg_wal', n2), ...wal]);
    expect(retry.code, retry.stderr).toBe(0);
    expect(readdirSync(segs())).toContain(`${n2}.age.completed`);
    // `status` says it too (and ends overdue here: no verification has ever passed).
    const all = await vt(['status', '-r', 'repo']);
    expect(all.stdout).toContain(`  not yet read in full: ${n2} (`);
    {
      const s = await vt(['backup', 'status', '-r', 'repo']);
      expect(s.code, s.stdout + s.stderr).toBe(20);
      expect(s.stdout).toContain(
        `  not yet read in full: ${n2} (completed by a later push from a file found without its manifest): \`vault-tool backup wal-verify --cluster main --read-data\` judges them`,
      );
      expect(s.stderr).toMatch(
        new RegExp(
          `^vault-tool: error: 1 file\\(s\\) of the WAL archive of main \\(${n2}\\) were completed by a later push .*; nothing failed, and this is not a pass$`,
          'm',
        ),
      );
      expect(s.stderr).toMatch(/^vault-tool: hint: `vault-tool backup wal-verify --cluster main --read-data` judges what does not count yet$/m);
    }
    // The quarterly verification without reading data names it, not judged; reading data, it reads it and the finding goes.
    const findings = (r: CliResult) =>
      (JSON.parse(r.stdout) as { backups: { verdict: string; message: string }[] }).backups.filter((f) => f.message.includes(n2));
    const quarterly = await vt(['verify', '-r', 'repo', '--json']);
    expect(findings(quarterly)).toEqual([
      expect.objectContaining({ verdict: 'inconclusive', message: expect.stringContaining('no full read has passed them yet') }),
    ]);
    // wal-verify without reading data cannot judge it either: not a pass.
    const quick = await vt(['backup', 'wal-verify', ...wal]);
    expect(quick.code, quick.stdout + quick.stderr).toBe(20);
    expect(quick.stdout).toContain(`UNCHECKED  ${n2}: `);
    // The command named: a full read passes it, its mark goes, and status no longer names it.
    const sampled = await vt(['verify', '-r', 'repo', '--read-data', '10%', '--json']);
    expect(findings(sampled)).toEqual([]);
    expect(readdirSync(segs())).not.toContain(`${n2}.age.completed`);
    const read = await vt(['backup', 'wal-verify', ...wal, '--read-data']);
    expect(read.code, read.stdout + read.stderr).toBe(0);
    expect(read.stdout + read.stderr).not.toContain(n2);
    const s = await vt(['backup', 'status', '-r', 'repo']);
    expect(s.stdout + s.stderr).not.toContain('not yet read in full');
  });

  it('a backup whose full read failed stays excluded once its file is put back whole: named, with the command; a pass makes it count', async () => {
    const made = async () => {
      const b = await vt(['backup', 'files', 'config.yml', '-C', 'app', '--name', 'cfg', '-r', 'repo', '--json']);
      expect(b.code, b.stderr).toBe(0);
      return JSON.parse(b.stdout.trim().split('\n')[1]!).file as string;
    };
    const older = await made();
    await new Promise((r) => setTimeout(r, 1100));
    const newer = await made();
    const stored = join(dir, 'repo', 'files', 'cfg', newer);
    const good = readFileSync(stored);
    const bad = Buffer.from(good);
    bad[bad.length - 20] = bad[bad.length - 20]! ^ 1;
    writeFileSync(stored, bad);
    expect((await vt(['backup', 'verify', `files/cfg/${newer}`, '-r', 'repo'])).code).toBe(8);
    writeFileSync(stored, good);
    const s = await vt(['backup', 'status', '-r', 'repo']);
    expect(s.code, s.stdout + s.stderr).toBe(8);
    expect(s.stdout).toContain(`files/cfg/${newer}: does NOT count: its full read failed (recorded `);
    expect(s.stdout).toContain(`\`vault-tool backup verify files/cfg/${newer}\` reads it in full (a pass makes it count)`);
    expect(s.stderr).toMatch(
      new RegExp(
        `^vault-tool: error: .*files/cfg/${newer} does not count: its full read failed .*; a full read judges it again, and only a pass makes it count`,
        'm',
      ),
    );
    expect(s.stderr).toMatch(new RegExp(`^vault-tool: hint: .*\`vault-tool backup verify files/cfg/${newer}\``, 'm'));
    // `status` with the escrow stale as well: its hint names both fixes, the escrow's and the full read that judges the backup.
    expect((await vt(['escrow', 'split', '-k', '2', '-c', 'ann', '-c', 'bob', '-c', 'cy', '-o', 'shares'])).code).toBe(0);
    expect((await vt(['rekey'])).code).toBe(0);
    expect((await vt(['rekey', '--confirm'])).code).toBe(0);
    const both = await vt(['status', '-r', 'repo']);
    expect(both.code, both.stdout + both.stderr).toBe(8);
    expect(both.stderr).toMatch(/^vault-tool: error: the escrow is stale: /m);
    const hintLine = both.stderr.split('\n').find((l) => l.startsWith('vault-tool: hint: '));
    expect(hintLine).toContain('split the current key among the custodians again: `vault-tool escrow reshare`');
    expect(hintLine).toContain(`\`vault-tool backup verify files/cfg/${newer}\``);
    expect((await vt(['escrow', 'reshare', '-k', '2', '-c', 'ann', '-c', 'bob', '-o', 'shares2'])).code).toBe(0);
    // The component's good backup is what status reports, and prune never removes it because of the failed one.
    const json = JSON.parse((await vt(['backup', 'status', '-r', 'repo', '--json'])).stdout) as {
      component: string;
      lastVerifiedAt?: string;
      excluded?: { file: string }[];
    }[];
    expect(json.find((c) => c.component === 'files/cfg')).toMatchObject({ excluded: [{ file: newer }] });
    const plan = await vt(['backup', 'prune', '--keep-last', '1', '-r', 'repo', '--json']);
    expect(plan.code, plan.stderr).toBe(0);
    const decisions = JSON.parse(plan.stdout).decisions as { file: string; keep: boolean; reasons: string[] }[];
    expect(decisions.find((d) => d.file === older)).toMatchObject({ keep: true });
    expect(decisions.find((d) => d.file === newer)).toMatchObject({ keep: false, failedVerification: true });
    // The failed one would go on its recorded verdict: the dry run says which command judges it first.
    const text = await vt(['backup', 'prune', '--keep-last', '1', '-r', 'repo']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stderr).toContain(
      `vault-tool: warning: files/cfg/${newer} goes on its recorded failed full read; if its file has been put back whole since, \`vault-tool backup verify files/cfg/${newer}\` first: a pass keeps it`,
    );
    // The command named: the file is whole again, a full read passes it, and it counts.
    const v = await vt(['backup', 'verify', `files/cfg/${newer}`, '-r', 'repo']);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    const after = await vt(['backup', 'status', '-r', 'repo']);
    expect(after.stdout).not.toContain('does NOT count');
    expect(after.code, after.stdout + after.stderr).toBe(0);
  }, 60_000);

  it('one of the newest WAL segments under a manifest no restore would take: backup status and wal-status fail, naming it', async () => {
    const mf = join(segs(), `${n1}.age.manifest.json`);
    const good = readFileSync(mf);
    try {
      writeFileSync(mf, good.toString('utf8').replace('"archive_command"', '"archive-command"'));
      for (const args of [
        ['backup', 'status', '-r', 'repo'],
        ['backup', 'wal-status', ...wal],
      ]) {
        const r = await vt(args);
        expect(r.code, `${args[1]}: ${r.stdout}${r.stderr}`).toBe(8);
        expect(r.stderr).toMatch(new RegExp(`^vault-tool: error: .*${n1}.*the manifest's signature does not verify: it was altered`, 'm'));
      }
    } finally {
      writeFileSync(mf, good);
    }
    expect((await vt(['backup', 'wal-status', ...wal])).code).toBe(0);
  });
});
