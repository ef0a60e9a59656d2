#!/usr/bin/env bash
# lazy.sh - heapsig, resurrected with criu-necromancer --restore --lazy
# --lazy-source=images (the pages copied into pages-*.img; lazy-core.sh serves
# them from the core instead):
# memory comes on first touch from a criu lazy-pages daemon (userfaultfd).
# Stopped first (--lazy --stopped): CRIU leaves the PE_LAZY pagemap entries to
# the daemon, which pushes every page and exits, then the oracle compares
# SAME; then running (--lazy): it goes on from the dead value + 1 with its
# memory self-checks holding, and the daemon exits.
#@test lazy   heapsig through --restore --lazy (criu lazy-pages, userfaultfd): oracle, runs on
# shellcheck source=../lib.sh disable=SC2034 # lib.sh reads BIN, CMD, KILLSIG, LAUNCH_*
. "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
e2e_args e2e. "$@"
victims_begin

# lazy_daemon_of LOG: the lazy-pages daemon's pid that criu-necromancer printed.
lazy_daemon_of() { sed -n 's/^memory loads on first touch: criu lazy-pages pid \([0-9]*\) .*/\1/p' "$1"; }

# check_lazy: --restore --lazy, stopped (oracle once the daemon is done), then running.
check_lazy() {
    local daemon t0 from
    "$NECRO_CRIU" check --feature uffd-noncoop >/dev/null 2>&1 {LOCKFD}>&- || skip "this kernel has no non-cooperative userfaultfd (criu check --feature uffd-noncoop)"
    t0=$(date +%s%N)
    necro_restore lazy-stopped --lazy --lazy-source=images --stopped
    daemon=$(lazy_daemon_of "$WORK/necro-lazy-stopped.log")
    if [ "$NECRO_RC" -eq 0 ] && [ "$RPID" = "$VPID" ] && [ -n "$daemon" ] && wait_for 5 is_stopped "$VPID"; then
        pass "--restore --lazy --stopped: pid $VPID stopped after $(( ($(date +%s%N) - t0) / 1000000 )) ms, lazy-pages daemon pid $daemon"
    else
        show_log "$WORK/necro-lazy-stopped.log"
        fatal "--restore --lazy --stopped failed (exit $NECRO_RC, pid '$RPID', daemon '$daemon')"
    fi
    grep -q 'Lazy restore skips' "$WORK/lazy-stopped/restore.log" &&
        pass "CRIU left $(grep -c 'Lazy restore skips' "$WORK/lazy-stopped/restore.log") pagemap entries to the daemon" ||
        fail "CRIU restored every page itself: nothing was lazy"
    wait_gone "$daemon" 60 && pass "the lazy-pages daemon pushed every page and exited" ||
        fail "the lazy-pages daemon pid $daemon still runs after 60 s"
    run_oracle "$CORE" "$VPID"
    [ "$ORACLE_RC" = 0 ] && pass "oracle: the lazily restored process equals the core ($(grep '^RESULT' "$ORACLE_LOG"))" ||
        { fail "oracle: the lazily restored process differs (exit $ORACLE_RC)"; show_log "$WORK/lazy-stopped/lazy-pages.log"; }
    kill_tracked "$VPID"
    from=$(file_size "$OUT")
    necro_restore lazy-running --lazy --lazy-source=images
    daemon=$(lazy_daemon_of "$WORK/necro-lazy-running.log")
    [ "$NECRO_RC" -eq 0 ] && [ "$RPID" = "$VPID" ] && [ -n "$daemon" ] ||
        { show_log "$WORK/necro-lazy-running.log"; fatal "--restore --lazy failed (exit $NECRO_RC)"; }
    check_goes_on "$from" "$WORK/lazy-running/restore.log"
    wait_gone "$daemon" 60 && pass "the lazy-pages daemon of the running one exited" ||
        fail "the lazy-pages daemon pid $daemon still runs after 60 s"
}

victim_and_donor lazy
check_lazy
exit 0
