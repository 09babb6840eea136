import { VaultError } from '../errors/errors.js';
import { writeOutput } from '../fs/output.js';
import { keyFromScalar } from '../vault/keyfile.js';
import { peekVault } from '../vault/container.js';
import { checkWritable, keyFileBytes, readVault, readVaultFile } from '../vault/store.js';
import { escrowOf, idOfSecret } from '../escrow/escrow.js';
import { combineShares } from '../escrow/shares.js';
import { runVerification } from '../verify/verify.js';
import { fail, type Step } from './steps.js';

/** From the custodians' shares to the vault key, in memory (written to a file only when asked, by the run). */
export const combineStep: Step = {
  name: 'combine the shares',
  essential: true,
  async plan(s) {
    const { input } = s;
    if (!input.shares.length)
      throw fail('no shares: the plan names no share files and none were typed', 'list the share files under shares.files, or set shares.prompt: true');
    const ids = peekVault(readVaultFile(input.paths.vaultFile)).keyIds;
    let r: Awaited<ReturnType<typeof combineShares>>;
    try {
      r = await combineShares(input.shares, idOfSecret);
    } catch (e) {
      const err = e as VaultError;
      throw fail(err.message, err.hint ?? 'bring the number of custodians the message names, each with their own share');
    }
    s.custodians = r.used.map((x) => x.label);
    s.shareSet = { setId: r.used[0]!.setId, epoch: r.used[0]!.epoch };
    const key = keyFromScalar(r.secret, r.keyCreatedAt ?? input.now().toISOString());
    r.secret.fill(0);
    if (!ids.includes(key.keyId))
      throw fail(
        `the shares of ${s.custodians.join(', ')} recover key id ${key.keyId}, but ${input.paths.vaultFile} opens with ${ids.join(', ')}: they are from an older split`,
        'use the current share set (escrow status names it)',
      );
    s.key = key;
    const badNote = r.setAside.length ? `; set aside: ${r.setAside.map((a) => a.reason).join('; ')}` : '';
    const message = `the shares of ${s.custodians.join(', ')} recover the vault key (key id ${key.keyId}), kept in memory${badNote}`;
    const out = input.writeKey;
    if (!out) return { message };
    return {
      message: `${message}; it will be written to ${out}`,
      run: async () => {
        writeOutput(out, keyFileBytes(key), 'key');
        return `${message}; written to ${out}`;
      },
    };
  },
};

export const openStep: Step = {
  name: 'open the vault with the recovered key',
  essential: true,
  async plan(s) {
    const o = await readVault(s.input.paths, s.store());
    // The drill records itself in this vault's evidence log: a copy that write would refuse fails here, in the dry run too, not after the restores.
    await checkWritable(s.input.paths, o, s.store()).catch((e: VaultError) => {
      throw new VaultError(
        e.kind,
        `the drill records itself in this vault's evidence log, which is refused: ${e.message.replace(/^refusing to write: /, '')}`,
        {
          ...(e.code ? { code: e.code } : {}),
          ...(e.data ? { data: e.data } : {}),
        },
      );
    });
    s.doc = o.doc;
    s.meta = { vaultId: o.meta.vaultId, generation: o.meta.generation };
    // Shares of a set split since (escrow reshare without --rekey) still open the key: the drill would pass without rehearsing the custodians' shares.
    const current = escrowOf(o.doc).current;
    if (current && s.shareSet && current.setId !== s.shareSet.setId)
      throw fail(
        `the shares of ${s.custodians.join(', ')} are of share set ${s.shareSet.setId} (epoch ${s.shareSet.epoch}), and the vault's current set is ${current.setId} (epoch ${current.epoch}: ${current.custodians.map((c) => c.label).join(', ')}): they still open the key, but the drill rehearses the current shares`,
        'name the current share files under shares.files (escrow status names the set and its custodians)',
      );
    return { message: `opened ${s.input.paths.vaultFile}: generation ${o.meta.generation}, ${o.doc.entries.length} entries` };
  },
};

/** The quarterly verification's checks of the vault itself (entries, evidence log, canaries), read-only. */
export const verifyStep: Step = {
  name: 'verify the vault',
  async plan(s) {
    const { input } = s;
    const v = await runVerification({
      paths: input.paths,
      store: s.store(),
      plan: { interval: { months: 3, text: 'quarterly' }, against: [], copies: [] },
      registeredCopies: false,
      dest: { env: input.env },
      sources: { env: input.env },
      operator: input.operator,
      now: input.now(),
    });
    const bad = v.checks.filter((c) => !c.ok);
    if (bad.length)
      throw fail(
        `${bad.length} of ${v.checks.length} checks failed: ${bad
          .slice(0, 3)
          .map((c) => `${c.area}: ${c.message}`)
          .join('; ')}`,
        'run vault-tool verify with this vault and key for the details',
      );
    return { message: `${v.checks.length} checks passed (entries, evidence log, canaries)` };
  },
};
