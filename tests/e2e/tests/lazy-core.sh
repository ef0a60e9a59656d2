#!/usr/bin/env bash
# lazy-core.sh - heapsig, resurrected with criu-necromancer --restore --lazy
# --lazy-source=core: the lazy pages never leave the core. The pagemap's
# private anonymous entries are lazy only, pages-*.img keeps what CRIU
# restores before the process runs (the vDSO, file pages that differ from
# the file), and necro's lazy-pages daemon copies them in from the core
# (lazy-core), or, with --lazy-daemon=criu, necro's page server answers
# `criu lazy-pages --page-server` (lazy-core-criu). Stopped first: the daemon
# pushes every page and exits, and the oracle compares SAME; the core is then
# renamed away (the next daemon still has it open). Running: it goes on from
# the dead value + 1 with its memory self-checks holding. --explain --lazy
# says which path and why.
#@test lazy-core        heapsig through --restore --lazy --lazy-source=core (necro's lazy-pages daemon from the core): oracle, runs on
#@test lazy-core-criu   the same through criu lazy-pages and necro's page server (--lazy-daemon=criu)
#@test lazy-core-zst    a zstd-compressed core: served from its decompressed scratch file, which is gone once the daemon exits; oracle SAME
#@test lazy-core-gdb    --restore --gdb --lazy --lazy-source=core: gdb attached while the memory comes from the core, its backtrace reaches main with no unreadable frame, and it read the dynamic linker's library list
#@test lazy-core-truncated   the core truncated while the daemon serves a stopped process: a named error, the process killed, never wrong memory
#@test lazy-core-kill   the daemon killed while pages are missing: its guardian kills the process, stopped or running, and holds the userfaultfd of a child it forked
# shellcheck source=../lib.sh disable=SC2034 # lib.sh reads BIN, CMD, KILLSIG, LAUNCH_*
. "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
e2e_args e2e. "$@"
victims_begin

# The daemon this mode asks for, and how --explain names it.
DAEMON_ARGS=()
EXPLAINED="necro's lazy-pages daemon"
if [ "$MODE" = lazy-core-criu ]; then
    DAEMON_ARGS=(--lazy-daemon=criu)
    EXPLAINED="necro's page server"
fi

# pages_bytes DIR: the size of the set's pages-*.img.
pages_bytes() { local f; for f in "$1"/pages-*.img; do file_size "$f"; done; }

check_explain() {
    local out
    out=$(run_necro -c "$CORE" -i "$WORK/donor" --explain --lazy --lazy-source=core "${DAEMON_ARGS[@]}" 2>&1) || true
    case $out in
        *"lazy restore: memory from the core ($EXPLAINED): --lazy-source=core"*) pass "--explain --lazy --lazy-source=core names the core path" ;;
        *) fail "--explain --lazy --lazy-source=core does not say the core path: $(printf '%s\n' "$out" | tail -n 2)" ;;
    esac
    out=$(run_necro -c "$CORE" -i "$WORK/donor" --explain --lazy 2>&1) || true
    case $out in
        *"lazy restore: memory from "*) pass "--explain --lazy (auto): $(printf '%s\n' "$out" | sed -n 's/^lazy restore: //p')" ;;
        *) fail "--explain --lazy says nothing of the lazy path" ;;
    esac
}

check_lazy_core() {
    local t0 from bytes lazy_entries
    "$NECRO_CRIU" check --feature uffd-noncoop >/dev/null 2>&1 {LOCKFD}>&- || skip "this kernel has no non-cooperative userfaultfd (criu check --feature uffd-noncoop)"
    t0=$(date +%s%N)
    necro_restore lazy-stopped --lazy --lazy-source=core --stopped "${DAEMON_ARGS[@]}"
    lazy_pids "$WORK/necro-lazy-stopped.log"
    if [ "$NECRO_RC" -eq 0 ] && [ "$RPID" = "$VPID" ] && [ -n "$LAZY_DAEMON" ] && [ -n "$LAZY_LOG" ] && wait_for 5 is_stopped "$VPID"; then
        pass "--restore --lazy --lazy-source=core --stopped: pid $VPID stopped after $(( ($(date +%s%N) - t0) / 1000000 )) ms, daemon $LAZY_DAEMON${LAZY_SERVER:+, page server $LAZY_SERVER}"
    else
        show_log "$WORK/necro-lazy-stopped.log"
        fatal "--restore --lazy --lazy-source=core --stopped failed (exit $NECRO_RC, pid '$RPID', daemon '$LAZY_DAEMON')"
    fi
    bytes=$(pages_bytes "$WORK/lazy-stopped")
    lazy_entries=$(grep -c 'Lazy restore skips' "$WORK/lazy-stopped/restore.log" || true)
    [ "$lazy_entries" -gt 0 ] && pass "CRIU left $lazy_entries pagemap entries to the daemon; pages-*.img holds $bytes bytes" ||
        fail "CRIU restored every page itself: nothing was lazy"
    [ "$bytes" -lt 1048576 ] || fail "pages-*.img holds $bytes bytes: the lazy pages were copied"
    lazy_core_ends "$WORK/lazy-stopped" "the stopped one"
    run_oracle "$CORE" "$VPID"
    [ "$ORACLE_RC" = 0 ] && pass "oracle: the process served from the core equals the core ($(grep '^RESULT' "$ORACLE_LOG"))" ||
        { fail "oracle: the process served from the core differs (exit $ORACLE_RC)"; show_log "$LAZY_LOG"; }
    kill_tracked "$VPID"

    # Running, and the core renamed away as soon as the command returns: the
    # daemon has it open and goes on serving it.
    from=$(file_size "$OUT")
    necro_restore lazy-running --lazy --lazy-source=core "${DAEMON_ARGS[@]}"
    mv "$CORE" "$CORE.moved"
    lazy_pids "$WORK/necro-lazy-running.log"
    [ "$NECRO_RC" -eq 0 ] && [ "$RPID" = "$VPID" ] && [ -n "$LAZY_DAEMON" ] ||
        { mv "$CORE.moved" "$CORE"; show_log "$WORK/necro-lazy-running.log"; fatal "--restore --lazy --lazy-source=core failed (exit $NECRO_RC)"; }
    check_goes_on "$from" "$WORK/lazy-running/restore.log"
    lazy_core_ends "$WORK/lazy-running" "the running one, its core renamed away"
    mv "$CORE.moved" "$CORE"
}

