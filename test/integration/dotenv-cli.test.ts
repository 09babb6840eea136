import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseDotenv } from '../../src/vault/dotenv.js';
import { cli, tempDir } from '../helpers/cli.js';

let dir: string;
let cleanup: () => void;
beforeEach(async () => {
  ({ dir, cleanup } = tempDir());
  expect((await cli(dir, ['init'])).code).toBe(0);
});
afterEach(() => cleanup());

const vars = (text: string) => Object.fromEntries(parseDotenv(text).map((p) => [p.key, p.value]));

describe('export env: naming the variables', () => {
  beforeEach(async () => {
    for (const n of ['platform/hmac-key', 'audit/hmac-key']) expect((await cli(dir, ['add', n, '-t', 'hmac-key', '--generate'])).code).toBe(0);
  });

  it('two entries under one variable name are refused, and the hint names the rules that tell them apart', async () => {
    const r = await cli(dir, ['export', 'env', '--redacted']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'vault-tool: error: audit/hmac-key and platform/hmac-key both export as HMAC_KEY\n' +
        'vault-tool: hint: name them apart with --prefix-path (AUDIT_HMAC_KEY, PLATFORM_HMAC_KEY), or give one its own name with --map KEY=platform/hmac-key\n',
    );
    expect(r.stdout).toBe('');
  });

  it('--prefix-path puts the folder in front; the values round-trip', async () => {
    const red = await cli(dir, ['export', 'env', '--redacted', '--prefix-path']);
    expect(red.code).toBe(0);
    expect(red.stdout.split('\n').slice(1)).toEqual(['AUDIT_HMAC_KEY=***REDACTED***', 'PLATFORM_HMAC_KEY=***REDACTED***', '']);
    expect((await cli(dir, ['export', 'env', '--prefix-path', '--out', 'all.env'])).code).toBe(0);
    const back = vars(readFileSync(join(dir, 'all.env'), 'utf8'));
    expect(back.AUDIT_HMAC_KEY).toBe((await cli(dir, ['get', 'audit/hmac-key'])).stdout);
    expect(back.PLATFORM_HMAC_KEY).toBe((await cli(dir, ['get', 'platform/hmac-key'])).stdout);
  });

  it('--map KEY=ENTRY names one entry; mappings that name nothing exported, or a name twice, are refused', async () => {
    const r = await cli(dir, ['export', 'env', '--redacted', '--map', 'AUDIT_LOG_KEY=audit/hmac-key']);
    expect(r.code).toBe(0);
    expect(Object.keys(vars(r.stdout))).toEqual(['AUDIT_LOG_KEY', 'HMAC_KEY']);
    const json = JSON.parse((await cli(dir, ['export', 'env', '--redacted', '--json', '--map', 'AUDIT_LOG_KEY=audit/hmac-key'])).stdout);
    expect(json.variables).toEqual([
      { name: 'AUDIT_LOG_KEY', entry: 'audit/hmac-key', version: 1 },
      { name: 'HMAC_KEY', entry: 'platform/hmac-key', version: 1 },
    ]);
    const cases: [string[], string][] = [
      [['platform/hmac-key', '--map', 'X=audit/hmac-key'], 'vault-tool: error: mapping for audit/hmac-key: not among the exported entries'],
      [['--map', '1X=audit/hmac-key'], 'vault-tool: error: mapping "1X=audit/hmac-key" is not KEY=ENTRY (KEY a variable name)'],
      // KEY=$ENTRY with ENTRY unset: said as such, not as an entry named "".
      [['--map', 'A='], 'vault-tool: error: mapping "A=": no entry after = (expected KEY=ENTRY)'],
      [['--map', 'A=audit/hmac-key', '--map', 'A=platform/hmac-key'], 'vault-tool: error: the mappings name variable A twice'],
      [['--map', 'A=audit/hmac-key', '--map', 'B=audit/hmac-key'], 'vault-tool: error: the mappings name entry audit/hmac-key twice'],
      [['--map', 'HMAC_KEY=audit/hmac-key'], 'vault-tool: error: audit/hmac-key and platform/hmac-key both export as HMAC_KEY'],
    ];
    for (const [args, line] of cases) {
      const x = await cli(dir, ['export', 'env', '--redacted', ...args]);
      expect([x.code, x.stderr.split('\n')[0]], args.join(' ')).toEqual([2, line]);
    }
  });

  it('a recorded variable name keeps its name under the folder; when the folder rule cannot tell two apart, the hint names --map only', async () => {
    writeFileSync(join(dir, 'infisical.env'), `ENCRYPTION_KEY=${'ab'.repeat(16)}\n`);
    await cli(dir, ['import', 'env', 'infisical.env', '--map', 'ENCRYPTION_KEY=infisical/ek:infisical-encryption-key']);
    const r = await cli(dir, ['export', 'env', 'infisical/ek', '--redacted', '--prefix-path']);
    expect(r.stdout).toContain('\nINFISICAL_ENCRYPTION_KEY=***REDACTED***\n');
    await cli(dir, ['add', 'app/db-pass', '-t', 'password', '--generate']);
    await cli(dir, ['add', 'app/db_pass', '-t', 'password', '--generate']);
    const both = await cli(dir, ['export', 'env', 'app/db-pass', 'app/db_pass', '--redacted', '--prefix-path']);
    expect(both.code).toBe(2);
    expect(both.stderr).toBe(
      'vault-tool: error: app/db-pass and app/db_pass both export as APP_DB_PASS\n' +
        'vault-tool: hint: give one of them its own name with --map KEY=app/db_pass\n',
    );
  });
});

