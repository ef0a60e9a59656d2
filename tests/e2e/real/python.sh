#!/usr/bin/env bash
# python.sh - CPython (real/kvserver.py): 20 000 keys in a dict behind a TCP
# server, a marker; SIGQUIT. After: count, 11 sampled values, the marker, the
# random run id chosen at start is the victim's, a write.
#   python        as above.
#   python-title  the process title set with python3-setproctitle
#                 (PostgreSQL's ps_status way: argv and environ strings
#                 overwritten with the title, environ moved to the heap): the
#                 same, and the title; /proc/PID/cmdline must be the victim's
#                 title exactly.
#   python-shm    the same, with a request counter in mmap.mmap(-1, 4096)
#                 (MAP_SHARED|MAP_ANONYMOUS) that must go on from the victim's
#                 value (+ 2: the readiness probe, then the query).
#   python-catch  killed under necro-catch and resurrected without a donor, as
#                 redis-catch (redis.sh): the python checks, cwd, umask,
#                 SigIgn, open-files limit, the listener (a listening socket,
#                 no epoll).
#@test python         CPython: a dict behind a TCP socket
#@test python-title   the same, title set by python3-setproctitle (argv/environ clobbered)
#@test python-shm     the same, a request counter in mmap.mmap(-1, n)
#@test python-catch   the same for kvserver.py under necro-catch, no donor: its own listening socket
# shellcheck source=../lib.sh disable=SC2034 # lib.sh reads BIN, CMD, KILLSIG, LAUNCH_*
. "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
e2e_args e2e.real. "$@"
real_begin

PY_KEYS=20000
kv() { timeout 30 "$PY" "$E2E_DIR/real/kvserver.py" client "$PORT" {LOCKFD}>&-; }
py_val() { printf 'v%d-%d' "$1" $(( ($1 * 7919) % 100003 )); }

BIN=$(readlink -f "$PY")
CMD=("$PY" "$E2E_DIR/real/kvserver.py" serve "$PORT")
case $MODE in
    python-title)
        "$PY" -c 'import setproctitle' 2>/dev/null ||
            fatal "python3's setproctitle module not found: install the Debian package python3-setproctitle"
        PY_TITLE="necro-kv: serving on 127.0.0.1:$PORT"
        CMD+=(--title "$PY_TITLE") ;;
    python-shm) CMD+=(--shm) ;;
esac
KILLSIG=QUIT

prog_ready() { [ "$(echo COUNT | kv 2>/dev/null)" != "" ]; }
prog_load() {
    local out
    out=$(awk -v n="$PY_KEYS" 'BEGIN { for (i = 1; i <= n; i++) printf "SET k%d v%d-%d\n", i, i, (i * 7919) % 100003 }' |
        kv | sort | uniq -c | awk '{print $2 " x" $1}' | paste -sd' ')
    [ "$out" = "OK x$PY_KEYS" ] || fatal "loading $PY_KEYS keys: '$out'"
    VICTIM_RUNID=$(echo RUNID | kv)
    VICTIM_COUNT=$(echo COUNT | kv)
    [ "$VICTIM_COUNT" = "$PY_KEYS" ] && pass "victim holds $VICTIM_COUNT keys (run id $VICTIM_RUNID)" ||
        fatal "victim COUNT is '$VICTIM_COUNT'"
}
prog_before_kill() {
    MARKER="marker-$RANDOM-$(date +%s%N)"
    local out
    out=$(printf 'SET marker %s\nSHM\n' "$MARKER" | kv | paste -sd' ')
    VICTIM_SHM=${out#OK }
    [ "${out%% *}" = OK ] || fatal "setting the marker: '$out'"
    log "marker = $MARKER; shared-memory request counter: $VICTIM_SHM"
    [ "$MODE" != python-shm ] || [ "$VICTIM_SHM" -gt "$PY_KEYS" ] ||
        fatal "the shared-memory counter is '$VICTIM_SHM', expected more than $PY_KEYS"
}
prog_donor() {
    DONOR_RUNID=$(echo RUNID | kv)
    DONOR_SHM=$(echo SHM | kv)
    log "donor run id $DONOR_RUNID, shared-memory counter $DONOR_SHM"
    [ -n "$DONOR_RUNID" ] && [ "$DONOR_RUNID" != "$VICTIM_RUNID" ] ||
        fatal "the donor's run id '$DONOR_RUNID' does not differ from the victim's"
}
prog_check() {
    local got want i bad=0
    if [ "$MODE" = python-shm ]; then
        # +2: the readiness probe after the restore, then this request.
        got=$(echo SHM | kv)
        [ "$got" = $((VICTIM_SHM + 2)) ] &&
            pass "the MAP_SHARED|MAP_ANONYMOUS counter goes on from the victim's: $VICTIM_SHM -> $got (the donor's was $DONOR_SHM)" ||
            fail "the shared-memory counter is '$got', expected $((VICTIM_SHM + 2)) (victim $VICTIM_SHM, donor $DONOR_SHM)"
    fi
    got=$(echo COUNT | kv)
    [ "$got" = $((PY_KEYS + 1)) ] && pass "COUNT is $got: the victim's keys and the marker" ||
        fail "COUNT is '$got', expected $((PY_KEYS + 1))"
    for i in 1 2 3 17 99 1000 4242 12345 19999 "$PY_KEYS" $((RANDOM % PY_KEYS + 1)); do
        got=$(echo "GET k$i" | kv)
        want=$(py_val "$i")
        [ "$got" = "$want" ] || { fail "GET k$i is '$got', expected '$want'"; bad=1; }
    done
    [ "$bad" = 0 ] && pass "11 sampled keys have the victim's values"
    got=$(echo "GET marker" | kv)
    [ "$got" = "$MARKER" ] && pass "the marker set just before the kill is there: $got" ||
        fail "the marker is '$got', expected '$MARKER'"
    got=$(echo RUNID | kv)
    [ "$got" = "$VICTIM_RUNID" ] && pass "the run id is the victim's ($got; the donor's was $DONOR_RUNID)" ||
        fail "the run id is '$got'; the victim's was $VICTIM_RUNID, the donor's $DONOR_RUNID"
    if [ "$MODE" = python-title ]; then
        got=$(echo TITLE | kv)
        [ "$got" = "$PY_TITLE" ] && pass "the title the program set is in its memory: '$got'" ||
            fail "TITLE is '$got', expected '$PY_TITLE'"
    fi
    want="after-$RANDOM"
    got=$(printf 'SET after %s\nGET after\nCOUNT\n' "$want" | kv | paste -sd/)
    [ "$got" = "OK/$want/$((PY_KEYS + 2))" ] && pass "a write works: SET, GET, COUNT -> $got" ||
        fail "write after resurrection: '$got', expected 'OK/$want/$((PY_KEYS + 2))'"
}

real_story
exit 0
