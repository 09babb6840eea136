/**
 * The fenced code blocks of a Markdown file and the marks that say how a
 * test runs them (test/integration/docs-run.test.ts). A mark is an HTML
 * comment on the lines right above the fence (other comments may sit beside
 * it), invisible in the rendered page:
 *
 *   <!-- doc-test: run SCENARIO
 *   bind `TEXT`, `TEXT`: what the scenario puts in their place
 *   skip `COMMAND`: why this command is not run here
 *   anything else: notes for the reader of the source (how the setup stands in)
 *   -->
 *   <!-- doc-test: not run: WHY IT CANNOT RUN HERE -->
 *   <!-- doc-test: run by test/integration/NAME.test.ts -->
 *
 * Blocks of one scenario run in document order, as in one terminal. `bind`
 * names the text the scenario replaces (placeholders a reader fills in:
 * FILE names, hosts, paths of another machine); `skip` names a whole command
 * of the block, comments aside.
 */

export interface Skip {
  command: string;
  reason: string;
}

export type Mark = { kind: 'run'; scenario: string; binds: string[]; skips: Skip[] } | { kind: 'not-run'; reason: string } | { kind: 'run-by'; file: string };

export interface Block {
  /** `README.md:3`: the file and the line of the opening fence. */
  where: string;
  file: string;
  line: number;
  /** The first word of the info string ('' when there is none). */
  lang: string;
  text: string;
  /** The HTML comments right above the fence, in order. */
  comments: string[];
  mark?: Mark;
  /** A doc-test comment that does not parse. */
  markError?: string;
}

export const SHELL_LANGS = new Set(['sh', 'bash', 'shell', 'console']);
const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$/;

/** Every fenced block of `md`, with the doc-test mark above it. */
export function fencedBlocks(file: string, md: string): Block[] {
  const lines = md.split('\n');
  const blocks: Block[] = [];
  let pending: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const open = FENCE.exec(line);
    if (open) {
      const fence = open[1]!;
      const close = new RegExp(`^ {0,3}${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`);
      let j = i + 1;
      while (j < lines.length && !close.test(lines[j]!)) j++;
      const block: Block = {
        where: `${file}:${i + 1}`,
        file,
        line: i + 1,
        lang: open[2]!.toLowerCase(),
        text: lines.slice(i + 1, j).join('\n'),
        comments: pending,
      };
      const ours = pending.filter((c) => /^doc-test\s*:/.test(c));
      if (ours.length > 1) block.markError = 'two doc-test marks';
      else if (ours.length === 1) {
        try {
          block.mark = parseMark(ours[0]!);
        } catch (e) {
          block.markError = (e as Error).message;
        }
      }
      blocks.push(block);
      pending = [];
      i = j;
      continue;
    }
    if (/^ {0,3}<!--/.test(line)) {
      let j = i;
      while (j < lines.length && !lines[j]!.includes('-->')) j++;
      const text = lines.slice(i, j + 1).join('\n');
      pending.push(text.slice(text.indexOf('<!--') + 4, text.lastIndexOf('-->')).trim());
      i = j;
      continue;
    }
    pending = [];
  }
  return blocks;
}

