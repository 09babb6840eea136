import { randomBytes, randomInt } from 'node:crypto';
import { combine as shamirCombine, split as shamirSplit } from 'shamir-secret-sharing';
import { VaultError } from '../errors/errors.js';
import { checkParams, custodianName, createdMillis, ENVELOPE_VERSION, personKey, type Share } from './envelope.js';
import { binomial, subsets, type KeyIdOf } from './combine.js';

/**
 * Split, with a self-test of every K-subset; combining is in combine.ts
 * (browser-safe, shared with the recovery kit).
 */
export {
  binomial,
  combineShares,
  groupSets,
  isUnreadable,
  setName,
  shareProblems,
  SHARE_BYTES,
  type CombineResult,
  type KeyIdOf,
  type SetAside,
  type SetInfo,
  type ShareInput,
  type ShareProblem,
  type ShareSet,
  type UnreadableShare,
} from './combine.js';

export interface SplitInput {
  secret: Uint8Array;
  keyId: string;
  threshold: number;
  labels: string[];
  epoch: number;
  /** The key file's `# created:` time, carried in every share when it is as vault-tool writes it (see createdMillis). */
  keyCreatedAt?: string;
  keyIdOf: KeyIdOf;
  /** Cap on the K-subsets recombined by the self-test; beyond it a random sample of that size is checked. */
  selfTestLimit?: number;
}

function randomSubset(n: number, k: number): number[] {
  const idx = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  return idx.slice(0, k).sort((a, b) => a - b);
}

export async function splitSecret(input: SplitInput): Promise<{ shares: Share[]; selfTested: number; subsets: number }> {
  const n = input.labels.length;
  checkParams(input.threshold, n);
  const labels = input.labels.map(custodianName);
  if (new Set(labels.map(personKey)).size !== n)
    throw new VaultError('usage', 'custodian names must be distinct (apart from case, spacing, punctuation and the form of their letters)');
  const raw = await shamirSplit(new Uint8Array(input.secret), n, input.threshold);
  const setId = randomBytes(8).toString('hex');
  const keyCreatedAt = createdMillis(input.keyCreatedAt) !== undefined ? input.keyCreatedAt : undefined;
  const shares: Share[] = raw.map((bytes, i) => ({
    version: ENVELOPE_VERSION,
    setId,
    epoch: input.epoch,
    threshold: input.threshold,
    count: n,
    index: i + 1,
    keyId: input.keyId,
    ...(keyCreatedAt ? { keyCreatedAt } : {}),
    label: labels[i]!,
    share: bytes,
  }));
  // Self-test: recombine every K-subset (or a random sample when there are too many) and check the key id.
  const total = binomial(n, input.threshold);
  const limit = input.selfTestLimit ?? 2000;
  const picks = total <= limit ? subsets(n, input.threshold) : Array.from({ length: limit }, () => randomSubset(n, input.threshold));
  let tested = 0;
  for (const pick of picks) {
    const secret = await shamirCombine(pick.map((i) => new Uint8Array(shares[i]!.share)));
    if (input.keyIdOf(secret) !== input.keyId) throw new VaultError('internal', `split self-test failed for shares ${pick.map((i) => i + 1).join(',')}`);
    tested++;
  }
  return { shares, selfTested: tested, subsets: total };
}
