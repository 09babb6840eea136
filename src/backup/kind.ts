import type { Readable } from 'node:stream';
import type { GuardTarget } from '../k8s/policy.js';
import type { ErrorCode } from '../errors/codes.js';
import type { Shape } from '../vault/shape.js';
import type { BackupManifest, BackupSet } from './manifest.js';
import type { Consumer, Producer } from './pipeline.js';

/**
 * Backup kinds: what a backup is of, each one object behind this interface,
 * listed in one registry (`kinds/index.ts`), as restic's backends are.
 *
 * Vocabulary:
 * - **repository**: a destination (a folder or an rclone remote) holding
 *   backups, one folder per component (`repo.ts`).
 * - **kind**: what a backup is of, and so how it is dumped, checked,
 *   restored and drilled: `postgres`, `postgres-globals`, `redis`, `files`,
 *   `k8s`, `exec`, and for point-in-time recovery `postgres-base` and
 *   `postgres-wal`. Each manifest records its kind's name.
 * - **component**: one source backed up over time, named `FOLDER/NAME`
 *   (`postgres/app`, `files/config`); FOLDER is its kind's folder (two kinds
 *   may share one: `postgres/globals` is a `postgres-globals` backup).
 * - **dump**: the plaintext a kind's tool writes (`pg_dump -Fc`'s archive,
 *   an RDB snapshot, a tar stream). It never touches disk unencrypted.
 * - **producer**: where a dump comes from: a process's stdout, or a stream
 *   made in-process (Kubernetes objects read through the cluster client).
 * - **backup**: one dump, encrypted to the backup recipient, stored as
 *   `<stamp>-<id>.<ext>.age` beside its signed **manifest** (written last:
 *   the commit marker).
 * - **shape check**: a quick look at the dump's first bytes and size (a
 *   `PGDMP` header), made as it is written.
 * - **verifier**: the full read of a dump (`pg_restore -f /dev/null`,
 *   `redis-check-rdb`, `tar -t`), run on the plaintext while it is written,
 *   by every verification and before every restore.
 * - **restore target**: where a backup goes back to (a database, a folder,
 *   or any kind into a file); checked before anything is read, written only
 *   after a full check of the whole backup.
 * - **scratch target**: a database or folder the drill creates (journaled
 *   first), restores a backup into, checks, and removes (`scratch.ts`).
 * - **drill check**: a read-only check of a scratch target the drill plan
 *   may ask for (`tables: backup`, `redisKeys: 5000`).
 *
 * Adding a kind is one file in `kinds/` implementing `BackupKind` and one
 * line in `kinds/index.ts`.
 */
export interface BackupKind<Options = never> {
  /** The manifest's `kind`. */
  name: string;
  /** The first part of its components' names. */
  folder: string;
  /** The one component of this kind, when its name is fixed (`postgres/globals`); otherwise any `FOLDER/NAME` of its folder. */
  only?: string;
  /** The word messages use for it ("a globals backup", "not a redis backup"). */
  label: string;
  /** The extension of its dump files, before `.age` (`pgdump`, `rdb`, `tar`). */
  ext: string;
  /** Makes a component ready to back up: its producer, and what the manifest records (the tool and its version, the source). */
  dump(o: Options, env: Env): Promise<Component>;
  /** What is wrong with a dump, from its first bytes and its size; null when nothing is. */
  shape(head: Buffer, size: number): string | null;
  /** The full read of a dump. */
  verifier(env: Env): Consumer;
  /** How a backup goes back where it came from; absent: only into a file (any backup can be). */
  restore?: RestoreMethod;
  /**
   * Restored by another part of vault-tool, with its own guard rails:
   * `cluster`, the Secrets go back through the cluster client; `pitr`, a
   * base backup goes into a data directory with the WAL to a recovery
   * target; `archive`, WAL is fetched by PostgreSQL's restore_command.
   */
  restoredElsewhere?: 'cluster' | 'pitr' | 'archive';
  /** What the disaster-recovery drill restores it into, and the checks it can run there; absent: a drill plan does not restore it on its own. */
  drill?: DrillMethod;
}

export type Env = Record<string, string | undefined>;

/** One component ready to back up: what runs and what the manifest says of it. Credentials never appear here. */
export interface Component {
  component: string;
  /** Its kind's name. */
  kind: string;
  producer: Producer;
  /** The tool that makes the dump and its version, for the manifest. */
  tool: { name: string; version: string; args: string[] };
  source: Record<string, string>;
  /** An estimate of the plaintext size, for remote uploads (progress estimates from the last backup of the component). */
  estimate?: number;
  /**
   * Worker threads to seal it (default: one per core, `age/pump.ts`): a
   * component read at a fraction of the speed the calling thread seals at
   * gains little from them and holds their memory (their slots and heaps).
   */
  workers?: number;
  /** What happens before its first byte, said while progress waits ("waiting for Redis BGSAVE"); default: starting its tool. */
  waiting?: string;
  /** What the user should know before it runs (a password on the command line). */
  warnings?: string[];
  /** The set it is made in (every database of a cluster, the globals last naming them all), recorded in its manifest. */
  set?: BackupSet;
  /**
   * What is learnt of the source beside its dump rather than before it
   * (pg_dump's header; the server asked only when needed): made as the
   * dump starts, settled before the file is committed. `tool.version` is
   * then the one `settle` gives.
   */
  beside?: () => Beside;
}

