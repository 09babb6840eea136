/**
 * The lexical form of an escrow share's text, as custodians keep and type
 * it: comment lines (`#`) and blank lines are ignored, case does not
 * matter, and groups may be separated by dashes, spaces or line breaks
 * ("VT1-ABCDE-FGHJK", "vt1 abcde fghjk"). The share parser
 * (escrow/files.ts, escrow/text.ts) reads shares with these functions and
 * the output guard (replace.ts) recognizes share files with them, so a
 * share in any form the parser accepts is guarded. No Node API here: the
 * browser recovery kit reads shares with the same code.
 */
export const SHARE_PREFIX = 'VT1';

/** The lines of a share file that hold share text: without comments and blank lines, trimmed. */
export function shareTextLines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
}

/** Share text in one form: upper case, every run of spaces, line breaks and dashes one dash, none at either end. */
export function normalizeShareText(text: string): string {
  return text
    .toUpperCase()
    .replace(/[\s-]+/g, '-')
    .replace(/^-|-$/g, '');
}

/** The groups after the prefix (as typed: not checked), or null when the text does not start with the prefix. */
export function shareTextGroups(text: string): string[] | null {
  const parts = normalizeShareText(text).split('-');
  return parts[0] === SHARE_PREFIX ? parts.slice(1) : null;
}

/** Whether a line of text starts a share (the prefix, then a separator): where one share's text begins. */
export const startsShare = (line: string) => /^VT1[\s-]/i.test(line.trim());

const GROUP = /^[0-9A-Z]{5}$/;

/**
 * Whether a file's text (or its first bytes) holds a share, typos and all:
 * its share text (or any line of it, for a share kept among notes) starts
 * with the prefix and goes on in groups of five characters (at least three
 * groups, most of them whole). Recognizing, not checking: a share with a
 * mistyped group is still a custodian's share.
 */
export function looksLikeShare(text: string): boolean {
  const lines = shareTextLines(text);
  const starts = lines.map((l, i) => (i === 0 || startsShare(l) ? i : -1)).filter((i) => i >= 0);
  return starts.slice(0, 16).some((i) => {
    const groups = shareTextGroups(lines.slice(i, i + 64).join('-'));
    if (!groups || groups.length < 3) return false;
    const whole = groups.filter((g) => GROUP.test(g)).length;
    return whole * 3 >= groups.length * 2;
  });
}
