#!/usr/bin/env bash
# catch-timers.sh - interval and POSIX timers at death (issue 21): the victim
# (victims/timers.c) ticks on setitimer(ITIMER_REAL) every 100 ms (SIGALRM
# handler), on a timer_create(CLOCK_MONOTONIC, SIGEV_THREAD_ID) timer every
# 150 ms to its ticker thread, and on a timer on its spinner thread's CPU clock
# (pthread_getcpuclockid: the clock id names the tid) every 5 ms of that
# thread's CPU time; it logs each tick with its CLOCK_MONOTONIC time. It is
# killed by SIGQUIT under necro-catch.
#   catch-timers        no donor: the capture holds the three timers (format 4
#                       `timers`, `itimer`, `posix-timer` lines), --explain
#                       says they are re-armed; the stopped restore passes the
#                       oracle, and running, the alarm and mono ticks go on at
#                       100 and 150 ms (median interval within 20%), the CPU
#                       clock timer ticks too.
#   catch-timers-nobpf  necro-catch --no-bpf: the capture says why the kernel
#                       state is missing, criu-necromancer warns, the victim
#                       comes back (oracle) and runs, with no timer (the
#                       documented default): no tick for a second.
#   catch-timers-donor  with a donor (a second run, dumped by CRIU) and a
#                       --no-bpf capture: the donor's POSIX timers name the
#                       donor's ticker and spinner tids; they follow the
#                       thread mapping (--explain lists them), the restore
#                       succeeds (no `Can't create posix timer - 0: -22`) and
#                       all three timers tick at their periods.
#@test catch-timers         itimer and POSIX timers from the BPF capture, no donor: they tick on at 100 and 150 ms (20%)
#@test catch-timers-nobpf   the same with --no-bpf: resurrects with no timers, and says why
#@test catch-timers-donor   a donor's tid-bearing POSIX timers follow the threads: the restore succeeds and they tick
# shellcheck source=../lib.sh disable=SC2034 # lib.sh reads BIN, KILLSIG, LAUNCH_*
. "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
e2e_args e2e. "$@"
victims_begin --catch
[ -x "$VICTIMS/timers" ] || fatal "victim '$VICTIMS/timers' is not built"
[ "$MODE" = catch-timers ] || cores_through_catch "|$CATCH --dir $WORK/caught --no-bpf %P"
OUT="$WORK/out"
BIN="$VICTIMS/timers"; VICTIM_ARGS=("$OUT"); KIND=killed; BIN_BASE=timers

# tick_count KIND [FROM] [FILE]: the KIND lines written after byte FROM.
tick_count() { since "${3:-$OUT}" "${2:-0}" | awk -v k="$1" '$1 == k { n++ } END { print n + 0 }'; }
# median_ms KIND FROM [FILE]: the median interval between consecutive KIND
# ticks after byte FROM, in ms (the first tick after FROM starts the count:
# the restore's own pause is not an interval).
median_ms() {
    since "${3:-$OUT}" "$2" | awk -v k="$1" '$1 == k { if (prev) printf "%.1f\n", ($3 - prev) / 1e6; prev = $3 }' |
        sort -n >"$WORK/intervals.$1"
    awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "none" }' "$WORK/intervals.$1"
}
# ticking FROM [FILE]: at least 6 alarm, 4 mono and 2 cpu ticks after FROM.
ticking() { [ "$(tick_count alarm "$@")" -ge 6 ] && [ "$(tick_count mono "$@")" -ge 4 ] && [ "$(tick_count cpu "$@")" -ge 2 ]; }
# check_period KIND WANT_MS FROM: the median interval is WANT_MS +-20%.
check_period() {
    local m
    m=$(median_ms "$1" "$3")
    awk -v m="$m" -v w="$2" 'BEGIN { exit !(m != "none" && m >= 0.8 * w && m <= 1.2 * w) }' &&
        pass "$1 ticks every $m ms (median of $(wc -l <"$WORK/intervals.$1") intervals), want $2 ms +-20%" ||
        fail "$1 ticks every $m ms (median of $(wc -l <"$WORK/intervals.$1") intervals: $(paste -sd' ' "$WORK/intervals.$1" | cut -c1-200)), want $2 ms +-20%"
}

