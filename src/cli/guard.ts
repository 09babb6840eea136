import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { VaultError } from '../errors/errors.js';
import { POLICY_NAMES } from '../fs/replace.js';
import { described, guardRestore, type GuardAnswers, type GuardRecord, type PolicyFile } from '../k8s/guard.js';
import { parsePolicy, protects, type GuardTarget } from '../k8s/policy.js';
import { readVault } from '../vault/store.js';
import type { Context } from './context.js';
import { collect } from './options.js';

// The file names a restore policy has beside the vault: the one for every restore, and its first name (Kubernetes contexts only).
export { POLICY_NAMES } from '../fs/replace.js';

/**
 * The restore policy in force, for every restore (Secrets and data): `given`
 * (--policy, or a drill plan's), else VAULT_TOOL_RESTORE_POLICY (or its
 * first name VAULT_TOOL_K8S_POLICY), else restore-policy.yaml beside the
 * vault (or its first name k8s-policy.yaml); none when there is none. Two
 * files beside the vault are refused: which one rules would be a guess.
 */
export async function policyFile(ctx: Context, cmd: Command, given?: string): Promise<PolicyFile | undefined> {
  const env = ctx.io.env.VAULT_TOOL_RESTORE_POLICY ?? ctx.io.env.VAULT_TOOL_K8S_POLICY;
  const explicit = given ?? (env ? ctx.abs(env) : undefined);
  let path = explicit;
  if (!path) {
    const beside = POLICY_NAMES.map((n) => join(dirname(ctx.paths(cmd).vaultFile), n)).filter((p) => existsSync(p));
    if (beside.length > 1)
      throw new VaultError('invalid', `two restore policies beside the vault (${beside.join(', ')}): which one rules is unclear`, {
        code: 'policy-two-files',
      });
    path = beside[0];
  }
  if (!path) return undefined;
  return { path, text: (await ctx.readFile(ctx.abs(path), 'the restore policy')).toString('utf8') };
}

export interface GuardOptions {
  /** The target's name, typed (--confirm-context; --confirm-target, once for each protected target of a restore). */
  confirm?: string | string[];
  totpEnv?: string;
  breakGlass?: boolean;
  reason?: string;
}

/** --break-glass without a reason is refused before anything is read. */
export function checkBreakGlass(o: GuardOptions): void {
  if (o.breakGlass && !o.reason?.trim()) throw new VaultError('usage', '--break-glass needs --reason "…" (it goes into the evidence log)');
}

/**
 * The name typed for a target: of several (`--confirm-target` for each
 * protected target of `backup restore --all`), the one naming it, else the
 * first (which the guard then finds does not match).
 */
function typedFor(given: string | string[], name: string | undefined): string {
  const names = typeof given === 'string' ? [given] : given;
  return names.find((n) => n === name) ?? names[0]!;
}

/** Answers to the guard rails: from flags, else prompts on a terminal, else none (the guard then refuses). */
export function guardAnswers(ctx: Context, o: GuardOptions, target: () => string, name?: string): GuardAnswers {
  const prompt = async (kind: 'input' | 'password', message: string) => {
    const p = await import('@inquirer/prompts');
    return kind === 'input' ? p.input({ message }, ctx.promptContext()) : p.password({ message, mask: true }, ctx.promptContext());
  };
  return {
    breakGlass: Boolean(o.breakGlass),
    ...(o.reason ? { reason: o.reason } : {}),
    ...(o.confirm !== undefined
      ? { confirmContext: async () => typedFor(o.confirm!, name) }
      : ctx.io.stdinIsTTY
        ? { confirmContext: () => prompt('input', `Restoring into protected ${target()}. Type its name to confirm:`) }
        : {}),
    ...(o.totpEnv
      ? {
          totpCode: async () => {
            // No code is a refusal by the policy like any other (exit 17, recorded), not a mistake in the command line.
            const code = ctx.io.env[o.totpEnv!];
            if (code === undefined)
              throw new VaultError('policy', `${target()} is protected and --totp-env names ${o.totpEnv}, which is not set: no TOTP code`, {
                code: 'policy-totp-unset',
                data: { name: o.totpEnv! },
              });
            return code;
          },
        }
      : ctx.io.stdinIsTTY
        ? { totpCode: () => prompt('password', `TOTP code for protected ${target()}:`) }
        : {}),
  };
}

/**
 * A data restore into `target`, through the restore policy in force (as
 * `k8s restore` goes through it for a context): nothing when no policy
 * protects the target; else the guard's decision, recorded in the evidence
 * log, and a refusal thrown. The target is named only when a policy is in
 * force (`targetOf`: a database is asked of its server, which a restore
 * without a policy never needs). The vault is read only for a protected target
 * (its TOTP entry; the record).
 */
export async function guardDataRestore(
  ctx: Context,
  cmd: Command,
  o: GuardOptions & { policy?: string },
  targetOf: () => GuardTarget | Promise<GuardTarget>,
  restore: string,
): Promise<GuardRecord | undefined> {
  const policy = await policyFile(ctx, cmd, o.policy ? ctx.abs(o.policy) : undefined);
  if (!policy) return undefined;
  // Named only when a policy is in force (a database is asked of its server).
  const target = await targetOf();
  if (protects(parsePolicy(policy.text, policy.path), target) === undefined) return { protected: false, policy: policy.path };
  const paths = ctx.paths(cmd);
  const store = ctx.storeOptions(cmd);
  const { doc } = await readVault(paths, store);
  return guardRestore({
    policy,
    target,
    restore,
    now: ctx.now(),
    doc,
    answers: guardAnswers(ctx, o, () => described(target), target.name),
    paths,
    store,
    onUnrecorded: (why) => ctx.warn(`the restore policy's decision is NOT in the evidence log: ${why}`),
  });
}

/** The options of a guarded data restore (as `k8s restore` has them for a context). */
export function guardOptions(c: Command): Command {
  return c
    .option('--policy <file>', 'restore policy (default: env VAULT_TOOL_RESTORE_POLICY, else restore-policy.yaml beside the vault if present)')
    .option(
      '--confirm-target <name>',
      'for a protected target with confirm: context: its name, typed (instead of the prompt); repeatable, one for each protected target (--all)',
      collect,
    )
    .option('--totp-env <VAR>', 'for a protected target with confirm: totp, read the code from this environment variable')
    .option('--break-glass', 'restore into a protected target outside operational hours (needs --reason)')
    .option('--reason <text>', 'why: recorded in the evidence log');
}
