import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VaultError } from '../../src/errors/errors.js';
import { newVaultKey, keyScalar } from '../../src/vault/keyfile.js';
import { combineShares, splitSecret, binomial } from '../../src/escrow/shares.js';
import { idOfSecret } from '../../src/escrow/escrow.js';
import { shareFromText, shareToText, parseShareFile } from '../../src/escrow/files.js';
import { checkGroup, decodeText, encodeText, typingStatus } from '../../src/escrow/text.js';
import { checkShareInManifest, signManifest, verifyManifest } from '../../src/escrow/manifest.js';
import { sniffFile } from '../../src/fs/replace.js';
import { checkParams, decodeEnvelope, encodeEnvelope, type Share } from '../../src/escrow/envelope.js';

const key = newVaultKey();
const secret = keyScalar(key);

async function split(k: number, n: number, epoch = 1): Promise<Share[]> {
  const labels = Array.from({ length: n }, (_, i) => `custodian ${i + 1}`);
  return (await splitSecret({ secret, keyId: key.keyId, threshold: k, labels, epoch, keyIdOf: idOfSecret })).shares;
}

async function error(p: Promise<unknown>): Promise<VaultError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(VaultError);
    return e as VaultError;
  }
  throw new Error('expected an error');
}

describe('split parameters', () => {
  it('states the rule for every bad threshold and count', () => {
    expect(() => checkParams(1, 3)).toThrow('threshold must be at least 2 and at most 255');
    expect(() => checkParams(2, 1)).toThrow('shares must be at least 2 and at most 255');
    expect(() => checkParams(2, 256)).toThrow('shares must be at least 2 and at most 255');
    expect(() => checkParams(4, 3)).toThrow('threshold must be at most the number of shares');
    expect(() => checkParams(2.5, 3)).toThrow('threshold must be at least 2');
  });

  it('self-tests every K-subset, or a sample when there are too many', async () => {
    const r = await splitSecret({ secret, keyId: key.keyId, threshold: 3, labels: ['a', 'b', 'c', 'd', 'e'], epoch: 1, keyIdOf: idOfSecret });
    expect(r.selfTested).toBe(10);
    const big = await splitSecret({
      secret,
      keyId: key.keyId,
      threshold: 10,
      labels: Array.from({ length: 30 }, (_, i) => `c${i}`),
      epoch: 1,
      keyIdOf: idOfSecret,
      selfTestLimit: 50,
    });
    expect(big.subsets).toBe(binomial(30, 10));
    expect(big.selfTested).toBe(50);
    await expect(splitSecret({ secret, keyId: key.keyId, threshold: 2, labels: ['a', 'a'], epoch: 1, keyIdOf: idOfSecret })).rejects.toThrow(
      'custodian names must be distinct',
    );
  });
});