# The victim, and in donor mode its donor, each ticking before the kill/dump.
launch_victim
wait_for 10 ticking 0 || fatal "the victim does not tick (output: $(tail -n 3 "$OUT"))"
read -r _ TICKER SPINNER < <(grep -m1 '^threads ' "$OUT")
pass "the victim ticks (threads: ticker $TICKER, spinner $SPINNER): alarm every $(median_ms alarm 0) ms, mono every $(median_ms mono 0) ms, $(tick_count cpu) cpu ticks"
kill -QUIT "$VPID"
reap_victim 131
finish_victim_death
if [ "$MODE" = catch-timers-donor ]; then
    DONOR_OUT="$OUT.donor"
    start_donor "$BIN" "$DONOR_OUT"
    wait_for 10 ticking 0 "$DONOR_OUT" || fatal "the donor does not tick"
    read -r _ D_TICKER D_SPINNER < <(grep -m1 '^threads ' "$DONOR_OUT")
    log "donor threads: ticker $D_TICKER, spinner $D_SPINNER"
    dump_donor
fi

CAP="$CORE.necro/capture.txt"
if [ "$MODE" = catch-timers ]; then
    kernel_state_or_skip "$CAP"
    grep '^timers \|^itimer \|^posix-timer ' "$CAP" >"$WORK/timer-lines" || true
    sed 's/^/  capture: /' "$WORK/timer-lines"
    grep -q '^timers read itimers=3 posix=2$' "$WORK/timer-lines" && pass "the capture has 3 itimers and 2 POSIX timers" ||
        fail "the capture has no 'timers read itimers=3 posix=2' line"
    # value_ns is 0 when the timer fired while the kernel held the dying task
    # (it re-arms at the signal's delivery, which never comes): due.
    grep -q '^itimer which=real value_ns=[0-9]* interval_ns=100000000$' "$WORK/timer-lines" &&
        pass "ITIMER_REAL: every 100 ms, time left $(sed -n 's/^itimer which=real value_ns=\([0-9]*\).*/\1/p' "$WORK/timer-lines") ns" ||
        fail "no ITIMER_REAL every 100 ms in the capture"
    grep -q "^posix-timer id=[0-9]* clock=1 signo=[0-9]* notify=4 tid=$TICKER .*interval_ns=150000000 " "$WORK/timer-lines" &&
        pass "the CLOCK_MONOTONIC timer: SIGEV_THREAD_ID to the ticker $TICKER, every 150 ms" ||
        fail "no CLOCK_MONOTONIC SIGEV_THREAD_ID timer to $TICKER every 150 ms in the capture"
    clock=$(( (~SPINNER << 3) | 6 ))
    grep -q "^posix-timer id=[0-9]* clock=$clock signo=[0-9]* notify=4 tid=$SPINNER .*interval_ns=5000000 " "$WORK/timer-lines" &&
        pass "the CPU clock timer: clock $clock (thread $SPINNER's), to that thread, every 5 ms of its CPU time" ||
        fail "no timer on the spinner's CPU clock $clock to $SPINNER every 5 ms in the capture"
else
    grep -q '^kernel-state missing why=disabled%20by%20--no-bpf$' "$CAP" &&
        pass "the capture says why the kernel state is missing: $(grep '^kernel-state' "$CAP")" ||
        fail "the capture does not say 'kernel-state missing why=disabled by --no-bpf': $(grep '^kernel-state' "$CAP")"
fi

