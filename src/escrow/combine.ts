import { combine as shamirCombine } from 'shamir-secret-sharing';
import { equalBytes } from '../age/bytes.js';
import { VaultError } from '../errors/errors.js';
import type { Share } from './envelope.js';

/**
 * Combining shares, with every check the Shamir library does not make. No
 * Node API here: the browser recovery kit runs this same code.
 * `keyIdOf(secret)` tells whether a recovered secret is the right one.
 *
 * Shares may come from several splits, and some may not be readable at all
 * (a mistyped or damaged share file): the key comes from the one set that
 * has K shares, and everything else is set aside and named. When two sets
 * each have K, nothing is guessed: the caller is told to choose.
 */
export type KeyIdOf = (secret: Uint8Array) => string;

/** Share bytes of a 32-byte vault key: 32 y values, then the x coordinate. */
export const SHARE_BYTES = 33;

/** A share that could not be read (a typo, a damaged or undecryptable file): `reason` names it. */
export interface UnreadableShare {
  name: string;
  reason: string;
  hint?: string;
}

export type ShareInput = Share | UnreadableShare;

export const isUnreadable = (x: ShareInput): x is UnreadableShare => !('share' in x);

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

/** What one split is: shares agreeing on all of it belong to one set. */
export interface SetInfo {
  setId: string;
  epoch: number;
  threshold: number;
  count: number;
  keyId: string;
  keyCreatedAt?: string;
}

export interface ShareSet extends SetInfo {
  /** Its shares, in the order given. */
  shares: Share[];
  /** How many different share indices it has: the set reaches its threshold when this is K or more. */
  have: number;
}

const setKey = (s: SetInfo) => [s.setId, s.epoch, s.threshold, s.count, s.keyId, s.keyCreatedAt ?? ''].join('/');
const infoOf = (s: SetInfo): SetInfo => ({
  setId: s.setId,
  epoch: s.epoch,
  threshold: s.threshold,
  count: s.count,
  keyId: s.keyId,
  ...(s.keyCreatedAt ? { keyCreatedAt: s.keyCreatedAt } : {}),
});

/** The same share given again: one envelope, byte for byte. */
export const sameShare = (a: Share, b: Share) => setKey(a) === setKey(b) && a.index === b.index && a.label === b.label && equalBytes(a.share, b.share);

/** Groups shares by the split they claim (set id, epoch, K, N, key id, key creation time), in the order first seen. */
export function groupSets(shares: Share[]): ShareSet[] {
  const sets = new Map<string, ShareSet>();
  for (const s of shares) {
    const k = setKey(s);
    let set = sets.get(k);
    if (!set) sets.set(k, (set = { ...infoOf(s), shares: [], have: 0 }));
    set.shares.push(s);
    set.have = new Set(set.shares.map((x) => x.index)).size;
  }
  return [...sets.values()];
}

/** "set 0123… (epoch 2)", with the key id when `withKey`. */
export const setName = (s: SetInfo, withKey = false) => `set ${s.setId} (epoch ${s.epoch}${withKey ? `, key id ${s.keyId}` : ''})`;

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

/** Why an input was set aside (records name this, never the reason's text). */
export type AsideKind = 'unreadable' | 'twice' | 'other-set' | 'malformed' | 'misfit';

/** A share, or an unreadable input, set aside: `reason` says why and names it. */
export interface SetAside {
  name: string;
  reason: string;
  kind: AsideKind;
  share?: Share;
}

export interface CombineResult {
  secret: Uint8Array;
  /** The K shares the key came from. */
  used: Share[];
  /** The set they belong to. */
  set: SetInfo;
  /** Shares set aside: of another set, given twice, malformed, or not fitting the recovered key (in the order given). */
  bad: Share[];
  /** Why each bad share was set aside, in the order of `bad`. */
  reasons: string[];
  /** Everything set aside, readable or not, in the order given. */
  setAside: SetAside[];
  /** The recovered key file's `# created:` time, when the shares carry it (envelope version 2). */
  keyCreatedAt?: string;
}

