import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, cli, haveBinary, tempDir } from '../helpers/cli.js';
import { mountTmpfs, skipUnless } from '../helpers/require.js';

/**
 * Bad input gets one classified error line with a documented exit code, and
 * loses nothing: never "unexpected (a bug)". Each row: the command, the exit
 * code, and the exact first error line (`DIR` stands for the test folder).
 */
let dir: string;
let cleanup: () => void;
const shareOf = (sub: string, who: string) => join(dir, sub, readdirSync(join(dir, sub)).find((f) => f.includes(`-${who}.share`))!);

beforeAll(async () => {
  ({ dir, cleanup } = tempDir());
  expect((await cli(dir, ['init'])).code).toBe(0);
  expect((await cli(dir, ['add', 'k', '-t', 'kek', '--generate'])).code).toBe(0);
  expect((await cli(dir, ['escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-o', 's'])).code).toBe(0);
  mkdirSync(join(dir, 'a-folder'));
  writeFileSync(join(dir, 'a-file'), 'x');
  writeFileSync(join(dir, 'bad.json'), '{ not json');
  writeFileSync(
    join(dir, 'shapeless.json'),
    JSON.stringify({
      format: 'vault-tool/share-manifest',
      version: 1,
      setId: '0123456789abcdef',
      keyId: '0123456789abcdef',
      epoch: 1,
      threshold: 2,
      count: 2,
      createdAt: 'x',
      publicKey: '0'.repeat(64),
      signature: '0'.repeat(128),
      custodians: 'nobody',
    }),
  );
  writeFileSync(join(dir, 'policy.yaml'), 'apiVersion: vault-tool/v1\nkind: RestorePolicy\nprotectedContexts: [prod]\ndays: mon\n');
  writeFileSync(
    join(dir, 'bomb.yaml'),
    'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n',
  );
  writeFileSync(join(dir, 'huge.b64'), Buffer.alloc(10_000_000, 'A'));
  writeFileSync(join(dir, 'two-mib.b64'), Buffer.alloc(2 << 20, 'A'));
  writeFileSync(join(dir, 'kubeconfig-huge'), Buffer.alloc((16 << 20) + 1, '#'));
});
afterAll(() => cleanup());

type Row = [what: string, args: string[], code: number, message: string, opts?: { stdin?: Buffer; env?: Record<string, string> }];

