import type { DrillResult } from './drill.js';

/**
 * The drill's report, for the operations log and the auditor: Markdown, and a
 * printable HTML page with the timeline of the steps drawn against the RTO.
 * Names, times and verdicts only: never a value, a share or a key.
 */
const dur = (s: number) => (s < 60 ? `${s.toFixed(1)} s` : s < 7200 ? `${(s / 60).toFixed(1)} min` : `${(s / 3600).toFixed(2)} h`);
const status = (r: DrillResult) => (r.dryRun ? (r.ok ? 'DRY RUN: nothing missing' : 'DRY RUN: something is missing') : r.ok ? 'PASSED' : 'FAILED');

export function drillMarkdown(r: DrillResult): string {
  const out: string[] = [];
  out.push(`# Disaster-recovery drill: ${status(r)}`, '');
  out.push(`- When: ${r.at}`, `- Operator: ${r.operator}`, `- Plan: ${r.plan.path} (sha256 ${r.plan.sha256})`);
  if (r.vault) out.push(`- Vault: ${r.vault.vaultId}, generation ${r.vault.generation}, key id ${r.vault.keyId}`);
  out.push(`- Custodians whose shares were used: ${r.custodians.length ? r.custodians.join(', ') : 'none'}`);
  out.push(
    `- Recovery time: ${dur(r.recoverySeconds)}${r.rtoTargetSeconds !== undefined ? ` against an RTO of ${r.rtoText} (${r.rtoMet ? 'met' : 'MISSED'})` : ' (no RTO in the plan)'}`,
    '',
  );
  out.push('## Steps', '', '| # | step | result | start | duration | detail |', '|---|---|---|---|---|---|');
  r.steps.forEach((s, i) =>
    out.push(
      `| ${i + 1} | ${s.name} | ${s.skipped ? 'skipped' : s.ok ? 'ok' : 'FAILED'} | +${s.offset.toFixed(1)} s | ${dur(s.seconds)} | ${s.message.replace(/\|/g, '\\|')} |`,
    ),
  );
  out.push('');
  if (r.restored.length) {
    out.push('## Data restored (the recovery point achieved)', '', '| backup | made | age | into |', '|---|---|---|---|');
    for (const b of r.restored) out.push(`| ${b.component}/${b.file} | ${b.madeAt} | ${dur(b.ageSeconds)} | ${b.into} |`);
    out.push('');
  }
  const failed = r.steps.filter((s) => !s.ok && !s.skipped);
  if (failed.length) {
    out.push('## What to do', '');
    for (const s of failed) out.push(`- **${s.name}**: ${s.message}${s.todo ? `. ${s.todo}` : ''}`);
    out.push('');
  }
  return out.join('\n');
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export function drillHtml(r: DrillResult): string {
  const span = Math.max(r.rtoTargetSeconds ?? 0, r.recoverySeconds, ...r.steps.map((s) => s.offset + s.seconds), 0.001);
  const pct = (x: number) => `${((x / span) * 100).toFixed(2)}%`;
  const bars = r.steps
    .map((s) => {
      const cls = s.skipped ? 'skip' : s.ok ? 'ok' : 'bad';
      return `<div class="row"><div class="label">${esc(s.name)}</div><div class="track"><div class="bar ${cls}" style="left:${pct(s.offset)};width:${pct(Math.max(s.seconds, span / 400))}" title="${esc(dur(s.seconds))}"></div></div><div class="dur">${s.skipped ? 'skipped' : esc(dur(s.seconds))}</div></div>`;
    })
    .join('\n');
  const rtoLine =
    r.rtoTargetSeconds !== undefined ? `<div class="rto" style="left:${pct(r.rtoTargetSeconds)}"><span>RTO ${esc(r.rtoText ?? '')}</span></div>` : '';
  const rows = r.steps
    .map(
      (s, i) =>
        `<tr class="${s.skipped ? 'skip' : s.ok ? 'ok' : 'bad'}"><td>${i + 1}</td><td>${esc(s.name)}</td><td>${s.skipped ? 'skipped' : s.ok ? 'ok' : 'FAILED'}</td><td>${esc(dur(s.seconds))}</td><td>${esc(s.message)}${s.todo ? `<br><em>${esc(s.todo)}</em>` : ''}</td></tr>`,
    )
    .join('\n');
  const restored = r.restored
    .map((b) => `<tr><td>${esc(`${b.component}/${b.file}`)}</td><td>${esc(b.madeAt)}</td><td>${esc(dur(b.ageSeconds))}</td><td>${esc(b.into)}</td></tr>`)
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Disaster-recovery drill ${esc(r.at)}: ${esc(status(r))}</title>
<style>
body { font: 13px/1.4 "DejaVu Sans", sans-serif; margin: 2em; color: #111; }
h1 { font-size: 20px; } h2 { font-size: 15px; margin-top: 1.5em; }
.verdict { font-weight: bold; color: ${r.ok ? '#1a7f37' : '#b91c1c'}; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; } dt { color: #555; }
.timeline { position: relative; margin: 1em 0 2em; }
.row { display: flex; align-items: center; height: 22px; }
.label { width: 34%; padding-right: 8px; overflow: hidden; white-space: nowrap; text-overflow: ellipsis; }
.track { position: relative; flex: 1; height: 14px; background: #f1f1f1; }
.bar { position: absolute; top: 0; height: 14px; min-width: 2px; }
.bar.ok { background: #2da44e; } .bar.bad { background: #cf222e; } .bar.skip { background: #bbb; }
.dur { width: 10%; text-align: right; padding-left: 6px; }
.rto { position: absolute; top: -6px; bottom: -6px; border-left: 2px dashed #b91c1c; margin-left: 34%; }
.rto span { position: absolute; bottom: -18px; left: 4px; color: #b91c1c; white-space: nowrap; }
.rtowrap { position: absolute; left: 0; right: 10%; top: 0; bottom: 0; pointer-events: none; }
table { border-collapse: collapse; width: 100%; } td, th { border: 1px solid #ccc; padding: 3px 6px; text-align: left; vertical-align: top; }
tr.bad td { background: #fde8e8; } tr.skip td { color: #888; }
@media print { body { margin: 1cm; } }
</style></head>
<body>
<h1>Disaster-recovery drill: <span class="verdict" id="verdict">${esc(status(r))}</span></h1>
<dl>
<dt>When</dt><dd>${esc(r.at)}</dd>
<dt>Operator</dt><dd>${esc(r.operator)}</dd>
<dt>Plan</dt><dd>${esc(r.plan.path)} (sha256 ${esc(r.plan.sha256)})</dd>
${r.vault ? `<dt>Vault</dt><dd>${esc(r.vault.vaultId)}, generation ${r.vault.generation}, key id ${esc(r.vault.keyId)}</dd>` : ''}
<dt>Custodians</dt><dd id="custodians">${esc(r.custodians.join(', ') || 'none')}</dd>
<dt>Recovery time</dt><dd id="recovery">${esc(dur(r.recoverySeconds))}${r.rtoTargetSeconds !== undefined ? ` against an RTO of ${esc(r.rtoText ?? '')}: ${r.rtoMet ? 'met' : '<strong>MISSED</strong>'}` : ''}</dd>
</dl>
<h2>Timeline</h2>
<div class="timeline" id="timeline">
${bars}
<div class="rtowrap">${rtoLine}</div>
</div>
<h2>Steps</h2>
<table id="steps"><tr><th>#</th><th>step</th><th>result</th><th>duration</th><th>detail</th></tr>
${rows}
</table>
${restored ? `<h2>Data restored (the recovery point achieved)</h2>\n<table id="restored"><tr><th>backup</th><th>made</th><th>age</th><th>into</th></tr>\n${restored}\n</table>` : ''}
</body></html>
`;
}
