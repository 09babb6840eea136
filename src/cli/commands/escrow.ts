import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { VaultError } from '../../errors/errors.js';
import { readVault } from '../../vault/store.js';
import * as lib from '../../escrow/index.js';
import type { Custodian, SplitResult } from '../../escrow/escrow.js';
import { table, type Context } from '../context.js';
import { inManifest, readManifest, readShare, readShares, typedShareInputs } from '../shares.js';
import { collect, wholeNumber } from '../options.js';

interface SplitOptions {
  threshold: number;
  shares?: number;
  custodian?: string[];
  out: string;
  ceremony?: boolean;
  rekey?: boolean;
}

async function splitCommand(ctx: Context, cmd: Command, o: SplitOptions, reshare: boolean): Promise<void> {
  const custodians: Custodian[] = (o.custodian ?? []).map(lib.parseCustodian);
  const count = o.shares ?? custodians.length;
  if (!custodians.length) for (let i = 1; i <= count; i++) custodians.push({ label: `custodian-${i}` });
  if (custodians.length !== count)
    throw new VaultError('usage', `--shares ${count} but ${custodians.length} --custodian given`, 'name one custodian per share, or none');
  lib.checkParams(o.threshold, count);
  lib.checkCustodians(custodians);
  const paths = ctx.paths(cmd);
  const so = ctx.storeOptions(cmd);
  const outDir = ctx.abs(o.out);
  // Everything that can be checked is checked before the first write (and before a rekey starts).
  lib.checkSplitOutput(outDir, custodians);
  if (o.ceremony) await confirmCustodians(ctx, custodians, o.threshold);
  const event = reshare ? 'escrow.reshare' : 'escrow.split';
  let r: SplitResult;
  if (reshare && o.rekey) {
    const rr = await lib.reshareWithRekey(paths, so, { threshold: o.threshold, custodians, outDir, event });
    if (rr.stage === 'resumed-confirm') {
      if (ctx.globals(cmd).json) return ctx.json({ resumed: true, rekey: rr.rekey });
      ctx.out(`an interrupted reshare --rekey was finished: the vault opens only with key id ${rr.rekey.newKeyId}`);
      ctx.info('its shares were written by the interrupted run; check them with `vault-tool escrow status` and `escrow check`');
      return;
    }
    r = rr.split;
    ctx.info(
      `rekey confirmed: the vault opens only with key id ${rr.rekey.newKeyId}; all earlier shares open only the old key${rr.rekey.oldKeyFile ? ` (${rr.rekey.oldKeyFile})` : ''}`,
    );
  } else {
    r = await lib.splitVaultKey(paths, so, { threshold: o.threshold, custodians, outDir, event });
  }
  const fp = lib.manifestKeyFingerprint(r.state.manifest.publicKey);
  if (o.ceremony) await ceremony(ctx, cmd, r);
  if (ctx.globals(cmd).json) {
    ctx.json({
      setId: r.state.setId,
      epoch: r.state.epoch,
      threshold: o.threshold,
      count,
      keyId: r.state.keyId,
      manifestKey: fp,
      manifest: r.manifestFile,
      selfTested: r.selfTested,
      subsets: r.subsets,
      keyFileExact: r.keyFileExact,
      files: r.files,
    });
  } else {
    ctx.out(table([['CUSTODIAN', 'SHARE FILE', 'SHEET'], ...r.files.map((f) => [f.custodian, f.share, f.sheet])]));
    ctx.out(`share set ${r.state.setId}, epoch ${r.state.epoch}: any ${o.threshold} of ${count} recover key id ${r.state.keyId}`);
    ctx.out(`manifest ${r.manifestFile}, signed by manifest key ${fp}`);
    ctx.info(`self-test: ${r.selfTested} of ${r.subsets} ${o.threshold}-share subsets recombined to key id ${r.state.keyId}`);
  }
  if (!r.keyFileExact)
    ctx.warn(
      'the key file is not as vault-tool writes it (made by another tool, or its comment lines edited): a key file rebuilt from these shares opens the same vault but is not the same file byte for byte',
    );
  if (reshare && !o.rekey) {
    ctx.warn(
      'shares of earlier sets still open the same vault key: to truly revoke a departed custodian, run `escrow reshare --rekey`, which replaces the vault key first',
    );
  }
}

