import { shellWord } from '../errors/shell.js';
import type { ErrorCode } from '../errors/codes.js';
import type { ErrorKind } from '../errors/errors.js';

/** What to type next: a text, or one made from the names the error carries (`data`) and the library's own hint. */
export type Hint = string | ((data: Record<string, string>, own?: string) => string);

export interface CodeEntry {
  /**
   * The kind an error with this code is raised with, and so its exit code
   * (exit-codes.ts); several where one condition is met in several ways.
   * A code that names one item of a result (a Secret skipped) has the kind
   * the command ends with (`ok`: it ends well, with a warning); `*`: the
   * kind of the error it wraps.
   */
  kind: ErrorKind | readonly ErrorKind[] | 'ok' | '*';
  hint: Hint;
}

/**
 * Every error code (src/errors/codes.ts), with its kind and the hint that
 * names vault-tool's commands and flags: ONE table, checked by the
 * compiler (a code missing here, or not declared there, does not build) and
 * by test/unit/error-codes.test.ts (each raised with its kind, each hint
 * said). It lives on the command line's side: the library states what is
 * wrong and why, and names no flag; what to type next is the CLI's to say.
 */
export const ERROR_CODES: { readonly [C in ErrorCode]: CodeEntry } = {
  // the vault key and rekeys
  'wrong-key': { kind: 'wrong-key', hint: 'check --key-file (or VAULT_TOOL_KEY_FILE); `vault-tool escrow combine` rebuilds a lost key from shares' },
  'key-file-missing': {
    kind: 'not-found',
    hint: (d) =>
      d.vault === 'absent'
        ? 'there is no vault here either: `vault-tool init` makes one, or point --vault-file and --key-file (VAULT_TOOL_VAULT_FILE, VAULT_TOOL_KEY_FILE) at yours'
        : `check --key-file (or VAULT_TOOL_KEY_FILE); a lost key is rebuilt from the custodians' shares: \`vault-tool escrow combine -o ${shellWord(d.keyFile ?? 'vault.key')} SHARE…\``,
  },
  'wrong-key-replaced': {
    kind: 'wrong-key',
    hint: (d) =>
      `the key file was replaced by \`vault-tool escrow combine --force\`; the key it replaced is kept as ${d.keptAside}: put it back with \`mv ${shellWord(String(d.keptAside))} ${shellWord(String(d.keyFile))}\` if it is the one that opens this vault`,
  },
  'rekey-in-progress': {
    kind: ['not-found', 'wrong-key'],
    hint: 'a rekey is in progress (the new key is in <key file>.new): run `vault-tool rekey --confirm` to finish it, or `vault-tool rekey --abort`',
  },
  'rekey-pending': { kind: 'exists', hint: 'finish it with `vault-tool rekey --confirm` or `vault-tool rekey --abort`' },
  'rekey-confirmed': { kind: 'usage', hint: 'run `vault-tool rekey --confirm` to finish it' },
  'no-rekey': { kind: 'usage', hint: 'start one with `vault-tool rekey`' },
  'passphrase-needed': { kind: 'passphrase', hint: 'give the passphrase with --passphrase-env VAR or --passphrase-file FILE, or run on a terminal' },
  'init-exists': { kind: 'exists', hint: 'choose other paths with --vault-file/--key-file' },
  'vault-paths-clash': {
    kind: 'usage',
    hint: 'name the vault and its key file apart with --vault-file/--key-file (or VAULT_TOOL_VAULT_FILE, VAULT_TOOL_KEY_FILE), renaming a vault or key file already kept so',
  },
  // copies of the vault seen before
  'rollback-read': { kind: 'rollback', hint: 'use the newest copy, or drop --strict to read this one anyway' },
  'rollback-write': {
    kind: 'rollback',
    hint: 'use the newest copy; to go on from this one (a deliberate rollback, losing what the newer copy holds), add --allow-rollback',
  },
  // the evidence log
  'evidence-lacking': { kind: 'integrity', hint: 'run `vault-tool evidence repair` to write it back (the repair is recorded)' },
  'evidence-gap': {
    kind: 'integrity',
    hint: 'the vault was moved or restored without its log? `vault-tool evidence repair` starts a new log segment that records which records are missing',
  },
  'evidence-damaged': {
    kind: 'integrity',
    hint: 'the log was edited or damaged: `vault-tool evidence verify` names the first bad record; keep the log aside (mv it), then `vault-tool evidence repair` starts a new segment that records the loss',
  },
  'evidence-ahead': { kind: 'rollback', hint: 'use the newest copy of the vault; to go on from this one, --allow-rollback keeps the newer records aside' },
  // entries and their values
  'entry-missing': { kind: 'not-found', hint: 'see `vault-tool list`' },
  'entry-removed': { kind: 'not-found', hint: (d) => `its history is kept: \`vault-tool history ${d.name}\`, \`vault-tool get ${d.name}@N\`` },
  'entry-exists': { kind: 'exists', hint: (d) => `store a new version with \`vault-tool add ${d.name} --update …\` or \`vault-tool rotate ${d.name}\`` },
  'entry-held': { kind: 'usage', hint: 'remove it without --purge (its versions stay), or first prune the backups that need it (vault-tool backup prune)' },
  'rm-key-material': { kind: 'usage', hint: 'add --force (old backups may need this key; its history is kept unless --purge)' },
  'low-entropy-sha256': {
    kind: 'usage',
    hint: (d) => `compare without printing: \`vault-tool fingerprint ${d.name} --compare FILE\`, or pass --allow-low-entropy`,
  },
  'cannot-generate': { kind: 'usage', hint: 'import the value with --from-file, --from-stdin or --from-env' },
  'rotate-cannot-generate': {
    kind: 'usage',
    hint: (d) =>
      `import the new value as its next version: \`vault-tool add ${d.name} --update --from-file FILE\`${d.type === 'tls' ? ' (the new certificate chain and its private key, PEM)' : ''}`,
  },
  'bad-version-ref': { kind: 'usage', hint: 'use NAME@N with N a version number from `vault-tool history NAME`' },
  'bad-duration': {
    kind: ['usage', 'invalid'],
    hint: (_d, own) => own ?? 'write a number and a unit, or several: 90s, 15m (or 15min), 36h, 30d, 2w, 6mo, 1y, 1h30m',
  },
  'env-map-collision': { kind: 'usage', hint: 'give each variable its own entry with --map KEY=name' },
  'env-unset': {
    kind: 'usage',
    hint: (d) => `set ${d.name} in the command's environment (read -rs ${d.name}; export ${d.name}), or name the variable that holds it`,
  },
  'env-binary': {
    kind: 'invalid',
    hint: (d) => `hand it over on a file descriptor instead: vault-tool run --fd 3=${d.entry} -- … (the command reads /dev/fd/3)`,
  },
  'deployed-differs': {
    kind: 'verify-failed',
    hint: (d) =>
      d.other
        ? `deploy ${d.name ?? 'NAME'}@${d.version ?? 'N'} where it runs (vault-tool get ${d.name ?? 'NAME'}@${d.version ?? 'N'} --out FILE), or compare with the version it should run: vault-tool fingerprint ${d.name ?? 'NAME'}@${d.other} --compare FILE`
        : `the file holds no version of ${d.name ?? 'the entry'}: check that it is the deployed value itself (not a fingerprint, nor another key), with no extra characters`,
  },
  'bad-component-name': {
    kind: 'usage',
    hint: (d) => (d.near ? `write --name ${d.near}` : 'name it in lowercase letters and digits, with . _ - between words (--name app-db)'),
  },
  'threshold-above-shares': {
    kind: 'usage',
    hint: (d) => `give -k ${d.count ?? 'N'} or fewer, or name ${d.threshold ?? 'K'} or more custodians (-c NAME, once each)`,
  },
  'handover-spec': {
    kind: 'usage',
    hint: (d) =>
      d.name
        ? `name the entry ${d.name} gets: ${d.option ?? '--env'} ${d.name}=ENTRY (\`vault-tool list\` shows them); a variable that is not set gives an empty one`
        : d.option === '--fd'
          ? 'write --fd N=ENTRY, or --fd N=ENTRY@VERSION, N from 3: the command reads /dev/fd/N'
          : 'write --env NAME=ENTRY, or --env NAME=ENTRY@VERSION: the command reads $NAME',
  },
  'bad-mapping': {
    kind: 'usage',
    hint: (d) => {
      const form = d.form ?? 'KEY=ENTRY';
      return `write --map ${form}, one for each variable${/type/i.test(form) ? ' (`vault-tool types` lists the types)' : ''}`;
    },
  },
  'env-config-variable': {
    kind: 'usage',
    hint: (d) =>
      `hand it over in a variable of the command's own (--env NAME=ENTRY, not ${d.name}), or on a file descriptor (--fd 3=ENTRY, read from /dev/fd/3)`,
  },
  'env-export-collision': {
    kind: 'usage',
    hint: (d) =>
      d.firstPath
        ? `name them apart with --prefix-path (${d.firstPath}, ${d.secondPath}), or give one its own name with --map KEY=${d.second}`
        : `give one of them its own name with --map KEY=${d.second}`,
  },
  // recipients and outputs
  'recipient-is-vault-key': { kind: 'usage', hint: 'replace the vault key with `vault-tool rekey`' },
  'recipient-missing': { kind: 'not-found', hint: 'see `vault-tool recipients list`' },
  'replace-refused': { kind: 'exists', hint: 'choose another output file' },
  'restore-replace-refused': {
    kind: 'exists',
    hint: 'restore into a folder of its own (--to-dir NEW, or --to REMOTE:BUCKET/NEW), then move what you need: --force replaces other files, never these',
  },
  'output-exists': { kind: 'exists', hint: 'add --force to replace it, or choose another file' },
  'output-must-be-new': { kind: 'exists', hint: 'give a file that does not exist yet (move the old one away first)' },
  // escrow
  'combine-no-vault': {
    kind: 'not-found',
    hint: 'point --vault-file at the vault the key must open, or pass --skip-vault-check to replace it unchecked (it is kept aside)',
  },
  'combine-exists': { kind: 'exists', hint: 'pass --force to replace it (it is kept aside), or choose another --out' },
  'combine-older-key': {
    kind: 'wrong-key',
    hint: 'use the shares of the current set (`vault-tool escrow status` names it), or point --vault-file at the vault this key opens; --skip-vault-check writes it anyway',
  },
  'split-exists': { kind: 'exists', hint: 'choose an empty --out folder' },
  'reshare-still-pending': { kind: '*', hint: 'run `vault-tool rekey --abort` to drop it, or `vault-tool escrow reshare --rekey` again to go on' },
  'bad-share': { kind: 'bad-share', hint: 'check each share with `vault-tool escrow check SHARE --manifest manifest.json`' },
  'no-shares': {
    kind: 'too-few-shares',
    hint: 'name the share files (vault-tool escrow combine -o vault.key A.share B.share …), or type the shares on a terminal; piped on stdin, give them one after another',
  },
  'share-sets-ambiguous': {
    kind: 'bad-share',
    hint: 'give the shares of one set only: `vault-tool escrow status` names the current set (or --manifest keeps only the shares it lists)',
  },
  'kit-not-built': { kind: 'not-found', hint: 'build vault-tool first (`npm run build` in its source tree), or install its package, which ships the kit' },
  'escrow-stale': {
    kind: 'verify-failed',
    // `own`: the hint of another finding of the same run (a backup to judge again), kept beside this one.
    hint: (_d, own) =>
      `split the current key among the custodians again: \`vault-tool escrow reshare\` (or \`vault-tool escrow split\`); \`vault-tool verify --shares …\` then proves the new shares open the vault${own ? `; and ${own}` : ''}`,
  },
  // Kubernetes
  'k8s-plan-format': { kind: 'invalid', hint: '`vault-tool k8s plan` writes one from the vault' },
  'k8s-skipped-type': { kind: 'ok', hint: 'pass --include-all-types to import it' },
  'k8s-import-which': { kind: 'usage', hint: 'name Secrets, or use -l SELECTOR, -A, or --from-file FILE' },
  'k8s-export-loose': { kind: 'usage', hint: 'put them into one with --secret NAME [-n NAMESPACE], or export a --plan' },
  'k8s-no-origin': { kind: 'not-found', hint: 'import Secrets with `vault-tool k8s import`, or write the plan by hand (docs/FORMAT.md, "Restore plan")' },
  'k8s-skipped': { kind: 'incomplete', hint: 'skipped Secrets exist with other values; see --on-conflict' },
  'k8s-drift': {
    kind: 'verify-failed',
    hint: "a key rotated in the cluster and never escrowed? import it with `vault-tool k8s import`; or restore the vault's value with `vault-tool k8s restore`",
  },
  'k8s-conflict': { kind: 'cluster', hint: 'the Secret changed in the cluster meanwhile; run the command again to re-read it' },
  'k8s-forbidden': { kind: 'cluster', hint: '`vault-tool k8s rbac` prints the least-privilege Role this needs' },
  'k8s-namespace-missing': { kind: 'not-found', hint: 'the namespace does not exist; add --create-namespace' },
  'k8s-recreate': { kind: 'incomplete', hint: 'add --recreate to delete and create it' },
  'k8s-on-conflict': { kind: 'incomplete', hint: '--on-conflict if-unchanged replaces it if vault-tool wrote it last; overwrite replaces it anyway' },
  'k8s-not-ours': { kind: 'incomplete', hint: '--on-conflict overwrite replaces it' },
  'k8s-changed-since': { kind: 'incomplete', hint: 'compare with `vault-tool k8s diff-vault`; --on-conflict overwrite replaces it' },
  'k8s-timeout': { kind: 'cluster', hint: 'raise --request-timeout, or check the cluster' },
  'k8s-unreachable': { kind: 'cluster', hint: 'check --context, the kubeconfig server address and the network (VPN, firewall)' },
  'k8s-no-context': { kind: 'usage', hint: (d) => `pass --context NAME (contexts: ${d.contexts})` },
  'k8s-recreate-lost': {
    kind: 'deleted',
    hint: 'the live Secret was deleted but the new one was not written: run the same restore again at once (it creates what is missing)',
  },
  'kubeconfig-missing': { kind: 'not-found', hint: 'check --kubeconfig or KUBECONFIG' },
  'kubeconfig-none': { kind: 'not-found', hint: 'pass --kubeconfig FILE, set KUBECONFIG, or run where ~/.kube/config exists' },
  'policy-hours': { kind: 'policy', hint: 'an emergency restore needs --break-glass --reason "…" (recorded in the evidence log)' },
  'policy-confirm-context': { kind: 'policy', hint: (d) => `pass --confirm-context ${d.context}` },
  'policy-confirm-target': {
    kind: 'policy',
    hint: (d) => `pass --confirm-target ${/^[\w./:@-]+$/.test(String(d.target)) ? d.target : JSON.stringify(d.target)}`,
  },
  'policy-two-files': { kind: 'invalid', hint: 'keep one: restore-policy.yaml (k8s-policy.yaml is its first name), or name one with --policy FILE' },
  'policy-totp': { kind: 'policy', hint: 'pass --totp-env VAR with the code in that variable' },
  'policy-totp-entry': { kind: 'policy', hint: (d) => `add it with \`vault-tool add ${d.entry} --type totp-secret\`` },
  'policy-totp-unset': {
    kind: 'policy',
    hint: (d) => `put the current code in ${d.name} in the command's environment (read -rs ${d.name}; export ${d.name}), then run it again`,
  },
  // copies and verification
  'copy-same-place': {
    kind: 'usage',
    hint: 'give --key-to a different folder or remote (or --force, knowing that whoever holds that place holds every secret)',
  },
  'copy-missing': { kind: 'not-found', hint: 'see `vault-tool copy list`' },
  'copy-stale': {
    kind: 'verify-failed',
    hint: (d) =>
      `replace copy ${d.id} with \`vault-tool copy --replace ${d.id}\` (a new copy in the same place, registered in its stead), or stop checking it: \`vault-tool copy forget ${d.id}\``,
  },
  'key-copy-exposed': {
    kind: 'insecure-permissions',
    hint: 'make the key copy readable by its owner only (chmod 600), or copy the key again to a place that keeps it private',
  },
  'verify-inconclusive': {
    kind: 'inconclusive',
    hint: 'read the report: each check that could not be judged says what this host lacks (a checker, a newer tool, access to a source); nothing failed, and nothing was recorded against a backup',
  },
  'verify-failed': { kind: 'verify-failed', hint: 'read the report (--report FILE): each failure says what to do' },
  'verify-overdue': { kind: 'overdue', hint: 'run `vault-tool verify` (a scheduled job: `vault-tool schedule`)' },
  // external programs
  'external-timeout': {
    kind: ['backup-failed', 'io'],
    hint: (d) =>
      `vault-tool waits ${d.timeout ?? '5m'} for an external program (VAULT_TOOL_TIMEOUT sets it): check the network and the remote or server it talks to`,
  },
  'tool-missing': {
    kind: 'not-found',
    hint: (d) =>
      `install ${d.tool} (Debian: ${d.tool === 'pg_dump' || d.tool === 'pg_dumpall' || d.tool === 'pg_restore' || d.tool === 'psql' || d.tool === 'createdb' ? 'postgresql-client' : d.tool === 'redis-cli' || d.tool === 'redis-check-rdb' ? 'redis-tools' : d.tool})`,
  },
  'pg-bindir': {
    kind: 'not-found',
    hint: 'set VAULT_TOOL_PG_BINDIR to the folder of the PostgreSQL client programs (/usr/lib/postgresql/<version>/bin), or unset it to use those on PATH',
  },
  'tool-failed': { kind: 'io', hint: 'its own message is above: fix what it names (the server, the connection, a permission), then run again' },
  'tool-timeout': { kind: 'io', hint: 'raise the bound (timeouts: in the drill plan) if the work is legitimately slow, or find out why the tool hangs' },
  // backups
  'backup-inconclusive': {
    kind: 'inconclusive',
    hint: "this host's checker is missing, older than the backup host's tool, or was killed: install one at least as new (e.g. the same PostgreSQL major version) or run `vault-tool backup verify` on the backup host",
  },
  'backup-unrecorded': {
    kind: 'locked',
    hint: (d) =>
      `the backup is kept; once the vault is free, run \`vault-tool backup verify ${d.component ?? 'COMPONENT'}\`: it records the key the backup needs, so that key is held`,
  },
  'backup-no-recipient': {
    kind: 'usage',
    hint: 'give --recipient age1… (vault-tool backup key prints it where the vault is), or run where the vault and its key are',
  },
  'backup-no-key': { kind: 'not-found', hint: 'vault-tool backup key makes one' },
  'backup-key-removed': {
    kind: 'not-found',
    hint: 'the removed key still opens the backups made with it; new backups need a recipient: give --recipient age1… of a key kept elsewhere',
  },
  'backup-key-gone': { kind: 'wrong-key', hint: 'a purged or lost version of backup/identity: restore it from an older copy of the vault' },
  'backup-missing': {
    kind: ['usage', 'not-found'],
    hint: 'see `vault-tool backup list`; a component alone (postgres/app) takes its newest verified backup, --before TIME an older one',
  },
  'backup-no-set': {
    kind: 'not-found',
    hint: '`vault-tool backup postgres --all` makes one (every database, the globals last); or restore each database by its component (postgres/NAME)',
  },
  'backup-none-verified': {
    kind: 'not-found',
    hint: (d) => `\`vault-tool backup list ${d.component ?? ''}\` shows its backups and why none counts; name one as COMPONENT/FILE, or make a new one`,
  },
  'backup-no-repo': {
    kind: 'not-found',
    hint: 'check --repo (or VAULT_TOOL_BACKUP_REPO); the first backup into a folder or remote makes the repository there',
  },
  'backup-no-signer': { kind: 'not-found', hint: '`vault-tool backup key signers` lists the trusted signing keys' },
  'backup-untrusted': {
    kind: 'integrity',
    hint: 'if the host that made it is yours, trust its key (`vault-tool backup key signer` prints it there; `vault-tool backup key trust KEY --label HOST` here); otherwise do not restore it',
  },
  'backup-failed-verification': {
    kind: 'verify-failed',
    hint: 'restore another backup (`vault-tool backup list COMPONENT` shows how each was verified; --before TIME picks the newest verified one before a time), or read this one again in full: `vault-tool backup verify COMPONENT/FILE`',
  },
  'restore-db-not-empty': {
    kind: 'exists',
    hint: 'add --force to replace its tables (pg_restore --clean, in one transaction), or restore into a new database with --dbname NEW --create',
  },
  'restore-files-exist': { kind: 'exists', hint: 'restore into an empty folder (--to-dir), or add --force to replace what is there' },
  'restore-db-missing': {
    kind: 'not-found',
    hint: (d) => `add --create to create it first, or create it yourself (createdb ${d.database ? shellWord(d.database) : 'NAME'})`,
  },
  'restore-role-missing': {
    kind: 'io',
    hint: 'restore the roles first (`vault-tool backup restore postgres/globals`; `backup restore --all` does it before the databases), or add --no-owner',
  },
  'restore-failed': {
    kind: 'io',
    hint: 'the backup passed its full check: the failure is in the target (the tool says what); fix it and run the restore again',
  },
  'restore-rdb-exists': {
    kind: 'exists',
    hint: 'stop Redis first (it writes its own dump.rdb when it stops), then add --force to replace its dump.rdb, and start it again',
  },
  'restore-redis-running': {
    kind: 'usage',
    hint: (d) =>
      `stop it first (systemctl stop redis-server, or redis-cli shutdown nosave), restore, then start it; --allow-running writes into ${d.dir ?? 'the folder'} anyway`,
  },
  // the servers a backup reads
  'pg-db-missing': { kind: 'not-found', hint: 'check --dbname (or PGDATABASE): `psql -l` lists the databases of the server' },
  'pg-login-refused': {
    kind: ['backup-failed', 'io'],
    hint: "check PGUSER and the password (PGPASSWORD, or a PGPASSFILE of mode 0600), and the server's pg_hba.conf",
  },
  'pg-unreachable': {
    kind: ['backup-failed', 'io'],
    hint: 'check PGHOST and PGPORT (or the host in --dbname), and that the server runs and accepts connections there',
  },
  'redis-auth': {
    kind: 'backup-failed',
    hint: 'give the password in REDISCLI_AUTH, never on the command line; from the vault: `vault-tool run --env REDISCLI_AUTH=ENTRY -- vault-tool backup redis …`',
  },
  'redis-auth-refused': {
    kind: 'backup-failed',
    hint: "REDISCLI_AUTH holds a password this server refuses: check it (`vault-tool run --env REDISCLI_AUTH=ENTRY -- …` hands over the vault's)",
  },
  'redis-unreachable': { kind: 'backup-failed', hint: 'check -h/--host and -p/--port, and that redis-server runs there' },
  'restore-bucket-not-empty': { kind: 'exists', hint: 'restore into an empty prefix (--to REMOTE:BUCKET/NEW), or add --force to write over what is there' },
  'path-is-dash': {
    kind: 'usage',
    hint: 'name a file (./- for one named -); to print, leave the option out where the command prints (vault-tool get NAME | …)',
  },
  'path-names-folder': {
    kind: 'usage',
    hint: () => 'name a file: drop the trailing slash, or add the file name after it',
  },
  'option-empty': {
    kind: 'usage',
    hint: (d) => `give ${d.option ?? 'it'} a value (a variable that is not set gives an empty one), or leave it out for its default`,
  },
  'option-short-equals': {
    kind: 'usage',
    hint: (d) =>
      d.short && d.value
        ? `give ${shellWord(d.short)} ${shellWord(d.value)}${d.long ? `, or ${shellWord(`${d.long}=${d.value}`)}` : ''}`
        : d.short
          ? `give ${d.short} VALUE${d.long ? `, or ${d.long}=VALUE` : ''}`
          : 'give a short option its value after a space (-r DIR), or the long option with = (--repo=DIR)',
  },
  'command-after-dashes': {
    kind: 'usage',
    hint: (d) => `put -- before the command: vault-tool ${d.command ?? 'run'} [OPTIONS] -- COMMAND [ARGS…]`,
  },
  'option-repeated': {
    kind: 'usage',
    hint: (d) =>
      `give ${d.option ?? 'it'} once; for several, run the command once for each${d.option === '--dbname' ? ' (or --all for every database of the cluster)' : ''}`,
  },
  'prune-no-rules': { kind: 'usage', hint: 'give at least one of --keep-last, --keep-daily, --keep-weekly, --keep-monthly, --keep-yearly, --keep-within' },
  // the WAL archive and point-in-time recovery
  'wal-not-a-backup': {
    kind: 'usage',
    hint: "set archive_command = 'vault-tool backup wal-push %p --cluster NAME …' on the server; `vault-tool backup postgres --base --cluster NAME` makes a base backup",
  },
  'wal-no-archive': {
    kind: ['backup-failed', 'not-found'],
    hint: 'set archive_command = \'vault-tool backup wal-push %p --cluster NAME …\' on the server (docs/RUNBOOK.md, "Point-in-time recovery")',
  },
  'wal-archive-missing': {
    kind: 'not-found',
    hint: "mount the repository or check the remote's network and credentials, and that -r and --cluster name those the server archives to; then start the server again, and recovery goes on",
  },
  'wal-other-cluster': {
    kind: 'backup-failed',
    hint: 'each server archives under a --cluster of its own: give this one another name (a new archive), or find which server archives there',
  },
  'wal-not-archived': {
    kind: 'backup-failed',
    hint: 'check archive_command and pg_stat_archiver on the server; `vault-tool backup wal-status --cluster NAME --archiver` shows both sides',
  },
  'wal-cluster-name': { kind: 'usage', hint: 'give --cluster (or VAULT_TOOL_WAL_CLUSTER) a name such as main or db1.prod' },
  'wal-name': {
    kind: ['usage', 'backup-failed'],
    hint: "archive_command and restore_command pass the file's path and name as PostgreSQL gives them: %p to wal-push, %f %p to wal-fetch",
  },
  'wal-bad-segment': {
    kind: 'backup-failed',
    hint: 'only what the server archives is pushed: check that archive_command passes %p of this cluster, unchanged',
  },
  'wal-conflict': {
    kind: 'backup-failed',
    hint: 'two servers archive under one --cluster, or a split brain: give each server its own --cluster; nothing archived is overwritten',
  },
  'wal-planted-claim': {
    kind: 'backup-failed',
    hint: (d) =>
      `no push wrote that manifest (its signature does not verify): move ${d.manifest ?? 'the manifest'} and ${d.file ?? 'its file'} out of the archive (keep them for inspection; \`vault-tool backup wal-verify --cluster ${shellWord(d.cluster ?? 'NAME')}\` where the vault is judges them): PostgreSQL's next attempt archives ${d.name ?? 'the file'} again from the server's copy`,
  },
  'wal-archived-unproven': {
    kind: 'integrity',
    hint: (d) =>
      `move ${d.manifest ? `${d.manifest} and ` : ''}${d.file ?? 'the file'} out of the archive (keep ${d.manifest ? 'them' : 'it'} for inspection; \`vault-tool backup wal-verify --cluster ${shellWord(d.cluster ?? 'NAME')}\` where the vault is judges them): PostgreSQL's next attempt archives ${d.name ?? 'the file'} again from the server's copy`,
  },
  'wal-base-unproven': {
    kind: 'integrity',
    hint: (d) =>
      `make the base backup where the vault is (it trusts the hosts \`vault-tool backup key signers\` lists) or with the signing key of the host that pushes the WAL; \`vault-tool backup wal-verify --cluster ${shellWord(d.cluster ?? 'NAME')}\` there judges ${d.segment ?? 'the segment'}`,
  },
  'wal-base-unread': {
    kind: 'io',
    hint: (d) =>
      `the repository did not give ${d.segment ?? 'the segment'}'s manifest to this host: check that it can be read from here (\`vault-tool backup wal-status --cluster ${shellWord(d.cluster ?? 'NAME')}\`), or give the base backup a longer --wal-timeout, and run it again`,
  },
  'wal-absent': {
    kind: 'io',
    hint: 'PostgreSQL asks restore_command for files that may not exist (a history file, the next segment): their absence is an exit status, not an error',
  },
  'wal-gap': {
    kind: 'verify-failed',
    hint: '`vault-tool backup wal-verify --cluster NAME` names every gap: restore to a time or LSN before it (--target-time, --target-lsn), or from a base backup made after the gap',
  },
  'wal-not-yet': { kind: 'verify-failed', hint: 'on the server, SELECT pg_switch_wal() archives the current segment (or wait for archive_timeout)' },
  'pitr-before-base': { kind: 'usage', hint: 'restore from an older base backup (`vault-tool backup list` names them), or choose a later target' },
  'restore-datadir-not-empty': { kind: 'exists', hint: 'give --to-dir an empty or new folder' },
  // schedules
  'bad-schedule': {
    kind: 'usage',
    hint: (_d, own) => own ?? 'five fields: minute hour day-of-month month day-of-week, e.g. "0 2 * * *" (daily at 02:00) or "0 6 1 */3 *" (quarterly)',
  },
  'schedule-plan-kind': {
    kind: 'invalid',
    hint: (_d, own) => own ?? 'write a schedule plan (docs/FORMAT.md, "Schedule plan") whose verify job names this file',
  },
  'cron-line-long': { kind: 'usage', hint: 'shorten the paths in the schedule plan, or install the systemd timers instead (`vault-tool schedule systemd`)' },
  'cron-env': {
    kind: 'usage',
    hint: 'cron cannot pass that value: trim the spaces or remove the %, or install the systemd timers instead (`vault-tool schedule systemd`)',
  },
  // the drill
  'drill-no-shares': {
    kind: 'not-found',
    hint: 'give --shares the folder escrow split -o wrote, or the folder holding one subfolder per custodian; or leave --shares out to type them at the drill',
  },
  'drill-kind': {
    kind: 'usage',
    hint: 'a point-in-time restore is rehearsed with `vault-tool backup restore postgres-base/NAME/FILE --to-dir DIR --target-time T` (docs/RUNBOOK.md, "Point-in-time recovery")',
  },
  'drill-no-context': { kind: 'usage', hint: 'give --context NAME: the kubeconfig context of the scratch cluster (never production)' },
  'drill-teardown-left': { kind: 'incomplete', hint: 'fix the cause named, then run vault-tool drill teardown again (the journal still names them)' },
  'drill-failed': {
    kind: 'verify-failed',
    hint: (d) => d.step ?? 'the steps above say what failed and what to do (--report-dir DIR keeps the report); fix it, then run the drill again',
  },
};
