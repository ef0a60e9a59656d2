#!/usr/bin/env bash
# memcached.sh - memcached (8 threads: 2 workers, LRU maintainer and crawler,
# hash expander, logger, ...): 20 000 keys and a marker through its text
# protocol (nc), 100 more connections; SIGQUIT. After: curr_items, stats pid,
# total_connections goes on from the victim's (106 -> 111; the donor had 4),
# 11 sampled values, the marker, a write.
#@test memcached   memcached: 20 000 keys through its text protocol, several threads
# shellcheck source=../lib.sh disable=SC2034 # lib.sh reads BIN, CMD, KILLSIG, LAUNCH_*
. "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
e2e_args e2e.real. "$@"
real_begin
need memcached memcached
need nc netcat-openbsd

MC_KEYS=20000
# mc: memcached's text protocol over nc; the server closes on "quit".
mc() { { cat; printf 'quit\r\n'; } | timeout 30 nc -N 127.0.0.1 "$PORT" {LOCKFD}>&- | tr -d '\r'; }
mc_val() { printf 'mv%d-%d' "$1" $(( ($1 * 7919) % 100003 )); }
mc_get() { printf 'get %s\r\n' "$1" | mc | sed -n '2{/^END$/d;p}'; }
mc_stat() { printf 'stats\r\n' | mc | awk -v k="$1" '$1 == "STAT" && $2 == k { print $3 }'; }

BIN=$(readlink -f "$(command -v memcached)")
# -u root: memcached refuses to run as root without it; -U 0: no UDP.
CMD=("$(command -v memcached)" -l 127.0.0.1 -p "$PORT" -U 0 -m 64 -c 64 -t 2 -u root)
KILLSIG=QUIT

prog_ready() { [ "$(printf 'version\r\n' | mc 2>/dev/null | cut -c1-7)" = VERSION ]; }
prog_load() {
    local out
    out=$(awk -v n="$MC_KEYS" 'BEGIN { for (i = 1; i <= n; i++) { v = "mv" i "-" (i * 7919) % 100003
        printf "set k%d 0 0 %d\r\n%s\r\n", i, length(v), v } }' | mc | sort | uniq -c | awk '{print $2 " x" $1}' | paste -sd' ')
    [ "$out" = "STORED x$MC_KEYS" ] || fatal "loading $MC_KEYS keys: '$out'"
    VICTIM_ITEMS=$(mc_stat curr_items)
    [ "$VICTIM_ITEMS" = "$MC_KEYS" ] && pass "victim holds $VICTIM_ITEMS items" ||
        fatal "victim curr_items is '$VICTIM_ITEMS'"
    # Many connections, so that the victim's total_connections stands out.
    local i
    for i in $(seq 100); do printf 'version\r\n' | mc >/dev/null; done
}
prog_before_kill() {
    MARKER="marker-$RANDOM-$(date +%s%N)"
    local out
    out=$(printf 'set marker 0 0 %d\r\n%s\r\n' "${#MARKER}" "$MARKER" | mc)
    [ "$out" = STORED ] || fatal "setting the marker: '$out'"
    VICTIM_CONNS=$(mc_stat total_connections)
    log "marker = $MARKER; victim threads $(mc_stat threads), total_connections $VICTIM_CONNS"
}
prog_donor() {
    DONOR_ITEMS=$(mc_stat curr_items)
    DONOR_CONNS=$(mc_stat total_connections)
    log "donor: curr_items $DONOR_ITEMS, total_connections $DONOR_CONNS"
}
prog_check() {
    local got want i bad=0
    got=$(mc_stat curr_items)
    [ "$got" = $((MC_KEYS + 1)) ] && pass "curr_items is $got: the victim's keys and the marker (the donor had $DONOR_ITEMS)" ||
        fail "curr_items is '$got', expected $((MC_KEYS + 1))"
    got=$(mc_stat pid)
    [ "$got" = "$VPID" ] && pass "stats pid is the victim's pid $got" || fail "stats pid is '$got', expected $VPID"
    got=$(mc_stat total_connections)
    [ "${got:-0}" -gt "$VICTIM_CONNS" ] && [ "$got" -lt $((VICTIM_CONNS + 20)) ] && pass "total_connections goes on from the victim's: $VICTIM_CONNS -> $got (the donor's was $DONOR_CONNS)" ||
        fail "total_connections is '$got', the victim's was $VICTIM_CONNS"
    for i in 1 2 3 17 99 1000 4242 12345 19999 "$MC_KEYS" $((RANDOM % MC_KEYS + 1)); do
        got=$(mc_get "k$i")
        want=$(mc_val "$i")
        [ "$got" = "$want" ] || { fail "get k$i is '$got', expected '$want'"; bad=1; }
    done
    [ "$bad" = 0 ] && pass "11 sampled keys have the victim's values"
    got=$(mc_get marker)
    [ "$got" = "$MARKER" ] && pass "the marker set just before the kill is there: $got" ||
        fail "the marker is '$got', expected '$MARKER'"
    want="after-$RANDOM"
    got=$(printf 'set after 0 0 %d\r\n%s\r\nget after\r\n' "${#want}" "$want" | mc | paste -sd/)
    [ "$got" = "STORED/VALUE after 0 ${#want}/$want/END" ] && pass "a write works: set, get -> $got" ||
        fail "write after resurrection: '$got'"
}

real_story
exit 0
