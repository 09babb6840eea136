import type { DrillResult } from './drill.js';

/**
 * The drill's report, for the operations log and the auditor: Markdown, and a
 * printable HTML page with the timeline of the steps drawn against the RTO.
 * Names, times and verdicts only: never a value, a share or a key.
 */
const dur = (s: number) => (s < 60 ? `${s.toFixed(1)} s` : s < 7200 ? `${(s / 60).toFixed(1)} min` : `${(s / 3600).toFixed(2)} h`);
const status = (r: DrillResult) => (r.dryRun ? (r.ok ? 'DRY RUN: nothing missing' : 'DRY RUN: something is missing') : r.ok ? 'PASSED' : 'FAILED');
const result = (s: DrillResult['steps'][number]) => (s.skipped ? 'skipped' : s.ok ? 'ok' : 'FAILED');

/** The recovery time against the RTO, as every output says it: only a drill that passed measured one. */
export function rtoText(r: DrillResult): string {
  const rto = r.rtoText !== undefined ? `an RTO of ${r.rtoText}` : undefined;
  if (r.dryRun) return `nothing restored (dry run)${rto ? `; ${rto}` : ''}`;
  if (r.rtoMet === undefined && !r.ok) return rto ? `against ${rto}: not measured (the drill failed)` : 'not measured (the drill failed)';
  return `${dur(r.recoverySeconds)}${rto ? ` against ${rto} (${r.rtoMet ? 'met' : 'MISSED'})` : ' (no RTO in the plan)'}`;
}