describe('properties', () => {
  it('every K-subset recovers the key', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 6 }).chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 2, max: n }))),
        async ([n, k]) => {
          const shares = await split(k, n);
          const pick = fc.sample(fc.shuffledSubarray(shares, { minLength: k, maxLength: n }), 1)[0]!;
          const r = await combineShares(pick, idOfSecret);
          expect(Buffer.from(r.secret).equals(secret)).toBe(true);
          expect(r.bad).toEqual([]);
        },
      ),
      { numRuns: 30 },
    );
  });

  it('K-1 shares never yield a key: too few is refused, saying how many more', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 3, max: 7 }), async (n) => {
        const k = n - 1;
        const shares = await split(k, n);
        const e = await error(combineShares(shares.slice(0, k - 1), idOfSecret));
        expect(e.kind).toBe('too-few-shares');
        expect(e.message).toBe(`need ${k} shares of set ${shares[0]!.setId}, have ${k - 1}: 1 more needed`);
      }),
      { numRuns: 10 },
    );
  });

  it('K-1 shares plus a share forged with valid checksums never pass the key-id check', async () => {
    const shares = await split(3, 5);
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 32, maxLength: 32 }), async (ys) => {
        const forged: Share = { ...shares[2]!, share: Buffer.concat([Buffer.from(ys), shares[2]!.share.subarray(32)]) };
        fc.pre(!Buffer.from(forged.share).equals(shares[2]!.share));
        const e = await error(combineShares([shares[0]!, shares[1]!, forged], idOfSecret));
        expect(e.kind).toBe('bad-share');
        expect(e.message).toContain(`the 3 shares do not recover key id ${key.keyId}`);
      }),
      { numRuns: 25 },
    );
  });

  it('shares of two splits never combine', async () => {
    const a = await split(2, 3);
    const b = await split(2, 3);
    const e = await error(combineShares([a[0]!, b[1]!], idOfSecret));
    expect(e.kind).toBe('bad-share');
    expect(e.message).toBe(
      `no set has enough shares: set ${a[0]!.setId} (epoch 1) has 1 of the 2 needed (share 1 (custodian 1)), set ${b[0]!.setId} (epoch 1) has 1 of the 2 needed (share 2 (custodian 2)): shares of different splits never combine`,
    );
  });

  it('any single-character typo in the text form is caught, and its group named by number, never by what was typed', async () => {
    const [s] = await split(2, 3);
    const text = shareToText(s!);
    const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
    await fc.assert(
      fc.property(fc.integer({ min: 4, max: text.length - 1 }), fc.constantFrom(...ALPHABET), (pos, ch) => {
        fc.pre(text[pos] !== '-' && text[pos] !== ch);
        const typo = text.slice(0, pos) + ch + text.slice(pos + 1);
        const group = Math.floor((pos - 4) / 6) + 1;
        const e = (() => {
          try {
            shareFromText(typo);
          } catch (x) {
            return x as VaultError;
          }
          throw new Error('accepted');
        })();
        expect(e.message).toBe(`group ${group} has a typo`);
        expect(e.hint).toBe(`compare group ${group} with the share sheet, character by character`);
      }),
      { numRuns: 500 },
    );
  });

  it('any adjacent transposition inside a group is caught', async () => {
    const [s] = await split(2, 3);
    const text = shareToText(s!);
    for (let pos = 4; pos < text.length - 1; pos++) {
      if (text[pos] === '-' || text[pos + 1] === '-' || text[pos] === text[pos + 1]) continue;
      const swapped = text.slice(0, pos) + text[pos + 1] + text[pos] + text.slice(pos + 2);
      expect(() => shareFromText(swapped), `swap at ${pos}`).toThrow(/has a typo/);
    }
  });

  it('a corrupted share among more than K is named, and the key still recovered', async () => {
    // Found by this property: a change confined to the bits X25519 clamps once passed the key-id check.
    for (const [victim, byte] of [
      [0, 0],
      [1, 31],
      [4, 0],
    ] as const) {
      const shares = await split(3, 5);
      const bad = { ...shares[victim]!, share: Buffer.from(shares[victim]!.share) };
      bad.share[byte]! ^= 0x5a;
      const r = await combineShares(
        shares.map((s, i) => (i === victim ? bad : s)),
        idOfSecret,
      );
      expect(Buffer.from(r.secret).equals(secret)).toBe(true);
      expect(r.bad.map((s) => s.index)).toEqual([victim + 1]);
    }
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 31 }), async (victim, byte) => {
        const shares = await split(3, 5);
        const bad = { ...shares[victim]!, share: Buffer.from(shares[victim]!.share) };
        bad.share[byte]! ^= 0x5a;
        const all = shares.map((s, i) => (i === victim ? bad : s));
        const r = await combineShares(all, idOfSecret);
        expect(Buffer.from(r.secret).equals(secret)).toBe(true);
        expect(r.bad.map((s) => s.index)).toEqual([victim + 1]);
      }),
      { numRuns: 60 },
    );
  });
});

