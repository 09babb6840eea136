import { styleText } from 'node:util';
import { VaultError, type ErrorKind } from '../errors/errors.js';
import { decrypt, isArmored, type X25519Identity } from '../age/index.js';
import { LIMITS } from '../fs/read.js';
import { parseKeyFile } from '../vault/keyfile.js';
import type { Share } from '../escrow/envelope.js';
import { parseShareFile, shareFileManifestKey, shareFileWarnings, splitShareBlocks } from '../escrow/files.js';
import { checkShareInManifest, manifestKeyFingerprint, parseManifest, type Manifest } from '../escrow/manifest.js';
import { groupSets, isUnreadable, nameOf, type ShareInput, type UnreadableShare } from '../escrow/combine.js';
import { PREFIX, typingStatus } from '../escrow/text.js';
import type { Context } from './context.js';

/** A share file that is there but does not read as a share; `kind` is the error it is when read on its own. */
type NotAShare = UnreadableShare & { kind: ErrorKind };

const isAge = (raw: Buffer) => isArmored(raw) || raw.subarray(0, 21).toString() === 'age-encryption.org/v1';

/**
 * Reads one share file: decrypted with the identities when it is an age
 * file, parsed, comments compared. What the share file itself is (not
 * encrypted to the identities given, damaged, mistyped) comes back as
 * NotAShare; errors of the command line (a missing file, an identity file
 * that is not one) are thrown.
 */
async function loadShare(
  ctx: Context,
  path: string,
  identities: () => Promise<X25519Identity[]>,
  given: number,
  manifestKey?: string,
): Promise<Share | NotAShare> {
  const raw = Buffer.from(await ctx.readFile(path, 'the share file', LIMITS.share));
  let text = raw.toString('utf8');
  if (isAge(raw)) {
    if (!given)
      return {
        name: path,
        kind: 'usage',
        reason: `${path} is encrypted to a custodian's age key`,
        hint: "pass --identity FILE with that custodian's age identity",
      };
    const ids = await identities();
    try {
      text = decrypt(raw, { identities: ids }).plaintext.toString('utf8');
    } catch (e) {
      if (!(e instanceof VaultError)) throw e;
      const err = e;
      if (err.kind === 'wrong-key')
        return {
          name: path,
          kind: 'wrong-key',
          reason: `${path}: the share is not encrypted to ${given === 1 ? 'the identity' : 'any of the identities'} given with --identity`,
          hint: 'use the age identity of the custodian this share belongs to',
        };
      return {
        name: path,
        kind: err.kind,
        reason: `${path}: ${err.message}`,
        hint: "the encrypted share file is damaged: use the custodian's other copy, or type the share from their sheet",
      };
    }
  }
  let share: Share;
  try {
    share = parseShareFile(text, path);
  } catch (e) {
    if (!(e instanceof VaultError) || e.kind !== 'bad-share') throw e;
    return {
      name: path,
      kind: 'bad-share',
      reason: e.message.startsWith(`${path}: `) ? e.message : `${path}: ${e.message}`,
      ...(e.hint ? { hint: e.hint } : {}),
    };
  }
  for (const w of shareFileWarnings(text, share, path)) ctx.warn(w);
  const named = shareFileManifestKey(text);
  if (manifestKey && named && named !== manifestKey)
    ctx.warn(`${path}: its "# manifest key:" comment says ${named}, but the manifest is signed by ${manifestKey}`);
  return share;
}

/** The age identities in these files, read once, when the first encrypted share needs them. */
function identitiesOf(ctx: Context, files: string[]): () => Promise<X25519Identity[]> {
  let ids: Promise<X25519Identity[]> | undefined;
  return () =>
    (ids ??= Promise.all(files.map(async (f) => parseKeyFile(Buffer.from(await ctx.readFile(f, 'the identity', LIMITS.keyFile)).toString()).identity)));
}

/** Reads a share file, decrypting `.age` shares with the given identity files; warns about edited comments. Anything that keeps it from reading is an error. */
export async function readShare(ctx: Context, path: string, identities: string[], manifestKey?: string): Promise<Share> {
  const s = await loadShare(ctx, path, identitiesOf(ctx, identities), identities.length, manifestKey);
  if (isUnreadable(s)) throw new VaultError((s as NotAShare).kind, s.reason, s.hint);
  return s;
}

/** Reads and verifies a signed manifest (shape and signature). */
export async function readManifest(ctx: Context, path: string): Promise<Manifest> {
  const abs = ctx.abs(path);
  return parseManifest(Buffer.from(await ctx.readFile(abs, 'the manifest', LIMITS.text)).toString('utf8'), abs);
}

/**
 * Reads share files for combining, verifying or a drill: a file that is not
 * a readable share (a typo, a damaged or edited file, an encrypted share
 * that the identities given do not open or that is damaged, a share not in
 * the manifest) does not stop the others; it is handed on as unreadable,
 * so that with more than K it is set aside and named. Errors of the command
 * line itself (a missing file, an identity file that is not one) still
 * stop here.
 */
