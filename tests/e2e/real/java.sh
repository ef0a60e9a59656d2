#!/usr/bin/env bash
# java.sh - a JVM (OpenJDK 17, real/NullLoop.java compiled with javac here)
# whose main thread takes implicit null checks in a hot loop: compiled code
# (C1, -XX:TieredStopAtLevel=1, which always compiles a field load's null
# check as an implicit one) loads through null every other iteration, and the
# JVM's SIGSEGV handler turns each fault into a NullPointerException that the
# loop catches and counts (about 70 000 SIGSEGVs a second here, strace). Its
# safepoint polls fault the same way. A line server on the port answers
# COUNT, RUNID, PID, SET/GET. Killed by SIGABRT (the JVM takes SIGQUIT for a
# thread dump), under necro-catch, resurrected without a donor.
#   java-catch        the capture's sigactions give the JVM its SIGSEGV (and
#                     every other) handler back: it answers with the victim's
#                     RUNID, PID and stored value, and the count of caught
#                     NullPointerExceptions goes on growing from the dead one.
#   java-catch-nobpf  necro-catch --no-bpf, the documented degraded path: no
#                     handler comes back, and the resurrected JVM dies of
#                     SIGSEGV (signal 11, its exit status read by
#                     real/reaper.py) at once, at its first implicit null check.
#@test java-catch        a JVM taking implicit null checks, killed under necro-catch, no donor: it counts on
#@test java-catch-nobpf  the same with necro-catch --no-bpf: the resurrected JVM dies of SIGSEGV at once (SIG_DFL)
# shellcheck source=../lib.sh disable=SC2034 # lib.sh reads BIN, CMD, KILLSIG, LAUNCH_*
. "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
e2e_args e2e.real. "$@"
real_begin
need java openjdk-17-jdk-headless
need javac openjdk-17-jdk-headless

mkdir -p "$WORK/classes"
javac -d "$WORK/classes" "$E2E_DIR/real/NullLoop.java" {LOCKFD}>&- || fatal "javac NullLoop.java failed"
BIN=$(readlink -f "$(command -v java)")
# A small heap and serial GC (few threads), no hsperfdata file, C1 only.
CMD=("$BIN" -Xmx64m -Xms64m -XX:+UseSerialGC -XX:-UsePerfData -XX:TieredStopAtLevel=1
     -cp "$WORK/classes" NullLoop "$PORT")
KILLSIG=ABRT
RESTORE_REAPER="$WORK/reaper.status"

# jl CMD: one command to the line server, its answer.
jl() {
    local h a
    exec {h}<>"/dev/tcp/127.0.0.1/$PORT" || return 1
    printf '%s\n' "$1" >&"$h"
    IFS= read -r -t 10 a <&"$h" || a=
    exec {h}>&-
    printf '%s\n' "$a"
}
npes() { jl COUNT 2>/dev/null | awk '{ print $1 + 0 }'; }
warm() { [ "$(npes)" -ge "$1" ]; }

prog_ready() { [ -n "$(jl PID 2>/dev/null)" ]; }
prog_load() {
    wait_for 20 warm 200000 || fatal "the victim did not catch 200 000 NullPointerExceptions: $(jl COUNT)"
    VICTIM_RUNID=$(jl RUNID)
    pass "the victim counts caught NullPointerExceptions: COUNT $(jl COUNT) (run id $VICTIM_RUNID, $(ls "/proc/$VPID/task" | wc -l) threads)"
}
prog_before_kill() {
    MARKER="marker-$RANDOM-$(date +%s%N)"
    [ "$(jl "SET $MARKER")" = OK ] || fatal "could not SET the marker"
    DEAD_NPES=$(npes)
    log "marker $MARKER; NullPointerExceptions caught just before the kill: $DEAD_NPES"
}
prog_donor() { :; }
prog_check() {
    local got a b
    got=$(jl RUNID)/$(jl PID)/$(jl GET)
    [ "$got" = "$VICTIM_RUNID/$VPID/$MARKER" ] && pass "RUNID, PID and the stored value are the victim's: $got" ||
        fail "RUNID/PID/GET are '$got', the victim's $VICTIM_RUNID/$VPID/$MARKER"
    a=$(npes)
    sleep 1
    b=$(npes)
    [ "$a" -gt "$DEAD_NPES" ] && [ "$b" -gt $((a + 10000)) ] &&
        pass "it keeps counting implicit null checks: $DEAD_NPES before the kill, $a after the resurrection, $b a second later" ||
        fail "the count of caught NullPointerExceptions: $DEAD_NPES before the kill, then $a, then $b a second later"
}

# java-catch-nobpf: the resurrected JVM, without its SIGSEGV handler, dies
# at once; the reaper reads how (or CRIU, when it died before CRIU let go).
if [ "$NOBPF" = 1 ]; then
    prog_restore() {
        local st
        if ! criu_restore -D "$IMG" -d -v4 -o restore.log --pidfile "$WORK/restored.pid"; then
            # The JVM's first SIGSEGV can come while CRIU still detaches from
            # its threads (a thread runs from its detach on): CRIU then says
            # so, fails the restore and SIGKILLs what is left (seen about one
            # run in three). The outcome is the documented one: it died at once.
            if grep -q 'Unable to detach [0-9]*: No such process' "$IMG/restore.log" && wait_gone "$VPID" 5; then
                pass "without the kernel state the JVM died at once, before CRIU had detached from all its threads ($(grep -m1 -o 'Unable to detach [0-9]*: No such process' "$IMG/restore.log"))"
                return 0
            fi
            show_log "$IMG/restore.log"
            fatal "criu restore -D $IMG failed"
        fi
        TRACKED[$VPID]=$BIN
        pass "restored as pid $(cat "$WORK/restored.pid")"
        wait_gone "$VPID" 10 || { fail "the resurrected JVM without handlers still runs (state '$(state_of "$VPID")')"; return 0; }
        wait_for 5 test -n "$(reaper_status "$VPID")" || true
        st=$(reaper_status "$VPID")
        [ "$st" = 'signal 11' ] &&
            pass "without the kernel state the JVM's SIGSEGV handler is SIG_DFL: the resurrected JVM died of SIGSEGV at once ($st), as documented" ||
            fail "the resurrected JVM without handlers ended with '${st:-(unknown)}', expected 'signal 11'"
    }
fi

real_story
exit 0
