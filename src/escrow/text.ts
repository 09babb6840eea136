import { sha256 } from '@noble/hashes/sha2.js';
import { concat, equalBytes } from '../age/bytes.js';
import { VaultError } from '../errors/errors.js';
import { SHARE_PREFIX, shareTextGroups } from '../fs/share-text.js';

/**
 * The typeable text form of a share: "VT1-" then groups of 5 characters in
 * Crockford base32 (no I, L, O, U): 4 data characters and 1 check
 * character. The check character is a GF(32) Reed–Solomon-style checksum of
 * the group's position and its 4 characters, so every single-character
 * substitution and every adjacent transposition inside a group, and any
 * group typed in the wrong place, is caught and located. The payload also
 * ends with 4 bytes of SHA-256, a whole-share check. No Node API here: the
 * browser recovery kit checks typed shares with this code.
 */
export const PREFIX = SHARE_PREFIX;
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const DATA_PER_GROUP = 4;

// GF(32) with the primitive polynomial x^5 + x^2 + 1.
const EXP: number[] = [];
const LOG: number[] = new Array(32).fill(0);
{
  let x = 1;
  for (let i = 0; i < 31; i++) {
    EXP[i] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 32) x ^= 0b100101;
  }
}
const gmul = (a: number, b: number) => (a === 0 || b === 0 ? 0 : EXP[(LOG[a]! + LOG[b]!) % 31]!);

/** Check symbol of a group: sum of alpha^(i+1) * symbol_i over (group index mod 32, data symbols). */
function groupCheck(groupIndex: number, data: number[]): number {
  const syms = [groupIndex % 32, (groupIndex >> 5) % 32, ...data];
  let c = 0;
  for (let i = 0; i < syms.length; i++) c ^= gmul(EXP[(i + 1) % 31]!, syms[i]!);
  return c;
}

function toSymbols(bytes: Uint8Array): number[] {
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out.push((acc >> bits) & 31);
    }
  }
  if (bits > 0) out.push((acc << (5 - bits)) & 31);
  while (out.length % DATA_PER_GROUP) out.push(0);
  return out;
}

function fromSymbols(syms: number[], byteLength: number): Uint8Array {
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const s of syms) {
    acc = ((acc << 5) | s) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >> bits) & 0xff);
    }
  }
  return Uint8Array.from(out.slice(0, byteLength));
}

export function checksum4(payload: Uint8Array): Uint8Array {
  return sha256(payload).subarray(0, 4);
}

/** Encodes payload bytes (with their 4-byte SHA-256 appended) as grouped text. */
export function encodeText(payload: Uint8Array): string {
  const full = concat(new Uint8Array([payload.length]), payload, checksum4(payload));
  const syms = toSymbols(full);
  const groups: string[] = [];
  for (let g = 0; g * DATA_PER_GROUP < syms.length; g++) {
    const data = syms.slice(g * DATA_PER_GROUP, (g + 1) * DATA_PER_GROUP);
    groups.push([...data, groupCheck(g, data)].map((s) => ALPHABET[s]).join(''));
  }
  return [PREFIX, ...groups].join('-');
}

function symbolOf(ch: string): number {
  // Crockford's reading rules: O is 0; I and L are 1.
  const c = ch === 'O' ? '0' : ch === 'I' || ch === 'L' ? '1' : ch;
  return ALPHABET.indexOf(c);
}

/** Checks one typed group on its own (for typing shares back one group at a time). */
export function checkGroup(groupIndex: number, group: string): boolean {
  const g = group.toUpperCase();
  if (g.length !== DATA_PER_GROUP + 1) return false;
  const syms = [...g].map(symbolOf);
  if (syms.some((s) => s < 0)) return false;
  return groupCheck(groupIndex, syms.slice(0, DATA_PER_GROUP)) === syms[DATA_PER_GROUP];
}

/** The groups of a share's text in any form the lexical rules accept (fs/share-text.ts). */
export function splitGroups(text: string): string[] {
  const groups = shareTextGroups(text);
  if (!groups) throw new VaultError('bad-share', `not a vault-tool share: it should start with ${PREFIX}-`);
  return groups;
}