/** The `doc-test:` comment's meaning (throws on one that does not parse). */
export function parseMark(comment: string): Mark {
  const [head = '', ...rest] = comment.replace(/^doc-test\s*:\s*/, '').split('\n');
  const notRun = /^not run\b\s*:?\s*(.*)$/s.exec([head, ...rest].join('\n'));
  if (notRun) {
    const reason = notRun[1]!.replace(/\s+/g, ' ').trim();
    if (!reason) throw new Error('"not run" needs a reason: not run: WHY');
    return { kind: 'not-run', reason };
  }
  const runBy = /^run by\s+(\S+)\s*$/.exec(head.trim());
  if (runBy) return { kind: 'run-by', file: runBy[1]! };
  const run = /^run\s+([a-z0-9-]+)\s*$/.exec(head.trim());
  if (!run) throw new Error(`a mark starts with "run SCENARIO", "not run: WHY" or "run by FILE", not "${head.trim()}"`);
  const binds: string[] = [];
  const skips: Skip[] = [];
  for (const raw of rest) {
    const l = raw.trim();
    if (/^bind\b/.test(l)) {
      const list = /^bind\s+((?:`[^`]+`\s*,?\s*)+)(?::.*)?$/.exec(l);
      if (!list) throw new Error(`"${l}": write bind \`TEXT\`, \`TEXT\`: what stands in`);
      for (const m of list[1]!.matchAll(/`([^`]+)`/g)) binds.push(m[1]!);
    } else if (/^skip\b/.test(l)) {
      const s = /^skip\s+`([^`]+)`\s*:\s*(\S.*)$/.exec(l);
      if (!s) throw new Error(`"${l}": write skip \`COMMAND\`: why it is not run here`);
      skips.push({ command: normalize(s[1]!), reason: s[2]!.trim() });
    }
  }
  return { kind: 'run', scenario: run[1]!, binds, skips };
}

/** What a test must refuse in a file's blocks: unmarked shell blocks, blocks without a language, marks that do not parse. */
export function problems(blocks: Block[]): string[] {
  const out: string[] = [];
  for (const b of blocks) {
    if (b.markError) out.push(`${b.where}: the doc-test mark does not parse: ${b.markError}`);
    else if (!b.lang) out.push(`${b.where}: a fenced block without a language: name it (\`\`\`sh, \`\`\`yaml, \`\`\`ini …) so a shell block cannot hide`);
    else if (SHELL_LANGS.has(b.lang) && !b.mark)
      out.push(`${b.where}: a shell block without a doc-test mark: run it in a scenario, or say why it cannot run here (docs-run.test.ts)`);
    else if (b.mark && !SHELL_LANGS.has(b.lang)) out.push(`${b.where}: a doc-test mark on a ${b.lang} block: only shell blocks are run`);
  }
  return out;
}

/** One command of a block: its lines (continuations and here-documents included) and its text without comments. */
export interface Command {
  first: number;
  last: number;
  text: string;
}

/** The commands of a shell block, in order. Blank and comment-only lines belong to none. */
export function commands(text: string): Command[] {
  const lines = text.split('\n');
  const out: Command[] = [];
  for (let i = 0; i < lines.length; i++) {
    const bare = stripComment(lines[i]!).trim();
    if (!bare) continue;
    const first = i;
    let joined = bare;
    while (/(\\|\||&&)$/.test(joined) && i + 1 < lines.length) {
      i++;
      joined = joined.replace(/\\$/, '') + ' ' + stripComment(lines[i]!).trim();
    }
    const heredoc = /<<-?\s*(['"]?)([A-Za-z_][A-Za-z0-9_]*)\1/.exec(joined);
    if (heredoc) {
      while (i + 1 < lines.length && lines[i + 1]!.replace(/^\t+/, '') !== heredoc[2]) i++;
      i++;
    }
    out.push({ first, last: Math.min(i, lines.length - 1), text: normalize(joined) });
  }
  return out;
}

export const normalize = (s: string): string => s.replace(/\s+/g, ' ').trim();

/** A line without its trailing shell comment (a `#` after a blank, outside quotes). */
export function stripComment(line: string): string {
  let quote = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = '';
      else if (c === '\\' && quote === '"') i++;
    } else if (c === '\\') i++;
    else if (c === "'" || c === '"') quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!))) return line.slice(0, i).trimEnd();
  }
  return line;
}

/** Replaces every bound text (the longest first, in one pass). */
export function bindText(text: string, bind: Record<string, string>): string {
  const keys = Object.keys(bind).sort((a, b) => b.length - a.length);
  if (!keys.length) return text;
  const re = new RegExp(keys.map((k) => k.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g');
  return text.replace(re, (k) => bind[k]!);
}

export interface Script {
  /** The block as bash runs it. */
  text: string;
  /** For each line of `text`, the line of the block it came from (1-based), or 0 for a line the test added. */
  origin: number[];
}

/**
 * The block as the test runs it: bound text replaced, skipped commands
 * left out, and the scenario's stage directions (`before`, keyed by the
 * first line of a command, 0-based) put in just before their command.
 */
export function blockScript(text: string, opts: { bind?: Record<string, string>; skips?: Skip[]; before?: Map<number, string> } = {}): Script {
  const lines = text.split('\n');
  const cmds = commands(text);
  const out: string[] = [];
  const origin: number[] = [];
  const emit = (l: string, o: number) => {
    out.push(l);
    origin.push(o);
  };
  let i = 0;
  for (const c of cmds) {
    for (; i < c.first; i++) emit(bindText(lines[i]!, opts.bind ?? {}), i + 1);
    const hook = opts.before?.get(c.first);
    if (hook) for (const l of hook.split('\n')) emit(l, 0);
    const skip = opts.skips?.find((s) => s.command === c.text);
    if (skip) emit(`: doc-test: not run here: ${JSON.stringify(c.text)}`, c.first + 1);
    else for (let j = c.first; j <= c.last; j++) emit(bindText(lines[j]!, opts.bind ?? {}), j + 1);
    i = c.last + 1;
  }
  for (; i < lines.length; i++) emit(bindText(lines[i]!, opts.bind ?? {}), i + 1);
  return { text: out.join('\n'), origin };
}
