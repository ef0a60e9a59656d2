# shellcheck shell=bash disable=SC2034 # variables set here are read by the test files
# lib.sh - every helper the end-to-end tests share, sourced by each test file
# (tests/*.sh: the victims of victims/ and tests/data/src; real/*.sh: real
# programs). A test file is one test or one family of tests:
#
#   #!/usr/bin/env bash
#   # NAME.sh - what it does and checks (the documentation of its modes)
#   #@test MODE [timeout=SECONDS]     one line per ctest test e2e.MODE
#   #@manual MODE                     a mode run by hand only (not in ctest)
#   . "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
#   e2e_args e2e. "$@"                # MODE --victims D --oracle P --necro P --catch P
#   need_root ...; need_criu; ...     # else exit 77 (skipped) or fail
#   e2e_begin                         # the lock, WORK, cleanup on exit
#   ...                               # the story, with pass/fail/fatal
#   exit 0
#
# tests/e2e/CMakeLists.txt finds the files and their #@test lines: a new test
# is a new file (or a new #@test line), nothing else. ctest runs
# `bash FILE MODE --victims DIR --oracle PATH --necro PATH --catch PATH`
# (real/ files: e2e.real.MODE); a file uses the options it needs.
#
# Every line of the verdict starts with PASS: or FAIL:, the last one with
# RESULT:. Exit 0 pass, 1 fail, 77 skipped (with a SKIPPED: line saying why).
# Only processes a test started (or restored) are signalled, by pid, after
# checking /proc/PID/exe (TRACKED: pid -> the binary it must be running).
# Machine-wide settings (core_pattern, core_pipe_limit, vm.max_map_count) are
# changed through set_sysctl only, which puts them back on exit.
set -eEuo pipefail

E2E_DIR=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
E2E_LOCK=/tmp/necro-e2e.lock
SKIP=77
NAME=e2e
MODE=
PASSES=0
FAILS=0
WORK=
COREDIR=
LOCKFD=
E2E_TIMES=0 # 1: print the TIMES: line (timed steps) before the RESULT line
TIMES=()
CLEANUPS=() # commands run on exit, last first
declare -A TRACKED=()    # pid -> binary it must be running for us to kill it
declare -A OLD_SYSCTL=() # /proc/sys name -> its value before the test

# ================================================================ reporting
ts() { date +%H:%M:%S.%3N; }
log() { printf '[%s] %s\n' "$(ts)" "$*"; }
skip() { printf 'SKIPPED: %s: %s\n' "$NAME" "$*"; exit "$SKIP"; }
pass() { printf 'PASS: %s: %s\n' "$NAME" "$*"; PASSES=$((PASSES + 1)); }
fail() { printf 'FAIL: %s: %s\n' "$NAME" "$*"; FAILS=$((FAILS + 1)); }
fatal() { fail "$*"; exit 1; }

# show_log FILE: the end of a log, and its errors, after a failure.
show_log() {
    [ -f "$1" ] || return 0
    printf -- '----- %s: errors -----\n' "$1"
    grep -E 'Error|error|Warn' "$1" | grep -v 'RLIMIT_NOFILE' | tail -n 15 || true
    printf -- '----- %s: last 40 lines -----\n' "$1"
    tail -n 40 "$1"
    printf -- '-----\n'
}

now_ms() { date +%s%3N; }
# timed LABEL CMD...: run CMD, record how long it took (the TIMES: line).
timed() {
    local label=$1 t0 rc=0
    shift
    t0=$(now_ms)
    "$@" || rc=$?
    TIMES+=("$label $(( $(now_ms) - t0 )) ms")
    return "$rc"
}

# ================================================================ arguments, prerequisites
# e2e_args PREFIX MODE [--victims DIR] [--oracle PATH] [--necro PATH] [--catch PATH]:
# sets MODE, NAME (PREFIX MODE: e2e.counter, e2e.real.redis) and the paths
# (absolute: victims run from the work directory). MODE must be one of the
# calling file's #@test or #@manual lines.
e2e_args() {
    local prefix=$1 file=${BASH_SOURCE[-1]}
    shift
    MODE=${1:-}
    [ $# -eq 0 ] || shift
    VICTIMS='' ORACLE='' NECRO='' CATCH=''
    while [ $# -gt 0 ]; do
        case $1 in
            --victims) VICTIMS=$2; shift 2 ;;
            --oracle) ORACLE=$2; shift 2 ;;
            --necro) NECRO=$2; shift 2 ;;
            --catch) CATCH=$2; shift 2 ;;
            *) echo "${file##*/}: unknown argument '$1'" >&2; exit 2 ;;
        esac
    done
    if [ -z "$MODE" ] || ! grep -Eq "^#@(test|manual) $MODE( |\$)" "$file"; then
        echo "${file##*/}: unknown mode '$MODE'; its modes: $(sed -n 's/^#@\(test\|manual\) \([^ ]*\).*/\2/p' "$file" | paste -sd' ')" >&2
        exit 2
    fi
    NAME=$prefix$MODE
    [ -z "$VICTIMS" ] || VICTIMS=$(realpath -m -- "$VICTIMS")
    [ -z "$ORACLE" ] || ORACLE=$(realpath -m -- "$ORACLE")
    [ -z "$NECRO" ] || NECRO=$(realpath -m -- "$NECRO")
    [ -z "$CATCH" ] || CATCH=$(realpath -m -- "$CATCH")
}

need_root() { [ "$(id -u)" -eq 0 ] || skip "needs root ($*)"; }

# need_criu: NECRO_CRIU names a CRIU >= 4.1 whose `check` passes; else skip.
need_criu() {
    local version cmaj cmin out
    [ -n "${NECRO_CRIU:-}" ] ||
        skip "NECRO_CRIU is not set; set it to a CRIU >= 4.1 binary, e.g. NECRO_CRIU=/path/to/criu ctest -L e2e"
    [ -x "$NECRO_CRIU" ] || skip "NECRO_CRIU=$NECRO_CRIU is not an executable file"
    version=$("$NECRO_CRIU" --version 2>/dev/null | sed -n 's/^Version: *//p' | head -n1)
    IFS=. read -r cmaj cmin _ <<<"${version:-0.0}"
    if ! [[ "$cmaj" =~ ^[0-9]+$ && "${cmin:-0}" =~ ^[0-9]+$ ]] || [ "$cmaj" -lt 4 ] ||
        { [ "$cmaj" -eq 4 ] && [ "${cmin:-0}" -lt 1 ]; }; then
        skip "NECRO_CRIU=$NECRO_CRIU is CRIU '${version:-unknown}', need >= 4.1"
    fi
    if ! out=$(timeout 120 "$NECRO_CRIU" check 2>&1); then
        printf '%s\n' "$out" | tail -n 10
        skip "'$NECRO_CRIU check' fails on this machine (output above)"
    fi
}

# need_built PATH WHAT [skip]: PATH is the built WHAT. An empty PATH (this
# build has no such target) skips with "skip" and fails without; a PATH that
# is not executable fails: the target exists but was not built.
need_built() {
    if [ -z "$1" ]; then
        [ "${3:-}" = skip ] && skip "this build has no $2 target (examples not built?)"
        fatal "this build has no $2 target (examples not built?)"
    fi
    [ -x "$1" ] || fatal "$2 '$1' is part of the build but not built"
}

# need CMD PACKAGE: a program the test needs (tests/run.sh installs PACKAGE).
need() { command -v "$1" >/dev/null || fatal "$1 not found: install the Debian package $2 (tests/run.sh installs it)"; }

# ================================================================ lock, work directory, cleanup
# e2e_lock: core_pattern is machine-wide, so one e2e run at a time, under
# flock on /tmp/necro-e2e.lock. An fd inherited from an ancestor that holds
# the lock (`flock /tmp/necro-e2e.lock ctest ...`: its fdinfo shows the lock)
# is the lock itself: taken again through it at once, not waited for. Sets
# LOCKFD, which every program started here gets closed.
e2e_lock() {
    local p
    for p in /proc/$$/fd/*; do
        [ "$(readlink "$p" 2>/dev/null)" = "$E2E_LOCK" ] || continue
        grep -q '^lock:.*FLOCK.*WRITE' "/proc/$$/fdinfo/${p##*/}" 2>/dev/null || continue
        LOCKFD=${p##*/}
        break
    done
    if [ -n "$LOCKFD" ]; then
        log "$E2E_LOCK: held by the run that started this one (fd $LOCKFD)"
    else
        exec {LOCKFD}>"$E2E_LOCK"
    fi
    flock -w "${E2E_LOCK_WAIT:-240}" "$LOCKFD" || fatal "another e2e run holds $E2E_LOCK"
}

# e2e_begin: the lock, the work directory /tmp/necro-e2e.NAME.XXXXXX (NAME
# without "e2e."), cleanup on exit, and a line for any unexpected failure.
e2e_begin() {
    e2e_lock
    WORK=$(mktemp -d "/tmp/necro-e2e.${NAME#e2e.}.XXXXXX")
    COREDIR=$WORK
    E2E_START_MS=$(now_ms)
    log "$NAME: work directory $WORK"
    trap e2e_cleanup EXIT
    trap 'exit 130' INT TERM
    # An unexpected failure (set -e) says where it happened.
    # shellcheck disable=SC2154 # rc_ is assigned inside the trap string
    trap 'rc_=$?; [ "$BASHPID" != "$$" ] || fail "unexpected failure (status $rc_) at ${BASH_SOURCE[0]##*/}:$LINENO: $BASH_COMMAND"' ERR
}

# set_sysctl NAME VALUE: /proc/sys/NAME (e.g. kernel/core_pattern) set to
# VALUE; its first value is put back on exit.
set_sysctl() {
    [ -n "${OLD_SYSCTL[$1]+set}" ] || OLD_SYSCTL[$1]=$(cat "/proc/sys/$1")
    printf '%s\n' "$2" >"/proc/sys/$1"
}