/** What a component learns beside its dump. */
export interface Beside {
  /** The size estimate, asked of the source only when wanted (the start event, a remote upload); a failure is left to `settle` and `explain` to report. */
  estimate(): Promise<number | undefined>;
  /** Before the commit: the tool's version for the manifest, from the facts and the dump's first bytes; throws when they show the dump must not be kept. */
  settle(head: Buffer): Promise<string>;
  /** The dump failed: the cause, when the facts show one (the server out of reach, the database missing, a tool too old); else `e` itself. */
  explain(e: unknown): Promise<unknown>;
}

/** What a restore is asked for; each kind reads the parts it needs. */
export interface RestoreRequest {
  /** A database to restore into. */
  database?: string;
  /** Create that database first. */
  create?: boolean;
  /** Do not restore ownership (the roles may not exist there). */
  noOwner?: boolean;
  /** A folder to restore into. */
  dir?: string;
  /** A bucket, or a prefix in one, to restore into: `REMOTE:BUCKET[/PREFIX]`. */
  to?: string;
  /** Replace what is there (existing files, the tables of a database). */
  force?: boolean;
  /** Keep the archive's owners and modes (setuid bits included). */
  sameOwner?: boolean;
  /** Write into the folder of a server that runs (its own files may replace what is restored). */
  allowRunning?: boolean;
}

export interface RestoreMethod {
  /** What the request must name: a database, a folder, or a bucket prefix or a folder (absent: nothing, or the kind has a default). */
  needs?: 'database' | 'dir' | 'bucket';
  /** What to know about the target (said when it is missing). */
  note?: string;
  /** The target of a request. */
  target(req: RestoreRequest): Restorer;
}

/** Runs tools with a bound, and tells who started which process group. */
export interface RunBounds {
  /** The bound of the full check and of the restore itself, in milliseconds. */
  timeoutMs: number;
  /** The bound of quick calls (a table count, createdb), in milliseconds. */
  callMs: number;
  onStart?: (pid: number) => void;
}

/**
 * One restore target. Restores never pipe unverified plaintext into a live
 * target: `precheck` looks at the target before anything is read, a first
 * pass decrypts and checks the whole backup (`check`, default: the kind's
 * verifier), and only then `land` opens the target and a second pass
 * decrypts into it, from the same open file (whose SHA-256 is checked
 * again); `commit` makes it final, `abort` removes what the restore made.
 */
export interface Restorer {
  /** Where it goes, for messages and the record ("database drill_orders", a folder, a file). */
  where: string;
  /** What restores it, for messages and the journal ("pg_restore into drill_orders", a path). */
  label: string;
  /** What the evidence record says of the target (create, force). */
  record: Record<string, unknown>;
  /** The target as the restore policy sees it (a database, a folder, a bucket), to tell whether it is protected; a database as its server names it (`db-target.ts`). */
  guard(env: Env): GuardTarget | Promise<GuardTarget>;
  precheck(env: Env, b: RunBounds): Promise<void>;
  /** A first pass of its own (the names a tar archive holds), and what to check once it passed. */
  check?(env: Env, b: RunBounds): { consumer: Consumer; after(): void };
  land(env: Env, b: RunBounds): Promise<Landing>;
  /** What the restore tool's failure means, when the target can tell (a role the dump needs is missing): an error naming it, or undefined. */
  explain?(said: string): { message: string; code: ErrorCode } | undefined;
}

export interface Landing {
  consumer: Consumer;
  /** Nothing reaches the target until commit (a staging folder, a temp file). */
  staged: boolean;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

/** The scratch targets a drill can make for a backup: a database on the PostgreSQL server, a folder, or a prefix of a bucket. */
export type ScratchKind = 'database' | 'folder' | 'prefix';

export interface DrillMethod {
  /** What a drill restores it into. */
  scratch: ScratchKind;
  /** The tools its restore needs (checked when the drill is planned), and the package that has them. */
  tools: { command: string; pkg: string }[];
  /** The checks a drill plan may ask for on its scratch target. */
  checks: DrillCheckSpec[];
  /** What `drill init` writes for a component of it: checks that need no knowledge of the data. */
  initChecks?(at: string, newest: BackupManifest | undefined): Record<string, unknown>[];
}

/** A check of a kind's scratch target, as a drill plan writes it (`{ redisKeys: 5000, dir: scratch/redis }`). */
export interface DrillCheckSpec {
  /** The key that names it in the plan. */
  key: string;
  /** Its `kind` once parsed. */
  kind: string;
  /** The shape of its item, given the shape of the field naming the target (a scratch database name, a folder path). */
  shape(target: Shape<string>): Shape<KindCheck>;
  /** Tools it needs (checked when the drill is planned), and the package that has them. */
  tools: { command: string; pkg: string }[];
  describe(c: KindCheck): string;
  /** Other scratch targets of the plan it reads (a scratch database a query runs in); each must be one the plan restores into. */
  reads?(c: KindCheck): { database?: string };
  /** Runs it, read-only, on the scratch target the backup was restored into. */
  run(c: KindCheck, on: CheckedTarget): Promise<string>;
}

/** A parsed check of a kind's scratch target: its kind, the target (`database` or `dir`), and its own fields. */
export interface KindCheck {
  kind: string;
  database?: string;
  dir?: string;
  prefix?: string;
  [field: string]: unknown;
}

/** A scratch target a backup was restored into, as a check sees it. */
export interface CheckedTarget {
  /** The scratch database's name or the folder's path. */
  at: string;
  manifest: BackupManifest;
  env: Env;
  timeoutMs: number;
  /** Told every tool's process group (the drill journals them). */
  onStart?: (pid: number, label: string) => void;
  /** Decrypts the backup again into a consumer (the first bytes are enough for a table of contents). */
  readBackup(consumer: (r: Readable) => Promise<void>, label: string): Promise<void>;
}
