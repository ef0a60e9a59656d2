#!/usr/bin/env bash
# catch-procstate.sh - the process-wide kernel state at death (issue 21,
# capture format 4): the victim (victims/procstate.c) disables THP, sets
# no_new_privs, SECBIT_KEEP_CAPS, personality ADDR_NO_RANDOMIZE and an
# allow-all seccomp filter, and gives seven anonymous VMAs one madvise advice
# or mlock each. Killed by SIGQUIT under necro-catch, resurrected without a
# donor, restored running: the process itself reports (its `tick` lines,
# prctl) securebits 0x10, THP disabled and no_new_privs 1, and
# /proc/PID/smaps shows each region's VmFlags (dc wf hg nh rr sr lo). Its
# personality is in the images, but CRIU does not restore one (it is 0 again,
# and --explain lists it as lost).
# The seccomp filter's program is not captured: it comes back unfiltered
# (seccomp 0), with the warning --explain shows.
#   catch-procstate-nobpf  necro-catch --no-bpf: it still resurrects; what
#                          /proc gives stays (no_new_privs, personality), the
#                          rest is the documented default (securebits 0, THP
#                          enabled, no advice on any region).
#@test catch-procstate        securebits, THP-disable, no_new_privs, personality and madvise/mlock bits from the BPF capture
#@test catch-procstate-nobpf  the same with necro-catch --no-bpf: resurrects with the defaults
# shellcheck source=../lib.sh disable=SC2034 # lib.sh reads BIN, KILLSIG, LAUNCH_*
. "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
e2e_args e2e. "$@"
victims_begin --catch
[ -x "$VICTIMS/procstate" ] || fatal "victim '$VICTIMS/procstate' is not built"
[ "$MODE" != catch-procstate-nobpf ] || cores_through_catch "|$CATCH --dir $WORK/caught --no-bpf %P"
OUT="$WORK/out"
BIN="$VICTIMS/procstate"; VICTIM_ARGS=("$OUT"); KIND=killed; BIN_BASE=procstate

launch_victim
wait_for 5 grep -q '^tick ' "$OUT" || fatal "the victim did not start ticking (output: $(tail -n 3 "$OUT" 2>/dev/null))"
dead=$(grep '^tick ' "$OUT" | tail -n 1 | cut -d' ' -f3-)
pass "the victim runs with: $dead"
kill -QUIT "$VPID"
reap_victim 131
finish_victim_death

if [ "$MODE" = catch-procstate ]; then
    kernel_state_or_skip "$CORE.necro/capture.txt"
    [ -z "$KERNEL_MISSING" ] || fatal "necro-catch did not read the kernel state: $KERNEL_MISSING"
    grep '^process ' "$CORE.necro/capture.txt" >"$WORK/process.line" || fatal "the capture has no process line"
    grep -q 'securebits=0x10 no_new_privs=1 seccomp=2 seccomp_filters=1' "$WORK/process.line" &&
        pass "the capture's process line: $(cat "$WORK/process.line")" ||
        fail "the capture's process line is not the victim's settings: $(cat "$WORK/process.line")"
    n=$(grep -c '^madvise ' "$CORE.necro/capture.txt" || true)
    [ "$n" -ge 7 ] && pass "the capture has $n madvise lines" || fail "the capture has $n madvise lines, expected the victim's 7 at least"
fi

IMG="$WORK/resurrected"
run_necro -c "$CORE" --explain >"$WORK/explain.log" 2>&1 || { show_log "$WORK/explain.log"; fatal "criu-necromancer --explain failed"; }
if [ "$MODE" = catch-procstate ]; then
    for want in 'process settings from the kernel at death: personality 0x40000, securebits 0x10, no_new_privs 1' \
                'mm flags from the kernel at death: THP disabled' \
                'the seccomp filters: the process runs unfiltered' \
                'the personality 0x40000: written to the core image, but CRIU does not restore it' \
                'process seccomp=2: the victim ran under 1 seccomp filter(s)'; do
        grep -qF "$want" "$WORK/explain.log" && pass "--explain: $want" || fail "--explain does not say '$want'"
    done
else
    grep -q "the kernel's state of the task was not captured (disabled by --no-bpf)" "$WORK/explain.log" &&
        pass "--explain warns: the kernel state was not captured" || fail "--explain does not warn that the kernel state is missing"
    grep -q 'THP and madvise bits' "$WORK/explain.log" && pass "--explain lists THP and madvise bits as a default taken" ||
        fail "--explain does not list THP and madvise bits among the defaults"
fi
write_donorless_set
VICTIM_CMDLINE="$BIN $OUT"
check_stopped_restore "$IMG"
restore_running "$IMG"
wait_for 5 has_lines_since "$OUT" "$FROM" 1 '^tick ' || fatal "the resurrected victim does not tick (state '$(state_of "$VPID")'; log: $(tail -n 3 "$IMG/restore-run.log"))"
now=$(since "$OUT" "$FROM" | grep '^tick ' | head -n 1)
pass "the resurrected victim ticks on: $now"
# What the process itself sees, and what /proc shows of it.
if [ "$MODE" = catch-procstate ]; then
    want="secbits=0x10 thp_disabled=1 no_new_privs=1 seccomp=0 personality=0"
else
    want="secbits=0 thp_disabled=0 no_new_privs=1 seccomp=0 personality=0"
fi
[ "$(cut -d' ' -f3- <<<"$now")" = "$want" ] && pass "the process sees: $want" || fail "the process sees '$(cut -d' ' -f3- <<<"$now")', expected '$want'"
vmflags() { # vmflags START: the VmFlags of the VMA at START in the restored process
    awk -v s="${1#0x}" '$1 ~ "^" s "-" { on = 1; next } on && $1 == "VmFlags:" { $1 = ""; print; exit }' "/proc/$VPID/smaps"
}
while read -r _ name start _; do
    case $name in
        dontfork) flag=dc ;; wipeonfork) flag=wf ;; hugepage) flag=hg ;; nohugepage) flag=nh ;;
        random) flag=rr ;; sequential) flag=sr ;; locked) flag=lo ;; *) continue ;;
    esac
    flags=$(vmflags "$start")
    [ -n "$flags" ] || { fail "no VMA at $start ($name) in the restored process"; continue; }
    if [ "$MODE" = catch-procstate ]; then
        grep -qw "$flag" <<<"$flags" && pass "region $name at $start has '$flag':$flags" || fail "region $name at $start lacks '$flag':$flags"
    else
        ! grep -qw "$flag" <<<"$flags" && pass "region $name at $start has no '$flag' (the default without BPF)" ||
            fail "region $name at $start has '$flag' without the kernel state:$flags"
    fi
done < <(grep '^region ' "$OUT")
is_running "$VPID" && pass "pid $VPID still runs" || fail "pid $VPID is not running any more"
kill_tracked "$VPID"
exit 0
