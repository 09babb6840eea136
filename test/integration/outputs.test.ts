import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OUTPUT_RULES, type OutputKind } from '../../src/fs/output.js';
import { JournalFile } from '../../src/drill/journal.js';
import { deferEvidence } from '../../src/vault/deferred.js';
// @ts-expect-error: plain JavaScript helper shared with the benchmarks
import { startKubeApi } from '../helpers/kube-api-server.mjs';
import { cli, tempDir } from '../helpers/cli.js';

/**
 * Every output option of every command, against every kind of file the tool
 * guards and against files of other kinds: an output replaces only a file of
 * its own kind (src/fs/output.ts), and a refusal comes before the run (no
 * evidence record of a run whose output was refused).
 */
let dir: string;
let cleanup: () => void;
let backupRef: string;
const shares = ['shares/share-01-a.share', 'shares/share-02-b.share'];
let kube: { kubeconfig: (o?: { context?: string }) => string; state: { put: (o: unknown) => void }; close: () => Promise<void> };

beforeAll(async () => {
  ({ dir, cleanup } = tempDir('vt-outputs-'));
  const ok = async (args: string[], env: Record<string, string> = {}) => {
    const r = await cli(dir, args, { env });
    expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r;
  };
  kube = await startKubeApi({ namespaces: ['default', 'app'] });
  kube.state.put({ metadata: { name: 'db', namespace: 'app' }, data: { PASSWORD: Buffer.from('pw').toString('base64') } });
  writeFileSync(join(dir, 'kubeconfig'), kube.kubeconfig({ context: 'test' }));
  await ok(['init']);
  await ok(['add', 'a', '-t', 'kek', '--generate']);
  await ok(['k8s', 'import', 'db', '-n', 'app', '--kubeconfig', 'kubeconfig']);
  await ok(['escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-o', 'shares']);
  writeFileSync(join(dir, 'f'), 'data\n');
  const b = await ok(['backup', 'files', 'f', '-r', 'repo', '--json']);
  const made = b.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { type: string; file?: string })
    .find((l) => l.type === 'backup')!;
  backupRef = `files/config/${made.file}`;
  await ok(['init', '--passphrase', '--passphrase-env', 'PW', '--work-factor', '10', '--vault-file', 'p.vault', '--key-file', 'p.key'], { PW: 'pw pw pw pw' });
  // A verification that passed: status has nothing overdue to report.
  await ok(['verify']);
  copyFileSync(join(dir, 'secrets.vault.evidence.jsonl'), join(dir, 'log-copy.txt'));
  writeFileSync(join(dir, 'stale.lock'), JSON.stringify({ pid: 1, host: 'h', since: new Date().toISOString() }) + '\n');
  // A share as custodians keep it when typed back from paper: groups separated by spaces, in lower case, over several lines.
  const shareText = readFileSync(join(dir, 'shares/share-01-a.share'), 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VT1-'))!;
  writeFileSync(join(dir, 'typed-a.txt'), shareText.replace(/-/g, ' ') + '\n');
  writeFileSync(join(dir, 'lower-a.txt'), shareText.toLowerCase().replace(/(-[^-]+-[^-]+-[^-]+-[^-]+)/g, '$1\n') + '\n');
  // A mistyped share is a custodian's share all the same.
  writeFileSync(join(dir, 'typo-a.txt'), shareText.replace(/^(VT1-.{6})(.)/, (_m, a: string, c: string) => a + (c === 'A' ? 'B' : 'A')) + '\n');
  await ok(['k8s', 'export', 'a', '--secret', 's', '-o', 'bundle.age']);
  // A record waiting beside a key file rebuilt where no vault could take it, a copy of it, and an empty one named so.
  mkdirSync(join(dir, 'fresh'));
  await ok(['escrow', 'combine', ...shares, '-o', 'fresh/k.key', '--vault-file', 'none.vault']);
  copyFileSync(join(dir, 'fresh/k.key.evidence-pending.jsonl'), join(dir, 'pending-copy.txt'));
  writeFileSync(join(dir, 'empty.evidence-pending.jsonl'), '');
  await deferEvidence(join(dir, '.state/seen.json'), 'ab'.repeat(16), {
    at: new Date().toISOString(),
    event: 'entry.get',
    data: { entry: 'a@1' },
    why: 'read-only',
  });
  // A drill's journal, as `drill --keep` leaves it (in a state folder of its own: the drills below must not see it).
  JournalFile.create(join(dir, 'other-state/seen.json'), join(dir, 'drill.yaml'), new Date('2026-01-02T03:04:05Z')).keep(new Date('2026-01-02T03:05:00Z'));
  writeFileSync(
    join(dir, 'drill.yaml'),
    'apiVersion: vault-tool/v1\nkind: DrillPlan\nshares: { files: [shares/share-01-a.share, shares/share-02-b.share] }\nchecks:\n  - { entries: [a] }\n',
  );
}, 120_000);
afterAll(async () => {
  await kube?.close();
  cleanup();
});