describe('import env --only-mapped', () => {
  const ENV = `ENCRYPTION_KEY=${'cd'.repeat(16)}\nSITE_URL=https://example.org\nDEBUG=1\n`;

  it('imports only the mapped variables and names the others on stderr', async () => {
    writeFileSync(join(dir, 'app.env'), ENV);
    const r = await cli(dir, ['import', 'env', 'app.env', '--map', 'ENCRYPTION_KEY=infisical/ek:infisical-encryption-key', '--only-mapped']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('1 added, 0 updated, 0 unchanged; not mapped, not imported: SITE_URL, DEBUG\n');
    const names = JSON.parse((await cli(dir, ['list', '--json'])).stdout).entries.map((e: { name: string }) => e.name);
    expect(names).toEqual(['infisical/ek']);
    // Without it, every variable becomes an entry (the default, as k8s import's).
    expect((await cli(dir, ['import', 'env', 'app.env', '--map', 'ENCRYPTION_KEY=infisical/ek:infisical-encryption-key'])).code).toBe(0);
    expect(JSON.parse((await cli(dir, ['list', '--json'])).stdout).entries.map((e: { name: string }) => e.name)).toEqual(['DEBUG', 'SITE_URL', 'infisical/ek']);
  });

  it('an unmapped variable is not checked; --only-mapped without --map, or a mapping that matches nothing, is refused', async () => {
    writeFileSync(join(dir, 'app.env'), `${ENV}BAD=${'x'.repeat(1_100_000)}\n`);
    const ok = await cli(dir, ['import', 'env', 'app.env', '--map', 'ENCRYPTION_KEY=infisical/ek:infisical-encryption-key', '--only-mapped']);
    expect(ok.code).toBe(0);
    const none = await cli(dir, ['import', 'env', 'app.env', '--only-mapped']);
    expect([none.code, none.stderr]).toEqual([2, 'vault-tool: error: --only-mapped imports only what --map names, and no --map is given\n']);
    const typo = await cli(dir, ['import', 'env', 'app.env', '--map', 'ENCRYPTION_KEYS=x', '--only-mapped']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('vault-tool: error: mapping for ENCRYPTION_KEYS: no such variable in app.env');
  });
});

describe('import env: a value a shell or docker compose would expand', () => {
  it('is imported as written, with a warning naming the variables (never the value) and the fix', async () => {
    const pw = 'pa$sw0rd-S3cret';
    writeFileSync(
      join(dir, 'app.env'),
      `DB_URL=postgres://app:\${DB_PASSWORD}@db/app\nTOKEN=$(cat /run/token)\nPW=${pw}\nLITERAL='x$y'\nESCAPED="x\\$y"\nPLAIN=abc\n`,
    );
    const r = await cli(dir, ['import', 'env', 'app.env', '--prefix', 'app/']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the warning names ${…} as it is written in a dotenv file
      'vault-tool: warning: DB_URL, TOKEN, PW: their values hold $NAME, ${…}, $(…) or `…`, which a shell or docker compose would expand: imported as written, not expanded\n' +
        "vault-tool: hint: if the file meant the expanded value, import it from where it is resolved (vault-tool add NAME --from-env VAR); if it is the value, single-quote it in the file ('…') and this warning goes\n",
    );
    expect(r.stderr).not.toContain('$sw0rd');
    expect((await cli(dir, ['get', 'app/PW'])).stdout).toBe(pw);
    expect((await cli(dir, ['get', 'app/TOKEN'])).stdout).toBe('$(cat /run/token)');
    // Quoted literally, escaped, or plain: nothing to say.
    writeFileSync(join(dir, 'quiet.env'), `LITERAL='x$y'\nESCAPED="x\\$y"\nPLAIN=abc\n`);
    const q = await cli(dir, ['import', 'env', 'quiet.env', '--prefix', 'quiet/']);
    expect([q.code, q.stderr]).toEqual([0, '3 added, 0 updated, 0 unchanged\n']);
    expect(parseDotenv('A="x\\$y"\nB="x$y"\nC=\'$y\'').map((p) => p.expands ?? false)).toEqual([false, true, false]);
  });
});
