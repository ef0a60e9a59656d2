# shellcheck shell=bash
# gdbcheck.sh - sourced by run_e2e.sh: debugging a crash with a live process.
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
#   4. gdb on the core refuses the same call (a core has no process to run).
# Only what a user would type is used: bt, info registers, printf, call.
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

check_gdb_live() {
    local prog=$1 core=$2 pid=$3 g=$WORK/gdb n_core n_live rewound calls
    if ! command -v gdb >/dev/null; then
        fail "gdb not found (Debian package gdb): the live process cannot be compared with gdb on the core"
        return 0
    fi
    mkdir -p "$g"
    # 1. Threads and full backtraces, core vs live.
    gdb_batch "$g/core.out" -ex "$GDB_BT" -ex "$GDB_REWIND" "$prog" "$core"
    gdb_threads <"$g/core.out" >"$g/core.threads"
    gdb_batch "$g/live.out" -p "$pid" -ex "$GDB_BT" "${GDB_REGS[@]}" "$prog"
    gdb_threads <"$g/live.out" >"$g/live.threads"
    wait_for 5 is_stopped "$pid" || fail "pid $pid is no longer stopped after gdb (state $(state_of "$pid"))"
    gdb_rewound "$g/core.threads" >"$g/core.frames"
    gdb_frames "$g/live.threads" >"$g/live.frames"
    n_core=$(awk '{ print $1 }' "$g/core.frames" | sort -u | wc -l)
    n_live=$(awk '{ print $1 }' "$g/live.frames" | sort -u | wc -l)
    rewound=$(awk '$2 == "rewind" && $3 != $4 { n++ } END { print n + 0 }' "$g/core.threads")
    if [ "$n_core" -gt 0 ] && diff -u "$g/core.frames" "$g/live.frames" >"$g/frames.diff"; then
        pass "gdb -p: the core's $n_core thread(s) (LWPs $(awk '{ print $1 }' "$g/live.frames" | sort -u | paste -sd,)), $(wc -l <"$g/live.frames") frames, same functions and pcs ($rewound thread(s) rewound out of a restarted syscall, pc - 2): $(awk '$2 == "#0" { printf "%s%s %s", s, $1, $4; s = "; " }' "$g/live.frames")"
    else
        fail "gdb -p and gdb on the core show different threads or backtraces ($n_core vs $n_live threads): $(cat "$g/frames.diff")"
        sed 's/^/  core: /' "$g/core.out" | tail -n 30
        sed 's/^/  live: /' "$g/live.out" | tail -n 30
    fi
    # 2. A call of the program's function, in every thread, one thread running.
    gdb_batch "$g/call.out" -p "$pid" -ex 'set scheduler-locking on' -ex "thread apply all call $GDB_PROBE_CALL" "$prog"
    calls=$(grep -c "^\\\$[0-9]* = $GDB_PROBE_VALUE\$" "$g/call.out" || true)
    if [ "$n_live" -gt 0 ] && [ "$calls" -eq "$n_live" ]; then
        pass "gdb -p: call $GDB_PROBE_CALL printed $GDB_PROBE_VALUE in each of the $n_live thread(s)"
    else
        fail "gdb -p: call $GDB_PROBE_CALL gave $GDB_PROBE_VALUE in $calls of $n_live thread(s): $(grep -v '^\[' "$g/call.out" | tail -n 15)"
    fi
    wait_for 5 is_stopped "$pid" || fail "pid $pid is no longer stopped after the calls (state $(state_of "$pid"))"
    # 3. A fresh attach: the calls left every register and frame as it was.
    gdb_batch "$g/after.out" -p "$pid" -ex "$GDB_BT" "${GDB_REGS[@]}" "$prog"
    gdb_threads <"$g/after.out" >"$g/after.threads"
    if [ -s "$g/live.threads" ] && diff -u "$g/live.threads" "$g/after.threads" >"$g/after.diff"; then
        pass "after the calls a fresh gdb -p sees the same registers ($(grep -c ' reg ' "$g/after.threads") values) and backtraces in every thread"
    else
        fail "the calls changed the process: $(head -n 40 "$g/after.diff")"
    fi
    if wait_for 5 is_stopped "$pid"; then
        pass "still stopped after gdb detached"
    else
        fail "pid $pid is no longer stopped after gdb (state $(state_of "$pid"))"
    fi
    # 4. The same call on the core: gdb refuses it.
    gdb_batch "$g/core-call.out" -ex "call $GDB_PROBE_CALL" "$prog" "$core"
    if grep -q "You can't do that without a process to debug" "$g/core-call.out" &&
        ! grep -q "= $GDB_PROBE_VALUE\$" "$g/core-call.out"; then
        pass "gdb on the core refuses the call: '$(grep -m1 "You can't do that" "$g/core-call.out")'"
    else
        fail "gdb on the core did not refuse call $GDB_PROBE_CALL: $(tail -n 5 "$g/core-call.out")"
    fi
}
