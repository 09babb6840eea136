import type { OnProgress } from '../fs/progress.js';
import type { VaultKey } from '../vault/keyfile.js';
import type { VaultDocument } from '../vault/document.js';
import type { StoreOptions, VaultPaths } from '../vault/store.js';
import type { ShareInput } from '../escrow/combine.js';
import type { BackupKey } from '../backup/keys.js';
import type { BackupManifest } from '../backup/manifest.js';
import type { Listed, Repo } from '../backup/repo.js';
import type { DrillPlan } from './plan.js';
import type { JournalFile } from './journal.js';
import type { Tools } from './scratch.js';
import type { Target } from './targets.js';

type Env = Record<string, string | undefined>;

/**
 * The drill is a list of steps, each with its plan and its run (restic's
 * PlanPrune, then plan.Execute): a step's `plan` checks everything its run
 * will need without writing anything (the tools are there, the server is
 * reachable and lets the drill create what it needs, the scratch targets do
 * not exist yet, the backup is trusted and its key held) and says what the
 * run will do; its `run` does it. A dry run plans every step and prints the
 * plans; a run plans every step first and runs them only if every plan
 * passed, so a drill that cannot succeed writes nothing. Steps that only
 * read (combining the shares, opening the vault) do their work in the plan
 * and have no run.
 */
export interface DrillInput {
  paths: VaultPaths;
  store: StoreOptions;
  plan: DrillPlan;
  planInfo: { path: string; sha256: string };
  /** The shares brought; one that could not be read is set aside, and named, when the others are enough. */
  shares: ShareInput[];
  /** The restore plan's text, when the drill plan has a kubernetes section. */
  k8sPlanText?: string;
  /** The restore policy in force (it applies to the drill's context like any other). */
  policy?: { path: string; text: string };
  cluster: { env: Env; requestTimeoutMs: number };
  env: Env;
  /** seen.json: the journal folder is beside it. */
  stateFile: string;
  keep: boolean;
  dryRun: boolean;
  /** Write the recovered key here (a new file, 0600), when asked. */
  writeKey?: string;
  operator: string;
  now: () => Date;
  /** Monotonic milliseconds (performance.now). */
  clock: () => number;
  /** Told how the drill goes (`item`: the step): planning, running, and a restore's bytes. */
  onProgress?: OnProgress;
}

export interface Planned {
  /** What the run will do (the dry run's line), or what the step did (a step without a run). */
  message: string;
  run?: () => Promise<string>;
}

export interface Step {
  name: string;
  /** Nothing after it can work when it fails (the key, the vault). */
  essential?: boolean;
  /** Not part of the recovery time (the teardown). */
  afterRecovery?: boolean;
  plan(s: DrillState): Promise<Planned>;
}

export interface RestoredBackup {
  component: string;
  file: string;
  madeAt: string;
  /** How old the restored data was: the recovery point actually achieved. */
  ageSeconds: number;
  into: string;
}

/** What the steps share, named: each step reads what earlier ones put here. */
export interface DrillState {
  input: DrillInput;
  key?: VaultKey;
  custodians: string[];
  /** The share set the shares came from. */
  shareSet?: { setId: string; epoch: number };
  doc?: VaultDocument;
  meta?: { vaultId: string; generation: number };
  /** The drill's journal: opened when the run begins (a dry run has none). */
  journal?: JournalFile;
  tools: Tools;
  /** Scratch targets an earlier, dead drill left, which the leftovers step removes before anything is restored. */
  leftover: Target[];
  listed?: Listed[];
  restored: RestoredBackup[];
  /** Per scratch target restored into (a database's name, a folder's path): the backup in it, which its checks may read again. */
  restoredInto: Map<string, { repo: Repo; manifest: BackupManifest; key: BackupKey }>;
  /** Per cluster restored to a point in time: libpq's environment to reach its throwaway server, and the base backup in it. */
  pitrInto: Map<string, { env: Env; manifest: BackupManifest }>;
  /** Scratch namespaces the Secrets were restored into (by the restore plan's namespace). */
  namespaces?: Record<string, string>;
  store(): StoreOptions;
}

/** A step's failure: the message, and what to do about it. */
export class StepFailed extends Error {
  constructor(
    message: string,
    readonly todo?: string,
  ) {
    super(message);
  }
}

export const fail = (message: string, todo?: string) => new StepFailed(message, todo);
