import type { Command } from 'commander';
import { VaultError } from '../../errors/errors.js';
import { changed, readVault, updateVault } from '../../vault/store.js';
import { recordEvidence } from '../../vault/evidence.js';
import { locate, parseDestination } from '../../dest/dest.js';
import { copyVault } from '../../verify/copies.js';
import { peekVerifyState, verifyState } from '../../verify/state.js';
import { table, type Context } from '../context.js';

export default function copy(cmd: Command, ctx: Context): void {
  cmd
    .option('--to <dest>', 'where the vault copy goes: a folder, or an rclone remote (remote:path)')
    .option('--key-to <dest>', 'where a copy of vault.key goes: a different place (a folder or remote)')
    .option('--force', 'allow the vault and its key in the same folder or remote')
    .action(async (o: { to?: string; keyTo?: string; force?: boolean }) => {
      if (!o.to) throw new VaultError('usage', 'where to? give --to DEST (and --key-to DEST2 for the key)');
      const dest = { env: ctx.io.env };
      const to = parseDestination(o.to, ctx.io.cwd);
      const keyTo = o.keyTo ? parseDestination(o.keyTo, ctx.io.cwd) : undefined;
      const r = await copyVault(ctx.paths(cmd), ctx.storeOptions(cmd), { to, ...(keyTo ? { keyTo } : {}), force: Boolean(o.force), now: ctx.now(), dest });
      if (ctx.globals(cmd).json) return ctx.json(r);
      ctx.out(`copied the vault to ${locate(to, r.vault.file)} (copy ${r.vault.id}, generation ${r.vault.generation}); read back and opened`);
      if (r.key && keyTo) ctx.out(`copied the key to ${locate(keyTo, r.key.file)} (copy ${r.key.id}); read back, and it opens the vault copy`);
      ctx.info('registered: `vault-tool verify` checks these copies from now on');
      if (!r.key) ctx.info('the key was not copied: keep a copy of vault.key in another place (--key-to), or rely on the escrow shares');
    })
    .command('list')
    .description('the registered copies of the vault and its key')
    .action(async (_o: unknown, sub: Command) => {
      const { doc } = await readVault(ctx.paths(sub), ctx.storeOptions(sub));
      const copies = peekVerifyState(doc).copies;
      if (ctx.globals(sub).json) return ctx.json(copies);
      ctx.out(
        table([['ID', 'KIND', 'WHERE', 'FILE', 'GENERATION', 'MADE'], ...copies.map((c) => [c.id, c.kind, c.dest, c.file, String(c.generation), c.createdAt])]),
      );
    });
  cmd
    .command('forget <id>')
    .description('stop checking a registered copy (the copy itself is not touched)')
    .action(async (id: string, _o: unknown, sub: Command) => {
      const r = await updateVault(ctx.paths(sub), ctx.storeOptions(sub), (doc) => {
        const st = verifyState(doc);
        const c = st.copies.find((x) => x.id === id);
        if (!c) throw new VaultError('not-found', `no registered copy ${id}`, { code: 'copy-missing' });
        st.copies = st.copies.filter((x) => x !== c);
        recordEvidence(doc, 'vault.copy.forget', { id: c.id, kind: c.kind, dest: c.dest, file: c.file }, ctx.now());
        return changed(c);
      });
      if (ctx.globals(sub).json) return ctx.json(r);
      ctx.out(`forgot ${r.kind} copy ${r.id} (${r.dest}/${r.file}); the file itself was left as it is`);
    });
}