/**
 * Decodes grouped text. A typo is reported with the group's number (1-based,
 * as the sheet numbers groups: its place in the share), never with what was
 * typed: messages and records must not carry a share's characters.
 */
export function decodeText(text: string): Uint8Array {
  const groups = splitGroups(text);
  if (!groups.length) throw new VaultError('bad-share', 'the share has no groups');
  const again = groups.indexOf(PREFIX);
  if (again >= 0)
    throw new VaultError(
      'bad-share',
      `the text holds more than one share (${PREFIX}- starts again after group ${again})`,
      'give each share its own file, or separate the shares by a blank line',
    );
  const syms: number[] = [];
  for (let g = 0; g < groups.length; g++) {
    if (!checkGroup(g, groups[g]!)) {
      throw new VaultError('bad-share', `group ${g + 1} has a typo`, `compare group ${g + 1} with the share sheet, character by character`);
    }
    syms.push(...[...groups[g]!.toUpperCase()].slice(0, DATA_PER_GROUP).map(symbolOf));
  }
  const head = fromSymbols(syms.slice(0, 2), 1)[0]!;
  const full = fromSymbols(syms, 1 + head + 4);
  if (full.length < 1 + head + 4 || syms.length * 5 < (1 + head + 4) * 8)
    throw new VaultError('bad-share', 'the share is incomplete: groups are missing at the end');
  const payload = full.subarray(1, 1 + head);
  const expectedGroups = Math.ceil(Math.ceil(((1 + head + 4) * 8) / 5) / DATA_PER_GROUP);
  if (groups.length !== expectedGroups) throw new VaultError('bad-share', `the share should have ${expectedGroups} groups, it has ${groups.length}`);
  if (!equalBytes(checksum4(payload), full.subarray(1 + head)))
    throw new VaultError('bad-share', 'the whole-share checksum does not match (groups swapped or mistyped)');
  return new Uint8Array(payload);
}

export interface TypedGroup {
  /** 1-based, as the sheet numbers groups. */
  n: number;
  text: string;
  /** ok: its check character fits; typo: it does not (a character is wrong); partial: still being typed. */
  state: 'ok' | 'typo' | 'partial';
  message?: string;
}

/**
 * The state of a share being typed, group by group, for a live display: each
 * complete group is checked on its own as soon as its fifth character is
 * typed, and the first group tells how many groups the share has.
 */
export function typingStatus(text: string): { groups: TypedGroup[]; expected?: number; prefix: boolean } {
  const t = text
    .toUpperCase()
    .replace(/[\s-]+/g, '-')
    .replace(/^-/, '');
  const prefix = t.startsWith(PREFIX + '-') || t === PREFIX;
  const body = t.startsWith(PREFIX) ? t.slice(PREFIX.length).replace(/^-/, '') : t;
  const raw = body.replace(/-/g, '');
  const groups: TypedGroup[] = [];
  for (let i = 0; i < raw.length; i += DATA_PER_GROUP + 1) {
    const g = raw.slice(i, i + DATA_PER_GROUP + 1);
    const n = groups.length + 1;
    if (g.length < DATA_PER_GROUP + 1) groups.push({ n, text: g, state: 'partial' });
    else if (checkGroup(n - 1, g)) groups.push({ n, text: g, state: 'ok' });
    else {
      const bad = [...g].find((c) => symbolOf(c) < 0);
      groups.push({
        n,
        text: g,
        state: 'typo',
        message: bad
          ? `group ${n} (${g}): ${JSON.stringify(bad)} is not a share character`
          : `group ${n} (${g}) has a typo: its check character ${g[DATA_PER_GROUP]} does not fit the four before it`,
      });
    }
  }
  let expected: number | undefined;
  if (groups[0]?.state === 'ok') {
    const syms = [...groups[0].text].slice(0, 2).map(symbolOf);
    const head = fromSymbols(syms, 1)[0]!;
    expected = Math.ceil(Math.ceil(((1 + head + 4) * 8) / 5) / DATA_PER_GROUP);
  }
  return { groups, prefix, ...(expected ? { expected } : {}) };
}