e2e_cleanup() {
    local rc=$? pid i k
    set +e
    for pid in "${!TRACKED[@]}"; do kill_tracked "$pid"; done
    for ((i = ${#CLEANUPS[@]} - 1; i >= 0; i--)); do eval "${CLEANUPS[i]}"; done
    for k in "${!OLD_SYSCTL[@]}"; do printf '%s\n' "${OLD_SYSCTL[$k]}" >"/proc/sys/$k"; done
    if [ "$E2E_TIMES" = 1 ] && [ "$rc" -ne "$SKIP" ] && [ -n "$WORK" ]; then
        TIMES+=("total $(( $(now_ms) - E2E_START_MS )) ms")
        printf 'TIMES: %s: %s\n' "$NAME" "$(IFS=,; echo "${TIMES[*]}" | sed 's/,/, /g')"
    fi
    report_and_exit "$rc"
}

# report_and_exit RC: the RESULT line, the work directory removed on success
# (kept on failure or with NECRO_E2E_KEEP=1), then exit RC (FAILS turn 0 into 1).
report_and_exit() {
    local rc=$1
    if [ "$rc" -eq 0 ] && [ "$FAILS" -gt 0 ]; then rc=1; fi
    if [ "$rc" -eq "$SKIP" ]; then
        :
    elif [ "$rc" -eq 0 ]; then
        printf 'RESULT: %s: PASS (%d checks)\n' "$NAME" "$PASSES"
    else
        printf 'RESULT: %s: FAIL (%d failed, %d passed)\n' "$NAME" "$FAILS" "$PASSES"
    fi
    if [ -n "$WORK" ]; then
        if [ "$rc" -eq 0 ] && [ "${NECRO_E2E_KEEP:-0}" != 1 ]; then
            rm -rf "$WORK"
        else
            printf 'work directory kept: %s\n' "$WORK"
        fi
    fi
    exit "$rc"
}

# ================================================================ where cores go
# cores_in_work: core_pattern WORK/core.%p (put back on exit); COREDIR=WORK.
cores_in_work() {
    set_sysctl kernel/core_pattern "$WORK/core.%p"
    COREDIR=$WORK
    log "core_pattern was '${OLD_SYSCTL[kernel/core_pattern]}'; now $WORK/core.%p (restored on exit)"
}

# cores_through_catch [PATTERN]: cores go through necro-catch (CATCH) into
# WORK/caught (mode 0700; COREDIR), with the capture core.PID.necro/ beside
# each; PATTERN defaults to `|CATCH --dir WORK/caught %P`. core_pipe_limit at
# least 1, so the kernel keeps the dying process's /proc/PID (its fds) until
# the helper is done. Both put back on exit. The kernel cuts a pattern longer
# than 127 bytes without an error: that fails, saying so.
# shellcheck disable=SC2120 # PATTERN is given by some test files
cores_through_catch() {
    local pattern=${1:-"|$CATCH --dir $WORK/caught %P"}
    # shellcheck disable=SC2174 # WORK exists: caught is the only new directory
    mkdir -p -m 0700 "$WORK/caught"
    COREDIR=$WORK/caught
    [ "$(cat /proc/sys/kernel/core_pipe_limit)" -ge 1 ] || set_sysctl kernel/core_pipe_limit 1
    set_sysctl kernel/core_pattern "$pattern"
    [ "$(cat /proc/sys/kernel/core_pattern)" = "$pattern" ] ||
        fatal "core_pattern holds at most 127 bytes; '$pattern' was cut to '$(cat /proc/sys/kernel/core_pattern)': build in a shorter path"
    log "core_pattern was '${OLD_SYSCTL[kernel/core_pattern]}'; now '$pattern'; core_pipe_limit $(cat /proc/sys/kernel/core_pipe_limit) (both restored on exit)"
}

# check_caught CAUGHT: necro-catch's core CAUGHT is complete (no .partial
# left, no .incomplete marker, capture.log says so) and its capture
# (CAUGHT.necro/: capture.txt ending in its `end` line) finished.
# kernel_state_or_skip CAPTURE_TXT: skips where BPF cannot run here
# (necro-catch built without it, no BTF, no privilege: the -nobpf modes test
# that path); any other reason the kernel state is missing is left in
# KERNEL_MISSING (empty when it was read) for the caller to judge.
kernel_state_or_skip() {
    KERNEL_MISSING=$(sed -n 's/^kernel-state missing why=//p' "$1")
    KERNEL_MISSING=$(printf '%b' "${KERNEL_MISSING//%/\\x}")
    case $KERNEL_MISSING in
        *"built without BPF support"* | *"has no BTF"* | *"needs CAP_BPF"*) skip "necro-catch read no kernel state here: $KERNEL_MISSING" ;;
    esac
}

# write_donorless_set: IMG from CORE and its capture, no donor; crit decodes it.
write_donorless_set() {
    run_necro -c "$CORE" -o "$IMG" >"$WORK/necro.log" 2>&1 || { show_log "$WORK/necro.log"; fatal "criu-necromancer -c $CORE -o $IMG failed"; }
    pass "criu-necromancer wrote $(ls "$IMG" | wc -l) files from the core and its capture, no donor"
    crit_decodes "$IMG"
}

check_caught() {
    local caught=$1 cap=$1.necro
    [ ! -e "$caught.partial" ] && [ ! -e "$caught.incomplete" ] ||
        fatal "necro-catch left $(basename "$caught").partial or .incomplete: $(cat "$caught.incomplete" 2>/dev/null)"
    wait_for 10 grep -q '^.*capture finished' "$cap/capture.log" ||
        { show_log "$cap/capture.log"; fatal "necro-catch did not finish its capture $cap"; }
    grep -q "core complete: $(basename "$caught")" "$cap/capture.log" ||
        { show_log "$cap/capture.log"; fatal "capture.log does not say that the core is complete"; }
    tail -n 1 "$cap/capture.txt" | grep -q '^end fds=' ||
        fatal "$cap/capture.txt does not end with its 'end' line: $(tail -n 1 "$cap/capture.txt")"
}

# ================================================================ processes
state_of() { sed -n 's/^State:\s*\(.\).*/\1/p' "/proc/$1/status" 2>/dev/null; }
is_stopped() { case $(state_of "$1") in T | t) return 0 ;; esac; return 1; }
is_running() { [ -e "/proc/$1" ] && case $(state_of "$1") in T | t | Z | X | '') return 1 ;; esac; }
cmdline_of() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | sed 's/ $//'; }
file_size() { stat -c %s "$1" 2>/dev/null || echo 0; }

# wait_for SECONDS CMD...: poll until CMD succeeds.
wait_for() {
    local limit=$(( $1 * 20 )) i=0
    shift
    until "$@"; do
        i=$((i + 1))
        [ "$i" -le "$limit" ] || return 1
        sleep 0.05
    done
}

# wait_gone PID [SECONDS]: until /proc/PID is gone (reaping it if it is our child).
wait_gone() {
    local pid=$1 limit=$(( ${2:-30} * 20 )) i=0
    { wait "$pid"; } 2>/dev/null || true
    while [ -e "/proc/$pid" ]; do
        i=$((i + 1))
        [ "$i" -le "$limit" ] || return 1
        sleep 0.05
    done
}

# kill_tracked PID: SIGKILL it if it still runs the binary we started, then
# wait until it is gone (also when it is already a zombie). A pid that now
# belongs to some other process is left alone.
kill_tracked() {
    local pid=$1 ours=0
    if [ -e "/proc/$pid" ] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "${TRACKED[$pid]}" ]; then
        kill -KILL "$pid" 2>/dev/null || true
        ours=1
    fi
    if [ "$ours" = 1 ] || [ "$(state_of "$pid")" = Z ]; then
        wait_gone "$pid" 30 || printf 'WARNING: pid %s did not go away\n' "$pid"
    fi
    unset "TRACKED[$pid]"
}

# Close every fd above 2 in the current (sub)shell: a launched program holds
# nothing of ours (the lock fd included).
close_stray_fds() {
    local p fd
    for p in /proc/$BASHPID/fd/*; do
        fd=${p##*/}
        [ "$fd" -gt 2 ] 2>/dev/null || continue
        eval "exec $fd>&-" 2>/dev/null || true
    done
}

# launch PROG ARGS...: start PROG detached: its own session, cwd LAUNCH_DIR
# (default WORK), fds 0-2 on /dev/null (1 and 2 appending to LAUNCH_STDOUT
# when set; 0 the named FIFO LAUNCH_STDIN_FIFO, opened read-write, when
# set), nothing else open, cores enabled and complete (coredump_filter
# COREDUMP_FILTER, default 0xff). LAUNCH_WRAP (array): commands exec'd
# between setsid and PROG (setpriv, env, setarch); LAUNCH_SETUP: a function
# run in the launching subshell just before (umask, ulimit, trap). The pid
# must be running LAUNCH_EXE (default PROG) within 4 s, or it is killed (it
# is still our unreaped child: the pid cannot have been reused) and the test
# fails. Sets LAUNCHED (tracked for cleanup). The subshell is not a
# process-group leader (no job control in scripts), so setsid execs in place
# and $! is the program's own pid.
launch() {
    local exe=${LAUNCH_EXE:-$1} i
    (
        cd "${LAUNCH_DIR:-$WORK}"
        ulimit -c unlimited
        echo "${COREDUMP_FILTER:-0xff}" >/proc/self/coredump_filter
        [ -z "${LAUNCH_SETUP:-}" ] || "$LAUNCH_SETUP"
        close_stray_fds
        [ -z "${LAUNCH_STDIN_FIFO:-}" ] ||
            exec setsid ${LAUNCH_WRAP[@]+"${LAUNCH_WRAP[@]}"} "$@" <>"$LAUNCH_STDIN_FIFO" >>"${LAUNCH_STDOUT:-/dev/null}" 2>&1
        exec setsid ${LAUNCH_WRAP[@]+"${LAUNCH_WRAP[@]}"} "$@" </dev/null >>"${LAUNCH_STDOUT:-/dev/null}" 2>&1
    ) &
    LAUNCHED=$!
    TRACKED[$LAUNCHED]=$exe
    for i in $(seq 200); do
        [ "$(readlink "/proc/$LAUNCHED/exe" 2>/dev/null)" = "$exe" ] && return 0
        sleep 0.02
    done
    kill -KILL "$LAUNCHED" 2>/dev/null || true
    wait_gone "$LAUNCHED" 10 || true
    unset "TRACKED[$LAUNCHED]"
    fatal "launched pid $LAUNCHED is not running $exe"
}

# reap_victim STATUS: the victim VPID (our child) ends with STATUS (128 +
# the signal it died of).
reap_victim() {
    local st=0
    { wait "$VPID"; } 2>/dev/null || st=$?
    unset "TRACKED[$VPID]"
    [ "$st" -eq "$1" ] && pass "victim pid $VPID died with status $st (SIG$(kill -l $((st - 128)) 2>/dev/null))" ||
        fatal "victim pid $VPID exit status $st, expected $1 (SIG$(kill -l $(($1 - 128)) 2>/dev/null))"
}

# start_donor PROG ARGS...: a second run of the same program, launched like
# the victim, to be dumped by CRIU (dump_donor). Sets DPID.
start_donor() {
    launch "$@"
    DPID=$LAUNCHED
    disown "$DPID" # its status is not needed; no "Killed" notice when CRIU kills it
    log "donor: $* (pid $DPID)"
}

# Every external step that could hang is bounded, so ctest's TIMEOUT (which
# kills without cleanup) is never what stops a run.
criu() { timeout "${CRIU_TIMEOUT:-90}" "$NECRO_CRIU" "$@" {LOCKFD}>&-; }
run_necro() { timeout "${NECRO_TIMEOUT:-90}" "$NECRO" "$@" {LOCKFD}>&-; }

# dump_donor: `criu dump` of DPID into WORK/donor.
dump_donor() {
    mkdir -p "$WORK/donor"
    if ! timed donor-dump criu dump -t "$DPID" -D "$WORK/donor" -v4 -o dump.log; then
        show_log "$WORK/donor/dump.log"
        if grep -q "Can't get 1:16 opt: Operation not supported" "$WORK/donor/dump.log"; then
            fail "this CRIU cannot dump a TCP socket on Linux >= 6.16 (getsockopt SO_PASSCRED on an inet socket is EOPNOTSUPP since 6.16; CRIU issue #2705, fixed in CRIU 4.2): use a CRIU with that fix as NECRO_CRIU"
        fi
        fatal "criu dump of donor pid $DPID failed"
    fi
    unset "TRACKED[$DPID]"
    wait_gone "$DPID" 30 || fatal "donor pid $DPID did not vanish after dump"
    pass "donor pid $DPID dumped by CRIU ($(ls "$WORK/donor" | wc -l) files, $(du -sh "$WORK/donor" | cut -f1))"
}

