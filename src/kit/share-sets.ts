/// <reference lib="dom" />
/**
 * The shares the kit holds, shown by the set each belongs to: how many each
 * set has of the K it needs, which set the chosen vault needs (its key id),
 * and a way to rebuild from one set when several have enough. Shares of any
 * set may be added in any order: a share of another set typed first no
 * longer blocks the right ones.
 */
import { groupSets, nameOf, sameShare, type ShareSet } from '../escrow/combine.js';
import type { Share } from '../escrow/envelope.js';
import { VaultError } from '../errors/errors.js';

export interface SetsView {
  /** The vault's key ids, once a vault file is chosen (read from its header: no key needed). */
  vaultKeyIds?: string[];
  onRemove: (s: Share) => void;
  onRebuildSet: (set: ShareSet) => void;
}

/** Refuses the same share twice (the same envelope, byte for byte); shares of other sets are welcome. */
export function checkNew(shares: Share[], s: Share): void {
  if (shares.some((x) => sameShare(x, s))) throw new VaultError('bad-share', `${nameOf(s)} of set ${s.setId} was already added`);
}

const el = <K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, cls?: string): HTMLElementTagNameMap[K] => {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
};

function vaultNote(set: ShareSet, ids: string[] | undefined): string {
  if (!ids) return '';
  return ids.includes(set.keyId) ? ' The chosen vault opens with this key.' : ' The chosen vault does not open with this key (an older or other key).';
}

/** Renders the share sets into `list`; returns the summary line and whether a rebuild can be tried. */
export function renderSets(list: HTMLElement, shares: Share[], view: SetsView): { summary: string; ready: boolean } {
  const sets = groupSets(shares);
  list.replaceChildren(
    ...sets.map((set) => {
      const box = el('div', undefined, 'set');
      box.dataset.set = set.setId;
      const enough = set.have >= set.threshold;
      const head = el(
        'p',
        `Set ${set.setId} (epoch ${set.epoch}, key id ${set.keyId}): ${set.have} of the ${set.threshold} shares needed${enough ? ', enough' : `, ${set.threshold - set.have} more needed`}.${vaultNote(set, view.vaultKeyIds)}`,
        'set-head',
      );
      if (view.vaultKeyIds?.includes(set.keyId)) head.classList.add('needed');
      box.append(head);
      const ul = el('ul');
      for (const s of set.shares) {
        const li = el(
          'li',
          `${nameOf(s)}: share ${s.index} of ${s.count}, any ${s.threshold} recover the key; set ${s.setId}, epoch ${s.epoch}, key id ${s.keyId} `,
        );
        const rm = el('button', 'Remove');
        rm.type = 'button';
        rm.addEventListener('click', () => view.onRemove(s));
        li.append(rm);
        ul.append(li);
      }
      box.append(ul);
      if (enough && sets.length > 1) {
        const b = el('button', 'Rebuild from this set');
        b.type = 'button';
        b.dataset.rebuildSet = set.setId;
        b.addEventListener('click', () => view.onRebuildSet(set));
        box.append(b);
      }
      return box;
    }),
  );
  return summarize(sets, view.vaultKeyIds);
}

function summarize(sets: ShareSet[], ids: string[] | undefined): { summary: string; ready: boolean } {
  const needed = ids ? ` The chosen vault needs a set of key id ${ids.join(' or ')}.` : '';
  if (!sets.length) return { summary: `No shares yet.${needed}`, ready: false };
  const complete = sets.filter((s) => s.have >= s.threshold);
  if (sets.length === 1) {
    const s = sets[0]!;
    const summary = complete.length
      ? `${s.shares.length} shares of set ${s.setId}: enough to rebuild the key (${s.threshold} needed).`
      : `${s.have} of the ${s.threshold} shares needed: ${s.threshold - s.have} more needed.`;
    return { summary: summary + needed, ready: complete.length > 0 };
  }
  if (complete.length === 1)
    return {
      summary: `Shares of ${sets.length} sets: set ${complete[0]!.setId} has enough (${complete[0]!.threshold} needed); the shares of the other sets are set aside.${needed}`,
      ready: true,
    };
  if (complete.length > 1)
    return {
      summary: `Shares of ${sets.length} sets, and ${complete.length} of them have enough: choose the set to rebuild from (Rebuild from this set).${needed}`,
      ready: true,
    };
  return {
    summary: `Shares of ${sets.length} sets, none with enough yet: ${sets.map((s) => `set ${s.setId} needs ${s.threshold - s.have} more`).join(', ')}.${needed}`,
    ready: false,
  };
}
