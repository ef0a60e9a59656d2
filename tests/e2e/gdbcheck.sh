# shellcheck shell=bash
# gdbcheck.sh - sourced by lib.sh: debugging a crash with a live process.
#
#   check_gdb_live PROGRAM CORE PID
#
# PID is the crashed process brought back stopped (criu restore -s) from
# CORE. gdb attached to it (gdb -p, batch) must see what gdb sees in the core
# (gdb PROGRAM CORE), and more:
#   1. the same threads (by LWP) with the same full backtraces: every frame's
#      function and pc. What may differ: gdb's thread numbers and names (keyed
#      by LWP instead), and the pc of a thread that died inside a system call
#      to be restarted (ax -ERESTARTSYS/-ERESTARTNOINTR/-ERESTARTNOHAND):
#      CRIU's dump rule, which necro applies, rewinds it to the syscall
#      instruction (ip -= 2), so its innermost frames (frame 0 and the frames
#      inlined at the same pc) are expected 2 bytes lower;
#   2. `call necro_probe(14)` (a pure function of the victim, never called by
#      it) prints 43 in every thread, each run alone (scheduler-locking on);
#   3. a fresh gdb attached afterwards sees every thread's registers and
#      backtrace as before the calls, and the process is still stopped;
#   4. gdb on the core refuses the same call (a core has no process to run);
#   5. the checks can fail: with the leader's pc moved and a register changed
#      (by gdb), 1. and 3. see exactly that; put back, nothing else differs.
# Only what a user would type is used: bt, info registers, printf, call, set.
#
# Needs from the sourcing script: pass, fail, log, wait_for, is_stopped,
# state_of, WORK and LOCKFD (closed for gdb). Each gdb is bounded (60 s).

GDB_PROBE_CALL='necro_probe(14)'
GDB_PROBE_VALUE=43

# gdb_batch OUT ARGS...: gdb -nx -batch ARGS, stdout and stderr into OUT.
gdb_batch() {
    local out=$1
    shift
    timeout 60 gdb -nx -batch -iex 'set debuginfod enabled off' "$@" {LOCKFD}>&- >"$out" 2>&1 || true
}

GDB_BT='thread apply all bt -frame-info location-and-address'
# Every register gdb knows of each thread (x87, SSE, AVX, AVX-512 included).
GDB_REGS=(-ex 'thread apply all info all-registers' -ex 'thread apply all info registers fs_base gs_base orig_rax')
# Per thread on the core: its pc, and the pc it must have once restored.
# shellcheck disable=SC2016 # gdb's convenience variables, not the shell's
GDB_REWIND='thread apply all printf "rewind 0x%016lx 0x%016lx\n", $pc, ($rax <= -512 && $rax >= -514 && $orig_rax >= 0) ? $pc - 2 : $pc'

