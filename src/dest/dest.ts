import type { Readable } from 'node:stream';
import type { PendingFile } from '../fs/pending.js';

/**
 * Where copies and backups go: a place vault-tool writes whole files to,
 * lists, reads back and removes. Two implementations, picked by the spec a
 * user writes (`dest/index.ts`): a local folder (`dest/folder.ts`), and an
 * rclone remote, `remote:path`, the way users already reach S3, GCS, Azure
 * and SFTP (`dest/rclone.ts`). A file never appears under its final name
 * until it is whole (a temp name, then a rename or a move), and a temp file
 * a killed run left is swept by a later write.
 *
 * Verdicts: a place that cannot be reached (an rclone remote that is not
 * configured, refuses the connection or does not answer within the bound;
 * a folder that cannot be read) fails with an `io` error, which every
 * check reads as inconclusive; only a place that answered "it is not there"
 * gives `not-found` (or an empty list).
 */
export interface Destination {
  /** Which implementation: `folder` or `rclone`. */
  readonly kind: string;
  /** As it is written on a command line: a folder's absolute path, or `remote:path`. */
  readonly spec: string;
  /** The place, for messages: a folder's path, or `remote NAME`. */
  readonly place: string;
  /** Where `name` lives, as a user would type it. */
  locate(name: string): string;
  /** The destination `sub` (a relative path) below this one. */
  child(sub: string): Destination;
  /** The destination that holds this one, and this one's name in it (a copy named by its file's path). */
  parent(): { dest: Destination; name: string };
  /** Whether both are the same place: one folder, or one rclone remote whatever the path. */
  samePlace(other: Destination): boolean;
  /** Whether the destination itself exists (false only when the place answered that it does not). */
  present(): Promise<boolean>;
  /** The regular files directly in it (none when it does not exist yet). */
  list(): Promise<Listed[]>;
  /** Its subfolders (hidden ones left out; none when it does not exist). */
  folders(): Promise<string[]>;
  /** Whether `name` exists in it. */
  has(name: string): Promise<boolean>;
  /** The permission bits of `name` (0600, 0644…) where the place keeps them; undefined where it does not, or the file is not there. */
  mode(name: string): Promise<number | undefined>;
  /** A whole file read back (at most `limit` bytes); `not-found` when it is not there. */
  read(name: string, limit: number, what?: string): Promise<Buffer>;
  /** A whole file written (0600): never visible under its name until whole; `exclusive` refuses to replace one. */
  write(name: string, data: Uint8Array, o?: { exclusive?: boolean }): Promise<{ location: string; sha256: string }>;
  /** Deletes a file; one already gone is not an error. */
  remove(name: string): Promise<void>;
  /**
   * Many small files read in one go (an rclone remote: one process, not one
   * per file): each name's bytes, or the error reading it gave (`not-found`
   * when it is not there); a place that cannot be reached fails as a whole.
   */
  readMany(names: string[], limit: number, what?: string): Promise<Map<string, Buffer | Error>>;
  /** Many files deleted in one go; those already gone are not an error. */
  removeMany(names: string[]): Promise<void>;
  /** A file streamed out (bounded: a read that makes no progress fails as unreachable). */
  open(name: string): Readable;
  /** A file streamed in, visible under its name only once committed (never replacing one); temp files killed runs left are swept. */
  create(name: string, o?: { sizeEstimate?: number }): PendingFile;
  /** The file's path on this host when the destination is a local folder (read in place), else undefined. */
  localPath(name: string): string | undefined;
}

export interface Listed {
  name: string;
  size: number;
  modTime: string;
}

/** The rclone binary and the environment it runs with (RCLONE_CONFIG_* remotes, credentials, VAULT_TOOL_TIMEOUT). */
export interface DestOptions {
  env: Record<string, string | undefined>;
  rclone?: string;
}
