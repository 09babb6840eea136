import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Runs scripts in bash as one terminal session would: each script sources
 * what the one before left (exported variables, the working folder, the
 * umask), runs with `set -e -o pipefail`, and on exit saves the same again.
 */
export class Session {
  readonly state: string;
  constructor(
    readonly dir: string,
    readonly env: Record<string, string>,
  ) {
    this.state = join(dir, '.doc-test-session');
  }

  private prologue(): string[] {
    const q = JSON.stringify(this.state);
    return [
      'set -e -o pipefail',
      `if [ -f ${q} ]; then . ${q}; fi`,
      `trap 'rc=$?; { export -p; printf "umask %s\\n" "$(umask)"; printf "cd %q\\n" "$PWD"; } > ${q}; exit $rc' EXIT`,
      `trap 'echo "doc-test: exit status $? at line $LINENO: $BASH_COMMAND" >&2' ERR`,
    ];
  }

  /**
   * Runs `script`. `respond` answers the questions a command asks on
   * stderr (`? …`) when its stdin is not a terminal; without it stdin is
   * empty, so a command that waits for input fails instead of hanging.
   * `terminal` runs it at a terminal instead (a command that refuses to
   * print a secret there, or asks, shows it).
   */
  async run(
    script: string,
    opts: { respond?: (question: string) => string | undefined; terminal?: boolean; timeoutMs?: number; name?: string } = {},
  ): Promise<Run> {
    const pro = this.prologue();
    const file = join(this.dir, `.doc-test-${opts.name ?? 'step'}.sh`);
    writeFileSync(file, [...pro, script, ''].join('\n'), { mode: 0o600 });
    // At a terminal (script(1) gives it one: stdin, stdout and stderr a pty, of a window's size), as a person types the commands.
    const [cmd, args] = opts.terminal
      ? ['script', ['-q', '-e', '-f', '-c', `stty rows 50 cols 160; exec bash ${JSON.stringify(file)}`, '/dev/null']]
      : ['bash', [file]];
    const p = spawn(cmd, args, {
      cwd: this.dir,
      env: this.env,
      detached: true,
      stdio: [opts.respond ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    const chunks: Buffer[] = [];
    let errLine = '';
    let failure: string | undefined;
    const kill = (why: string) => {
      failure ??= why;
      try {
        process.kill(-p.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    };
    p.stdout!.on('data', (c: Buffer) => chunks.push(c));
    p.stderr!.on('data', (c: Buffer) => {
      chunks.push(c);
      if (!opts.respond) return;
      errLine += c.toString('utf8');
      let nl: number;
      while ((nl = errLine.indexOf('\n')) >= 0) {
        const line = errLine.slice(0, nl);
        errLine = errLine.slice(nl + 1);
        if (!line.startsWith('? ')) continue;
        const answer = opts.respond(line.slice(2));
        if (answer === undefined) kill(`a question the scenario does not answer: ${line}`);
        else p.stdin!.write(`${answer}\n`);
      }
    });
    p.stdin?.on('error', () => {});
    const timer = setTimeout(() => kill(`still running after ${(opts.timeoutMs ?? 180_000) / 1000} s`), opts.timeoutMs ?? 180_000);
    const code = await new Promise<number>((res, rej) => {
      p.on('error', rej);
      p.on('close', (c, sig) => res(c ?? (sig ? 128 : -1)));
    });
    clearTimeout(timer);
    const output = Buffer.concat(chunks).toString('utf8');
    const at = /doc-test: exit status \d+ at line (\d+): /.exec(output);
    return { code, output, failure, line: at ? Number(at[1]) - pro.length : undefined };
  }

  /** A command's standard output in the session's current state (for the test's own checks). */
  sh(command: string): string {
    const q = JSON.stringify(this.state);
    return execFileSync('bash', ['-c', `set -e -o pipefail; if [ -f ${q} ]; then . ${q}; fi; ${command}`], {
      cwd: this.dir,
      env: this.env,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }
}

export interface Run {
  code: number;
  /** stdout and stderr, interleaved as they arrived. */
  output: string;
  /** Why the test stopped it (a timeout, a question without an answer). */
  failure?: string;
  /** The line of the script (after the prologue, 1-based) that failed. */
  line?: number;
}
