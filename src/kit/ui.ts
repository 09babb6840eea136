/// <reference lib="dom" />
/**
 * The recovery kit's page: wires the DOM to recover.ts. Everything stays in
 * this tab's memory; nothing is stored and nothing is sent (the page's
 * Content-Security-Policy forbids every connection).
 */
import { VaultError } from '../errors/errors.js';
import { toHex, utf8 } from '../age/bytes.js';
import { checkSet, nameOf } from '../escrow/combine.js';
import type { Share } from '../escrow/envelope.js';
import { typingStatus } from '../escrow/text.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { parseIdentity, type Identity } from './age.js';
import {
  entryRows,
  entryValue,
  keyFileText,
  openAgeFile,
  openKeyFile,
  openVault,
  protectedKeyFile,
  readShare,
  recoverKey,
  showValue,
  type KitKey,
  type OpenedVault,
} from './recover.js';
import { startScanner, scannerAvailable } from './scan.js';

declare const KIT_VERSION: string;

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page element #${id} is missing`);
  return el as T;
};

interface State {
  shares: Share[];
  key?: KitKey;
  vault?: OpenedVault;
  ageOut?: { name: string; bytes: Uint8Array };
}
const state: State = { shares: [] };

const message = (e: unknown) =>
  e instanceof VaultError ? e.message + (e.hint ? `\nhint: ${e.hint}` : '') : e instanceof Error ? `unexpected error: ${e.message}` : String(e);
const setText = (id: string, text: string) => {
  $(id).textContent = text;
};

async function fileBytes(input: HTMLInputElement, index = 0): Promise<{ name: string; bytes: Uint8Array } | null> {
  const f = input.files?.[index];
  return f ? { name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) } : null;
}

