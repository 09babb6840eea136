import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, cli, tempDir } from '../helpers/cli.js';

/**
 * The library as others get it: `npm pack`, installed into a new project,
 * type-checked against the shipped declarations and run. The consumer,
 * through the public entry points only, encrypts to an `age1…` recipient,
 * updates a vault and lists its entries, backs up a folder, verifies the
 * backup by reading it in full and restores it, runs the verification and a
 * drill from shares to checked data; and finds no internal that skips a
 * check among the exports.
 */
let dir: string;
let cleanup: () => void;
let tarball = '';
let app = '';
// The package packed and installed into a new project, once for the tests below.
beforeAll(() => {
  ({ dir, cleanup } = tempDir('vt-pack-'));
  execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], { cwd: ROOT, stdio: 'ignore' });
  tarball = join(dir, readdirSync(dir).find((f) => f.endsWith('.tgz'))!);
  app = join(dir, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  execFileSync('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', tarball], { cwd: app, stdio: 'ignore' });
}, 120_000);
afterAll(() => cleanup());

const CONSUMER = `
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { closeSync, openSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { readVault, updateVault, changed, putEntry, listEntries, readSection, VaultError, type VaultPaths } from 'vault-tool';
import { encrypt, decrypt, encryptBulk, decryptBulk, encryptStream, X25519Identity, type BulkResult } from 'vault-tool/age';
import { combineShares, parseShareFile } from 'vault-tool/escrow';
import { parsePlan } from 'vault-tool/k8s';
import * as backup from 'vault-tool/backup';
import * as verify from 'vault-tool/verify';
import * as drill from 'vault-tool/drill';

const { identity, encoded } = X25519Identity.generate();
const box: Uint8Array = encrypt(new TextEncoder().encode('hello'), { recipients: [identity.recipient] });
const back = decrypt(box, { identities: [encoded] }).plaintext.toString();
const [vaultFile, keyFile, work] = process.argv.slice(2) as [string, string, string];
const paths: VaultPaths = { vaultFile, keyFile };
const env = process.env;
const now = () => new Date();
let refused = '';
try {
  encrypt(new Uint8Array(1), { recipients: [] });
} catch (e) {
  if (e instanceof VaultError) refused = e.kind;
}
// In bulk: a file by descriptor through encryptBulk, back through decryptBulk; a Duplex in a pipeline.
writeFileSync('plain', 'bulk '.repeat(300_000));
const [pin, sealed] = [openSync('plain', 'r'), openSync('sealed.age', 'w')];
const sent: BulkResult = await encryptBulk(pin, sealed, { recipients: [identity.recipient], sha256: { plaintext: true } });
closeSync(pin);
closeSync(sealed);
const [cin, out] = [openSync('sealed.age', 'r'), openSync('back', 'w')];
const got = await decryptBulk(cin, out, { identities: [encoded], sha256: { plaintext: true } });
closeSync(cin);
closeSync(out);
await pipeline(Readable.from([Buffer.from('piped')]), encryptStream({ recipients: [identity.recipient] }), async function* (s) {
  for await (const c of s) writeFileSync('piped.age', c, { flag: 'a' });
});
const bulk = {
  same: got.plaintext.sha256 === sent.plaintext.sha256 && readFileSync('back', 'utf8') === readFileSync('plain', 'utf8'),
  size: got.plaintext.size,
  piped: decrypt(readFileSync('piped.age'), { identities: [encoded] }).plaintext.toString(),
};

// Open and update the vault: the change is recorded in its evidence log.
await updateVault(paths, {}, (doc) => {
  putEntry(doc, { name: 'app/api-token', type: 'password', now: now() });
  return changed(undefined);
});
const names: string[] = listEntries((await readVault(paths)).doc).map((e) => \`\${e.name}:\${e.type}\`);

// Back up a folder, verify the backup by reading it in full, restore it.
const repo: backup.Repo = { dest: backup.parseDestination(join(work, 'repo'), work, { env }) };
const key = await backup.ensureBackupKey(paths, {}, now());
const signing: backup.SigningKey = backup.loadSigningKey(join(work, 'signing.key'));
const files = backup.files;
const component: backup.Component = await files.dump({ base: join(work, 'data'), paths: ['notes.txt'], name: 'notes' }, env);
const made: backup.BackupManifest = await backup.backupComponent(
  { repo, signing, recipient: { recipient: key.recipient, keyId: key.keyId }, env, now, vault: { paths, store: {} } },
  component,
);
const { doc } = await readVault(paths);
const [listed] = await backup.listRepo(repo);
const check: backup.BackupCheck = await backup.verifyBackup(repo, listed!, doc, { readData: true, env });
const target = backup.restoreTarget(files, { dir: join(work, 'restored'), force: false, sameOwner: false }, made.file);
const restorePlan: backup.RestorePlan = await backup.planRestore(made, backup.restorableKey(doc, made, made.file), target, env);
const into = await backup.executeRestore(repo, restorePlan, env);
const restored = readFileSync(join(work, 'restored', 'notes.txt'), 'utf8');
const decisions = backup.decideRetention([listed!], { last: 1 }, now(), key.keyId);

// The quarterly verification, backups included: read only.
const result: verify.VerifyResult = await verify.runVerification({
  paths,
  store: {},
  plan: verify.parseVerificationPlan('apiVersion: vault-tool/v1\\nkind: VerificationPlan\\n', 'plan.yaml', work),
  dest: { env },
  sources: { env },
  backups: async (d) => (await verify.checkBackups(repo, d, { readData: true, env, now: now() })).findings,
  operator: 'consumer',
  now: now(),
});

// The drill: shares to checked data, in a scratch folder it makes and removes.
const shareFiles = readdirSync(join(work, 'shares')).filter((f) => f.endsWith('.share')).slice(0, 2);
const shares = shareFiles.map((f) => parseShareFile(readFileSync(join(work, 'shares', f), 'utf8'), f));
const planText = [
  'apiVersion: vault-tool/v1',
  'kind: DrillPlan',
  'rto: 1h',
  \`shares: { files: [\${shareFiles.map((f) => 'shares/' + f).join(', ')}] }\`,
  'backups: { repo: repo, restore: [{ component: files/notes, dir: scratch/notes }] }',
  'checks:',
  '  - { files: [notes.txt], dir: scratch/notes }',
  '  - { entries: [app/api-token] }',
  '',
].join('\\n');
const plan: drill.DrillPlan = drill.parseDrillPlan(planText, join(work, 'drill.yaml'), work);
const { result: drilled } = await drill.runDrill({
  paths,
  store: {},
  plan,
  planInfo: { path: join(work, 'drill.yaml'), sha256: '' },
  shares,
  cluster: { env, requestTimeoutMs: 30_000 },
  env,
  stateFile: join(work, 'state', 'seen.json'),
  keep: false,
  dryRun: false,
  operator: 'consumer',
  now,
  clock: () => performance.now(),
});

const exported = async (m: string) => Object.keys(await import(m)).sort();
console.log(
  JSON.stringify({
    back,
    names,
    refused,
    combine: typeof combineShares,
    plan: typeof parsePlan,
    bulk,
    backup: { component: made.component, check: check.verdict, into, restored, keep: decisions.map((d) => d.keep) },
    verify: { verdict: result.verdict, backups: result.backups.map((b) => b.verdict), escrow: result.escrow?.status },
    drill: { ok: drilled.ok, steps: drilled.steps.filter((s) => !s.ok).map((s) => s.name), left: readdirSync(work).includes('scratch') ? readdirSync(join(work, 'scratch')) : [] },
    sections: Object.keys(readSection(doc, 'backup')),
    exports: {
      index: await exported('vault-tool'),
      escrow: await exported('vault-tool/escrow'),
      k8s: await exported('vault-tool/k8s'),
      backup: await exported('vault-tool/backup'),
      verify: await exported('vault-tool/verify'),
      drill: await exported('vault-tool/drill'),
    },
  }),
);
`;

