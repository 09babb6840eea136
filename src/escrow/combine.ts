import { combine as shamirCombine } from 'shamir-secret-sharing';
import { VaultError } from '../errors/errors.js';
import type { Share } from './envelope.js';

/**
 * Combining shares, with every check the Shamir library does not make. No
 * Node API here: the browser recovery kit runs this same code.
 * `keyIdOf(secret)` tells whether a recovered secret is the right one.
 */
export type KeyIdOf = (secret: Uint8Array) => string;

/** Share bytes of a 32-byte vault key: 32 y values, then the x coordinate. */
export const SHARE_BYTES = 33;

export function* subsets(n: number, k: number, start = 0, prefix: number[] = []): Generator<number[]> {
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

export const nameOf = (s: Share) => `share ${s.index} (${s.label})`;
const xOf = (s: Share) => s.share[s.share.length - 1]!;

export interface ShareProblem {
  share: Share;
  reason: string;
}

/**
 * What makes a share unusable although its checksums pass: share bytes of the
 * wrong length, an x coordinate of 0 (that point is the secret itself), or
 * an x coordinate another share has. Of two shares with one x coordinate
 * neither can be told good from the other here: both are returned as
 * `clashes`, and the key id decides.
 */
export function shareProblems(shares: Share[], shareBytes = SHARE_BYTES): { malformed: ShareProblem[]; clashes: [Share, Share][] } {
  const malformed: ShareProblem[] = [];
  for (const s of shares) {
    if (s.share.length !== shareBytes)
      malformed.push({ share: s, reason: `${nameOf(s)}: its share bytes are ${s.share.length} bytes long, not ${shareBytes}: it is damaged or forged` });
    else if (xOf(s) === 0) malformed.push({ share: s, reason: `${nameOf(s)}: its x coordinate is 0, which no share has: it is damaged or forged` });
  }
  const ok = shares.filter((s) => !malformed.some((m) => m.share === s));
  const clashes: [Share, Share][] = [];
  ok.forEach((s, i) => {
    const first = ok.slice(0, i).find((t) => xOf(t) === xOf(s));
    if (first) clashes.push([first, s]);
  });
  return { malformed, clashes };
}

export interface CombineResult {
  secret: Uint8Array;
  used: Share[];
  /** Shares beyond K that are malformed or do not fit the recovered key. */
  bad: Share[];
  /** Why each bad share was set aside, in the order of `bad`. */
  reasons: string[];
}

/** The shares are of one split (set, epoch, threshold, count, key id) and none is given twice. */
export function checkSet(shares: Share[]): void {
  if (!shares.length) throw new VaultError('too-few-shares', 'no shares given');
  const ref = shares[0]!;
  for (const s of shares.slice(1)) {
    if (s.setId !== ref.setId)
      throw new VaultError(
        'bad-share',
        `share ${s.index} (${s.label}) is from set ${s.setId}, share ${ref.index} (${ref.label}) from set ${ref.setId}: shares of different splits never combine`,
      );
    if (s.epoch !== ref.epoch) throw new VaultError('bad-share', `share ${s.index} (${s.label}) is from epoch ${s.epoch}, others from epoch ${ref.epoch}`);
    if (s.threshold !== ref.threshold || s.count !== ref.count || s.keyId !== ref.keyId)
      throw new VaultError('bad-share', `share ${s.index} (${s.label}) disagrees with the others on threshold, count or key id`);
  }
  const byIndex = new Map<number, Share>();
  for (const s of shares) {
    if (byIndex.has(s.index)) throw new VaultError('bad-share', `share ${s.index} (${s.label}) was given twice`);
    byIndex.set(s.index, s);
  }
}

/**
 * Checks set membership, epoch, duplicates, count and each share's bytes
 * before combining, then the key id after. With more than K shares, the
 * malformed ones are set aside and named, and the key comes from K good ones.
 */
export async function combineShares(shares: Share[], keyIdOf: KeyIdOf, shareBytes = SHARE_BYTES): Promise<CombineResult> {
  checkSet(shares);
  const ref = shares[0]!;
  const k = ref.threshold;
  if (shares.length < k) {
    const more = k - shares.length;
    throw new VaultError('too-few-shares', `need ${k} shares of set ${ref.setId}, have ${shares.length}: ${more} more needed`);
  }
  const { malformed, clashes } = shareProblems(shares, shareBytes);
  const usable = shares.filter((s) => !malformed.some((m) => m.share === s));
  if (usable.length < k)
    throw new VaultError('bad-share', malformed.map((m) => m.reason).join('; '), {
      code: 'bad-share',
      hint: 'check each share on its own against the signed manifest',
    });
  if (shares.length === k && clashes.length) {
    const [a, b] = clashes[0]!;
    throw new VaultError('bad-share', `${nameOf(b)} has the same x coordinate as ${nameOf(a)}: one of them is damaged or forged`, {
      code: 'bad-share',
      hint: 'check each share on its own against the signed manifest',
    });
  }
  const clash = (pick: Share[]) => clashes.some(([a, b]) => pick.includes(a) && pick.includes(b));
  const tryPick = async (pick: Share[]) => {
    const secret = await shamirCombine(pick.map((s) => new Uint8Array(s.share)));
    return keyIdOf(secret) === ref.keyId ? secret : null;
  };
  for (const idx of subsets(usable.length, k)) {
    const pick = idx.map((i) => usable[i]!);
    if (clash(pick)) continue;
    const secret = await tryPick(pick);
    if (!secret) {
      if (usable.length === k) break;
      continue;
    }
    // Name every other share that does not fit: swap it in for a good one (the one with its x coordinate, if any).
    const bad = malformed.map((m) => m.share);
    const reasons = malformed.map((m) => m.reason);
    for (const s of usable) {
      if (pick.includes(s)) continue;
      const twin = pick.find((p) => xOf(p) === xOf(s)) ?? pick[0]!;
      if (!(await tryPick([...pick.filter((p) => p !== twin), s]))) {
        bad.push(s);
        reasons.push(`${nameOf(s)} does not fit the recovered key: it is damaged or forged`);
      }
    }
    const order = (s: Share) => shares.indexOf(s);
    const sorted = bad.map((s, i) => [s, reasons[i]!] as const).sort((a, b) => order(a[0]) - order(b[0]));
    return { secret, used: pick, bad: sorted.map((x) => x[0]), reasons: sorted.map((x) => x[1]) };
  }
  const wrong =
    usable.length === k
      ? `the ${k} shares do not recover key id ${ref.keyId}: at least one of them is wrong`
      : `no ${k} of the ${shares.length} shares recover key id ${ref.keyId}: more than ${shares.length - k} of them are wrong`;
  throw new VaultError('bad-share', [wrong, ...malformed.map((m) => m.reason)].join('; '), {
    code: 'bad-share',
    hint: 'check each share on its own against the signed manifest',
  });
}