describe('share bytes checked before combining', () => {
  // shamir-secret-sharing's layout: the y values, then the x coordinate as the last byte (random, not the index).
  const withBytes = (s: Share, bytes: Uint8Array): Share => ({ ...s, share: new Uint8Array(bytes) });
  const withX = (s: Share, x: number): Share => {
    const b = new Uint8Array(s.share);
    b[b.length - 1] = x;
    return withBytes(s, b);
  };

  it('with exactly K shares, a share of the wrong length, with x = 0 or with a duplicate x is named', async () => {
    const s = await split(3, 5);
    const short = withBytes(s[3]!, s[3]!.share.subarray(0, 32));
    let e = await error(combineShares([s[0]!, s[1]!, short], idOfSecret));
    expect(e.kind).toBe('bad-share');
    expect(e.message).toBe('share 4 (custodian 4): its share bytes are 32 bytes long, not 33: it is damaged or forged');
    const long = withBytes(s[2]!, new Uint8Array([...s[2]!.share, 7]));
    e = await error(combineShares([long, s[0]!, s[1]!], idOfSecret));
    expect(e.message).toBe('share 3 (custodian 3): its share bytes are 34 bytes long, not 33: it is damaged or forged');
    e = await error(combineShares([s[0]!, withX(s[1]!, 0), s[2]!], idOfSecret));
    expect(e.kind).toBe('bad-share');
    expect(e.message).toBe('share 2 (custodian 2): its x coordinate is 0, which no share has: it is damaged or forged');
    const dupX = withX(s[4]!, s[0]!.share[32]!);
    e = await error(combineShares([s[0]!, s[1]!, dupX], idOfSecret));
    expect(e.kind).toBe('bad-share');
    expect(e.message).toBe('share 5 (custodian 5) has the same x coordinate as share 1 (custodian 1): one of them is damaged or forged');
  });

  it('with more than K shares, a malformed one is set aside and named, and the key recovered from the others', async () => {
    const s = await split(3, 5);
    for (const [victim, bad] of [
      [1, withBytes(s[1]!, s[1]!.share.subarray(0, 32))],
      [3, withX(s[3]!, 0)],
      [4, withX(s[4]!, s[0]!.share[32]!)],
      [0, withX(s[0]!, s[4]!.share[32]!)],
    ] as const) {
      const all = s.map((x, i) => (i === victim ? bad : x));
      const r = await combineShares(all, idOfSecret);
      expect(Buffer.from(r.secret).equals(secret), `victim ${victim}`).toBe(true);
      expect(r.bad.map((x) => x.index)).toEqual([victim + 1]);
      expect(r.used).not.toContain(bad);
    }
  });

  it('with more than K shares but fewer than K usable ones, the malformed shares are named', async () => {
    const s = await split(3, 5);
    const e = await error(combineShares([s[0]!, s[1]!, withBytes(s[2]!, s[2]!.share.subarray(0, 31)), withX(s[3]!, 0)], idOfSecret));
    expect(e.kind).toBe('bad-share');
    expect(e.message).toBe(
      'share 3 (custodian 3): its share bytes are 31 bytes long, not 33: it is damaged or forged; share 4 (custodian 4): its x coordinate is 0, which no share has: it is damaged or forged',
    );
  });
});

