import { dirname } from 'node:path';
import { VaultError } from '../errors/errors.js';
import { overall, type Verdict } from '../errors/verdict.js';
import { fingerprint, readSection, type VaultDocument } from '../vault/document.js';
import { recordEvidence, verifyEvidence } from '../vault/evidence.js';
import { LIMITS } from '../fs/read.js';
import { changed, readVault, updateVault, type StoreOptions, type VaultPaths } from '../vault/store.js';
import { entryType } from '../vault/types.js';
import type { VaultKey } from '../vault/keyfile.js';
import { combineShares, type ShareInput } from '../escrow/shares.js';
import { idOfSecret } from '../escrow/escrow.js';
import type { DestOptions } from '../dest/dest.js';
import { parseDestination } from '../dest/index.js';
import { checkCanaries, type CanaryFinding } from './canary.js';
import { checkKeyCopy, checkVaultCopy, copyVerdict, fetchCopy, fetchKeyCopy, unreadable, type CopyFinding } from './copies.js';
import { checkDrift, driftVerdict, type DriftFinding } from './drift.js';
import { checkEscrow, type EscrowFinding } from './escrow.js';
import type { VerificationPlan } from './plan.js';
import type { SourceContext } from './sources.js';
import { peekVerifyState, editVerifyState, type VerifyRun } from './state.js';

/** One line of the verdict: what was checked, what it concluded (ok, failed, inconclusive), and what to do if not ok. */
export interface Check {
  area: 'entries' | 'evidence' | 'escrow' | 'copies' | 'drift' | 'canaries' | 'backups' | 'archive' | 'shares';
  subject: string;
  verdict: Verdict;
  /** verdict === 'ok'. */
  ok: boolean;
  message: string;
}

const check = (area: Check['area'], subject: string, verdict: Verdict, message: string): Check => ({ area, subject, verdict, ok: verdict === 'ok', message });

/** A finding about one backup (or one component's RPO), from the backup module (it plugs in through `VerifyInput.backups`). */
export interface BackupFinding {
  /** `archive`: a WAL archive's (continuity, its files, its RPO, PostgreSQL's archiver); default: a backup's. */
  area?: 'archive';
  component: string;
  file: string;
  verdict: Verdict;
  ok: boolean;
  message: string;
}

export interface VerifyInput {
  paths: VaultPaths;
  store: StoreOptions;
  plan: VerificationPlan;
  /** Copies given for this run only (`VAULT_FILE` with an optional key file), besides the registered ones. */
  extraCopies?: { vault: string; key?: string }[];
  dest: DestOptions;
  sources: SourceContext;
  /** Shares brought by custodians: combined in memory, never written. */
  /** Shares custodians brought; one that could not be read is set aside (a failed check of its own) when the others are enough. */
  shares?: ShareInput[];
  backups?: (doc: VaultDocument, key: VaultKey) => Promise<BackupFinding[]>;
  /** Check the copies registered in the vault (default true; a drill, far from them, does not). */
  registeredCopies?: boolean;
  operator: string;
  now: Date;
}

export interface VerifyResult {
  /** PASSED only when every check that applies is ok; inconclusive is not a pass. */
  verdict: Verdict;
  ok: boolean;
  at: string;
  operator: string;
  vault: { vaultId: string; generation: number; keyId: string; entries: number; versions: number };
  checks: Check[];
  drift: DriftFinding[];
  copies: CopyFinding[];
  canaries: CanaryFinding[];
  backups: BackupFinding[];
  shares?: { custodians: string[]; keyId: string };
  /** The escrow check (null: the key was never split, there is no escrow to check). */
  escrow: EscrowFinding | null;
  evidenceRecords: number;
}

/** Every version of every entry: its type's rule, its fingerprint, its place in the history. */
export function checkEntries(doc: VaultDocument): Check[] {
  const out: Check[] = [];
  for (const e of doc.entries) {
    const problems: string[] = [];
    let type: ReturnType<typeof entryType> | undefined;
    try {
      type = entryType(e.type);
    } catch {
      problems.push(`unknown type ${e.type}`);
    }
    let prevAt = '';
    e.versions.forEach((v, i) => {
      const value = Buffer.from(v.value, 'base64');
      if (v.version !== i + 1) problems.push(`version ${i + 1} is numbered ${v.version}`);
      if (v.createdAt < prevAt) problems.push(`version ${v.version} is dated before version ${v.version - 1}`);
      prevAt = v.createdAt;
      if (fingerprint(doc, value) !== v.fingerprint) problems.push(`version ${v.version}'s fingerprint does not match its value`);
      const broken = type?.check(value);
      if (broken) problems.push(`version ${v.version} breaks the rule: ${broken}`);
    });
    if (!e.versions.length) problems.push('it has no version');
    out.push(
      check(
        'entries',
        e.name,
        problems.length ? 'failed' : 'ok',
        problems.length ? `${e.name}: ${problems.join('; ')}` : `${e.name}: ${e.versions.length} version(s), each valid`,
      ),
    );
  }
  return out;
}

