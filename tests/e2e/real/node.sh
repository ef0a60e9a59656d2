#!/usr/bin/env bash
# node.sh - Node.js (real/ticker.js): a program that lives on its timers. A
# setInterval (100 ms) and a self-re-arming setTimeout (250 ms) append
# "interval N MS" / "timeout N MS" lines through one fd kept open; a line
# server on the port answers TICKS, RUNID, PID, SET/GET. V8 and libuv: a
# dozen threads, epoll, eventfd, a signal pipe.
#   node-catch   killed by SIGQUIT under necro-catch and resurrected WITHOUT a
#                donor (as redis-catch, redis.sh): the capture's listener,
#                epoll and cwd, the -catch world checks. After: RUNID and PID
#                the victim's, the value SET before the kill, and both timers
#                tick on from their dead counts (each number once, no gap),
#                at their periods (mean within 20% of 100 ms and 250 ms).
#@test node-catch   node killed under necro-catch, no donor: its setInterval and setTimeout tick on at their periods
# shellcheck source=../lib.sh disable=SC2034 # lib.sh reads BIN, CMD, KILLSIG, LAUNCH_*
. "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
e2e_args e2e.real. "$@"
real_begin
need node nodejs

TICKS="$WORK/ticks"
BIN=$(readlink -f "$(command -v node)")
CMD=("$(command -v node)" "$E2E_DIR/real/ticker.js" serve "$PORT" "$TICKS")
KILLSIG=QUIT
tk() { timeout 10 node "$E2E_DIR/real/ticker.js" client "$PORT" "$1" {LOCKFD}>&-; }

prog_ready() { [ -n "$(tk PID 2>/dev/null)" ]; }
# count_of KIND: the last N of KIND's lines (interval, timeout).
count_of() { awk -v k="$1" '$1 == k { n = $2 } END { print n + 0 }' "$TICKS"; }
has_ticks() { [ "$(count_of interval)" -ge "$1" ]; }
prog_load() {
    wait_for 10 has_ticks 15 || fatal "the victim does not tick: $(tail -n 2 "$TICKS" 2>/dev/null)"
    VICTIM_RUNID=$(tk RUNID)
    pass "the victim ticks: $(tk TICKS | awk '{ print $1 " intervals, " $2 " timeouts" }') (run id $VICTIM_RUNID)"
}
prog_before_kill() {
    MARKER="marker-$RANDOM-$(date +%s%N)"
    [ "$(tk "SET $MARKER")" = OK ] || fatal "could not SET the marker"
}
prog_donor() { :; }
prog_after_death() {
    DEAD_SIZE=$(file_size "$TICKS")
    DEAD_INTERVAL=$(count_of interval)
    DEAD_TIMEOUT=$(count_of timeout)
    log "the dead victim's last ticks: interval $DEAD_INTERVAL, timeout $DEAD_TIMEOUT"
}

# new_ticks KIND: "N MS" of KIND's lines written after the death.
new_ticks() { since "$TICKS" "$DEAD_SIZE" | awk -v k="$1" '$1 == k { print $2, $3 }'; }
ticked_on() { [ "$(new_ticks interval | wc -l)" -ge 15 ] && [ "$(new_ticks timeout | wc -l)" -ge 6 ]; }
# check_timer KIND DEAD PERIOD_MS: KIND's new lines go on from DEAD + 1, one
# number each, at PERIOD_MS on average (within 20%).
check_timer() {
    local kind=$1 dead=$2 period=$3 verdict
    verdict=$(new_ticks "$kind" | awk -v d="$dead" -v p="$period" '
        NR == 1 { first = $1; t0 = $2 }
        NR > 1 && $1 != prev + 1 { bad = bad " " prev "->" $1 }
        { prev = $1; t = $2 }
        END {
            if (NR < 2) { print "FAIL only " NR " lines"; exit }
            mean = (t - t0) / (NR - 1)
            ok = first == d + 1 && bad == "" && mean >= 0.8 * p && mean <= 1.2 * p
            printf "%s %d new lines from %d (dead %d)%s, mean period %.1f ms\n", ok ? "OK" : "FAIL", NR, first, d, bad == "" ? "" : ", gaps:" bad, mean
        }')
    [[ $verdict == OK* ]] && pass "$kind ($period ms) ticks on: ${verdict#OK }" || fail "$kind ($period ms): ${verdict#FAIL }"
}
prog_check() {
    local got
    got=$(tk RUNID)/$(tk PID)/$(tk GET)
    [ "$got" = "$VICTIM_RUNID/$VPID/$MARKER" ] && pass "RUNID, PID and the stored value are the victim's: $got" ||
        fail "RUNID/PID/GET are '$got', the victim's $VICTIM_RUNID/$VPID/$MARKER"
    wait_for 10 ticked_on || fail "the resurrected node does not tick on: $(new_ticks interval | wc -l) intervals, $(new_ticks timeout | wc -l) timeouts since the death"
    check_timer interval "$DEAD_INTERVAL" 100
    check_timer timeout "$DEAD_TIMEOUT" 250
}

real_story
exit 0