describe('exact errors', () => {
  it('duplicates, other epochs, empty input', async () => {
    const s = await split(2, 3);
    const twice = await error(combineShares([s[0]!, s[0]!], idOfSecret));
    expect(twice.kind).toBe('bad-share');
    expect(twice.message).toBe(`share 1 (custodian 1) was given twice; need 2 shares of set ${s[0]!.setId}, have 1: 1 more needed`);
    const other = { ...s[1]!, epoch: 2 };
    expect((await error(combineShares([s[0]!, other], idOfSecret))).message).toBe(
      `no set has enough shares: set ${s[0]!.setId} (epoch 1) has 1 of the 2 needed (share 1 (custodian 1)), set ${s[0]!.setId} (epoch 2) has 1 of the 2 needed (share 2 (custodian 2)): shares of different splits never combine`,
    );
    const sameIndex = { ...s[0]!, share: new Uint8Array(s[1]!.share) };
    const clash = await error(combineShares([s[0]!, sameIndex], idOfSecret));
    expect(clash.kind).toBe('bad-share');
    expect(clash.message).toBe(
      `need 2 shares of set ${s[0]!.setId}, have 1: 1 more needed; share 1 (custodian 1) was given twice with different bytes: one of them is damaged or forged`,
    );
    expect((await error(combineShares([], idOfSecret))).kind).toBe('too-few-shares');
  });

  it('text form: prefix, missing and swapped groups', async () => {
    const [s] = await split(2, 3);
    const text = shareToText(s!);
    expect(() => shareFromText('XYZ-' + text.slice(4))).toThrow('not a vault-tool share: it should start with VT1-');
    const groups = text.split('-');
    expect(() => shareFromText(groups.slice(0, -1).join('-'))).toThrow(/has a typo|incomplete|should have/);
    const swapped = [groups[0], groups[2], groups[1], ...groups.slice(3)].join('-');
    expect(() => shareFromText(swapped)).toThrow('group 1 has a typo');
    // Two shares run together (share files piped through cat): said as such, not as a typo.
    expect(() => shareFromText(`${text}-${text}`)).toThrow(`the text holds more than one share (VT1- starts again after group ${groups.length - 1})`);
    expect(shareFromText(text.toLowerCase().replace(/-/g, ' '))).toEqual(s);
    expect(checkGroup(0, groups[1]!)).toBe(true);
    expect(checkGroup(1, groups[1]!)).toBe(false);
  });

  it('typing status: each complete group checked on its own, the group count known from the first', async () => {
    const [s] = await split(2, 3);
    const text = shareToText(s!);
    const groups = text.split('-').slice(1);
    expect(typingStatus('')).toEqual({ groups: [], prefix: false });
    const partial = typingStatus(text.slice(0, 4 + 6 * 2 + 2).toLowerCase());
    expect(partial.prefix).toBe(true);
    expect(partial.expected).toBe(groups.length);
    expect(partial.groups.map((g) => g.state)).toEqual(['ok', 'ok', 'partial']);
    const g2 = groups[1]!;
    const typo = typingStatus(['VT1', groups[0], g2.slice(0, 2) + (g2[2] === 'A' ? 'B' : 'A') + g2.slice(3), groups[2]].join(' '));
    expect(typo.groups.map((g) => g.state)).toEqual(['ok', 'typo', 'ok']);
    expect(typo.groups[1]!.message).toBe(`group 2 (${typo.groups[1]!.text}) has a typo: its check character ${g2[4]} does not fit the four before it`);
    expect(typingStatus(`VT1-${groups[0]}-${g2.slice(0, 4)}U`).groups[1]!.message).toBe(`group 2 (${g2.slice(0, 4)}U): "U" is not a share character`);
    expect(typingStatus(text).groups.every((g) => g.state === 'ok')).toBe(true);
  });

  it('the envelope round-trips and rejects inconsistencies', async () => {
    const [s] = await split(2, 3);
    expect(decodeEnvelope(encodeEnvelope(s!))).toEqual(s);
    const b = encodeEnvelope(s!);
    b[13] = 9;
    expect(() => decodeEnvelope(b)).toThrow('malformed share: inconsistent threshold, count or index');
    expect(() => decodeEnvelope(b.subarray(0, 20))).toThrow('malformed share: too short');
    expect(decodeText(encodeText(Buffer.from('hello')))).toEqual(new Uint8Array(Buffer.from('hello')));
  });

  it('share files: comments ignored, errors name the file', async () => {
    const [s] = await split(2, 3);
    expect(parseShareFile(`# comment\n${shareToText(s!)}\n`)).toEqual(s);
    expect(() => parseShareFile('# nothing\n', 'alice.share')).toThrow('alice.share: no share text found');
  });

  it('every form the parser reads a share in, typos and all, is a share to the output guard', async () => {
    const [s] = await split(2, 3);
    const text = shareToText(s!);
    const groups = text.split('-');
    await fc.assert(
      fc.property(
        fc.constantFrom('-', ' ', '  ', '\t', ' - ', '\n', '\r\n'),
        fc.boolean(),
        fc.integer({ min: 0, max: 6 }),
        fc.boolean(),
        fc.integer({ min: -1, max: groups.length - 2 }),
        (sep, lower, perLine, comments, typoAt) => {
          let parts = [...groups];
          if (typoAt >= 0) parts[typoAt + 1] = parts[typoAt + 1]!.slice(0, 2) + (parts[typoAt + 1]![2] === 'A' ? 'B' : 'A') + parts[typoAt + 1]!.slice(3);
          if (lower) parts = parts.map((p) => p.toLowerCase());
          const body = perLine ? parts.reduce((acc, p, i) => acc + (i === 0 ? '' : i % perLine === 0 ? '\n' : sep) + p, '') : parts.join(sep);
          const file = `${comments ? '# my share\n\n' : ''}${body}\n`;
          // What the parser makes of it (a typo is refused, never taken for something that is not a share) …
          if (typoAt < 0) expect(parseShareFile(file)).toEqual(s);
          else expect(() => parseShareFile(file)).toThrow(/has a typo/);
          // … the output guard knows as a share.
          expect(sniffFile(Buffer.from(file), 'notes.txt')).toBe('share');
        },
      ),
      { numRuns: 300 },
    );
    for (const other of ['vt1 is a codename\n', 'VT1-NOTES\n', '# VT1-ABCDE-FGHJK-MNPQR\n', 'see VT1-ABCDE-FGHJK-MNPQR\n'])
      expect(sniffFile(Buffer.from(other), 'notes.txt'), other).toBe('other');
  });
});

