import { PREFETCH, shellWord } from './restore.js';

/**
 * The restore_command of a point-in-time restore: a shell script in the
 * spool (`SPOOL/restore.sh`), so that a segment the prefetcher has already
 * fetched and checked reaches PostgreSQL without a process of vault-tool
 * (node's start alone costs more than the server's replay of a segment).
 * For each file PostgreSQL asks for it:
 *
 * 1. moves `in/NAME` into place when its identity (`stat -c
 *    %d:%i:%s:%.9Y:%.9Z`) is the one the prefetcher recorded in `ok/NAME`
 *    once the file was whole and checked: a file written, replaced or put
 *    there by anything else is never handed over (the record is the
 *    prefetcher's to remove once it sees the file taken: it names an
 *    identity no file has any more);
 * 2. waits while the prefetcher is about to fetch it (`pending/NAME`) and
 *    runs (its pid alive), rather than fetch it a second time beside it;
 * 3. asks a running prefetcher for any other file (`ask/NAME`): it answers
 *    at once from the archive, with the file fetched and checked as in 1,
 *    or with the archive's answer that it does not hold it (`absent/NAME`,
 *    exit 1, as wal-fetch would: the same check, made when asked); an ask
 *    it drops unanswered (a failure) is wal-fetch's;
 * 4. otherwise runs `wal-fetch --async` (the vault-tool command given),
 *    whose answer PostgreSQL acts on: the file fetched and checked, exit 1
 *    when the archive does not hold it, above 125 on any failure; it also
 *    starts a prefetcher when none runs (prefetch.ts).
 *
 * When no prefetcher runs, a file not in the spool starts one (in its own
 * session, `setsid`, its messages in prefetcher.log; `starting` until it
 * runs) before wal-fetch answers, so that it starts at the recovery's
 * first ask, beside that answer rather than after it.
 *
 * `sh restore.sh --prefetch` (the restore runs it once the data directory
 * is ready) starts one from the restore's first segment (`first`) and
 * returns, unless one runs: so that node's start, the keys and the first
 * segments are done while the server starts, not while it waits.
 *
 * `fetch` is the command line up to the file and path (`vault-tool backup
 * wal-fetch`), `args` what follows them (archive, keys, and last the
 * option that names the spool, which the script gives), `drain` the
 * options that make it the prefetcher; each a word.
 */
export function asyncRestoreScript(spool: string, fetch: string[], args: string[], drain: string[]): string {
  return [
    '#!/bin/sh',
    '# restore_command of a vault-tool point-in-time restore: a segment the prefetcher checked in full is moved into',
    '# place (only the very file it recorded in ok/), one it is fetching is waited for, another is asked of it while it',
    "# runs (its answer: the file, checked, or the archive's absence of it: exit 1); anything else is wal-fetch's.",
    `S=${shellWord(spool)}`,
    ...FILE_AND_PATH,
    'n=0',
    'a=',
    '# The prefetcher, in its own session, from the segment $1 (the wal-fetch command line wants a path besides: $2).',
    'start() {',
    '  : > "$S/starting"',
    `  setsid ${fetch.map(shellWord).join(' ')} "$1" "$2" ${drain.map(shellWord).join(' ')} ${args.map(shellWord).join(' ')} "$S" </dev/null >>"$S/prefetcher.log" 2>&1 &`,
    '}',
    'running() { [ -f "$S/prefetcher.pid" ] && read -r pid < "$S/prefetcher.pid" && kill -0 "$pid" 2>/dev/null; }',
    '# Run by the restore once the data directory is ready: a prefetcher from the first segment, before the server asks.',
    `if [ "$f" = ${PREFETCH} ]; then`,
    '  running && exit 0',
    '  read -r f < "$S/first" || exit 1',
    `  start "$f" "\${S%/*}/pg_wal"`,
    '  exit 0',
    'fi',
    'while :; do',
    '  if [ -f "$S/in/$f" ] && [ -f "$S/ok/$f" ] && read -r ok < "$S/ok/$f" && [ "$ok" = "$(stat -c %d:%i:%s:%.9Y:%.9Z "$S/in/$f" 2>/dev/null)" ]; then',
    '    mv -f "$S/in/$f" "$p" 2>/dev/null && exit 0',
    '    break',
    '  fi',
    '  if [ -n "$a" ] && [ -f "$S/absent/$f" ]; then rm -f "$S/absent/$f"; exit 1; fi',
    '  if ! running; then',
    `    if [ ! -f "$S/starting" ] && { [ -f "$S/first" ] || [ -f "$S/want" ]; }; then start "$f" "\${p%/*}"; fi`,
    '    break',
    '  fi',
    '  [ $n -lt 6000 ] || break',
    '  if [ ! -f "$S/pending/$f" ]; then',
    '    if [ -z "$a" ]; then rm -f "$S/absent/$f"; : > "$S/ask/$f" || break; a=1',
    '    elif [ ! -f "$S/ask/$f" ]; then [ "$a" = 2 ] && break; a=2; fi',
    '  fi',
    '  n=$((n+1))',
    '  sleep 0.01',
    'done',
    `exec ${fetch.map(shellWord).join(' ')} "$f" "$p" ${args.map(shellWord).join(' ')} "$S"`,
    '',
  ].join('\n');
}

/**
 * A restore_command script's file and path: its arguments (`sh SCRIPT FILE PATH`), or `f` and `p` as the restore_command
 * (scriptCommand) sets them before it reads the script in its own shell.
 */
export const FILE_AND_PATH = ['[ $# -eq 0 ] || { f="$1"; p="$2"; }'];

/**
 * The restore_command that runs a script (for postgresql.auto.conf: %f and %p PostgreSQL's, a % of the path doubled): read by
 * the shell PostgreSQL starts for it (`.`), its file and path in `f` and `p` (FILE_AND_PATH), rather than by a second shell
 * that shell starts: a shell's start is a millisecond of every segment's turn, which the server waits for. Both in double
 * quotes (%p is a full path when pg_rewind runs the command). A script that cannot be read (its spool removed) exits 200,
 * which stops the recovery, never 1 or 2, which PostgreSQL would take for a file the archive does not hold (and, with no
 * target, end the recovery there and promote): `command .` returns its failure rather than end the shell, as `.` alone
 * does with dash's 2 or bash's 1.
 */
export const scriptCommand = (script: string) => `f="%f"; p="%p"; command . ${shellWord(script).replace(/%/g, '%%')} || exit 200`;
