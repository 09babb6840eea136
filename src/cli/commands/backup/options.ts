import { join } from 'node:path';
import type { Command } from 'commander';
import { VaultError } from '../../../errors/errors.js';
import { exists } from '../../../fs/dirs.js';
import { keyIdOf } from '../../../vault/keyfile.js';
import { parseDestination } from '../../../dest/index.js';
import type { Component } from '../../../backup/kind.js';
import { ensureBackupKey, loadSigningKey } from '../../../backup/keys.js';
import type { BackupManifest } from '../../../backup/manifest.js';
import { isComponentName, type Repo } from '../../../backup/repo.js';
import { backupComponent } from '../../../backup/run.js';
import { checkDbname } from '../../../backup/kinds/postgres.js';
import { checkCluster } from '../../../backup/wal/store.js';
import { previousSize } from '../../../backup/select.js';
import { mergeRpo, rpoForAll, rpoShape, type RpoTargets } from '../../../backup/rpo.js';
import { object, parseShape } from '../../../vault/shape.js';
import { parseRecipient } from '../../../age/x25519.js';
import type { Context } from '../../context.js';
import { hintFor } from '../../report.js';

export interface RepoOptions {
  repo?: string;
}

/** --repo DEST (env VAULT_TOOL_BACKUP_REPO), as restic's -r. */
export function repoOption(c: Command): Command {
  return c.option('-r, --repo <dest>', 'the backup repository: a folder or an rclone remote (env VAULT_TOOL_BACKUP_REPO)');
}

export function openRepo(ctx: Context, o: RepoOptions): Repo {
  const spec = o.repo ?? ctx.io.env.VAULT_TOOL_BACKUP_REPO;
  if (!spec) throw new VaultError('usage', 'which repository? give --repo DEST or set VAULT_TOOL_BACKUP_REPO');
  return { dest: parseDestination(spec, ctx.io.cwd, { env: ctx.io.env }) };
}

export interface MakeOptions extends RepoOptions {
  recipient?: string;
  signingKey?: string;
}

/** --recipient (a backup host needs only the public key) and --signing-key. */
export function makeOptions(c: Command): Command {
  return repoOption(c)
    .option('--recipient <age1…>', "encrypt to this backup recipient (env VAULT_TOOL_BACKUP_RECIPIENT); default: the vault's backup key, made on first use")
    .option('--signing-key <file>', "this host's manifest signing key (default: signing.key in the state folder; made on first use)");
}

/** `--name` of a component: checked when the command line is read, before anything runs. */
export function componentName(v: string): string {
  if (!isComponentName(v))
    throw new VaultError(
      'usage',
      `--name ${JSON.stringify(v)}: a component name is lowercase letters, digits, . _ - (at most 100), starting with a letter or a digit, without /`,
    );
  return v;
}

/** --archiver CLUSTER[=CONNINFO] (repeatable): pg_stat_archiver of the cluster's server, read through CONNINFO (default: libpq's environment). */
export function archiverOption(c: Command): Command {
  return c.option(
    '--archiver <cluster[=conninfo]>',
    "WAL archives: also read pg_stat_archiver of CLUSTER's server, through a libpq connection string without a password (default: libpq's environment: PGHOST, PGPORT…) (repeatable)",
    (v: string, prev: string[] = []) => [...prev, v],
  );
}

/** The connections --archiver gives, over those of a plan: cluster → libpq connection string ('' for libpq's environment). */
export function archiversOf(given: string[] | undefined, base?: Record<string, string>): Record<string, string> | undefined {
  if (!given?.length) return base;
  const out: Record<string, string> = { ...base };
  for (const g of given) {
    const eq = g.indexOf('=');
    const cluster = checkCluster(eq < 0 ? g : g.slice(0, eq));
    const conn = eq < 0 ? '' : g.slice(eq + 1);
    if (conn) checkDbname(conn);
    out[cluster] = conn;
  }
  return out;
}

export function signingKeyPath(ctx: Context, o: { signingKey?: string }): string {
  return o.signingKey ? ctx.abs(o.signingKey) : join(ctx.stateDir(), 'signing.key');
}