describe('the signed manifest', () => {
  it('verifies, lists each share, and catches edits', async () => {
    const shares = await split(2, 3);
    const m = signManifest(shares, new Map(), new Date().toISOString());
    verifyManifest(m);
    for (const s of shares) checkShareInManifest(s, m);
    const edited = { ...m, threshold: 3 };
    expect(() => verifyManifest(edited)).toThrow('the manifest signature does not verify: the manifest was modified');
    const other = (await split(2, 3))[0]!;
    expect(() => checkShareInManifest(other, m)).toThrow(`share is from set ${other.setId} epoch 1, the manifest is for set ${m.setId} epoch 1`);
    const forged = { ...shares[0]!, share: Buffer.from(shares[1]!.share) };
    expect(() => checkShareInManifest(forged, m)).toThrow('share 1 (custodian 1) is not the one listed in the signed manifest');
  });
});

describe('more than K shares with bad ones among them', () => {
  const typo = (name: string) => ({
    name,
    reason: `${name}: group 2 (ABCDE) has a typo`,
    hint: 'compare that group with the share sheet, character by character',
  });

  it('a share of another set, given first, is set aside and named; the key comes from the set that has K', async () => {
    const a = await split(3, 5);
    const b = await split(3, 5);
    const r = await combineShares([b[3]!, a[0]!, a[1]!, a[2]!], idOfSecret);
    expect(Buffer.from(r.secret).equals(secret)).toBe(true);
    expect(r.set.setId).toBe(a[0]!.setId);
    expect(r.used.map((s) => s.index)).toEqual([1, 2, 3]);
    expect(r.bad).toEqual([b[3]]);
    expect(r.reasons).toEqual([`share 4 (custodian 4) is from set ${b[0]!.setId}, not set ${a[0]!.setId}: shares of different splits never combine`]);
    expect(r.setAside.map((x) => x.kind)).toEqual(['other-set']);
  });

  it('an unreadable (mistyped) share among K+1 is set aside and named; with exactly K it is the error, with its own hint', async () => {
    const s = await split(3, 5);
    const r = await combineShares([s[0]!, typo('carol.share'), s[1]!, s[3]!], idOfSecret);
    expect(Buffer.from(r.secret).equals(secret)).toBe(true);
    expect(r.bad).toEqual([]);
    expect(r.setAside).toEqual([{ name: 'carol.share', reason: 'carol.share: group 2 (ABCDE) has a typo', kind: 'unreadable' }]);
    const e = await error(combineShares([s[0]!, typo('carol.share'), s[1]!], idOfSecret));
    expect(e.kind).toBe('bad-share');
    expect(e.message).toBe(`carol.share: group 2 (ABCDE) has a typo; need 3 shares of set ${s[0]!.setId}, have 2: 1 more needed`);
    expect(e.hint).toBe('compare that group with the share sheet, character by character');
  });

  it('names everything set aside in the order given: given twice, another set, unreadable, not fitting', async () => {
    const s = await split(2, 4);
    const other = await split(2, 4);
    const forged = { ...s[3]!, share: new Uint8Array(s[3]!.share) };
    forged.share[5]! ^= 0x33;
    const r = await combineShares([forged, s[0]!, other[1]!, s[0]!, typo('x.share'), s[2]!], idOfSecret);
    expect(Buffer.from(r.secret).equals(secret)).toBe(true);
    expect(r.setAside.map((x) => [x.name, x.kind])).toEqual([
      ['share 4 (custodian 4)', 'misfit'],
      ['share 2 (custodian 2)', 'other-set'],
      ['share 1 (custodian 1)', 'twice'],
      ['x.share', 'unreadable'],
    ]);
    expect(r.bad.map((x) => x.index)).toEqual([4, 2, 1]);
    expect(r.reasons[0]).toBe('share 4 (custodian 4) does not fit the recovered key: it is damaged or forged');
  });

  it('a share that claims the set but disagrees with its other shares is set aside as forged', async () => {
    const s = await split(2, 3);
    const r = await combineShares([{ ...s[2]!, epoch: 9 }, s[0]!, s[1]!], idOfSecret);
    expect(r.reasons).toEqual([
      `share 3 (custodian 3) claims set ${s[0]!.setId} but disagrees with its other shares on the epoch, threshold, count, key id or key creation time: it is damaged or forged`,
    ]);
  });

  it('two sets that each reach K are refused, naming both: which key is wanted is not guessed', async () => {
    const a = await split(2, 3);
    const b = await split(2, 3, 2);
    const e = await error(combineShares([a[0]!, b[0]!, a[1]!, b[2]!], idOfSecret));
    expect(e.kind).toBe('bad-share');
    expect(e.code).toBe('share-sets-ambiguous');
    expect(e.message).toBe(
      `the shares of 2 different sets each reach their threshold (set ${a[0]!.setId} (epoch 1, key id ${key.keyId}): share 1 (custodian 1), share 2 (custodian 2); set ${b[0]!.setId} (epoch 2, key id ${key.keyId}): share 1 (custodian 1), share 3 (custodian 3)): which key is wanted is not guessed`,
    );
  });

  it('property: any one share replaced by a share of another set, a typo or a forgery, among K+1, still recovers the key and names it', async () => {
    const other = await split(3, 5);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 3 }), fc.constantFrom('other', 'typo', 'forged'), fc.integer({ min: 0, max: 31 }), async (pos, how, byte) => {
        const s = (await split(3, 5)).slice(0, 4);
        const victim = s[pos]!;
        const bad =
          how === 'other'
            ? other[pos]!
            : how === 'typo'
              ? typo(`share-${pos}.share`)
              : { ...victim, share: victim.share.map((v, i) => (i === byte ? v ^ 0x5a : v)) };
        const r = await combineShares(
          s.map((x, i) => (i === pos ? bad : x)),
          idOfSecret,
        );
        expect(Buffer.from(r.secret).equals(secret)).toBe(true);
        expect(r.setAside.map((x) => x.name)).toEqual([how === 'typo' ? `share-${pos}.share` : `share ${pos + 1} (custodian ${pos + 1})`]);
      }),
      { numRuns: 40 },
    );
  });
});

