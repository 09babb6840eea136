import { createHash, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { VaultError } from '../../errors/errors.js';
import { formatLsn, parseLsn } from './names.js';
import { TarReader, type TarMember } from './tar.js';

/**
 * What a base backup (pg_basebackup's tar on stdout, `backup_manifest` its
 * last member) says about itself, and its full check without writing a
 * byte to disk: every file's size and checksum against `backup_manifest`
 * (as pg_verifybackup checks them), the manifest's own checksum, nothing
 * missing and nothing extra, the archive ended properly. The WAL the backup
 * needs (its `WAL-Ranges`) is the archive's to check.
 */
export interface BaseInfo {
  timeline: number;
  startLsn: string;
  stopLsn: string;
  /** Timelines the backup's WAL spans, oldest first (a backup taken on a standby across a promote spans two). */
  timelines: number[];
  systemId: string;
  postgres: string;
  files: number;
  label: Record<string, string>;
}

interface ManifestFile {
  path: string;
  size: number;
  algorithm: string;
  checksum: string;
}

/** Files pg_verifybackup does not hold against the manifest (pg_basebackup -R writes them). */
const IGNORED = new Set(['postgresql.auto.conf', 'standby.signal', 'recovery.signal', 'backup_manifest']);
const KEEP = new Set(['backup_label', 'backup_manifest', 'global/pg_control', 'PG_VERSION']);
const MAX_KEPT = 512 << 20;

function parseManifestText(text: Buffer): { files: Map<string, ManifestFile>; ranges: { timeline: number; start: string; end: string }[] } {
  const i = text.lastIndexOf('"Manifest-Checksum"');
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new VaultError('verify-failed', 'backup_manifest is not valid JSON: it was cut short or altered');
  }
  if (doc['PostgreSQL-Backup-Manifest-Version'] !== 1 && doc['PostgreSQL-Backup-Manifest-Version'] !== 2)
    throw new VaultError('verify-failed', `backup_manifest version ${String(doc['PostgreSQL-Backup-Manifest-Version'])} is not one this vault-tool reads`);
  if (i < 0 || createHash('sha256').update(text.subarray(0, i)).digest('hex') !== doc['Manifest-Checksum'])
    throw new VaultError('verify-failed', 'backup_manifest fails its own checksum: it was altered');
  const files = new Map<string, ManifestFile>();
  for (const f of (doc.Files as Record<string, unknown>[]) ?? []) {
    const path = typeof f.Path === 'string' ? f.Path : Buffer.from(String(f['Encoded-Path']), 'hex').toString('utf8');
    files.set(path, { path, size: Number(f.Size), algorithm: String(f['Checksum-Algorithm'] ?? 'NONE'), checksum: String(f.Checksum ?? '') });
  }
  const ranges = ((doc['WAL-Ranges'] as Record<string, unknown>[]) ?? []).map((r) => ({
    timeline: Number(r.Timeline),
    start: String(r['Start-LSN']),
    end: String(r['End-LSN']),
  }));
  if (!ranges.length) throw new VaultError('verify-failed', 'backup_manifest names no WAL range');
  return { files, ranges };
}

/**
 * Reads a base backup's tar stream. With `hash`, every file is checked
 * against the manifest (the full check); without, only what the backup says
 * about itself is kept (for the backup's own record while it is made).
 */
export class BaseReader {
  private readonly seen = new Map<string, { size: number; digest: string | null }>();
  private readonly kept = new Map<string, Buffer[]>();
  private keptBytes = 0;
  private hasher: Hash | null = null;
  private readonly tar: TarReader;
  constructor(private readonly hash: boolean) {
    this.tar = new TarReader(
      (m) => this.start(m),
      (m, c) => this.data(m, c),
      (m) => this.end(m),
    );
  }

  push(c: Buffer): void {
    this.tar.push(c);
  }

  /** vault-tool runs pg_basebackup with SHA-256 manifest checksums. */
  private readonly algorithm = 'SHA256';

  private start(m: TarMember): void {
    if (m.type !== 'file') return;
    this.hasher = this.hash ? createHash('sha256') : null;
    if (KEEP.has(m.path)) this.kept.set(m.path, []);
  }