# necro_with_donor: criu-necromancer -c CORE -i WORK/donor -o IMG, which must
# write a set and leave the donor's images as they were (design rule 7).
necro_with_donor() {
    local donor_sum
    donor_sum=$(cd "$WORK/donor" && sha256sum -- * | sha256sum)
    log "criu-necromancer -c $CORE -i $WORK/donor -o $IMG"
    if ! timed necro run_necro -c "$CORE" -i "$WORK/donor" -o "$IMG" >"$WORK/necro.log" 2>&1; then
        show_log "$WORK/necro.log"
        fatal "criu-necromancer failed: $(grep -m1 '^criu-necromancer:' "$WORK/necro.log" || tail -n 1 "$WORK/necro.log")"
    fi
    [ -f "$IMG/inventory.img" ] || fatal "criu-necromancer exited 0 but wrote no $IMG/inventory.img"
    pass "criu-necromancer wrote $(ls "$IMG" | wc -l) files into $(basename "$IMG") ($(du -sh "$IMG" | cut -f1))"
    [ "$(cd "$WORK/donor" && sha256sum -- * | sha256sum)" = "$donor_sum" ] &&
        pass "donor images untouched" || fail "criu-necromancer modified the donor images"
}

# criu_restore ARGS...: criu restore ARGS. With RESTORE_REAPER=FILE, under
# real/reaper.py, a child subreaper that adopts the restored process when
# `criu restore -d` exits and writes to FILE "criu RC", then "PID exit N" or
# "PID signal N" when the process ends (its exit status, which only a parent
# sees; reaper_status reads it).
criu_restore() {
    [ -n "${RESTORE_REAPER:-}" ] || { criu restore "$@"; return; }
    rm -f "$RESTORE_REAPER"
    # shellcheck disable=SC2016 # $1 is the inner shell's
    /usr/bin/python3 "$E2E_DIR/real/reaper.py" "$RESTORE_REAPER" timeout "${CRIU_TIMEOUT:-90}" "$NECRO_CRIU" restore "$@" \
        {LOCKFD}>&- </dev/null >/dev/null 2>&1 &
    wait_for $(( ${CRIU_TIMEOUT:-90} + 10 )) grep -q '^criu ' "$RESTORE_REAPER" 2>/dev/null || return 1
    return "$(sed -n 's/^criu //p' "$RESTORE_REAPER")"
}
# reaper_status PID: "exit N" or "signal N" once PID (adopted by reaper.py) ended.
reaper_status() { sed -n "s/^$1 //p" "$RESTORE_REAPER" 2>/dev/null; }

# restore DIR LOGNAME [ARGS...]: criu restore -D DIR -d ARGS; returns non-zero
# on failure (the end of its log shown). The restored root pid (from
# --pidfile) is tracked for cleanup as BIN whatever it is, and must be the
# victim's VPID.
restore() {
    local dir=$1 logname=$2 rpid
    shift 2
    rm -f "$WORK/restored.pid"
    log "criu restore -D $dir -d $* (log $dir/$logname)"
    if timed "restore${*:+ $*}" criu_restore -D "$dir" -d "$@" -v4 -o "$logname" --pidfile "$WORK/restored.pid"; then
        rpid=$(cat "$WORK/restored.pid" 2>/dev/null || true)
        [ -z "$rpid" ] || TRACKED[$rpid]=$BIN
        [ "$rpid" = "$VPID" ] && [ -e "/proc/$VPID" ] && return 0
        fail "criu restore from $dir returned 0 but restored pid '$rpid', not the victim's pid $VPID"
        [ -z "$rpid" ] || kill_tracked "$rpid"
    else
        fail "criu restore from $dir $* failed"
    fi
    show_log "$dir/$logname"
    # A failed restore may leave a killed task behind.
    wait_gone "$VPID" 30 || printf 'WARNING: pid %s still exists after the failed restore\n' "$VPID"
    return 1
}

# check_identity CMDLINE: the restored VPID runs BIN with the victim's argv.
check_identity() {
    local exe cmd
    exe=$(readlink "/proc/$VPID/exe" || true)
    [ "$exe" = "$BIN" ] && pass "restored exe is $BIN" || fail "restored exe is '$exe', expected $BIN"
    cmd=$(cmdline_of "$VPID")
    [ "$cmd" = "$1" ] && pass "restored /proc/$VPID/cmdline is the victim's: '$cmd'" ||
        fail "restored /proc/$VPID/cmdline is '$cmd', expected '$1'"
}

# crit_decodes DIR: the system crit decodes every image of DIR but pages-*.
crit_decodes() {
    local img bad=
    command -v crit >/dev/null || { log "crit not found: images not decoded"; return 0; }
    for img in "$1"/*.img; do
        case ${img##*/} in pages-*) continue ;; esac
        crit decode -i "$img" >/dev/null 2>&1 || bad="$bad ${img##*/}"
    done
    [ -z "$bad" ] && pass "crit decodes every image: $(cd "$1" && ls | paste -sd' ')" || fail "crit cannot decode:$bad"
}

# ================================================================ the victims (victims/, tests/data/src)
# A victim dies (killed by SIGQUIT or crashing), criu-necromancer makes an
# image set of its core (with a donor's images, or without), `criu restore
# -s` brings it back stopped for the oracle, and (killed ones) running: it
# must go on from where it died.

# victims_begin [--catch] [--no-necro] [--no-criu] [--no-cores]: the
# prerequisites of a victim test (the oracle and the victims built; root;
# NECRO_CRIU and criu-necromancer unless told otherwise, else skipped; with
# --catch necro-catch) and e2e_begin; cores into WORK, or with --catch through
# necro-catch, whose victims then start with what criu-necromancer's own
# defaults lack (umask 027, 1000 open files, SIGHUP ignored as under nohup;
# with setpriv, supplementary groups 4242,4343 and no CAP_NET_RAW), so the
# capture checks see them come back. --no-cores: core_pattern left alone.
CATCHING=
victims_begin() {
    local v criu=1 necro=1 cores=1
    while [ $# -gt 0 ]; do
        case $1 in
            --catch) CATCHING=1 ;;
            --no-necro) necro=0 ;;
            --no-criu) criu=0 ;;
            --no-cores) cores=0 ;;
        esac
        shift
    done
    [ -x "$ORACLE" ] || fatal "oracle '$ORACLE' is not built"
    for v in counter segv heapsig; do
        [ -x "$VICTIMS/$v" ] || fatal "victim '$VICTIMS/$v' is not built"
    done
    need_root "core_pattern, ptrace, CRIU"
    [ "$criu" = 0 ] || need_criu
    [ "$necro" = 0 ] || need_built "$NECRO" criu-necromancer skip
    [ -z "$CATCHING" ] || need_built "$CATCH" necro-catch skip
    e2e_begin
    if [ -n "$CATCHING" ]; then
        cores_through_catch
        LAUNCH_SETUP=catching_setup
        ! command -v setpriv >/dev/null || LAUNCH_WRAP=(setpriv '--groups=4242,4343' --bounding-set=-net_raw --)
    elif [ "$cores" = 1 ]; then
        cores_in_work
    fi
    log "ASLR: randomize_va_space=$(cat /proc/sys/kernel/randomize_va_space)"
}
catching_setup() { umask 027; ulimit -Sn 1000; trap '' HUP; }

# victim_setup CONFIG: BIN, VICTIM_ARGS, DONOR_ARGS and KIND (killed or
# crashed) of a victim configuration, OUT its output file.
victim_setup() {
    OUT="$WORK/out"
    DATA="$WORK/data"
    case $1 in
        counter)
            # A private copy: counter.sh rewrites its build-id.
            mkdir -p "$WORK/bin"
            cp "$VICTIMS/counter" "$WORK/bin/counter"
            BIN="$WORK/bin/counter"; VICTIM_ARGS=("$OUT"); DONOR_ARGS=("$OUT"); KIND=killed ;;
        oracle-gcore | restore-rpc)
            BIN="$VICTIMS/counter"; VICTIM_ARGS=("$OUT"); DONOR_ARGS=("$OUT"); KIND=killed ;;
        donor)
            # The donor writes its own file: only the capture can give back the victim's.
            BIN="$VICTIMS/counter"; VICTIM_ARGS=("$OUT"); DONOR_ARGS=("$OUT.donor"); DONOR_OUT=$OUT.donor; KIND=killed ;;
        segv)
            BIN="$VICTIMS/segv"; VICTIM_ARGS=("$OUT" 300 main); DONOR_ARGS=("$OUT" 600000 main); KIND=crashed ;;
        segv-thread)
            BIN="$VICTIMS/segv"; VICTIM_ARGS=("$OUT" 300 thread); DONOR_ARGS=("$OUT" 600000 thread); KIND=crashed ;;
        oracle-criu-thread)
            BIN="$VICTIMS/segv"; VICTIM_ARGS=("$OUT" 600000 thread); KIND=killed ;;
        pool)
            BIN="$VICTIMS/pool"; VICTIM_ARGS=("$OUT" 8); DONOR_ARGS=("$OUT" 3); KIND=killed ;;
        pool-fewer)
            BIN="$VICTIMS/pool"; VICTIM_ARGS=("$OUT" 4); DONOR_ARGS=("$OUT" 12); KIND=killed ;;
        handshake)
            BIN="$VICTIMS/handshake"; VICTIM_ARGS=("$OUT"); DONOR_ARGS=("$OUT"); KIND=killed ;;
        shmem)
            # The victim and the donor each create, map and unlink DIR/ghost-data.
            mkdir -p "$WORK/dir"
            BIN="$VICTIMS/shmem"; VICTIM_ARGS=("$OUT" "$WORK/dir"); DONOR_ARGS=("$OUT" "$WORK/dir"); KIND=killed ;;
        shmem-new)
            mkdir -p "$WORK/dir"
            BIN="$VICTIMS/shmem"; VICTIM_ARGS=("$OUT" "$WORK/dir" shared); DONOR_ARGS=("$OUT" "$WORK/dir" bare); KIND=killed ;;
        manymaps)
            # 70 000 one-page regions: more VMAs than NT_FILE may describe
            # (64 bytes each below kernel.core_file_note_size_limit, 4 MiB by
            # default) and than e_phnum can count (PN_XNUM). vm.max_map_count is
            # raised for the run and put back on exit.
            BIN="$VICTIMS/manymaps"; VICTIM_ARGS=("$OUT" 70000 "$DATA"); DONOR_ARGS=("$OUT" 70000 "$DATA"); KIND=killed
            seq 1 1000 >"$DATA"
            set_sysctl vm/max_map_count 200000
            CRIU_TIMEOUT=300
            log "vm.max_map_count was ${OLD_SYSCTL[vm/max_map_count]}; now 200000 (restored on exit)" ;;
        libcounter)
            # remote.sh installs it (and its library) in WORK/opt/necro-remote first.
            BIN="$WORK/opt/necro-remote/bin/libcounter"; VICTIM_ARGS=("$OUT"); KIND=killed ;;
        manymaps-static)
            # The same linked -static: no NT_FILE and no dynamic linker's list;
            # only the executable, found by AT_EXECFN and checked against the
            # core, names its mappings. No data file (no list could name it).
            BIN="$VICTIMS/manymaps-static"; VICTIM_ARGS=("$OUT" 70000); DONOR_ARGS=("$OUT" 70000); KIND=killed
            set_sysctl vm/max_map_count 200000
            CRIU_TIMEOUT=300
            log "vm.max_map_count was ${OLD_SYSCTL[vm/max_map_count]}; now 200000 (restored on exit)" ;;
        catchme)
            # tests/data/src/catchme.c: one fd of every kind the capture describes.
            BIN="$VICTIMS/catchme"; VICTIM_ARGS=(); KIND=killed ;;
        heapsig | oracle-criu | reflink | lazy | lazy-core | lazy-core-criu | lazy-core-truncated | lazy-core-zst | lazy-core-gdb | lazy-core-kill)
            BIN="$VICTIMS/heapsig"; VICTIM_ARGS=("$OUT" "$DATA"); DONOR_ARGS=("$OUT" "$DATA"); KIND=killed
            seq 1 3000 >"$DATA" ;; # 13893 bytes: 3 pages and a part; the mapping has a page past EOF
        *) fatal "no victim configuration '$1'" ;;
    esac
    BIN_BASE=${BIN##*/}
    [ "$BIN_BASE" != manymaps-static ] || BIN_BASE=manymaps # the same program, the same output
}

