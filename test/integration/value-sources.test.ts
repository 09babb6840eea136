import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: plain JavaScript helper shared with the benchmarks
import { startKubeApi } from '../helpers/kube-api-server.mjs';
import { cli, tempDir, type CliOptions, type CliResult } from '../helpers/cli.js';

/**
 * One rule for a value read from a source (docs/FORMAT.md, "Entry types"):
 * every path that stores a value (add from a file, stdin or a variable,
 * import env, k8s import) and every path that compares one with the vault
 * (drift by file, variable, dotenv and Secret; canaries made from each;
 * fingerprint --compare) reads the same awkward bytes as the same value.
 */
let dir: string;
let cleanup: () => void;
let srv: { close(): Promise<void>; kubeconfig(o?: object): string; state: { put(o: unknown): void } };
const KEK = Buffer.alloc(32, 7).toString('base64');
const PW = 'correct horse battery staple';

/** Each awkward value, its type, and what the vault should hold after reading it (null: every path refuses it, or it differs). */
const CASES: { name: string; type: string; raw: string; stored: string | null }[] = [
  { name: 'kek-lf', type: 'kek', raw: `${KEK}\n`, stored: KEK },
  { name: 'kek-crlf', type: 'kek', raw: `${KEK}\r\n`, stored: KEK },
  { name: 'kek-bare', type: 'kek', raw: KEK, stored: KEK },
  { name: 'kek-two-lf', type: 'kek', raw: `${KEK}\n\n`, stored: null },
  { name: 'kek-space', type: 'kek', raw: `${KEK} `, stored: null },
  { name: 'pw-lf', type: 'password', raw: `${PW}\n`, stored: PW },
  { name: 'pw-trailing-space', type: 'password', raw: `${PW} `, stored: `${PW} ` },
  { name: 'generic-lf', type: 'generic', raw: 'line one\nline two\n', stored: 'line one\nline two\n' },
];
/** What the vault holds for a case whose bytes are refused: the clean value, against which every compare must say "differs". */
const held = (c: (typeof CASES)[number]) => c.stored ?? (c.type === 'kek' ? KEK : PW);

const vt = (args: string[], opts: CliOptions = {}): Promise<CliResult> => cli(dir, ['--json', ...args], opts);
const dotenvQuote = (v: string) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\r/g, '\\r')}"`;

beforeAll(async () => {
  ({ dir, cleanup } = tempDir('vt-sources-'));
  srv = await startKubeApi({ namespaces: ['default', 'apps'] });
  writeFileSync(join(dir, 'kubeconfig'), srv.kubeconfig({ context: 'prod' }));
  expect((await vt(['init'])).code).toBe(0);
  for (const c of CASES) {
    writeFileSync(join(dir, `${c.name}.value`), c.raw);
    writeFileSync(join(dir, `${c.name}.env`), `VALUE=${dotenvQuote(c.raw)}\n`);
    srv.state.put({ metadata: { name: c.name, namespace: 'apps' }, data: { VALUE: Buffer.from(c.raw).toString('base64') } });
  }
});
afterAll(async () => {
  await srv.close();
  cleanup();
});

describe.each(CASES)('$name', (c) => {
  const fp = async (entry: string) => JSON.parse((await vt(['list'])).stdout).entries.find((e: { name: string }) => e.name === entry)?.fingerprint;

  it('every path that stores it stores the same bytes, or every one refuses it', async () => {
    const stores: [string, CliResult][] = [
      [`${c.name}/file`, await vt(['add', `${c.name}/file`, '-t', c.type, '--from-file', `${c.name}.value`])],
      [`${c.name}/stdin`, await vt(['add', `${c.name}/stdin`, '-t', c.type, '--from-stdin'], { stdin: c.raw })],
      [`${c.name}/env`, await vt(['add', `${c.name}/env`, '-t', c.type, '--from-env', 'V'], { env: { V: c.raw } })],
      [`${c.name}/dotenv`, await vt(['import', 'env', `${c.name}.env`, '--map', `VALUE=${c.name}/dotenv:${c.type}`])],
      [
        `${c.name}/k8s`,
        await vt(['k8s', 'import', c.name, '-n', 'apps', '--kubeconfig', 'kubeconfig', '--only-mapped', '--map', `VALUE=${c.name}/k8s:${c.type}`]),
      ],
    ];
    if (c.stored === null) {
      for (const [name, r] of stores) expect(r.code, `${name}: ${r.stdout}`).toBe(11);
      return;
    }
    for (const [name, r] of stores) expect(r.code, `${name}: ${r.stderr}`).toBe(0);
    const fps = new Set(await Promise.all(stores.map(([name]) => fp(name))));
    expect(fps.size).toBe(1);
    const got = await cli(dir, ['get', `${c.name}/file`]);
    expect(got.stdout).toBe(c.stored);
  });

  it('every path that compares it with the vault agrees', async () => {
    const entry = `${c.name}/held`;
    writeFileSync(join(dir, `${c.name}.held`), held(c));
    expect((await vt(['add', entry, '-t', c.type, '--from-file', `${c.name}.held`])).code).toBe(0);
    const same = c.stored !== null;
    const drift = await vt(
      [
        'verify',
        '--kubeconfig',
        'kubeconfig',
        '--against',
        `file:${c.name}.value=${entry}`,
        '--against',
        `envvar:V=${entry}`,
        '--against',
        `env:${c.name}.env#VALUE=${entry}`,
        '--against',
        `k8s:apps/${c.name}#VALUE=${entry}`,
      ],
      { env: { V: c.raw } },
    );
    expect(JSON.parse(drift.stdout).drift.map((d: { status: string }) => d.status)).toEqual(Array(4).fill(same ? 'match' : 'never-escrowed'));
    const compare = await vt(['fingerprint', entry, '--compare', `${c.name}.value`]);
    expect(JSON.parse(compare.stdout).match).toBe(same);
    const canaries = [];
    for (const source of [`file:${c.name}.value`, 'envvar:V', `env:${c.name}.env#VALUE`, `k8s:apps/${c.name}#VALUE`]) {
      const r = await vt(['canary', 'create', entry, '--with', source, '--kubeconfig', 'kubeconfig'], { env: { V: c.raw } });
      expect(r.code, r.stderr).toBe(0);
      canaries.push(JSON.parse(r.stdout).status);
    }
    expect(canaries).toEqual(Array(4).fill(same ? 'opens' : 'fails'));
  });
});
