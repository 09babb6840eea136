import { join } from 'node:path';
import type { Command } from 'commander';
import { VaultError } from '../../../errors/errors.js';
import { exists } from '../../../fs/dirs.js';
import { checkNewName } from '../../../fs/output.js';
import { resolveTarget } from '../../../fs/target.js';
import { keyIdOf } from '../../../vault/keytext.js';
import type { Component } from '../../../backup/kind.js';
import type { SigningKey } from '../../../backup/keys.js';
import { type Early, startEarly, stopEarly } from '../../../backup/early.js';
import { loadedKind } from '../../../backup/kinds/loaded.js';
import type { BackupManifest } from '../../../backup/manifest.js';
import type { Repo } from '../../../backup/repo.js';
import { isComponentName } from '../../../backup/names.js';
import type { StoreOptions, VaultPaths } from '../../../vault/store.js';
import { parseRecipient } from '../../../age/x25519.js';
import type { Context } from '../../context.js';
import { hintFor } from '../../report.js';

import { openRepo, repoOption, type RepoOptions } from './repo-option.js';
export { openRepo, repoOption, type RepoOptions };

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
  if (!isComponentName(v)) {
    // The nearest name that is one (Ünï → uni, "a b" → a-b), offered in the hint.
    const near = v
      .normalize('NFKD')
      .replace(/\p{M}+/gu, '')
      .toLowerCase()
      .replace(/[^a-z0-9._-]+/g, '-')
      .replace(/^[^a-z0-9]+|-+$/g, '')
      .slice(0, 100);
    throw new VaultError(
      'usage',
      `--name ${JSON.stringify(v)}: a component name is lowercase letters, digits, . _ - (at most 100), starting with a letter or a digit, without /`,
      { code: 'bad-component-name', data: isComponentName(near) ? { near } : {} },
    );
  }
  return v;
}

export function signingKeyPath(ctx: Context, o: { signingKey?: string }): string {
  return o.signingKey ? ctx.outFile(o.signingKey) : join(ctx.stateDir(), 'signing.key');
}

/** Makes each component's backup in turn, with progress on a terminal and JSON lines with --json. */
export async function runBackups(ctx: Context, cmd: Command, o: MakeOptions, make: () => Promise<Component[]>): Promise<void> {
  const repo = openRepo(ctx, o);
  const paths = ctx.paths(cmd);
  // Before anything is written (the backup key made on the way): a signing key to be made where none may be.
  const signingPath = signingKeyPath(ctx, o);
  if (!exists(signingPath)) checkNewName(resolveTarget(signingPath), signingPath);
  const given = o.recipient ?? ctx.io.env.VAULT_TOOL_BACKUP_RECIPIENT;
  const vaultHere = exists(paths.keyFile) && exists(paths.vaultFile);
  if (given) parseRecipient(given);
  else if (!vaultHere)
    throw new VaultError('usage', 'no backup recipient: give --recipient age1… (or VAULT_TOOL_BACKUP_RECIPIENT), or run where the vault and its key are', {
      code: 'backup-no-recipient',
    });
  const components = await make();
  // The first dump starts now if its tool only reads (pg_dump, pg_dumpall, tar): it runs while the vault is opened and the code of the run loaded.
  const first = components[0];
  let early: Early | undefined;
  if (first?.producer.kind === 'process' && READS_ONLY.has(first.kind)) {
    // Its checker and what is asked beside it (the tool's version) start with it, while this process is small and its start cheap.
    early = startEarly(first.producer, ctx.now(), loadedKind(first.kind)?.verifier(ctx.io.env));
    const beside = first.beside?.();
    components[0] = { ...first, producer: { ...first.producer, early }, ...(beside ? { beside: () => beside } : {}) };
  }
  let taken = false;
  // A passphrase asked for before the run takes it: the early dump is stopped (it would hold its snapshot while someone types), and starts again with its run.
  const abandonEarly = () => {
    if (!early || taken) return;
    stopEarly(early);
    early = undefined;
    components[0] = first!;
  };
  try {
    // One dynamic import (each is a bundle entry point: one more would split the code into more files, each a cost of its own at start-up).
    const { backupComponent, ensureBackupKey, loadSigningKey } = await import('../../../backup/run.js');
    const base = ctx.storeOptions(cmd);
    const store = {
      ...base,
      getPassphrase: () => {
        abandonEarly();
        return base.getPassphrase!();
      },
    };
    let recipient: { recipient: string; keyId: string };
    if (given) recipient = { recipient: given, keyId: keyIdOf(given) };
    else {
      const k = await ensureBackupKey(paths, store, ctx.now());
      if (k.created) ctx.info(`made the backup key ${k.keyId} (vault entry backup/identity); backup hosts encrypt to ${k.recipient}`);
      recipient = { recipient: k.recipient, keyId: k.keyId };
    }
    const signing = loadSigningKey(signingPath);
    const json = ctx.globals(cmd).json;
    const progress = ctx.progress(cmd);
    for (const w of new Set(components.flatMap((c) => c.warnings ?? []))) ctx.warn(w);
    taken = true;
    await makeEach(ctx, repo, components, { backupComponent, signing, recipient, json, progress, given, vaultHere, paths, store });
  } finally {
    // Not taken by its run (something failed before it): stopped. Once taken, it has ended with its run.
    if (early) stopEarly(early);
  }
}

/** The dump tools that only read what they dump: started before the vault is opened (see runBackups). */
const READS_ONLY = new Set(['postgres', 'postgres-globals', 'files']);

async function makeEach(
  ctx: Context,
  repo: Repo,
  components: Component[],
  r: {
    backupComponent: typeof import('../../../backup/run.js').backupComponent;
    signing: SigningKey;
    recipient: { recipient: string; keyId: string };
    json: boolean | undefined;
    progress: ReturnType<Context['progress']>;
    given: string | undefined;
    vaultHere: boolean;
    paths: VaultPaths;
    store: StoreOptions;
  },
): Promise<void> {
  const { backupComponent, signing, recipient, json, progress, given, vaultHere, paths, store } = r;
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
      // Loaded only for a progress display: it reads the repository's manifests.
      const { previousSize } = await import('../../../backup/select.js');
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
