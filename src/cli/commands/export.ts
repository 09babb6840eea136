import type { Command } from 'commander';
import { VaultError } from '../../errors/errors.js';
import { envExportNames, formatDotenvValue, parseExportMappings } from '../../vault/dotenv.js';
import { currentVersion, listEntries, requireEntry } from '../../vault/entries.js';
import { readVault } from '../../vault/store.js';
import type { Context } from '../context.js';
import { collect } from '../options.js';

interface ExportEnvOptions {
  prefix?: string;
  out?: string;
  force?: boolean;
  redacted?: boolean;
  reveal?: boolean;
  prefixPath?: boolean;
  map?: string[];
}

export default function exportCommand(cmd: Command, ctx: Context): void {
  cmd
    .command('env [names...]')
    .description('write entries as a dotenv file (all entries, or those named, or under --prefix)')
    .option('--prefix <prefix>', 'only entries whose name starts with this')
    .option('-o, --out <file>', 'write to this file (mode 0600)')
    .option('--force', 'with --out, replace an existing file')
    .option('--redacted', 'write ***REDACTED*** instead of values (safe to share)')
    .option('--reveal', 'allow writing values to a terminal')
    .option('--prefix-path', "name each variable with the entry's folder in front: audit/hmac-key → AUDIT_HMAC_KEY")
    .option('--map <KEY=ENTRY>', 'write ENTRY as variable KEY, whatever the naming rule (repeatable)', collect)
    .action(async (names: string[], o: ExportEnvOptions, sub: Command) => {
      const maps = parseExportMappings(o.map ?? []);
      if (o.out) ctx.checkOut(o.out, 'secret', Boolean(o.force));
      const { doc } = await readVault(ctx.paths(sub), ctx.storeOptions(sub));
      const json = ctx.globals(sub).json;
      const chosen = names.length
        ? names.map((n) => requireEntry(doc, n))
        : listEntries(doc)
            .filter((e) => !o.prefix || e.name.startsWith(o.prefix))
            .map((e) => requireEntry(doc, e.name));
      if (!chosen.length) throw new VaultError('not-found', 'no entries to export');
      const keys = envExportNames(
        chosen.map((e) => ({ name: e.name, recorded: e.meta?.envName })),
        { prefixPath: Boolean(o.prefixPath), maps },
      );
      const lines: string[] = [`# exported by vault-tool from vault ${doc.vaultId.slice(0, 12)} generation ${doc.generation}`];
      const variables: { name: string; entry: string; version: number; value?: string }[] = [];
      for (const [i, e] of chosen.entries()) {
        const key = keys[i]!;
        const bytes = Buffer.from(currentVersion(e).value, 'base64');
        const text = bytes.toString('utf8');
        if (!Buffer.from(text, 'utf8').equals(bytes)) throw new VaultError('invalid', `${e.name} holds binary data, which a dotenv file cannot carry`);
        lines.push(`${key}=${o.redacted ? '***REDACTED***' : formatDotenvValue(text)}`);
        variables.push({ name: key, entry: e.name, version: currentVersion(e).version, ...(o.redacted ? {} : { value: text }) });
      }
      // --json: the same export as one JSON document (values left out with --redacted).
      const body = Buffer.from(
        json
          ? JSON.stringify({ vaultId: doc.vaultId, generation: doc.generation, redacted: Boolean(o.redacted), variables }, null, 2) + '\n'
          : lines.join('\n') + '\n',
      );
      // A redacted export reveals no value: only a real one is recorded.
      const record = () =>
        o.redacted
          ? undefined
          : ctx.recordAccess(sub, 'export.env', {
              entries: variables.map((v) => `${v.entry}@${v.version}`),
              to: o.out ? 'file' : ctx.io.stdoutIsTTY ? 'terminal' : 'stdout',
              ...(o.out ? { out: ctx.abs(o.out) } : {}),
            });
      if (o.out) {
        ctx.writeOut(o.out, body, 'secret', Boolean(o.force));
        ctx.info(`wrote ${chosen.length} entr${chosen.length === 1 ? 'y' : 'ies'} to ${o.out} (mode 0600${o.redacted ? ', redacted' : ''})`);
        await record();
        return;
      }
      if (!o.redacted) ctx.guardTerminal(Boolean(o.reveal));
      ctx.io.stdout.write(body);
      await record();
    });
}
