import type { Command } from 'commander';
import { VaultError } from '../../errors/errors.js';
import { changed, readVault, updateVault } from '../../vault/store.js';
import { recordEvidence } from '../../vault/evidence.js';
import { parseDestination } from '../../dest/index.js';
import { copyVault } from '../../verify/copies.js';
import { peekVerifyState, editVerifyState } from '../../verify/state.js';
import { table, type Context } from '../context.js';

export default function copy(cmd: Command, ctx: Context): void {
  cmd
    .option('--to <dest>', 'where the vault copy goes: a folder, or an rclone remote (remote:path)')
    .option('--key-to <dest>', 'where a copy of vault.key goes: a different place (a folder or remote)')
    .option('--force', 'allow the vault and its key in the same folder or remote')
    .option(
      '--replace <id>',
      'a new copy in the place of this registered one (and of the key copy made with it), which stops being checked; its file is left as it is',
    )
    .action(async (o: { to?: string; keyTo?: string; force?: boolean; replace?: string }) => {
      const paths = ctx.paths(cmd);
      const store = ctx.storeOptions(cmd);
      let replaces: string[] = [];
      let to = o.to;
      let keyTo = o.keyTo;
      if (o.replace) {
        // The copy and its pair are replaced together, each in its own place (unless --to or --key-to says otherwise).
        const copies = peekVerifyState((await readVault(paths, store)).doc).copies;
        const c = copies.find((x) => x.id === o.replace);
        if (!c) throw new VaultError('not-found', `no registered copy ${o.replace}`, { code: 'copy-missing' });
        const pair = c.pair ? copies.find((x) => x.id === c.pair) : undefined;
        const [vaultCopy, keyCopy] = c.kind === 'vault' ? [c, pair] : [pair, c];
        replaces = [c.id, ...(pair ? [pair.id] : [])];
        to ??= vaultCopy?.dest;
        keyTo ??= keyCopy?.dest;
      }
      if (!to) throw new VaultError('usage', 'where to? give --to DEST (and --key-to DEST2 for the key)');
      const io = { env: ctx.io.env };
      const toDest = parseDestination(to, ctx.io.cwd, io);
      const keyDest = keyTo ? parseDestination(keyTo, ctx.io.cwd, io) : undefined;
      const progress = ctx.progress(cmd);
      const r = await copyVault(paths, store, {
        to: toDest,
        ...(keyDest ? { keyTo: keyDest } : {}),
        force: Boolean(o.force),
        now: ctx.now(),
        ...(replaces.length ? { replaces } : {}),
        ...(progress.mode === 'off' ? {} : { onProgress: progress.callback('copy') }),
      });
      progress.end(true);
      if (ctx.globals(cmd).json) return ctx.json(r);
      ctx.out(`copied the vault to ${toDest.locate(r.vault.file)} (copy ${r.vault.id}, generation ${r.vault.generation}); read back and opened`);
      if (r.key && keyDest) ctx.out(`copied the key to ${keyDest.locate(r.key.file)} (copy ${r.key.id}); read back, and it opens the vault copy`);
      for (const old of r.replaced)
        ctx.out(
          `replaced ${old.kind} copy ${old.id}: no longer checked; its file ${old.dest}/${old.file} was left as it is (delete it when it is no longer wanted)`,
        );
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
        const st = editVerifyState(doc);
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
