#!/usr/bin/env bash
# catch-kernel.sh - the kernel's state at death (issue 21): necro-catch reads
# the dying task's sigactions and per-thread state through its BPF task
# iterator (docs/capture.md, "The kernel's state"), and criu-necromancer
# brings them back without a donor. The victim (victims/sigalt.c) counts
# SIGUSR1 in an SA_SIGINFO|SA_ONSTACK handler on its own sigaltstack; it is
# sent 5, then killed by SIGQUIT under necro-catch. The capture must hold
# `kernel-state read` with its SIGUSR1 action (SA_SIGINFO|SA_ONSTACK) and a
# sigaltstack on the main thread; --explain names the handler in the "from the
# capture" section and no longer lists signal handlers under "not in the
# core". Restored stopped: the oracle; restored running: 3 more SIGUSR1s are
# counted on from 5 (6, 7, 8), each with the handler's stack address inside
# the victim's sigaltstack.
#   catch-sigalt-nobpf  necro-catch --no-bpf: the capture says
#                       `kernel-state missing why=disabled by --no-bpf`,
#                       criu-necromancer warns so, the victim still comes back
#                       (oracle), and, running, dies of its first SIGUSR1 (the
#                       documented default: SIG_DFL).
#@test catch-sigalt         SIGUSR1 handler and sigaltstack from the BPF capture: counts on from the dead count, on its altstack
#@test catch-sigalt-nobpf   the same with necro-catch --no-bpf: resurrects, the capture says why, SIGUSR1 is SIG_DFL again
# shellcheck source=../lib.sh disable=SC2034 # lib.sh reads BIN, KILLSIG, LAUNCH_*
. "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
e2e_args e2e. "$@"
victims_begin --catch
[ -x "$VICTIMS/sigalt" ] || fatal "victim '$VICTIMS/sigalt' is not built"
[ "$MODE" != catch-sigalt-nobpf ] || cores_through_catch "|$CATCH --dir $WORK/caught --no-bpf %P"
OUT="$WORK/out"
BIN="$VICTIMS/sigalt"; VICTIM_ARGS=("$OUT"); KIND=killed; BIN_BASE=sigalt

# usr1_lines: the count of "usr1 N ..." lines in OUT.
usr1_count() { grep -c '^usr1 ' "$OUT" 2>/dev/null || true; }
# send_usr1 N: N SIGUSR1s to VPID, each once the one before was counted.
send_usr1() {
    local i want
    for ((i = 0; i < $1; i++)); do
        want=$(( $(usr1_count) + 1 ))
        kill -USR1 "$VPID" || return 1
        wait_for 5 test "$(usr1_count)" -ge "$want" || return 1
    done
}

launch_victim
wait_for 5 grep -q '^altstack ' "$OUT" || fatal "the victim wrote no altstack line"
read -r _ ALT_LO ALT_HI < <(grep -m1 '^altstack ' "$OUT")
send_usr1 5 || fatal "the victim did not count 5 SIGUSR1s (output: $(tail -n 2 "$OUT"))"
pass "the victim counted 5 SIGUSR1s on its sigaltstack $ALT_LO-$ALT_HI: $(grep '^usr1 ' "$OUT" | tail -n 1)"
kill -QUIT "$VPID"
reap_victim 131
finish_victim_death
{ grep 'kernel state' "$CORE.necro/capture.log" || true; } | sed 's/^/  capture.log: /'

if [ "$MODE" = catch-sigalt ]; then
    # A machine where BPF cannot run here (necro-catch built without it, no
    # BTF, no privilege) is not a failure of necro's: the degrade path is
    # catch-sigalt-nobpf's. Any other reason (a load or read error) fails below.
    kernel_state_or_skip "$CORE.necro/capture.txt"
    act=$(awk '$1 == "action" && $2 == "sig=10"' "$CORE.necro/capture.txt")
    flags=$(sed -n 's/.* flags=\(0x[0-9a-f]*\).*/\1/p' <<<"$act")
    [ -n "$flags" ] && (( (flags & 0x08000004) == 0x08000004 )) &&
        pass "the capture holds the kernel's SIGUSR1 action: $act" ||
        fatal "the capture has no SIGUSR1 action with SA_SIGINFO|SA_ONSTACK: '$act' ($(grep '^kernel-state' "$CORE.necro/capture.txt"))"
    th=$(awk -v t="tid=$VPID" '$1 == "thread" && $2 == t' "$CORE.necro/capture.txt")
    grep -q "sas_sp=$ALT_LO sas_size=65536 " <<<"$th" &&
        pass "the capture holds the main thread's sigaltstack: $(grep -o 'sas_sp=[^ ]* sas_size=[^ ]*' <<<"$th")" ||
        fail "the main thread's capture line has not the sigaltstack $ALT_LO+65536: '$th'"
