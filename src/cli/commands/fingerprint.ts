import { createHash, timingSafeEqual } from 'node:crypto';
import type { Command } from 'commander';
import { VaultError } from '../../errors/errors.js';
import { getVersion, plainSha256 } from '../../vault/entries.js';
import { LIMITS } from '../../fs/read.js';
import { readVault } from '../../vault/store.js';
import { entryType, parseRef, valueFromSource } from '../../vault/types.js';
import type { Context } from '../context.js';

export default function fingerprint(cmd: Command, ctx: Context): void {
  cmd
    .argument('<ref>')
    .option('--sha256', 'print the plain SHA-256 of the value (as `sha256sum` of the deployed value shows it)')
    .option('--allow-low-entropy', 'with --sha256, allow it for passwords and generic values')
    .option('--compare <file>', 'compare with the value in this file (- for stdin); exit 8 when they differ')
    .action(async (ref: string, o: { sha256?: boolean; allowLowEntropy?: boolean; compare?: string }) => {
      const { name, version } = parseRef(ref);
      const { doc } = await readVault(ctx.paths(cmd), ctx.storeOptions(cmd));
      const got = getVersion(doc, name, version);
      const json = ctx.globals(cmd).json;
      if (o.compare) {
        const raw = Buffer.from(await ctx.readFile(o.compare, 'the deployed value', LIMITS.value));
        // The one rule for values from a source (valueFromSource); an invalid value simply differs.
        const deployed = valueFromSource(entryType(got.entry.type), raw);
        const same = timingSafeEqual(createHash('sha256').update(deployed).digest(), createHash('sha256').update(got.value).digest());
        if (json) ctx.json({ name, version: got.version.version, match: same });
        else ctx.out(same ? `match: ${name}@${got.version.version}` : `differs: ${name}@${got.version.version}`);
        if (!same) throw new VaultError('verify-failed', `the deployed value differs from ${name}@${got.version.version}`);
        return;
      }
      const out: Record<string, unknown> = { name, version: got.version.version, fingerprint: got.version.fingerprint };
      if (o.sha256) out.sha256 = plainSha256(got.entry, got.value, Boolean(o.allowLowEntropy));
      if (json) return ctx.json(out);
      ctx.out(`${name}@${got.version.version}  ${got.version.fingerprint}${out.sha256 ? `  sha256:${out.sha256}` : ''}`);
    });
}