export async function readShares(ctx: Context, files: string[], identities: string[], manifest?: Manifest): Promise<ShareInput[]> {
  const manifestKey = manifest ? manifestKeyFingerprint(manifest.publicKey) : undefined;
  const ids = identitiesOf(ctx, identities);
  const out: ShareInput[] = [];
  for (const f of files) {
    const s = await loadShare(ctx, f, ids, identities.length, manifestKey);
    if (isUnreadable(s)) {
      const { kind: _kind, ...unreadable } = s as NotAShare;
      out.push(unreadable);
      continue;
    }
    try {
      if (manifest) checkShareInManifest(s, manifest);
      out.push(s);
    } catch (e) {
      if (!(e instanceof VaultError) || e.kind !== 'bad-share') throw e;
      out.push({ name: f, reason: `${f}: ${e.message}`, ...(e.hint ? { hint: e.hint } : {}) });
    }
  }
  return out;
}

/** Typed shares checked against the signed manifest: one not listed in it is handed on as unreadable (set aside when the others are enough). */
export function inManifest(inputs: ShareInput[], manifest?: Manifest): ShareInput[] {
  if (!manifest) return inputs;
  return inputs.map((s) => {
    if (isUnreadable(s)) return s;
    try {
      checkShareInManifest(s, manifest);
      return s;
    } catch (e) {
      if (!(e instanceof VaultError)) throw e;
      return { name: nameOf(s), reason: `${nameOf(s)}: ${e.message}` };
    }
  });
}

/**
 * The share as typed so far, for the terminal: how far along it is (or which
 * group is mistyped) first, then the groups, each complete one marked ✓ (its
 * check character fits) or ✗ (mistyped), so the custodian compares them with
 * the sheet as they type; the cursor stays at the end of what was typed.
 */
export function typedView(value: string, color: boolean): string {
  const paint = (c: 'green' | 'red' | 'dim', t: string) => (color ? styleText(c, t) : t);
  const t = value.trim().toUpperCase();
  if (!t) return '';
  const st = typingStatus(value);
  if (!st.prefix) return PREFIX.startsWith(t.slice(0, 3)) && t.length <= 4 ? t : `${paint('red', '[a share starts with VT1-]')} ${t}`;
  const typo = st.groups.find((g) => g.state === 'typo');
  const done = st.groups.filter((g) => g.state === 'ok').length;
  const note = typo ? paint('red', `[group ${typo.n} mistyped]`) : paint('dim', `[${done}/${st.expected ?? '?'}]`);
  const groups = st.groups.map((g) => (g.state === 'ok' ? `${g.text}${paint('green', '✓')}` : g.state === 'typo' ? paint('red', `${g.text}✗`) : g.text));
  return `${note} ${PREFIX}-${groups.join(' ')}`;
}

/**
 * Interactive recovery: each custodian types their share and sees it as they
 * type, group by group, each complete group marked good (✓) or mistyped (✗)
 * by its check character, so it can be compared with the sheet; a share that
 * does not decode is rejected on Enter, naming the group.
 */
async function promptShares(ctx: Context): Promise<Share[]> {
  const { input, confirm } = await import('@inquirer/prompts');
  const color = !ctx.io.env.NO_COLOR;
  const shares: Share[] = [];
  for (;;) {
    let accepted: Share | undefined;
    const text = await input(
      {
        message: `Share ${shares.length + 1} (VT1-…), typed by its custodian:`,
        transformer: (value, { isFinal }) => (isFinal && accepted ? `${nameOf(accepted)}, set ${accepted.setId}` : typedView(value, color)),
        validate: (t: string) => {
          try {
            accepted = parseShareFile(t);
            return true;
          } catch (e) {
            return (e as Error).message.replace(/^share: /, '');
          }
        },
      },
      ctx.promptContext(),
    );
    const s = parseShareFile(text);
    ctx.info(`accepted share ${s.index} of ${s.count} from ${s.label} (set ${s.setId}, epoch ${s.epoch})`);
    shares.push(s);
    const sets = groupSets(shares);
    const ready = sets.find((x) => x.have >= x.threshold);
    if (!ready) continue;
    const others = sets.length > 1 ? ` (shares of ${sets.length} sets were typed)` : '';
    if (
      !(await confirm(
        {
          message: `${ready.have} of the ${ready.threshold} shares needed for set ${ready.setId} entered${others}. Enter another?`,
          default: false,
        },
        ctx.promptContext(),
      ))
    )
      return shares;
  }
}

/**
 * Shares typed by custodians: one at a time at a prompt on a terminal, else
 * one after another on stdin; a block on stdin that does not read is handed
 * on as unreadable (set aside when the others are enough).
 */
export async function typedShareInputs(ctx: Context): Promise<ShareInput[]> {
  if (ctx.io.stdinIsTTY) return promptShares(ctx);
  const text = (await ctx.stdin('shares', LIMITS.text)).toString('utf8');
  // Blank lines separate the shares; so do the header of a share file and a line starting VT1- (share files piped through cat).
  const blocks = splitShareBlocks(text);
  return blocks.map((b, i): ShareInput => {
    const name = `share ${i + 1} on stdin`;
    try {
      return parseShareFile(b, name);
    } catch (e) {
      if (!(e instanceof VaultError) || e.kind !== 'bad-share') throw e;
      return { name, reason: e.message, ...(e.hint ? { hint: e.hint } : {}) };
    }
  });
}
