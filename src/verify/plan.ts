import { parseYaml } from '../vault/yaml.js';
import { VaultError } from '../errors/errors.js';
import { parseAgainst, type Against } from './sources.js';
import { parseInterval, type Interval } from './schedule.js';

/**
 * A verification plan, so that a scheduled job checks the same things every
 * time (docs/FORMAT.md, "Verification plan"):
 *
 *   apiVersion: vault-tool/v1
 *   kind: VerificationPlan
 *   interval: quarterly
 *   against:                         # production sources: SOURCE=ENTRY
 *     - env:/opt/app/.env#MASTER_KEY=platform/master
 *     - k8s:infisical/infisical-bootstrap-secret#ENCRYPTION_KEY=infisical/encryption-key
 *   kubernetes: { kubeconfig: /etc/kube/config, context: prod }   # for k8s: sources
 *   copies:                          # copies to check besides the registered ones
 *     - { vault: /mnt/usb/secrets.vault, key: /mnt/safe/vault.key }
 *   backups: { repo: /srv/backups, readData: "10%" }
 */
export interface VerificationPlan {
  interval: Interval;
  against: Against[];
  kubernetes?: { kubeconfig?: string; context?: string };
  copies: { vault: string; key?: string }[];
  backups?: { repo: string; readData: boolean | number };
}

const FIELDS = ['apiVersion', 'kind', 'interval', 'against', 'kubernetes', 'copies', 'backups'];
const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** `true`, `false`, or a share such as `10%` (a sample that rotates so that a year of runs covers everything). */
export function parseReadData(v: unknown, where: string): boolean | number {
  if (v === undefined || v === false || v === true) return v === true;
  const m = typeof v === 'string' ? /^([1-9][0-9]?|100)%$/.exec(v) : null;
  if (!m) throw new VaultError('invalid', `${where}: readData must be true, false or a percentage such as 10%`);
  return Number(m[1]) / 100;
}

export function parseVerificationPlan(text: string, source: string, cwd = '/'): VerificationPlan {
  const raw: unknown = parseYaml(text, source);
  if (!isRecord(raw) || raw.apiVersion !== 'vault-tool/v1' || raw.kind !== 'VerificationPlan') {
    throw new VaultError('invalid', `${source}: not a verification plan (expected apiVersion: vault-tool/v1 and kind: VerificationPlan)`);
  }
  for (const k of Object.keys(raw)) if (!FIELDS.includes(k)) throw new VaultError('invalid', `${source}: unknown field ${k}`);
  const list = (k: string): unknown[] => {
    const v = raw[k] ?? [];
    if (!Array.isArray(v)) throw new VaultError('invalid', `${source}: ${k} must be a list`);
    return v;
  };
  const at = (k: string, i: number, f: () => unknown) => {
    try {
      return f();
    } catch (e) {
      throw new VaultError('invalid', `${source}: ${k}[${i}]: ${(e as Error).message}`);
    }
  };
  const against = list('against').map(
    (a, i) =>
      at('against', i, () => {
        if (typeof a !== 'string') throw new Error('expected SOURCE=ENTRY');
        return parseAgainst(a, cwd);
      }) as Against,
  );
  const copies = list('copies').map(
    (c, i) =>
      at('copies', i, () => {
        if (!isRecord(c) || typeof c.vault !== 'string' || (c.key !== undefined && typeof c.key !== 'string'))
          throw new Error('expected { vault: FILE, key: FILE }');
        return { vault: c.vault, ...(c.key ? { key: c.key as string } : {}) };
      }) as { vault: string; key?: string },
  );
  let kubernetes: VerificationPlan['kubernetes'];
  if (raw.kubernetes !== undefined) {
    const k = raw.kubernetes;
    if (!isRecord(k) || (k.kubeconfig !== undefined && typeof k.kubeconfig !== 'string') || (k.context !== undefined && typeof k.context !== 'string'))
      throw new VaultError('invalid', `${source}: kubernetes must be { kubeconfig, context }`);
    kubernetes = { ...(k.kubeconfig ? { kubeconfig: k.kubeconfig as string } : {}), ...(k.context ? { context: k.context as string } : {}) };
  }
  let backups: VerificationPlan['backups'];
  if (raw.backups !== undefined) {
    const b = raw.backups;
    if (!isRecord(b) || typeof b.repo !== 'string') throw new VaultError('invalid', `${source}: backups must be { repo: DEST, readData: … }`);
    backups = { repo: b.repo, readData: parseReadData(b.readData, `${source}: backups`) };
  }
  return {
    interval: parseInterval(typeof raw.interval === 'string' ? raw.interval : 'quarterly'),
    against,
    copies,
    ...(kubernetes ? { kubernetes } : {}),
    ...(backups ? { backups } : {}),
  };
}
