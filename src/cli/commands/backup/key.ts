import type { Command } from 'commander';
import { backupKeys, loadSigningKey, peekBackupState, rotateBackupKey, trustSigner, ensureBackupKey, untrustSigner } from '../../../backup/keys.js';
import { hostname } from 'node:os';
import { exportIdentity } from '../../../backup/wal/identity.js';
import { readVault } from '../../../vault/store.js';
import { table, type Context } from '../../context.js';
import { signingKeyPath } from './options.js';
import { asNewFileOnly } from '../../report.js';

export default function backupKey(cmd: Command, ctx: Context): void {
  cmd
    .command('show', { isDefault: true })
    .description('the backup recipient (give it to backup hosts) and every key version the vault holds')
    .action(async (_o: unknown, sub: Command) => {
      const k = await ensureBackupKey(ctx.paths(sub), ctx.storeOptions(sub), ctx.now());
      const { doc } = await readVault(ctx.paths(sub), ctx.storeOptions(sub));
      const versions = backupKeys(doc).map(({ keyId, recipient, version }) => ({ keyId, recipient, version }));
      if (ctx.globals(sub).json) return ctx.json({ recipient: k.recipient, keyId: k.keyId, versions, signers: peekBackupState(doc).signers });
      ctx.out(k.recipient);
      ctx.info(
        `backup key ${k.keyId}${k.created ? ' (made now)' : ''}; ${versions.length} version(s) held: ${versions.map((v) => `v${v.version} ${v.keyId}`).join(', ')}`,
      );
      ctx.info('a backup host needs only this recipient: --recipient age1… or VAULT_TOOL_BACKUP_RECIPIENT');
    });
  cmd
    .command('rotate')
    .description('a new backup key; older versions stay in the vault for the backups made with them')
    .action(async (_o: unknown, sub: Command) => {
      const k = await rotateBackupKey(ctx.paths(sub), ctx.storeOptions(sub), ctx.now());
      if (ctx.globals(sub).json) return ctx.json({ keyId: k.keyId, recipient: k.recipient, version: k.version });
      ctx.out(k.recipient);
      ctx.info(`backup key now v${k.version} (${k.keyId}); give the new recipient to backup hosts`);
    });
  cmd
    .command('export-identity')
    .description('write the backup identity (every version) and the trusted signers to a file (0600) for a restore host; recorded in the evidence log')
    .requiredOption('-o, --out <file>', 'the identity file to write (never over an existing file)')
    .action(async (o: { out: string }, sub: Command) => {
      const out = ctx.outFile(o.out);
      const r = await exportIdentity(ctx.paths(sub), ctx.storeOptions(sub), out, hostname(), ctx.now()).catch((e: unknown) => {
        throw asNewFileOnly(e);
      });
      if (ctx.globals(sub).json) return ctx.json({ file: out, ...r });
      ctx.out(`wrote ${out} (mode 0600): backup key(s) ${r.keyIds.join(', ')} and ${r.signers} trusted signer(s); recorded in the evidence log`);
      ctx.info('it opens every backup: keep it on the restore host only as long as the restore needs it, then remove it');
    });
  cmd
    .command('signer')
    .description("this host's manifest signing key (public half): register it in the vault with `backup key trust`")
    .option('--signing-key <file>', 'the signing key file')
    .action(async (o: { signingKey?: string }, sub: Command) => {
      const k = loadSigningKey(signingKeyPath(ctx, o));
      if (ctx.globals(sub).json) return ctx.json({ id: k.id, publicKey: k.publicKey });
      ctx.out(k.publicKey);
      ctx.info(`signing key ${k.id}; on the vault's host: vault-tool backup key trust ${k.publicKey} --label HOST`);
    });
  cmd
    .command('trust <publicKey>')
    .description('trust the manifests a backup host signs with this key')
    .option('--label <text>', 'which host', '')
    .action(async (publicKey: string, o: { label: string }, sub: Command) => {
      const s = await trustSigner(ctx.paths(sub), ctx.storeOptions(sub), publicKey, o.label, ctx.now());
      if (ctx.globals(sub).json) return ctx.json(s);
      ctx.out(`trusted signing key ${s.id}${s.label ? ` (${s.label})` : ''}`);
    });
  cmd
    .command('untrust <signer>')
    .description("stop trusting a backup host's signing key (by id, public key or label): its manifests no longer count")
    .action(async (signer: string, _o: unknown, sub: Command) => {
      const s = await untrustSigner(ctx.paths(sub), ctx.storeOptions(sub), signer, ctx.now());
      if (ctx.globals(sub).json) return ctx.json(s);
      ctx.out(`no longer trusted: signing key ${s.id}${s.label ? ` (${s.label})` : ''}; the backups it signed no longer count`);
    });
  cmd
    .command('signers')
    .description('the hosts whose manifests the vault trusts')
    .action(async (_o: unknown, sub: Command) => {
      const { doc } = await readVault(ctx.paths(sub), ctx.storeOptions(sub));
      const s = peekBackupState(doc).signers;
      if (ctx.globals(sub).json) return ctx.json(s);
      ctx.out(table([['ID', 'LABEL', 'ADDED'], ...s.map((x) => [x.id, x.label, x.addedAt])]));
    });
}