# Lines of FILE written after byte OFFSET.
since() { tail -c +"$(($2 + 1))" "$1"; }
has_lines_since() { [ "$(since "$1" "$2" | grep -c "${4:-}")" -ge "$3" ]; }

# progress_ok [FROM]: the victim has been running a while (and is observable).
progress_ok() {
    case $BIN_BASE in
        counter | libcounter) has_lines_since "$OUT" "${1:-0}" 20 ;;
        manymaps) has_lines_since "$OUT" "${1:-0}" 20 '^[0-9]*$' ;;
        heapsig | shmem) has_lines_since "$OUT" "${1:-0}" 20 '^tick ' ;;
        segv) has_lines_since "$OUT" "${1:-0}" 1 '^filled ' ;;
        pool) has_lines_since "$OUT" "${1:-0}" 40 '^w' ;;
        handshake) has_lines_since "$OUT" "${1:-0}" 20 '^main ' ;;
        catchme) [ -e "$WORK/ready" ] ;;
    esac
}
# last_per_key FILE FROM PREFIX: "key value" of the last line of each key
# (lines "KEY VALUE" starting with PREFIX), written after byte FROM.
last_per_key() { since "$1" "$2" | awk -v p="^$3" '$0 ~ p && NF == 2 && $2 ~ /^[0-9]+$/ { v[$1] = $2 } END { for (k in v) print k, v[k] }' | sort; }
first_per_key() { since "$1" "$2" | awk -v p="^$3" '$0 ~ p && NF == 2 && $2 ~ /^[0-9]+$/ && !($1 in v) { v[$1] = $2 } END { for (k in v) print k, v[k] }' | sort; }
# The counter value in the last line written (counter: "N"; heapsig: "tick N ...").
last_value() {
    case $BIN_BASE in
        counter | libcounter) tail -n 1 "$OUT" ;;
        manymaps) grep -E '^[0-9]+$' "$OUT" | tail -n 1 ;;
        heapsig | shmem) grep '^tick ' "$OUT" | tail -n 1 | awk '{print $2}' ;;
        handshake) grep '^main ' "$OUT" | tail -n 1 | awk '{print $2}' ;;
    esac
}

# launch_victim: the victim started; sets VPID and VICTIM_CMDLINE.
launch_victim() {
    launch "$BIN" "${VICTIM_ARGS[@]}"
    VPID=$LAUNCHED
    VICTIM_CMDLINE="$BIN${VICTIM_ARGS[*]:+ ${VICTIM_ARGS[*]}}"
    log "victim: $BIN ${VICTIM_ARGS[*]} (pid $VPID)"
}

# start_victim: runs the victim until it dies with a core (killed ones by
# SIGQUIT once they made progress). Sets VPID, CORE, DEAD (last value
# written, killed victims), and logs the core.
start_victim() {
    launch_victim
    if [ "$KIND" = killed ]; then
        wait_for 10 progress_ok || fatal "victim made no progress (output: $(tail -n 3 "$OUT" 2>/dev/null))"
        kill -QUIT "$VPID"
        reap_victim 131
    else
        reap_victim 139
    fi
    finish_victim_death
}

# finish_victim_death: collect the core of VPID as WORK/victim.core (and,
# under necro-catch, its capture as victim.core.necro, where
# criu-necromancer -c CORE looks for it), wait for the pid to vanish.
finish_victim_death() {
    wait_for 10 test -s "$COREDIR/core.$VPID" ||
        fatal "no core file $COREDIR/core.$VPID (there: $(ls "$COREDIR" | paste -sd' '))"
    CORE="$WORK/victim.core"
    if [ -n "$CATCHING" ]; then
        check_caught "$COREDIR/core.$VPID"
        mv "$COREDIR/core.$VPID.necro" "$CORE.necro"
        pass "necro-catch: core.$VPID complete, capture $(grep -m1 '^end ' "$CORE.necro/capture.txt") ($(sed -n 's/^.*\(core: [0-9]* bytes read in [0-9.]* s\).*/\1/p' "$CORE.necro/capture.log"))"
    fi
    mv "$COREDIR/core.$VPID" "$CORE" # the pid is reused: keep the name free for a re-crash
    wait_gone "$VPID" 30 || fatal "victim pid $VPID did not vanish"
    pass "core $(basename "$CORE") ($(file_size "$CORE") bytes); pid $VPID gone"
    DEAD=$(last_value || true)
    case $BIN_BASE in
        pool) last_per_key "$OUT" 0 w >"$WORK/dead-values" ;;
        handshake) last_per_key "$OUT" 0 '(main|sleeper)' >"$WORK/dead-values" ;;
    esac
    [ -z "$DEAD" ] || log "victim's last written value: $DEAD"
    "$ORACLE" --info "$CORE" | sed 's/^/  core: /'
}

# victim_donor: a second run of the victim's program (DONOR_ARGS), dumped by
# CRIU into WORK/donor once it makes progress. DONOR_OUT_SIZE: the size of
# its output file (DONOR_OUT where it has its own) after the dump.
victim_donor() {
    # progress_ok reads $OUT: the donor's own output file where it has one.
    local OUT=${DONOR_OUT:-$OUT} before
    before=$(file_size "$OUT")
    start_donor "$BIN" "${DONOR_ARGS[@]}"
    wait_for 10 progress_ok "$before" || fatal "donor made no progress"
    dump_donor
    DONOR_OUT_SIZE=$(file_size "$OUT")
}

# resurrect_with_donor: IMG=WORK/resurrected from the core and the donor
# (necro_with_donor); the system crit decodes every image whose kind it
# decodes in the donor (an older CRIU: docs/pitfalls.md#pagemap-page-counts; a structure check).
resurrect_with_donor() {
    IMG="$WORK/resurrected"
    necro_with_donor
    command -v crit >/dev/null || return 0
    local img base kind d ok_in_donor bad=
    for img in "$IMG"/*.img; do
        base=${img##*/}
        case $base in pages-*) continue ;; esac
        kind=${base%%-[0-9]*}
        kind=${kind%.img}
        ok_in_donor=0
        for d in "$WORK/donor/$kind"*.img; do
            [ -e "$d" ] && crit show "$d" >/dev/null 2>&1 && ok_in_donor=1
            break
        done
        [ "$ok_in_donor" = 1 ] || continue
        crit show "$img" >/dev/null 2>&1 || bad="$bad $base"
    done
    [ -z "$bad" ] && pass "crit decodes every image it can decode in the donor" || fail "crit cannot decode:$bad"
}

# victim_and_donor CONFIG: the victim of CONFIG dies (then after_death runs,
# when the test file defines it), a donor run is dumped (then after_donor,
# when defined).
victim_and_donor() {
    victim_setup "$1"
    start_victim
    if declare -F after_death >/dev/null; then after_death; fi
    victim_donor
    if declare -F after_donor >/dev/null; then after_donor; fi
}

# donor_story CONFIG: victim_and_donor; criu-necromancer makes the set from
# both, the oracle compares the stopped restore with the core, and the victim
# crashes again or runs on (then_crash_or_run).
donor_story() {
    victim_and_donor "$1"
    resurrect_with_donor
    check_stopped_restore "$IMG"
    then_crash_or_run "$IMG"
}

# run_oracle CORE PID [ORACLE OPTIONS]: sets ORACLE_RC and ORACLE_LOG.
ORACLE_RUNS=0
run_oracle() {
    local core=$1 pid=$2
    shift 2
    ORACLE_LOG="$WORK/oracle.$((++ORACLE_RUNS)).log"
    ORACLE_RC=0
    "$ORACLE" "$@" "$core" "$pid" >"$ORACLE_LOG" 2>&1 || ORACLE_RC=$?
    sed 's/^/  /' "$ORACLE_LOG"
}

# gcore_stopped PID CORE: gdb's gcore of the stopped PID into CORE; PID stays stopped.
gcore_stopped() {
    timeout 60 gdb -nx -p "$1" -batch -ex "gcore $2" {LOCKFD}>&- >"$WORK/gdb.log" 2>&1 || true
    [ -s "$2" ] && pass "gcore wrote $(file_size "$2") bytes" || { show_log "$WORK/gdb.log"; fatal "gcore failed"; }
    wait_for 5 is_stopped "$1" || fatal "pid $1 no longer stopped after gcore"
}
# mem_byte PID ADDR: the byte at ADDR of PID's memory, in decimal;
# set_mem_byte PID ADDR VALUE writes one (the oracle's self-tests).
mem_byte() { dd if="/proc/$1/mem" bs=1 skip="$2" count=1 iflag=skip_bytes status=none | od -An -tu1 | tr -d ' '; }
set_mem_byte() { printf "\\$(printf '%03o' "$3")" | dd of="/proc/$1/mem" bs=1 seek="$2" oflag=seek_bytes conv=notrunc status=none; }
# oracle_found_only_reg REG [TID]: the last run_oracle found exactly one
# mismatch, register REG (of thread TID), and no memory mismatch.
oracle_found_only_reg() {
    [ "$ORACLE_RC" = 1 ] && grep -q ' regs_mismatch=1 ' "$ORACLE_LOG" && grep -q ' mem_mismatch=0 ' "$ORACLE_LOG" &&
        grep -q "${2:+thread $2: }MISMATCH $1:" "$ORACLE_LOG"
}

# check_stopped_restore IMGDIR: restore -s, check pid/state/exe/cmdline, run
# the oracle against the victim's core (with ORACLE_ARGS when set). Leaves the process stopped.
check_stopped_restore() {
    local dir=$1
    restore "$dir" restore-stopped.log -s || fatal "cannot restore the images stopped"
    # CRIU leaves the task with a SIGSTOP that takes effect a moment later.
    wait_for 5 is_stopped "$VPID" && pass "restored stopped (-s) as pid $VPID (state $(state_of "$VPID"))" ||
        fail "restored pid $VPID is not stopped (state $(state_of "$VPID"))"
    check_identity "$VICTIM_CMDLINE"
    run_oracle "$CORE" "$VPID" ${ORACLE_ARGS[@]+"${ORACLE_ARGS[@]}"}
    case $ORACLE_RC in
        0) pass "oracle: memory, registers, threads and layout equal the core ($(grep '^RESULT' "$ORACLE_LOG"))" ;;
        1) fail "oracle: the restored process differs from the core ($(grep '^RESULT' "$ORACLE_LOG"))"
           show_log "$dir/restore-stopped.log" ;;
        *) fail "oracle could not compare (exit $ORACLE_RC)" ;;
    esac
    # The kernel re-stops the task a moment after the oracle's detach.
    wait_for 5 is_stopped "$VPID" && pass "still stopped after the oracle detached" ||
        fail "pid $VPID is no longer stopped after the oracle (state $(state_of "$VPID"))"
}