const HINT = 'check each share on its own against the signed manifest';

/** The error for problems that leave no set with K good shares: a single problem keeps its own hint. */
function refuse(kind: 'bad-share' | 'too-few-shares', parts: string[], problems: number, unreadable: UnreadableShare[]): VaultError {
  const own = problems === 1 ? unreadable[0]?.hint : undefined;
  return new VaultError(kind, parts.join('; '), kind !== 'bad-share' ? undefined : own ? { hint: own } : { code: 'bad-share', hint: HINT });
}

/**
 * Checks each share's set, duplicates, count and bytes before combining, then
 * the key id after. The key comes from the one set with K shares; shares of
 * other sets, shares given twice, unreadable inputs, malformed shares and
 * (with more than K) shares that do not fit the recovered key are set aside
 * and named. Two sets with K shares each are refused, never guessed between.
 */
export async function combineShares(inputs: ShareInput[], keyIdOf: KeyIdOf, shareBytes = SHARE_BYTES): Promise<CombineResult> {
  if (!inputs.length) throw new VaultError('too-few-shares', 'no shares given', { code: 'no-shares' });
  const unreadable = inputs.filter(isUnreadable);
  // Everything set aside, with where it was in the input (the order it is named in).
  const aside: (SetAside & { at: number })[] = [];
  const putAside = (x: ShareInput, reason: string, kind: AsideKind, at = inputs.indexOf(x)) =>
    aside.push({ name: isUnreadable(x) ? x.name : nameOf(x), reason, kind, ...(isUnreadable(x) ? {} : { share: x }), at });
  const distinct: Share[] = [];
  inputs.forEach((s, at) => {
    if (isUnreadable(s)) putAside(s, s.reason, 'unreadable', at);
    else if (distinct.some((d) => sameShare(d, s))) putAside(s, `${nameOf(s)} was given twice`, 'twice', at);
    else distinct.push(s);
  });
  const sets = groupSets(distinct);
  const reaching = sets.filter((s) => s.have >= s.threshold);
  if (reaching.length > 1) {
    const list = reaching.map((s) => `${setName(s, true)}: ${s.shares.map(nameOf).join(', ')}`);
    throw new VaultError(
      'bad-share',
      `the shares of ${reaching.length} different sets each reach their threshold (${list.join('; ')}): which key is wanted is not guessed`,
      { code: 'share-sets-ambiguous' },
    );
  }
  if (!reaching.length) {
    const said = aside.map((a) => a.reason);
    if (sets.length <= 1) {
      const set = sets[0];
      const count = set
        ? [`need ${set.threshold} shares of set ${set.setId}, have ${set.have}: ${set.threshold - set.have} more needed`, ...sameIndex(set)]
        : ['no readable share given'];
      const kind = said.length || !set || set.have < set.shares.length ? 'bad-share' : 'too-few-shares';
      throw refuse(kind, [...said, ...count], said.length, unreadable);
    }
    const each = sets.map((s) => `${setName(s)} has ${s.have} of the ${s.threshold} needed (${s.shares.map(nameOf).join(', ')})`);
    throw refuse('bad-share', [...said, `no set has enough shares: ${each.join(', ')}: shares of different splits never combine`], said.length, unreadable);
  }
  const chosen = reaching[0]!;
  for (const s of distinct) {
    if (chosen.shares.includes(s)) continue;
    putAside(
      s,
      s.setId === chosen.setId
        ? `${nameOf(s)} claims set ${s.setId} but disagrees with its other shares on the epoch, threshold, count, key id or key creation time: it is damaged or forged`
        : `${nameOf(s)} is from set ${s.setId}, not set ${chosen.setId}: shares of different splits never combine`,
      s.setId === chosen.setId ? 'malformed' : 'other-set',
    );
  }
  const sorted = () => [...aside].sort((a, b) => a.at - b.at);
  const r = await combineSet(
    chosen,
    keyIdOf,
    shareBytes,
    sorted().map((a) => a.reason),
  );
  for (const b of r.bad) putAside(b.share, b.reason, b.kind);
  const all = sorted();
  const bad = all.filter((a) => a.share);
  return {
    secret: r.secret,
    used: r.used,
    set: infoOf(chosen),
    bad: bad.map((a) => a.share!),
    reasons: bad.map((a) => a.reason),
    setAside: all.map(({ at: _at, ...a }) => a),
    ...(chosen.keyCreatedAt ? { keyCreatedAt: chosen.keyCreatedAt } : {}),
  };
}

