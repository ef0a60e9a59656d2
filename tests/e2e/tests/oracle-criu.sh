#!/usr/bin/env bash
# oracle-criu.sh - oracle self-test, no criu-necromancer: a stopped victim
# (heapsig, or segv in thread mode: futex -512 and nanosleep -516) is first
# gcore'd (when gdb is there) with every thread inside an interrupted system
# call, then dumped by CRIU itself (dump -R), then killed with SIGQUIT: its
# kernel core and CRIU's images describe the same state. CRIU's own restore
# -s must compare SAME with the kernel core; the gcore's raw registers,
# rewound by the oracle, must equal CRIU's restore (checks the oracle's
# rewind rule against CRIU's own). heapsig is then also restored running and
# must pass the behaviour checks. Together with the tests above, this proves
# that whatever the oracle tolerates, a real CRIU restore needs.
#@test oracle-criu          oracle self-test: CRIU's own dump/restore of heapsig vs its kernel core (no CLI)
#@test oracle-criu-thread   the same with the 2-thread segv victim
# shellcheck source=../lib.sh disable=SC2034 # lib.sh reads BIN, CMD, KILLSIG, LAUNCH_*
. "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
e2e_args e2e. "$@"
victims_begin --no-necro
victim_setup "$MODE"

# all_in_syscall PID: every thread of the stopped PID sleeps in a system call
# (/proc/PID/task/TID/syscall starts with its number, not -1 or "running").
all_in_syscall() {
    local f nr
    for f in /proc/"$1"/task/*/syscall; do
        read -r nr _ <"$f" || return 1
        [[ "$nr" =~ ^[0-9]+$ ]] || return 1
    done
}

# stop_in_syscall PID: SIGSTOP it at a moment when all its threads are in a
# system call (so the syscall-restart rewind is exercised); retries.
stop_in_syscall() {
    local _
    for _ in $(seq 50); do
        kill -STOP "$1"
        wait_for 5 is_stopped "$1" || return 1
        all_in_syscall "$1" && return 0
        kill -CONT "$1"
        sleep 0.0$((RANDOM % 9 + 1))
    done
    return 1
}

launch_victim
wait_for 10 progress_ok || fatal "victim made no progress"
# A gcore of the stopped victim first: its registers are raw (a thread in
# clock_nanosleep has ax = -516, one in a futex -512), while CRIU's images,
# the restored process and even the later kernel core carry CRIU's rewound
# values. Comparing the gcore with CRIU's restore checks the oracle's
# rewind rule against CRIU's own. The stop is retried until every thread
# is caught inside an interrupted system call.
GCORE=
for attempt in 1 2 3 4 5 6 7 8; do
    stop_in_syscall "$VPID" || fatal "could not stop pid $VPID with all its threads inside a system call"
    command -v gdb >/dev/null || break
    rm -f "$WORK/before-dump.core"
    timeout 60 gdb -nx -p "$VPID" -batch -ex "gcore $WORK/before-dump.core" {LOCKFD}>&- >"$WORK/gdb.log" 2>&1 || true
    if ! [ -s "$WORK/before-dump.core" ] || ! wait_for 5 is_stopped "$VPID"; then
        show_log "$WORK/gdb.log"
        fatal "gcore of the stopped victim failed"
    fi
    if ! "$ORACLE" --info "$WORK/before-dump.core" | grep '^thread[0-9]' |
        grep -vqE ' rax=0xfffffffffffff(dfc|e00|dff|dfe) '; then
        GCORE="$WORK/before-dump.core"
        break
    fi
    log "attempt $attempt: a thread was not inside an interrupted system call; again"
    kill -CONT "$VPID"
    sleep 0.0$((RANDOM % 9 + 1))
done
if [ -z "$GCORE" ]; then
    command -v gdb >/dev/null && fatal "could not catch the victim inside interrupted system calls"
    log "gdb not found: the rewind rule is not cross-checked"
fi
mkdir -p "$WORK/img"
if ! criu dump -R -t "$VPID" -D "$WORK/img" -v4 -o dump.log; then
    show_log "$WORK/img/dump.log"
    fatal "criu dump -R of the stopped victim failed"
fi
wait_for 5 is_stopped "$VPID" && pass "CRIU dumped pid $VPID and left it stopped" || fatal "pid $VPID not stopped after dump -R"
# Death by SIGQUIT without running a user instruction: memory and
# registers at the core are those CRIU dumped.
kill -QUIT "$VPID"
kill -CONT "$VPID"
reap_victim 131
finish_victim_death
check_stopped_restore "$WORK/img"
if [ -n "$GCORE" ]; then
    # Registers only: gcore writes zeros for a whole file mapping when a
    # page of it (here the one past EOF) cannot be read.
    run_oracle "$GCORE" "$VPID" --regs-only --gdb-core
    if [ "$ORACLE_RC" = 0 ] && grep -Eq 'rewind: (eintr|restart)' "$ORACLE_LOG"; then
        pass "oracle: registers of the gcore taken before the dump, rewound ($(grep -Eo 'rewind: [a-z]+' "$ORACLE_LOG" | sort | uniq -c | paste -sd, | tr -s ' ')), equals CRIU's restore"
    else
        fail "oracle: the gcore taken before the dump differs from CRIU's restore, or no rewind was exercised (exit $ORACLE_RC)"
    fi
fi
[ "$BIN_BASE" != heapsig ] || check_runs_on "$WORK/img" cont
exit 0
