# Sourced by the set-up scripts. Noisy tools (apt-get, pip) write to one log file that is shown only when
# they fail: a newcomer reads a few lines per step, and the whole story is still on disk.
#
#   quietly WHAT COMMAND [ARG...]   run COMMAND with its output appended to the log; on failure print
#                                   "WHAT failed", the last lines of its output and the log's path
#
# Environment: LOCALHUB_SETUP_LOG   the log file (default ~/.cache/localhub/setup.log)

SETUP_LOG="${LOCALHUB_SETUP_LOG:-${XDG_CACHE_HOME:-$HOME/.cache}/localhub/setup.log}"
mkdir -p "$(dirname "$SETUP_LOG")"

quietly() {
    local what=$1 rc=0 start
    shift
    printf '\n[%s] $ %s\n' "$(date '+%F %T')" "$*" >>"$SETUP_LOG"
    start=$(wc -c <"$SETUP_LOG")
    "$@" >>"$SETUP_LOG" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then
        printf '%s failed (exit code %s). The last lines of its output:\n' "$what" "$rc" >&2
        tail -c "+$((start + 1))" "$SETUP_LOG" | tail -n 20 | sed 's/^/    /' >&2
        printf 'The full log is %s\n' "$SETUP_LOG" >&2
    fi
    return "$rc"
}
