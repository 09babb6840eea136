import { CommanderError } from 'commander';
import { VaultError } from '../errors/errors.js';
import { EXIT_CODES, exitCodeFor } from './exit-codes.js';
import type { Io } from './io.js';

/**
 * Hints that name vault-tool's commands and flags, by error code. The
 * library states what is wrong and why; what to type next is the CLI's to
 * say (a library caller has no flags).
 */
export const HINTS: Record<string, string | ((data: Record<string, string>) => string)> = {
  'wrong-key': 'check --key-file (or VAULT_TOOL_KEY_FILE); `vault-tool escrow combine` rebuilds a lost key from shares',
  'rekey-in-progress':
    'a rekey is in progress (the new key is in <key file>.new): run `vault-tool rekey --confirm` to finish it, or `vault-tool rekey --abort`',
  'rekey-pending': 'finish it with `vault-tool rekey --confirm` or `vault-tool rekey --abort`',
  'rekey-confirmed': 'run `vault-tool rekey --confirm` to finish it',
  'no-rekey': 'start one with `vault-tool rekey`',
  'rollback-write': 'use the newest copy; to go on from this one (a deliberate rollback, losing what the newer copy holds), add --allow-rollback',
  'rollback-read': 'use the newest copy, or drop --strict to read this one anyway',
  'init-exists': 'choose other paths with --vault-file/--key-file',
  'passphrase-needed': 'give the passphrase with --passphrase-env VAR or --passphrase-file FILE, or run on a terminal',
  'evidence-lacking': 'run `vault-tool evidence repair` to write it back (the repair is recorded)',
  'evidence-gap':
    'the vault was moved or restored without its log? `vault-tool evidence repair` starts a new log segment that records which records are missing',
  'evidence-damaged':
    'the log was edited or damaged: `vault-tool evidence verify` names the first bad record; keep the log aside (mv it), then `vault-tool evidence repair` starts a new segment that records the loss',
  'evidence-ahead': 'use the newest copy of the vault; to go on from this one, --allow-rollback keeps the newer records aside',
  'entry-missing': 'see `vault-tool list`',
  'entry-removed': (d) => `its history is kept: \`vault-tool history ${d.name}\`, \`vault-tool get ${d.name}@N\``,
  'entry-exists': (d) => `store a new version with \`vault-tool add ${d.name} --update …\` or \`vault-tool rotate ${d.name}\``,
  'rm-key-material': 'add --force (old backups may need this key; its history is kept unless --purge)',
  'low-entropy-sha256': (d) => `compare without printing: \`vault-tool fingerprint ${d.name} --compare FILE\`, or pass --allow-low-entropy`,
  'k8s-plan-format': '`vault-tool k8s plan` writes one from the vault',
  'cannot-generate': 'import the value with --from-file, --from-stdin or --from-env',
  'bad-version-ref': 'use NAME@N with N a version number from `vault-tool history NAME`',
  'recipient-is-vault-key': 'replace the vault key with `vault-tool rekey`',
  'recipient-missing': 'see `vault-tool recipients list`',
  'combine-no-vault': 'point --vault-file at the vault the key must open, or pass --skip-vault-check to replace it unchecked (it is kept aside)',
  'replace-refused': 'choose another output file',
  'wrong-key-replaced': (d) =>
    `the key file was replaced by \`vault-tool escrow combine --force\`; the key it replaced is kept as ${d.keptAside}: put it back with \`mv ${d.keptAside} ${d.keyFile}\` if it is the one that opens this vault`,
  'combine-exists': 'pass --force to replace it (it is kept aside), or choose another --out',
  'combine-older-key':
    'use the shares of the current set (`vault-tool escrow status` names it), or point --vault-file at the vault this key opens; --skip-vault-check writes it anyway',
  'split-exists': 'choose an empty --out folder',
  'kit-not-built': 'build vault-tool first (`npm run build` in its source tree), or install its package, which ships the kit',
  'reshare-still-pending': 'run `vault-tool rekey --abort` to drop it, or `vault-tool escrow reshare --rekey` again to go on',
  'bad-share': 'check each share with `vault-tool escrow check SHARE --manifest manifest.json`',
  'no-shares':
    'name the share files (vault-tool escrow combine -o vault.key A.share B.share …), or type the shares on a terminal; piped on stdin, give them one after another',
  'share-sets-ambiguous': 'give the shares of one set only: `vault-tool escrow status` names the current set (or --manifest keeps only the shares it lists)',
  'k8s-skipped-type': 'pass --include-all-types to import it',
  'k8s-import-which': 'name Secrets, or use -l SELECTOR, -A, or --from-file FILE',
  'k8s-export-loose': 'put them into one with --secret NAME [-n NAMESPACE], or export a --plan',
  'k8s-no-origin': 'import Secrets with `vault-tool k8s import`, or write the plan by hand (docs/FORMAT.md, "Restore plan")',
  'k8s-skipped': 'skipped Secrets exist with other values; see --on-conflict',
  'k8s-drift':
    "a key rotated in the cluster and never escrowed? import it with `vault-tool k8s import`; or restore the vault's value with `vault-tool k8s restore`",
  'policy-hours': 'an emergency restore needs --break-glass --reason "…" (recorded in the evidence log)',
  'policy-confirm-context': (d) => `pass --confirm-context ${d.context}`,
  'policy-confirm-target': (d) => `pass --confirm-target ${/^[\w./:@-]+$/.test(String(d.target)) ? d.target : JSON.stringify(d.target)}`,
  'policy-two-files': 'keep one: restore-policy.yaml (k8s-policy.yaml is its first name), or name one with --policy FILE',
  'policy-totp': 'pass --totp-env VAR with the code in that variable',
  'policy-totp-entry': (d) => `add it with \`vault-tool add ${d.entry} --type totp-secret\``,
  'env-map-collision': 'give each variable its own entry with --map KEY=name',
  'env-binary': (d) => `hand it over on a file descriptor instead: vault-tool run --fd 3=${d.entry} -- … (the command reads /dev/fd/3)`,
  'env-export-collision': (d) =>
    d.firstPath
      ? `name them apart with --prefix-path (${d.firstPath}, ${d.secondPath}), or give one its own name with --map KEY=${d.second}`
      : `give one of them its own name with --map KEY=${d.second}`,
  'k8s-conflict': 'the Secret changed in the cluster meanwhile; run the command again to re-read it',
  'k8s-forbidden': '`vault-tool k8s rbac` prints the least-privilege Role this needs',
  'k8s-namespace-missing': 'the namespace does not exist; add --create-namespace',
  'k8s-recreate': 'add --recreate to delete and create it',
  'k8s-on-conflict': '--on-conflict if-unchanged replaces it if vault-tool wrote it last; overwrite replaces it anyway',
  'k8s-not-ours': '--on-conflict overwrite replaces it',
  'k8s-changed-since': 'compare with `vault-tool k8s diff-vault`; --on-conflict overwrite replaces it',
  'k8s-timeout': 'raise --request-timeout, or check the cluster',
  'k8s-unreachable': 'check --context, the kubeconfig server address and the network (VPN, firewall)',
  'k8s-no-context': (d) => `pass --context NAME (contexts: ${d.contexts})`,
  'k8s-recreate-lost': 'the live Secret was deleted but the new one was not written: run the same restore again at once (it creates what is missing)',
  'copy-same-place': 'give --key-to a different folder or remote (or --force, knowing that whoever holds that place holds every secret)',
  'copy-missing': 'see `vault-tool copy list`',
  'external-timeout': (d) =>
    `vault-tool waits ${d.timeout ?? '5m'} for an external program (VAULT_TOOL_TIMEOUT sets it): check the network and the remote or server it talks to`,
  'key-copy-exposed': 'make the key copy readable by its owner only (chmod 600), or copy the key again to a place that keeps it private',
  'copy-stale': (d) =>
    `replace copy ${d.id} with \`vault-tool copy --replace ${d.id}\` (a new copy in the same place, registered in its stead), or stop checking it: \`vault-tool copy forget ${d.id}\``,
  'escrow-stale':
    'split the current key among the custodians again: `vault-tool escrow reshare` (or `vault-tool escrow split`); `vault-tool verify --shares …` then proves the new shares open the vault',
  'backup-inconclusive':
    "this host's checker is missing, older than the backup host's tool, or was killed: install one at least as new (e.g. the same PostgreSQL major version) or run `vault-tool backup verify` on the backup host",
  'verify-inconclusive':
    'read the report: each check that could not be judged says what this host lacks (a checker, a newer tool, access to a source); nothing failed, and nothing was recorded against a backup',
  'verify-failed': 'read the report (--report FILE): each failure says what to do',
  'verify-overdue': 'run `vault-tool verify` (a scheduled job: `vault-tool schedule`)',
  'entry-held': 'remove it without --purge (its versions stay), or first prune the backups that need it (vault-tool backup prune)',
  'backup-no-recipient': 'give --recipient age1… (vault-tool backup key prints it where the vault is), or run where the vault and its key are',
  'backup-no-key': 'vault-tool backup key makes one',
  'backup-missing': 'see vault-tool backup list',
  'backup-key-gone': 'a purged or lost version of backup/identity: restore it from an older copy of the vault',
  'prune-no-rules': 'give at least one of --keep-last, --keep-daily, --keep-weekly, --keep-monthly, --keep-yearly, --keep-within',
  'tool-missing': (d) =>
    `install ${d.tool} (Debian: ${d.tool === 'pg_dump' || d.tool === 'pg_dumpall' || d.tool === 'pg_restore' || d.tool === 'psql' || d.tool === 'createdb' ? 'postgresql-client' : d.tool === 'redis-cli' || d.tool === 'redis-check-rdb' ? 'redis-tools' : d.tool})`,
  'wal-no-archive': 'set archive_command = \'vault-tool backup wal-push %p --cluster NAME …\' on the server (docs/RUNBOOK.md, "Point-in-time recovery")',
  'wal-not-archived': 'check archive_command and pg_stat_archiver on the server; `vault-tool backup wal-status --cluster NAME --archiver` shows both sides',
  'wal-gap': '`vault-tool backup wal-verify --cluster NAME` names every gap: restore to an earlier time, or from a base backup made after the gap',
  'wal-not-yet': 'on the server, SELECT pg_switch_wal() archives the current segment (or wait for archive_timeout)',
  'wal-conflict': 'two servers archive under one --cluster, or a split brain: give each server its own --cluster; nothing archived is overwritten',
  'restore-datadir-not-empty': 'give --to-dir an empty or new folder',
  'kubeconfig-missing': 'check --kubeconfig or KUBECONFIG',
  'drill-no-shares':
    'give --shares the folder escrow split -o wrote, or the folder holding one subfolder per custodian; or leave --shares out to type them at the drill',
  'drill-no-context': 'give --context NAME: the kubeconfig context of the scratch cluster (never production)',
  'drill-teardown-left': 'fix the cause named, then run vault-tool drill teardown again (the journal still names them)',
  'tool-timeout': 'raise the bound (timeouts: in the drill plan) if the work is legitimately slow, or find out why the tool hangs',
  'kubeconfig-none': 'pass --kubeconfig FILE, set KUBECONFIG, or run where ~/.kube/config exists',
};