IMG="$WORK/resurrected"
donor=()
[ "$MODE" != catch-timers-donor ] || donor=(-i "$WORK/donor")
run_necro -c "$CORE" ${donor[@]+"${donor[@]}"} --explain >"$WORK/explain.log" 2>&1 || { show_log "$WORK/explain.log"; fatal "criu-necromancer --explain failed"; }
case $MODE in
    catch-timers)
        grep -Eq 'timers from the kernel at death, re-armed with the time they had left: ITIMER_REAL every 100 ms, (next in|due).*; 2 POSIX timers$' "$WORK/explain.log" &&
            pass "--explain: '$(grep -m1 'timers from the kernel at death' "$WORK/explain.log" | sed 's/^ *//')'" ||
            fail "--explain does not say that the timers are re-armed from the capture"
        ! grep -q 'itimers, POSIX timers' "$WORK/explain.log" && pass "--explain no longer lists the timers under 'not in the core'" ||
            fail "--explain still lists the timers as a default: $(grep 'itimers, POSIX timers' "$WORK/explain.log")" ;;
    catch-timers-nobpf)
        grep -q "the kernel's state of the task was not captured (disabled by --no-bpf)" "$WORK/explain.log" &&
            pass "--explain warns: the kernel state was not captured (disabled by --no-bpf)" ||
            fail "--explain does not warn that the kernel state is missing"
        grep -q 'itimers, POSIX timers' "$WORK/explain.log" && pass "--explain lists the timers as a default: $(grep -m1 'itimers, POSIX timers' "$WORK/explain.log" | sed 's/^ *//' | cut -c1-120)" ||
            fail "--explain does not list the timers under 'not in the core'" ;;
    catch-timers-donor)
        { grep "the donor's POSIX timer" "$WORK/explain.log" || true; } | sed 's/^/  /'
        n=$(grep -c "the donor's POSIX timer [0-9]*: .*follows the threads" "$WORK/explain.log" || true)
        [ "$n" = 2 ] && pass "--explain: both donor POSIX timers follow the threads" ||
            fail "--explain lists $n donor POSIX timers that follow the threads, expected 2"
        ! grep -q "the donor's POSIX timer .*dropped" "$WORK/explain.log" && pass "no donor timer dropped" ||
            fail "a donor timer was dropped: $(grep "the donor's POSIX timer .*dropped" "$WORK/explain.log")" ;;
esac
if [ "$MODE" = catch-timers-donor ]; then
    resurrect_with_donor
else
    write_donorless_set
fi
VICTIM_CMDLINE="$BIN $OUT"
# The restored timers run while CRIU keeps the task stopped: their signals
# (SIGALRM 14, SIGRTMIN 34, SIGRTMIN+1 35) may be pending when the oracle looks.
[ "$MODE" = catch-timers-nobpf ] || ORACLE_ARGS=(--timer-signals 14,34,35)
check_stopped_restore "$IMG"
restore_running "$IMG"
! grep -q "Can't create posix timer" "$IMG/restore-run.log" && pass "no 'Can't create posix timer' in CRIU's log" ||
    fail "CRIU: $(grep -m1 "Can't create posix timer" "$IMG/restore-run.log")"
if [ "$MODE" = catch-timers-nobpf ]; then
    sleep 1
    is_running "$VPID" && pass "pid $VPID runs" || fail "pid $VPID does not run (state '$(state_of "$VPID")')"
    [ "$(tick_count alarm "$FROM")" = 0 ] && [ "$(tick_count mono "$FROM")" = 0 ] &&
        pass "without the kernel state no timer is armed: no tick in 1 s (the documented default)" ||
        fail "ticks after a restore without timers: $(since "$OUT" "$FROM" | head -n 3 | paste -sd' ')"
    kill_tracked "$VPID"
    exit 0
fi
wait_for 5 ticking "$FROM" || fail "the resurrected victim does not tick: $(tick_count alarm "$FROM") alarm, $(tick_count mono "$FROM") mono, $(tick_count cpu "$FROM") cpu"
sleep 1.5
is_running "$VPID" && pass "pid $VPID runs" || fail "pid $VPID does not run (state '$(state_of "$VPID")')"
check_period alarm 100 "$FROM"
check_period mono 150 "$FROM"
[ "$(tick_count cpu "$FROM")" -ge 2 ] && pass "the CPU clock timer of the spinner thread ticks: $(tick_count cpu "$FROM") ticks" ||
    fail "the CPU clock timer does not tick after the resurrection"
kill_tracked "$VPID"
exit 0