/**
 * Answers from a prompt on a terminal; otherwise the question goes to stderr
 * and one line is read from stdin. `show` renders an answer as it is typed
 * (a share group, marked by its check character, so the custodian sees what
 * they type).
 */
async function answerSource(ctx: Context): Promise<(q: string, show?: (v: string) => string) => Promise<string>> {
  if (ctx.io.stdinIsTTY) {
    const { input } = await import('@inquirer/prompts');
    return (q, show) =>
      input({ message: q, ...(show ? { transformer: (v: string, { isFinal }: { isFinal: boolean }) => (isFinal ? '' : show(v)) } : {}) }, ctx.promptContext());
  }
  return (q) => ctx.readLine(q);
}

async function confirmCustodians(ctx: Context, custodians: Custodian[], threshold: number): Promise<void> {
  const ask = await answerSource(ctx);
  ctx.info(`ceremony: ${custodians.length} custodians, any ${threshold} recover the key:`);
  for (const c of custodians) ctx.info(`  - ${c.label}${c.recipient ? ` (share encrypted to ${c.recipient})` : ''}`);
  const yes = (await ask('Are these the custodians? (yes/no)')).trim().toLowerCase();
  if (yes !== 'yes' && yes !== 'y') throw new VaultError('usage', 'ceremony cancelled: custodians not confirmed');
}

async function ceremony(ctx: Context, cmd: Command, r: SplitResult): Promise<void> {
  const ask = await answerSource(ctx);
  const confirmed: { label: string; group: number }[] = [];
  for (const s of r.shares) {
    const f = r.files.find((x) => x.custodian === s.label)!;
    ctx.info('');
    ctx.info(`hand ${f.sheet} to ${s.label}${f.share.endsWith('.age') ? ` with ${f.share}` : ''}`);
    const groups = lib.shareGroups(s);
    const g = lib.receiptGroup(s, groups.length);
    for (let attempt = 1; attempt <= 3; attempt++) {
      const mark = (v: string) => {
        const t = v.trim().toUpperCase();
        return t.length < 5 ? t : `${t} ${lib.checkGroup(g, t) ? '✓' : '✗ mistyped'}`;
      };
      const typed = (await ask(`${s.label}: type group ${g + 1} of your share as proof of receipt`, mark)).trim().toUpperCase();
      if (typed === groups[g]) {
        confirmed.push({ label: s.label, group: g + 1 });
        ctx.info(`${s.label}: receipt confirmed`);
        break;
      }
      ctx.warn(`${s.label}: that is not group ${g + 1} of the share${attempt < 3 ? '; try again' : '; receipt not confirmed'}`);
    }
  }
  ctx.closeLines();
  const officer = ctx.io.env.USER ?? ctx.io.env.LOGNAME ?? 'unknown';
  await lib.recordCeremony(ctx.paths(cmd), ctx.storeOptions(cmd), r.state.setId, confirmed, officer, ctx.now());
  ctx.info(`ceremony recorded in the evidence log: ${confirmed.length} of ${r.shares.length} custodians confirmed receipt`);
  if (confirmed.length < r.shares.length) throw new VaultError('verify-failed', `${r.shares.length - confirmed.length} custodian(s) did not confirm receipt`);
}

interface CombineOptions {
  out: string;
  force?: boolean;
  identity?: string[];
  manifest?: string;
  passphrase?: boolean;
  skipVaultCheck?: boolean;
}

