#!/usr/bin/env bash
# catch-threads.sh - per-thread kernel state at death (issue 21): names,
# scheduling and a robust mutex, through necro-catch's BPF task iterator
# (docs/capture.md, "The kernel's state") and back without a donor. The
# victim (victims/mtstate.c) runs 6 threads: the leader "mtstate" (nice 1) and
# mt-batch (SCHED_BATCH, nice 5), mt-idle (SCHED_IDLE, nice 12), mt-nice
# (nice -4), mt-fifo (SCHED_FIFO, rt priority 7), mt-holder (nice 3), which
# holds a robust PTHREAD_PROCESS_SHARED mutex in a MAP_SHARED file mapping.
# Each thread ticks every 50 ms. Killed by SIGQUIT under necro-catch.
#   catch-mt        the capture has a thread line per tid with its comm,
#                   policy, rt priority and nice; resurrected running, every
#                   /proc/PID/task/TID/{comm,stat} shows the victim's name,
#                   policy (stat field 41), rt priority (40) and nice (19),
#                   and every thread ticks on from its dead count.
#   catch-mt-nobpf  necro-catch --no-bpf: the capture says why the kernel
#                   state is missing, --explain warns, and the threads come
#                   back with the documented defaults: the process's comm
#                   (NT_PRPSINFO) for every thread, SCHED_OTHER, and the nice
#                   of NT_PRPSINFO (the leader's, 1) for all.
# Both: the robust mutex. At the holder's death the kernel walks its robust
# list and marks the word FUTEX_OWNER_DIED: another process (victims/
# robustlock.c) locking a copy of the file then gets EOWNERDEAD (the dead
# one's behaviour). The word is then put back as it was at the moment of the
# core (the holder's tid; the file is outside the process, so the first
# death's marking outlives it). Resurrected, the holder holds it again (a lock
# times out); killed, the kernel must find the mutex on the resurrected
# holder's robust list (the captured robust_list address, or without BPF
# glibc's struct pthread guess): the other process gets EOWNERDEAD again.
#@test catch-mt          per-thread names, policies, nice and a robust mutex from the BPF capture, no donor
#@test catch-mt-nobpf    the same with necro-catch --no-bpf: the documented defaults, the robust mutex still recovered
# shellcheck source=../lib.sh disable=SC2034 # lib.sh reads BIN, KILLSIG, LAUNCH_*
. "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
e2e_args e2e. "$@"
victims_begin --catch
for v in mtstate robustlock; do [ -x "$VICTIMS/$v" ] || fatal "victim '$VICTIMS/$v' is not built"; done
[ "$MODE" != catch-mt-nobpf ] || cores_through_catch "|$CATCH --dir $WORK/caught --no-bpf %P"
OUT="$WORK/out"
MUTEX="$WORK/mutex"
BIN="$VICTIMS/mtstate"; VICTIM_ARGS=("$OUT" "$MUTEX"); KIND=killed; BIN_BASE=mtstate
robust() { "$VICTIMS/robustlock" "$@" {LOCKFD}>&-; }

# thread_table PID: "TID COMM POLICY RTPRIO NICE" per thread, sorted by tid
# (/proc/PID/task/TID/stat: fields after the ')' that closes comm).
thread_table() {
    local t s
    for t in /proc/"$1"/task/*; do
        s=$(cat "$t/stat" 2>/dev/null) || continue
        s=${s##*) }
        # shellcheck disable=SC2086 # split the fields
        set -- $s
        printf '%s %s %s %s %s\n' "${t##*/}" "$(cat "$t/comm")" "${39}" "${38}" "${17}"
    done | sort -n
}
# ticks_of NAME FROM: the tick counts NAME wrote after byte FROM of OUT.
ticks_of() { since "$OUT" "$2" | awk -v n="$1" '$1 == "tick" && $2 == n { print $3 }'; }
# ticking NAME FROM N: NAME wrote at least N ticks after byte FROM.
ticking() { [ "$(ticks_of "$1" "$2" | wc -l)" -ge "$3" ]; }

