#!/usr/bin/env bash
# lazy-core.sh - heapsig, resurrected with criu-necromancer --restore --lazy
# --lazy-source=core: the lazy pages never leave the core. The pagemap's
# private anonymous entries are lazy only, pages-*.img keeps what CRIU
# restores before the process runs (the vDSO, file pages that differ from
# the file), and necro's page server answers `criu lazy-pages --page-server`
# from the core. Stopped first: the daemon pushes every page, the server and
# the daemon exit, and the oracle compares SAME; the core is then renamed
# away (the next server still has it open). Running: it goes on from the
# dead value + 1 with its memory self-checks holding. --explain --lazy says
# which path and why.
#@test lazy-core   heapsig through --restore --lazy --lazy-source=core (necro's page server from the core): oracle, runs on
#@manual lazy-core-kill   measures what CRIU does when the page server dies mid-way (docs/limits.md)
# shellcheck source=../lib.sh disable=SC2034 # lib.sh reads BIN, CMD, KILLSIG, LAUNCH_*
. "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
e2e_args e2e. "$@"
victims_begin

# lazy_daemon_of LOG / page_server_of LOG: the pids criu-necromancer printed.
lazy_daemon_of() { sed -n 's/^memory loads on first touch: criu lazy-pages pid \([0-9]*\) .*/\1/p' "$1"; }
page_server_of() { sed -n 's/^memory is served from the core .*: necro page server pid \([0-9]*\) .*/\1/p' "$1"; }

# pages_bytes DIR: the size of the set's pages-*.img.
pages_bytes() { local f; for f in "$1"/pages-*.img; do file_size "$f"; done; }

check_explain() {
    local out
    out=$(run_necro -c "$CORE" -i "$WORK/donor" --explain --lazy --lazy-source=core 2>&1) || true
    case $out in
        *"lazy restore: memory from the core (necro's page server): --lazy-source=core"*) pass "--explain --lazy --lazy-source=core names the core path" ;;
        *) fail "--explain --lazy --lazy-source=core does not say the core path: $(printf '%s\n' "$out" | tail -n 2)" ;;
    esac
    out=$(run_necro -c "$CORE" -i "$WORK/donor" --explain --lazy 2>&1) || true
    case $out in
        *"lazy restore: memory from "*) pass "--explain --lazy (auto): $(printf '%s\n' "$out" | sed -n 's/^lazy restore: //p')" ;;
        *) fail "--explain --lazy says nothing of the lazy path" ;;
    esac
}

