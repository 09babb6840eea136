import encodeQR from '@paulmillr/qr';
import type { Share } from './envelope.js';
import { shareGroups, shareToText } from './files.js';
import { kitSha256 } from './kit-file.js';

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export interface SheetInput {
  share: Share;
  manifestKey: string;
  createdAt: string;
  /** When set, the share itself is in an age file for this recipient and is not printed. */
  encryptedTo?: string;
  fileName: string;
  /** SHA-256 of the recovery kit this vault-tool writes (default: the one it ships; null: none). */
  kitSha256?: string | null;
}

/** A printable share sheet (one A4/Letter page): who, which set, K-of-N, the share as text and QR, and what to do. */
export function renderSheet(i: SheetInput): string {
  const s = i.share;
  const kit = i.kitSha256 === undefined ? kitSha256() : i.kitSha256;
  const groups = shareGroups(s);
  const rows: string[] = [];
  for (let g = 0; g < groups.length; g += 4) {
    rows.push(
      `<tr>${groups
        .slice(g, g + 4)
        .map((t, j) => `<td><span class="n">${g + j + 1}</span>${t}</td>`)
        .join('')}</tr>`,
    );
  }
  const body = i.encryptedTo
    ? `<section class="enc"><h2>Your share is encrypted to your age key</h2>
<p>File <code>${esc(i.fileName)}</code> is encrypted to <code>${esc(i.encryptedTo)}</code>. It is not printed here.</p>
<p>To read it: <code>age -d -i YOUR-KEY-FILE ${esc(i.fileName)}</code></p></section>`
    : `<section class="share"><h2>Your share</h2>
<div class="qr">${encodeQR(shareToText(s), 'svg', { ecc: 'medium', border: 2 })}</div>
<table class="groups">${rows.join('\n')}</table>
<p class="small">Each group of five characters carries its own check character: a mistyped group is named at once.</p></section>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vault-tool share ${s.index} of ${s.count}: ${esc(s.label)}</title>
<style>
@page { size: A4; margin: 16mm; }
body { font-family: "DejaVu Sans", Arial, sans-serif; color: #000; background: #fff; max-width: 178mm; margin: 0 auto; }
@media screen { body { margin: 16mm auto; padding: 0 4mm; } }
h1 { font-size: 18pt; margin: 0 0 3mm; overflow-wrap: anywhere; } dd, li { overflow-wrap: anywhere; } h2 { font-size: 13pt; margin: 6mm 0 2mm; }
dl { display: grid; grid-template-columns: 45mm 1fr; gap: 1mm 4mm; margin: 0; } dt { font-weight: bold; } dd { margin: 0; font-family: "DejaVu Sans Mono", monospace; }
.qr svg { width: 60mm; height: 60mm; } .qr { float: right; margin: 0 0 4mm 4mm; }
table.groups { border-collapse: collapse; font-family: "DejaVu Sans Mono", monospace; font-size: 13pt; }
table.groups td { padding: 0.8mm 2.5mm; border: 0.3mm solid #888; } .n { font-size: 7pt; color: #555; vertical-align: super; margin-right: 1mm; }
.small { font-size: 9pt; } .kit code { font-size: 8.5pt; word-break: break-all; } ol { padding-left: 6mm; } .share, .enc { clear: both; }
</style></head>
<body>
<h1>Escrow share for ${esc(s.label)}</h1>
<dl>
<dt>Custodian</dt><dd>${esc(s.label)}</dd>
<dt>Share</dt><dd>${s.index} of ${s.count}; any ${s.threshold} recover the vault key</dd>
<dt>Share set</dt><dd>${s.setId} (epoch ${s.epoch})</dd>
<dt>Vault key id</dt><dd>${s.keyId}</dd>
<dt>Date of split</dt><dd>${esc(i.createdAt)}</dd>
<dt>Manifest key</dt><dd>${esc(i.manifestKey)}</dd>
</dl>
${body}
<h2>Instructions</h2>
<ol>
<li>Keep this sheet in the place agreed for you (safe, sealed envelope). Never copy it digitally, never photograph it.</li>
<li>Check it on receipt: <code>vault-tool escrow check</code> with the manifest; the manifest key it prints must read <b>${esc(i.manifestKey)}</b>.</li>
<li>In a recovery, ${s.threshold} custodians enter their shares one at a time with <code>vault-tool escrow combine</code>.</li>
<li>A newer set (higher epoch) replaces this one only when the vault key is rotated; until then this share still opens the key.</li>
<li>Where vault-tool cannot be installed, the recovery kit does the same in any browser, offline: <code>vault-tool kit --out recovery-kit.html</code> writes it. Before typing a share into a copy of it, check the copy (<code>sha256sum recovery-kit.html</code>):</li>
</ol>
<p class="kit">${kit ? `recovery kit sha256: <code>${kit}</code>` : 'recovery kit sha256: unknown (this vault-tool was run without its built files)'}</p>
</body></html>
`;
}