export default function escrow(cmd: Command, ctx: Context): void {
  const splitOptions = (c: Command) =>
    c
      .requiredOption('-k, --threshold <K>', 'shares needed to recover (2..255)', wholeNumber(2, 255))
      .option('-n, --shares <N>', 'number of shares (default: one per --custodian)', wholeNumber(2, 255))
      .option('-c, --custodian <NAME[=age1…]>', 'custodian, optionally with an age recipient to encrypt the share to (repeatable)', collect)
      .requiredOption('-o, --out <dir>', 'folder for the share files, sheets and manifest')
      .option('--ceremony', 'interactive ceremony: confirm custodians, and each types back a group of their share (answers from stdin when not a terminal)');
  splitOptions(cmd.command('split').description('split the vault key K-of-N; every K-subset is recombined and checked before success')).action(
    async (o: SplitOptions, sub: Command) => splitCommand(ctx, sub, o, false),
  );
  splitOptions(cmd.command('reshare').description('a new share set (new set id and epoch) of the vault key, e.g. when a custodian leaves'))
    .option('--rekey', 'replace the vault key first, so earlier shares are useless (the vault is re-encrypted)')
    .action(async (o: SplitOptions, sub: Command) => splitCommand(ctx, sub, o, true));

  cmd
    .command('combine [shares...]')
    .description('recover the vault key from K shares (files, or typed one at a time on a terminal) and write it as a key file')
    .requiredOption('-o, --out <file>', 'key file to write (mode 0600)')
    .option('--force', 'replace an existing key file (it is kept aside as <file>.replaced-<time>)')
    .option('-i, --identity <file>', 'age identity for shares encrypted to a custodian (repeatable)', collect)
    .option('-m, --manifest <file>', 'check every share against this signed manifest')
    .option('--passphrase', 'protect the key file with a passphrase (it is anyway when the vault key was, or the replaced file is)')
    .option('--skip-vault-check', 'write the key even if it does not open the vault (--vault-file)')
    .action(async (files: string[], o: CombineOptions, sub: Command) => {
      const m = o.manifest ? await readManifest(ctx, o.manifest) : undefined;
      const manifestKey = m ? lib.manifestKeyFingerprint(m.publicKey) : undefined;
      const shares = files.length ? await readShares(ctx, files, o.identity ?? [], m) : inManifest(await typedShareInputs(ctx), m);
      const out = ctx.outFile(o.out);
      const vaultFile = ctx.paths(sub).vaultFile;
      const r = await lib.recoverKeyFile(shares, out, {
        force: Boolean(o.force),
        vaultFile,
        skipVaultCheck: Boolean(o.skipVaultCheck),
        protect: Boolean(o.passphrase),
        getPassphrase: () => ctx.getPassphrase(sub, true),
        now: ctx.now(),
        record: { operator: ctx.io.env.USER ?? ctx.io.env.LOGNAME ?? 'unknown', ...(manifestKey ? { manifestKey } : {}) },
        store: ctx.storeOptions(sub),
      });
      if (ctx.globals(sub).json) {
        return ctx.json({
          keyId: r.key.keyId,
          out,
          setId: r.set.setId,
          epoch: r.set.epoch,
          used: r.used.map((s) => s.label),
          bad: r.bad.map((s) => ({ index: s.index, label: s.label })),
          setAside: r.setAside.map((a) => ({ name: a.name, why: a.kind, reason: a.reason })),
          exact: r.exact,
          manifestKey: manifestKey ?? null,
          protected: r.protected,
          vault: r.vault,
          keptAside: r.keptAside ?? null,
          evidence: r.evidence ?? null,
        });
      }
      if (manifestKey) ctx.info(`shares checked against the manifest signed by manifest key ${manifestKey} (it must match the custodians' sheets)`);
      for (const a of r.setAside) ctx.warn(`set aside: ${a.reason}`);
      ctx.out(
        `recovered key id ${r.key.keyId} from shares of ${r.used.map((s) => s.label).join(', ')} (set ${r.set.setId}); wrote ${o.out} (mode 0600${r.protected ? ', passphrase-protected' : ''})`,
      );
      if (r.keptAside) ctx.info(`the key file it replaced is kept as ${r.keptAside}`);
      if (!r.exact)
        ctx.info(
          `these shares do not carry the key file's creation time (shares made before share format 2): ${o.out} differs from the original file in its "# created:" line; escrow reshare makes shares that rebuild it byte for byte`,
        );
      if (r.vault === 'none') ctx.warn(`no vault at ${vaultFile} to check the key against (pass --vault-file)`);
      if (r.vault === 'other')
        ctx.warn(`key id ${r.key.keyId} does not open ${vaultFile}: the shares are from a split of an older key (it opens older copies of the vault)`);
      if (r.evidence?.recorded === 'vault') ctx.info(`recorded in the evidence log of ${r.evidence.vaultFile} (escrow.combine)`);
      else if (r.evidence)
        ctx.warn(
          `${r.evidence.why}: the record of this rebuild is kept in ${r.evidence.file}; the next command that writes a vault with --key-file ${o.out} carries it into that vault's evidence log`,
        );
    });

  cmd
    .command('check <share>')
    .description('check one share on its own: checksums, envelope, and its hash in the signed manifest')
    .option('-m, --manifest <file>', 'signed manifest (default: manifest.json beside the share)')
    .option('-i, --identity <file>', 'age identity for a share encrypted to a custodian (repeatable)', collect)
    .action(async (file: string, o: { manifest?: string; identity?: string[] }, sub: Command) => {
      const mPath = o.manifest ? ctx.abs(o.manifest) : join(dirname(ctx.abs(file)), 'manifest.json');
      const m = o.manifest || existsSync(mPath) ? await readManifest(ctx, mPath) : undefined;
      const manifestKey = m ? lib.manifestKeyFingerprint(m.publicKey) : null;
      const s = await readShare(ctx, file, o.identity ?? [], manifestKey ?? undefined);
      if (m) lib.checkShareInManifest(s, m);
      const info = {
        custodian: s.label,
        index: s.index,
        count: s.count,
        threshold: s.threshold,
        setId: s.setId,
        epoch: s.epoch,
        keyId: s.keyId,
        manifestKey,
        manifestChecked: manifestKey !== null,
      };
      if (ctx.globals(sub).json) return ctx.json(info);
      ctx.out(`share ${s.index} of ${s.count} (any ${s.threshold}) for ${s.label}: checksums and envelope valid`);
      ctx.out(`set ${s.setId}, epoch ${s.epoch}, vault key id ${s.keyId}`);
      if (manifestKey) ctx.out(`listed in the manifest signed by manifest key ${manifestKey} (it must match your sheet)`);
      else ctx.warn('no manifest found: only the checksums and envelope were checked (pass --manifest)');
    });

  cmd
    .command('status')
    .description('the current share set: custodians, threshold, epoch, date, receipts')
    .action(async (_o: unknown, sub: Command) => {
      const { doc } = await readVault(ctx.paths(sub), ctx.storeOptions(sub));
      const e = lib.escrowOf(doc);
      const cur = e.current;
      const stale = Boolean(cur && cur.keyId !== doc.key.keyId);
      if (ctx.globals(sub).json) {
        return ctx.json(
          cur
            ? {
                setId: cur.setId,
                epoch: cur.epoch,
                threshold: cur.threshold,
                count: cur.count,
                keyId: cur.keyId,
                createdAt: cur.createdAt,
                manifestKey: lib.manifestKeyFingerprint(cur.manifest.publicKey),
                custodians: cur.custodians,
                previousSets: e.history.length,
                keyMatchesVault: !stale,
              }
            : null,
        );
      }
      if (!cur) {
        ctx.out('the vault key has not been split yet');
        ctx.info('run: vault-tool escrow split --threshold K --custodian NAME … --out DIR');
        return;
      }
      ctx.out(`share set ${cur.setId}, epoch ${cur.epoch}, split ${cur.createdAt}: any ${cur.threshold} of ${cur.count} recover key id ${cur.keyId}`);
      ctx.out(
        table([
          ['#', 'CUSTODIAN', 'ENCRYPTED TO', 'RECEIPT'],
          ...cur.custodians.map((c) => [String(c.index), c.label, c.recipient ?? '-', c.receiptConfirmedAt ?? 'not confirmed']),
        ]),
      );
      if (e.history.length)
        ctx.info(`${e.history.length} earlier set(s); their shares open key id(s) ${[...new Set(e.history.map((h) => h.keyId))].join(', ')}`);
      if (stale) ctx.warn(`the current shares open key id ${cur.keyId}, but the vault key is now ${doc.key.keyId}: split the new key`);
    });
}
