import { VaultError } from '../errors/errors.js';
import { shareTextLines, startsShare } from '../fs/share-text.js';
import { decodeEnvelope, encodeEnvelope, type Share } from './envelope.js';
import { decodeText, encodeText, splitGroups } from './text.js';

/** The text form of a share (what is typed back from paper, and what the QR code holds). */
export function shareToText(s: Share): string {
  return encodeText(encodeEnvelope(s));
}

export function shareFromText(text: string): Share {
  return decodeEnvelope(decodeText(text));
}

export function shareGroups(s: Share): string[] {
  return splitGroups(shareToText(s));
}

/**
 * A custodian's name as it goes into file names: lowercase ASCII letters,
 * digits and -, accents dropped (Jürgen Ö: jurgen-o, not j-rgen); a name
 * with no Latin letter or digit at all gives `custodian` (the file's number
 * tells them apart).
 */
export function slug(label: string): string {
  return (
    label
      .normalize('NFKD')
      .replace(/\p{M}+/gu, '')
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '') || 'custodian'
  );
}

export function shareFileName(s: Share): string {
  return `share-${String(s.index).padStart(2, '0')}-${slug(s.label)}`;
}

/** A share file: comment lines a custodian can read, then the text form. */
export function formatShareFile(s: Share, manifestKey: string): string {
  return [
    `${HEADER}: keep it secret and apart from the other shares`,
    `# custodian: ${s.label} (share ${s.index} of ${s.count}; any ${s.threshold} recover the vault key)`,
    `# set: ${s.setId}, epoch ${s.epoch}, vault key id ${s.keyId}`,
    `# manifest key: ${manifestKey}`,
    `# check it: vault-tool escrow check ${shareFileName(s)}.share --manifest manifest.json`,
    shareToText(s),
    '',
  ].join('\n');
}

/** Reads a share from a share file or from the bare text form; comments and blank lines are ignored. */
export function parseShareFile(text: string, name = 'share'): Share {
  const lines = shareTextLines(text);
  if (!lines.length) throw new VaultError('bad-share', `${name}: no share text found`);
  try {
    return shareFromText(lines.join('-'));
  } catch (e) {
    if (e instanceof VaultError) throw new VaultError(e.kind, `${name}: ${e.message}`, e.hint);
    throw e;
  }
}

const HEADER = '# vault-tool escrow share';
const hasShareText = (block: string[]) => block.some((l) => !l.startsWith('#'));

/**
 * Shares given one after another (piped or pasted): a blank line ends one,
 * and so does the first comment line of a share file or a line that starts
 * a share (VT1-) once the current one has share text, so that share files
 * concatenated with `cat` read as the shares they are. Comment lines before
 * a share belong to it.
 */
export function splitShareBlocks(text: string): string[] {
  const blocks: string[][] = [[]];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    const cur = blocks.at(-1)!;
    if (!line) {
      if (hasShareText(cur)) blocks.push([]);
    } else if (hasShareText(cur) && (line.startsWith(HEADER) || startsShare(line))) blocks.push([line]);
    else cur.push(line);
  }
  return blocks.filter((b) => b.length).map((b) => b.join('\n'));
}

/**
 * Comment lines of a share file that disagree with the share itself (an
 * edited `# set:` or `# manifest key:` line): the share is what counts, but
 * a custodian comparing comments with a sheet must be told.
 */
export function shareFileWarnings(text: string, s: Share, name = 'share'): string[] {
  const out: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    let m = /^#\s*set:\s*(.*)$/.exec(line);
    if (m) {
      const want = `${s.setId}, epoch ${s.epoch}, vault key id ${s.keyId}`;
      if (m[1]!.trim() !== want)
        out.push(`${name}: its "# set:" comment says ${JSON.stringify(m[1]!.trim())}, but the share is of set ${want}: the comment was edited`);
      continue;
    }
    m = /^#\s*custodian:\s*(.*)$/.exec(line);
    if (m && !m[1]!.startsWith(`${s.label} (share ${s.index} of ${s.count};`))
      out.push(
        `${name}: its "# custodian:" comment says ${JSON.stringify(m[1]!.trim())}, but the share is share ${s.index} of ${s.count} for ${s.label}: the comment was edited`,
      );
  }
  return out;
}

/** The manifest key a share file's comment names, if any (compared with the manifest's by `escrow check` and `combine -m`). */
export function shareFileManifestKey(text: string): string | undefined {
  return /^#\s*manifest key:\s*(\S+)\s*$/m.exec(text)?.[1];
}