# then_crash_or_run IMGDIR: after check_stopped_restore, a crashed victim is
# checked with gdb and continued (it must crash again the same way); a killed
# one is restored running and must go on.
then_crash_or_run() {
    if [ "$KIND" = crashed ]; then
        check_gdb_live "$BIN" "$CORE" "$VPID"
        check_recrash
    else
        check_runs_on "$1"
    fi
}

# restore_running IMGDIR [cont]: kill the stopped one, restore running; FROM
# is the output's size before. "cont": the images are of a stopped task
# (CRIU's own dump of a stopped victim): send SIGCONT after restoring.
restore_running() {
    kill_tracked "$VPID"
    FROM=$(file_size "$OUT")
    restore "$1" restore-run.log || fatal "cannot restore the images running"
    [ "${2:-}" != cont ] || kill -CONT "$VPID"
}

# check_runs_on IMGDIR [cont]: restore_running, then the victim continues
# where it died (check_goes_on).
check_runs_on() {
    restore_running "$@"
    check_goes_on "$FROM" "$1/restore-run.log"
}

# check_goes_on FROM LOG: the restored VPID continues from where it died (its
# output after byte FROM), and behaves; LOG is the restore's, shown on failure.
check_goes_on() {
    local from=$1 restore_log=$2
    if wait_for 10 progress_ok "$from"; then
        pass "restored process pid $VPID runs and writes its output"
    else
        fail "restored process pid $VPID made no progress (state '$(state_of "$VPID")'; new output: '$(since "$OUT" "$from" | head -n 3)')"
        show_log "$restore_log"
        return 0
    fi
    [ -z "$CATCHING" ] || check_sighup_ignored
    if [ "$BIN_BASE" = pool ] || [ "$BIN_BASE" = handshake ]; then
        check_threads_run_on "$from"
        kill_tracked "$VPID"
        return 0
    fi
    local new first expect bad
    if [ "$BIN_BASE" = counter ] || [ "$BIN_BASE" = libcounter ]; then
        new=$(since "$OUT" "$from")
    elif [ "$BIN_BASE" = manymaps ]; then
        new=$(since "$OUT" "$from" | grep -E '^[0-9]+$')
        since "$OUT" "$from" | grep -q '^CORRUPT' &&
            fail "manymaps found a patterned region corrupt: $(since "$OUT" "$from" | grep -m1 '^CORRUPT')" ||
            pass "manymaps' pattern checks hold after the resurrection"
    else
        new=$(since "$OUT" "$from" | grep '^tick ' | awk '{print $2}')
    fi
    first=$(head -n 1 <<<"$new")
    expect=$((DEAD + 1))
    [ "$first" = "$expect" ] && pass "the count continues from the dead value: $DEAD -> $first" ||
        fail "first value after resurrection is '$first', expected $expect (dead value $DEAD)"
    bad=$(awk 'NR > 1 && $1 != prev + 1 { print NR": "prev" -> "$1; exit } { prev = $1 }' <<<"$new")
    [ -z "$bad" ] && pass "the count increases by one per line ($(wc -l <<<"$new") new lines)" ||
        fail "the count jumps after resurrection (line $bad)"
    [ "$BIN_BASE" = heapsig ] && check_heapsig_on "$from"
    [ "$BIN_BASE" = shmem ] && check_shmem_run_on "$from"
    is_running "$VPID" && pass "pid $VPID still alive and running" ||
        fail "pid $VPID is not running any more (state '$(state_of "$VPID")')"
    kill_tracked "$VPID"
}

# check_sighup_ignored: the victim ignored SIGHUP (launch); resurrected from
# its capture it still does: SIGHUP leaves it running and writing.
check_sighup_ignored() {
    local before
    kill -HUP "$VPID"
    before=$(file_size "$OUT")
    if wait_for 5 progress_ok "$before" && is_running "$VPID"; then
        pass "SIGHUP is still ignored: pid $VPID runs on after it"
    else
        fail "pid $VPID did not survive SIGHUP, which the victim ignored (state '$(state_of "$VPID")')"
    fi
}

# check_heapsig_on FROM: the resurrected heapsig did not start over, runs its
# SIGUSR1 handler and ticks on after it (not under necro-catch: without a
# donor the handler's address is nowhere, SIGUSR1 would kill it), and its
# memory self-checks hold.
check_heapsig_on() {
    local from=$1 before_sig after_sig
    since "$OUT" "$from" | grep -q '^start' && fail "the resurrected heapsig started over ('start' line)" ||
        pass "no restart ('start' line) after resurrection"
    if [ -n "$CATCHING" ]; then
        log "no SIGUSR1: a donor-less resurrection has SIG_DFL for it (no handler address in a core or /proc)"
    else
        before_sig=$(file_size "$OUT")
        kill -USR1 "$VPID"
        if wait_for 5 has_lines_since "$OUT" "$before_sig" 1 '^usr1 1 '; then
            pass "SIGUSR1 handler ran: '$(since "$OUT" "$before_sig" | grep -m1 '^usr1 ')'"
        else
            fail "SIGUSR1 handler did not run (state '$(state_of "$VPID")')"
        fi
    fi
    after_sig=$(file_size "$OUT")
    if wait_for 5 has_lines_since "$OUT" "$after_sig" 20 '^tick '; then
        pass "still ticking$([ -n "$CATCHING" ] || echo ' after the signal handler returned')"
    else
        fail "no progress$([ -n "$CATCHING" ] || echo ' after the SIGUSR1 handler') (state '$(state_of "$VPID")')"
    fi
    since "$OUT" "$from" | grep -q '^CORRUPT' &&
        fail "heapsig found its memory corrupt: $(since "$OUT" "$from" | grep -m1 '^CORRUPT')" ||
        pass "heapsig's self-checks (2000 mallocs, 8 MiB mmap, file mapping) hold"
}

# check_shmem_run_on FROM: the resurrected shmem victim found every region
# with the dead run's bytes and counters (its pid seeds the patterns), and
# CRIU mapped each as the kind it was.
check_shmem_run_on() {
    local from=$1 seeds maps
    since "$OUT" "$from" | grep -qE '^(CORRUPT|start) ' &&
        fail "the resurrected shmem found a region changed: $(since "$OUT" "$from" | grep -m3 -vE '^tick ' | paste -sd,)" ||
        pass "every region ($([ "$MODE" = shmem ] && echo 'shared anonymous, memfd shared + private, deleted file shared + private' || echo 'shared anonymous, memfd, deleted file')) holds the dead run's counters and bytes"
    seeds=$(since "$OUT" "$from" | awk '$1 == "tick" { print $4 }' | sort -u | paste -sd,)
    [ "$seeds" = "$VPID" ] && pass "it runs on with the dead run's seed $VPID" ||
        fail "seeds after resurrection: '$seeds', expected the dead run's $VPID"
    maps=$(grep -cE 'rw-s .*(/memfd:/dev/zero|/memfd:necro-shm|/dir/ghost-data) \(deleted\)$' "/proc/$VPID/maps" || true)
    [ "$maps" = 3 ] && pass "/proc/$VPID/maps has the 3 shared mappings (memfd /dev/zero, memfd necro-shm, deleted file)" ||
        fail "/proc/$VPID/maps has $maps of the 3 shared mappings: $(grep -E 'memfd|deleted' "/proc/$VPID/maps" | paste -sd';')"
}

# check_threads_run_on FROM: every thread of a pool or handshake victim goes on
# from its own dead value + 1; handshake then completes its handshake (under
# necro-catch, without SIGUSR1: its pipe is back with both ends).
check_threads_run_on() {
    local from=$1 prefix=w key dead now want bad=0 n=0
    [ "$BIN_BASE" = handshake ] && prefix='(main|sleeper)'
    # Each key's first value after resurrection is its value in the core + 1.
    while read -r key dead; do
        n=$((n + 1))
        now=$(first_per_key "$OUT" "$from" "$prefix" | awk -v k="$key" '$1 == k { print $2 }')
        want=$((dead + 1))
        if [ "$now" = "$want" ]; then
            log "  $key: $dead -> $now"
        else
            fail "$key went on with '$now', expected $want (its dead value $dead)"
            bad=$((bad + 1))
        fi
    done <"$WORK/dead-values"
    [ "$n" -gt 0 ] || fail "no per-thread values were recorded before the resurrection"
    [ "$bad" -eq 0 ] && [ "$n" -gt 0 ] && pass "all $n threads' counters went on from their own dead values"
    if [ "$BIN_BASE" = pool ]; then
        local want_n=${VICTIM_ARGS[1]}
        [ "$n" -eq "$want_n" ] && pass "$n workers wrote before death and after resurrection" ||
            fail "$n workers counted, the victim had $want_n"
    elif [ -n "$CATCHING" ]; then
        # No SIGUSR1 (its handler cannot come back without a donor): the
        # handshake's pipe must be there, both ends, for it to work at all.
        check_pipe_pair
    else
        local before_sig
        before_sig=$(file_size "$OUT")
        kill -USR1 "$VPID"
        if wait_for 10 has_lines_since "$OUT" "$before_sig" 1 '^handshake complete'; then
            pass "the handshake completed: $(since "$OUT" "$before_sig" | grep -E '^(main sends|reader woke|waiter woke|handshake complete)' | paste -sd, -)"
        else
            fail "no handshake after SIGUSR1 (got: $(since "$OUT" "$before_sig" | grep -vE '^(main|sleeper) [0-9]' | paste -sd, -))"
        fi
    fi
    is_running "$VPID" && pass "pid $VPID still alive and running" ||
        fail "pid $VPID is not running any more (state '$(state_of "$VPID")')"
}