# check_truncated: stopped, its pages on demand only (--lazy-push=no: none
# moves until the process touches it); the core is cut to 1 MiB, then the
# process continues and touches its stack and heap. The daemon must name the
# truncation and kill the process before it reads anything but the core's
# bytes.
check_truncated() {
    necro_restore lazy-trunc --lazy --lazy-source=core --stopped --lazy-push=no
    lazy_pids "$WORK/necro-lazy-trunc.log"
    [ "$NECRO_RC" -eq 0 ] && [ "$RPID" = "$VPID" ] && [ -n "$LAZY_DAEMON" ] ||
        { show_log "$WORK/necro-lazy-trunc.log"; fatal "--restore --lazy --lazy-push=no --stopped failed (exit $NECRO_RC)"; }
    cp "$CORE" "$CORE.whole"
    truncate -s 1M "$CORE"
    kill -CONT "$VPID"
    wait_gone "$LAZY_DAEMON" 30 || fail "the daemon still runs after the truncation"
    mv "$CORE.whole" "$CORE"
    case $(tail -n 1 "$LAZY_LOG") in
        "error: "*"truncated"*"killed"*) pass "the daemon named it: $(tail -n 1 "$LAZY_LOG")" ;;
        *) fail "the daemon's last word is not the truncation"; show_log "$LAZY_LOG" ;;
    esac
    wait_gone "$VPID" 10 && pass "the process was killed before it could read a page the core no longer has" ||
        { fail "pid $VPID still runs after its core was truncated"; kill_tracked "$VPID"; }
}

# check_zst: the core compressed (zstd), restored stopped with its memory
# from the core: necro decompresses it into an unnamed scratch file, the
# daemon serves from that file open, and nothing stays behind once it exits.
check_zst() {
    local zcore="$WORK/victim.core.zst" scratch f
    command -v zstd >/dev/null || skip "zstd not found"
    zstd -q -f "$CORE" -o "$zcore" {LOCKFD}>&-
    local plain=$CORE
    CORE=$zcore
    necro_restore lazy-zst --lazy --lazy-source=core --stopped
    CORE=$plain
    lazy_pids "$WORK/necro-lazy-zst.log"
    [ "$NECRO_RC" -eq 0 ] && [ "$RPID" = "$VPID" ] && [ -n "$LAZY_DAEMON" ] ||
        { show_log "$WORK/necro-lazy-zst.log"; fatal "--restore --lazy --lazy-source=core of a .zst core failed (exit $NECRO_RC)"; }
    # While it serves, its core is an unlinked scratch file it holds open.
    scratch=''
    for f in "/proc/$LAZY_DAEMON"/fd/*; do
        case $(readlink "$f" 2>/dev/null) in *"(deleted)") scratch=$(readlink "$f"); break ;; esac
    done
    log "the daemon serves from: ${scratch:-(already done)}"
    lazy_core_ends "$WORK/lazy-zst" "the .zst core"
    run_oracle "$CORE" "$VPID"
    [ "$ORACLE_RC" = 0 ] && pass "oracle: the process served from the decompressed .zst core equals the core ($(grep '^RESULT' "$ORACLE_LOG"))" ||
        fail "oracle: the process served from the .zst core differs (exit $ORACLE_RC)"
    kill_tracked "$VPID"
    rm -f "$zcore"
}

# check_gdb: one command restores it stopped with its memory from the core
# and becomes gdb; the threads' stacks are pushed first, so gdb's backtrace
# (which reads them through /proc/PID/mem, never faulting a page in) reads
# no missing page.
check_gdb() {
    command -v gdb >/dev/null || skip "gdb not found"
    local push log
    # --lazy-push=no: gdb reads only what is pushed first (the threads'
    # stacks and control blocks, the dynamic linker's list): the kernel
    # refuses a debugger's read of a missing page.
    for push in yes no; do
        log=$WORK/necro-lazy-gdb-$push.log
        necro_gdb "$log" $'bt\nkill\nquit' -i "$WORK/donor" -o "$WORK/lazy-gdb-$push" --lazy --lazy-source=core \
            --lazy-push=$push
        if [ "$RPID" = "$VPID" ] && grep -q "in main () at\|in main (\|#[0-9].* main " "$log" &&
            grep -q "necro lazy-pages daemon pid" "$log" && ! grep -q "Cannot access memory" "$log" &&
            ! grep -q "Error reading shared library list" "$log" && grep -q "^Reading symbols from .*/libc\.so" "$log"; then
            pass "--gdb --lazy --lazy-push=$push: gdb's backtrace of pid $VPID, served from the core, reaches main; gdb read the library list (libc's symbols)"
        else
            fail "--gdb --lazy --lazy-push=$push: no clean backtrace (exit $NECRO_RC): $(tail -n 20 "$log")"
        fi
        wait_gone "$VPID" 10 && unset "TRACKED[$VPID]" || kill_tracked "$VPID"
    done
}