/**
 * An error whose exit code is not its kind's: a command that `run` cannot
 * start exits 127 (not found) or 126 (not runnable), as shells and env(1) do,
 * so that a script tells it from the command's own exit codes.
 */
export class ExitCodeError extends VaultError {
  readonly exitCode: number;
  constructor(exitCode: number, message: string) {
    super('usage', message);
    this.exitCode = exitCode;
  }
}

/** The CLI's hint for a condition code, if it has one. */
export function hintText(code: string, data: Record<string, string> = {}): string | undefined {
  const h = HINTS[code];
  return typeof h === 'function' ? h(data) : h;
}

/** The hint for an error: the CLI's for its code, else the library's own. */
export function hintFor(e: VaultError): string | undefined {
  const h = e.code ? HINTS[e.code] : undefined;
  return (typeof h === 'function' ? h(e.data ?? {}) : h) ?? e.hint;
}

/** Characters that would let a name printed in a message start a new line, erase or reorder what the terminal shows. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\u001b': '\\e' };

/**
 * Control characters as visible escapes (a newline as `\n`, others as
 * `\xNN` or `\uNNNN`): a file name holding a newline cannot split a
 * message, nor forge a `vault-tool: hint:` line under it.
 */
export function escapeControl(text: string): string {
  return text.replace(CONTROL, (c) => {
    const code = c.charCodeAt(0);
    return NAMED[c] ?? (code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
  });
}

export type MessageKind = 'error' | 'warning' | 'hint' | 'info';

/**
 * Writes one message to stderr as one line: `vault-tool: error: …`,
 * `vault-tool: warning: …`, `vault-tool: hint: …`, or a plain line (info).
 * Every message the CLI prints goes through here, its control characters
 * escaped, so no call site can print a name raw.
 */
export function writeMessage(io: Pick<Io, 'stderr'>, kind: MessageKind, message: string): void {
  io.stderr.write(`${kind === 'info' ? '' : `vault-tool: ${kind}: `}${escapeControl(message)}\n`);
}

/** A usage error as commander words it, on one line (its "did you mean" suggestion on the next). */
export function commanderMessage(text: string): string {
  return `vault-tool: ${text.replace(/\n$/, '').split('\n(Did you mean ').map(escapeControl).join('\n(Did you mean ')}\n`;
}

/**
 * Turns whatever a command threw into one error line, a hint line where one
 * helps, and an exit code. `scrub` hides the secret values the run handled
 * (a tool's error output quoting them).
 */
export function reportError(e: unknown, io: Io, scrub: (text: string) => string = (t) => t): number {
  // Secret values are hidden first, then control characters escaped (writeMessage).
  const say = (kind: MessageKind, message: string) => writeMessage(io, kind, scrub(message));
  if (e instanceof CommanderError) {
    // Help and version exit through here with code 0; usage errors were already printed by commander.
    return e.exitCode === 0 ? 0 : EXIT_CODES.usage.code;
  }
  if (e instanceof VaultError) {
    // restore_command asks for files that may not exist: their absence is an exit status, not a message.
    if (e.code === 'wal-absent') return exitCodeFor(e.kind);
    say('error', e.message);
    const hint = hintFor(e);
    if (hint) say('hint', hint);
    if (io.env.VAULT_TOOL_DEBUG === '1') io.stderr.write(`${scrub(String(e.stack))}\n`);
    return e instanceof ExitCodeError ? e.exitCode : exitCodeFor(e.kind);
  }
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'ENOSPC' || err?.code === 'EDQUOT' || err?.code === 'EACCES' || err?.code === 'EROFS' || err?.code === 'EPERM') {
    // A file system error no library call classified: say it once, in words.
    const what = {
      ENOSPC: 'no space left on the device',
      EDQUOT: 'disk quota exceeded',
      EACCES: 'permission denied',
      EPERM: 'operation not permitted',
      EROFS: 'read-only file system',
    }[err.code];
    const where = err.path ? ` (${err.syscall ? `${err.syscall} ` : ''}${err.path})` : '';
    say('error', `${what}${where}`);
    return EXIT_CODES.io.code;
  }
  if (err?.name === 'ExitPromptError') {
    say('error', 'interrupted');
    return EXIT_CODES.interrupted.code;
  }
  say('error', `unexpected: ${err?.message ?? String(e)}`);
  if (io.env.VAULT_TOOL_DEBUG === '1') io.stderr.write(`${scrub(String(err?.stack))}\n`);
  else say('hint', 'rerun with VAULT_TOOL_DEBUG=1 for details');
  return EXIT_CODES.internal.code;
}