# octal VALUE: 0o755, 0755 or 755 (octal) in decimal.
octal() { local v=${1#0o}; echo $((8#$v)); }
# fdinfo_field PID FD NAME: a field of /proc/PID/fdinfo/FD (pos, flags).
fdinfo_field() { awk -v n="$3:" '$1 == n { print $2 }' "/proc/$1/fdinfo/$2"; }

# check_pipe_pair: the running handshake holds its pipe again, both ends
# (a read-only and a write-only fd on one pipe inode).
check_pipe_pair() {
    local p n links=() modes=() desc=()
    for p in /proc/"$VPID"/fd/*; do
        [[ $(readlink "$p") == pipe:* ]] || continue
        n=${p##*/}
        links+=("$(readlink "$p")")
        modes+=("$(( $(octal "$(fdinfo_field "$VPID" "$n" flags)") & 3 ))")
        desc+=("fd $n ${links[-1]} O_ACCMODE ${modes[-1]}")
    done
    if [ "${#links[@]}" = 2 ] && [ "${links[0]}" = "${links[1]}" ] &&
        [ "$(printf '%s\n' "${modes[@]}" | sort | paste -sd,)" = 0,1 ]; then
        pass "its pipe is back with both ends: $(printf '%s, ' "${desc[@]}" | sed 's/, $//')"
    else
        fail "the running handshake does not hold both ends of one pipe: $(printf '%s, ' "${desc[@]}")"
    fi
}

# check_gdb_live PROG CORE PID: full backtraces of every thread, gdb -p vs
# gdb on the core; `call necro_probe(14)` in the live process (gdbcheck.sh).
# shellcheck source=gdbcheck.sh
. "$E2E_DIR/gdbcheck.sh"

# check_recrash: the stopped resurrected crasher, continued, dies of SIGSEGV
# again at the same instruction in the same thread.
check_recrash() {
    kill -CONT "$VPID"
    if ! wait_for 15 test -s "$COREDIR/core.$VPID"; then
        fail "continued pid $VPID wrote no core $COREDIR/core.$VPID (state '$(state_of "$VPID")')"
        return 0
    fi
    wait_gone "$VPID" 30 || fail "re-crashed pid $VPID did not vanish"
    unset "TRACKED[$VPID]"
    local a b
    a=$("$ORACLE" --info "$CORE" | grep '^thread0 ' | awk '{print $2, $4}')
    b=$("$ORACLE" --info "$COREDIR/core.$VPID" | grep '^thread0 ' | awk '{print $2, $3, $4}')
    [ "$b" = "$(awk '{print $1}' <<<"$a") cursig=11 $(awk '{print $2}' <<<"$a")" ] &&
        pass "continued, it died of SIGSEGV again at the same ip in the same thread ($b)" ||
        fail "re-crash differs: original '$a', now '$b'"
}

# check_no_nt_file: the manymaps core is the case at hand: more than 65 535
# program headers (PN_XNUM) and no NT_FILE note (the kernel left it out).
check_no_nt_file() {
    local phnum vmas
    phnum=$(readelf -hW "$CORE" | sed -n 's/^ *Number of program headers: *//p')
    vmas=$(grep -c '^ *LOAD' <(readelf -lW "$CORE" 2>/dev/null) || true)
    [[ "$phnum" == "65535 ("*")" ]] && pass "the core uses PN_XNUM: e_phnum $phnum, $vmas PT_LOADs" ||
        fail "the core's e_phnum is '$phnum', expected 65535 (PN_XNUM) with the real count in section 0"
    if readelf -nW "$CORE" | grep -q 'NT_FILE'; then
        fail "the core has an NT_FILE note: core_file_note_size_limit is $(cat /proc/sys/kernel/core_file_note_size_limit)"
    else
        pass "the core has no NT_FILE note (readelf -n; core_file_note_size_limit $(cat /proc/sys/kernel/core_file_note_size_limit))"
    fi
}

# check_rebuilt_without_donor: the donor-less --explain (WORK/explain.log)
# says the file mappings were rebuilt.
check_rebuilt_without_donor() {
    grep -q '^file mappings rebuilt: the core has no NT_FILE' "$WORK/explain.log" &&
        pass "--explain without a donor: $(grep -c ' at bias ' "$WORK/explain.log") objects rebuilt; $(grep -o 'sysctl kernel.core_file_note_size_limit=[0-9]*' "$WORK/explain.log")" ||
        fail "--explain without a donor does not say that the file mappings were rebuilt"
}

# necro_restore OUT ARGS...: criu-necromancer -c CORE -i donor -o OUT --restore
# ARGS; its output in $WORK/necro-OUT.log, NECRO_RC its exit status, RPID the
# pid it printed (tracked for cleanup).
necro_restore() {
    local out=$1
    shift
    NECRO_RC=0
    NECRO_TIMEOUT=120 run_necro -c "$CORE" -i "$WORK/donor" -o "$WORK/$out" --restore "$@" \
        >"$WORK/necro-$out.log" 2>&1 || NECRO_RC=$?
    RPID=$(sed -n 's/^restored pid \([0-9]*\) .*/\1/p' "$WORK/necro-$out.log")
    [ -z "$RPID" ] || TRACKED[$RPID]=$BIN
}

# necro_gdb LOG GDB_COMMANDS ARGS...: criu-necromancer -c CORE ARGS --restore
# --gdb, gdb reading GDB_COMMANDS (newline-separated) from its stdin; all its
# output in LOG, NECRO_RC its exit status, RPID the pid it printed (tracked).
necro_gdb() {
    local log=$1 commands=$2
    shift 2
    NECRO_RC=0
    printf '%s\n' "$commands" | NECRO_TIMEOUT=120 run_necro -c "$CORE" "$@" --restore --gdb >"$log" 2>&1 || NECRO_RC=$?
    RPID=$(sed -n 's/^restored pid \([0-9]*\) .*/\1/p' "$log")
    [ -z "$RPID" ] || TRACKED[$RPID]=$BIN
}

# ================================================================ real programs (real/)
# Programs nobody here wrote, installed from Debian. A real/PROGRAM.sh file
# defines BIN (the binary), CMD (argv), KILLSIG and the functions
#   prog_ready            the program answers its client
#   prog_load             give the victim its state (may record facts)
#   prog_before_kill      the last write (marker) just before the kill
#   prog_donor            record what identifies the donor
#   prog_check            the resurrected program, through its client
#   prog_two_clients      (optional, -catch modes) two clients at once
#   prog_hold_connection  (-conn modes) a client connected through the kill:
#                         sets HELD (our fd) and VICTIM_HELD_FD (the victim's)
#   prog_after_held       (-conn modes) right after the restore: the program
#                         copes with the connection that died
#   prog_restore          (optional) replaces the restore and the checks: a
#                         resurrection expected to die (a degraded mode)
#   prog_after_death      (optional) once the victim is dead and its core
#                         checked: record what it left (its last output)
#   prog_finish           (optional) after the checks: how the resurrected
#                         program ends (a signal it handles, checked through
#                         RESTORE_REAPER); it is killed otherwise
# then calls real_story. The program is started detached on 127.0.0.1:PORT
# with a configuration written into the work directory (never the system's
# service), given state through its own client, and killed for real with a
# complete core. A fresh run with the same configuration (the donor; none in
# the -catch modes, whose core goes through necro-catch) is dumped by `criu
# dump`, criu-necromancer makes the image set, `criu restore -d` brings the
# victim back running, and the program is checked through its own client
# again: its state must be the victim's, not the donor's.
#
# NECRO_REAL_CONTROL=1: a control run that checks the checks: the victim is
# dumped by CRIU itself instead of killed, and restored from CRIU's images.

# real_begin: prerequisites (root, CRIU, criu-necromancer and in the -catch
# modes necro-catch built: else a failure), e2e_begin, where the cores go
# (-nobpf modes: necro-catch --no-bpf), a free PORT. Sets CAUGHT (-catch and
# -catch-* modes), NOBPF (-nobpf modes), HELD_CONN (-conn modes) and
# LAZY_CORE (-lazy-core modes: criu-necromancer --restore --lazy
# --lazy-source=core, the memory served from the core while the checks run).
real_begin() {
    CAUGHT=0
    case $MODE in *-catch | *-catch-*) CAUGHT=1 ;; esac
    NOBPF=0
    case $MODE in *-nobpf) NOBPF=1 ;; esac
    HELD_CONN=0
    case $MODE in *-conn) HELD_CONN=1 ;; esac
    LAZY_CORE=0
    case $MODE in *-lazy-core) LAZY_CORE=1 ;; esac
    HELD=
    need_root "core_pattern, CRIU"
    need_criu
    need_built "$NECRO" criu-necromancer
    [ "$CAUGHT" = 0 ] || need_built "$CATCH" necro-catch
    # Debian's own python3 (a python3 earlier on PATH, e.g. pyenv's, is not
    # the packaged program and has no python3-setproctitle).
    PY=/usr/bin/python3
    [ -x "$PY" ] || fatal "$PY not found: install the Debian package python3"
    need ss iproute2
    E2E_TIMES=1
    e2e_begin
    if [ "$NOBPF" = 1 ]; then
        cores_through_catch "|$CATCH --dir $WORK/caught --no-bpf %P"
    elif [ "$CAUGHT" = 1 ]; then
        cores_through_catch
    else
        cores_in_work
    fi
    # SIGINT/SIGQUIT at their defaults: a script's background jobs start with
    # them ignored. -catch: limits and a umask of its own, that only the
    # capture knows.
    # shellcheck disable=SC2054 # one option, INT and QUIT
    LAUNCH_WRAP=(env --default-signal=INT,QUIT)
    [ "$CAUGHT" = 0 ] || LAUNCH_SETUP=real_catch_setup
    PORT=$(free_port)
}
real_catch_setup() { ulimit -Sn 12345; ulimit -Hn 19999; umask 0027; }

# free_port: a TCP port on 127.0.0.1 nobody listens on now.
free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# no_connections PID: PID holds no TCP socket but its listener on $PORT
# (clients' connections closed on its side too: CRIU would need
# --tcp-established for a live one, and a dead victim's client would still be
# in the program's memory after the resurrection).
no_connections() {
    ! ss -Htanp 2>/dev/null | grep -v '^LISTEN' | grep -q "pid=$1,"
}

# other_instances: processes running BIN that this test did not start
# (e.g. the package's own service): reported, never touched. Ours use their
# own port and files.
other_instances() {
    local p pids=''
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/exe" 2>/dev/null)" = "$BIN" ] || continue
        [ -n "${TRACKED[${p#/proc/}]:-}" ] || pids="$pids ${p#/proc/}"
    done
    if [ -n "$pids" ]; then
        log "note: pid(s)$pids run $BIN too (not started here, e.g. the package's service): left alone"
    else
        log "no other process runs $BIN (the package's own service is not running)"
    fi
}

# environ_sum PID: size and digest of /proc/PID/environ (the bytes between the
# kernel's env_start and env_end, whatever the program wrote there since).
environ_sum() { local f="/proc/$1/environ"; printf '%s bytes, sha256 %.16s' "$(wc -c <"$f")" "$(sha256sum <"$f")"; }

# real_story: the whole test, once the program file has defined its part.
real_story() {
    LAUNCH_EXE=$BIN
    log "program: ${CMD[*]} (binary $BIN), port $PORT, killed with SIG$KILLSIG"
    other_instances
    real_victim
    if declare -F prog_after_death >/dev/null; then prog_after_death; fi
    if [ "${NECRO_REAL_CONTROL:-0}" = 1 ]; then
        :
    elif [ "$CAUGHT" = 1 ]; then
        necromance_caught
    elif [ "$LAZY_CORE" = 1 ]; then
        real_donor
        IMG="$WORK/out"
    else
        real_donor
        IMG="$WORK/out"
        necro_with_donor
    fi
    # prog_restore (optional): a resurrection that is not expected to live
    # (a degraded mode); the program file checks how it ends.
    if declare -F prog_restore >/dev/null; then
        prog_restore
        kill_tracked "$VPID"
        return 0
    fi
    if [ "$LAZY_CORE" = 1 ]; then restore_lazy_core; else restore_live; fi
    timed checks prog_check
    # (with LAZY_PUSH=no the daemon lives as long as the process: the
    # program file's prog_finish checks its end)
    [ "$LAZY_CORE" = 0 ] || [ "${LAZY_PUSH:-yes}" = no ] || lazy_core_ends
    [ "$CAUGHT" = 0 ] || timed world check_caught_world
    if is_running "$VPID"; then
        pass "pid $VPID still alive and running"
    else
        fail "pid $VPID is not running any more (state '$(state_of "$VPID")')"
        why_dead
    fi
    # prog_finish (optional): how the resurrected program ends (a signal it
    # handles); else it is killed.
    if declare -F prog_finish >/dev/null; then prog_finish; fi
    kill_tracked "$VPID"
}

