import { VaultError } from '../errors/errors.js';
import type { VaultDocument } from '../vault/document.js';
import { getVersion } from '../vault/entries.js';
import { checkTotp, isProtected, parsePolicy, withinHours } from './policy.js';

/**
 * The restore policy's guard rails, enforced before a restore writes: a
 * protected context needs its name typed or a TOTP code, and outside
 * operational hours a break-glass reason. The answers come from the caller
 * (a prompt, an environment variable); nothing here prompts.
 */
export interface GuardAnswers {
  /** Asked for the context name when the policy says `confirm: context`; undefined when it cannot be asked. */
  confirmContext?: () => Promise<string>;
  /** Asked for a TOTP code when the policy says `confirm: totp`; undefined when it cannot be asked. */
  totpCode?: () => Promise<string>;
  breakGlass: boolean;
  reason?: string;
}

/** What the evidence record says about the guard rails. */
export type GuardRecord = Record<string, unknown> & { protected: boolean };

export async function enforcePolicy(
  policyFile: { path: string; text: string } | undefined,
  context: string,
  now: Date,
  doc: VaultDocument,
  answers: GuardAnswers,
): Promise<GuardRecord> {
  if (!policyFile) return { protected: false };
  const policy = parsePolicy(policyFile.text, policyFile.path);
  if (!isProtected(policy, context)) return { protected: false, policy: policyFile.path };
  const hours = withinHours(policy, now);
  if (!hours.within && !answers.breakGlass) {
    throw new VaultError('policy', `context ${context} is protected and it is outside operational hours (${policy.hours.text}; now ${hours.local})`, {
      code: 'policy-hours',
    });
  }
  if (policy.confirm === 'context') {
    if (!answers.confirmContext)
      throw new VaultError('policy', `context ${context} is protected: confirm it by name`, { code: 'policy-confirm-context', data: { context } });
    const typed = await answers.confirmContext();
    if (typed !== context) throw new VaultError('policy', `the confirmation "${typed}" does not match the context ${context}; nothing was restored`);
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
    if (!answers.totpCode) throw new VaultError('policy', `context ${context} is protected: a TOTP code is needed`, { code: 'policy-totp' });
    const code = await answers.totpCode();
    if (!(await checkTotp(value, code, now))) throw new VaultError('policy', `the TOTP code for context ${context} is wrong or expired; nothing was restored`);
  }
  return { protected: true, policy: policyFile.path, confirmedBy: policy.confirm, outsideHours: !hours.within, breakGlass: answers.breakGlass };
}
