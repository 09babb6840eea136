import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseMappingFile } from '../../src/k8s/import.js';
import { parsePlan } from '../../src/k8s/plan.js';
import { parsePolicy } from '../../src/k8s/policy.js';
import { rpoFor } from '../../src/backup/rpo.js';
import { parseVerificationPlan } from '../../src/verify/plan.js';
import { ROOT } from '../helpers/cli.js';

/**
 * Every document a user writes (docs/FORMAT.md) is strict at every depth:
 * an unknown field, or a value of another form, is an error naming the
 * file and the field's path — never silently dropped.
 */
const VP = 'apiVersion: vault-tool/v1\nkind: VerificationPlan\n';
const RP = 'apiVersion: vault-tool/v1\nkind: RestorePlan\nsecrets:\n  - { namespace: app, name: db, data: { PASSWORD: app/db } }\n';
const POL = 'apiVersion: vault-tool/v1\nkind: RestorePolicy\n';

describe('user documents are strict at every depth, naming the path', () => {
  it.each([
    [VP + 'backups: { repo: /r, rpoo: 24h }\n', 'v.yaml: backups.rpoo: unknown field (expected repo, readData, rpo, archivers)'],
    [VP + 'copies:\n  - { vault: /a, kee: /b }\n', 'v.yaml: copies[0].kee: unknown field (expected vault, key)'],
    [VP + 'kubernetes: { contxt: prod }\n', 'v.yaml: kubernetes.contxt: unknown field (expected kubeconfig, context)'],
    [VP + 'backups: { repo: /r, readData: sometimes }\n', 'v.yaml: backups.readData: expected true, false or a percentage such as 10%'],
    [VP + 'backups: { repo: /r, archivers: { main: "host=db password=x" } }\n', 'v.yaml: backups.archivers.main: the connection string holds a password'],
    [VP + 'backups: { repo: /r, archivers: { Main: "" } }\n', 'v.yaml: backups.archivers.Main: invalid cluster name "Main"'],
    [VP + 'backups: { repo: /r, archivers: { main: 5432 } }\n', 'v.yaml: backups.archivers.main: expected a libpq connection string'],
    [VP + 'backups: { repo: /r, rpo: { postgres/app: 15 minutes } }\n', 'v.yaml: backups.rpo.postgres/app: expected a number and one of the units'],
    [VP + 'against: [nowhere]\n', 'v.yaml: against[0]: "nowhere": expected SOURCE=ENTRY'],
    [VP + 'interval: fortnightly\n', 'v.yaml: interval: interval "fortnightly": expected a number and one of the units'],
    [VP + 'extra: 1\n', 'v.yaml: extra: unknown field'],
  ])('verification plan: %j', (text, message) => {
    expect(() => parseVerificationPlan(text, 'v.yaml')).toThrow(message);
  });

  it.each([
    [RP + 'entries:\n  - { entry: app/x, to: app/db#X, fats: 1 }\n', 'p.yaml: entries[0].fats: unknown field (expected entry, to)'],
    [RP + 'metadata: { nam: x }\n', 'p.yaml: metadata.nam: unknown field (expected name, labels, annotations)'],
    [RP.replace('data:', 'dat:'), 'p.yaml: secrets[0].dat: unknown field'],
    [RP.replace('{ PASSWORD: app/db }', '{ PASSWORD: 5 }'), 'p.yaml: secrets[0].data.PASSWORD: expected a string'],
    [RP + 'entries: { entry: app/x }\n', 'p.yaml: entries: expected a list'],
  ])('restore plan: %j', (text, message) => {
    expect(() => parsePlan(text, 'p.yaml')).toThrow(message);
  });

  it.each([
    [POL + 'days: [mon, funday]\n', 'pol.yaml: days[1]: unknown day "funday"'],
    [POL + 'protectedContexts: [prod, 5]\n', 'pol.yaml: protectedContexts[1]: expected a context name or a pattern'],
    [POL + 'confirm: maybe\n', 'pol.yaml: confirm: expected one of context, totp'],
    [POL + 'timezon: UTC\n', 'pol.yaml: timezon: unknown field'],
  ])('restore policy: %j', (text, message) => {
    expect(() => parsePolicy(text, 'pol.yaml')).toThrow(message);
  });

  it.each([
    ['mappings:\n  - { key: K, entry: a/b, typ: kek }\n', 'm.yaml: mappings[0].typ: unknown field (expected secret, key, entry, type)'],
    ['mappings:\n  - { key: K, entry: a/b, type: nope }\n', 'm.yaml: mappings[0].type: unknown entry type: nope'],
    ['mappings:\n  - { key: K, entry: "bad name" }\n', 'm.yaml: mappings[0].entry: invalid entry name'],
    ['mapings: []\n', 'm.yaml: mapings: unknown field (expected mappings)'],
  ])('k8s import mapping file: %j', (text, message) => {
    expect(() => parseMappingFile(text, 'm.yaml')).toThrow(message);
  });

  it('a good verification plan carries an RPO per kind and component, normalized', () => {
    const p = parseVerificationPlan(VP + 'interval: 12w\nbackups:\n  repo: /r\n  rpo: { default: 1d, redis: 6h, postgres/app: 15min }\n', 'v.yaml');
    expect(p.interval.text).toBe('84d');
    expect(rpoFor(p.backups!.rpo, 'postgres/app')?.text).toBe('15m');
    expect(rpoFor(p.backups!.rpo, 'redis/cache')?.text).toBe('6h');
    expect(rpoFor(p.backups!.rpo, 'files/etc')?.text).toBe('1d');
    expect(rpoFor(parseVerificationPlan(VP + 'backups: { repo: /r, rpo: 90min }\n', 'v').backups!.rpo, 'x/y')?.text).toBe('1h30m');
    expect(parseVerificationPlan(VP + 'backups: { repo: /r }\n', 'v').backups!.rpo).toBeUndefined();
    // A WAL archive by its component; pg_stat_archiver per cluster ('' is libpq's environment).
    const w = parseVerificationPlan(VP + 'backups: { repo: /r, rpo: { postgres-wal/main: 5m }, archivers: { main: "", other: "host=db2 port=5433" } }\n', 'v');
    expect(rpoFor(w.backups!.rpo, 'postgres-wal/main')?.text).toBe('5m');
    expect(w.backups!.archivers).toEqual({ main: '', other: 'host=db2 port=5433' });
  });

  it('every source file that reads YAML reads it through the strict shape checker (or is named here, with why)', () => {
    // Formats defined elsewhere, read as their owners define them; and files that only write YAML.
    const NOT_OURS: Record<string, string> = {
      'src/k8s/kubeconfig.ts': "kubectl's kubeconfig, read as kubectl reads it",
      'src/k8s/secret.ts': 'Kubernetes Secret manifests: the API server defines them',
      'src/backup/kinds/k8s.ts': 'the YAML a Kubernetes backup holds, checked as YAML only',
      'src/drill/init.ts': 'writes a drill plan, reads none',
      'src/cli/yaml-out.ts': 'writes YAML output (-o yaml), reads none',
      'src/vault/yaml.ts': 'the YAML parser every document goes through',
    };
    const files: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(d, e.name));
        else if (e.name.endsWith('.ts')) files.push(join(d, e.name));
      }
    };
    walk(join(ROOT, 'src'));
    const readers = files.filter((f) => /parseYaml\(|from 'yaml'/.test(readFileSync(f, 'utf8'))).map((f) => relative(ROOT, f));
    const loose = readers.filter((f) => !NOT_OURS[f] && !readFileSync(join(ROOT, f), 'utf8').includes('parseShape('));
    expect(loose).toEqual([]);
  });
});