# real_victim: run, load, mark, kill for real; check the core. Sets VPID, CORE.
real_victim() {
    launch "${CMD[@]}"
    VPID=$LAUNCHED
    log "victim pid $VPID"
    timed victim-start wait_for 30 prog_ready || fatal "the victim does not answer on port $PORT"
    timed load prog_load
    prog_before_kill
    if [ "$HELD_CONN" = 1 ]; then
        prog_hold_connection
    else
        wait_for 10 no_connections "$VPID" || fatal "the victim still has client connections: $(ss -Htanp | grep "pid=$VPID,")"
    fi
    VICTIM_CMDLINE=$(cmdline_of "$VPID")
    VICTIM_ENVIRON=$(environ_sum "$VPID")
    cp "/proc/$VPID/smaps" "$WORK/victim.smaps"
    local filter threads
    filter=$(cat "/proc/$VPID/coredump_filter")
    threads=$(ls "/proc/$VPID/task" | wc -l)
    log "victim: cmdline '$VICTIM_CMDLINE', $threads thread(s), coredump_filter $filter, $(wc -l <"/proc/$VPID/maps") mappings, VmRSS $(sed -n 's/^VmRSS:\s*//p' "/proc/$VPID/status")"
    [ "$filter" = 000000ff ] || fatal "victim's coredump_filter is $filter, not 000000ff"
    [ "$CAUGHT" = 0 ] || record_victim_world
    if [ "${NECRO_REAL_CONTROL:-0}" = 1 ]; then
        dump_victim_control
        return 0
    fi
    local t0
    t0=$(now_ms)
    kill "-$KILLSIG" "$VPID"
    reap_victim $((128 + $(kill -l "$KILLSIG")))
    [ -z "$HELD" ] || exec {HELD}>&-
    wait_for 30 test -s "$COREDIR/core.$VPID" || fatal "no core file $COREDIR/core.$VPID: $(ls "$COREDIR")"
    wait_gone "$VPID" 30 || fatal "victim pid $VPID did not vanish"
    TIMES+=("kill+core $(( $(now_ms) - t0 )) ms")
    if [ "$CAUGHT" = 1 ]; then
        check_caught_core
    else
        CORE="$WORK/victim.core"
        mv "$WORK/core.$VPID" "$CORE"
    fi
    check_core_complete
}

# check_core_complete: CORE holds every page of the victim's mappings.
check_core_complete() {
    local verdict rc=0
    verdict=$("$PY" "$E2E_DIR/real/corecheck.py" "$CORE" "$WORK/victim.smaps") || rc=$?
    [ "$rc" -eq 0 ] && pass "core is complete: $verdict" || fatal "core: $verdict"
    # The check can fail: the same core one page short is refused.
    cp --sparse=always "$CORE" "$WORK/short.core"
    truncate -s -4096 "$WORK/short.core"
    rc=0
    verdict=$("$PY" "$E2E_DIR/real/corecheck.py" "$WORK/short.core" "$WORK/victim.smaps") || rc=$?
    rm -f "$WORK/short.core"
    [ "$rc" -eq 1 ] && pass "the core cut one page short is found incomplete" ||
        fail "corecheck accepted a truncated core (exit $rc): $verdict"
}

# limits_line PID NAME: the soft and hard value of one of /proc/PID/limits.
limits_line() { awk -v n="$2" 'index($0, n) == 1 { print $(NF - 2), $(NF - 1) }' "/proc/$1/limits"; }
sig_ignored() { sed -n 's/^SigIgn:\s*//p' "/proc/$1/status"; }
umask_of() { sed -n 's/^Umask:\s*//p' "/proc/$1/status"; }
# listen_fd PID: the fd of PID's TCP socket listening on $PORT (from ss).
listen_fd() { ss -Hltnp "sport = :$PORT" | grep -o "pid=$1,fd=[0-9]*" | head -n1 | sed 's/.*fd=//'; }

# record_victim_world: what the capture must hold, as the victim sees it.
record_victim_world() {
    local p
    VICTIM_CWD=$(readlink "/proc/$VPID/cwd")
    VICTIM_SIGIGN=$(sig_ignored "$VPID")
    VICTIM_NOFILE=$(limits_line "$VPID" 'Max open files')
    VICTIM_UMASK=$(umask_of "$VPID")
    VICTIM_LISTEN_FD=$(listen_fd "$VPID")
    [ -n "$VICTIM_LISTEN_FD" ] || fatal "the victim pid $VPID has no fd listening on port $PORT: $(ss -Hltnp)"
    VICTIM_EPOLL_FDS=''
    for p in /proc/$VPID/fd/*; do
        [ "$(readlink "$p")" = 'anon_inode:[eventpoll]' ] && VICTIM_EPOLL_FDS="$VICTIM_EPOLL_FDS ${p##*/}"
    done
    VICTIM_EPOLL_FDS=${VICTIM_EPOLL_FDS# }
    log "victim: cwd $VICTIM_CWD, umask $VICTIM_UMASK, SigIgn $VICTIM_SIGIGN, open files $VICTIM_NOFILE, listening fd $VICTIM_LISTEN_FD, epoll fd(s) '${VICTIM_EPOLL_FDS:-none}', $(ls "/proc/$VPID/fd" | wc -l) fds"
    ls -l "/proc/$VPID/fd" >"$WORK/victim.fds" 2>&1 || true
}

# check_caught_core: necro-catch wrote a complete core.$VPID and a capture
# beside it that holds the victim's listener, epoll and cwd. Sets CORE, CAP.
check_caught_core() {
    CORE=$COREDIR/core.$VPID
    CAP=$CORE.necro
    check_caught "$CORE"
    pass "necro-catch wrote core.$VPID ($(stat -c %s "$CORE") bytes, $(du -h "$CORE" | cut -f1) on disk) and core.$VPID.necro/ ($(ls "$CAP" | paste -sd' '))"
    "$CATCH" --show "$CAP" "$VPID" >"$WORK/capture.show" 2>&1 || fatal "necro-catch --show $CAP: $(cat "$WORK/capture.show")"
    sed 's/^/  | /' "$WORK/capture.show" | grep -v '^  | map ' || true
    grep -q "^fd $VICTIM_LISTEN_FD inet .* proto 6 state 10 port $PORT\$" "$WORK/capture.show" &&
        pass "the capture lists fd $VICTIM_LISTEN_FD: TCP, LISTEN, port $PORT" ||
        fail "the capture does not list fd $VICTIM_LISTEN_FD as a TCP socket listening on port $PORT"
    [ "$(sed -n 's/^cwd //p' "$WORK/capture.show")" = "$VICTIM_CWD" ] && pass "the capture's cwd is the victim's: $VICTIM_CWD" ||
        fail "the capture's cwd is '$(sed -n 's/^cwd //p' "$WORK/capture.show")', the victim's $VICTIM_CWD"
    [ -z "$VICTIM_EPOLL_FDS" ] || check_captured_epoll
}

# epoll_watches EPFD: the fds the capture says epoll EPFD watches.
epoll_watches() {
    awk -v e="$1" '/^fd / { in_e = ($2 == e && $3 == "epoll") } in_e && $1 == "watches" { print $3 }' "$WORK/capture.show" | paste -sd' '
}
# Every epoll fd is in the capture, and one watches the listener (a program
# may have more: Node's libuv has one per thread loop).
check_captured_epoll() {
    local e w found=
    for e in $VICTIM_EPOLL_FDS; do
        w=$(epoll_watches "$e")
        grep -q "^fd $e epoll " "$WORK/capture.show" || { fail "the capture does not list epoll fd $e"; continue; }
        log "the capture lists epoll fd $e watching fds '${w}'"
        [[ " $w " != *" $VICTIM_LISTEN_FD "* ]] || found="$found $e"
    done
    [ -n "$found" ] && pass "the capture lists epoll fd(s)$found watching the listener $VICTIM_LISTEN_FD (epoll fds: $VICTIM_EPOLL_FDS)" ||
        fail "no epoll fd of the capture ($VICTIM_EPOLL_FDS) watches the listener $VICTIM_LISTEN_FD"
}

# necromance_caught: no donor; the image set from the core and its capture.
necromance_caught() {
    [ ! -e "$WORK/donor" ] || fatal "a donor directory $WORK/donor exists in a no-donor run"
    DONOR_RUNID='(no donor)' DONOR_SHM='(no donor)'
    log "criu-necromancer -c $CORE --explain"
    if ! timed explain run_necro -c "$CORE" --explain >"$WORK/explain.log" 2>&1; then
        show_log "$WORK/explain.log"
        fatal "criu-necromancer --explain failed: $(grep -m1 '^criu-necromancer:' "$WORK/explain.log" || tail -n 1 "$WORK/explain.log")"
    fi
    check_explain
    IMG="$WORK/out"
    log "criu-necromancer -c $CORE -o $IMG (no donor, capture $CAP)"
    if ! timed necro run_necro -c "$CORE" -o "$IMG" >"$WORK/necro.log" 2>&1; then
        show_log "$WORK/necro.log"
        fatal "criu-necromancer failed: $(grep -m1 '^criu-necromancer:' "$WORK/necro.log" || tail -n 1 "$WORK/necro.log")"
    fi
    [ -f "$IMG/inventory.img" ] || fatal "criu-necromancer exited 0 but wrote no $IMG/inventory.img"
    pass "criu-necromancer without a donor wrote $(ls "$IMG" | wc -l) files ($(du -sh "$IMG" | cut -f1))"
    [ ! -e "$WORK/donor" ] && pass "no donor was started or dumped" || fail "a donor directory appeared"
}

# check_explain: --explain used the capture, and names what it closed.
check_explain() {
    local section closed e
    section=$(awk '/^from the capture/ { on = 1 } on && /^[^ ]/ && !/^from the capture/ { exit } on' "$WORK/explain.log")
    [ -n "$section" ] || { fail "--explain has no 'from the capture' section (log: $WORK/explain.log)"; return 0; }
    printf '%s\n' "$section" | sed 's/^/  | /'
    pass "--explain: $(head -n1 <<<"$section")"
    closed=$(sed -n 's/^  closed fd \([0-9]*\):.*/\1/p' <<<"$section" | paste -sd' ')
    log "--explain: fds closed: ${closed:-none}"
    for e in "$VICTIM_LISTEN_FD" $VICTIM_EPOLL_FDS; do
        [[ " $closed " != *" $e "* ]] || fail "--explain closes fd $e (the listener or the epoll)"
    done
    if [ "$HELD_CONN" = 1 ]; then
        [[ " $closed " == *" $VICTIM_HELD_FD "* ]] &&
            pass "--explain lists the client connection open at death, fd $VICTIM_HELD_FD, as closed" ||
            fail "--explain does not list fd $VICTIM_HELD_FD (the client connection open at death) as closed"
    fi
    pass "--explain closes ${closed:-no fd}, keeps the listener fd $VICTIM_LISTEN_FD and epoll '${VICTIM_EPOLL_FDS:-none}'"
}