const rows = (): Row[] => [
  ['--out into a missing folder', ['get', 'k', '--out', 'nope/k.bin'], 5, 'cannot write DIR/nope/k.bin: folder DIR/nope does not exist'],
  ['--out onto a folder', ['get', 'k', '--out', 'a-folder'], 2, 'cannot write DIR/a-folder: it is a folder'],
  ['--out under a file', ['get', 'k', '-o', 'a-file/sub'], 2, 'cannot write DIR/a-file/sub: DIR/a-file is not a folder'],
  ['export --out under a file', ['export', 'env', '-o', 'a-file/sub'], 2, 'cannot write DIR/a-file/sub: DIR/a-file is not a folder'],
  ['k8s plan --out onto a folder', ['k8s', 'plan', '-o', 'a-folder'], 2, 'cannot write DIR/a-folder: it is a folder'],
  ['escrow split --out a file', ['escrow', 'split', '-k', '2', '-c', 'x', '-c', 'y', '-o', 'a-file'], 2, 'share folder DIR/a-file is not a folder'],
  [
    'escrow split --out under a file',
    ['escrow', 'split', '-k', '2', '-c', 'x', '-c', 'y', '-o', 'a-file/s'],
    2,
    'share folder DIR/a-file/s: DIR/a-file is not a folder',
  ],
  [
    'escrow split --out in /proc',
    ['escrow', 'split', '-k', '2', '-c', 'x', '-c', 'y', '-o', '/proc/x'],
    1,
    'cannot create folder /proc/x: the file system does not allow it',
  ],
  [
    'init into a missing folder',
    ['init', '--vault-file', 'missing/dir/s.vault', '--key-file', 'new.key'],
    5,
    'cannot write DIR/missing/dir/s.vault: folder DIR/missing/dir does not exist',
  ],
  [
    'escrow check with a manifest that is not JSON',
    ['escrow', 'check', 'SHARE_A', '-m', 'bad.json'],
    7,
    'DIR/bad.json is not a vault-tool share manifest (not valid JSON)',
  ],
  [
    'escrow combine -m with a manifest that is not JSON',
    ['escrow', 'combine', 'SHARE_A', 'SHARE_B', '-o', 'k.out', '-m', 'bad.json'],
    7,
    'DIR/bad.json is not a vault-tool share manifest (not valid JSON)',
  ],
  [
    'a manifest of the wrong shape',
    ['escrow', 'check', 'SHARE_A', '-m', 'shapeless.json'],
    7,
    'DIR/shapeless.json is not a valid share manifest: custodians must list index, label and shareHash',
  ],
  ['a manifest that is a folder', ['escrow', 'check', 'SHARE_A', '-m', 'a-folder'], 2, 'the manifest is a folder: DIR/a-folder'],
  [
    'a policy with days: mon',
    ['k8s', 'restore', '--plan', 'plan.yaml', '--policy', 'policy.yaml', '--kubeconfig', 'kubeconfig'],
    11,
    'DIR/policy.yaml: days: expected a list',
  ],
  ['a YAML alias bomb', ['k8s', 'import', '-f', 'bomb.yaml'], 11, 'bomb.yaml: YAML document 1: Excessive alias count indicates a resource exhaustion attack'],
  [
    'a 10 MB hmac-key file',
    ['add', 'h', '-t', 'hmac-key', '--from-file', 'huge.b64'],
    11,
    'the value DIR/huge.b64 is larger than 4 MiB, the most vault-tool reads for it',
  ],
  [
    'a 2 MiB hmac-key value',
    ['add', 'h', '-t', 'hmac-key', '--from-file', 'two-mib.b64'],
    11,
    'value refused: 2097152 bytes; values are limited to 1 MiB (1048576 bytes, the most a Kubernetes Secret can hold)',
  ],
  [
    'stdin over the limit',
    ['add', 's', '-t', 'generic', '--from-stdin'],
    11,
    'the value on standard input is larger than 4 MiB, the most vault-tool reads for it',
    { stdin: Buffer.alloc(70 << 20) },
  ],
  [
    'a dotenv file on stdin over the limit',
    ['import', 'env', '-'],
    11,
    'the dotenv file on standard input is larger than 16 MiB, the most vault-tool reads for it',
    { stdin: Buffer.alloc(17 << 20, 'A') },
  ],
  ['--vault-file /dev/zero', ['list', '--vault-file', '/dev/zero'], 11, 'vault file /dev/zero is larger than 256 MiB, the most vault-tool reads for it'],
  [
    '--passphrase-file /dev/zero',
    ['init', '--vault-file', 'p.vault', '--key-file', 'p.key', '--passphrase', '--passphrase-file', '/dev/zero'],
    11,
    'the passphrase /dev/zero is larger than 4 KiB, the most vault-tool reads for it',
  ],
  ['a share file that is /dev/zero', ['escrow', 'check', '/dev/zero'], 11, 'the share file /dev/zero is larger than 64 KiB, the most vault-tool reads for it'],
  ['a share file that does not exist', ['escrow', 'check', 'nope.share'], 5, 'share file not found: DIR/nope.share'],
  [
    'a kubeconfig over the limit',
    ['k8s', 'import', 'x', '--kubeconfig', 'kubeconfig-huge'],
    11,
    'kubeconfig DIR/kubeconfig-huge is larger than 16 MiB, the most vault-tool reads for it',
  ],
  ['a value file that is a folder', ['add', 'f', '-t', 'generic', '--from-file', 'a-folder'], 2, 'the value is a folder: DIR/a-folder'],
  [
    'the evidence log is a folder',
    ['evidence', 'verify', '--vault-file', 'ev/secrets.vault'],
    2,
    'evidence log is a folder: DIR/ev/secrets.vault.evidence.jsonl',
  ],
  [
    'an evidence line that is null',
    ['evidence', 'verify', '--vault-file', 'evnull/secrets.vault'],
    4,
    'evidence record 1 is malformed (not a vault-tool evidence record)',
  ],
  [
    'an evidence line with a non-hex MAC',
    ['evidence', 'verify', '--vault-file', 'evmac/secrets.vault'],
    4,
    'evidence record 1 has a malformed MAC: it was edited',
  ],
  ['an evidence log with a blank line', ['evidence', 'verify', '--vault-file', 'evblank/secrets.vault'], 4, 'evidence log line 1 is blank: the log was edited'],
];