/** Files no output may replace, and what the refusal calls them. */
const GUARDED: [string, string][] = [
  ['secrets.vault', 'a vault file'],
  ['vault.key', 'a key file'],
  ['p.key', 'a passphrase-protected file (a key file?)'],
  ['p.vault', 'a vault file'],
  ['secrets.vault.evidence.jsonl', 'an evidence log'],
  ['log-copy.txt', 'an evidence log'],
  ['.state/seen.json', "vault-tool's record of the vaults seen (seen.json)"],
  ['.state/signing.key', 'a private key (a signing or TLS key?)'],
  ['shares/share-01-a.share', 'an escrow share'],
  ['typed-a.txt', 'an escrow share'],
  ['lower-a.txt', 'an escrow share'],
  ['typo-a.txt', 'an escrow share'],
  ['bundle.age', 'a Kubernetes export bundle'],
  ['fresh/k.key.evidence-pending.jsonl', 'a file of evidence records waiting to go into an evidence log'],
  ['pending-copy.txt', 'a file of evidence records waiting to go into an evidence log'],
  ['empty.evidence-pending.jsonl', 'a file of evidence records waiting to go into an evidence log'],
  [`.state/evidence-deferred/${'ab'.repeat(16)}.jsonl`, 'a file of evidence records waiting to go into an evidence log'],
  ['other-state/drills/*.json', "a drill's journal of the scratch targets it made"],
  ['shares/share-01-a.html', "an escrow share's sheet"],
  ['shares/manifest.json', 'a share manifest'],
  ['stale.lock', 'a lock file'],
  ['repo/files/config/*.tar.age', 'an age-encrypted file (a backup or an encrypted share?)'],
  ['repo/files/config/*.manifest.json', 'a backup manifest'],
];

const resolveGlob = (p: string) => {
  if (!p.includes('*')) return p;
  const folder = p.slice(0, p.lastIndexOf('/'));
  const suffix = p.slice(p.lastIndexOf('*') + 1);
  return `${folder}/${readdirSync(join(dir, folder)).find((f) => f.endsWith(suffix) && !(suffix === '.tar.age' && f.endsWith('.json')))!}`;
};

/** Every output option: the command line with its target, and the kind of output it writes. */
const OUTPUTS: { args: (t: string) => string[]; kind: OutputKind }[] = [
  { args: (t) => ['get', 'a', '--out', t, '--force'], kind: 'secret' },
  { args: (t) => ['export', 'env', '--out', t, '--force'], kind: 'secret' },
  { args: (t) => ['k8s', 'export', 'a', '--secret', 's', '--plaintext', '-o', t, '--force'], kind: 'secret' },
  { args: (t) => ['k8s', 'export', 'a', '--secret', 's', '-o', t, '--force'], kind: 'k8s-bundle' },
  { args: (t) => ['backup', 'restore', backupRef, '-o', t, '--force', '-r', 'repo'], kind: 'data' },
  { args: (t) => ['kit', '--out', t, '--force'], kind: 'kit' },
  { args: (t) => ['k8s', 'plan', '-o', t, '--force'], kind: 'restore-plan' },
  { args: (t) => ['status', '--prometheus', t], kind: 'metrics' },
  { args: (t) => ['verify', '--prometheus', t], kind: 'metrics' },
  { args: (t) => ['verify', '--report', t], kind: 'report' },
  { args: (t) => ['drill', '--plan', 'drill.yaml', '--dry-run', '--report', t], kind: 'report' },
  { args: (t) => ['drill', '--plan', 'drill.yaml', '--dry-run', '--html', t], kind: 'html-report' },
  { args: (t) => ['drill', '--plan', 'drill.yaml', '--dry-run', '--write-key', t], kind: 'key' },
  { args: (t) => ['drill', 'init', '-o', t, '--force'], kind: 'drill-plan' },
  { args: (t) => ['escrow', 'combine', ...shares, '-o', t, '--force', '--skip-vault-check'], kind: 'key' },
];

const snapshot = (p: string) => {
  const st = statSync(join(dir, p));
  return { bytes: readFileSync(join(dir, p)), mode: st.mode & 0o777 };
};
const logSize = () => statSync(join(dir, 'secrets.vault.evidence.jsonl')).size;

