import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, cli, tempDir } from '../helpers/cli.js';

/**
 * The library as others get it: `npm pack`, installed into a new project,
 * type-checked against the shipped declarations and run. The consumer
 * encrypts to an `age1…` recipient, opens a vault read-only and lists its
 * entries, through the public entry points only.
 */
let dir: string;
let cleanup: () => void;
beforeAll(() => ({ dir, cleanup } = tempDir('vt-pack-')));
afterAll(() => cleanup());

const CONSUMER = `
import { readVault, listEntries, VaultError } from 'vault-tool';
import { encrypt, decrypt, encryptBulk, decryptBulk, encryptStream, X25519Identity, type BulkResult } from 'vault-tool/age';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { combineShares } from 'vault-tool/escrow';
import { parsePlan } from 'vault-tool/k8s';

const { identity, encoded } = X25519Identity.generate();
const box: Uint8Array = encrypt(new TextEncoder().encode('hello'), { recipients: [identity.recipient] });
const back = decrypt(box, { identities: [encoded] }).plaintext.toString();
const [vaultFile, keyFile] = process.argv.slice(2) as [string, string];
const { doc } = await readVault({ vaultFile, keyFile });
const names: string[] = listEntries(doc).map((e) => \`\${e.name}:\${e.type}\`);
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
console.log(JSON.stringify({ back, names, refused, combine: typeof combineShares, plan: typeof parsePlan, bulk }));
`;

let tarball = '';
let app = '';
const VERSION = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;

describe('the packed library, installed into a new project', () => {
  it('type-checks against the shipped declarations and runs: age1 recipients, read-only open, list', async () => {
    const vault = join(dir, 'vault');
    mkdirSync(vault);
    expect((await cli(vault, ['init'])).code).toBe(0);
    expect((await cli(vault, ['add', 'platform/kek', '-t', 'kek', '--generate'])).code).toBe(0);
    execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], { cwd: ROOT, stdio: 'ignore' });
    tarball = join(dir, readdirSync(dir).find((f) => f.endsWith('.tgz'))!);
    app = join(dir, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    execFileSync('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', tarball], { cwd: app, stdio: 'ignore' });
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
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', app], { cwd: app, encoding: 'utf8' });
    const out = execFileSync(process.execPath, [join(app, 'out/consumer.js'), join(vault, 'secrets.vault'), join(vault, 'vault.key')], {
      cwd: app,
      encoding: 'utf8',
    });
    expect(JSON.parse(out)).toEqual({
      back: 'hello',
      names: ['platform/kek:kek'],
      refused: 'usage',
      combine: 'function',
      plan: 'function',
      bulk: { same: true, size: 1_500_000, piped: 'piped' },
    });
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