check_lazy_core() {
    local daemon server t0 from bytes lazy_entries
    "$NECRO_CRIU" check --feature uffd-noncoop >/dev/null 2>&1 {LOCKFD}>&- || skip "this kernel has no non-cooperative userfaultfd (criu check --feature uffd-noncoop)"
    t0=$(date +%s%N)
    necro_restore lazy-stopped --lazy --lazy-source=core --stopped
    daemon=$(lazy_daemon_of "$WORK/necro-lazy-stopped.log")
    server=$(page_server_of "$WORK/necro-lazy-stopped.log")
    if [ "$NECRO_RC" -eq 0 ] && [ "$RPID" = "$VPID" ] && [ -n "$daemon" ] && [ -n "$server" ] && wait_for 5 is_stopped "$VPID"; then
        pass "--restore --lazy --lazy-source=core --stopped: pid $VPID stopped after $(( ($(date +%s%N) - t0) / 1000000 )) ms, daemon $daemon, page server $server"
    else
        show_log "$WORK/necro-lazy-stopped.log"
        fatal "--restore --lazy --lazy-source=core --stopped failed (exit $NECRO_RC, pid '$RPID', daemon '$daemon', server '$server')"
    fi
    bytes=$(pages_bytes "$WORK/lazy-stopped")
    lazy_entries=$(grep -c 'Lazy restore skips' "$WORK/lazy-stopped/restore.log" || true)
    [ "$lazy_entries" -gt 0 ] && pass "CRIU left $lazy_entries pagemap entries to the daemon; pages-*.img holds $bytes bytes" ||
        fail "CRIU restored every page itself: nothing was lazy"
    [ "$bytes" -lt 1048576 ] || fail "pages-*.img holds $bytes bytes: the lazy pages were copied"
    wait_gone "$daemon" 60 && pass "the lazy-pages daemon pushed every page and exited" ||
        fail "the lazy-pages daemon pid $daemon still runs after 60 s"
    wait_gone "$server" 10 && pass "the page server exited: $(tail -n 1 "$WORK/lazy-stopped/page-server.log")" ||
        fail "the page server pid $server still runs after the daemon exited"
    grep -q '^done: .* closed by the daemon' "$WORK/lazy-stopped/page-server.log" ||
        { fail "the page server did not end cleanly"; show_log "$WORK/lazy-stopped/page-server.log"; }
    run_oracle "$CORE" "$VPID"
    [ "$ORACLE_RC" = 0 ] && pass "oracle: the process served from the core equals the core ($(grep '^RESULT' "$ORACLE_LOG"))" ||
        { fail "oracle: the process served from the core differs (exit $ORACLE_RC)"; show_log "$WORK/lazy-stopped/lazy-pages.log"; }
    kill_tracked "$VPID"

    # Running, and the core renamed away as soon as the command returns: the
    # server has it open and goes on serving it.
    from=$(file_size "$OUT")
    necro_restore lazy-running --lazy --lazy-source=core
    mv "$CORE" "$CORE.moved"
    daemon=$(lazy_daemon_of "$WORK/necro-lazy-running.log")
    server=$(page_server_of "$WORK/necro-lazy-running.log")
    [ "$NECRO_RC" -eq 0 ] && [ "$RPID" = "$VPID" ] && [ -n "$server" ] ||
        { mv "$CORE.moved" "$CORE"; show_log "$WORK/necro-lazy-running.log"; fatal "--restore --lazy --lazy-source=core failed (exit $NECRO_RC)"; }
    check_goes_on "$from" "$WORK/lazy-running/restore.log"
    wait_gone "$daemon" 60 && pass "the lazy-pages daemon of the running one exited" ||
        fail "the lazy-pages daemon pid $daemon still runs after 60 s"
    wait_gone "$server" 10 && grep -q '^done: ' "$WORK/lazy-running/page-server.log" &&
        pass "its page server served with the core renamed away: $(tail -n 1 "$WORK/lazy-running/page-server.log")" ||
        { fail "the page server of the running one did not end cleanly"; show_log "$WORK/lazy-running/page-server.log"; }
    mv "$CORE.moved" "$CORE"
}

# measure_server_death: the page server SIGKILLed as soon as the command
# returns (the daemon is still pushing): what the daemon, the process and the
# oracle then say. A measurement for docs/limits.md, not a guarantee.
measure_server_death() {
    local daemon server
    necro_restore lazy-kill --lazy --lazy-source=core --stopped
    server=$(page_server_of "$WORK/necro-lazy-kill.log")
    daemon=$(lazy_daemon_of "$WORK/necro-lazy-kill.log")
    [ -n "$server" ] || { show_log "$WORK/necro-lazy-kill.log"; fatal "no page server"; }
    kill -KILL "$server"
    wait_gone "$daemon" 30 && log "the daemon exited after the server's death" || log "the daemon still runs 30 s after the server's death"
    grep -E 'Error|error|closed' "$WORK/lazy-kill/lazy-pages.log" | head -n 5 | sed 's/^/  daemon: /'
    log "the process: state '$(state_of "$VPID")'"
    if [ -e "/proc/$VPID" ]; then
        run_oracle "$CORE" "$VPID"
        log "oracle exit $ORACLE_RC: $(grep '^RESULT' "$ORACLE_LOG")"
        kill_tracked "$VPID"
    fi
}

victim_and_donor "$MODE"
if [ "$MODE" = lazy-core-kill ]; then
    measure_server_death
    exit 0
fi
check_explain
check_lazy_core
exit 0