# check_caught_world: the resurrected process has the victim's own world.
check_caught_world() {
    local got
    got=$(readlink "/proc/$VPID/cwd")
    [ "$got" = "$VICTIM_CWD" ] && pass "/proc/$VPID/cwd is the victim's: $got" ||
        fail "/proc/$VPID/cwd is '$got', the victim's was $VICTIM_CWD"
    got=$(listen_fd "$VPID")
    [ "$got" = "$VICTIM_LISTEN_FD" ] && pass "pid $VPID listens on 127.0.0.1:$PORT with fd $got, as the victim did" ||
        fail "pid $VPID listens on port $PORT with fd '$got', the victim with fd $VICTIM_LISTEN_FD: $(ss -Hltnp "sport = :$PORT")"
    got=$(sig_ignored "$VPID")
    [ "$got" = "$VICTIM_SIGIGN" ] && pass "ignored signals are the victim's: SigIgn $got" ||
        fail "SigIgn is $got, the victim's was $VICTIM_SIGIGN"
    got=$(limits_line "$VPID" 'Max open files')
    [ "$got" = "$VICTIM_NOFILE" ] && pass "open files limit is the victim's: $got" ||
        fail "open files limit is '$got', the victim's was '$VICTIM_NOFILE'"
    got=$(umask_of "$VPID")
    [ "$got" = "$VICTIM_UMASK" ] && pass "umask is the victim's: $got" ||
        fail "umask is '$got', the victim's was '$VICTIM_UMASK'"
    if declare -F prog_two_clients >/dev/null; then prog_two_clients; fi
    ls -l "/proc/$VPID/fd" >"$WORK/restored.fds" 2>&1 || true
    log "fds: victim $(grep -c ' -> ' "$WORK/victim.fds"), restored $(grep -c ' -> ' "$WORK/restored.fds")"
}

# real_donor: a fresh run with the same configuration, dumped by CRIU once
# it answers and holds no client connection.
real_donor() {
    start_donor "${CMD[@]}"
    wait_for 30 prog_ready || fatal "the donor does not answer on port $PORT"
    prog_donor
    wait_for 10 no_connections "$DPID" || fatal "the donor still has client connections"
    dump_donor
}

# restore_live: `criu restore -d` of IMG: the victim's pid, exe, cmdline and
# environ; its memory-only shared mappings hold the core's bytes; it answers.
restore_live() {
    restore "$IMG" restore.log || fatal "criu restore -D $IMG -d failed: $(grep -m1 'Error' "$IMG/restore.log" || true)"
    pass "restored as the victim's pid $VPID"
    live_checks
}

# lazy_pids LOG: from what criu-necromancer --restore --lazy printed, sets
# LAZY_DAEMON (necro's lazy-pages daemon, or criu lazy-pages), LAZY_SERVER
# (the page server criu lazy-pages asks; empty with necro's daemon) and
# LAZY_LOG (the log whose last line is `done: ...` when all went in).
lazy_pids() {
    LAZY_SERVER=$(sed -n 's/^memory is served from the core .*: necro page server pid \([0-9]*\) .*/\1/p' "$1")
    if [ -n "$LAZY_SERVER" ]; then
        LAZY_DAEMON=$(sed -n 's/^memory loads on first touch: criu lazy-pages pid \([0-9]*\) .*/\1/p' "$1")
        LAZY_LOG=$(sed -n 's/^memory is served from the core .*: necro page server pid [0-9]* (log \(.*\))$/\1/p' "$1")
    else
        LAZY_DAEMON=$(sed -n 's/^memory is served from the core .*: necro lazy-pages daemon pid \([0-9]*\) .*/\1/p' "$1")
        LAZY_LOG=$(sed -n 's/^memory is served from the core .*: necro lazy-pages daemon pid [0-9]* .*(log \(.*\))$/\1/p' "$1")
    fi
}

# restore_lazy_core (-lazy-core modes): criu-necromancer -c CORE -i donor -o
# IMG --restore --lazy --lazy-source=core: the private memory stays in the
# core and necro's lazy-pages daemon copies it in as the program touches it.
# The checks then run while pages are still arriving. LAZY_PUSH (yes or
# no), when set, is passed as --lazy-push. Sets LAZY_DAEMON and LAZY_LOG
# (lazy_pids).
restore_lazy_core() {
    local log="$WORK/necro.log" t0 rpid bytes core_bytes f
    "$NECRO_CRIU" check --feature uffd-noncoop >/dev/null 2>&1 {LOCKFD}>&- ||
        fatal "this kernel has no non-cooperative userfaultfd (criu check --feature uffd-noncoop)"
    log "criu-necromancer -c $CORE -i $WORK/donor -o $IMG --restore --lazy --lazy-source=core${LAZY_PUSH:+ --lazy-push=$LAZY_PUSH}"
    t0=$(now_ms)
    NECRO_RC=0
    NECRO_TIMEOUT=120 run_necro -c "$CORE" -i "$WORK/donor" -o "$IMG" --restore --lazy --lazy-source=core \
        ${LAZY_PUSH:+--lazy-push=$LAZY_PUSH} >"$log" 2>&1 || NECRO_RC=$?
    TIMES+=("necro --restore --lazy-source=core $(( $(now_ms) - t0 )) ms")
    rpid=$(sed -n 's/^restored pid \([0-9]*\) .*/\1/p' "$log")
    [ -z "$rpid" ] || TRACKED[$rpid]=$BIN
    lazy_pids "$log"
    if [ "$NECRO_RC" != 0 ] || [ "$rpid" != "$VPID" ] || [ -z "$LAZY_DAEMON" ] || [ -z "$LAZY_LOG" ]; then
        show_log "$log"
        [ ! -f "$IMG/restore.log" ] || show_log "$IMG/restore.log"
        fatal "--restore --lazy --lazy-source=core failed (exit $NECRO_RC, pid '$rpid', daemon '$LAZY_DAEMON')"
    fi
    pass "restored as the victim's pid $VPID in $(( $(now_ms) - t0 )) ms, memory from the core: necro lazy-pages daemon $LAZY_DAEMON"
    bytes=0
    for f in "$IMG"/pages-*.img; do bytes=$((bytes + $(file_size "$f"))); done
    core_bytes=$(file_size "$CORE")
    # The lazy pages were not copied: what stays in pages-*.img (the vDSO,
    # file pages that differ from the file) is a small part of the core.
    [ $((bytes * 4)) -lt "$core_bytes" ] && pass "pages-*.img holds $bytes bytes of the core's $core_bytes" ||
        fail "pages-*.img holds $bytes bytes of the core's $core_bytes: the lazy pages were copied"
    grep -q 'Lazy restore skips' "$IMG/restore.log" && pass "CRIU left $(grep -c 'Lazy restore skips' "$IMG/restore.log") pagemap entries to the daemon" ||
        fail "CRIU restored every page itself: nothing was lazy"
    live_checks
}

# lazy_core_ends [DIR [WHAT]] (-lazy-core modes, after the checks; and
# tests/lazy-core.sh): the daemon (and the page server, with criu's) exit
# with `done:` as their log's last line, and no lazy-pages.socket of necro's
# is left in DIR (default IMG). Needs lazy_pids first.
lazy_core_ends() {
    local dir=${1:-$IMG} what=${2:-the lazy restore}
    if wait_gone "$LAZY_DAEMON" 60 && [[ $(tail -n 1 "$LAZY_LOG") == done:* ]]; then
        pass "$what: the lazy-pages daemon delivered every page and exited: $(tail -n 1 "$LAZY_LOG")"
    else
        fail "$what: the lazy-pages daemon pid $LAZY_DAEMON did not end cleanly"
        show_log "$LAZY_LOG"
    fi
    [ -z "$LAZY_SERVER" ] || wait_gone "$LAZY_SERVER" 10 || fail "$what: the page server pid $LAZY_SERVER still runs"
    # (criu lazy-pages leaves its socket; necro's daemon removes its own)
    [ -n "$LAZY_SERVER" ] || [ ! -e "$dir/lazy-pages.socket" ] || fail "$what: lazy-pages.socket is left in the set"
}

# live_checks: the restored VPID is the victim (exe, cmdline, environ), its
# memory-only shared mappings hold the core's bytes, and it answers.
live_checks() {
    check_identity "$VICTIM_CMDLINE"
    local env
    env=$(environ_sum "$VPID")
    [ "$env" = "$VICTIM_ENVIRON" ] && pass "restored /proc/$VPID/environ is the victim's ($env)" ||
        fail "restored /proc/$VPID/environ is $env, the victim's was $VICTIM_ENVIRON"
    [ -z "${CORE:-}" ] || check_shared_memory
    [ "$HELD_CONN" = 0 ] || prog_after_held
    if timed answers answers_while_alive 20; then
        pass "the resurrected program answers its client on port $PORT"
    else
        show_log "$IMG/restore.log"
        why_dead
        fatal "the resurrected pid $VPID does not answer on port $PORT (state '$(state_of "$VPID")')"
    fi
}

# check_shared_memory: right after the restore, before any client talks to
# it, the victim's memory-only shared mappings hold the core's bytes.
check_shared_memory() {
    local verdict rc=0
    verdict=$("$PY" "$E2E_DIR/real/sharedcheck.py" "$CORE" "$WORK/victim.smaps" "$VPID") || rc=$?
    case $rc in
        0) pass "shared memory: $verdict" ;;
        3) log "shared memory: $verdict" ;;
        *) fail "shared memory: $verdict" ;;
    esac
}

# answers_while_alive SECONDS: until the program answers; gives up at once
# when the resurrected process is gone.
answers_while_alive() {
    local deadline=$((SECONDS + $1))
    until prog_ready; do
        is_running "$VPID" || return 1
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.05
    done
}

# why_dead: when the resurrected process died with a core (core_pattern still
# points into WORK), say of what and where, with gdb's backtrace.
why_dead() {
    local core="$COREDIR/core.$VPID"
    # necro-catch does not overwrite the victim's own core.PID: core.PID.1.
    [ "${CORE:-}" != "$core" ] || core=$core.1
    is_running "$VPID" && return 0
    wait_for 5 test -s "$core" || { log "pid $VPID is gone and left no core"; return 0; }
    log "the resurrected pid $VPID died and left $core:"
    if command -v gdb >/dev/null; then
        timeout 60 gdb -nx -batch -ex 'p $_siginfo.si_signo' -ex 'p $_siginfo._sifields._sigfault.si_addr' \
            -ex 'info registers rip' -ex 'bt 8' "$BIN" "$core" {LOCKFD}>&- 2>/dev/null |
            grep -E '^(\$[0-9]|rip|#[0-9])' | awk '!seen[$0]++ { print "  " $0 }' || true
    fi
}

# dump_victim_control (NECRO_REAL_CONTROL=1): a control run without necro, to
# check the checks. The victim is not killed but dumped by CRIU itself and
# restored from CRIU's own images: every check after the restore must pass (a
# failure there is the test's, or CRIU's, never necro's).
dump_victim_control() {
    disown "$VPID" # no "Killed" notice when CRIU kills it
    mkdir -p "$WORK/img"
    if ! timed victim-dump criu dump -t "$VPID" -D "$WORK/img" -v4 -o dump.log; then
        show_log "$WORK/img/dump.log"
        fatal "control: criu dump of the victim pid $VPID failed"
    fi
    unset "TRACKED[$VPID]"
    wait_gone "$VPID" 30 || fatal "victim pid $VPID did not vanish after dump"
    pass "control: the victim pid $VPID dumped by CRIU itself (no core, no donor, no necro)"
    IMG="$WORK/img"
    # shellcheck disable=SC2034 # read by the program files' checks
    DONOR_RUNID='(no donor)' DONOR_STATUS='(no donor)' DONOR_SHM='(no donor)' DONOR_ITEMS='(no donor)' DONOR_CONNS='(no donor)'
}