# gdb_threads < GDB OUTPUT: one line per frame ("LWP #N PC FUNCTION"), per
# "Backtrace stopped" note, per register (`info registers`) and per rewind
# line, each keyed by the LWP of the thread section it is in; threads sorted
# by LWP, each thread's lines in gdb's order.
gdb_threads() {
    awk '/^Thread [0-9]+ \(.*LWP [0-9]+/ { match($0, /LWP [0-9]+/); lwp = substr($0, RSTART + 4, RLENGTH - 4); next }
         lwp == "" { next }
         /^#[0-9]+ / { if ($2 ~ /^0x/ && $3 == "in") print lwp, $1, $2, $4; else print lwp, $0; next }
         /^Backtrace stopped/ { print lwp, $0; next }
         /^rewind 0x/ { print lwp, $0; next }
         /^[a-z][a-z0-9_]* +(0x[0-9a-f]+|\{)/ { print lwp, "reg", $0 }' | sort -s -n -k1,1
}

# gdb_rewound CORE_THREADS: the core's frames as the restored process must
# show them: in each thread, every frame at the thread's pc moved to the pc
# the rewind rule gives (equal when there is nothing to rewind).
gdb_rewound() {
    awk 'NR == FNR { if ($2 == "rewind") { from[$1] = $3; to[$1] = $4 } next }
         $2 ~ /^#/ { if ($1 in from && $3 == from[$1]) $3 = to[$1]; print }' "$1" "$1"
}

# gdb_frames THREADS: the frame and "Backtrace stopped" lines only.
gdb_frames() { grep -v -E '^[0-9]+ (rewind|reg) ' "$1" || true; }

# gdb_capture OUT PID PROG: a fresh attach's backtraces and registers of every
# thread, normalised into OUT.threads (gdb's own output in OUT.out).
gdb_capture() {
    gdb_batch "$1.out" -p "$2" -ex "$GDB_BT" "${GDB_REGS[@]}" "$3"
    gdb_threads <"$1.out" >"$1.threads"
    wait_for 5 is_stopped "$2" || fail "pid $2 is no longer stopped after gdb (state $(state_of "$2"))"
}

# lwps_of FRAMES: the LWPs, comma-separated; count_lwps FRAMES: how many.
lwps_of() { awk '{ print $1 }' "$1" | sort -u | paste -sd, -; }
count_lwps() { awk '{ print $1 }' "$1" | sort -u | wc -l; }

# gdb_same_threads PROG CORE PID: 1. (see the top). Sets GDB_THREADS.
gdb_same_threads() {
    local prog=$1 core=$2 pid=$3 g=$WORK/gdb n_core rewound
    gdb_batch "$g/core.out" -ex "$GDB_BT" -ex "$GDB_REWIND" "$prog" "$core"
    gdb_threads <"$g/core.out" >"$g/core.threads"
    gdb_capture "$g/live" "$pid" "$prog"
    gdb_rewound "$g/core.threads" >"$g/core.frames"
    gdb_frames "$g/live.threads" >"$g/live.frames"
    n_core=$(count_lwps "$g/core.frames")
    GDB_THREADS=$(count_lwps "$g/live.frames")
    rewound=$(awk '$2 == "rewind" && $3 != $4 { n++ } END { print n + 0 }' "$g/core.threads")
    if [ "$n_core" -gt 0 ] && diff -u "$g/core.frames" "$g/live.frames" >"$g/frames.diff"; then
        pass "gdb -p: the core's $n_core thread(s) (LWPs $(lwps_of "$g/live.frames")), $(wc -l <"$g/live.frames") frames, same functions and pcs ($rewound thread(s) rewound out of a restarted syscall, pc - 2): $(awk '$2 == "#0" { printf "%s%s %s", s, $1, $4; s = "; " }' "$g/live.frames")"
    else
        fail "gdb -p and gdb on the core show different threads or backtraces ($n_core vs $GDB_THREADS threads): $(cat "$g/frames.diff")"
        sed 's/^/  core: /' "$g/core.out" | tail -n 30
        sed 's/^/  live: /' "$g/live.out" | tail -n 30
    fi
}

# gdb_calls PROG PID: 2. and 3. (see the top).
gdb_calls() {
    local prog=$1 pid=$2 g=$WORK/gdb calls
    gdb_batch "$g/call.out" -p "$pid" -ex 'set scheduler-locking on' -ex "thread apply all call $GDB_PROBE_CALL" "$prog"
    calls=$(grep -c "^\\\$[0-9]* = $GDB_PROBE_VALUE\$" "$g/call.out" || true)
    if [ "$GDB_THREADS" -gt 0 ] && [ "$calls" -eq "$GDB_THREADS" ]; then
        pass "gdb -p: call $GDB_PROBE_CALL printed $GDB_PROBE_VALUE in each of the $GDB_THREADS thread(s)"
    else
        fail "gdb -p: call $GDB_PROBE_CALL gave $GDB_PROBE_VALUE in $calls of $GDB_THREADS thread(s): $(grep -v '^\[' "$g/call.out" | tail -n 15)"
    fi
    wait_for 5 is_stopped "$pid" || fail "pid $pid is no longer stopped after the calls (state $(state_of "$pid"))"
    gdb_capture "$g/after" "$pid" "$prog"
    if [ -s "$g/live.threads" ] && diff -u "$g/live.threads" "$g/after.threads" >"$g/after.diff"; then
        pass "after the calls a fresh gdb -p sees the same registers ($(grep -c ' reg ' "$g/after.threads") values) and backtraces in every thread"
    else
        fail "the calls changed the process: $(head -n 40 "$g/after.diff")"
    fi
}

# gdb_core_refuses PROG CORE: 4. (see the top).
gdb_core_refuses() {
    local g=$WORK/gdb
    gdb_batch "$g/core-call.out" -ex "call $GDB_PROBE_CALL" "$1" "$2"
    if grep -q "You can't do that without a process to debug" "$g/core-call.out" &&
        ! grep -q "= $GDB_PROBE_VALUE\$" "$g/core-call.out"; then
        pass "gdb on the core refuses the call: '$(grep -m1 "You can't do that" "$g/core-call.out")'"
    else
        fail "gdb on the core did not refuse call $GDB_PROBE_CALL: $(tail -n 5 "$g/core-call.out")"
    fi
}

# gdb_detects PROG PID: 5. (see the top), the comparisons can fail. The leader's pc is moved to
# necro_probe and its r12 flipped: the frames must differ from the core's in
# that thread only, and the registers from before in exactly rip and r12 of
# that thread. Both are put back, and a fresh attach must see everything as
# before.
# shellcheck disable=SC2016 # gdb's $pc and $r12, not the shell's
gdb_detects() {
    local prog=$1 pid=$2 g=$WORK/gdb pc diffs
    pc=$(awk -v l="$pid" '$1 == l && $2 == "reg" && $3 == "rip" { print $4; exit }' "$g/live.threads")
    [ -n "$pc" ] || { fail "no rip of thread $pid in the gdb capture"; return 0; }
    gdb_batch "$g/mutate.out" -p "$pid" -ex 'set $pc = (long) &necro_probe' -ex 'set $r12 = $r12 ^ 0x10' "$prog"
    gdb_capture "$g/mutated" "$pid" "$prog"
    gdb_frames "$g/mutated.threads" >"$g/mutated.frames"
    diffs=$({ diff "$g/live.threads" "$g/mutated.threads" || true; } |
        awk '$1 == ">" && $3 == "reg" { print $2 ":" $4 }' | sort | paste -sd' ' -)
    if ! diff -q "$g/core.frames" "$g/mutated.frames" >/dev/null && grep -q "^$pid #0 0x[0-9a-f]* necro_probe\$" "$g/mutated.frames" &&
        diff <(grep -v "^$pid " "$g/core.frames") <(grep -v "^$pid " "$g/mutated.frames") >/dev/null &&
        [ "$diffs" = "$pid:r12 $pid:rip" ]; then
        pass "the checks can fail: the leader moved to necro_probe with r12 flipped gives a frame mismatch in that thread only and exactly the register changes $diffs"
    else
        fail "a moved pc and a flipped r12 were not seen as exactly that (register changes: '$diffs'): $(diff "$g/core.frames" "$g/mutated.frames" | head -n 10)"
    fi
    gdb_batch "$g/unmutate.out" -p "$pid" -ex "set \$pc = $pc" -ex 'set $r12 = $r12 ^ 0x10' "$prog"
    gdb_capture "$g/restored" "$pid" "$prog"
    if diff -q "$g/live.threads" "$g/restored.threads" >/dev/null; then
        pass "put back: every register and frame as before"
    else
        fail "the registers were not put back: $(diff "$g/live.threads" "$g/restored.threads" | head -n 10)"
    fi
}

check_gdb_live() {
    local prog=$1 core=$2 pid=$3
    if ! command -v gdb >/dev/null; then
        fail "gdb not found (Debian package gdb): the live process cannot be compared with gdb on the core"
        return 0
    fi
    mkdir -p "$WORK/gdb"
    gdb_same_threads "$prog" "$core" "$pid"
    gdb_calls "$prog" "$pid"
    gdb_core_refuses "$prog" "$core"
    gdb_detects "$prog" "$pid"
    if wait_for 5 is_stopped "$pid"; then
        pass "still stopped after gdb detached"
    else
        fail "pid $pid is no longer stopped after gdb (state $(state_of "$pid"))"
    fi
}
