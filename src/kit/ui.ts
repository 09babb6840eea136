import { toHex, utf8 } from '../age/bytes.js';
import type { Share } from '../escrow/envelope.js';
import { typingStatus } from '../escrow/text.js';
import { groupSets, type CombineResult } from '../escrow/combine.js';
import { COMBINE_EVENT, combineRecord } from '../escrow/combine-record.js';
import type { VaultMeta } from '../vault/meta.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { parseIdentity, type Identity } from './age.js';
import {
  keyFileText,
  openAgeFile,
  openKeyFile,
  openVault,
  protectedKeyFile,
  readShare,
  recoverKey,
  vaultKeyIds,
  type KitKey,
  type OpenedVault,
} from './recover.js';
import { startScanner, scannerAvailable } from './scan.js';
import { $, download, fileBytes, message, setText } from './dom.js';
import { renderEntries } from './entries.js';
import { checkNew, renderSets } from './share-sets.js';

declare const KIT_VERSION: string;

interface State {
  shares: Share[];
  key?: KitKey;
  /** The chosen secrets.vault: its header is read at once (which key it needs), the rest once there is a key. */
  vaultFile?: { name: string; bytes: Uint8Array };
  vaultMeta?: VaultMeta;
  vault?: OpenedVault;
  /** How the key was rebuilt from shares (for the record of the rebuild); none when a key file was opened. */
  rebuilt?: Pick<CombineResult, 'set' | 'used' | 'setAside'>;
  /** Whether the last vault.key downloaded was passphrase-protected. */
  downloadedProtected?: boolean;
  ageOut?: { name: string; bytes: Uint8Array };
}
const state: State = { shares: [] };

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
  const r = renderSets($('share-list'), state.shares, {
    ...(state.vaultMeta ? { vaultKeyIds: state.vaultMeta.keyIds } : {}),
    onRemove: (s) => {
      state.shares = state.shares.filter((x) => x !== s);
      renderShares();
    },
    onRebuildSet: (set) => void rebuild(set.shares),
  });
  setText('share-summary', r.summary);
  $<HTMLButtonElement>('rebuild').disabled = !r.ready;
}

function addShare(s: Share) {
  checkNew(state.shares, s);
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

async function rebuild(shares = state.shares) {
  setText('rebuild-error', '');
  try {
    const r = await recoverKey(shares, new Date());
    const bad = r.setAside.map((a) => a.reason).join('\n');
    showKey(r.key, `shares of ${r.used.map((s) => s.label).join(', ')} (set ${r.set.setId})`, bad);
    state.rebuilt = { set: r.set, used: r.used, setAside: r.setAside };
    $('key-record').hidden = false;
    setText(
      'key-exact',
      r.keyCreatedAt
        ? "The shares carry the key file's creation time: the downloaded plain vault.key is the original file byte for byte (sha256sum gives the same)."
        : 'These shares (made before share format 2) do not carry the key file\'s creation time: the downloaded vault.key differs from the original in its "# created:" line only.',
    );
  } catch (e) {
    setText('rebuild-error', message(e));
  }
}

// ---- key ----------------------------------------------------------------

function showKey(key: KitKey, source: string, warning = '') {
  state.key = key;
  delete state.rebuilt;
  delete state.downloadedProtected;
  $('key-record').hidden = true;
  setText('key-exact', '');
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
  if (state.vaultFile) void openChosenVault();
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
  state.downloadedProtected = Boolean(pass);
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

/** The `escrow.combine` record of a rebuild from shares, as `escrow combine` keeps it beside a key file no vault could record. */
function downloadRecord() {
  setText('record-error', '');
  const operator = $<HTMLInputElement>('record-operator').value.trim();
  if (!operator) return setText('record-error', 'say who rebuilt the key');
  if (!state.key || !state.rebuilt) return;
  const opened = Boolean(state.vault);
  const other = !opened && state.vaultMeta && !state.vaultMeta.keyIds.includes(state.key.keyId);
  const data = combineRecord(state.rebuilt, {
    keyId: state.key.keyId,
    keyFile: null,
    replaced: null,
    protected: Boolean(state.downloadedProtected),
    operator,
    host: 'a browser',
    manifestKey: null,
    vaultFile: state.vaultFile && (opened || other) ? state.vaultFile.name : null,
    vault: opened ? 'opens' : other ? 'other' : 'none',
    via: `recovery kit ${KIT_VERSION}`,
  });
  download('vault.key.evidence-pending.jsonl', JSON.stringify({ event: COMBINE_EVENT, at: new Date().toISOString(), data }) + '\n', 'application/json');
}

// ---- vault --------------------------------------------------------------

async function chooseVault() {
  setText('vault-error', '');
  setText('vault-needs', '');
  delete state.vaultMeta;
  const f = await fileBytes($<HTMLInputElement>('vault-file'));
  if (!f) return;
  state.vaultFile = f;
  try {
    state.vaultMeta = vaultKeyIds(f.bytes);
  } catch (e) {
    renderShares();
    return setText('vault-error', message(e));
  }
  const ids = state.vaultMeta.keyIds;
  const have = groupSets(state.shares).filter((x) => ids.includes(x.keyId));
  setText(
    'vault-needs',
    `${f.name} opens with key id ${ids.join(' or ')}: it needs the shares of a set of ${ids.length > 1 ? 'one of these keys' : 'that key'}${have.length ? ` (set ${have.map((x) => x.setId).join(', ')} among the shares given)` : ''}.`,
  );
  renderShares();
  if (state.key) await openChosenVault();
}

async function openChosenVault() {
  setText('vault-error', '');
  $('vault-summary').replaceChildren();
  $('entries').hidden = true;
  $('value').hidden = true;
  const f = state.vaultFile;
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
  renderEntries($('entries').querySelector('tbody')!, doc);
  $('entries').hidden = false;
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
  delete state.vaultFile;
  delete state.vaultMeta;
  delete state.rebuilt;
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
  $('download-record').addEventListener('click', downloadRecord);
  $('vault-file').addEventListener('change', () => void chooseVault());
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