const VERSION = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;

describe('the packed library, installed into a new project', () => {
  it('type-checks against the shipped declarations and runs: age, a vault update, a backup verified and restored, a verification, a drill', async () => {
    const vault = join(dir, 'vault');
    mkdirSync(vault);
    expect((await cli(vault, ['init'])).code).toBe(0);
    expect((await cli(vault, ['add', 'platform/kek', '-t', 'kek', '--generate'])).code).toBe(0);
    expect((await cli(vault, ['escrow', 'split', '-k', '2', '-c', 'alice', '-c', 'bob', '-c', 'carol', '-o', 'shares'])).code).toBe(0);
    mkdirSync(join(vault, 'data'));
    writeFileSync(join(vault, 'data/notes.txt'), 'kept\n');
    writeFileSync(join(app, 'consumer.ts'), CONSUMER);
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          skipLibCheck: false,
          types: ['node'],
          typeRoots: [join(ROOT, 'node_modules/@types')],
          outDir: 'out',
        },
        files: ['consumer.ts'],
      }),
    );
    const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', app], { cwd: app, encoding: 'utf8' });
    expect(tsc.status, `tsc of the consumer:\n${tsc.stdout}${tsc.stderr}`).toBe(0);
    const out = execFileSync(process.execPath, [join(app, 'out/consumer.js'), join(vault, 'secrets.vault'), join(vault, 'vault.key'), vault], {
      cwd: app,
      encoding: 'utf8',
      env: { ...process.env, VAULT_TOOL_STATE_DIR: join(vault, 'state') },
    });
    const got = JSON.parse(out);
    const { exports, ...rest } = got;
    expect(rest).toEqual({
      back: 'hello',
      names: ['app/api-token:password', 'platform/kek:kek'],
      refused: 'usage',
      combine: 'function',
      plan: 'function',
      bulk: { same: true, size: 1_500_000, piped: 'piped' },
      backup: { component: 'files/notes', check: 'ok', into: `tar -x into ${join(vault, 'restored')}`, restored: 'kept\n', keep: [true] },
      verify: { verdict: 'ok', backups: ['ok'], escrow: 'current' },
      drill: { ok: true, steps: [], left: [] },
      sections: ['signers', 'keysInUse'],
    });
    // The jobs a program runs, each entry point with them...
    expect(exports.index).toEqual(expect.arrayContaining(['readVault', 'updateVault', 'initVault', 'putEntry', 'readSection', 'verifyEvidence']));
    expect(exports.backup).toEqual(
      expect.arrayContaining([
        'backupComponent',
        'verifyBackup',
        'auditBackups',
        'restorableKey',
        'planRestore',
        'executeRestore',
        'planPrune',
        'executePrune',
        'KINDS',
        'decideRetention',
        'backupStatus',
        'archiveStatus',
      ]),
    );
    expect(exports.verify).toEqual(expect.arrayContaining(['runVerification', 'checkBackups', 'parseVerificationPlan', 'vaultStatus']));
    expect(exports.drill).toEqual(expect.arrayContaining(['runDrill', 'parseDrillPlan', 'teardownDrills', 'drillPlanFromVault']));
    expect(exports.k8s).toEqual(expect.arrayContaining(['restoreFromPlan', 'compareFromPlan', 'importSecrets']));
    // ...and nothing that skips a check: evidence staged outside an update, key scalars, a restore around
    // its policy, a vault opened around its key-file and rollback checks, a verdict or a run recorded from a caller's result.
    const all = Object.values(exports).flat();
    for (const internal of [
      'recordEvidence',
      'keyScalar',
      'keyFromScalar',
      'restore',
      'openVault',
      'recordVerification',
      'recordDrill',
      'recordVerdict',
      'editSection',
    ])
      expect(all, internal).not.toContain(internal);
    // The installed package ships the recovery kit, and its command finds it there.
    const kit = JSON.parse(
      execFileSync(process.execPath, [join(app, 'node_modules/vault-tool/bin/vault-tool.js'), '--json', 'kit', '--out', join(app, 'kit.html')], {
        cwd: app,
        encoding: 'utf8',
      }),
    );
    expect(kit.sha256).toBe(
      createHash('sha256')
        .update(readFileSync(join(ROOT, 'dist/recovery-kit.html')))
        .digest('hex'),
    );
    expect(readFileSync(join(app, 'kit.html')).equals(readFileSync(join(ROOT, 'dist/recovery-kit.html')))).toBe(true);
  }, 120_000);

  it('puts vault-tool on PATH: npx inside the project, npm install -g; --version and -V print the package version', () => {
    const run = (cmd: string, args: string[], env: Record<string, string> = {}) =>
      execFileSync(cmd, args, { cwd: app, encoding: 'utf8', env: { ...process.env, ...env } }).trim();
    // The built binary of this tree.
    expect(run(process.execPath, [join(ROOT, 'bin/vault-tool.js'), '--version'])).toBe(VERSION);
    expect(run(process.execPath, [join(ROOT, 'bin/vault-tool.js'), '-V'])).toBe(VERSION);
    // Installed as a dependency: node_modules/.bin, which npx and npm scripts put on PATH.
    expect(run('npx', ['--no-install', 'vault-tool', '--version'])).toBe(VERSION);
    // Installed globally (npm install -g, here into a prefix of its own): a command on PATH.
    const prefix = join(dir, 'global');
    execFileSync('npm', ['install', '-g', '--prefix', prefix, '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', tarball], { stdio: 'ignore' });
    const path = `${join(prefix, 'bin')}:${process.env.PATH}`;
    expect(run('sh', ['-c', 'command -v vault-tool'], { PATH: path })).toBe(join(prefix, 'bin/vault-tool'));
    expect(run('vault-tool', ['-V'], { PATH: path })).toBe(VERSION);
  }, 120_000);
});
