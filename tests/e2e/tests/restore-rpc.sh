#!/usr/bin/env bash
# restore-rpc.sh - the counter victim, resurrected by criu-necromancer
# --restore (CRIU's RPC, no criu command line): Debian's CRIU 3.17 (--criu) is
# refused before anything is written; --stopped gives the victim's pid
# stopped, equal to the core (oracle); with that pid still taken, a failing
# restore exits 1 quoting CRIU's `Can't fork` line and its log, and nothing
# else runs; --restore (CRIU from NECRO_CRIU) brings it back running on from
# the dead value + 1; --gdb becomes `gdb PROGRAM -p PID`, whose backtrace
# shows main.
#@test restore-rpc   criu-necromancer --restore/--stopped/--gdb through CRIU's RPC; old CRIU refused
# shellcheck source=../lib.sh disable=SC2034 # lib.sh reads BIN, CMD, KILLSIG, LAUNCH_*
. "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
e2e_args e2e. "$@"
victims_begin

# untracked_running: pids running BIN that this test does not track.
untracked_running() {
    local p pid
    for p in /proc/[0-9]*; do
        pid=${p#/proc/}
        [ "$(readlink "$p/exe" 2>/dev/null)" = "$BIN" ] && [ -z "${TRACKED[$pid]:-}" ] && echo "$pid"
    done
    return 0
}

check_restore_rpc() {
    # 1. A CRIU older than 4.1 (Debian 12's own) is refused before any writing.
    local old_criu
    old_criu=$(type -P criu || true)  # the CRIU on PATH, not the criu() function
    if [ -n "$old_criu" ] && "$old_criu" --version 2>/dev/null | grep -q '^Version: 3\.'; then
        necro_restore too-old --criu "$old_criu"
        if [ "$NECRO_RC" -ne 0 ] && grep -q "^criu-necromancer: $old_criu: CRIU 3\.[0-9.]* is too old: restoring on current kernels needs CRIU >= 4.1" \
            "$WORK/necro-too-old.log" && [ ! -e "$WORK/too-old" ]; then
            pass "CRIU $("$old_criu" --version | sed -n 's/^Version: //p') is refused before anything is written: $(head -n1 "$WORK/necro-too-old.log")"
        else
            fail "an old CRIU was not refused as expected (exit $NECRO_RC): $(cat "$WORK/necro-too-old.log")"
        fi
    else
        log "no CRIU 3.x on PATH: the too-old refusal is not checked"
    fi
    # 2. --stopped: the victim's pid, stopped, equal to the core.
    necro_restore rpc-stopped --stopped --criu "$NECRO_CRIU"
    if [ "$NECRO_RC" -eq 0 ] && [ "$RPID" = "$VPID" ] && wait_for 5 is_stopped "$VPID"; then
        pass "--restore --stopped: $(grep '^restored pid' "$WORK/necro-rpc-stopped.log")"
    else
        show_log "$WORK/necro-rpc-stopped.log"
        fatal "--restore --stopped failed (exit $NECRO_RC, pid '$RPID', victim $VPID)"
    fi
    run_oracle "$CORE" "$VPID"
    [ "$ORACLE_RC" = 0 ] && pass "oracle: the process restored through the RPC equals the core ($(grep '^RESULT' "$ORACLE_LOG"))" ||
        fail "oracle: the process restored through the RPC differs (exit $ORACLE_RC)"
    # 3. A restore that fails (the pid is taken by the stopped one): CRIU's
    # error lines and its log are named, and nothing new runs.
    necro_restore rpc-taken
    if [ "$NECRO_RC" -eq 1 ] && grep -q "restoring it failed" "$WORK/necro-rpc-taken.log" &&
        grep -q "^  (.*Error (criu/.*): Can.t fork for $VPID: File exists" "$WORK/necro-rpc-taken.log" && grep -q "^  the whole log: $WORK/rpc-taken/restore.log$" "$WORK/necro-rpc-taken.log" &&
        [ -z "$(untracked_running)" ] && is_stopped "$VPID"; then
        pass "a failed restore is reported with CRIU's errors and log, nothing left running: $(grep -m1 "Can.t fork" "$WORK/necro-rpc-taken.log" | sed 's/^ *//')"
    else
        fail "the failed restore was not reported as expected (exit $NECRO_RC, untracked: $(untracked_running)): $(cat "$WORK/necro-rpc-taken.log")"
    fi
    # 4. --restore (NECRO_CRIU from the environment): it runs on.
    kill_tracked "$VPID"
    local from
    from=$(file_size "$OUT")
    necro_restore rpc-running
    if [ "$NECRO_RC" -eq 0 ] && [ "$RPID" = "$VPID" ] && wait_for 10 progress_ok "$from"; then
        local first
        first=$(since "$OUT" "$from" | head -n 1)
        [ "$first" = "$((DEAD + 1))" ] && pass "--restore: pid $VPID runs on from the dead value + 1 ($DEAD -> $first)" ||
            fail "--restore: pid $VPID wrote '$first' first, expected $((DEAD + 1))"
    else
        show_log "$WORK/necro-rpc-running.log"
        fail "--restore did not bring pid $VPID back running (exit $NECRO_RC, pid '$RPID')"
    fi
    kill_tracked "$VPID"
    # 5. --gdb: gdb attached to the stopped pid, with the program's symbols.
    necro_gdb "$WORK/necro-rpc-gdb.log" $'info symbol $pc\nbt\nkill\nquit' -i "$WORK/donor" -o "$WORK/rpc-gdb"
    if [ "$RPID" = "$VPID" ] && grep -q "in main () at\|in main (\|#[0-9].* main " "$WORK/necro-rpc-gdb.log" &&
        grep -q "Attaching to program: $BIN, process $VPID" "$WORK/necro-rpc-gdb.log"; then
        pass "--gdb: gdb attached to pid $VPID with $BIN's symbols (main in the backtrace)"
    else
        fail "--gdb: gdb did not attach with symbols (exit $NECRO_RC): $(tail -n 20 "$WORK/necro-rpc-gdb.log")"
    fi
    wait_gone "$VPID" 10 && unset "TRACKED[$VPID]" || kill_tracked "$VPID"
}

victim_and_donor restore-rpc
check_restore_rpc
exit 0