launch_victim
wait_for 10 grep -q '^ready$' "$OUT" || fatal "the victim did not get ready (output: $(grep -v '^tick ' "$OUT" | tail -n 3))"
! grep -q '^error ' "$OUT" || fatal "the victim failed: $(grep -m1 '^error ' "$OUT")"
thread_table "$VPID" >"$WORK/victim.threads"
sed 's/^/  victim thread: /' "$WORK/victim.threads"
[ "$(wc -l <"$WORK/victim.threads")" = 6 ] || fatal "the victim has $(wc -l <"$WORK/victim.threads") threads, not 6"
# The victim's own reading (sched_getscheduler, getpriority) equals /proc's.
bad=$(awk '$1 == "thread" { print $3, $2, $4, $5, $6 }' "$OUT" | sort -n | diff - "$WORK/victim.threads" || true)
[ -z "$bad" ] && pass "each thread has its own name, policy, rt priority and nice (/proc agrees with the victim): $(awk '{ print $2 "=" $3 "/" $4 "/" $5 }' "$WORK/victim.threads" | paste -sd' ')" ||
    fatal "/proc and the victim's own lines differ: $bad"
HOLDER=$(sed -n 's/^holder //p' "$OUT")
read -r _ word _ < <(robust "$MUTEX" word)
[ "$word" = "$(printf '%#x' "$HOLDER")" ] && pass "the robust mutex is held by mt-holder, tid $HOLDER (word $word)" ||
    fatal "the robust mutex word is $word, not mt-holder's tid $HOLDER"
wait_for 5 ticking mt-holder 0 5 || fatal "the threads do not tick"

kill -QUIT "$VPID"
reap_victim 131
finish_victim_death
{ grep 'kernel state' "$CORE.necro/capture.log" || true; } | sed 's/^/  capture.log: /'
awk '$1 == "tick" { last[$2] = $3 } END { for (n in last) print n, last[n] }' "$OUT" | sort >"$WORK/dead-ticks"

# The dead one's robust mutex: marked by the kernel at its death; another
# process gets EOWNERDEAD (on a copy: the file itself is put back as at death).
robust "$MUTEX" word >"$WORK/word.dead"
grep -q ' tid 0 owner-died 1$' "$WORK/word.dead" &&
    pass "at the holder's death the kernel marked the mutex: $(cat "$WORK/word.dead")" ||
    fail "the mutex was not marked FUTEX_OWNER_DIED at the holder's death: $(cat "$WORK/word.dead")"
cp "$MUTEX" "$WORK/mutex.dead"
robust "$WORK/mutex.dead" lock 2000 >"$WORK/lock.dead"
[ "$(cat "$WORK/lock.dead")" = EOWNERDEAD ] && pass "from the dead one, another process gets EOWNERDEAD" ||
    fail "locking the dead one's mutex gave '$(cat "$WORK/lock.dead")', not EOWNERDEAD"
robust "$MUTEX" set "$HOLDER"
read -r _ word _ < <(robust "$MUTEX" word)
[ "$word" = "$(printf '%#x' "$HOLDER")" ] || fatal "could not put the mutex word back to $HOLDER: $word"
log "the mutex word put back as it was at the moment of the core: $word (mt-holder's tid)"

cap="$CORE.necro/capture.txt"
if [ "$MODE" = catch-mt ]; then
    kernel_state_or_skip "$cap"
    bad=
    while read -r tid comm policy rtprio nice; do
        line=$(awk -v t="tid=$tid" '$1 == "thread" && $2 == t' "$cap")
        for want in "comm=$comm" "policy=$policy" "rt_priority=$rtprio" "nice=$nice"; do
            [[ " $line " == *" $want "* ]] || bad="$bad tid $tid lacks $want ('$line');"
        done
    done <"$WORK/victim.threads"
    [ -z "$bad" ] && pass "the capture has each thread's comm, policy, rt priority and nice: $(grep -c '^thread ' "$cap") thread lines" ||
        fail "the capture's thread lines:$bad"
else
    grep -q '^kernel-state missing why=disabled%20by%20--no-bpf$' "$cap" &&
        pass "the capture says why the kernel state is missing: $(grep '^kernel-state' "$cap")" ||
        fail "the capture does not say 'kernel-state missing why=disabled by --no-bpf': $(grep '^kernel-state' "$cap")"
fi

IMG="$WORK/resurrected"
run_necro -c "$CORE" --explain >"$WORK/explain.log" 2>&1 || { show_log "$WORK/explain.log"; fatal "criu-necromancer --explain failed"; }
if [ "$MODE" = catch-mt ]; then
    grep -q 'per-thread state from the kernel at death for 6 of 6 threads' "$WORK/explain.log" &&
        pass "--explain: $(grep -m1 -o 'per-thread state from the kernel at death for [^:]*' "$WORK/explain.log")" ||
        fail "--explain does not take the per-thread state of 6 threads from the kernel state"
