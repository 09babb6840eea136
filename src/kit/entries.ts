/// <reference lib="dom" />
/**
 * The vault's entries as `list` shows them, each with the versions it keeps:
 * Reveal, Copy and Download act on the version chosen (the current one by
 * default; an older backup needs the value it was made with).
 */
import type { VaultDocument } from '../vault/payload.js';
import { $, download, setText } from './dom.js';
import { entryRows, entryValue, showValue } from './recover.js';

export function renderEntries(body: HTMLElement, doc: VaultDocument): void {
  body.replaceChildren(
    ...entryRows(doc).map((r) => {
      const tr = document.createElement('tr');
      tr.dataset.entry = r.name;
      if (r.removed) tr.className = 'removed';
      const cells = [r.name + (r.removed ? ' (removed)' : ''), r.type, String(r.version), r.fingerprint, r.updatedAt.slice(0, 19) + 'Z'];
      const tds = cells.map((c) => {
        const td = document.createElement('td');
        td.textContent = c;
        tr.append(td);
        return td;
      });
      const td = document.createElement('td');
      // Older versions too: a backup made before a rotation needs the value it was made with.
      const pick = document.createElement('select');
      pick.dataset.version = '';
      pick.setAttribute('aria-label', `version of ${r.name}`);
      for (const v of r.history) {
        const o = document.createElement('option');
        o.value = String(v.version);
        o.textContent = `version ${v.version}${v.version === r.version ? ' (current)' : ` of ${v.createdAt.slice(0, 10)}`}`;
        pick.append(o);
      }
      pick.disabled = r.history.length < 2;
      pick.addEventListener('change', () => {
        const v = r.history.find((x) => String(x.version) === pick.value)!;
        tds[2]!.textContent = String(v.version) + (v.version === r.version ? '' : ` (current: ${r.version})`);
        tds[3]!.textContent = v.fingerprint;
      });
      td.append(pick);
      const chosen = () => Number(pick.value);
      for (const [label, act] of [
        ['Reveal', reveal],
        ['Copy', copy],
        ['Download', save],
      ] as const) {
        const b = document.createElement('button');
        b.type = 'button';
        b.textContent = label;
        b.dataset.action = label.toLowerCase();
        b.addEventListener('click', () => act(doc, r.name, chosen()));
        td.append(b);
      }
      tr.append(td);
      return tr;
    }),
  );
}

const fileNameOf = (name: string) => name.replace(/[^A-Za-z0-9._-]+/g, '_');

function reveal(doc: VaultDocument, name: string, which?: number) {
  const { entry, version, value } = entryValue(doc, name, which);
  const v = showValue(value);
  const current = entry.versions[entry.versions.length - 1]!.version;
  const older = version === current ? '' : `, an older version: the current one is ${current}`;
  setText('value-title', `${name} (version ${version}${older}${v.encoding === 'base64' ? ', shown as base64' : ''})`);
  setText('value-text', v.text);
  $('value').hidden = false;
}

async function copy(doc: VaultDocument, name: string, which?: number) {
  const { value } = entryValue(doc, name, which);
  try {
    await navigator.clipboard.writeText(showValue(value).text);
    setText('vault-error', '');
  } catch {
    setText('vault-error', 'this browser does not allow copying here: use Reveal or Download');
  }
}

function save(doc: VaultDocument, name: string, which?: number) {
  const { version, value } = entryValue(doc, name, which);
  download(`${fileNameOf(name)}@${version}`, value);
}
