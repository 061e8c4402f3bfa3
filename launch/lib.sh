# Shared by the launch scripts: print or run one command, quoted so the printed line can be pasted back.
# Scripts set DRY_RUN=1 for --dry-run; then nothing runs, every command is printed after "+ ".

DRY_RUN=${DRY_RUN:-0}

quote_word() {
  if [[ "$1" =~ ^[A-Za-z0-9_./:=@,+%^-]+$ ]]; then
    printf '%s' "$1"
  else
    printf "'%s'" "${1//\'/\'\\\'\'}"
  fi
}

# Words joined with spaces, single-quoted where needed; "--flag=value" keeps the flag outside the quotes.
shell_quote() {
  local out="" arg
  for arg in "$@"; do
    if [[ "$arg" =~ ^(--[A-Za-z0-9_.-]+=)(.*)$ ]]; then
      out+="${BASH_REMATCH[1]}$(quote_word "${BASH_REMATCH[2]}") "
    else
      out+="$(quote_word "$arg") "
    fi
  done
  printf '%s' "${out% }"
}

# Words for a command line that itself goes inside single quotes (a remote --command): backslash escapes.
escape_words() {
  local out="" arg
  for arg in "$@"; do out+="$(printf '%q' "$arg") "; done
  printf '%s' "${out% }"
}

run() {
  echo "+ $(shell_quote "$@")"
  if [[ "$DRY_RUN" != 1 ]]; then
    "$@"
  fi
}

note() {
  echo "# $*"
}

die() {
  echo "error: $*" >&2
  exit 2
}

# A gin file the user named relative to where they are: absolute, so it still resolves after we cd into the
# checkout (names that resolve in the checkout or its gin/ folder, e.g. flan_t5/xl.gin, stay as given).
absolute_if_here() {
  if [[ -f "$1" && "$1" != /* && ! -f "$REPO/$1" && ! -f "$REPO/gin/$1" ]]; then
    printf '%s/%s' "$(cd "$(dirname "$1")" && pwd)" "$(basename "$1")"
  else
    printf '%s' "$1"
  fi
}
