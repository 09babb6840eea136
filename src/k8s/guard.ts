import { VaultError } from '../errors/errors.js';
import { recordAccess } from '../vault/access.js';
import type { VaultDocument } from '../vault/document.js';
import { getVersion } from '../vault/entries.js';
import type { StoreOptions, VaultPaths } from '../vault/store.js';
import { checkTotp, type GuardTarget, parsePolicy, protects, withinHours } from './policy.js';

/**
 * The restore policy's guard rails, enforced before a restore writes, for
 * Secrets and data alike: a protected target needs the confirmation the
 * policy names (a TOTP code, or the target's name typed) and, outside
 * operational hours, a break-glass with a reason. The answers come from the
 * caller (a prompt, an environment variable); nothing here prompts.
 */
export interface GuardAnswers {
  /** Asked for the target's name when the policy says `confirm: context`; undefined when it cannot be asked. */
  confirmContext?: () => Promise<string>;
  /** Asked for a TOTP code when the policy says `confirm: totp`; undefined when it cannot be asked. */
  totpCode?: () => Promise<string>;
  breakGlass: boolean;
  reason?: string;
}

/** What the evidence record says about the guard rails. */
export type GuardRecord = Record<string, unknown> & { protected: boolean };

export type PolicyFile = { path: string; text: string };

/** A target as messages and records name it: `database orders`, `Redis folder /var/lib/redis`, `context prod`. */
export const described = (t: GuardTarget) =>
  `${t.type === 'contexts' ? 'context' : t.type === 'databases' ? 'database' : t.type === 'buckets' ? 'bucket' : t.type === 'redis' ? 'Redis folder' : t.type === 'file' ? 'file' : 'folder'} ${t.name}${t.note ? ` (${t.note})` : ''}`;

/** The code of the refusal that asks for the target's name, by the kind of target (each command names its own flag). */
export async function enforcePolicy(
  policyFile: PolicyFile | undefined,
  target: GuardTarget,
  now: Date,
  doc: VaultDocument,
  answers: GuardAnswers,
): Promise<GuardRecord> {
  if (!policyFile) return { protected: false };
  const policy = parsePolicy(policyFile.text, policyFile.path);
  const pattern = protects(policy, target);
  if (pattern === undefined) return { protected: false, policy: policyFile.path };
  const what = described(target);
  const hours = withinHours(policy, now);
  if (!hours.within && !answers.breakGlass) {
    throw new VaultError('policy', `${what} is protected and it is outside operational hours (${policy.hours.text}; now ${hours.local})`, {
      code: 'policy-hours',
    });
  }
  if (policy.confirm === 'context') {
    const isContext = target.type === 'contexts';
    if (!answers.confirmContext)
      throw new VaultError('policy', `${what} is protected: confirm it by name`, {
        code: isContext ? 'policy-confirm-context' : 'policy-confirm-target',
        data: { context: target.name, target: target.name },
      });
    const typed = await answers.confirmContext();
    if (typed !== target.name)
      throw new VaultError('policy', `the confirmation "${typed}" does not match the ${what}; nothing was restored`, {
        code: isContext ? 'policy-confirm-context' : 'policy-confirm-target',
        data: { context: target.name, target: target.name },
      });
  } else {
    let value: Buffer;
    try {
      value = getVersion(doc, policy.totpEntry!).value;
    } catch {
      throw new VaultError('policy', `the policy's TOTP entry ${policy.totpEntry} is not in the vault`, {
        code: 'policy-totp-entry',
        data: { entry: policy.totpEntry! },
      });
    }
    if (!answers.totpCode) throw new VaultError('policy', `${what} is protected: a TOTP code is needed`, { code: 'policy-totp' });
    const code = await answers.totpCode();
    if (!(await checkTotp(value, code, now))) throw new VaultError('policy', `the TOTP code for the ${what} is wrong or expired; nothing was restored`);
  }
  return {
    protected: true,
    policy: policyFile.path,
    pattern,
    confirmedBy: policy.confirm,
    outsideHours: !hours.within,
    breakGlass: answers.breakGlass,
  };
}

/** A guarded restore: the policy, the target, and where its decision is recorded. */
export interface GuardRun {
  policy: PolicyFile | undefined;
  target: GuardTarget;
  /** What is restored, for the record (a backup COMPONENT/FILE, a restore plan's path). */
  restore: string;
  now: Date;
  doc: VaultDocument;
  answers: GuardAnswers;
  paths: VaultPaths;
  store: StoreOptions;
  /** Told when the decision could not go into the evidence log (the restore goes on, or stays refused). */
  onUnrecorded?: (why: string) => void;
}

/**
 * The policy's decision on a restore into a target, recorded in the
 * evidence log whatever it is (`restore.guard`: allowed, break-glass, or
 * refused with why) when the target is protected; a target the policy does
 * not protect (a drill's scratch target) needs nothing and records nothing
 * here. A refusal is thrown after it is recorded.
 */
export async function guardRestore(g: GuardRun): Promise<GuardRecord> {
  const base = { target: described(g.target), restore: g.restore };
  const record = async (data: Record<string, unknown>) => {
    const r = await recordAccess(g.paths, g.store, 'restore.guard', { ...base, ...data }, g.now);
    if (r.outcome !== 'recorded') g.onUnrecorded?.(r.why);
  };
  let decision: GuardRecord;
  try {
    decision = await enforcePolicy(g.policy, g.target, g.now, g.doc, g.answers);
  } catch (e) {
    if (e instanceof VaultError && e.kind === 'policy')
      await record({
        decision: 'refused',
        policy: g.policy?.path,
        why: e.message,
        breakGlass: g.answers.breakGlass,
        ...(g.answers.reason ? { reason: g.answers.reason } : {}),
      });
    throw e;
  }
  if (!decision.protected) return decision;
  await record({
    decision: decision.outsideHours ? 'break-glass' : 'allowed',
    ...decision,
    ...(g.answers.reason ? { reason: g.answers.reason } : {}),
  });
  return decision;
}
