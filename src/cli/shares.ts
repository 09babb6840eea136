import { VaultError } from '../errors/errors.js';
import { decrypt, isArmored } from '../age/index.js';
import { LIMITS } from '../fs/read.js';
import { parseKeyFile } from '../vault/keyfile.js';
import type { Share } from '../escrow/envelope.js';
import { parseShareFile, shareFileManifestKey, shareFileWarnings } from '../escrow/files.js';
import { parseManifest, type Manifest } from '../escrow/manifest.js';
import type { Context } from './context.js';

/** Reads a share file, decrypting `.age` shares with the given identity files; warns about edited comments. */
export async function readShare(ctx: Context, path: string, identities: string[], manifestKey?: string): Promise<Share> {
  const raw = Buffer.from(await ctx.readFile(path, 'the share', LIMITS.share));
  let text = raw.toString('utf8');
  if (isArmored(raw) || raw.subarray(0, 21).toString() === 'age-encryption.org/v1') {
    if (!identities.length)
      throw new VaultError('usage', `${path} is encrypted to a custodian's age key`, "pass --identity FILE with that custodian's age identity");
    const ids = await Promise.all(
      identities.map(async (f) => parseKeyFile(Buffer.from(await ctx.readFile(f, 'the identity', LIMITS.keyFile)).toString()).identity),
    );
    try {
      text = decrypt(raw, { identities: ids }).plaintext.toString('utf8');
    } catch (e) {
      const err = e as VaultError;
      if (err.kind === 'wrong-key')
        throw new VaultError(
          'wrong-key',
          `${path}: the share is not encrypted to ${identities.length === 1 ? 'the identity' : 'any of the identities'} given with --identity`,
          'use the age identity of the custodian this share belongs to',
        );
      throw new VaultError(err.kind ?? 'integrity', `${path}: ${err.message}`);
    }
  }
  const share = parseShareFile(text, path);
  for (const w of shareFileWarnings(text, share, path)) ctx.warn(w);
  const named = shareFileManifestKey(text);
  if (manifestKey && named && named !== manifestKey)
    ctx.warn(`${path}: its "# manifest key:" comment says ${named}, but the manifest is signed by ${manifestKey}`);
  return share;
}

/** Reads and verifies a signed manifest (shape and signature). */
export async function readManifest(ctx: Context, path: string): Promise<Manifest> {
  const abs = ctx.abs(path);
  return parseManifest(Buffer.from(await ctx.readFile(abs, 'the manifest', LIMITS.text)).toString('utf8'), abs);
}

/** Interactive recovery: each custodian types their share; a typo is rejected on the spot, naming the group. */
async function promptShares(ctx: Context): Promise<Share[]> {
  const { password, confirm } = await import('@inquirer/prompts');
  const shares: Share[] = [];
  for (;;) {
    const text = await password({
      message: `Share ${shares.length + 1} (VT1-…), typed by its custodian:`,
      mask: '*',
      validate: (t: string) => {
        try {
          parseShareFile(t);
          return true;
        } catch (e) {
          return (e as Error).message.replace(/^share: /, '');
        }
      },
    });
    const s = parseShareFile(text);
    ctx.info(`accepted share ${s.index} of ${s.count} from ${s.label} (set ${s.setId})`);
    shares.push(s);
    if (
      shares.length >= s.threshold &&
      !(await confirm({ message: `${shares.length} of ${s.threshold} needed shares entered. Enter another?`, default: false }))
    )
      return shares;
  }
}

/** Shares typed by custodians: one at a time at a prompt on a terminal, else blank-line-separated on stdin. */
export async function typedShares(ctx: Context): Promise<Share[]> {
  if (ctx.io.stdinIsTTY) return promptShares(ctx);
  const text = (await ctx.stdin('shares', LIMITS.text)).toString('utf8');
  const blocks = text
    .split(/\n\s*\n/)
    .map((b) => b.trim())
    .filter(Boolean);
  return blocks.map((b, i) => parseShareFile(b, `share ${i + 1} on stdin`));
}