/** A copy given as a file path or `remote:path/file`. */
function splitCopy(spec: string, cwd: string, io: DestOptions) {
  const { dest, name } = parseDestination(spec, cwd, io).parent();
  return { dest, file: name, location: spec };
}

/** A copy that could not be read: its place out of reach from here (an rclone remote failing, an I/O error) is inconclusive; anything else, damaged. */

async function checkCopies(doc: VaultDocument, key: VaultKey, input: VerifyInput): Promise<CopyFinding[]> {
  const out: CopyFinding[] = [];
  const st = peekVerifyState(doc);
  const cwd = dirname(input.paths.vaultFile);
  const keyFor = async (rec: { pairBytes: Buffer | null } | undefined): Promise<VaultKey> => {
    if (!rec?.pairBytes) return key;
    const { openKeyFile } = await import('../vault/keyfile.js');
    try {
      return await openKeyFile(rec.pairBytes, input.store.getPassphrase);
    } catch {
      return key;
    }
  };
  for (const c of input.registeredCopies === false ? [] : st.copies) {
    const d = parseDestination(c.dest, cwd, input.dest);
    const location = `${c.kind === 'vault' ? 'vault' : 'key'} copy ${c.id} at ${d.locate(c.file)}`;
    try {
      if (c.kind === 'key') {
        out.push(await checkKeyCopy(doc, await fetchKeyCopy(d, c.file), location, input.now, input.store.getPassphrase, c.createdAt, c.id));
        continue;
      }
      const pair = c.pair ? st.copies.find((x) => x.id === c.pair) : undefined;
      const pairBytes = pair ? await fetchCopy(parseDestination(pair.dest, cwd, input.dest), pair.file, LIMITS.keyFile).catch(() => null) : null;
      out.push(checkVaultCopy(doc, await fetchCopy(d, c.file, LIMITS.vaultFile), await keyFor({ pairBytes }), location, input.now, c.id));
    } catch (e) {
      out.push({ id: c.id, kind: c.kind, location, status: unreadable(e), message: `${location}: ${(e as Error).message}` });
    }
  }
  for (const c of [...input.plan.copies, ...(input.extraCopies ?? [])]) {
    const v = splitCopy(c.vault, cwd, input.dest);
    try {
      const bytes = await fetchCopy(v.dest, v.file, LIMITS.vaultFile);
      let k = key;
      if (c.key) {
        const kc = splitCopy(c.key, cwd, input.dest);
        const kb = await fetchKeyCopy(kc.dest, kc.file);
        out.push(await checkKeyCopy(doc, kb, `key copy ${c.key}`, input.now, input.store.getPassphrase));
        k = await keyFor({ pairBytes: kb?.bytes ?? null });
      }
      out.push(checkVaultCopy(doc, bytes, k, `vault copy ${c.vault}`, input.now));
    } catch (e) {
      out.push({ kind: 'vault', location: `vault copy ${c.vault}`, status: unreadable(e), message: `${c.vault}: ${(e as Error).message}` });
    }
  }
  return out;
}

/**
 * The quarterly verification: every entry against its type and history, the
 * evidence log, every copy, production (drift by keyed hash), the canaries,
 * the backups, and shares custodians brought. Nothing is written; see
 * recordVerification.
 */