else
    grep -q '^kernel-state missing why=disabled%20by%20--no-bpf$' "$CORE.necro/capture.txt" &&
        pass "the capture says why the kernel state is missing: $(grep '^kernel-state' "$CORE.necro/capture.txt")" ||
        fail "the capture does not say 'kernel-state missing why=disabled by --no-bpf': $(grep '^kernel-state' "$CORE.necro/capture.txt")"
fi

IMG="$WORK/resurrected"
run_necro -c "$CORE" --explain >"$WORK/explain.log" 2>&1 || { show_log "$WORK/explain.log"; fatal "criu-necromancer --explain failed"; }
if [ "$MODE" = catch-sigalt ]; then
    grep -q 'signal dispositions from the kernel at death: 1 handlers: SIGUSR1' "$WORK/explain.log" &&
        pass "--explain: '$(grep -m1 'signal dispositions from the kernel' "$WORK/explain.log" | sed 's/^ *//')'" ||
        fail "--explain does not say that SIGUSR1's handler comes from the kernel state"
    grep -q 'per-thread state from the kernel at death for 1 of 1 threads' "$WORK/explain.log" &&
        pass "--explain: per-thread state for the thread" || fail "--explain has no per-thread state line"
else
    grep -q "the kernel's state of the task was not captured (disabled by --no-bpf)" "$WORK/explain.log" &&
        pass "--explain warns: the kernel state was not captured (disabled by --no-bpf)" ||
        fail "--explain does not warn that the kernel state is missing"
fi
write_donorless_set
VICTIM_CMDLINE="$BIN $OUT"
check_stopped_restore "$IMG"
restore_running "$IMG"
sleep 0.3
is_running "$VPID" || fatal "the restored pid $VPID does not run (state '$(state_of "$VPID")')"
if [ "$MODE" = catch-sigalt ]; then
    send_usr1 3 || fail "the resurrected victim did not count 3 more SIGUSR1s (state '$(state_of "$VPID")'; output: $(since "$OUT" "$FROM" | tail -n 2))"
    new=$(since "$OUT" "$FROM" | awk '$1 == "usr1" { print $2 }' | paste -sd' ')
    [ "$new" = "6 7 8" ] && pass "the resurrected victim counts SIGUSR1 on from the dead count 5: $new" ||
        fail "after the resurrection the counts are '$new', expected '6 7 8'"
    bad=
    while read -r _ _ _ sp; do
        (( sp >= ALT_LO && sp < ALT_HI )) || bad="$bad $sp"
    done < <(since "$OUT" "$FROM" | grep '^usr1 ')
    n=$(since "$OUT" "$FROM" | grep -c '^usr1 ' || true)
    [ -z "$bad" ] && [ "$n" -ge 1 ] && pass "the handler ran on the sigaltstack $ALT_LO-$ALT_HI each time: $(since "$OUT" "$FROM" | awk '$1 == "usr1" { print $4 }' | paste -sd' ')" ||
        fail "the handler ran outside the sigaltstack $ALT_LO-$ALT_HI: $bad"
    is_running "$VPID" && pass "pid $VPID still runs" || fail "pid $VPID is not running any more"
    kill_tracked "$VPID"
else
    before=$(usr1_count)
    kill -USR1 "$VPID"
    wait_gone "$VPID" 10 && pass "without the kernel state SIGUSR1 is SIG_DFL: the resurrected victim died of it, as documented" ||
        fail "pid $VPID survived SIGUSR1 without a captured handler (state '$(state_of "$VPID")')"
    [ "$(usr1_count)" = "$before" ] && pass "and counted nothing more" || fail "it counted a SIGUSR1 without a handler"
fi
exit 0