function download(name: string, bytes: Uint8Array | string, type = 'application/octet-stream') {
  const blob = new Blob([typeof bytes === 'string' ? bytes : (bytes as Uint8Array<ArrayBuffer>)], { type });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// ---- shares -------------------------------------------------------------

function renderTyping() {
  const text = $<HTMLTextAreaElement>('share-input').value;
  const st = typingStatus(text);
  const box = $('share-typing');
  box.replaceChildren(
    ...st.groups.map((g) => {
      const span = document.createElement('span');
      span.className = g.state;
      span.dataset.group = String(g.n);
      const n = document.createElement('span');
      n.className = 'n';
      n.textContent = String(g.n);
      span.append(n, g.text);
      return span;
    }),
  );
  const typo = st.groups.find((g) => g.state === 'typo');
  const done = st.groups.filter((g) => g.state === 'ok').length;
  const note =
    typo?.message ??
    (st.expected
      ? `${done} of ${st.expected} groups typed and checked`
      : text.trim() && !st.prefix && text.trim().length > 3
        ? 'a share starts with VT1-'
        : '');
  setText('share-typing-note', note);
  $('share-typing-note').className = typo ? 'error' : 'note';
}

function renderShares() {
  const list = $('share-list');
  list.replaceChildren(
    ...state.shares.map((s, i) => {
      const li = document.createElement('li');
      li.textContent = `${nameOf(s)}: share ${s.index} of ${s.count}, any ${s.threshold} recover the key; set ${s.setId}, epoch ${s.epoch}, key id ${s.keyId} `;
      const rm = document.createElement('button');
      rm.type = 'button';
      rm.textContent = 'Remove';
      rm.addEventListener('click', () => {
        state.shares.splice(i, 1);
        renderShares();
      });
      li.append(rm);
      return li;
    }),
  );
  const first = state.shares[0];
  const k = first?.threshold ?? 0;
  setText(
    'share-summary',
    !first
      ? 'No shares yet.'
      : state.shares.length >= k
        ? `${state.shares.length} shares of set ${first.setId}: enough to rebuild the key (${k} needed).`
        : `${state.shares.length} of the ${k} shares needed: ${k - state.shares.length} more needed.`,
  );
  $<HTMLButtonElement>('rebuild').disabled = !first || state.shares.length < k;
}

function addShare(s: Share) {
  checkSet([...state.shares, s]);
  state.shares.push(s);
  renderShares();
}

async function addTypedShare() {
  setText('share-error', '');
  const input = $<HTMLTextAreaElement>('share-input');
  try {
    addShare(await readShare(utf8(input.value), 'the typed share'));
    input.value = '';
    renderTyping();
  } catch (e) {
    setText('share-error', message(e));
  }
}

function shareIdentities(): Identity[] {
  const out: Identity[] = [];
  for (const line of $<HTMLTextAreaElement>('share-identity').value.split(/\r?\n/)) {
    const t = line.trim();
    if (t.startsWith('AGE-SECRET-KEY-1')) out.push(parseIdentity(t));
  }
  return out;
}

async function addShareFiles() {
  setText('share-error', '');
  const input = $<HTMLInputElement>('share-files');
  const errors: string[] = [];
  for (let i = 0; i < (input.files?.length ?? 0); i++) {
    const f = (await fileBytes(input, i))!;
    try {
      addShare(await readShare(f.bytes, f.name, shareIdentities()));
    } catch (e) {
      errors.push(message(e));
    }
  }
  input.value = '';
  setText('share-error', errors.join('\n'));
}

async function rebuild() {
  setText('rebuild-error', '');
  try {
    const r = await recoverKey(state.shares, new Date());
    const bad = r.reasons.join('\n');
    showKey(r.key, `shares of ${r.used.map((s) => s.label).join(', ')}`, bad);
  } catch (e) {
    setText('rebuild-error', message(e));
  }
}

// ---- key ----------------------------------------------------------------

function showKey(key: KitKey, source: string, warning = '') {
  state.key = key;
  state.vault = undefined;
  setText('key-protect-note', '');
  setText('key-id', key.keyId);
  setText('key-recipient', key.recipient);
  setText('key-source', source);
  setText('key-bad', warning);
  $('key').hidden = false;
  $('vault').hidden = false;
  $('agefile').hidden = false;
  $('key').scrollIntoView?.();
}

async function openKey() {
  setText('key-error', '');
  const f = await fileBytes($<HTMLInputElement>('key-file'));
  if (!f) return setText('key-error', 'choose a key file first');
  const pass = $<HTMLInputElement>('key-passphrase').value;
  try {
    const k = await openKeyFile(f.bytes, pass ? utf8(pass) : undefined, (p) =>
      setText('key-progress', `deriving the key from the passphrase: ${Math.round(p * 100)}%`),
    );
    setText('key-progress', '');
    showKey(k, `${f.name}${k.protected ? ' (passphrase-protected)' : ''}`);
  } catch (e) {
    setText('key-progress', '');
    setText('key-error', message(e));
  }
}

async function downloadKey() {
  setText('download-error', '');
  const key = state.key;
  if (!key) return;
  const pass = $<HTMLInputElement>('key-protect').value;
  if (pass !== $<HTMLInputElement>('key-protect-again').value) return setText('download-error', 'the two passphrases differ: type them again');
  if (!pass) return download('vault.key', keyFileText(key), 'text/plain');
  try {
    const text = await protectedKeyFile(key, utf8(pass), (p) =>
      setText('download-progress', `protecting the key with the passphrase: ${Math.round(p * 100)}%`),
    );
    setText('download-progress', 'vault.key is protected with the passphrase');
    download('vault.key', text, 'text/plain');
  } catch (e) {
    setText('download-progress', '');
    setText('download-error', message(e));
  }
}

// ---- vault --------------------------------------------------------------

async function openVaultFile() {
  setText('vault-error', '');
  $('vault-summary').replaceChildren();
  $('entries').hidden = true;
  $('value').hidden = true;
  const f = await fileBytes($<HTMLInputElement>('vault-file'));
  if (!f || !state.key) return;
  try {
    state.vault = await openVault(f.bytes, state.key);
  } catch (e) {
    state.vault = undefined;
    return setText('vault-error', message(e));
  }
  const { doc, meta, checked } = state.vault;
  const recorded = doc.key.keyId === state.key.keyId ? doc.key.protected : doc.pendingKey?.keyId === state.key.keyId ? doc.pendingKey.protected : undefined;
  setText('key-protect-note', recorded ? 'this vault records that its key file was passphrase-protected: protect the download too' : '');
  const p = document.createElement('p');
  p.id = 'vault-verified';
  p.textContent = `${f.name} verified: vault ${meta.vaultId}, generation ${meta.generation}, opens with key id${meta.keyIds.length > 1 ? 's' : ''} ${meta.keyIds.join(', ')}; header MAC, every payload chunk, header and payload agreeing, and ${checked} value fingerprint${checked === 1 ? '' : 's'} checked. ${doc.entries.length} entr${doc.entries.length === 1 ? 'y' : 'ies'}; sha256 of the file ${toHex(sha256(f.bytes))}.`;
  $('vault-summary').append(p);
  const body = $('entries').querySelector('tbody')!;
  body.replaceChildren(
    ...entryRows(doc).map((r) => {
      const tr = document.createElement('tr');
      tr.dataset.entry = r.name;
      if (r.removed) tr.className = 'removed';
      const cells = [r.name + (r.removed ? ' (removed)' : ''), r.type, String(r.version), r.fingerprint, r.updatedAt.slice(0, 19) + 'Z'];
      for (const c of cells) {
        const td = document.createElement('td');
        td.textContent = c;
        tr.append(td);
      }
      const td = document.createElement('td');
      for (const [label, act] of [
        ['Reveal', reveal],
        ['Copy', copy],
        ['Download', save],
      ] as const) {
        const b = document.createElement('button');
        b.type = 'button';
        b.textContent = label;
        b.dataset.action = label.toLowerCase();
        b.addEventListener('click', () => act(r.name));
        td.append(b);
      }
      tr.append(td);
      return tr;
    }),
  );
  $('entries').hidden = false;
}

const fileNameOf = (name: string) => name.replace(/[^A-Za-z0-9._-]+/g, '_');

function reveal(name: string) {
  const { version, value } = entryValue(state.vault!.doc, name);
  const v = showValue(value);
  setText('value-title', `${name} (version ${version}${v.encoding === 'base64' ? ', shown as base64' : ''})`);
  setText('value-text', v.text);
  $('value').hidden = false;
}

async function copy(name: string) {
  const { value } = entryValue(state.vault!.doc, name);
  try {
    await navigator.clipboard.writeText(showValue(value).text);
    setText('vault-error', '');
  } catch {
    setText('vault-error', 'this browser does not allow copying here: use Reveal or Download');
  }
}

function save(name: string) {
  const { version, value } = entryValue(state.vault!.doc, name);
  download(`${fileNameOf(name)}@${version}`, value);
}

// ---- other age files ----------------------------------------------------

async function openOtherAge() {
  setText('age-error', '');
  setText('age-result', '');
  $('age-download').hidden = true;
  const f = await fileBytes($<HTMLInputElement>('age-file'));
  if (!f || !state.key) return;
  try {
    const r = await openAgeFile(f.bytes, state.key, state.vault?.doc);
    state.ageOut = { name: f.name.replace(/\.age$/, '') === f.name ? `${f.name}.decrypted` : f.name.replace(/\.age$/, ''), bytes: r.plaintext };
    setText('age-result', `${f.name} opened with ${r.openedWith}: ${r.plaintext.length} bytes, sha256 ${toHex(sha256(r.plaintext))}`);
    $('age-download').hidden = false;
  } catch (e) {
    setText('age-error', message(e));
  }
}

// ---- QR codes -----------------------------------------------------------

async function scan() {
  setText('share-error', '');
  const video = $<HTMLVideoElement>('scanner-video');
  $('scanner').hidden = false;
  try {
    const text = await startScanner(video, () => $('scanner').hidden);
    if (text) {
      $<HTMLTextAreaElement>('share-input').value = text;
      renderTyping();
      await addTypedShare();
    }
  } catch (e) {
    setText('share-error', message(e));
  } finally {
    $('scanner').hidden = true;
  }
}

// ---- forgetting ---------------------------------------------------------

function forget() {
  state.key?.identity.scalar.fill(0);
  state.shares.forEach((s) => s.share.fill(0));
  state.shares = [];
  delete state.key;
  delete state.vault;
  delete state.ageOut;
  location.reload();
}

function start() {
  $('script-status').remove();
  document.title = `vault-tool recovery kit ${KIT_VERSION}`;
  $('share-input').addEventListener('input', renderTyping);
  $('add-share').addEventListener('click', () => void addTypedShare());
  $('share-files').addEventListener('change', () => void addShareFiles());
  $('share-identity-file').addEventListener('change', async () => {
    const f = await fileBytes($<HTMLInputElement>('share-identity-file'));
    if (f) $<HTMLTextAreaElement>('share-identity').value = new TextDecoder().decode(f.bytes);
  });
  $('rebuild').addEventListener('click', () => void rebuild());
  $('open-key').addEventListener('click', () => void openKey());
  $('download-key').addEventListener('click', () => void downloadKey());
  $('vault-file').addEventListener('change', () => void openVaultFile());
  $('value-hide').addEventListener('click', () => {
    setText('value-text', '');
    $('value').hidden = true;
  });
  $('age-file').addEventListener('change', () => void openOtherAge());
  $('age-download').addEventListener('click', () => state.ageOut && download(state.ageOut.name, state.ageOut.bytes));
  $('forget').addEventListener('click', forget);
  if (scannerAvailable()) {
    $('scan-qr').hidden = false;
    $('scan-qr').addEventListener('click', () => void scan());
    $('scan-stop').addEventListener('click', () => {
      $('scanner').hidden = true;
    });
  }
  renderShares();
}

start();
