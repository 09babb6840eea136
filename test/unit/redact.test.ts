import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { looksRandom, redactArgs } from '../../src/backup/redact.js';

const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJiYWNrdXAifQ.c2lnbmF0dXJlLXZhbHVl';
const RANDOM = 'q8Zr2Lw0XnV7sKc4Jm1Hy6Tf9Pb3Gd5E';

describe('redactArgs: credentials on a command line', () => {
  it.each([
    [['-H', 'Authorization: Bearer abc.def-123_XYZ'], ['-H', 'Authorization: Bearer ***'], ['abc.def-123_XYZ']],
    [['--header', 'authorization: Basic dXNlcjpwYXNz'], ['--header', 'authorization: Basic ***'], ['dXNlcjpwYXNz']],
    [['-H', 'X-Api-Key: k-123456'], ['-H', 'X-Api-Key: ***'], ['k-123456']],
    [['-H', 'Cookie: session=abc; theme=dark'], ['-H', 'Cookie: ***'], ['session=abc; theme=dark']],
    [['-H', 'PRIVATE-TOKEN: glp123'], ['-H', 'PRIVATE-TOKEN: ***'], ['glp123']],
    [['Authorization: token s3cr3t'], ['Authorization: token ***'], ['s3cr3t']],
    [
      ['-c', 'curl -fsS -H "Authorization: Bearer tok123456" https://api/export'],
      ['-c', 'curl -fsS -H "Authorization: Bearer ***" https://api/export'],
      ['tok123456'],
    ],
    [['-c', "wget --header='X-Auth-Token: abcdef' -O- https://x"], ['-c', "wget --header='X-Auth-Token: ***' -O- https://x"], ['abcdef']],
    [['-u', 'backup:Pa55word'], ['-u', 'backup:***'], ['Pa55word']],
    [['--user', 'me:x y'], ['--user', 'me:***'], ['x y']],
    [['--token', JWT], ['--token', '***'], [JWT]],
    [['https://x/api?jwt=' + JWT], ['https://x/api?jwt=***'], [JWT]],
    [['ghp_abcdefghijklmnopqrstuvwxyz0123456789'], ['***'], ['ghp_abcdefghijklmnopqrstuvwxyz0123456789']],
    [['--gitlab', 'glpat-abcdefghij0123456789'], ['--gitlab', '***'], ['glpat-abcdefghij0123456789']],
    [['VAULT=hvs.CAESIAbcdefghijklmnopqrstuv'], ['VAULT=***'], ['hvs.CAESIAbcdefghijklmnopqrstuv']],
    [['sk_live_abcdefghijklmnop1234'], ['***'], ['sk_live_abcdefghijklmnop1234']],
    [['xoxb-1234567890-abcdefghij'], ['***'], ['xoxb-1234567890-abcdefghij']],
    [['AGE-SECRET-KEY-1' + 'Q'.repeat(58)], ['***'], ['AGE-SECRET-KEY-1' + 'Q'.repeat(58)]],
    [['--', RANDOM], ['--', '***'], [RANDOM]],
    [['mongodb://admin:Hunter2pw@db/x'], ['mongodb://admin:***@db/x'], ['Hunter2pw']],
    [['mongodb://admin:p@ss@db/x'], ['mongodb://admin:***@db/x'], ['p@ss']],
    // Random base64 holding a `/`: an AWS-style secret key, a webhook's path, a token under folders.
    [['wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'], ['***'], ['wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY']],
    [['services/T0123ABCD/B0456EFGH/abcDEF123ghiJKL456mnoPQR789stuV'], ['***'], ['services/T0123ABCD/B0456EFGH/abcDEF123ghiJKL456mnoPQR789stuV']],
    [[`srv/backups/${RANDOM}`], ['srv/backups/***'], [RANDOM]],
  ])('%j → %j', (args, shown, secrets) => {
    const r = redactArgs(args);
    expect(r.shown).toEqual(shown);
    expect(r.redacted).toBe(true);
    expect(r.secrets).toEqual(secrets);
  });

  it('a PEM private key inside an argument is hidden whole', () => {
    const pem = '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----';
    expect(redactArgs(['--data', `key=${pem}`]).shown).toEqual(['--data', 'key=***']);
    expect(redactArgs(['--data', `x ${pem} y`]).shown).toEqual(['--data', 'x *** y']);
  });

  it.each([
    [['-H', 'Authorization: Bearer $TOKEN']],
    [['-c', `curl -H "Authorization: Bearer \${API_TOKEN}" https://x`]],
    [['-c', 'PGPASSWORD="$DB_PASSWORD" pg_dump x']],
    [['--password', '$PW']],
    [['-c', 'curl -H "Authorization: Bearer $1" "$@"']],
    [['-H', '@headers.txt']],
    [['--password-file', '/run/secrets/pw']],
    [['--passfile', '/root/.pgpass']],
    [['--token-file=/run/token']],
    [['-H', 'Content-Type: application/json', '-H', 'Accept: application/vnd.github+json']],
    [['--db-url-host', 'keycloak:5432', 'keycloak.example.org:8443']],
    [['kubectl', 'exec', '-n', 'keycloak', 'keycloak-7f9c8d6b5-abcde', '--', 'pg_dump']],
    [['--archive', '/srv/Backups/2024Q1/ExportOfAllTheRealmsAndClients.json']],
    [['sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08']],
    [['ssh://git@github.com/Example-Org/Platform-Infrastructure-2024.git']],
    [['--port', '5432', 'plain', 'ThisIsMyBackupDirectoryNameFor2024']],
    // Relative paths of backups: folder names, then a file named by its time and id.
    [['srv/backups/postgres/x/20261206T233855Z-f24d64ae.pgdump.age']],
    [['cp', 'backups/files/config/20261206T233855Z-f24d64ae.tar.age.manifest.json', 'Backups/Postgres/App/20261206T233855Z-f24d64ae.pgdump.age']],
    // COMPONENT/FILE as backup restore takes it, whatever the folders are called (short, or a name with _).
    [['postgres/x/20261206T233855Z-f24d64ae.pgdump.age', 'r/pg/x/20261206T233855Z-f24d64ae.pgdump.age', 'files/My_Config/20261206T233855Z-f24d64ae.tar.age']],
  ])('%j is left as it is', (args) => {
    expect(redactArgs(args)).toEqual({ shown: args, redacted: false, secrets: [] });
  });

  it('random base64 holding a / is hidden as often as when no path was told apart (about 93 in 100)', () => {
    // 24 random bytes as base64 (32 characters); a looser path rule (one short folder name) hid only 87 in 100 of those with a /.
    let withSlash = 0;
    let hidden = 0;
    for (let i = 0; i < 20_000; i++) {
      const t = randomBytes(24).toString('base64');
      if (!t.includes('/')) continue;
      withSlash++;
      if (redactArgs([t]).redacted) hidden++;
    }
    expect(withSlash).toBeGreaterThan(5000);
    expect(hidden / withSlash).toBeGreaterThan(0.92);
  });

  it('tells random strings from words, paths and digests', () => {
    expect(looksRandom(RANDOM)).toBe(true);
    expect(looksRandom('Zm9vYmFyYmF6cXV4Q29ycmVjdEhvcnNlQmF0dGVyeVN0YXBsZQ')).toBe(true);
    expect(looksRandom('ThisIsMyBackupDirectoryNameFor2024')).toBe(false);
    expect(looksRandom('9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08')).toBe(false);
  });
});