describe('an output replaces only a file of its own kind, and never a file the tool guards', () => {
  it('the table covers every kind of output', () => {
    expect(new Set(OUTPUTS.map((o) => o.kind))).toEqual(new Set(Object.keys(OUTPUT_RULES)));
  });

  for (const o of OUTPUTS) {
    const name = o.args('T').join(' ');
    it(`${name}: every guarded file is refused (exit 10) before the run, and left as it was`, async () => {
      for (const [glob, what] of GUARDED) {
        const target = resolveGlob(glob);
        // A recovered key replaces a key file: that is its own kind (checked below).
        if (o.kind === 'key' && (what.includes('key file') || what === 'a key file') && name.startsWith('escrow')) continue;
        if (o.kind === 'k8s-bundle' && what === 'a Kubernetes export bundle') continue;
        const before = snapshot(target);
        const log = logSize();
        const r = await cli(dir, o.args(join(dir, target)));
        expect(r.code, `${name} → ${target}: ${r.stderr}`).toBe(10);
        if (!(o.kind === 'key' && name.startsWith('drill'))) {
          expect(r.stderr, `${name} → ${target}`).toBe(
            `vault-tool: error: refusing to replace ${join(dir, target)}: it is ${what}\nvault-tool: hint: choose another output file\n`,
          );
        }
        const after = snapshot(target);
        expect(after.bytes.equals(before.bytes), `${name} changed ${target}`).toBe(true);
        expect(after.mode, `${name} changed the mode of ${target}`).toBe(before.mode);
        expect(logSize(), `${name} → ${target} ran and recorded evidence`).toBe(log);
      }
    });
  }

  it('outputs of a recognizable kind replace a file of that kind, and refuse an unrelated file', async () => {
    for (const o of OUTPUTS) {
      const name = o.args('T').join(' ');
      const own = join(dir, `own-${o.kind}-${OUTPUTS.indexOf(o)}`);
      rmSync(own, { force: true });
      if (o.kind === 'key' && name.startsWith('drill')) {
        // The drill writes a recovered key only to a new file.
        copyFileSync(join(dir, 'vault.key'), own);
        const r = await cli(dir, o.args(own));
        expect(r.code, r.stderr).toBe(10);
        expect(r.stderr).toContain('already exists; refusing to overwrite it');
        continue;
      }
      const first = await cli(dir, o.args(own));
      expect(first.code, `${name} → new file: ${first.stderr}`).toBe(0);
      const again = await cli(dir, o.args(own));
      expect(again.code, `${name} → a file of its own kind: ${again.stderr}`).toBe(0);
      const rule = OUTPUT_RULES[o.kind];
      expect(statSync(own).mode & 0o777, name).toBe(rule.mode);
      const unrelated = join(dir, 'notes.txt');
      writeFileSync(unrelated, 'my notes\n');
      chmodSync(unrelated, 0o640);
      const r = await cli(dir, o.args(unrelated));
      if (rule.replaces === 'unguarded') {
        expect(r.code, `${name} → unrelated: ${r.stderr}`).toBe(0);
        expect(readFileSync(unrelated, 'utf8')).not.toBe('my notes\n');
      } else {
        expect(r.code, `${name} → unrelated: ${r.stderr}`).toBe(10);
        expect(r.stderr).toMatch(/^vault-tool: error: refusing to replace .*notes\.txt: it is not (a|an) [a-zA-Z ]+ vault-tool wrote\n/);
        expect(readFileSync(unrelated, 'utf8')).toBe('my notes\n');
        expect(statSync(unrelated).mode & 0o777).toBe(0o640);
      }
    }
  });

  it('no output makes a new file under a name the tool reads as its own (an evidence log, a waiting record, a lock)', async () => {
    for (const o of OUTPUTS) {
      const name = o.args('T').join(' ');
      for (const [file, what] of [
        ['new.evidence.jsonl', 'an evidence log'],
        ['vault.key.evidence-pending.jsonl', 'a file of evidence records waiting to go into an evidence log'],
        ['new.lock', 'a lock file'],
      ] as const) {
        const target = join(dir, 'by-name', file);
        mkdirSync(join(dir, 'by-name'), { recursive: true });
        const log = logSize();
        const r = await cli(dir, o.args(target));
        expect(r.code, `${name} → ${file}: ${r.stderr}`).toBe(10);
        expect(r.stderr, `${name} → ${file}`).toContain(`refusing to write ${target}: its name is that of ${what}, which vault-tool reads as its own`);
        expect(existsSync(target), `${name} made ${file}`).toBe(false);
        expect(logSize(), `${name} → ${file} ran and recorded evidence`).toBe(log);
      }
    }
  });

  it('without --force, an output that needs it replaces nothing', async () => {
    writeFileSync(join(dir, 'exists.txt'), 'x\n');
    for (const o of OUTPUTS.filter((x) => !OUTPUT_RULES[x.kind].routine)) {
      const args = o.args(join(dir, 'exists.txt')).filter((a) => a !== '--force');
      const r = await cli(dir, args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(10);
      expect(readFileSync(join(dir, 'exists.txt'), 'utf8')).toBe('x\n');
    }
  });

  it('reports and metrics into a folder that does not exist yet are made; a path through a file is refused before the run', async () => {
    const r = await cli(dir, ['verify', '--report-dir', 'reports/q1']);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(join(dir, 'reports/q1'))).toHaveLength(1);
    const log = logSize();
    const bad = await cli(dir, ['verify', '--report', 'f/report.md']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`cannot write ${join(dir, 'f/report.md')}: ${join(dir, 'f')} is not a folder`);
    expect(logSize()).toBe(log);
    expect(existsSync(join(dir, 'f'))).toBe(true);
  });
});