export async function runVerification(input: VerifyInput): Promise<VerifyResult> {
  const { doc, key, meta } = await readVault(input.paths, input.store);
  const checks: Check[] = checkEntries(doc);
  let evidenceRecords = 0;
  try {
    const ev = verifyEvidence(input.paths.vaultFile, doc);
    evidenceRecords = ev.records.length;
    const lost = ev.gaps.map((g) => (g.from === g.to ? `${g.from}` : `${g.from}-${g.to}`));
    checks.push(
      check(
        'evidence',
        'evidence log',
        'ok',
        `${evidenceRecords} record(s): chain and MACs verified, ${lost.length ? `records ${lost.join(', ')} recorded as lost (a new segment started after each gap)` : 'nothing missing'}`,
      ),
    );
  } catch (e) {
    if (!(e instanceof VaultError)) throw e;
    checks.push(check('evidence', 'evidence log', 'failed', e.message));
  }
  const escrow = checkEscrow(doc);
  if (escrow) checks.push(check('escrow', escrow.setId ? `share set ${escrow.setId}` : 'share set', escrow.verdict, escrow.message));
  const copies = await checkCopies(doc, key, input);
  for (const c of copies) checks.push(check('copies', c.location, copyVerdict(c.status), c.message));
  const drift = await checkDrift(doc, input.plan.against, input.sources);
  for (const d of drift) checks.push(check('drift', `${d.entry} in ${d.source}`, driftVerdict(d.status), d.message));
  const canaries = checkCanaries(doc, peekVerifyState(doc).canaries);
  for (const c of canaries) checks.push(check('canaries', `canary ${c.id.slice(0, 8)} (${c.entry})`, c.status === 'opens' ? 'ok' : 'failed', c.message));
  const backups = input.backups ? await input.backups(doc, key) : [];
  for (const b of backups) checks.push(check(b.area ?? 'backups', b.file ? `${b.component}: ${b.file}` : b.component, b.verdict, b.message));
  let shares: VerifyResult['shares'];
  if (input.shares?.length) {
    try {
      const r = await combineShares(input.shares, idOfSecret);
      const keyId = idOfSecret(r.secret);
      r.secret.fill(0);
      const opens = keyId === doc.key.keyId;
      const names = r.used.map((s) => s.label).join(', ');
      // Shares of a set split since (reshare without a rekey) still open the key: they prove nothing of the current set's shares.
      const current = readSection(doc, 'escrow').current;
      const set = r.used[0]!;
      const superseded = opens && current && current.setId !== set.setId ? current : undefined;
      shares = { custodians: r.used.map((s) => s.label), keyId };
      checks.push(
        check(
          'shares',
          `shares of ${names}`,
          opens && !superseded ? 'ok' : 'failed',
          !opens
            ? `the shares were combined and recover key id ${keyId}, not the vault key ${doc.key.keyId}: they are from an older split`
            : superseded
              ? `the shares of ${names} recover the vault key, but they are of share set ${set.setId} (epoch ${set.epoch}), not the current set ${superseded.setId} (epoch ${superseded.epoch}: ${superseded.custodians.map((c) => c.label).join(', ')}): the current shares were not checked`
              : `the shares of ${names} were combined and recover the vault key (key id ${keyId})`,
        ),
      );
      // Every share set aside (unreadable, of another set, given twice, not fitting) is a failure of its own.
      for (const a of r.setAside) checks.push(check('shares', a.share ? `share ${a.share.index} (${a.share.label})` : a.name, 'failed', a.reason));
    } catch (e) {
      if (!(e instanceof VaultError)) throw e;
      checks.push(check('shares', 'shares', 'failed', e.message));
    }
  }
  const verdict = overall(checks.map((c) => c.verdict));
  return {
    verdict,
    ok: verdict === 'ok',
    at: input.now.toISOString(),
    operator: input.operator,
    vault: {
      vaultId: doc.vaultId,
      generation: meta.generation,
      keyId: key.keyId,
      entries: doc.entries.length,
      versions: doc.entries.reduce((n, e) => n + e.versions.length, 0),
    },
    checks,
    drift,
    copies,
    canaries,
    backups,
    ...(shares ? { shares } : {}),
    escrow,
    evidenceRecords,
  };
}

/**
 * Records a run in the vault (last run, last success, which entries matched
 * production) and appends a `verify` record, with the report's SHA-256, to
 * the evidence log. Never values: names, verdicts and hashes of reports.
 */
export async function recordVerification(paths: VaultPaths, store: StoreOptions, r: VerifyResult, reportSha256: string, plan: string | null): Promise<void> {
  const failures = r.checks.filter((c) => c.verdict === 'failed');
  const undecided = r.checks.filter((c) => c.verdict === 'inconclusive');
  const run: VerifyRun = {
    at: r.at,
    ok: r.ok,
    verdict: r.verdict,
    operator: r.operator,
    failures: failures.length,
    inconclusive: undecided.length,
    reportSha256,
  };
  await updateVault(paths, store, (doc) => {
    const st = editVerifyState(doc);
    st.last = { ...run, ...summaryOf(r) };
    if (r.ok) st.lastSuccess = st.last;
    for (const d of r.drift) if (d.status === 'match') st.production[d.entry] = { at: r.at, source: d.source };
    recordEvidence(
      doc,
      'verify',
      {
        ok: r.ok,
        verdict: r.verdict,
        operator: r.operator,
        plan,
        reportSha256,
        generation: r.vault.generation,
        checks: r.checks.length,
        failures: failures.map((c) => ({ area: c.area, subject: c.subject })),
        inconclusive: undecided.map((c) => ({ area: c.area, subject: c.subject })),
        ...(r.shares ? { custodians: r.shares.custodians } : {}),
      },
      new Date(r.at),
    );
    return changed(undefined);
  });
}

/** What status and the metrics need of a run, kept with it: verdicts per drift source, copy and canary (names only). */
export function summaryOf(r: VerifyResult) {
  return {
    drift: r.drift.map((d) => ({ entry: d.entry, source: d.source, status: d.status })),
    copies: r.copies.map((c) => ({
      ...(c.id ? { id: c.id } : {}),
      location: c.location,
      status: c.status,
      ...(c.ageDays !== undefined ? { ageDays: c.ageDays } : {}),
    })),
    canaries: r.canaries.map((c) => ({ id: c.id, entry: c.entry, status: c.status })),
    backups: r.backups.map((b) => ({ component: b.component, file: b.file, ok: b.ok, verdict: b.verdict })),
    ...(r.escrow ? { escrow: { status: r.escrow.status, ...(r.escrow.setId ? { setId: r.escrow.setId } : {}) } } : {}),
  };
}