  private data(m: TarMember, c: Buffer): void {
    this.hasher?.update(c);
    const k = this.kept.get(m.path);
    if (k) {
      this.keptBytes += c.length;
      if (this.keptBytes > MAX_KEPT) throw new VaultError('verify-failed', `${m.path} is larger than ${MAX_KEPT} bytes`);
      // Copied: the caller may reuse `c` once push returns (a bulk run's slot).
      k.push(Buffer.from(c));
    }
  }

  private end(m: TarMember): void {
    if (m.type !== 'file') return;
    this.seen.set(m.path, { size: m.size, digest: this.hasher ? this.hasher.digest('hex') : null });
    this.hasher = null;
  }

  /** The first segment the backup needs, from backup_label, once it has been read. */
  startWal(): string | undefined {
    const l = this.file('backup_label');
    return l ? /\(file ([0-9A-F]{24})\)/.exec(parseLabel(l)['START WAL LOCATION'] ?? '')?.[1] : undefined;
  }

  private file(path: string): Buffer | undefined {
    const k = this.kept.get(path);
    return k ? Buffer.concat(k) : undefined;
  }

  /** After the whole stream: what the backup is, or why it is not whole. */
  finish(): BaseInfo {
    if (!this.tar.ended) throw new VaultError('verify-failed', 'the tar archive does not end: it was cut short');
    const manifestText = this.file('backup_manifest');
    if (!manifestText) throw new VaultError('verify-failed', 'the backup holds no backup_manifest');
    const label = this.file('backup_label');
    if (!label) throw new VaultError('verify-failed', 'the backup holds no backup_label: it is not a base backup');
    const man = parseManifestText(manifestText);
    if (this.hash) {
      const algorithms = new Set([...man.files.values()].map((f) => f.algorithm));
      const problems: string[] = [];
      for (const f of man.files.values()) {
        const s = this.seen.get(f.path);
        if (!s) problems.push(`${f.path} is missing`);
        else if (s.size !== f.size) problems.push(`${f.path} is ${s.size} bytes, the manifest says ${f.size}`);
        else if (f.algorithm !== 'NONE' && s.digest !== null && f.algorithm === this.algorithm && s.digest !== f.checksum.toLowerCase())
          problems.push(`${f.path} fails its ${f.algorithm} checksum`);
      }
      for (const p of this.seen.keys()) if (!man.files.has(p) && !IGNORED.has(p)) problems.push(`${p} is not in the manifest`);
      if ([...algorithms].some((a) => a !== 'NONE' && a !== this.algorithm))
        problems.push(`files use checksums (${[...algorithms].join(', ')}) this check did not compute`);
      if (problems.length)
        throw new VaultError(
          'verify-failed',
          `the backup does not match its backup_manifest: ${problems.slice(0, 3).join('; ')}${problems.length > 3 ? ` (and ${problems.length - 3} more)` : ''}`,
        );
    }
    const control = this.file('global/pg_control');
    if (!control || control.length < 8) throw new VaultError('verify-failed', 'the backup holds no global/pg_control');
    const first = man.ranges[0]!;
    const last = man.ranges[man.ranges.length - 1]!;
    return {
      timeline: last.timeline,
      startLsn: formatLsn(parseLsn(first.start)),
      stopLsn: formatLsn(parseLsn(last.end)),
      timelines: man.ranges.map((r) => r.timeline),
      systemId: control.readBigUInt64LE(0).toString(),
      postgres: (this.file('PG_VERSION') ?? Buffer.from('')).toString('utf8').trim(),
      files: this.seen.size,
      label: parseLabel(label),
    };
  }
}

/** backup_label's `KEY: value` lines. */
export function parseLabel(b: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of b.toString('utf8').split('\n')) {
    const i = line.indexOf(': ');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 2);
  }
  return out;
}

/** The full check of a base backup's plaintext, as a pipeline consumer's body. */
export async function checkBaseStream(r: Readable): Promise<BaseInfo> {
  const reader = new BaseReader(true);
  for await (const c of r) reader.push(c as Buffer);
  return reader.finish();
}
