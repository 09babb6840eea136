import type { Command } from 'commander';
import { VaultError } from '../../vault/errors.js';
import type { Context } from '../context.js';

export function registerFingerprint(program: Command, ctx: Context): void {
  program
    .command('fingerprint <ref>')
    .description('compare an entry with a deployed value without printing it, or print its SHA-256 for sha256sum')
    .option('--sha256', 'print the plain SHA-256 of the value (as `sha256sum` of the deployed value shows it)')
    .option('--allow-low-entropy', 'with --sha256, allow it for passwords and generic values')
    .option('--compare <file>', 'compare with the value in this file (- for stdin); exit 8 when they differ')
    .action(async (ref: string, opts: { sha256?: boolean; allowLowEntropy?: boolean; compare?: string }, cmd: Command) => {
      const { timingSafeEqual, createHash } = await import('node:crypto');
      const { getVersion, plainSha256 } = await import('../../vault/entries.js');
      const { entryType, normalizeValue, parseRef } = await import('../../vault/types.js');
      const { readVault } = await import('../../vault/store.js');
      const { name, version } = parseRef(ref);
      const { doc } = await readVault(ctx.paths(cmd), ctx.storeOptions(cmd));
      const got = getVersion(doc, name, version);
      const json = ctx.globals(cmd).json;
      if (opts.compare) {
        const { LIMITS } = await import('../../vault/fsutil.js');
        const raw = Buffer.from(await ctx.readFile(opts.compare, 'the deployed value', LIMITS.value));
        let deployed: Buffer = raw;
        try {
          deployed = normalizeValue(entryType(got.entry.type), raw, true);
        } catch {
          /* compare the raw bytes: an invalid value simply differs */
        }
        const a = createHash('sha256').update(deployed).digest();
        const b = createHash('sha256').update(got.value).digest();
        const same = timingSafeEqual(a, b);
        if (json) ctx.json({ name, version: got.version.version, match: same });
        else ctx.out(same ? `match: ${name}@${got.version.version}` : `differs: ${name}@${got.version.version}`);
        if (!same) throw new VaultError('verify-failed', `the deployed value differs from ${name}@${got.version.version}`);
        return;
      }
      const out: Record<string, unknown> = { name, version: got.version.version, fingerprint: got.version.fingerprint };
      if (opts.sha256) out.sha256 = plainSha256(got.entry, got.value, Boolean(opts.allowLowEntropy));
      if (json) return ctx.json(out);
      ctx.out(`${name}@${got.version.version}  ${got.version.fingerprint}${out.sha256 ? `  sha256:${out.sha256}` : ''}`);
    });
}