/** Shares of one set that share an index but differ: one of each pair is not what it claims. */
function sameIndex(set: ShareSet): string[] {
  const out: string[] = [];
  set.shares.forEach((s, i) => {
    const first = set.shares.slice(0, i).find((t) => t.index === s.index);
    if (first) out.push(`${nameOf(s)} was given twice with different bytes: one of them is damaged or forged`);
  });
  return out;
}

/**
 * The key from the shares of one set: malformed shares set aside, every
 * K-subset tried (without two shares of one x coordinate) until one recovers
 * the key id, then every other share checked against it. `others` are the
 * reasons already found for inputs set aside, added to an error.
 */
async function combineSet(
  set: ShareSet,
  keyIdOf: KeyIdOf,
  shareBytes: number,
  others: string[],
): Promise<{ secret: Uint8Array; used: Share[]; bad: { share: Share; reason: string; kind: AsideKind }[] }> {
  const shares = set.shares;
  const k = set.threshold;
  const fail = (parts: string[]) => new VaultError('bad-share', [...parts, ...others].join('; '), { code: 'bad-share', hint: HINT });
  const { malformed, clashes } = shareProblems(shares, shareBytes);
  const usable = shares.filter((s) => !malformed.some((m) => m.share === s));
  if (usable.length < k) throw fail(malformed.map((m) => m.reason));
  if (shares.length === k && clashes.length) {
    const [a, b] = clashes[0]!;
    throw fail([`${nameOf(b)} has the same x coordinate as ${nameOf(a)}: one of them is damaged or forged`]);
  }
  const clash = (pick: Share[]) => clashes.some(([a, b]) => pick.includes(a) && pick.includes(b));
  const tryPick = async (pick: Share[]) => {
    const secret = await shamirCombine(pick.map((s) => new Uint8Array(s.share)));
    return keyIdOf(secret) === set.keyId ? secret : null;
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
    const bad: { share: Share; reason: string; kind: AsideKind }[] = malformed.map((m) => ({ share: m.share, reason: m.reason, kind: 'malformed' }));
    for (const s of usable) {
      if (pick.includes(s)) continue;
      const twin = pick.find((p) => xOf(p) === xOf(s)) ?? pick[0]!;
      const check = await tryPick([...pick.filter((p) => p !== twin), s]);
      if (check) check.fill(0);
      else bad.push({ share: s, reason: `${nameOf(s)} does not fit the recovered key: it is damaged or forged`, kind: 'misfit' });
    }
    return { secret, used: pick, bad };
  }
  const wrong =
    usable.length === k
      ? `the ${k} shares do not recover key id ${set.keyId}: at least one of them is wrong`
      : `no ${k} of the ${shares.length} shares recover key id ${set.keyId}: more than ${shares.length - k} of them are wrong`;
  throw fail([wrong, ...malformed.map((m) => m.reason)]);
}

/** Whether `shares` (readable or not) are enough to try: some set has K different share indices. */
export function readyToCombine(shares: ShareInput[]): boolean {
  return groupSets(shares.filter((s): s is Share => !isUnreadable(s))).some((s) => s.have >= s.threshold);
}
