# lib.sh - what run_e2e.sh and real/run_real.sh share: reporting, waiting for
# processes, and ending only the processes a test started. Sourced; the
# caller defines NAME, SKIP, PASSES, FAILS, WORK and the associative array
# TRACKED (pid -> the binary it must be running for us to kill it).

ts() { date +%H:%M:%S.%3N; }
log() { printf '[%s] %s\n' "$(ts)" "$*"; }
skip() { printf 'SKIPPED: %s: %s\n' "$NAME" "$*"; exit "$SKIP"; }
pass() { printf 'PASS: %s: %s\n' "$NAME" "$*"; PASSES=$((PASSES + 1)); }
fail() { printf 'FAIL: %s: %s\n' "$NAME" "$*"; FAILS=$((FAILS + 1)); }
fatal() { fail "$*"; exit 1; }

state_of() { sed -n 's/^State:\s*\(.\).*/\1/p' "/proc/$1/status" 2>/dev/null; }
is_stopped() { case $(state_of "$1") in T | t) return 0 ;; esac; return 1; }
is_running() { [ -e "/proc/$1" ] && case $(state_of "$1") in T | t | Z | X | '') return 1 ;; esac; }
cmdline_of() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | sed 's/ $//'; }

# wait_for SECONDS CMD...: poll until CMD succeeds.
wait_for() {
    local limit=$(( $1 * 20 )) i=0
    shift
    until "$@"; do
        i=$((i + 1))
        [ "$i" -le "$limit" ] || return 1
        sleep 0.05
    done
}

# wait_gone PID [SECONDS]: until /proc/PID is gone (reaping it if it is our child).
wait_gone() {
    local pid=$1 limit=$(( ${2:-30} * 20 )) i=0
    { wait "$pid"; } 2>/dev/null || true
    while [ -e "/proc/$pid" ]; do
        i=$((i + 1))
        [ "$i" -le "$limit" ] || return 1
        sleep 0.05
    done
}

# kill_tracked PID: SIGKILL it if it still runs the binary we started, then
# wait until it is gone (also when it is already a zombie). A pid that now
# belongs to some other process is left alone.
kill_tracked() {
    local pid=$1 ours=0
    if [ -e "/proc/$pid" ] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "${TRACKED[$pid]}" ]; then
        kill -KILL "$pid" 2>/dev/null || true
        ours=1
    fi
    if [ "$ours" = 1 ] || [ "$(state_of "$pid")" = Z ]; then
        wait_gone "$pid" 30 || printf 'WARNING: pid %s did not go away\n' "$pid"
    fi
    unset "TRACKED[$pid]"
}

# Close every fd above 2 in the current (sub)shell: a launched program holds
# nothing of ours.
close_stray_fds() {
    local p fd
    for p in /proc/$BASHPID/fd/*; do
        fd=${p##*/}
        [ "$fd" -gt 2 ] 2>/dev/null || continue
        eval "exec $fd>&-" 2>/dev/null || true
    done
}

# report_and_exit RC: the RESULT line, the work directory removed on success
# (kept on failure or with NECRO_E2E_KEEP=1), then exit RC (FAILS turn 0 into 1).
report_and_exit() {
    local rc=$1
    if [ "$rc" -eq 0 ] && [ "$FAILS" -gt 0 ]; then rc=1; fi
    if [ "$rc" -eq "$SKIP" ]; then
        :
    elif [ "$rc" -eq 0 ]; then
        printf 'RESULT: %s: PASS (%d checks)\n' "$NAME" "$PASSES"
    else
        printf 'RESULT: %s: FAIL (%d failed, %d passed)\n' "$NAME" "$FAILS" "$PASSES"
    fi
    if [ -n "$WORK" ]; then
        if [ "$rc" -eq 0 ] && [ "${NECRO_E2E_KEEP:-0}" != 1 ]; then
            rm -rf "$WORK"
        else
            printf 'work directory kept: %s\n' "$WORK"
        fi
    fi
    exit "$rc"
}
