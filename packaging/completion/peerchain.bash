# bash completion for peerchaind, peerchain-cli and peerchain-ledger. Options and subcommands are
# read from the program's own --help at completion time, so they never drift from the program.
_peerchain_complete() {
  local cur="${COMP_WORDS[COMP_CWORD]}" prog="${COMP_WORDS[0]}" help w i
  local -a path=()
  # The subcommands typed so far: words that are not options and not an option's value.
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="${COMP_WORDS[i]}"
    if [[ $w == -* ]]; then
      [[ $w != *=* && $w != --json && $w != --mine && $w != --no-discover && $w != --wait ]] && ((i++))
      continue
    fi
    path+=("$w")
  done
  help="$("$prog" "${path[@]}" --help 2>/dev/null)" || help="$("$prog" --help 2>/dev/null)"
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$(grep -oE -- '--[A-Za-z0-9][A-Za-z0-9-]*' <<<"$help" | sort -u)" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$(awk '/^SUBCOMMANDS:|^Subcommands:/ {f = 1; next} f && /^  [a-z]/ {print $1} f && /^$/ {f = 0}' <<<"$help")" -- "$cur"))
  fi
}
complete -o default -F _peerchain_complete peerchaind peerchain-cli peerchain-ledger
