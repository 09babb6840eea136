/**
 * What to complete, in shell code that bash and zsh both run (POSIX
 * syntax, positional parameters and plain variables only), over the tables
 * of tables.ts. The scripts differ only in how they read the command line
 * and offer the candidates.
 *
 * __vault_tool_walk WORD… reads the words before the one being completed
 * (without vault-tool itself) as commander parses them: subcommands while
 * no argument was given, options (of the command and of every command above
 * it, the root's included) with their values, `--` after which everything
 * is the command `run` and `backup exec` start. It sets __vt_path (the
 * command named), __vt_pos (its arguments so far; after `--`, the words of
 * the command), __vt_dd, __vt_value (`PATH|FLAG;KIND` when the word being
 * completed is that option's value), __vt_vault and __vt_key (the vault
 * and key files named, for entry names).
 *
 * __vault_tool_want WORD sets __vt_want (subcommands, options, choice,
 * file, dir, var, command, command-args, entry, entry=, none) and
 * __vt_wkey (the key of its choices).
 */
export const SH_WALKER = `
__vault_tool_parent() {
  case $1 in
    *' '*) printf '%s\\n' "\${1% *}" ;;
    *) printf '\\n' ;;
  esac
}

__vault_tool_find() {
  __vt_p=$__vt_path
  while :; do
    __vt_k=$(__vault_tool_optkind "$__vt_p|$1")
    if [ -n "$__vt_k" ]; then printf '%s\\n' "$__vt_p|$1;$__vt_k"; return; fi
    [ -z "$__vt_p" ] && return
    __vt_p=$(__vault_tool_parent "$__vt_p")
  done
}

__vault_tool_in() {
  __vt_x=$1
  shift
  for __vt_y in "$@"; do [ "$__vt_x" = "$__vt_y" ] && return 0; done
  return 1
}

__vault_tool_sub() {
  for __vt_a in $(__vault_tool_subs "$__vt_path"); do
    if [ "$__vt_a" = "$1" ]; then
      __vt_a=$(__vault_tool_alias "$__vt_path|$1")
      printf '%s\\n' "\${__vt_a:-$1}"
      return
    fi
  done
}

__vault_tool_walk() {
  __vt_path=
  __vt_pos=0
  __vt_dd=0
  __vt_value=
  __vt_vault=
  __vt_key=
  while [ $# -gt 0 ]; do
    __vt_w=$1
    shift
    if [ "$__vt_dd" = 1 ]; then __vt_pos=$((__vt_pos + 1)); continue; fi
    case $__vt_w in
      --) __vt_dd=1; __vt_pos=0; continue ;;
      --*=*) continue ;;
      -?*)
        __vt_f=$(__vault_tool_find "$__vt_w")
        [ -z "$__vt_f" ] && continue
        if [ $# -eq 0 ]; then __vt_value=$__vt_f; return; fi
        case $__vt_f in
          *' optional') __vault_tool_in "$1" $(__vault_tool_choices "\${__vt_f%%;*}") || continue ;;
        esac
        case $__vt_w in
          --vault-file) __vt_vault=$1 ;;
          --key-file) __vt_key=$1 ;;
        esac
        shift
        continue ;;
    esac
    if [ "$__vt_pos" = 0 ]; then
      __vt_s=$(__vault_tool_sub "$__vt_w")
      if [ -n "$__vt_s" ]; then __vt_path=\${__vt_path:+$__vt_path }$__vt_s; continue; fi
    fi
    __vt_pos=$((__vt_pos + 1))
  done
}

# The kind of argument number $1 of the command, and its index in the table (a repeated last one keeps its index).
__vault_tool_argkind() {
  __vt_i=0
  __vt_last=
  for __vt_a in $(__vault_tool_args "$__vt_path"); do
    if [ "$__vt_i" = "$1" ]; then printf '%s\\n' "\${__vt_a%+} $__vt_i"; return; fi
    __vt_last=$__vt_a
    __vt_i=$((__vt_i + 1))
  done
  case $__vt_last in *+) printf '%s\\n' "\${__vt_last%+} $((__vt_i - 1))" ;; esac
}

__vault_tool_want() {
  __vt_want=none
  __vt_wkey=
  if [ -n "$__vt_value" ]; then
    __vt_wkey=\${__vt_value%%;*}
    __vt_want=\${__vt_value#*;}
    __vt_want=\${__vt_want%% *}
    return
  fi
  if [ "$__vt_dd" = 1 ]; then
    case $(__vault_tool_argkind 0) in
      'command '*) if [ "$__vt_pos" = 0 ]; then __vt_want=command; else __vt_want=command-args; fi ;;
      *) __vt_want=file ;;
    esac
    return
  fi
  case $1 in -*) __vt_want=options; return ;; esac
  if [ "$__vt_pos" = 0 ] && [ -n "$(__vault_tool_subs "$__vt_path")" ]; then __vt_want=subcommands; return; fi
  __vt_k=$(__vault_tool_argkind "$__vt_pos")
  [ -z "$__vt_k" ] && return
  __vt_want=\${__vt_k% *}
  __vt_wkey="$__vt_path|#\${__vt_k##* }"
}

# Every flag the command takes: its own, then those of every command above it.
__vault_tool_allopts() {
  __vt_p=$__vt_path
  while :; do
    __vault_tool_opts "$__vt_p"
    [ -z "$__vt_p" ] && break
    __vt_p=$(__vault_tool_parent "$__vt_p")
  done
  printf '%s\\n' --help
}

# Entry names only (never values), from the vault named on the command line or the default one; nothing when the key needs a passphrase.
__vault_tool_entries() {
  set -- completion --entries
  [ -n "$__vt_key" ] && set -- --key-file "$__vt_key" "$@"
  [ -n "$__vt_vault" ] && set -- --vault-file "$__vt_vault" "$@"
  "$__vt_cmd" "$@" 2>/dev/null </dev/null
}
`;