else
    grep -q "the kernel's state of the task was not captured (disabled by --no-bpf)" "$WORK/explain.log" &&
        pass "--explain warns: the kernel state was not captured (disabled by --no-bpf)" ||
        fail "--explain does not warn that the kernel state is missing"
    grep -q 'thread names.*the process.s comm (NT_PRPSINFO) for every thread' "$WORK/explain.log" &&
        pass "--explain lists the default: the process's comm for every thread" ||
        fail "--explain does not list the thread-name default"
fi
write_donorless_set
VICTIM_CMDLINE="$BIN ${VICTIM_ARGS[*]}"
check_stopped_restore "$IMG"
# Killed, the stopped resurrection already dies like the victim: the kernel
# walks its holder's robust list and marks the mutex. Then the word goes back
# to the moment of the core again for the running one.
kill_tracked "$VPID"
robust "$MUTEX" word >"$WORK/word.stopped"
grep -q ' tid 0 owner-died 1$' "$WORK/word.stopped" &&
    pass "killing the stopped resurrection marked the mutex too: $(cat "$WORK/word.stopped")" ||
    fail "killing the stopped resurrection left the mutex unmarked: $(cat "$WORK/word.stopped")"
robust "$MUTEX" set "$HOLDER"
restore_running "$IMG"
wait_for 5 ticking mt-holder "$FROM" 3 ||
    fatal "the resurrected victim does not tick (state '$(state_of "$VPID")'; output: $(since "$OUT" "$FROM" | tail -n 2))"

thread_table "$VPID" >"$WORK/restored.threads"
sed 's/^/  restored thread: /' "$WORK/restored.threads"
if [ "$MODE" = catch-mt ]; then
    want="$WORK/victim.threads"
else
    # The documented defaults: NT_PRPSINFO's comm and nice, SCHED_OTHER.
    awk '{ print $1, "mtstate", 0, 0, 1 }' "$WORK/victim.threads" >"$WORK/default.threads"
    want="$WORK/default.threads"
fi
bad=$(diff "$want" "$WORK/restored.threads" || true)
[ -z "$bad" ] && pass "every thread came back with $([ "$MODE" = catch-mt ] && echo "its own name, policy, rt priority and nice" || echo "the defaults: comm mtstate, SCHED_OTHER, nice 1"): $(awk '{ print $2 "=" $3 "/" $4 "/" $5 }' "$WORK/restored.threads" | paste -sd' ')" ||
    fail "the resurrected threads (tid comm policy rtprio nice) differ from $(basename "$want"): $(paste -sd'|' <<<"$bad")"
bad=
while read -r name dead; do
    first=$(ticks_of "$name" "$FROM" | head -n 1)
    [ "$first" = $((dead + 1)) ] || bad="$bad $name: $dead -> '$first';"
done <"$WORK/dead-ticks"
[ -z "$bad" ] && pass "each of the 5 threads ticks on from its dead count: $(awk '{ print $1 " " $2 "->" $2 + 1 }' "$WORK/dead-ticks" | paste -sd, | sed 's/,/, /g')" ||
    fail "the ticks after the resurrection:$bad"

robust "$MUTEX" lock 300 >"$WORK/lock.live"
[ "$(cat "$WORK/lock.live")" = ETIMEDOUT ] && pass "the resurrected mt-holder holds the robust mutex again: a lock times out" ||
    fail "locking the mutex while the resurrected holder lives gave '$(cat "$WORK/lock.live")', not ETIMEDOUT"
kill_tracked "$VPID"
robust "$MUTEX" word >"$WORK/word.again"
robust "$MUTEX" lock 2000 >"$WORK/lock.again"
[ "$(cat "$WORK/lock.again")" = EOWNERDEAD ] &&
    pass "the resurrected holder killed, another process gets EOWNERDEAD, as from the dead one ($(cat "$WORK/word.again"))" ||
    fail "after killing the resurrected holder a lock gave '$(cat "$WORK/lock.again")', not EOWNERDEAD: the kernel did not find the mutex on its robust list ($(cat "$WORK/word.again"))"
exit 0
