import { describe, expect, it } from 'vitest';
import { parseDrillPlan } from '../../src/drill/plan.js';
import { toolMessage } from '../../src/tool/run.js';

/** The drill plan: strict at every depth, errors naming the field path; one duration grammar. */
const HEAD = 'apiVersion: vault-tool/v1\nkind: DrillPlan\n';
const parse = (body: string) => parseDrillPlan(HEAD + body, 'drill.yaml', '/plans');
const BACKUPS =
  'backups:\n  repo: repo\n  restore:\n    - { component: postgres/orders, database: drill_orders }\n    - { component: redis/default, dir: scratch/redis }\n    - { component: files/config, dir: scratch/config }\n';

describe('the drill plan', () => {
  it('reads a full plan: paths made absolute, durations in the one grammar, defaults filled in', () => {
    const p = parse(
      `rto: 1h30m\ntimeouts: { tool: 90s, restore: 4h }\nshares: { files: [s/a.share] }\nkubernetes: { context: drill, plan: rp.yaml }\n${BACKUPS}checks:\n  - { tables: backup, database: drill_orders }\n  - { redisKeys: 3, dir: scratch/redis }\n`,
    );
    expect(p).toMatchObject({
      rtoSeconds: 5400,
      rtoText: '1h30m',
      timeouts: { toolMs: 90_000, restoreMs: 4 * 3_600_000 },
      shares: { files: ['/plans/s/a.share'], identities: [], prompt: false },
      kubernetes: { context: 'drill', plan: '/plans/rp.yaml', namespaceMap: {} },
      backups: { repo: '/plans/repo' },
      checks: [
        { kind: 'tables', database: 'drill_orders' },
        { kind: 'redis-keys', dir: '/plans/scratch/redis', expect: 3 },
      ],
    });
    expect(parse('rto: 15min\n').rtoSeconds).toBe(900);
    expect(parse('rto: 15m\n').rtoSeconds).toBe(900);
    expect(parse('rto: 0.25h\n').rtoText).toBe('15m');
    expect(parse('').timeouts).toEqual({ toolMs: 120_000, restoreMs: 6 * 3_600_000 });
  });

  it('reads point-in-time restores and their checks: a time with its zone, or latest (the default); the role postgres by default', () => {
    const p = parse(
      'backups:\n  repo: r\n  pitr:\n    - { cluster: main, dir: scratch/pitr, target: "2027-01-15T10:00:00Z" }\n    - { cluster: other, dir: scratch/other, target: latest, user: admin, file: F.tar.age }\nchecks:\n  - { sql: "select count(*) from t", cluster: main, database: app, expect: 12 }\n  - { tables: 3, cluster: other, database: postgres }\n',
    );
    expect(p.backups).toEqual({
      repo: '/plans/r',
      restore: [],
      pitr: [
        { cluster: 'main', dir: '/plans/scratch/pitr', targetTime: new Date('2027-01-15T10:00:00Z'), user: 'postgres' },
        { cluster: 'other', dir: '/plans/scratch/other', file: 'F.tar.age', user: 'admin' },
      ],
    });
    expect(p.checks).toEqual([
      { kind: 'pitr-sql', cluster: 'main', database: 'app', sql: 'select count(*) from t', expect: '12' },
      { kind: 'pitr-tables', cluster: 'other', database: 'postgres', tables: 3 },
    ]);
    expect(parse('backups: { repo: r, pitr: [ { cluster: main, dir: d } ] }\n').backups?.pitr[0]).toEqual({
      cluster: 'main',
      dir: '/plans/d',
      user: 'postgres',
    });
  });

  const refused: [string, string, RegExp][] = [
    [
      'a time without its zone',
      'backups: { repo: r, pitr: [ { cluster: main, dir: d, target: "2027-01-15 10:00" } ] }\n',
      /pitr\[0\]\.target: expected latest, or a time with its zone/,
    ],
    ['a bad cluster name', 'backups: { repo: r, pitr: [ { cluster: Main/x, dir: d } ] }\n', /pitr\[0\]\.cluster: invalid cluster name/],
    [
      'two point-in-time restores of one cluster',
      'backups: { repo: r, pitr: [ { cluster: main, dir: a }, { cluster: main, dir: b } ] }\n',
      /pitr\[1\]\.cluster: main is already restored by this plan: one point-in-time restore per cluster/,
    ],
    [
      'a point-in-time restore into the folder of another restore',
      'backups: { repo: r, restore: [ { component: files/a, dir: s } ], pitr: [ { cluster: main, dir: s/pitr } ] }\n',
      /pitr\[0\]\.dir: .* overlaps the scratch folder of files\/a/,
    ],
    ['backups with nothing to restore', 'backups: { repo: r }\n', /backups: expected restore, pitr or both/],
    [
      'a check of a cluster the plan does not restore to a point in time',
      'backups: { repo: r, pitr: [ { cluster: main, dir: d } ] }\nchecks:\n  - { sql: "select 1", cluster: other, database: app, expect: "1" }\n',
      /checks\[0\]\.cluster: other is not restored to a point in time by this plan/,
    ],
    [
      'a check of a point-in-time restore that is not one of its kinds',
      'backups: { repo: r, pitr: [ { cluster: main, dir: d } ] }\nchecks:\n  - { redisKeys: 1, cluster: main }\n',
      /checks\[0\]: a check of a point-in-time restore \(cluster\) is one of sql, tables/,
    ],
    [
      'a database name that psql would read as a connection string',
      'backups: { repo: r, pitr: [ { cluster: main, dir: d } ] }\nchecks:\n  - { tables: 1, cluster: main, database: "host=evil dbname=x" }\n',
      /checks\[0\]\.database: expected a database name/,
    ],
    [
      'a base backup restored on its own',
      'backups: { repo: r, restore: [ { component: postgres-base/main, dir: d } ] }\n',
      /restore\[0\]\.component: a base backup is not restored by a drill plan on its own \(a point-in-time restore of its cluster is: backups\.pitr\)/,
    ],
    ['an unknown field deep down', `${BACKUPS.replace('dir: scratch/redis', 'dri: scratch/redis')}`, /^drill\.yaml: backups\.restore\[1\]\.dri: unknown field/],
    ['an unknown top-level field', 'rpo: 1h\n', /^drill\.yaml: rpo: unknown field/],
    [
      'an unknown field of a check',
      `${BACKUPS}checks:\n  - { sql: "select 1", database: drill_orders, expect: "1", as: admin }\n`,
      /checks\[0\]\.as: unknown field/,
    ],
    ['a bad duration', 'rto: 2 hours\n', /^drill\.yaml: rto: /],
    ['a kubernetes section without a context', 'kubernetes: { plan: rp.yaml }\n', /kubernetes\.context: missing/],
    [
      'two namespaces onto one',
      'kubernetes: { context: c, plan: rp.yaml, namespaceMap: { a: x, b: x } }\n',
      /kubernetes\.namespaceMap: two namespaces map to x/,
    ],
    [
      'a check of a database the plan does not restore',
      `${BACKUPS}checks:\n  - { sql: "select 1", database: orders, expect: "1" }\n`,
      /checks\[0\]\.database: orders is not a scratch database of this plan/,
    ],
    [
      'a check of a folder the plan does not restore',
      `${BACKUPS}checks:\n  - { files: [a], dir: /etc }\n`,
      /checks\[0\]\.dir: \/etc is not a scratch folder of this plan/,
    ],
    ['a redis check of a files folder', `${BACKUPS}checks:\n  - { redisKeys: 1, dir: scratch/config }\n`, /receives files\/config, not a redis backup/],
    [
      'a cluster database as scratch',
      'backups: { repo: r, restore: [ { component: postgres/orders, database: postgres } ] }\n',
      /database: postgres is the cluster's own database/,
    ],
    [
      'a postgres backup into a folder',
      'backups: { repo: r, restore: [ { component: postgres/orders, dir: x } ] }\n',
      /restore\[0\]\.database: a postgres backup needs the scratch database/,
    ],
    [
      'a folder backup into a database',
      'backups: { repo: r, restore: [ { component: postgres/globals, database: g, dir: x } ] }\n',
      /restore\[0\]\.database: a globals backup is restored into a folder, never into a server/,
    ],
    [
      'two restores into one database',
      'backups: { repo: r, restore: [ { component: postgres/a, database: d }, { component: postgres/b, database: d } ] }\n',
      /restore\[1\]\.database: d is already the target of postgres\/a/,
    ],
    [
      'nested scratch folders',
      'backups: { repo: r, restore: [ { component: files/a, dir: s }, { component: files/b, dir: s/b } ] }\n',
      /restore\[1\]\.dir: .* overlaps the scratch folder of files\/a/,
    ],
    ['two checks in one item', `${BACKUPS}checks:\n  - { canaries: all, secrets: in-sync }\n`, /checks\[0\]: one check per item/],
    ['a path outside dir', `${BACKUPS}checks:\n  - { files: [../etc/passwd], dir: scratch/config }\n`, /checks\[0\]\.files\[0\]: expected a path inside dir/],
    ['a bucket restored into a folder', 'backups: { repo: r, restore: [ { component: bucket/proofs, dir: s } ] }\n', /restore\[0\]\.prefix: missing/],
    [
      "a bucket's root as its scratch prefix",
      'backups: { repo: r, restore: [ { component: bucket/proofs, prefix: "s3:scratch" } ] }\n',
      /restore\[0\]\.prefix: expected REMOTE:BUCKET\/PREFIX/,
    ],
    [
      'a scratch prefix with ..',
      'backups: { repo: r, restore: [ { component: bucket/proofs, prefix: "s3:scratch/a/../b" } ] }\n',
      /restore\[0\]\.prefix: .*without \. or \.\./,
    ],
    [
      'a prefix for another kind',
      'backups: { repo: r, restore: [ { component: files/a, dir: s, prefix: "s3:x/y" } ] }\n',
      /restore\[0\]\.prefix: a .* is not restored into a bucket prefix/,
    ],
    [
      'nested scratch prefixes',
      'backups: { repo: r, restore: [ { component: bucket/a, prefix: "s3:x/d" }, { component: bucket/b, prefix: "s3:x/d/b" } ] }\n',
      /restore\[1\]\.prefix: .* overlaps the scratch prefix of bucket\/a/,
    ],
    [
      'a keys check whose database the plan does not restore',
      'backups: { repo: r, restore: [ { component: bucket/a, prefix: "s3:x/d" } ] }\nchecks:\n  - { objectsFromSql: "select k from t", database: drill_app, prefix: "s3:x/d" }\n',
      /drill_app is not a scratch database of this plan/,
    ],
    ['not a drill plan', '', /./],
  ];
  for (const [what, body, msg] of refused) {
    it(`refuses ${what}, naming the field`, () => {
      const text = what === 'not a drill plan' ? 'apiVersion: vault-tool/v1\nkind: RestorePlan\n' : HEAD + body;
      expect(() => parseDrillPlan(text, 'drill.yaml', '/plans')).toThrow(msg);
    });
  }
});

