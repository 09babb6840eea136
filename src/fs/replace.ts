import { lstatSync } from 'node:fs';
import { basename } from 'node:path';
import { VaultError } from '../errors/errors.js';
import { looksLikeShare } from './share-text.js';
import { readHead, resolveTarget } from './target.js';

/**
 * What an existing file is, judged by its first bytes (and, for files that
 * may be empty, by its name). `guarded` files are the tool's own (or hold
 * keys): no output ever replaces one. The others name the kinds of file the
 * tool writes as outputs, so an output can tell its own kind from anything
 * else.
 */
export type FileKind =
  | 'vault'
  | 'key'
  | 'protected'
  | 'age'
  | 'k8s-bundle'
  | 'private-key'
  | 'share'
  | 'share-sheet'
  | 'share-manifest'
  | 'backup-manifest'
  | 'evidence-log'
  | 'pending-evidence'
  | 'state'
  | 'drill-journal'
  | 'staging-marker'
  | 'lock'
  | 'report'
  | 'metrics'
  | 'html-report'
  | 'kit'
  | 'restore-plan'
  | 'drill-plan'
  | 'restore-policy'
  | 'empty'
  | 'other';

const AGE = 'age-encryption.org/v1\n';
const ARMOR = '-----BEGIN AGE ENCRYPTED FILE-----';

/** The names a restore policy has beside the vault (the one for every restore, and its first name), found there by name alone. */
export const POLICY_NAMES: readonly string[] = ['restore-policy.yaml', 'k8s-policy.yaml'];

/** The kinds no output replaces (a recovered key file aside, which replaces only a key file, and an export bundle, only a bundle). */
export const GUARDED: ReadonlySet<FileKind> = new Set([
  'vault',
  'key',
  'protected',
  'age',
  'k8s-bundle',
  'private-key',
  'share',
  'share-sheet',
  'share-manifest',
  'backup-manifest',
  'evidence-log',
  'pending-evidence',
  'state',
  'drill-journal',
  'staging-marker',
  'lock',
]);

/**
 * What no output replaces or makes anew: the guarded kinds, and a restore
 * policy (the security officer's, not the tool's: a files backup may still
 * restore one, but no key, export or report ever takes its place).
 */
export const NEVER_AN_OUTPUT: ReadonlySet<FileKind> = new Set<FileKind>([...GUARDED, 'restore-policy']);

export const KIND_NAME: Record<FileKind, string> = {
  vault: 'a vault file',
  key: 'a key file',
  protected: 'a passphrase-protected file (a key file?)',
  age: 'an age-encrypted file (a backup or an encrypted share?)',
  'k8s-bundle': 'a Kubernetes export bundle',
  'private-key': 'a private key (a signing or TLS key?)',
  share: 'an escrow share',
  'share-sheet': "an escrow share's sheet",
  'share-manifest': 'a share manifest',
  'backup-manifest': 'a backup manifest',
  'evidence-log': 'an evidence log',
  'pending-evidence': 'a file of evidence records waiting to go into an evidence log',
  state: "vault-tool's record of the vaults seen (seen.json)",
  'drill-journal': "a drill's journal of the scratch targets it made",
  'staging-marker': "a marker of a run's staged files",
  lock: 'a lock file',
  report: 'a report',
  metrics: 'a Prometheus metrics file',
  'html-report': 'an HTML drill report',
  kit: 'a recovery kit',
  'restore-plan': 'a restore plan',
  'drill-plan': 'a drill plan',
  'restore-policy': 'a restore policy',
  empty: 'an empty file',
  other: 'not a file vault-tool writes',
};

function ageKind(text: string): FileKind {
  const end = text.indexOf('\n---');
  const header = text.slice(0, end >= 0 ? end : text.length);
  if (/\n-> vault-tool /.test(header)) return 'vault';
  if (/\n-> vault-tool-bundle /.test(header)) return 'k8s-bundle';
  if (/\n-> scrypt /.test(header)) return 'protected';
  return 'age';
}

