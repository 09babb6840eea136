import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { BIN } from '../cli.js';
import { type Block, blockScript, type Command, commands } from './blocks.js';
import { Session } from './shell.js';

/** What a scenario's setup works with: the scratch folder the terminal starts in, and its environment. */
export interface Stage {
  dir: string;
  env: Record<string, string>;
  /** Puts an executable named `name` on PATH, ahead of the system's. */
  standIn(name: string, script: string): void;
  /** Runs when the scenario ends, passed or failed, in reverse order. */
  onTeardown(fn: () => unknown): void;
}

/** A scenario's stage directions, all on the test's side (the doc's marks say what they bind and skip). */
export interface Plan {
  /**
   * Text of the blocks replaced before they run; each block's mark names the
   * keys it holds. A function is asked when the block is about to run (a
   * file an earlier block made, or a value that differs from block to block).
   */
  bind?: Record<string, string | ((block: Block) => string)>;
  /** Shell run before the first block (what the reader is assumed to have done already). */
  prepare?: string;
  /** Shell run just before a command; keyed by the start of that command as the doc writes it. */
  before?: Record<string, string>;
  /** Checks after the block that holds a command, keyed the same way. */
  after?: Record<string, (s: Session) => unknown>;
  /** Answers to questions commands ask on stderr (`? …`), as a person at the terminal would. */
  respond?: (question: string) => string | undefined;
}

export interface Scenario {
  name: string;
  /** The built CLI on PATH as `vault-tool` (default true). */
  cli?: boolean;
  /** Its blocks run at a terminal, as a person types them (default: as a script, stdin empty). */
  terminal?: boolean;
  /** Why it cannot run on this machine (its blocks need root, say), or null. */
  cannotRun?: () => string | null;
  setup(stage: Stage): Promise<Plan>;
}

/** The commands a stage direction's key names: the one it equals, else those it starts (up to a word). */
function named(cmds: Command[], key: string): Command[] {
  const exact = cmds.filter((c) => c.text === key);
  return exact.length ? exact : cmds.filter((c) => c.text.startsWith(`${key} `));
}

/** The mismatches between a scenario's plan and its blocks' marks (a doc changed under the test, or the test under the doc). */
export function planProblems(name: string, blocks: Block[], plan: Plan): string[] {
  const out: string[] = [];
  const keys = Object.keys(plan.bind ?? {});
  for (const k of keys) if (!blocks.some((b) => b.text.includes(k))) out.push(`${name}: the test binds \`${k}\`, which no block of the scenario holds`);
  for (const b of blocks) {
    const mark = b.mark?.kind === 'run' ? b.mark : undefined;
    const listed = new Set(mark?.binds ?? []);
    const held = new Set(keys.filter((k) => b.text.includes(k)));
    for (const k of held) if (!listed.has(k)) out.push(`${b.where}: the test binds \`${k}\` here: add it to the mark's bind line`);
    for (const k of listed)
      if (!held.has(k)) out.push(`${b.where}: the mark binds \`${k}\`, but ${b.text.includes(k) ? 'the test does not' : 'the block does not hold it'}`);
    const cmds = commands(b.text);
    for (const s of mark?.skips ?? []) if (!cmds.some((c) => c.text === s.command)) out.push(`${b.where}: skip \`${s.command}\` names no command of the block`);
  }
  const all = blocks.flatMap((b) => commands(b.text));
  for (const k of [...Object.keys(plan.before ?? {}), ...Object.keys(plan.after ?? {})]) {
    const n = named(all, k).length;
    if (n !== 1) out.push(`${name}: the stage direction for \`${k}\` matches ${n} commands of the scenario, not one`);
  }
  return out;
}

/** Runs the blocks of one scenario in order, in a scratch folder; throws naming the doc line that failed. */
export async function runScenario(sc: Scenario, blocks: Block[], opts: { timeoutMs?: number } = {}): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), `vt-doc-${sc.name}-`));
  const standIns = join(dir, '.stand-ins');
  const cliBin = join(dir, '.cli');
  mkdirSync(standIns);
  mkdirSync(join(dir, 'home'), { mode: 0o700 });
  if (sc.cli !== false) {
    mkdirSync(cliBin);
    symlinkSync(BIN, join(cliBin, 'vault-tool'));
  }
  const env: Record<string, string> = {
    PATH: [standIns, ...(sc.cli !== false ? [cliBin] : []), dirname(process.execPath), process.env.PATH ?? '/usr/bin:/bin'].join(':'),
    HOME: join(dir, 'home'),
    USER: 'operator',
    LOGNAME: 'operator',
    LANG: 'C.UTF-8',
    TZ: 'UTC',
  };
  const teardown: (() => unknown)[] = [];
  const stage: Stage = {
    dir,
    env,
    standIn: (name, script) => {
      writeFileSync(join(standIns, name), script);
      chmodSync(join(standIns, name), 0o755);
    },
    onTeardown: (fn) => teardown.push(fn),
  };
  try {
    const plan = await sc.setup(stage);
    const bad = planProblems(sc.name, blocks, plan);
    if (plan.respond && sc.terminal) bad.push(`${sc.name}: answers go through stdin when it is not a terminal: a scenario with respond cannot run at one`);
    if (bad.length) throw new Error(bad.join('\n'));
    const session = new Session(dir, env);
    if (plan.prepare) {
      const r = await session.run(plan.prepare, { name: 'prepare', timeoutMs: opts.timeoutMs });
      if (r.code !== 0 || r.failure)
        throw new Error(`${sc.name}: the scenario's own setup failed (exit ${r.code}${r.failure ? `, ${r.failure}` : ''}):\n${tail(r.output)}`);
    }
    for (const [n, b] of blocks.entries()) {
      const cmds = commands(b.text);
      const before = new Map<number, string>();
      for (const [k, v] of Object.entries(plan.before ?? {})) {
        const [c] = named(cmds, k);
        if (c) before.set(c.first, v);
      }
      const skips = b.mark?.kind === 'run' ? b.mark.skips : [];
      const bind = Object.fromEntries(
        Object.entries(plan.bind ?? {})
          .filter(([k]) => b.text.includes(k))
          .map(([k, v]) => [k, typeof v === 'function' ? v(b) : v]),
      );
      const script = blockScript(b.text, { bind, skips, before });
      const r = await session.run(script.text, { respond: plan.respond, terminal: sc.terminal, timeoutMs: opts.timeoutMs, name: `block-${n + 1}` });
      if (r.code !== 0 || r.failure) {
        const o = r.line ? script.origin[r.line - 1] : undefined;
        const at = o === undefined ? b.where : o === 0 ? `${b.where} (a stage direction of the test, before a command)` : `${b.file}:${b.line + o}`;
        throw new Error(
          `${sc.name}: the block at ${b.where} fails at ${at} (exit ${r.code}${r.failure ? `, ${r.failure}` : ''}):\n${tail(r.output)}\n--- as run:\n${script.text}`,
        );
      }
      for (const [k, check] of Object.entries(plan.after ?? {})) if (named(cmds, k).length) await check(session);
    }
  } finally {
    for (const fn of teardown.reverse()) {
      try {
        await fn();
      } catch {
        /* the next one still runs */
      }
    }
    if (process.env.DOC_TEST_KEEP !== '1') rmSync(dir, { recursive: true, force: true });
  }
}

const tail = (s: string, n = 40) => s.split('\n').slice(-n).join('\n');
