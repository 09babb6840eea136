import { describe, expect, it } from 'vitest';
import { checkComponent } from '../../src/backup/component.js';
import { DRILLED, FOLDERS, findKind, KINDS, kindNamed, kindOfComponent } from '../../src/backup/kinds/index.js';
import { BACKUP_SCRATCH } from '../../src/backup/scratch.js';
import { parseDrillPlan } from '../../src/drill/plan.js';

/**
 * The registry of backup kinds holds each kind to the interface: what the
 * rest of vault-tool relies on when it meets a kind it has never heard of
 * by name (a new one is one file and one line in kinds/index.ts).
 */
describe('the backup kinds', () => {
  it('each has its own name, a folder components are named under, and an extension', () => {
    expect(new Set(KINDS.map((k) => k.name)).size).toBe(KINDS.length);
    for (const k of KINDS) {
      expect(k.folder, k.name).toMatch(/^[a-z][a-z0-9-]*$/);
      expect(k.ext, k.name).toMatch(/^[a-z0-9]+$/);
      expect(k.label, k.name).toBeTruthy();
      expect(findKind(k.name)).toBe(k);
      expect(kindNamed(k.name)).toBe(k);
      if (k.only) expect(checkComponent(k.only)).toBe(k.only);
      // Every folder names its components; a kind with a fixed component owns exactly it, the other kind of its folder the rest.
      expect(kindOfComponent(k.only ?? `${k.folder}/some-name`)).toBe(k);
      expect(checkComponent(`${k.folder}/x`)).toBe(`${k.folder}/x`);
    }
    expect(FOLDERS).toEqual(['postgres', 'postgres-base', 'postgres-wal', 'redis', 'files', 'k8s', 'exec', 'bucket']);
    expect(kindOfComponent('other/x')).toBeUndefined();
    expect(findKind('postgres-wal-from-the-future')).toBeUndefined();
    expect(() => kindNamed('postgres-wal-from-the-future')).toThrow(/a backup of kind "postgres-wal-from-the-future", which this vault-tool does not know/);
  });

  it('each refuses an empty dump by its shape, and names its full-read check', () => {
    for (const k of KINDS) {
      expect(k.shape(Buffer.alloc(0), 0), k.name).not.toBeNull();
      expect(k.verifier({}).label, k.name).toBeTruthy();
    }
  });

  it('a kind restored into a database says so, and a drill restores it into a scratch database; every other into a folder', () => {
    // A kind no drill restores on its own (a base backup, a WAL archive) is restored elsewhere.
    for (const k of KINDS) if (!k.drill) expect(k.restoredElsewhere, k.name).toBeDefined();
    for (const k of DRILLED) {
      expect(BACKUP_SCRATCH[k.drill.scratch], k.name).toBeDefined();
      if (k.drill.scratch === 'database') expect(k.restore?.needs, k.name).toBe('database');
      else expect(k.restore?.needs, k.name).not.toBe('database');
      if (k.drill.scratch === 'prefix') expect(k.restore?.needs, k.name).toBe('bucket');
      // A kind restored elsewhere (the cluster) has no restore of its own here.
      if (k.restoredElsewhere) expect(k.restore, k.name).toBeUndefined();
    }
  });

  it("the drill checks the kinds offer have their own keys, and a plan reads each against its kind's scratch target", () => {
    const keys = DRILLED.flatMap((k) => k.drill.checks.map((c) => c.key));
    expect(new Set(keys).size).toBe(keys.length);
    for (const own of ['secrets', 'canaries', 'entries']) expect(keys).not.toContain(own);
    for (const k of DRILLED) {
      if (!k.drill.checks.length) continue;
      const component = k.only ?? `${k.folder}/x`;
      const field = k.drill.scratch === 'database' ? 'database: drill_x' : 'dir: s';
      for (const c of k.drill.checks) {
        // The smallest item each check takes, as drill init writes them.
        const example = k.drill.initChecks?.(k.drill.scratch === 'database' ? 'drill_x' : 's', undefined).find((x) => c.key in x);
        if (!example) continue;
        const plan = parseDrillPlan(
          `apiVersion: vault-tool/v1\nkind: DrillPlan\nbackups: { repo: r, restore: [ { component: ${component}, ${field} } ] }\nchecks: [ ${JSON.stringify(example)} ]\n`,
          'drill.yaml',
          '/p',
        );
        expect(plan.checks[0]!.kind, `${k.name} ${c.key}`).toBe(c.kind);
      }
    }
  });
});