/** The first JSON line of a file, as an object (null when it is not one). */
function firstJson(text: string): Record<string, unknown> | null {
  const line = text.split('\n', 1)[0]!.trim();
  if (!line.startsWith('{')) return null;
  try {
    const v = JSON.parse(line) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** What a file holds, from its first bytes and its name. */
export function sniffFile(head: Buffer, name = ''): FileKind {
  const base = basename(name);
  if (/\.evidence\.jsonl$/.test(base) || /\.evidence\.jsonl\.rolled-back-/.test(base)) return 'evidence-log';
  if (/\.evidence-pending\.jsonl$/.test(base)) return 'pending-evidence';
  if (/\.lock$/.test(base)) return 'lock';
  // Found beside their backup by name alone (FILE.manifest.json), as a restore policy is beside the vault.
  if (/\.age\.manifest\.json$/.test(base)) return 'backup-manifest';
  if (POLICY_NAMES.includes(base)) return 'restore-policy';
  if (head.length === 0) return 'empty';
  const text = head.toString('latin1');
  if (text.startsWith(AGE)) return ageKind(text);
  const trimmed = text.trimStart();
  if (trimmed.startsWith(ARMOR)) {
    const body = trimmed
      .split('\n')
      .slice(1)
      .filter((l) => !l.startsWith('-----'))
      .join('');
    const inner = Buffer.from(body.slice(0, 1024 - (1024 % 4)), 'base64').toString('latin1');
    return inner.startsWith(AGE) ? ageKind(inner) : 'age';
  }
  if (/^AGE-SECRET-KEY-1/m.test(text)) return 'key';
  if (/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(text)) return 'private-key';
  // A share in any form the share parser reads (spaces or dashes, any case, over several lines), typos and all.
  if (text.startsWith('# vault-tool escrow share') || looksLikeShare(text)) return 'share';
  if (/<title>vault-tool share \d+ of \d+/.test(text)) return 'share-sheet';
  if (/"format"\s*:\s*"vault-tool\/share-manifest"/.test(text)) return 'share-manifest';
  if (/"format"\s*:\s*"vault-tool\/backup-manifest"/.test(text)) return 'backup-manifest';
  const json = firstJson(text);
  if (json) {
    if ('seq' in json && 'prev' in json && 'mac' in json) return 'evidence-log';
    if ('vaults' in json && 'version' in json) return 'state';
    if ('setId' in json && 'pid' in json && 'files' in json) return 'staging-marker';
    if ('pid' in json && 'host' in json && 'since' in json) return 'lock';
    // A record waiting beside a key file for a vault (escrow combine, the recovery kit), or deferred in the state folder.
    if (typeof json.event === 'string' && 'at' in json && 'data' in json) return 'pending-evidence';
  }
  if (/^\{\s*"version"\s*:\s*1\s*,\s*"id"\s*:\s*"[^"]*"\s*,\s*"pid"\s*:/.test(trimmed)) return 'drill-journal';
  if (/^\{\s*"version"\s*:\s*\d+,\s*"vaults"\s*:/.test(trimmed)) return 'state';
  if (/^# (Vault verification report$|Disaster-recovery drill: )/.test(text.split('\n', 1)[0]!)) return 'report';
  if (/^# HELP vault_tool_/.test(text)) return 'metrics';
  if (/<title>Disaster-recovery drill /.test(text)) return 'html-report';
  if (/<title>vault-tool recovery kit/.test(text)) return 'kit';
  const named = documentKind(text);
  if (named) return named;
  return 'other';
}

const DOCUMENT_KINDS: Record<string, FileKind> = { RestorePlan: 'restore-plan', DrillPlan: 'drill-plan', RestorePolicy: 'restore-policy' };

/**
 * A vault-tool document (a plan, the officer's restore policy) by its
 * `apiVersion` and `kind`, in every spelling the YAML parser reads them:
 * quoted or not, a comment after, fields in any order, or as JSON. Read from
 * the text, not parsed (a file's head may end mid-document): a false match
 * only keeps a file from being replaced.
 */
function documentKind(text: string): FileKind | null {
  const field = (name: string, values: string) => new RegExp(`(?:^|[\\s{,])(["']?)${name}\\1\\s*:\\s*(["']?)(${values})\\2\\s*(?:$|[,}#\\s])`, 'm');
  if (!field('apiVersion', 'vault-tool/v1').test(text)) return null;
  const kind = field('kind', Object.keys(DOCUMENT_KINDS).join('|')).exec(text);
  return kind ? DOCUMENT_KINDS[kind[3]!]! : null;
}

/** What the file at `path` is (links followed), or null when there is none. */
export function kindOfFile(path: string): FileKind | null {
  const target = resolveTarget(path);
  const head = readHead(target, 'the file to replace', 64 << 10);
  return head === null ? null : sniffFile(head, target);
}

/** What a regular file at `path` is when it is one the tool guards (a vault, a key file, shares…), else null (links not followed). */
export function guardedAt(path: string): string | null {
  try {
    if (!lstatSync(path).isFile()) return null;
    const k = kindOfFile(path);
    return k !== null && GUARDED.has(k) ? KIND_NAME[k] : null;
  } catch {
    return null;
  }
}

/** A restore refused because it would replace files the tool guards (named with what each is). */
export const refusedAsGuarded = (files: string[]) =>
  new VaultError('exists', `the restore would replace ${files.join(', ')}, which vault-tool never replaces: nothing was restored`, {
    code: 'restore-replace-refused',
  });
