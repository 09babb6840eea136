import type { Command } from 'commander';
import { VaultError } from '../../errors/errors.js';
import { recordEvidence } from '../../vault/evidence.js';
import { changed, readVault, updateVault } from '../../vault/store.js';
import { canaryFromSource, checkCanaries } from '../../verify/canary.js';
import { parseSource, readSource } from '../../verify/sources.js';
import { peekVerifyState, editVerifyState } from '../../verify/state.js';
import { table, type Context } from '../context.js';
import { clusterTarget, type ClusterOptions } from './k8s/options.js';
import { requestTimeoutOption } from '../options.js';

export default function canary(cmd: Command, ctx: Context): void {
  cmd
    .command('create <entry>')
    .description('encrypt a test message with the key as production holds it; verify decrypts it with the escrowed key')
    .requiredOption('--with <source>', 'where production keeps the key: env:FILE#KEY, envvar:NAME, file:PATH or k8s:NAMESPACE/SECRET#KEY')
    .option('--kubeconfig <file>', 'for a k8s: source, the kubeconfig')
    .option('--context <name>', 'for a k8s: source, the kubeconfig context')
    .addOption(requestTimeoutOption())
    .action(async (entry: string, o: ClusterOptions & { with: string }, sub: Command) => {
      const source = parseSource(o.with, ctx.io.cwd);
      const value = await readSource(source, o.with, { env: ctx.io.env, cluster: clusterTarget(ctx, o) });
      const c = await updateVault(ctx.paths(sub), ctx.storeOptions(sub), (doc) => {
        const made = canaryFromSource(doc, entry, value, o.with, ctx.now());
        editVerifyState(doc).canaries.push(made);
        recordEvidence(doc, 'canary.create', { id: made.id, entry, source: o.with }, ctx.now());
        return changed({ made, check: checkCanaries(doc, [made])[0]! });
      });
      value.fill(0);
      if (ctx.globals(sub).json) return ctx.json({ id: c.made.id, entry, source: o.with, status: c.check.status });
      ctx.out(`canary ${c.made.id.slice(0, 8)} made from ${o.with} for ${entry}`);
      if (c.check.status === 'opens') ctx.info(`it opens with the escrowed ${entry}@${c.check.version}: the escrow holds the key production uses`);
      else ctx.warn(c.check.message);
    });
  cmd
    .command('list', { isDefault: true })
    .description('the registered canaries, and whether the escrowed keys open them now')
    .action(async (_o: unknown, sub: Command) => {
      const { doc } = await readVault(ctx.paths(sub), ctx.storeOptions(sub));
      const found = checkCanaries(doc, peekVerifyState(doc).canaries);
      if (ctx.globals(sub).json) return ctx.json(found);
      ctx.out(table([['ID', 'ENTRY', 'SOURCE', 'MADE', 'STATUS'], ...found.map((c) => [c.id.slice(0, 8), c.entry, c.source, c.createdAt, c.status])]));
    });
  cmd
    .command('rm <id>')
    .description('remove a canary (by the first characters of its id)')
    .action(async (id: string, _o: unknown, sub: Command) => {
      const r = await updateVault(ctx.paths(sub), ctx.storeOptions(sub), (doc) => {
        const st = editVerifyState(doc);
        const hits = st.canaries.filter((c) => c.id.startsWith(id));
        if (hits.length !== 1)
          throw new VaultError(hits.length ? 'usage' : 'not-found', hits.length ? `${id} names ${hits.length} canaries` : `no canary ${id}`);
        st.canaries = st.canaries.filter((c) => c !== hits[0]);
        recordEvidence(doc, 'canary.rm', { id: hits[0]!.id, entry: hits[0]!.entry }, ctx.now());
        return changed(hits[0]!);
      });
      if (ctx.globals(sub).json) return ctx.json({ id: r.id, entry: r.entry });
      ctx.out(`removed canary ${r.id.slice(0, 8)} (${r.entry})`);
    });
}
