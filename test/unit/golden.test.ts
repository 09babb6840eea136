import { readFileSync } from 'node:fs';
import { describe, it } from 'vitest';
import { golden, inputs, outcome } from '../helpers/golden.js';
import { parseDuration, type DurationRules } from '../../src/vault/duration.js';
import { compareLog, type Head } from '../../src/vault/evidence.js';
import { decideRetention, parseKeepWithin, type KeepPolicy } from '../../src/backup/retention.js';
import type { BackupManifest } from '../../src/backup/manifest.js';
import type { Listed } from '../../src/backup/repo.js';
import { parseDrillPlan } from '../../src/drill/plan.js';
import { parsePlan } from '../../src/k8s/plan.js';
import { parseVerificationPlan } from '../../src/verify/plan.js';

/**
 * Pure policies, tested by data (test/testdata/<policy>/: each input beside
 * the output it must give, NAME.golden.json). test/helpers/golden.ts says
 * how to rewrite the outputs after a deliberate change.
 */

describe('durations (test/testdata/duration): the one grammar', () => {
  const RULES: Record<string, DurationRules> = { default: {}, restic: { bareMinutes: false, what: '--keep-within' }, zero: { allowZero: true } };
  for (const [name, file] of inputs('duration', '.txt')) {
    it(`${name}: each line read with the ${name} rules`, () => {
      const lines = readFileSync(file, 'utf8').replace(/\n$/, '').split('\n');
      golden(
        file,
        '.txt',
        lines.filter((l) => !l.startsWith('#')).map((input) => ({ input, ...(outcome(() => parseDuration(input, RULES[name])) as object) })),
      );
    });
  }
});

describe('plans (test/testdata/*-plan): what a plan means, or the error that names its field', () => {
  const PARSE: Record<string, (text: string, source: string) => unknown> = {
    'drill-plan': (t, s) => parseDrillPlan(t, s, '/plans'),
    'restore-plan': (t, s) => parsePlan(t, s),
    'verification-plan': (t, s) => parseVerificationPlan(t, s, '/plans'),
  };
  for (const [policy, parse] of Object.entries(PARSE)) {
    for (const [name, file] of inputs(policy, '.yaml')) {
      it(`${policy}: ${name}`, () => {
        golden(
          file,
          '.yaml',
          outcome(() => parse(readFileSync(file, 'utf8'), `${name}.yaml`)),
        );
      });
    }
  }
});

interface RetentionCase {
  now: string;
  currentKeyId: string;
  policy: Omit<KeepPolicy, 'within'> & { within?: string };
  host?: string;
  /** COMPONENT/FILE: why it cannot be judged (an untrusted signer, a key not held). */
  doubt?: Record<string, string>;
  backups: {
    component: string;
    file: string;
    finishedAt?: string;
    keyId?: string;
    signer?: string;
    verification?: { ok: boolean; message?: string };
    problem?: string;
    undecided?: boolean;
  }[];
}

/** A listing as the repository gives it: only the manifest fields retention reads are filled in. */
function listed(c: RetentionCase): Listed[] {
  return c.backups.map((b) => ({
    component: b.component,
    file: b.file,
    ...(b.finishedAt
      ? {
          manifest: {
            finishedAt: b.finishedAt,
            keyId: b.keyId,
            signer: { id: b.signer, publicKey: '' },
            ...(b.verification ? { verification: { at: b.finishedAt, check: 'full read', message: '', ...b.verification } } : {}),
          } as unknown as BackupManifest,
        }
      : {}),
    ...(b.problem ? { problem: b.problem } : {}),
    ...(b.undecided ? { undecided: true } : {}),
  }));
}

describe('retention (test/testdata/retention): which backups stay, and why', () => {
  for (const [name, file] of inputs('retention', '.json')) {
    it(name, () => {
      const c = JSON.parse(readFileSync(file, 'utf8')) as RetentionCase;
      const policy: KeepPolicy = { ...c.policy, ...(c.policy.within ? { within: parseKeepWithin(c.policy.within) } : { within: undefined }) };
      if (!c.policy.within) delete policy.within;
      const doubt = (b: Listed) => c.doubt?.[`${b.component}/${b.file}`] ?? null;
      golden(
        file,
        '.json',
        outcome(() => decideRetention(listed(c), policy, new Date(c.now), c.currentKeyId, doubt, c.host ? { host: c.host } : {})),
      );
    });
  }
});

describe('the evidence log against the head a vault copy recorded (test/testdata/evidence-log)', () => {
  for (const [name, file] of inputs('evidence-log', '.json')) {
    it(name, () => {
      const c = JSON.parse(readFileSync(file, 'utf8')) as { about: string; log: string[]; partial: string | null; head: Head };
      golden(
        file,
        '.json',
        outcome(() => {
          const s = compareLog({ lines: c.log, partial: c.partial }, c.head);
          // A consistent log: what the comparison found, not every record it read.
          return s.kind === 'consistent'
            ? {
                kind: s.kind,
                missing: s.missing.length,
                dropPartial: s.dropPartial,
                records: s.scan.records.length,
                lastSeq: s.scan.lastSeq,
                gaps: s.scan.gaps,
              }
            : s;
        }),
      );
    });
  }
});