describe('a scratch prefix of a bucket', () => {
  it('is REMOTE:BUCKET/PREFIX, or an absolute path two levels deep on a backend of paths; trailing slashes dropped', () => {
    for (const [given, kept] of [
      ['s3:scratch/drill/proofs/', 's3:scratch/drill/proofs'],
      ['loc:/tmp/work/drill', 'loc:/tmp/work/drill'],
    ]) {
      const p = parse(`backups: { repo: r, restore: [ { component: bucket/proofs, prefix: "${given}" } ] }\n`);
      expect(p.backups!.restore[0]).toEqual({ component: 'bucket/proofs', prefix: kept });
    }
    expect(() => parse('backups: { repo: r, restore: [ { component: bucket/proofs, prefix: "loc:/tmp" } ] }\n')).toThrow(/expected REMOTE:BUCKET\/PREFIX/);
  });
});

describe("a tool's failure", () => {
  it("keeps PostgreSQL's ERROR lines, not the caret psql prints under the SQL", () => {
    const stderr = 'ERROR:  relation "nope" does not exist\nLINE 1: select * from nope\n                      ^\n';
    expect(toolMessage(stderr)).toBe('ERROR:  relation "nope" does not exist');
    const restore = `pg_restore: while PROCESSING TOC:\npg_restore: from TOC entry 5; 2615 16385 SCHEMA app postgres\npg_restore: error: could not execute query: ERROR:  cannot drop schema app because other objects depend on it\nDETAIL:  table app.one depends on schema app\ntable app.two depends on schema app\nHINT:  Use DROP ... CASCADE to drop the dependent objects too.\nCommand was: DROP SCHEMA IF EXISTS app;\n`;
    expect(toolMessage(restore)).toBe('pg_restore: error: could not execute query: ERROR:  cannot drop schema app because other objects depend on it');
    expect(toolMessage('one\ntwo\nthree\nfour\n')).toBe('two; three; four');
    expect(toolMessage(`FATAL:  ${'x'.repeat(5000)}`).length).toBeLessThanOrEqual(1000);
  });
});
