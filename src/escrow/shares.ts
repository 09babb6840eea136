import { randomBytes, randomInt } from 'node:crypto';
import { combine as shamirCombine, split as shamirSplit } from 'shamir-secret-sharing';
import { VaultError } from '../vault/errors.js';
import { checkLabel, checkParams, ENVELOPE_VERSION, type Share } from './envelope.js';

/**
 * Split and combine, with every check the Shamir library does not make.
 * `keyIdOf(secret)` tells whether a recovered secret is the right one.
 */
export type KeyIdOf = (secret: Uint8Array) => string;

export interface SplitInput {
  secret: Uint8Array;
  keyId: string;
  threshold: number;
  labels: string[];
  epoch: number;
  keyIdOf: KeyIdOf;
  /** Cap on the K-subsets recombined by the self-test; beyond it a random sample of that size is checked. */
  selfTestLimit?: number;
}

function* subsets(n: number, k: number, start = 0, prefix: number[] = []): Generator<number[]> {
  if (prefix.length === k) {
    yield prefix;
    return;
  }
  for (let i = start; i <= n - (k - prefix.length); i++) yield* subsets(n, k, i + 1, [...prefix, i]);
}

export function binomial(n: number, k: number): number {
  let r = 1;
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
  return Math.round(r);
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
  input.labels.forEach(checkLabel);
  if (new Set(input.labels).size !== n) throw new VaultError('usage', 'custodian names must be distinct');
  const raw = await shamirSplit(new Uint8Array(input.secret), n, input.threshold);
  const setId = randomBytes(8).toString('hex');
  const shares: Share[] = raw.map((bytes, i) => ({
    version: ENVELOPE_VERSION,
    setId,
    epoch: input.epoch,
    threshold: input.threshold,
    count: n,
    index: i + 1,
    keyId: input.keyId,
    label: input.labels[i]!,
    share: Buffer.from(bytes),
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

export interface CombineResult {
  secret: Uint8Array;
  used: Share[];
  /** Shares beyond K that do not fit the recovered key. */
  bad: Share[];
}

/** Checks set membership, epoch, duplicates and count before combining, then the key id after. */
export async function combineShares(shares: Share[], keyIdOf: KeyIdOf): Promise<CombineResult> {
  if (!shares.length) throw new VaultError('too-few-shares', 'no shares given');
  const ref = shares[0]!;
  for (const s of shares.slice(1)) {
    if (s.setId !== ref.setId) throw new VaultError('bad-share', `share ${s.index} (${s.label}) is from set ${s.setId}, share ${ref.index} (${ref.label}) from set ${ref.setId}: shares of different splits never combine`);
    if (s.epoch !== ref.epoch) throw new VaultError('bad-share', `share ${s.index} (${s.label}) is from epoch ${s.epoch}, others from epoch ${ref.epoch}`);
    if (s.threshold !== ref.threshold || s.count !== ref.count || s.keyId !== ref.keyId) throw new VaultError('bad-share', `share ${s.index} (${s.label}) disagrees with the others on threshold, count or key id`);
  }
  const byIndex = new Map<number, Share>();
  for (const s of shares) {
    if (byIndex.has(s.index)) throw new VaultError('bad-share', `share ${s.index} (${s.label}) was given twice`);
    byIndex.set(s.index, s);
  }
  const k = ref.threshold;
  if (shares.length < k) {
    const more = k - shares.length;
    throw new VaultError('too-few-shares', `need ${k} shares of set ${ref.setId}, have ${shares.length}: ${more} more needed`);
  }
  const tryPick = async (pick: Share[]) => {
    const secret = await shamirCombine(pick.map((s) => new Uint8Array(s.share)));
    return keyIdOf(secret) === ref.keyId ? secret : null;
  };
  for (const idx of subsets(shares.length, k)) {
    const pick = idx.map((i) => shares[i]!);
    const secret = await tryPick(pick);
    if (!secret) {
      if (shares.length === k) break;
      continue;
    }
    // Name every other share that does not fit: swap it in for one of the good ones.
    const bad: Share[] = [];
    for (const s of shares) {
      if (pick.includes(s)) continue;
      if (!(await tryPick([...pick.slice(1), s]))) bad.push(s);
    }
    return { secret, used: pick, bad };
  }
  throw new VaultError(
    'bad-share',
    shares.length === k
      ? `the ${k} shares do not recover key id ${ref.keyId}: at least one of them is wrong`
      : `no ${k} of the ${shares.length} shares recover key id ${ref.keyId}: more than ${shares.length - k} of them are wrong`,
    { code: 'bad-share', hint: 'check each share on its own against the signed manifest' },
  );
}