export function drillMarkdown(r: DrillResult): string {
  const out: string[] = [];
  out.push(`# Disaster-recovery drill: ${status(r)}`, '');
  out.push(`- When: ${r.at}`, `- Operator: ${r.operator}`, `- Plan: ${r.plan.path} (sha256 ${r.plan.sha256})`);
  if (r.vault) out.push(`- Vault: ${r.vault.vaultId}, generation ${r.vault.generation}, key id ${r.vault.keyId}`);
  out.push(`- Custodians whose shares were used: ${r.custodians.length ? r.custodians.join(', ') : 'none'}`);
  out.push(`- Recovery time: ${rtoText(r)}`, '');
  out.push('## Steps', '', '| # | step | result | start | duration | detail |', '|---|---|---|---|---|---|');
  r.steps.forEach((s, i) =>
    out.push(
      `| ${i + 1} | ${s.name} | ${result(s)} | +${s.offset.toFixed(1)} s | ${dur(s.seconds)} | ${s.message.replace(/\|/g, '\\|').replace(/\n/g, ' ')} |`,
    ),
  );
  out.push('');
  if (r.restored.length) {
    out.push('## Data restored (the recovery point achieved)', '', '| backup | made | age | into |', '|---|---|---|---|');
    for (const b of r.restored) out.push(`| ${b.component}/${b.file} | ${b.madeAt} | ${dur(b.ageSeconds)} | ${b.into} |`);
    out.push('');
  }
  if (r.kept) {
    out.push('## Scratch targets kept', '', `Left in place on request; the journal ${r.kept.journal} names them, and \`drill teardown\` removes them.`, '');
    for (const t of r.kept.targets) out.push(`- ${t}`);
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

/**
 * The timeline's scale: the steps' own span (with 10% room), so every step
 * shows even against an RTO of hours; the RTO is marked on it when it falls
 * inside, else named at the right edge with the share of it the recovery
 * used.
 */
function timeline(r: DrillResult): string {
  const end = Math.max(r.recoverySeconds, ...r.steps.map((s) => s.offset + s.seconds), 0.001);
  const rto = r.rtoTargetSeconds;
  const span = rto !== undefined && rto <= end * 1.25 ? Math.max(rto * 1.05, end * 1.1) : end * 1.1;
  const pct = (x: number) => `${Math.min(100, (x / span) * 100).toFixed(2)}%`;
  const bar = (cls: string, from: number, length: number, title: string) =>
    `<div class="bar ${cls}" style="left:${pct(from)};width:max(3px, ${pct(length)})" title="${esc(title)}"></div>`;
  const inScale = rto !== undefined && rto <= span;
  const marker = inScale ? `<div class="rto" style="left:${pct(rto!)}"></div>` : '';
  const rows = r.steps
    .map((s) => {
      const cls = s.skipped ? 'skip' : s.ok ? 'ok' : 'bad';
      const plan = s.plan && !s.skipped ? bar('plan', s.plan.offset, s.plan.seconds, `planned in ${dur(s.plan.seconds)}`) : '';
      const main = s.skipped ? '' : bar(cls, s.offset, s.seconds, dur(s.seconds));
      return `<div class="label" title="${esc(s.name)}">${esc(s.name)}</div><div class="track">${plan}${main}${marker}</div><div class="dur">${s.skipped ? 'skipped' : esc(dur(s.seconds))}</div>`;
    })
    .join('\n');
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => `<span style="left:${(f * 100).toFixed(0)}%">${esc(dur(span * f))}</span>`).join('');
  const rtoNote =
    rto === undefined
      ? 'No RTO in the plan.'
      : inScale
        ? `The dashed line marks the RTO (${esc(r.rtoText ?? '')}).`
        : `The RTO (${esc(r.rtoText ?? '')}) lies beyond this scale${r.dryRun || (!r.ok && r.rtoMet === undefined) ? '' : `: the recovery used ${((r.recoverySeconds / rto) * 100).toFixed(2)}% of it`}.`;
  return `<div class="timeline" id="timeline">
${rows}
<div class="label"></div><div class="axis">${ticks}</div><div class="dur"></div>
</div>
<p class="note" id="rto-note">${rtoNote} Light segments: each step's plan (checked before anything was written).</p>`;
}

export function drillHtml(r: DrillResult): string {
  const rows = r.steps
    .map(
      (s, i) =>
        `<tr class="${s.skipped ? 'skip' : s.ok ? 'ok' : 'bad'}"><td>${i + 1}</td><td>${esc(s.name)}</td><td>${result(s)}</td><td>${esc(dur(s.seconds))}</td><td>${esc(s.message)}${s.todo ? `<br><em>${esc(s.todo)}</em>` : ''}</td></tr>`,
    )
    .join('\n');
  const restored = r.restored
    .map((b) => `<tr><td>${esc(`${b.component}/${b.file}`)}</td><td>${esc(b.madeAt)}</td><td>${esc(dur(b.ageSeconds))}</td><td>${esc(b.into)}</td></tr>`)
    .join('\n');
  const kept = r.kept
    ? `<h2>Scratch targets kept</h2>\n<p>Left in place on request; the journal ${esc(r.kept.journal)} names them, and <code>drill teardown</code> removes them.</p>\n<ul id="kept">${r.kept.targets.map((t) => `<li>${esc(t)}</li>`).join('')}</ul>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Disaster-recovery drill ${esc(r.at)}: ${esc(status(r))}</title>
<style>
* { box-sizing: border-box; }
body { font: 13px/1.4 "DejaVu Sans", sans-serif; margin: 2em auto; padding: 0 1.5em; max-width: 1100px; color: #111; overflow-wrap: anywhere; }
h1 { font-size: 20px; } h2 { font-size: 15px; margin-top: 1.5em; }
.verdict { font-weight: bold; color: ${r.ok ? '#1a7f37' : '#b91c1c'}; }
dl { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 2px 12px; } dt { color: #555; } dd { margin: 0; }
.timeline { display: grid; grid-template-columns: minmax(0, 32%) minmax(0, 1fr) 5.5em; align-items: center; row-gap: 4px; margin: 1em 0 0.5em; }
.label { padding-right: 8px; overflow: hidden; white-space: nowrap; text-overflow: ellipsis; }
.track { position: relative; height: 16px; background: #f1f1f1; }
.bar { position: absolute; top: 0; height: 16px; }
.bar.ok { background: #2da44e; } .bar.bad { background: #cf222e; } .bar.skip { background: #bbb; } .bar.plan { background: #a8d5b5; }
.dur { text-align: right; padding-left: 6px; white-space: nowrap; }
.rto { position: absolute; top: -3px; bottom: -3px; border-left: 2px dashed #b91c1c; }
.axis { position: relative; height: 16px; border-top: 1px solid #999; font-size: 11px; color: #555; }
.axis span { position: absolute; top: 1px; transform: translateX(-50%); white-space: nowrap; }
.axis span:first-child { transform: none; } .axis span:last-child { transform: translateX(-100%); }
.note { color: #555; font-size: 12px; }
table { border-collapse: collapse; width: 100%; table-layout: fixed; } td, th { border: 1px solid #ccc; padding: 3px 6px; text-align: left; vertical-align: top; }
#steps th:nth-child(1) { width: 2.5em; } #steps th:nth-child(2) { width: 24%; } #steps th:nth-child(3) { width: 5.5em; } #steps th:nth-child(4) { width: 6em; }
tr.bad td { background: #fde8e8; } tr.skip td { color: #888; }
@page { size: A4; margin: 1.5cm; }
@media print { body { margin: 0; padding: 0; max-width: none; font-size: 11px; } .timeline { break-inside: avoid; } tr { break-inside: avoid; } }
</style></head>
<body>
<h1>Disaster-recovery drill: <span class="verdict" id="verdict">${esc(status(r))}</span></h1>
<dl>
<dt>When</dt><dd>${esc(r.at)}</dd>
<dt>Operator</dt><dd>${esc(r.operator)}</dd>
<dt>Plan</dt><dd>${esc(r.plan.path)} (sha256 ${esc(r.plan.sha256)})</dd>
${r.vault ? `<dt>Vault</dt><dd>${esc(r.vault.vaultId)}, generation ${r.vault.generation}, key id ${esc(r.vault.keyId)}</dd>` : ''}
<dt>Custodians</dt><dd id="custodians">${esc(r.custodians.join(', ') || 'none')}</dd>
<dt>Recovery time</dt><dd id="recovery">${esc(rtoText(r)).replace('MISSED', '<strong>MISSED</strong>')}</dd>
</dl>
<h2>Timeline</h2>
${timeline(r)}
<h2>Steps</h2>
<table id="steps"><tr><th>#</th><th>step</th><th>result</th><th>duration</th><th>detail</th></tr>
${rows}
</table>
${restored ? `<h2>Data restored (the recovery point achieved)</h2>\n<table id="restored"><tr><th>backup</th><th>made</th><th>age</th><th>into</th></tr>\n${restored}\n</table>` : ''}
${kept}
</body></html>
`;
}
