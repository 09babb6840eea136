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
        const deployed = createHash('sha256')
          .update(valueFromSource(entryType(got.entry.type), raw))
          .digest();
        const equal = (value: Buffer) => timingSafeEqual(deployed, createHash('sha256').update(value).digest());
        const same = equal(got.value);
        // A value that differs may be another version of the entry (a rotation not yet deployed, or rolled back): said, by number.
        const other = same ? undefined : got.entry.versions.find((v) => v.version !== got.version.version && equal(Buffer.from(v.value, 'base64')));
        const at = `${name}@${got.version.version}`;
        if (json) ctx.json({ name, version: got.version.version, match: same, ...(same ? {} : { matchesVersion: other?.version ?? null }) });
        else ctx.out(same ? `match: ${at}` : `differs: ${at}${other ? ` (it is ${name}@${other.version})` : ''}`);
        if (!same)
          throw new VaultError(
            'verify-failed',
            `the deployed value differs from ${at}${other ? `: it is version ${other.version}, ${other.version < got.version.version ? 'an older' : 'a newer'} one` : ', and from every other version of it'}`,
            { code: 'deployed-differs', data: { name, version: String(got.version.version), ...(other ? { other: String(other.version) } : {}) } },
          );
        return;
      }
      const out: Record<string, unknown> = { name, version: got.version.version, fingerprint: got.version.fingerprint };
      if (o.sha256) out.sha256 = plainSha256(got.entry, got.value, Boolean(o.allowLowEntropy));
      if (json) return ctx.json(out);
      ctx.out(`${name}@${got.version.version}  ${got.version.fingerprint}${out.sha256 ? `  sha256:${out.sha256}` : ''}`);
    });
}