/** Makes each component's backup in turn, with progress on a terminal and JSON lines with --json. */
export async function runBackups(ctx: Context, cmd: Command, o: MakeOptions, make: () => Promise<Component[]>): Promise<void> {
  const repo = openRepo(ctx, o);
  const paths = ctx.paths(cmd);
  const store = ctx.storeOptions(cmd);
  const given = o.recipient ?? ctx.io.env.VAULT_TOOL_BACKUP_RECIPIENT;
  const vaultHere = exists(paths.keyFile) && exists(paths.vaultFile);
  let recipient: { recipient: string; keyId: string };
  if (given) {
    parseRecipient(given);
    recipient = { recipient: given, keyId: keyIdOf(given) };
  } else {
    if (!vaultHere)
      throw new VaultError('usage', 'no backup recipient: give --recipient age1… (or VAULT_TOOL_BACKUP_RECIPIENT), or run where the vault and its key are', {
        code: 'backup-no-recipient',
      });
    const k = await ensureBackupKey(paths, store, ctx.now());
    if (k.created) ctx.info(`made the backup key ${k.keyId} (vault entry backup/identity); backup hosts encrypt to ${k.recipient}`);
    recipient = { recipient: k.recipient, keyId: k.keyId };
  }
  const signing = loadSigningKey(signingKeyPath(ctx, o));
  const json = ctx.globals(cmd).json;
  const progress = ctx.progress(cmd);
  const components = await make();
  for (const w of new Set(components.flatMap((c) => c.warnings ?? []))) ctx.warn(w);
  const started = Date.now();
  const results: BackupManifest[] = [];
  // The evidence log refusing the records (a killed run left it short): said once for the run, with the repair; the backups stand.
  let unrecorded: VaultError | undefined;
  const onUnrecorded = (e: VaultError) => {
    if (unrecorded) return;
    unrecorded = e;
    ctx.warn(`the backups are kept (each was checked), but not recorded in the evidence log: ${e.message}`, e.code);
    const hint = hintFor(e);
    if (hint) ctx.hint(`${hint}; the next backups are recorded once the log is repaired`, e.code);
  };
  for (const c of components) {
    // The ETA comes from the last backup of the same component (its plaintext size), never from the size of its source.
    if (progress.mode !== 'off') {
      const last = await previousSize(repo, c.component, ctx.now()).catch(() => undefined);
      progress.begin('backup', c.component, last !== undefined ? { estimate: last } : {});
    }
    const m = await backupComponent(
      {
        repo,
        signing,
        recipient,
        env: ctx.io.env,
        now: () => ctx.now(),
        ...(vaultHere && !given ? { vault: { paths, store }, onUnrecorded } : {}),
        ...(json ? { onStart: (estimate: number | undefined) => ctx.event({ type: 'start', component: c.component, estimate: estimate ?? null }) } : {}),
        ...(progress.mode !== 'off' ? { onProgress: progress.callback('backup') } : {}),
      },
      c,
    );
    progress.end(true);
    results.push(m);
    if (json)
      ctx.event({
        type: 'backup',
        component: m.component,
        file: m.file,
        id: m.id,
        bytes: m.plaintext.size,
        stored: m.ciphertext.size,
        keyId: m.keyId,
        verification: m.verification,
        seconds: (Date.parse(m.finishedAt) - Date.parse(m.startedAt)) / 1000,
      });
    else ctx.out(`${m.component}: ${m.file} (${(m.plaintext.size / 2 ** 20).toFixed(1)} MiB, checked: ${m.verification?.check}; key ${m.keyId})`);
  }
  if (json)
    ctx.event({
      type: 'summary',
      backups: results.length,
      bytes: results.reduce((n, m) => n + m.plaintext.size, 0),
      seconds: (Date.now() - started) / 1000,
      repo: repo.dest.spec,
    });
  else ctx.info(`${results.length} backup(s) in ${repo.dest.spec}, each checked in full while written and signed by host key ${signing.id}`);
}

/**
 * RPO targets: a file `rpo: { default: 24h, postgres: 6h, postgres/app: 15m }` (strict: any other field
 * is an error naming its path), then --rpo over its default.
 */
export async function rpoOf(ctx: Context, o: { rpo?: string; rpoFile?: string }, base?: RpoTargets): Promise<RpoTargets | undefined> {
  let t = base;
  if (o.rpoFile) {
    // Only for an RPO file: a backup run never loads the YAML parser.
    const { parseYaml } = await import('../../../vault/yaml.js');
    const raw = parseYaml((await ctx.readFile(o.rpoFile, 'the RPO file')).toString('utf8'), o.rpoFile);
    t = mergeRpo(t, parseShape(raw, object({ rpo: rpoShape }), o.rpoFile).rpo);
  }
  return o.rpo ? mergeRpo(t, rpoForAll(o.rpo, '--rpo')) : t;
}