describe('bad input: one classified line, a documented code, never "unexpected"', () => {
  beforeAll(async () => {
    writeFileSync(join(dir, 'plan.yaml'), 'apiVersion: vault-tool/v1\nkind: RestorePlan\nentries:\n  - entry: k\n    to: ns/s#KEY\n');
    writeFileSync(
      join(dir, 'kubeconfig'),
      'apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters: [{name: c, cluster: {server: "http://127.0.0.1:1"}}]\ncontexts: [{name: c, context: {cluster: c}}]\n',
    );
    // Vault copies whose evidence logs are broken in one way each.
    for (const [sub, log] of [
      ['ev', null],
      ['evnull', 'null\n'],
      ['evmac', 'MAC'],
      ['evblank', '\nREC\n'],
    ] as const) {
      mkdirSync(join(dir, sub));
      for (const f of ['secrets.vault', 'vault.key']) writeFileSync(join(dir, sub, f), readFileSync(join(dir, f)), { mode: 0o600 });
      const evidence = join(dir, sub, 'secrets.vault.evidence.jsonl');
      const first = readFileSync(join(dir, 'secrets.vault.evidence.jsonl'), 'utf8').split('\n')[0]!;
      if (log === null) mkdirSync(evidence);
      else writeFileSync(evidence, log === 'MAC' ? first.replace(/"mac":"[0-9a-f]+"/, '"mac":"not-hex"') + '\n' : log.replace('REC', first));
    }
  });

  for (const [what, args, code, message, opts] of rows()) {
    it(what, async () => {
      const a = args.map((x) => (x === 'SHARE_A' ? shareOf('s', 'a') : x === 'SHARE_B' ? shareOf('s', 'b') : x));
      const r = await cli(
        dir,
        ['--key-file', a.includes('--key-file') ? '' : 'vault.key', ...a].filter((x, i, all) => !(x === '--key-file' && all[i + 1] === '') && x !== ''),
        opts ?? {},
      );
      const first = r.stderr.split('\n').find((l) => l.startsWith('vault-tool: error: '));
      expect(first, r.stderr).toBe(`vault-tool: error: ${message.replaceAll('DIR', dir)}`);
      expect(r.code, r.stderr).toBe(code);
      expect(r.stderr).not.toContain('unexpected');
    });
  }

  it('nothing was left behind by the refused commands', () => {
    expect(existsSync(join(dir, 'new.key'))).toBe(false);
    expect(existsSync(join(dir, 'p.key'))).toBe(false);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(readdirSync('/proc').filter((f) => f.includes('.x.'))).toEqual([]);
  });

  it('escrow split -o /proc/x fails at once and holds no lock (it used to spin at 100% CPU, deaf to SIGTERM)', () => {
    const r = spawnSync(process.execPath, [BIN, 'escrow', 'split', '-k', '2', '-c', 'x', '-c', 'y', '-o', '/proc/x'], {
      cwd: dir,
      env: { PATH: process.env.PATH, HOME: dir, VAULT_TOOL_STATE_DIR: join(dir, '.state') },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.signal).toBe(null);
    expect(r.status).toBe(1);
    expect(existsSync(join(dir, 'secrets.vault.lock'))).toBe(false);
  });
});

describe('half-done work: everything is checked before the first write', () => {
  let d: string;
  beforeAll(async () => {
    d = join(dir, 'half');
    mkdirSync(d);
    await cli(d, ['init']);
    await cli(d, ['add', 'k', '-t', 'kek', '--generate']);
    writeFileSync(join(d, 'not-a-folder'), '');
  });
  const generation = async () => JSON.parse((await cli(d, ['list', '--json'])).stdout).vault.generation;

  it('reshare --rekey with a bad --out, or a ceremony declined, never starts the rekey', async () => {
    const before = await generation();
    const bad = await cli(d, ['escrow', 'reshare', '--rekey', '-k', '2', '-c', 'a', '-c', 'b', '-o', 'not-a-folder']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe(`vault-tool: error: share folder ${join(d, 'not-a-folder')} is not a folder\n`);
    const declined = await cli(d, ['escrow', 'reshare', '--rekey', '-k', '2', '-c', 'a', '-c', 'b', '-o', 'r1', '--ceremony'], { stdin: 'no\n' });
    expect(declined.code).toBe(2);
    expect(declined.stderr).toContain('ceremony cancelled: custodians not confirmed');
    expect(existsSync(join(d, 'vault.key.new'))).toBe(false);
    expect(existsSync(join(d, 'r1'))).toBe(false);
    expect(await generation()).toBe(before);
  });

  it('a split that hits a full disk leaves no share file and no manifest, and the vault unchanged', async (ctx) => {
    // A real full disk: a small tmpfs holding the vault, filled up to leave a few pages free.
    const mnt = join(dir, 'small-disk');
    mkdirSync(mnt);
    const { mounted, why } = mountTmpfs(mnt, 'size=256k,mode=0700');
    skipUnless(ctx, mounted, why);
    try {
      await cli(mnt, ['init']);
      await cli(mnt, ['add', 'k', '-t', 'kek', '--generate']);
      const gen = async () => JSON.parse((await cli(mnt, ['list', '--json'])).stdout).vault.generation;
      const before = await gen();
      for (const free of [4096, 16384, 28672]) {
        const fill = (await import('node:fs')).statfsSync(mnt);
        writeFileSync(join(mnt, 'filler'), Buffer.alloc(Math.max(0, fill.bavail * fill.bsize - free)));
        const r = await cli(mnt, ['escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-o', 'full']);
        expect(r.code, `${free} bytes free: ${r.stderr}`).toBe(1);
        expect(r.stderr).toMatch(/^vault-tool: error: cannot (write|create folder) .*: no space left on the device\n$/);
        expect(existsSync(join(mnt, 'full')), `${free} bytes free`).toBe(false);
        expect(readdirSync(mnt).filter((f) => f.startsWith('.full.') || f.endsWith('.tmp') || f.endsWith('.lock'))).toEqual([]);
        (await import('node:fs')).rmSync(join(mnt, 'filler'));
      }
      expect(await gen()).toBe(before);
      expect((await cli(mnt, ['escrow', 'status', '--json'])).stdout.trim()).toBe('null');
      expect((await cli(mnt, ['escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-o', 'full'])).code).toBe(0);
    } finally {
      spawnSync('umount', [mnt]);
    }
  });

  it('temp files a killed run left holding a key are swept by the next run', async () => {
    const secret = 'AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ\n';
    const dead = 2 ** 22 + 4321;
    for (const f of [
      `.vault.key.new.${dead}.0123abcd.tmp`,
      `.vault.key.${dead}.0123abcd.tmp`,
      `.out.bin.${dead}.0123abcd.tmp`,
      `.combined.key.${dead}.0123abcd.tmp`,
    ])
      writeFileSync(join(d, f), secret, { mode: 0o600 });
    expect((await cli(d, ['list'])).code).toBe(0);
    expect(readdirSync(d).filter((f) => f.includes('vault.key') && f.endsWith('.tmp'))).toEqual([]);
    expect((await cli(d, ['get', 'k', '-o', 'out.bin'])).code).toBe(0);
    expect(existsSync(join(d, `.out.bin.${dead}.0123abcd.tmp`))).toBe(false);
    await cli(d, ['escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-o', 'sw']);
    const shares = readdirSync(join(d, 'sw'))
      .filter((f) => f.endsWith('.share'))
      .map((f) => join(d, 'sw', f));
    expect((await cli(d, ['escrow', 'combine', ...shares, '-o', 'combined.key'])).code).toBe(0);
    expect(readdirSync(d).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});

describe('names and mappings from input', () => {
  let d: string;
  beforeAll(async () => {
    d = join(dir, 'names');
    mkdirSync(d);
    await cli(d, ['init']);
  });

  it('import env refuses two variables mapped to one entry, a KEY mapped twice, and a mapping that matches nothing', async () => {
    writeFileSync(join(d, 'app.env'), 'FOO=one-value-here\nfoo=another-value\n');
    const two = await cli(d, ['import', 'env', 'app.env', '--map', 'FOO=x', '--map', 'foo=x']);
    expect(two.code).toBe(2);
    expect(two.stderr).toBe('vault-tool: error: FOO and foo both map to entry x\nvault-tool: hint: give each variable its own entry with --map KEY=name\n');
    const twice = await cli(d, ['import', 'env', 'app.env', '--map', 'FOO=x', '--map', 'FOO=y']);
    expect(twice.stderr.split('\n')[0]).toBe('vault-tool: error: the mappings name FOO twice');
    const none = await cli(d, ['import', 'env', 'app.env', '--map', 'FOOO=x']);
    expect(none.code).toBe(2);
    expect(none.stderr.split('\n')[0]).toBe('vault-tool: error: mapping for FOOO: no such variable in app.env');
    expect(JSON.parse((await cli(d, ['list', '--json'])).stdout).entries).toEqual([]);
  });

  it('k8s import -f refuses Secret names, namespaces and keys Kubernetes would refuse, naming the rule', async () => {
    const cases: [string, string, string][] = [
      ['Bad/Name', 'ns', 'invalid Secret name "Bad/Name"'],
      ['good', 'NS_bad', 'invalid namespace "NS_bad"'],
      ['good', 'ns', 'invalid Secret key "a/b" in ns/good'],
    ];
    for (const [name, ns, msg] of cases) {
      writeFileSync(
        join(d, 's.yaml'),
        `apiVersion: v1\nkind: Secret\nmetadata: {name: "${name}", namespace: "${ns}"}\ndata: {${name === 'good' && ns === 'ns' ? '"a/b"' : 'ok'}: eA==}\n`,
      );
      const r = await cli(d, ['k8s', 'import', '-f', 's.yaml']);
      expect(r.code, msg).toBe(11);
      expect(r.stderr.split('\n')[0]).toBe(`vault-tool: error: s.yaml document 1: ${msg}`);
      expect(r.stderr).toMatch(/vault-tool: hint: (Secret names|namespaces|Secret keys) are /);
    }
  });

  it('--namespace-map that matches no namespace of the plan is refused (a typo would restore into the original one)', async () => {
    writeFileSync(join(d, 'plan.yaml'), 'apiVersion: vault-tool/v1\nkind: RestorePlan\nentries:\n  - entry: x\n    to: apps/s#KEY\n');
    const r = await cli(d, ['k8s', 'rbac', '--plan', 'plan.yaml', '--namespace-map', 'nomatch:x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      "vault-tool: error: the namespace mapping nomatch:x matches no namespace of the plan\nvault-tool: hint: the plan's namespaces: apps\n",
    );
  });

  it('__proto__ is an ordinary name: labels filter exactly, Secret keys and labels are kept, and a restore refuses what the client library would drop', async () => {
    await cli(d, ['add', 'e1', '-t', 'generic', '--generate', '-l', '__proto__=y']);
    await cli(d, ['add', 'e2', '-t', 'generic', '--generate']);
    const ls = async (label: string) => JSON.parse((await cli(d, ['list', '--json', '-l', label])).stdout).entries.map((e: { name: string }) => e.name);
    expect(await ls('__proto__=x')).toEqual([]);
    expect(await ls('__proto__=y')).toEqual(['e1']);
    writeFileSync(
      join(d, 'p.yaml'),
      'apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: apps\n  labels: {__proto__: v}\ndata:\n  __proto__: eA==\n  ok: eQ==\n',
    );
    expect((await cli(d, ['k8s', 'import', '-f', 'p.yaml'])).code).toBe(0);
    const hist = JSON.parse((await cli(d, ['history', 'k8s/apps/s/__proto__', '--json'])).stdout);
    expect(hist.versions).toHaveLength(1);
    expect((await cli(d, ['get', 'k8s/apps/s/__proto__'])).stdout).toBe('x');
    const yaml = (await cli(d, ['k8s', 'export', 'k8s/apps/s/__proto__', 'k8s/apps/s/ok', '--plaintext'])).stdout;
    expect(yaml).toContain('  __proto__: eA==\n');
    expect(yaml).toContain('    __proto__: v\n');
    await cli(d, ['k8s', 'plan', '-o', 'proto-plan.yaml']);
    const r = await cli(d, ['k8s', 'restore', '--plan', 'proto-plan.yaml', '--kubeconfig', join(dir, 'kubeconfig')]);
    expect(r.code).toBe(11);
    expect(r.stderr.split('\n')[0]).toBe(
      'vault-tool: error: Secret apps/s has a key named __proto__, which the Kubernetes client library drops without a word',
    );
  });
});

describe('small things that mattered', () => {
  let d: string;
  beforeAll(async () => {
    d = join(dir, 'small');
    mkdirSync(d);
    await cli(d, ['init']);
    await cli(d, ['add', 'k', '-t', 'kek', '--generate']);
  });
  const SECRET = 'AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX';

  it('an environment variable named for a value and not set: exit 2, and a hint naming the variable', async () => {
    for (const args of [
      ['add', 'from/env', '-t', 'generic', '--from-env', 'NO_SUCH_VALUE'],
      ['--passphrase-env', 'NO_SUCH_VALUE', 'init', '--vault-file', 'p.vault', '--key-file', 'p.key', '--passphrase'],
    ]) {
      const r = await cli(d, args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^vault-tool: error: environment variable NO_SUCH_VALUE \(for the (value|passphrase)\) is not set\n/);
      expect(r.stderr).toContain("vault-tool: hint: set NO_SUCH_VALUE in the command's environment");
    }
  });

  it('a path to a file outside any backup repository is refused as such (exit 2), never looked up as a name', async () => {
    mkdirSync(join(d, 'loose'), { recursive: true });
    writeFileSync(join(d, 'loose/20261201T000000Z-0000beef.tar.age'), 'age-encryption.org/v1\n');
    for (const cmd of ['verify', 'restore', 'list']) {
      const r = await cli(d, ['backup', cmd, 'loose/20261201T000000Z-0000beef.tar.age', '-r', 'repo', ...(cmd === 'restore' ? ['-o', 'out.bin'] : [])]);
      expect(r.code, cmd).toBe(2);
      expect(r.stderr).toContain('vault-tool: error: loose/20261201T000000Z-0000beef.tar.age is not in a backup repository: a backup is REPO/KIND/NAME/FILE');
    }
  });

  it('a secret key given where a recipient belongs is never echoed', async () => {
    for (const args of [
      ['recipients', 'add', SECRET],
      ['escrow', 'split', '-k', '2', '-c', `a=${SECRET}`, '-c', 'b', '-o', 'x'],
      ['k8s', 'export', 'k', '--secret', 's', '-r', SECRET, '-o', 'b.age'],
    ]) {
      const r = await cli(d, args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toContain('that is a secret key (AGE-SECRET-KEY-1…), not a recipient: give its public recipient (age1…)');
      expect(r.stderr).toContain('treat it as exposed');
      expect(r.stderr.toUpperCase()).not.toContain(SECRET.slice(16, 40));
    }
    const typo = await cli(d, ['recipients', 'add', 'age1qqqq-some-secret-looking-typo']);
    expect(typo.stderr).toBe(
      'vault-tool: error: invalid age recipient (33 characters)\nvault-tool: hint: an X25519 recipient looks like age1… (62 characters)\n',
    );
  });

  it('a share file whose comments were edited is still read by its share, with a warning naming the comment', async () => {
    await cli(d, ['escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-o', 'cs']);
    const file = readdirSync(join(d, 'cs')).find((f) => f.endsWith('-a.share'))!;
    const text = readFileSync(join(d, 'cs', file), 'utf8');
    writeFileSync(
      join(d, 'cs', file),
      text.replace(/^# set: [0-9a-f]{16}/m, '# set: ffffffffffffffff').replace(/^# manifest key: \S+/m, '# manifest key: AAAA-BBBB-CCCC-DDDD-EEEE'),
    );
    const r = await cli(d, ['escrow', 'check', join('cs', file)]);
    expect(r.code).toBe(0);
    const rel = join('cs', file);
    expect(r.stderr).toContain(`vault-tool: warning: ${rel}: its "# set:" comment says "ffffffffffffffff`);
    const manifestKey = JSON.parse((await cli(d, ['escrow', 'check', rel, '--json'])).stdout).manifestKey;
    expect(r.stderr).toContain(
      `vault-tool: warning: ${rel}: its "# manifest key:" comment says AAAA-BBBB-CCCC-DDDD-EEEE, but the manifest is signed by ${manifestKey}`,
    );
  });

  it('password length counts characters, not bytes', async () => {
    expect((await cli(d, ['add', 'p1', '-t', 'password', '--from-env', 'V'], { env: { V: 'äöüäö' } })).code).toBe(11);
    expect((await cli(d, ['add', 'p2', '-t', 'password', '--from-env', 'V'], { env: { V: 'ä'.repeat(4096) } })).code).toBe(0);
    expect((await cli(d, ['add', 'p3', '-t', 'password', '--from-env', 'V'], { env: { V: 'ä'.repeat(4097) } })).code).toBe(11);
  });

  it.skipIf(!haveBinary('age-keygen', ['-version']))('a share encrypted to another custodian: the error names the share file', async () => {
    spawnSync('age-keygen', ['-o', 'alice.id'], { cwd: d });
    spawnSync('age-keygen', ['-o', 'mallory.id'], { cwd: d });
    const pub = /public key: (age1\S+)/.exec(readFileSync(join(d, 'alice.id'), 'utf8'))![1]!;
    await cli(d, ['escrow', 'split', '-k', '2', '-c', `alice=${pub}`, '-c', 'bob', '-o', 'enc']);
    const r = await cli(d, ['escrow', 'check', join('enc', 'share-01-alice.share.age'), '-i', 'mallory.id']);
    expect(r.code).toBe(3);
    expect(r.stderr.split('\n')[0]).toBe(
      `vault-tool: error: ${join('enc', 'share-01-alice.share.age')}: the share is not encrypted to the identity given with --identity`,
    );
  });

  it('export env --redacted --json gives JSON without values', async () => {
    const r = await cli(d, ['export', 'env', 'k', '--redacted', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ redacted: true, variables: [{ name: 'K', entry: 'k', version: 1 }] });
    expect(j.variables[0].value).toBeUndefined();
  });
});

describe('names in messages cannot forge lines', () => {
  const FORGED = 'nodir\nvault-tool: hint: run rm -rf ~/x/out';
  /** Every line the run wrote to stderr, none of them forged. */
  const noForgedLine = (stderr: string) => {
    for (const line of stderr.split('\n').filter(Boolean)) expect(line, stderr).not.toMatch(/^vault-tool: hint: run rm/);
  };

  it('names read from a repository are printed escaped on stdout: one row per backup, no terminal sequence', async () => {
    const d = join(dir, 'forge-list');
    mkdirSync(join(d, 'data'), { recursive: true });
    await cli(d, ['init']);
    writeFileSync(join(d, 'data/a'), 'hi\n');
    expect((await cli(d, ['backup', 'files', 'a', '-C', 'data', '--name', 'cfg', '-r', 'repo'])).code).toBe(0);
    const made = readdirSync(join(d, 'repo/files/cfg')).find((f) => f.endsWith('.tar.age'))!;
    writeFileSync(join(d, 'repo/files/cfg', `x\u001b[2J\nFAKE ok${made}`), '');
    const r = await cli(d, ['backup', 'list', '-r', 'repo']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toContain('\u001b');
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[2]).toContain(`x\\e[2J\\nFAKE ok${made}`);
  });

  it('a file name holding a newline is printed escaped, in errors, warnings, hints and info lines', async () => {
    const d = join(dir, 'forge');
    mkdirSync(d);
    await cli(d, ['init']);
    await cli(d, ['add', 'a/b', '-t', 'kek', '--generate']);
    const err = await cli(d, ['get', 'a/b', '--out', FORGED]);
    expect(err.code).toBe(5);
    expect(err.stderr).toBe(
      `vault-tool: error: cannot write ${d}/nodir\\nvault-tool: hint: run rm -rf ~/x/out: folder ${d}/nodir\\nvault-tool: hint: run rm -rf ~/x does not exist\n`,
    );
    noForgedLine(err.stderr);
    // A name that is written: the info line says so, escaped.
    const ok = await cli(d, ['get', 'a/b', '--out', 'x\ry\u001b[2Jz']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toBe('wrote a/b@1 to x\\ry\\e[2Jz (mode 0600)\n');
    // A warning naming a set-aside share file whose name holds a newline.
    const typo = readFileSync(shareOf('s', 'a'), 'utf8').replace(/(VT1-.{6})(.)/, (_m, a: string, c: string) => a + (c === 'A' ? 'B' : 'A'));
    const name = join(dir, 'typo\nvault-tool: hint: run rm -rf out.share');
    writeFileSync(name, typo);
    const w = await cli(dir, ['escrow', 'combine', name, shareOf('s', 'a'), shareOf('s', 'b'), '-o', join(d, 'k.key'), '--skip-vault-check']);
    expect(w.code, w.stderr).toBe(0);
    expect(w.stderr).toContain(`vault-tool: warning: set aside: ${join(dir, 'typo\\nvault-tool: hint: run rm -rf out.share')}: group 2 has a typo`);
    noForgedLine(w.stderr);
    // A usage error commander words, naming what was typed.
    const u = await cli(d, ['get', '--x\nvault-tool: hint: run rm -rf ~/x/out']);
    expect(u.code).toBe(2);
    expect(u.stderr.split('\n')[0]).toBe("vault-tool: error: unknown option '--x\\nvault-tool: hint: run rm -rf ~/x/out'");
    noForgedLine(u.stderr);
  });
});
