#!/usr/bin/env bash
# oracle-frame.sh - oracle self-test, no CRIU: a thread stopped on the first
# instruction of a timer signal's handler is compared by the state saved in
# its signal frame. CRIU arms the restored timers before the tasks leave the
# restorer; a timer that fires then is delivered before the SIGSTOP of
# `criu restore -s` (the lower signal first), and the task stops in its
# handler, the restored state in an rt_sigframe on its stack (met in
# e2e.catch-timers-donor: the oracle then saw rip in the SIGALRM handler).
# Here the timers victim, stopped, is gcore'd; `necro-e2e-oracle
# --enter-handler` then puts its main thread into its SIGALRM handler and its
# spinner thread into its SIGRTMIN+1 handler as such a timer would (tgkill,
# stepped into the handler with orig_rax -1, as after the restorer's
# sigreturn). Without --timer-signals both threads and their stacks differ
# from the gcore; with it the frames' saved registers, FPU and XSAVE state
# equal the gcore's (SAME) and the frames' bytes are left out; one register
# changed in a frame is exactly one mismatch.
#@test oracle-frame   oracle self-test: threads stopped in a timer signal's handler are compared by their frames (needs gdb, no CRIU)
# shellcheck source=../lib.sh disable=SC2034 # lib.sh reads BIN, KILLSIG, LAUNCH_*
. "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
e2e_args e2e. "$@"
command -v gdb >/dev/null || skip "gdb not found (needed for gcore)"
victims_begin --no-criu --no-necro --no-cores
[ -x "$VICTIMS/timers" ] || fatal "victim '$VICTIMS/timers' is not built"
OUT="$WORK/out"
BIN="$VICTIMS/timers"; VICTIM_ARGS=("$OUT"); KIND=killed; BIN_BASE=timers

launch_victim
disown "$VPID"
wait_for 10 grep -q '^alarm ' "$OUT" || fatal "the victim does not tick (output: $(tail -n 3 "$OUT"))"
read -r _ TICKER SPINNER < <(grep -m1 '^threads ' "$OUT")
log "threads: main $VPID, ticker $TICKER, spinner $SPINNER"
kill -STOP "$VPID"
wait_for 5 is_stopped "$VPID" || fatal "victim did not stop"
CORE="$WORK/live.core"
gcore_stopped "$VPID" "$CORE"
ORACLE_OPTS=(--raw-regs --gdb-core)
run_oracle "$CORE" "$VPID" "${ORACLE_OPTS[@]}"
[ "$ORACLE_RC" = 0 ] || fatal "oracle: the gcore of the stopped process differs before any signal (exit $ORACLE_RC)"

# Main thread: SIGALRM (14), spinner: SIGRTMIN+1 (35), as their timers send.
SPINNER_FRAME=
for t in "$VPID 14" "$SPINNER 35"; do
    read -r tid sig <<<"$t"
    "$ORACLE" --enter-handler "$tid" "$sig" >"$WORK/enter.$tid" 2>&1 ||
        { show_log "$WORK/enter.$tid"; fatal "--enter-handler $tid $sig failed"; }
    log "$(cat "$WORK/enter.$tid")"
    [ "$tid" != "$SPINNER" ] || SPINNER_FRAME=$(sed -n 's/.*frame at \(0x[0-9a-f]*\).*/\1/p' "$WORK/enter.$tid")
done
wait_for 5 is_stopped "$VPID" || fatal "pid $VPID no longer stopped after entering the handlers"

run_oracle "$CORE" "$VPID" "${ORACLE_OPTS[@]}"
if [ "$ORACLE_RC" = 1 ] && grep -q "thread $VPID: MISMATCH rip" "$ORACLE_LOG" &&
    grep -q "thread $SPINNER: MISMATCH rip" "$ORACLE_LOG" && ! grep -q ' mem_mismatch=0 ' "$ORACLE_LOG"; then
    pass "without --timer-signals the two threads in their handlers differ (rip, and the frames on their stacks)"
else
    fail "the oracle did not see the threads in their handlers (exit $ORACLE_RC)"
fi

run_oracle "$CORE" "$VPID" "${ORACLE_OPTS[@]}" --timer-signals 14,34,35
n=$(grep -c 'stopped on the first instruction of its handler' "$ORACLE_LOG" || true)
skipped=$(sed -n 's/.*, \([0-9]*\) in timer signal frames$/\1/p' "$ORACLE_LOG")
if [ "$ORACLE_RC" = 0 ] && [ "$n" = 2 ] && [ "${skipped:-0}" -gt 0 ]; then
    pass "with --timer-signals both frames are unwound and equal the gcore ($(grep '^RESULT' "$ORACLE_LOG"); $skipped frame bytes left out)"
else
    fail "with --timer-signals: exit $ORACLE_RC, $n frames unwound (want 2), ${skipped:-no} frame bytes left out"
fi

# One saved register changed in the spinner's frame: r12, at pretcode (8) +
# uc_mcontext (40) + REG_R12 (4) * 8.
addr=$((SPINNER_FRAME + 8 + 40 + 4 * 8))
set_mem_byte "$VPID" "$addr" $(($(mem_byte "$VPID" "$addr") ^ 0x10))
log "flipped a bit of the saved r12 at $(printf '%#x' "$addr")"
run_oracle "$CORE" "$VPID" "${ORACLE_OPTS[@]}" --timer-signals 14,34,35
oracle_found_only_reg r12 "$SPINNER" && pass "one register changed in a frame is exactly one mismatch (r12 of thread $SPINNER)" ||
    fail "the oracle did not report exactly the changed saved register (exit $ORACLE_RC)"
kill_tracked "$VPID"
exit 0