# check_daemon_death: the daemon SIGKILLed while pages are still missing
# (--lazy-push=no keeps them missing until touched). Its guardian holds the
# userfaultfd open, so the process cannot read a missing page as zeros, and
# kills it. Stopped, then running (it touches missing pages at once), then
# with a child forked after the restore (check_forked_child).
check_daemon_death() {
    local how stop
    for how in stopped running forked; do
        stop=(--stopped)
        [ "$how" != running ] || stop=()
        necro_restore "lazy-kill-$how" --lazy --lazy-source=core --lazy-push=no "${stop[@]}"
        lazy_pids "$WORK/necro-lazy-kill-$how.log"
        [ "$NECRO_RC" -eq 0 ] && [ "$RPID" = "$VPID" ] && [ -n "$LAZY_DAEMON" ] ||
            { show_log "$WORK/necro-lazy-kill-$how.log"; fatal "--restore --lazy --lazy-push=no failed (exit $NECRO_RC)"; }
        CHILD=''
        [ "$how" != forked ] || check_forked_child
        kill -KILL "$LAZY_DAEMON"
        if wait_gone "$VPID" 10; then
            pass "$how: the daemon killed, its guardian killed pid $VPID (never left reading zeros)"
            unset "TRACKED[$VPID]"
        else
            fail "$how: pid $VPID (state $(state_of "$VPID")) outlived its lazy-pages daemon"
            kill_tracked "$VPID"
        fi
        if [ -n "$CHILD" ]; then
            wait_gone "$CHILD" 10 && pass "$how: its child $CHILD is gone too" ||
                { fail "$how: the forked child $CHILD (state $(state_of "$CHILD")) outlived the daemon"; kill_tracked "$CHILD"; }
        fi
    done
}

# uffd_count PID: how many userfaultfds PID holds open.
uffd_count() {
    local f n=0
    for f in /proc/"$1"/fd/*; do
        [ "$(readlink "$f" 2>/dev/null)" != "anon_inode:[userfaultfd]" ] || n=$((n + 1))
    done
    echo "$n"
}

# check_forked_child: gdb makes the restored process fork (`call fork()`).
# The child has a userfaultfd of its own (CRIU's non-cooperative mode); the
# daemon reads its fork event and must hand a copy of it to the guardian
# (uffd_options::on_fork), which then holds two: the process's and the
# child's. Sets CHILD, tracked.
check_forked_child() {
    local guardian n=''
    command -v gdb >/dev/null || skip "gdb not found"
    guardian=$(ps -o pid= --ppid "$LAZY_DAEMON" | tr -d ' ' | head -n 1)
    [ -n "$guardian" ] && [ "$(uffd_count "$guardian")" = 1 ] ||
        fatal "daemon $LAZY_DAEMON has no guardian holding one userfaultfd (child '${guardian}')"
    timeout 60 gdb -nx -batch -p "$VPID" -ex 'call (int)fork()' {LOCKFD}>&- >"$WORK/gdb-fork.log" 2>&1 || true
    CHILD=$(sed -n 's/^\$1 = \([0-9][0-9]*\)$/\1/p' "$WORK/gdb-fork.log")
    [ -n "$CHILD" ] && [ "$CHILD" != 0 ] || { show_log "$WORK/gdb-fork.log"; fatal "gdb's call fork() in pid $VPID gave no child"; }
    TRACKED[$CHILD]=$BIN
    if wait_for 5 eval '[ "$(uffd_count "$guardian")" = 2 ]'; then
        pass "forked: pid $VPID forked $CHILD; the guardian $guardian holds both their userfaultfds"
    else
        fail "forked: the guardian $guardian holds $(uffd_count "$guardian") userfaultfds after pid $VPID forked $CHILD (want 2)"
    fi
}

victim_and_donor "$MODE"
case $MODE in
    lazy-core-kill) check_daemon_death ;;
    lazy-core-truncated) check_truncated ;;
    lazy-core-zst) check_zst ;;
    lazy-core-gdb) check_gdb ;;
    *) check_explain; check_lazy_core ;;
esac
exit 0
