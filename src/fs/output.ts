import { statSync } from 'node:fs';
import { dirname } from 'node:path';
import { VaultError } from '../errors/errors.js';
import { checkWritableTarget, sweepTempFiles, writeFileAtomic } from './atomic.js';
import { firstNonFolder, makeDirs } from './dirs.js';
import { KIND_NAME, kindOfFile, NEVER_AN_OUTPUT, sniffFile, type FileKind } from './replace.js';
import { resolveTarget } from './target.js';

/**
 * Every file an output option writes (a report, metrics, a kit, a plan, a
 * secret value or export, restored data, a recovered key) goes through
 * checkOutput before the command does any work, and through writeOutput to
 * be written. The rules, one per kind of output:
 *
 * - no output ever replaces one of the tool's own files or a key (a vault,
 *   a key file, any age file, a private key, a share in any form the share
 *   parser reads, its sheet or manifest, a backup manifest, an evidence log,
 *   evidence records waiting for one, the state of the vaults seen, a drill
 *   journal, a staging marker, a lock) or a restore policy, whatever it is
 *   named and even with force; nor makes a new file at a name the tool
 *   finds such a file by (`*.evidence.jsonl`, `*.lock`, `FILE.age.manifest.json`,
 *   `restore-policy.yaml`…);
 * - outputs a scheduled job writes on every run (reports, metrics) replace a
 *   file of their own kind (or an empty one) without force, and nothing else;
 * - outputs of a recognizable kind (a kit, a plan, an encrypted Kubernetes
 *   export bundle) replace only a file of their own kind, and only with force;
 * - outputs whose content has no recognizable form (a secret value, an
 *   export, restored data) replace, with force, any regular file that is not
 *   guarded;
 * - a recovered key replaces only a key file, with force.
 *
 * Devices, pipes, sockets and folders are never replaced.
 */
export type OutputKind = 'report' | 'metrics' | 'html-report' | 'kit' | 'restore-plan' | 'drill-plan' | 'k8s-bundle' | 'secret' | 'data' | 'key';

interface Rule {
  /** What an existing file may be to be replaced: these kinds, or any unguarded file. */
  replaces: readonly FileKind[] | 'unguarded';
  /** Replaced without force (written on every run of a scheduled job). */
  routine: boolean;
  mode: number;
}

export const OUTPUT_RULES: Record<OutputKind, Rule> = {
  report: { replaces: ['report', 'empty'], routine: true, mode: 0o644 },
  metrics: { replaces: ['metrics', 'empty'], routine: true, mode: 0o644 },
  'html-report': { replaces: ['html-report', 'empty'], routine: true, mode: 0o644 },
  kit: { replaces: ['kit'], routine: false, mode: 0o644 },
  'restore-plan': { replaces: ['restore-plan'], routine: false, mode: 0o600 },
  'drill-plan': { replaces: ['drill-plan'], routine: false, mode: 0o644 },
  'k8s-bundle': { replaces: ['k8s-bundle'], routine: false, mode: 0o600 },
  secret: { replaces: 'unguarded', routine: false, mode: 0o600 },
  data: { replaces: 'unguarded', routine: false, mode: 0o600 },
  key: { replaces: ['key', 'protected'], routine: false, mode: 0o600 },
};

export interface OutputOptions {
  /** The user asked to replace an existing file (--force). */
  force?: boolean;
  /** The folder is made when the file is written (a --report-dir): it may not exist yet. */
  makeFolder?: boolean;
}

const refused = (path: string, why: string) => new VaultError('exists', `refusing to replace ${path}: ${why}`, { code: 'replace-refused' });

/**
 * A file about to be made at `target` (named `path` by the user): refused
 * when its name is one the tool reads as its own whatever the file holds (an
 * evidence log, a record waiting for the vault, a lock, a backup's
 * manifest, a restore policy): a file made there would be read as one.
 */
export function checkNewName(target: string, path = target): void {
  const byName = sniffFile(Buffer.alloc(0), target);
  if (byName !== 'empty' && NEVER_AN_OUTPUT.has(byName)) {
    throw new VaultError('exists', `refusing to write ${path}: its name is that of ${KIND_NAME[byName]}, which vault-tool reads as its own`, {
      code: 'replace-refused',
    });
  }
}

/**
 * Checks an output target before any work: its folder exists (or, with
 * `makeFolder`, can be made), it is not a folder, device or pipe, and what
 * is there (if anything) may be replaced by this kind of output. Returns
 * the path of the file that will be written (a link followed).
 */
export function checkOutput(path: string, kind: OutputKind, opts: OutputOptions = {}): string {
  const rule = OUTPUT_RULES[kind];
  const target = resolveTarget(path);
  let folderMissing = false;
  if (opts.makeFolder) {
    try {
      statSync(dirname(target));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') throw new VaultError('usage', `cannot write ${path}: ${firstNonFolder(target)} is not a folder`);
      folderMissing = true;
    }
  }
  if (!folderMissing) checkWritableTarget(target, false);
  const found = folderMissing ? null : kindOfFile(target);
  if (found === null) {
    checkNewName(target, path);
    return target;
  }
  if (NEVER_AN_OUTPUT.has(found) && !(rule.replaces !== 'unguarded' && rule.replaces.includes(found))) {
    throw refused(path, `it is ${KIND_NAME[found]}`);
  }
  if (!rule.routine && !opts.force) throw new VaultError('exists', `${path} already exists; refusing to overwrite it`, { code: 'output-exists' });
  if (rule.replaces !== 'unguarded' && !rule.replaces.includes(found)) {
    const own = KIND_NAME[rule.replaces[0]!];
    throw refused(path, found === 'other' ? `it is not ${own} vault-tool wrote` : `it is ${KIND_NAME[found]}, not ${own}`);
  }
  return target;
}

/**
 * Writes an output atomically (mode per kind: 0600 for anything secret,
 * 0644 for reports, metrics, kits and drill plans), after checking the
 * target again (something may have appeared since the run began) and
 * sweeping temp files a killed run left beside it. Returns the path written.
 */
export function writeOutput(path: string, data: Uint8Array | string, kind: OutputKind, opts: OutputOptions = {}): string {
  const rule = OUTPUT_RULES[kind];
  if (opts.makeFolder) makeDirs(dirname(resolveTarget(path)));
  const target = checkOutput(path, kind, opts);
  sweepTempFiles(target);
  writeFileAtomic(target, data, { exclusive: !rule.routine && !opts.force, mode: rule.mode });
  return target;
}