describe('share format 2 carries the key file creation time', () => {
  it('round-trips it; format 1 envelopes (no time) still read and combine; an odd or out-of-range time is not carried', async () => {
    const created = '2026-11-21T09:40:00.123Z';
    const r = await splitSecret({ secret, keyId: key.keyId, threshold: 2, labels: ['a', 'b'], epoch: 1, keyCreatedAt: created, keyIdOf: idOfSecret });
    const [a, b] = r.shares;
    expect(a!.version).toBe(2);
    expect(a!.keyCreatedAt).toBe(created);
    expect(decodeEnvelope(encodeEnvelope(a!))).toEqual(a);
    expect(encodeEnvelope(a!).length).toBe(encodeEnvelope({ ...a!, version: 1, keyCreatedAt: undefined } as Share).length + 6);
    expect((await combineShares([a!, b!], idOfSecret)).keyCreatedAt).toBe(created);
    const v1 = r.shares.map((s) => {
      const { keyCreatedAt: _t, ...rest } = s;
      return decodeEnvelope(encodeEnvelope({ ...rest, version: 1 }));
    });
    expect(v1[0]!.version).toBe(1);
    expect(v1[0]!.keyCreatedAt).toBeUndefined();
    const c = await combineShares(v1, idOfSecret);
    expect(Buffer.from(c.secret).equals(secret)).toBe(true);
    expect(c.keyCreatedAt).toBeUndefined();
    for (const odd of ['2026-11-21T09:40:00Z', '2026-11-21T10:40:00.000+01:00', 'yesterday', undefined]) {
      const x = await splitSecret({ secret, keyId: key.keyId, threshold: 2, labels: ['a', 'b'], epoch: 1, keyCreatedAt: odd, keyIdOf: idOfSecret });
      expect(x.shares[0]!.keyCreatedAt, String(odd)).toBeUndefined();
      expect(decodeEnvelope(encodeEnvelope(x.shares[0]!))).toEqual(x.shares[0]);
    }
    const far = encodeEnvelope(a!);
    far.fill(0xff, 22, 28);
    expect(() => decodeEnvelope(far)).toThrow('malformed share: key creation time out of range');
    const future = encodeEnvelope(a!);
    future[0] = 3;
    expect(() => decodeEnvelope(future)).toThrow('share format 3 is not supported by this vault-tool');
  });
});
