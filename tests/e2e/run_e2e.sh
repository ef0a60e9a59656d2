#!/usr/bin/env bash
# run_e2e.sh - necro's end-to-end tests: real victims, real cores, real CRIU.
#
#   run_e2e.sh MODE --victims DIR --oracle PATH [--necro PATH] [--catch PATH]
#
# MODE (one ctest test each, e2e.MODE):
#   counter      the counter victim is killed (SIGQUIT); a donor run is dumped;
#                with the executable's build-id changed on disk, criu-necromancer
#                must refuse; put back, it writes an image set from core + donor; it is
#                restored stopped (-s) and compared with the core by the oracle,
#                then restored again running: the counter must continue from the
#                dead value + 1.
#   segv         the segv victim dereferences NULL in its main thread; restored
#                stopped, oracle; gdb -p shows the core's threads and full
#                backtraces, and `call necro_probe(14)` returns 43 in it (the
#                core refuses the call; gdbcheck.sh); then SIGCONT: it must die
#                of SIGSEGV again, at the same ip, in the same thread.
#   segv-thread  the same, the NULL store in a worker thread while the main
#                thread waits in pthread_join (2 threads; the core's first thread
#                is not the leader; the leader sleeps in a futex: -ERESTARTSYS).
#   heapsig      the heapsig victim (brk heap, 8 MiB mmap, file mapping with a
#                page past EOF, vDSO, SIGUSR1 handler) is killed; oracle; restored
#                running: it must tick on from the dead value + 1 with its memory
#                intact, run its SIGUSR1 handler and survive it.
#   pool         8 worker threads each counting on its own (TLS counters),
#                killed; the donor runs only 3, so donor thread images serve as
#                templates for the others. Oracle on every thread; restored
#                running, every worker goes on from its own dead value + 1.
#   pool-fewer   the same with 4 victim workers and a donor of 12: the donor's
#                surplus threads are dropped.
#   handshake    threads asleep in a condition variable (futex), a pipe read
#                and nanosleep, killed; oracle; restored running, SIGUSR1 makes
#                them complete a handshake among themselves.
#   restore-rpc  the counter victim, resurrected by criu-necromancer --restore
#                (CRIU's RPC, no criu command line): a CRIU older than 4.1 is
#                refused before anything is written; --stopped gives the
#                victim's pid stopped (oracle); a restore that fails (the pid is
#                taken) names CRIU's error and log and leaves nothing running;
#                --restore brings it back running on; --gdb hands it to gdb
#                with the program's symbols.
#   reflink      heapsig, patched on an XFS file system with reflink (a loop
#                mount in the work directory): the page runs are cloned from
#                the core (no page read, next to no space used); oracle on the
#                restore -s, then it runs on.
#   lazy         heapsig, resurrected with --restore --lazy: memory comes on
#                first touch from a criu lazy-pages daemon (userfaultfd). Stopped
#                first: the daemon pushes every page and exits, then the oracle
#                compares; then running: it goes on from the dead value + 1
#                with its memory self-checks holding, and the daemon exits.
#   shmem        the shmem victim (shared anonymous memory, a memfd mapped
#                shared and private, a deleted file mapped shared and private,
#                each with its run's own bytes and a counter) is killed; first a
#                run with coredump_filter 0x31 (no bit 1) must be refused naming
#                the bit; then oracle; restored running, every region holds the
#                dead run's bytes and counters and goes on counting.
#   shmem-new    the same victim with its memfd and deleted file mapped shared
#                only, and a donor that has neither (only shared anonymous
#                memory): necro creates the memfd inode, the file entries, the
#                remap and the ghost file; restored running, the same checks.
#   nodonor-counter, nodonor-segv, nodonor-segv-thread, nodonor-heapsig,
#   nodonor-pool, nodonor-handshake, nodonor-manymaps
#                the victim of the mode without "nodonor-" dies the same way, but
#                no donor is run or dumped: `criu-necromancer -c CORE -o OUT`
#                synthesizes the whole image set from the core (--explain must
#                list what was "not in the core"); crit decodes every image;
#                restored stopped, the oracle compares it with the core. Crashed
#                ones: gdb -p sees the core's threads and full backtraces, and
#                `call necro_probe(14)` returns 43 (gdbcheck.sh); continued, they
#                die again at the same ip. nodonor-counter and nodonor-pool
#                write to stdout (their only external state) and are
#                resurrected with --stdio OUTFILE: restored running, they go
#                on from the dead value + 1 into that file (pool: every
#                thread). heapsig and handshake write through a file they
#                opened themselves, which a donor-less set does not reopen, and
#                need their SIGUSR1 handler, which a core does not hold: they
#                are only compared stopped.
#   catch-counter, catch-segv, catch-segv-thread, catch-heapsig, catch-pool,
#   catch-handshake, catch-manymaps, catch-catchme
#                the victim of the mode without "catch-" runs as in that mode
#                (writing to its own OUT file) and dies under the core_pattern
#                helper: core_pattern = `|necro-catch --dir WORK/caught %P`
#                (--catch PATH; core_pipe_limit >= 1; both put back on exit).
#                The core must be complete (no .partial, no .incomplete) with
#                its capture (core.PID.necro/) beside it. No donor:
#                `criu-necromancer -c CORE --explain` must show the "from the
#                capture" section, then `-c CORE -o OUT` (no --stdio, no
#                --cwd) writes the set; crit decodes it; restored stopped: the
#                oracle, and the process against the capture: every fd not
#                listed as closed has its path (files), kind (pipes, sockets,
#                anon inodes; the two ends of a pipe one inode; fds that were
#                one open file description one again, by kcmp), and for files
#                its pos and flags; cwd, root, umask, ignored signals, creds
#                and all rlimits are the victim's (launch makes them differ
#                from criu-necromancer's defaults). Killed ones then run on
#                into their own OUT from the dead value + 1 (pool: every
#                thread; handshake: main and sleeper, and its pipe is a pipe
#                with both ends open), survive SIGHUP (ignored by the victim),
#                and get no SIGUSR1: a core holds no handler address, so a
#                caught signal is SIG_DFL after the resurrection. Crashed
#                ones: gdb checks, then the re-crash, whose core necro-catch
#                writes into WORK/caught. catch-counter's stdin is a named FIFO
#                (not reopened by path): --explain must list fd 0 as closed,
#                and the restored fd 0 is /dev/null. catch-catchme's victim
#                is tests/data/src/catchme.c (an fd of every kind: a file at
#                an offset, a pipe, eventfd, timerfd, signalfd, epoll, TCP and
#                UDP on 127.0.0.1, a unix listener): restored stopped, the
#                eventfd's count, the timerfd's clock and interval, the
#                signalfd's mask and the epoll's registrations are the
#                captured ones; its TCP port refuses connections while it is
#                dead and takes them again once it runs, and so does its unix
#                socket.
#   catch-donor  a counter dies under necro-catch and is resurrected WITH a
#                donor that writes another file: the capture's regular files
#                replace the donor's at the same fds, so the stopped restore
#                has the victim's file at fd 3 (offset, O_APPEND), and running
#                it counts on in the victim's file, not the donor's.
#   catch-shmem  the same for the shmem victim: shared anonymous memory, a
#                memfd and a deleted file, each mapped shared and (memfd, file)
#                privately too. The core has no share mode; the capture
#                records it (format 2, `shared` lines from /proc/PID/maps), so
#                the private copies come back private and each object holds
#                its shared mapping's bytes: oracle SAME, every region goes on.
#   oracle-gcore oracle self-test, no CRIU: gcore of a stopped live counter must
#                compare SAME; one flipped memory byte must give exactly one
#                mismatched byte; one changed register exactly one register.
#   oracle-criu, oracle-criu-thread
#                oracle self-test, no criu-necromancer: a stopped victim (heapsig,
#                or segv in thread mode) is dumped by CRIU itself (dump -R), then
#                killed with SIGQUIT: its kernel core and CRIU's images describe
#                the same state. CRIU's own restore -s must compare SAME. heapsig
#                is then also restored running and must pass the behaviour checks.
#
# Requirements (else exit 77 = ctest SKIP, with the reason): root; NECRO_CRIU in
# the environment naming a CRIU >= 4.1 whose `check` passes (not for
# oracle-gcore); criu-necromancer built (counter/segv/segv-thread/heapsig); gdb
# (oracle-gcore); necro-catch (catch-*). A set --necro or --catch that is not
# executable is a FAILURE: the build has the target but it was not built.
#
# Side effects: /proc/sys/kernel/core_pattern is rewritten for the duration
# (machine-wide; restored on exit); runs are serialised with flock on
# /tmp/necro-e2e.lock. Only processes this script started (or restored) are
# signalled, by PID, after checking /proc/PID/exe. ASLR is left as it is.
# The work directory is removed on success and kept on failure
# (NECRO_E2E_KEEP=1 keeps it always).
set -eEuo pipefail

SKIP=77
MODE=${1:-}
[ -n "$MODE" ] && shift
VICTIMS='' ORACLE='' NECRO='' CATCH=''
while [ $# -gt 0 ]; do
    case $1 in
        --victims) VICTIMS=$2; shift 2 ;;
        --oracle) ORACLE=$2; shift 2 ;;
        --necro) NECRO=$2; shift 2 ;;
        --catch) CATCH=$2; shift 2 ;;
        *) echo "run_e2e.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done

# Absolute paths: victims run from the work directory.
[ -z "$VICTIMS" ] || VICTIMS=$(realpath -m -- "$VICTIMS")
[ -z "$ORACLE" ] || ORACLE=$(realpath -m -- "$ORACLE")
[ -z "$NECRO" ] || NECRO=$(realpath -m -- "$NECRO")
[ -z "$CATCH" ] || CATCH=$(realpath -m -- "$CATCH")

NAME="e2e.$MODE"
PASSES=0
FAILS=0
WORK=
OLD_CORE_PATTERN=
OLD_CORE_PIPE_LIMIT=
OLD_MAX_MAP_COUNT=
declare -A TRACKED=() # pid -> binary it must be running for us to kill it
# shellcheck source=lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

# show_log FILE: the end of a log, and its errors, after a failure.
show_log() {
    [ -f "$1" ] || return 0
    printf -- '----- %s: errors -----\n' "$1"
    grep -E 'Error|error|Warn' "$1" | grep -v 'RLIMIT_NOFILE' | tail -n 15 || true
    printf -- '----- %s: last 40 lines -----\n' "$1"
    tail -n 40 "$1"
    printf -- '-----\n'
}

case $MODE in
    counter | segv | segv-thread | heapsig | pool | pool-fewer | handshake | restore-rpc | reflink | lazy | shmem | shmem-new | manymaps) NEEDS_CRIU=1 NEEDS_NECRO=1 ;;
    nodonor-counter | nodonor-segv | nodonor-segv-thread | nodonor-heapsig | nodonor-pool | nodonor-handshake | nodonor-manymaps) NEEDS_CRIU=1 NEEDS_NECRO=1 ;;
    catch-counter | catch-segv | catch-segv-thread | catch-heapsig | catch-pool | catch-handshake | catch-manymaps | catch-shmem | catch-catchme | catch-donor) NEEDS_CRIU=1 NEEDS_NECRO=1 ;;
    oracle-criu | oracle-criu-thread) NEEDS_CRIU=1 NEEDS_NECRO=0 ;;
    oracle-gcore) NEEDS_CRIU=0 NEEDS_NECRO=0 ;;
    *) echo "run_e2e.sh: unknown mode '$MODE'" >&2; exit 2 ;;
esac

# ---------------------------------------------------------------- prerequisites
[ -x "$ORACLE" ] || fatal "oracle '$ORACLE' is not built"
for v in counter segv heapsig; do
    [ -x "$VICTIMS/$v" ] || fatal "victim '$VICTIMS/$v' is not built"
done
[ "$(id -u)" -eq 0 ] || skip "needs root (core_pattern, ptrace, CRIU)"
if [ "$NEEDS_CRIU" = 1 ]; then
    [ -n "${NECRO_CRIU:-}" ] ||
        skip "NECRO_CRIU is not set; set it to a CRIU >= 4.1 binary, e.g. NECRO_CRIU=/path/to/criu ctest -L e2e"
    [ -x "$NECRO_CRIU" ] || skip "NECRO_CRIU=$NECRO_CRIU is not an executable file"
    CRIU_VERSION=$("$NECRO_CRIU" --version 2>/dev/null | sed -n 's/^Version: *//p' | head -n1)
    IFS=. read -r cmaj cmin _ <<<"${CRIU_VERSION:-0.0}"
    if ! [[ "$cmaj" =~ ^[0-9]+$ && "${cmin:-0}" =~ ^[0-9]+$ ]] || [ "$cmaj" -lt 4 ] ||
        { [ "$cmaj" -eq 4 ] && [ "${cmin:-0}" -lt 1 ]; }; then
        skip "NECRO_CRIU=$NECRO_CRIU is CRIU '${CRIU_VERSION:-unknown}', need >= 4.1"
    fi
    if ! CHECK_OUT=$(timeout 120 "$NECRO_CRIU" check 2>&1); then
        printf '%s\n' "$CHECK_OUT" | tail -n 10
        skip "'$NECRO_CRIU check' fails on this machine (output above)"
    fi
fi
if [ "$NEEDS_NECRO" = 1 ]; then
    [ -n "$NECRO" ] || skip "this build has no criu-necromancer target (examples not built?)"
    [ -x "$NECRO" ] || fatal "criu-necromancer '$NECRO' is part of the build but not built"
fi
if [ "$MODE" = oracle-gcore ]; then
    command -v gdb >/dev/null || skip "gdb not found (needed for gcore)"
fi
# catch-*: the victim dies under necro-catch, the core_pattern helper.
CATCHING=
if [[ $MODE == catch-* ]]; then
    CATCHING=1
    [ -n "$CATCH" ] || skip "this build has no necro-catch target (examples not built?)"
    [ -x "$CATCH" ] || fatal "necro-catch '$CATCH' is part of the build but not built"
fi

# ---------------------------------------------------------------- state, cleanup
exec {LOCKFD}>/tmp/necro-e2e.lock
flock -w 120 "$LOCKFD" || fatal "another e2e run holds /tmp/necro-e2e.lock"
WORK=$(mktemp -d "/tmp/necro-e2e.$MODE.XXXXXX")
log "$NAME: work directory $WORK"



MOUNTED=
cleanup() {
    local rc=$? pid
    set +e
    for pid in "${!TRACKED[@]}"; do kill_tracked "$pid"; done
    [ -z "$MOUNTED" ] || umount "$MOUNTED" || umount -l "$MOUNTED"
    if [ -n "$OLD_CORE_PATTERN" ]; then
        printf '%s\n' "$OLD_CORE_PATTERN" >/proc/sys/kernel/core_pattern
    fi
    if [ -n "$OLD_CORE_PIPE_LIMIT" ]; then
        printf '%s\n' "$OLD_CORE_PIPE_LIMIT" >/proc/sys/kernel/core_pipe_limit
    fi
    if [ -n "$OLD_MAX_MAP_COUNT" ]; then
        printf '%s\n' "$OLD_MAX_MAP_COUNT" >/proc/sys/vm/max_map_count
    fi
    report_and_exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# An unexpected failure (set -e) says where it happened.
# shellcheck disable=SC2154 # rc_ is assigned inside the trap string
trap 'rc_=$?; [ "$BASHPID" != "$$" ] || fail "unexpected failure (status $rc_) at line $LINENO: $BASH_COMMAND"' ERR

# set_catch_pattern: cores go through necro-catch into $WORK/caught (mode
# 0700); core_pipe_limit at least 1, so the kernel keeps the dying process's
# /proc/PID (its fds) until the helper is done. Both put back on exit.
set_catch_pattern() {
    local pattern="|$CATCH --dir $WORK/caught %P"
    mkdir -m 0700 "$WORK/caught"
    COREDIR=$WORK/caught
    OLD_CORE_PIPE_LIMIT=$(cat /proc/sys/kernel/core_pipe_limit)
    [ "$OLD_CORE_PIPE_LIMIT" -ge 1 ] || printf '1\n' >/proc/sys/kernel/core_pipe_limit
    printf '%s\n' "$pattern" >/proc/sys/kernel/core_pattern
    # The kernel cuts a pattern longer than 127 bytes without an error.
    [ "$(cat /proc/sys/kernel/core_pattern)" = "$pattern" ] ||
        skip "core_pattern holds at most 127 bytes; '$pattern' was cut to '$(cat /proc/sys/kernel/core_pattern)'"
    log "core_pattern was '$OLD_CORE_PATTERN'; now '$pattern'; core_pipe_limit was $OLD_CORE_PIPE_LIMIT, now $(cat /proc/sys/kernel/core_pipe_limit) (both restored on exit)"
}

COREDIR=$WORK # where the kernel (or necro-catch) writes core.PID
if [ "$MODE" != oracle-gcore ]; then
    OLD_CORE_PATTERN=$(cat /proc/sys/kernel/core_pattern)
    if [ -n "$CATCHING" ]; then
        set_catch_pattern
    else
        printf '%s\n' "$WORK/core.%p" >/proc/sys/kernel/core_pattern
        log "core_pattern was '$OLD_CORE_PATTERN'; now $WORK/core.%p (restored on exit)"
    fi
fi
log "ASLR: randomize_va_space=$(cat /proc/sys/kernel/randomize_va_space)"

# Every external step that could hang is bounded, so ctest's TIMEOUT (which
# kills without cleanup) is never what stops a run.
criu() { timeout "${CRIU_TIMEOUT:-90}" "$NECRO_CRIU" "$@" {LOCKFD}>&-; }


# launch PROG ARGS...: start PROG detached (own session, fds 0-2 on /dev/null,
# or 1 and 2 appending to $LAUNCH_STDOUT when set, nothing else open, cwd
# $WORK), cores enabled and complete. Sets LAUNCHED. Under necro-catch it also
# gets what criu-necromancer's own defaults lack (umask 027, 1000 open files,
# SIGHUP ignored as under nohup; with setpriv, supplementary groups 4242,4343
# and no CAP_NET_RAW), so the capture checks see them come back.
# With $LAUNCH_STDIN_FIFO set, fd 0 is that named FIFO, opened read-write.
# The subshell is not a process-group leader (no job control in scripts), so
# setsid execs in place and $! is the program's own pid.
launch() {
    local priv=()
    if [ -n "$CATCHING" ] && command -v setpriv >/dev/null; then
        priv=(setpriv '--groups=4242,4343' --bounding-set=-net_raw --)
    fi
    (
        cd "$WORK"
        ulimit -c unlimited
        echo "${COREDUMP_FILTER:-0xff}" >/proc/self/coredump_filter
        [ -z "$CATCHING" ] || { umask 027; ulimit -Sn 1000; trap '' HUP; }
        close_stray_fds
        [ -z "${LAUNCH_STDIN_FIFO:-}" ] || exec setsid "${priv[@]}" "$@" <>"$LAUNCH_STDIN_FIFO" >>"${LAUNCH_STDOUT:-/dev/null}" 2>&1
        exec setsid "${priv[@]}" "$@" </dev/null >>"${LAUNCH_STDOUT:-/dev/null}" 2>&1
    ) &
    LAUNCHED=$!
    TRACKED[$LAUNCHED]=$1
    local i
    for i in $(seq 100); do
        [ "$(readlink "/proc/$LAUNCHED/exe" 2>/dev/null)" = "$1" ] && return 0
        sleep 0.02
    done
    fatal "launched pid $LAUNCHED is not running $1"
}


# Lines of FILE written after byte OFFSET.
since() { tail -c +"$(($2 + 1))" "$1"; }
has_lines_since() { [ "$(since "$1" "$2" | grep -c "${4:-}")" -ge "$3" ]; }
file_size() { stat -c %s "$1" 2>/dev/null || echo 0; }

# all_in_syscall PID: every thread of the stopped PID sleeps in a system call
# (/proc/PID/task/TID/syscall starts with its number, not -1 or "running").
all_in_syscall() {
    local f nr
    for f in /proc/"$1"/task/*/syscall; do
        read -r nr _ <"$f" || return 1
        [[ "$nr" =~ ^[0-9]+$ ]] || return 1
    done
}

# stop_in_syscall PID: SIGSTOP it at a moment when all its threads are in a
# system call (so the syscall-restart rewind is exercised); retries.
stop_in_syscall() {
    local i
    for i in $(seq 50); do
        kill -STOP "$1"
        wait_for 5 is_stopped "$1" || return 1
        all_in_syscall "$1" && return 0
        kill -CONT "$1"
        sleep 0.0$((RANDOM % 9 + 1))
    done
    return 1
}

# ---------------------------------------------------------------- victims
OUT="$WORK/out"
DATA="$WORK/data"
# The victim of catch-X and nodonor-X is X's.
VICTIM_MODE=${MODE#nodonor-}
VICTIM_MODE=${VICTIM_MODE#catch-}
case $VICTIM_MODE in
    counter)
        # A private copy: check_rebuilt_refused rewrites its build-id.
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
        OLD_MAX_MAP_COUNT=$(cat /proc/sys/vm/max_map_count)
        printf '%s\n' 200000 >/proc/sys/vm/max_map_count
        CRIU_TIMEOUT=300
        log "vm.max_map_count was $OLD_MAX_MAP_COUNT; now 200000 (restored on exit)" ;;
    catchme)
        # tests/data/src/catchme.c: one fd of every kind the capture describes.
        BIN="$VICTIMS/catchme"; VICTIM_ARGS=(); KIND=killed ;;
    heapsig | oracle-criu | reflink | lazy)
        BIN="$VICTIMS/heapsig"; VICTIM_ARGS=("$OUT" "$DATA"); DONOR_ARGS=("$OUT" "$DATA"); KIND=killed
        seq 1 3000 >"$DATA" ;; # 13893 bytes: 3 pages and a part; the mapping has a page past EOF
esac
BIN_BASE=${BIN##*/}
# The donor-less counter and pool write to stdout, appending to $OUT (their
# only external state): resurrected with --stdio $OUT, they run on.
case $MODE in
    nodonor-counter) VICTIM_ARGS=(-); LAUNCH_STDOUT=$OUT ;;
    # Its stdin a named FIFO (a queue it never reads): what cannot come back.
    catch-counter) mkfifo -m 0600 "$WORK/queue"; LAUNCH_STDIN_FIFO=$WORK/queue ;;
    nodonor-pool | nodonor-manymaps) VICTIM_ARGS=(- "${VICTIM_ARGS[@]:1}"); LAUNCH_STDOUT=$OUT ;;
esac

# progress_ok: the victim has been running a while (and is observable).
progress_ok() {
    case $BIN_BASE in
        counter) has_lines_since "$OUT" "${1:-0}" 20 ;;
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
        counter) tail -n 1 "$OUT" ;;
        manymaps) grep -E '^[0-9]+$' "$OUT" | tail -n 1 ;;
        heapsig | shmem) grep '^tick ' "$OUT" | tail -n 1 | awk '{print $2}' ;;
        handshake) grep '^main ' "$OUT" | tail -n 1 | awk '{print $2}' ;;
    esac
}

# start_victim: runs the victim until it dies with a core. Sets VPID, CORE, DEAD
# (last value written, killed victims), and logs the core.
start_victim() {
    launch "$BIN" "${VICTIM_ARGS[@]}"
    VPID=$LAUNCHED
    log "victim: $BIN ${VICTIM_ARGS[*]} (pid $VPID)"
    local st=0 want
    if [ "$KIND" = killed ]; then
        wait_for 10 progress_ok || fatal "victim made no progress (output: $(tail -n 3 "$OUT" 2>/dev/null))"
        kill -QUIT "$VPID"
        want=131
    else
        want=139
    fi
    { wait "$VPID"; } 2>/dev/null || st=$?
    unset "TRACKED[$VPID]"
    [ "$st" -eq "$want" ] && pass "victim pid $VPID died with status $st" ||
        fatal "victim pid $VPID exit status $st, expected $want"
    VICTIM_EXPECTED_CMDLINE="$BIN${VICTIM_ARGS[*]:+ ${VICTIM_ARGS[*]}}"
    finish_victim_death
}

# finish_victim_death: collect the core of VPID (and, under necro-catch, its
# capture), wait for the pid to vanish.
finish_victim_death() {
    wait_for 10 test -s "$COREDIR/core.$VPID" ||
        fatal "no core file $COREDIR/core.$VPID (there: $(ls "$COREDIR" | paste -sd' '))"
    CORE="$WORK/victim.core"
    [ -z "$CATCHING" ] || collect_capture "$COREDIR/core.$VPID"
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

# collect_capture CAUGHT: necro-catch's core CAUGHT is complete (no .partial
# left, no .incomplete marker, capture.log says so) and its capture
# (CAUGHT.necro/, capture.txt ending in its `end` line) is moved to
# $CORE.necro, where criu-necromancer -c $CORE looks for it.
collect_capture() {
    local caught=$1 cap=$1.necro
    [ ! -e "$caught.partial" ] && [ ! -e "$caught.incomplete" ] ||
        fatal "necro-catch left $(basename "$caught").partial or .incomplete: $(cat "$caught.incomplete" 2>/dev/null)"
    wait_for 10 grep -q '^.*capture finished' "$cap/capture.log" ||
        { show_log "$cap/capture.log"; fatal "necro-catch did not finish its capture $cap"; }
    grep -q "core complete: $(basename "$caught")" "$cap/capture.log" ||
        { show_log "$cap/capture.log"; fatal "capture.log does not say that the core is complete"; }
    tail -n 1 "$cap/capture.txt" | grep -q '^end fds=' ||
        fatal "$cap/capture.txt does not end with its 'end' line: $(tail -n 1 "$cap/capture.txt")"
    mv "$cap" "$CORE.necro"
    pass "necro-catch: $(basename "$caught") complete, capture $(grep -m1 '^end ' "$CORE.necro/capture.txt") ($(sed -n 's/^.*\(core: [0-9]* bytes read in [0-9.]* s\).*/\1/p' "$CORE.necro/capture.log"))"
}

# dump_donor: a second run of the same program, dumped by CRIU into $WORK/donor.
dump_donor() {
    local before
    # progress_ok reads $OUT: the donor's own output file where it has one.
    local OUT=${DONOR_OUT:-$OUT}
    before=$(file_size "$OUT")
    launch "$BIN" "${DONOR_ARGS[@]}"
    DPID=$LAUNCHED
    disown "$DPID" # its status is not needed; no "Killed" notice when CRIU kills it
    log "donor: $BIN ${DONOR_ARGS[*]} (pid $DPID)"
    wait_for 10 progress_ok "$before" || fatal "donor made no progress"
    mkdir -p "$WORK/donor"
    if ! criu dump -t "$DPID" -D "$WORK/donor" -v4 -o dump.log; then
        show_log "$WORK/donor/dump.log"
        fatal "criu dump of donor pid $DPID failed"
    fi
    unset "TRACKED[$DPID]"
    wait_gone "$DPID" 30 || fatal "donor pid $DPID did not vanish after dump"
    DONOR_OUT_SIZE=$(file_size "$OUT")
    pass "donor pid $DPID dumped by CRIU ($(ls "$WORK/donor" | wc -l) files)"
}

# restore DIR LOGNAME [-s]: criu restore -d; returns non-zero on failure. The
# restored root pid (from --pidfile) is tracked for cleanup whatever it is,
# and must be the victim's.
restore() {
    local dir=$1 logname=$2 rpid
    shift 2
    rm -f "$WORK/restored.pid"
    log "criu restore -D $dir -d $* (log $dir/$logname)"
    if criu restore -D "$dir" -d "$@" -v4 -o "$logname" --pidfile "$WORK/restored.pid"; then
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

# run_oracle CORE PID [ORACLE OPTIONS]: sets ORACLE_RC and ORACLE_LOG.
run_oracle() {
    local core=$1 pid=$2
    shift 2
    ORACLE_LOG="$WORK/oracle.$((++ORACLE_RUNS)).log"
    ORACLE_RC=0
    "$ORACLE" "$@" "$core" "$pid" >"$ORACLE_LOG" 2>&1 || ORACLE_RC=$?
    sed 's/^/  /' "$ORACLE_LOG"
}
ORACLE_RUNS=0

# check_stopped_restore IMGDIR: restore -s, check pid/state/cmdline, run the
# oracle against the victim's core. Leaves the process stopped.
check_stopped_restore() {
    local dir=$1
    restore "$dir" restore-stopped.log -s || fatal "cannot restore the images stopped"
    # CRIU leaves the task with a SIGSTOP that takes effect a moment later.
    wait_for 5 is_stopped "$VPID" && pass "restored stopped (-s) as pid $VPID (state $(state_of "$VPID"))" ||
        fail "restored pid $VPID is not stopped (state $(state_of "$VPID"))"
    local exe cmd
    exe=$(readlink "/proc/$VPID/exe" || true)
    [ "$exe" = "$BIN" ] && pass "restored exe is $BIN" || fail "restored exe is '$exe', expected $BIN"
    cmd=$(cmdline_of "$VPID")
    [ "$cmd" = "$VICTIM_EXPECTED_CMDLINE" ] && pass "restored /proc/$VPID/cmdline is the victim's: '$cmd'" ||
        fail "restored /proc/$VPID/cmdline is '$cmd', expected '$VICTIM_EXPECTED_CMDLINE'"
    run_oracle "$CORE" "$VPID"
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

# check_runs_on IMGDIR [cont]: kill the stopped one, restore running, check that
# the victim continues where it died. "cont": the images are of a stopped task
# (CRIU's own dump of a stopped victim): send SIGCONT after restoring.
check_runs_on() {
    local dir=$1 cont=${2:-} from
    kill_tracked "$VPID"
    from=$(file_size "$OUT")
    restore "$dir" restore-run.log || fatal "cannot restore the images running"
    [ "$cont" = cont ] && kill -CONT "$VPID"
    check_goes_on "$from" "$dir/restore-run.log"
}

# check_goes_on FROM LOG: the restored VPID continues from where it died (its
# output after byte FROM), and behaves; LOG is the restore's, shown on failure.
check_goes_on() {
    local from=$1 restore_log=$2
    if [ "$BIN_BASE" = catchme ]; then
        check_catchme_on
        return 0
    fi
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
    if [ "$BIN_BASE" = counter ]; then
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

# tcp_answers PORT: something takes a connection on 127.0.0.1:PORT.
tcp_answers() { timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null; }

# check_catchme_dead: once catchme is dead nothing listens on its TCP port
# (so a connection later is the resurrected one's).
check_catchme_dead() {
    local port
    port=$(sed -n 's/^tcp //p' "$WORK/ports.txt")
    tcp_answers "$port" && fail "something still listens on the dead catchme's port $port" ||
        pass "the dead catchme's TCP port $port refuses connections"
}

# check_catchme_on: the running resurrected catchme, which never accepts,
# listens again on the victim's own TCP port and unix socket WORK/sock (a
# connection lands in the backlog), survives SIGHUP, and lives on.
check_catchme_on() {
    local port
    port=$(sed -n 's/^tcp //p' "$WORK/ports.txt")
    tcp_answers "$port" && pass "its own listening TCP socket takes a connection on 127.0.0.1:$port again" ||
        fail "nothing takes a connection on 127.0.0.1:$port, the victim's listening port"
    if command -v python3 >/dev/null; then
        timeout 5 python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])' "$WORK/sock" 2>/dev/null &&
            pass "its own listening unix socket takes a connection at $WORK/sock again" ||
            fail "nothing takes a connection at $WORK/sock, the victim's listening unix socket"
    fi
    kill -HUP "$VPID"
    sleep 0.2
    is_running "$VPID" && pass "pid $VPID survived SIGHUP (ignored) and still runs" ||
        fail "pid $VPID is not running any more (state '$(state_of "$VPID")')"
    kill_tracked "$VPID"
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

# check_new_objects_planned: --explain says the memfd and the deleted file are
# new (the donor has neither) and the shared anonymous memory too.
check_new_objects_planned() {
    local out n
    out=$(timeout 90 "$NECRO" -c "$CORE" -i "$WORK/donor" --explain 2>&1 {LOCKFD}>&-) || true
    n=$(grep -cE '^  (memfd necro-shm|deleted file .*/dir/ghost-data|shared anonymous memory /dev/zero): .*candidate pages.*new: the donor has none' <<<"$out" || true)
    [ "$n" = 3 ] && pass "--explain: memfd, deleted file and shared anonymous memory are new objects (the donor has none)" ||
        fail "--explain does not list the 3 new objects: $(grep -A4 '^shared memory' <<<"$out" | paste -sd';')"
}

# check_filter_refused: a victim dumped with coredump_filter 0x31 (without
# bit 1, anonymous shared memory) has no pages of its shared mappings in the
# core: criu-necromancer must refuse, naming the bit, and write nothing.
check_filter_refused() {
    local out rc=0 core
    COREDUMP_FILTER=0x31 launch "$BIN" "${VICTIM_ARGS[@]}"
    local pid=$LAUNCHED before
    before=$(file_size "$OUT")
    wait_for 10 progress_ok "$before" || fatal "filtered victim made no progress"
    kill -QUIT "$pid"
    { wait "$pid"; } 2>/dev/null || true
    unset "TRACKED[$pid]"
    wait_for 10 test -s "$WORK/core.$pid" || fatal "no core file $WORK/core.$pid"
    core="$WORK/filtered.core"
    mv "$WORK/core.$pid" "$core"
    out=$(timeout 90 "$NECRO" -c "$core" -i "$WORK/donor" -o "$WORK/refused" 2>&1 {LOCKFD}>&-) || rc=$?
    if [ "$rc" -ne 0 ] && grep -q "coredump_filter lacked bit 1" <<<"$out" && [ ! -e "$WORK/refused" ]; then
        pass "a core without shared memory (coredump_filter 0x31) is refused, nothing written: $out"
    else
        fail "a core without shared memory was not refused as expected (exit $rc): $out"
    fi
    rm -f "$core"
}

# check_threads_run_on FROM: every thread of a pool or handshake victim goes on
# from its own dead value + 1; handshake then completes its handshake.
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

# check_gdb_live PROG CORE PID: full backtraces of every thread, gdb -p vs
# gdb on the core; `call necro_probe(14)` in the live process (gdbcheck.sh).
# shellcheck source=gdbcheck.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/gdbcheck.sh"

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

# check_rebuilt_refused: the executable is rebuilt after the crash (same
# size, another build-id): criu-necromancer must refuse, naming the file and
# writing nothing. The original bytes are put back afterwards.
check_rebuilt_refused() {
    local id out rc=0
    if ! command -v python3 >/dev/null || ! command -v readelf >/dev/null; then
        log "python3 or readelf missing: the rebuilt-executable refusal is not checked"
        return 0
    fi
    id=$(readelf -n "$BIN" | sed -n 's/^ *Build ID: *//p')
    [ -n "$id" ] || { fail "$BIN has no GNU build-id note"; return 0; }
    cp -p "$BIN" "$WORK/exe.orig"
    python3 - "$BIN" "$id" <<'PY'
import sys
path, old = sys.argv[1], bytes.fromhex(sys.argv[2])
data = open(path, "rb").read()
assert data.count(old) == 1, "the build-id must occur once"
open(path, "r+b").write(data.replace(old, bytes(b ^ 0xFF for b in old)))
PY
    out=$(timeout 90 "$NECRO" -c "$CORE" -i "$WORK/donor" -o "$WORK/refused" 2>&1 {LOCKFD}>&-) || rc=$?
    cp -p "$WORK/exe.orig" "$BIN"
    if [ "$rc" -ne 0 ] && grep -q "^criu-necromancer: $BIN: build-id on disk is [0-9a-f]* but the victim ran $id" <<<"$out" &&
        [ ! -e "$WORK/refused" ]; then
        pass "a rebuilt executable (same size, other build-id) is refused, nothing written: exit $rc"
    else
        fail "a rebuilt executable was not refused as expected (exit $rc): $out"
    fi
}

# necro_restore OUT ARGS...: criu-necromancer -c CORE -i donor -o OUT --restore
# ARGS; its output in $WORK/necro-OUT.log, NECRO_RC its exit status, RPID the
# pid it printed (tracked for cleanup).
necro_restore() {
    local out=$1
    shift
    NECRO_RC=0
    timeout 120 "$NECRO" -c "$CORE" -i "$WORK/donor" -o "$WORK/$out" --restore "$@" \
        >"$WORK/necro-$out.log" 2>&1 {LOCKFD}>&- || NECRO_RC=$?
    RPID=$(sed -n 's/^restored pid \([0-9]*\) .*/\1/p' "$WORK/necro-$out.log")
    [ -z "$RPID" ] || TRACKED[$RPID]=$BIN
}

# other_processes_of BIN: pids running BIN that this script does not track.
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
    NECRO_RC=0
    printf 'info symbol $pc\nbt\nkill\nquit\n' | timeout 120 "$NECRO" -c "$CORE" -i "$WORK/donor" -o "$WORK/rpc-gdb" \
        --restore --gdb >"$WORK/necro-rpc-gdb.log" 2>&1 {LOCKFD}>&- || NECRO_RC=$?
    RPID=$(sed -n 's/^restored pid \([0-9]*\) .*/\1/p' "$WORK/necro-rpc-gdb.log")
    [ -z "$RPID" ] || TRACKED[$RPID]=$BIN
    if [ "$RPID" = "$VPID" ] && grep -q "in main () at\|in main (\|#[0-9].* main " "$WORK/necro-rpc-gdb.log" &&
        grep -q "Attaching to program: $BIN, process $VPID" "$WORK/necro-rpc-gdb.log"; then
        pass "--gdb: gdb attached to pid $VPID with $BIN's symbols (main in the backtrace)"
    else
        fail "--gdb: gdb did not attach with symbols (exit $NECRO_RC): $(tail -n 20 "$WORK/necro-rpc-gdb.log")"
    fi
    wait_gone "$VPID" 10 && unset "TRACKED[$VPID]" || kill_tracked "$VPID"
}

# check_reflink: core and donor on a fresh XFS (reflink=1) loop file system;
# criu-necromancer must clone the page runs (no extra space), and the result
# must restore equal to the core and run on.
check_reflink() {
    command -v mkfs.xfs >/dev/null || fatal "mkfs.xfs not found (package xfsprogs)"
    local fs=$WORK/xfs used_before used_after pages_kib
    truncate -s 512M "$WORK/xfs.img"
    mkfs.xfs -q -m reflink=1 "$WORK/xfs.img" || fatal "mkfs.xfs -m reflink=1 failed"
    mkdir -p "$fs"
    mount -o loop "$WORK/xfs.img" "$fs" || skip "cannot mount a loop file system here"
    MOUNTED=$fs
    cp "$CORE" "$fs/victim.core"
    cp -r "$WORK/donor" "$fs/donor"
    sync
    used_before=$(df -k --output=used "$fs" | tail -n 1)
    log "criu-necromancer -c $fs/victim.core -i $fs/donor -o $fs/out"
    if ! timeout 90 "$NECRO" -c "$fs/victim.core" -i "$fs/donor" -o "$fs/out" >"$WORK/necro.log" 2>&1 {LOCKFD}>&-; then
        show_log "$WORK/necro.log"
        fatal "criu-necromancer failed on XFS"
    fi
    sync
    used_after=$(df -k --output=used "$fs" | tail -n 1)
    pages_kib=$(( $(cat "$fs"/out/pages-*.img | wc -c) / 1024 ))
    grep -q '^  cloned [0-9]* MiB from the core' "$WORK/necro.log" &&
        pass "page runs cloned: $(grep '^  cloned' "$WORK/necro.log" | sed 's/^ *//')" ||
        fail "criu-necromancer did not clone on XFS with reflink: $(cat "$WORK/necro.log")"
    # Shared extents: the new set costs its small images, not its pages.
    [ $((used_after - used_before)) -lt $((pages_kib / 4 + 256)) ] &&
        pass "the set took $((used_after - used_before)) KiB of disk for $pages_kib KiB of pages" ||
        fail "the set took $((used_after - used_before)) KiB of disk for $pages_kib KiB of pages: extents not shared"
    check_stopped_restore "$fs/out"
    check_runs_on "$fs/out"
}

# lazy_daemon_of LOG: the lazy-pages daemon's pid that criu-necromancer printed.
lazy_daemon_of() { sed -n 's/^memory loads on first touch: criu lazy-pages pid \([0-9]*\) .*/\1/p' "$1"; }

# check_lazy: --restore --lazy, stopped (oracle once the daemon is done), then running.
check_lazy() {
    local daemon t0 from
    "$NECRO_CRIU" check --feature uffd-noncoop >/dev/null 2>&1 {LOCKFD}>&- || skip "this kernel has no non-cooperative userfaultfd (criu check --feature uffd-noncoop)"
    t0=$(date +%s%N)
    necro_restore lazy-stopped --lazy --stopped
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
    necro_restore lazy-running --lazy
    daemon=$(lazy_daemon_of "$WORK/necro-lazy-running.log")
    [ "$NECRO_RC" -eq 0 ] && [ "$RPID" = "$VPID" ] && [ -n "$daemon" ] ||
        { show_log "$WORK/necro-lazy-running.log"; fatal "--restore --lazy failed (exit $NECRO_RC)"; }
    check_goes_on "$from" "$WORK/lazy-running/restore.log"
    wait_gone "$daemon" 60 && pass "the lazy-pages daemon of the running one exited" ||
        fail "the lazy-pages daemon pid $daemon still runs after 60 s"
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

# check_rebuild_explained: --explain says the mappings were rebuilt and which
# sysctl would have kept NT_FILE; the plan's time is logged.
check_rebuild_explained() {
    local t0 t1
    t0=$(date +%s%N)
    if ! timeout 120 "$NECRO" -c "$CORE" -i "$WORK/donor" --explain >"$WORK/explain.log" 2>&1 {LOCKFD}>&-; then
        show_log "$WORK/explain.log"
        fatal "criu-necromancer --explain failed"
    fi
    t1=$(date +%s%N)
    log "criu-necromancer --explain took $(( (t1 - t0) / 1000000 )) ms"
    grep -q '^file mappings rebuilt: the core has no NT_FILE' "$WORK/explain.log" &&
        grep -q 'sysctl kernel.core_file_note_size_limit=' "$WORK/explain.log" &&
        pass "--explain: $(grep -c ' at bias ' "$WORK/explain.log") objects rebuilt; $(grep -o 'sysctl kernel.core_file_note_size_limit=[0-9]*' "$WORK/explain.log")" ||
        fail "--explain does not say that the file mappings were rebuilt"
    grep -q 'look like mappings of files not in' "$WORK/explain.log" &&
        pass "--explain warns about the data file mapping it cannot name" ||
        fail "--explain does not warn about the mapping of $DATA"
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

# check_rebuilt_without_donor: the donor-less --explain (explain.log of
# resurrect_without_donor) says the file mappings were rebuilt.
check_rebuilt_without_donor() {
    grep -q '^file mappings rebuilt: the core has no NT_FILE' "$WORK/explain.log" &&
        pass "--explain without a donor: $(grep -c ' at bias ' "$WORK/explain.log") objects rebuilt; $(grep -o 'sysctl kernel.core_file_note_size_limit=[0-9]*' "$WORK/explain.log")" ||
        fail "--explain without a donor does not say that the file mappings were rebuilt"
}

# resurrect_without_donor: criu-necromancer -c CORE -o $IMG, no donor; the
# counter's stdio goes to $OUT (--stdio), the cwd is $WORK (--cwd), the
# rlimits (criu-necromancer's own) allow cores. Sets IMG.
resurrect_without_donor() {
    local stdio=()
    [ -z "${LAUNCH_STDOUT:-}" ] || stdio=(--stdio "$OUT")
    IMG="$WORK/resurrected"
    if ! timeout 90 "$NECRO" -c "$CORE" --explain "${stdio[@]}" --cwd "$WORK" >"$WORK/explain.log" 2>&1 {LOCKFD}>&-; then
        show_log "$WORK/explain.log"
        fatal "criu-necromancer --explain without a donor failed"
    fi
    grep -q '^not in the core' "$WORK/explain.log" &&
        pass "--explain lists $(grep -c '^  [a-z].*: ' <(sed -n '/^not in the core/,/^$/p' "$WORK/explain.log")) defaults under 'not in the core'" ||
        fail "--explain has no 'not in the core' section"
    sed -n '/^not in the core/,/^$/p' "$WORK/explain.log" | sed 's/^/  /'
    log "criu-necromancer -c $CORE -o $IMG ${stdio[*]} --cwd $WORK (no donor)"
    # The rlimits are criu-necromancer's own: cores on, so a re-crash leaves one.
    if ! (ulimit -c unlimited && exec timeout 90 "$NECRO" -c "$CORE" -o "$IMG" "${stdio[@]}" --cwd "$WORK") \
        >"$WORK/necro.log" 2>&1 {LOCKFD}>&-; then
        show_log "$WORK/necro.log"
        fatal "criu-necromancer without a donor failed"
    fi
    [ -f "$IMG/inventory.img" ] || fatal "criu-necromancer exited 0 but wrote no $IMG/inventory.img"
    [ ! -e "$WORK/donor" ] || fatal "a donor directory exists: this mode must run without one"
    pass "criu-necromancer wrote $(ls "$IMG" | wc -l) files into $(basename "$IMG") without a donor"
    crit_decodes "$IMG"
}

# resurrect_from_capture: criu-necromancer -c CORE -o $IMG with no donor and
# no --stdio or --cwd: the capture beside the core ($CORE.necro) gives the
# victim's own files, cwd, root, rlimits and creds. Sets IMG.
resurrect_from_capture() {
    IMG="$WORK/resurrected"
    [ -d "$CORE.necro" ] || fatal "no capture $CORE.necro beside the core"
    if ! timeout 90 "$NECRO" -c "$CORE" --explain >"$WORK/explain.log" 2>&1 {LOCKFD}>&-; then
        show_log "$WORK/explain.log"
        fatal "criu-necromancer -c $CORE --explain failed"
    fi
    grep -q '^from the capture ' "$WORK/explain.log" &&
        pass "--explain: '$(grep -m1 '^from the capture ' "$WORK/explain.log")', $(grep -c '^  closed fd [0-9]*:' "$WORK/explain.log" || true) fds closed" ||
        fail "--explain has no 'from the capture' section"
    { sed -n '/^from the capture /,/^$/p' "$WORK/explain.log"; grep '^  closed fd [0-9]*:' "$WORK/explain.log" || true; } |
        awk '!seen[$0]++' | sed 's/^/  /'
    log "criu-necromancer -c $CORE -o $IMG (no donor, the capture $CORE.necro)"
    if ! timeout 90 "$NECRO" -c "$CORE" -o "$IMG" >"$WORK/necro.log" 2>&1 {LOCKFD}>&-; then
        show_log "$WORK/necro.log"
        fatal "criu-necromancer -c $CORE -o $IMG failed"
    fi
    [ -f "$IMG/inventory.img" ] || fatal "criu-necromancer exited 0 but wrote no $IMG/inventory.img"
    pass "criu-necromancer wrote $(ls "$IMG" | wc -l) files into $(basename "$IMG") from the core and its capture"
    crit_decodes "$IMG"
}

# resurrect_with_donor_and_capture: criu-necromancer -c CORE -i DONOR -o
# $IMG; the capture beside the core gives the victim's regular files, which
# replace the donor's at the same fds (the rest is the donor's). Sets IMG.
resurrect_with_donor_and_capture() {
    IMG="$WORK/resurrected"
    if ! timeout 90 "$NECRO" -c "$CORE" -i "$WORK/donor" --explain >"$WORK/explain.log" 2>&1 {LOCKFD}>&-; then
        show_log "$WORK/explain.log"
        fatal "criu-necromancer -c $CORE -i $WORK/donor --explain failed"
    fi
    sed -n '/^from the capture /,/^$/p' "$WORK/explain.log" | sed 's/^/  /'
    grep -q "^  fd 3: $OUT (write-only, appending, .*offset [0-9]*)" "$WORK/explain.log" &&
        pass "--explain with a donor: the victim's fd 3 comes from the capture: '$(grep -m1 '^  fd 3: ' "$WORK/explain.log" | sed 's/^ *//')'" ||
        fail "--explain with a donor does not take the victim's fd 3 ($OUT) from the capture"
    log "criu-necromancer -c $CORE -i $WORK/donor -o $IMG (the capture $CORE.necro)"
    if ! timeout 90 "$NECRO" -c "$CORE" -i "$WORK/donor" -o "$IMG" >"$WORK/necro.log" 2>&1 {LOCKFD}>&-; then
        show_log "$WORK/necro.log"
        fatal "criu-necromancer -c $CORE -i $WORK/donor -o $IMG failed"
    fi
    pass "criu-necromancer wrote $(ls "$IMG" | wc -l) files into $(basename "$IMG") from the core, the donor and the capture"
    crit_decodes "$IMG"
}

# check_victim_file_replaces_donors: the stopped restore writes through the
# victim's own file at fd 3 (the donor had $OUT.donor there), at the captured
# offset and flags.
check_victim_file_replaces_donors() {
    local link want_pos live_pos live_flags
    link=$(readlink "/proc/$VPID/fd/3" || true)
    want_pos=$(awk '$1 == "fd" && $2 == 3 { for (i = 3; i <= NF; i++) if ($i ~ /^pos=/) print substr($i, 5) }' "$CORE.necro/capture.txt")
    live_pos=$(awk '$1 == "pos:" { print $2 }' "/proc/$VPID/fdinfo/3")
    live_flags=$(awk '$1 == "flags:" { print $2 }' "/proc/$VPID/fdinfo/3")
    if [ "$link" = "$OUT" ] && [ "$live_pos" = "$want_pos" ] && (( (8#$live_flags & 8#2001) == 8#2001 )); then
        pass "fd 3 is the victim's $OUT (pos $live_pos, flags $live_flags: O_WRONLY|O_APPEND), not the donor's $OUT.donor"
    else
        fail "fd 3 is '$link' pos '$live_pos' flags '$live_flags'; expected $OUT at pos $want_pos, O_WRONLY|O_APPEND"
    fi
}

# check_donor_file_idle: the running resurrected counter wrote nothing into
# the donor's file (it counts on in the victim's, check_runs_on).
check_donor_file_idle() {
    local before=$DONOR_OUT_SIZE
    [ "$(file_size "$DONOR_OUT")" = "$before" ] && pass "the donor's file $DONOR_OUT got nothing after the dump ($before bytes)" ||
        fail "the resurrected process wrote into the donor's file $DONOR_OUT ($before -> $(file_size "$DONOR_OUT") bytes)"
}

# check_fifo_stdin_closed: catch-counter's fd 0 was a named FIFO, which is
# not reopened by path (opening one blocks): --explain lists fd 0 as closed
# and the restored process has the default there, /dev/null.
check_fifo_stdin_closed() {
    local live
    live=$(readlink "/proc/$VPID/fd/0" || true)
    if grep -q "^  closed fd 0: .*$WORK/queue" "$WORK/explain.log" && [ "$live" = /dev/null ]; then
        pass "fd 0, the FIFO $WORK/queue, is closed and listed ('$(grep -m1 '^  closed fd 0: ' "$WORK/explain.log" | sed 's/^ *//')'); /dev/null is there instead"
    else
        fail "fd 0 (the FIFO $WORK/queue) is '$live' in the restored process; --explain: '$(grep '^  closed fd 0: ' "$WORK/explain.log")'"
    fi
}

# capture_value KEY WORD: the value of WORD=... on the capture's KEY line.
capture_value() {
    awk -v k="$1" -v w="$2=" '$1 == k { for (i = 2; i <= NF; i++) if (index($i, w) == 1) { print substr($i, length(w) + 1); exit } }' \
        "$CORE.necro/capture.txt"
}
# capture_line KEY: the rest of the capture's KEY line (cwd, root, umask).
capture_line() { awk -v k="$1" '$1 == k { print $2; exit }' "$CORE.necro/capture.txt"; }
# unescape VALUE: capture.txt's %XX escapes back to bytes, "-" to empty.
unescape() { [ "$1" = - ] || printf '%b' "${1//%/\\x}"; }
# capture_fds: "N KIND FLAGS POS INO LINK" per fd of the capture (LINK escaped).
capture_fds() {
    awk '$1 == "fd" { delete v; for (i = 3; i <= NF; i++) { j = index($i, "="); v[substr($i, 1, j - 1)] = substr($i, j + 1) }
                      print $2, v["kind"], v["flags"], v["pos"], v["ino"], v["link"] }' "$CORE.necro/capture.txt"
}
# fdinfo_field PID FD NAME: a field of /proc/PID/fdinfo/FD (pos, flags).
fdinfo_field() { awk -v n="$3:" '$1 == n { print $2 }' "/proc/$1/fdinfo/$2"; }
# capture_fd_word N WORD: the value of WORD=... on the capture's line of fd N.
capture_fd_word() {
    awk -v n="$1" -v w="$2=" '$1 == "fd" && $2 == n { for (i = 3; i <= NF; i++) if (index($i, w) == 1) { print substr($i, length(w) + 1); exit } }' \
        "$CORE.necro/capture.txt"
}
# epoll_captured N / epoll_live PID N: "TFD EVENTS DATA" (hex) per registration of epoll fd N.
epoll_captured() {
    awk -v n="$1" '$1 == "tfd" && $2 == n { delete v; for (i = 3; i <= NF; i++) { j = index($i, "="); v[substr($i, 1, j - 1)] = substr($i, j + 1) }
                                          print v["tfd"], v["events"], v["data"] }' "$CORE.necro/capture.txt" | sed 's/0x//g' | sort
}
epoll_live() { sed -n 's/^tfd: *\([0-9]*\) *events: *\([0-9a-f]*\) *data: *\([0-9a-f]*\).*/\1 \2 \3/p' "/proc/$1/fdinfo/$2" | sort; }

# hex_field N NAME: a hex field of the restored VPID's fdinfo of fd N, in
# decimal ("missing" if it is not there).
hex_field() {
    local v
    v=$(fdinfo_field "$VPID" "$1" "$2")
    [[ $v =~ ^[0-9a-f]+$ ]] && echo $((16#$v)) || echo "missing"
}

# check_anon_restored N KIND: an eventfd's count, a timerfd's clock and
# interval, a signalfd's mask, an epoll's registrations (target fd, events,
# data) of fd N of the restored VPID are the captured ones; appends what
# differs to FD_BAD. (A timerfd's it_value runs on: not compared.)
check_anon_restored() {
    local n=$1 kind=$2 want got
    case $kind in
        eventfd) want=$(capture_fd_word "$n" count); got=$(hex_field "$n" eventfd-count) ;;
        signalfd) want=$(($(capture_fd_word "$n" sigmask))); got=$(hex_field "$n" sigmask) ;;
        timerfd)
            want="clock $(capture_fd_word "$n" clockid) interval ($(capture_fd_word "$n" interval_sec), $(capture_fd_word "$n" interval_nsec))"
            got="clock $(fdinfo_field "$VPID" "$n" clockid) interval $(sed -n 's/^it_interval: *//p' "/proc/$VPID/fdinfo/$n")" ;;
        epoll) want=$(epoll_captured "$n" | paste -sd,); got=$(epoll_live "$VPID" "$n" | paste -sd,) ;;
        *) return 0 ;;
    esac
    [ "$got" = "$want" ] && FD_SETTINGS+=("$kind") || FD_BAD+=("fd $n ($kind) has '$got', the victim's had '$want'")
}

# octal VALUE: 0o755, 0755 or 755 (octal) in decimal.
octal() { local v=${1#0o}; echo $((8#$v)); }

# check_fd_restored N KIND FLAGS POS INO LINK: fd N of the restored VPID is
# what the capture says; appends what differs to FD_BAD, records pipe inodes.
check_fd_restored() {
    local n=$1 kind=$2 flags=$3 pos=$4 ino=$5 link live want got
    link=$(unescape "$6")
    live=$(readlink "/proc/$VPID/fd/$n" 2>/dev/null) || { FD_BAD+=("fd $n ($kind $link) is not open"); return 0; }
    case $kind in
        reg)
            [ "$live" = "$link" ] || FD_BAD+=("fd $n is $live, the victim's was $link")
            got=$(fdinfo_field "$VPID" "$n" pos)
            [ "$got" = "$pos" ] || FD_BAD+=("fd $n ($link) at pos $got, the victim's at $pos")
            # CRIU reopens with the recorded flags; O_LARGEFILE (0100000) is
            # forced by the kernel on every 64-bit open, so it would say
            # nothing of the victim: masked out should it ever differ.
            want=$(( $(octal "$flags") & ~8#100000 ))
            got=$(( $(octal "$(fdinfo_field "$VPID" "$n" flags)") & ~8#100000 ))
            [ "$got" = "$want" ] || FD_BAD+=("fd $n ($link) has flags 0$(printf %o "$got"), the victim's 0$(printf %o "$want")") ;;
        pipe)
            [[ $live == pipe:\[*\] ]] || FD_BAD+=("fd $n is $live, the victim's was a pipe")
            PIPE_OF[$ino]="${PIPE_OF[$ino]:-} $live" ;;
        inet | unix | socket)
            [[ $live == socket:\[*\] ]] || FD_BAD+=("fd $n is $live, the victim's was a $kind socket") ;;
        *)
            [ "$live" = "$link" ] || FD_BAD+=("fd $n is $live, the victim's was $link")
            check_anon_restored "$n" "$kind" ;;
    esac
    FD_SEEN+=("$n $live")
}

# check_fds_restored: every fd of the capture that --explain does not list
# as closed is open in the restored VPID as it was; the two ends of each
# captured pipe share one inode again; no fd is open that the capture lacks.
check_fds_restored() {
    local closed n kind flags pos ino link extra=
    local -A PIPE_OF=()
    local FD_BAD=() FD_SEEN=() FD_SETTINGS=()
    closed=" $(sed -n 's/^  closed fd \([0-9]*\):.*/\1/p' "$WORK/explain.log" | paste -sd' ') "
    while read -r n kind flags pos ino link; do
        [[ $closed == *" $n "* ]] && continue
        check_fd_restored "$n" "$kind" "$flags" "$pos" "$ino" "$link"
    done < <(capture_fds)
    for ino in "${!PIPE_OF[@]}"; do
        [ "$(tr ' ' '\n' <<<"${PIPE_OF[$ino]}" | sort -u | grep -c .)" = 1 ] ||
            FD_BAD+=("the ends of the victim's pipe $ino are now different pipes:${PIPE_OF[$ino]}")
    done
    for n in /proc/"$VPID"/fd/*; do
        grep -q "^fd ${n##*/} " "$CORE.necro/capture.txt" || extra="$extra ${n##*/} ($(readlink "$n"))"
    done
    [ -z "$extra" ] || FD_BAD+=("fds the victim did not have:$extra")
    if [ "${#FD_BAD[@]}" -eq 0 ] && [ "${#FD_SEEN[@]}" -gt 0 ]; then
        pass "the victim's fds are back as captured (file paths, pos, flags; pipes paired$([ "${#FD_SETTINGS[@]}" -eq 0 ] || echo "; settings of ${FD_SETTINGS[*]}")): $(printf '%s, ' "${FD_SEEN[@]}" | sed 's/, $//')"
    else
        fail "the restored fds differ from the capture: $(printf '%s; ' "${FD_BAD[@]}")"
    fi
}

# check_shared_descriptions: fds the capture says were one open file
# description (shares=M: dup, `>log 2>&1`) are one again in the restored VPID
# (kcmp KCMP_FILE, through python3's ctypes), unless --explain closed one.
check_shared_descriptions() {
    local closed pairs out
    closed=" $(sed -n 's/^  closed fd \([0-9]*\):.*/\1/p' "$WORK/explain.log" | paste -sd' ') "
    pairs=$(awk -v closed="$closed" '$1 == "fd" { for (i = 3; i <= NF; i++) if (index($i, "shares=") == 1) {
                m = substr($i, 8); if (index(closed, " " $2 " ") == 0 && index(closed, " " m " ") == 0) print $2, m } }' \
        "$CORE.necro/capture.txt")
    [ -n "$pairs" ] || { log "no two fds of the victim shared an open file description"; return 0; }
    command -v python3 >/dev/null || { log "python3 not found: shared open file descriptions not checked"; return 0; }
    # shellcheck disable=SC2086 # the pairs are words
    out=$(python3 - "$VPID" $pairs <<'PY'
import ctypes, platform, sys
nr = {"x86_64": 312, "aarch64": 272}[platform.machine()]  # kcmp
libc = ctypes.CDLL(None, use_errno=True)
pid, a = int(sys.argv[1]), sys.argv[2:]
for n, m in zip(a[0::2], a[1::2]):
    r = libc.syscall(nr, pid, pid, 0, int(n), int(m))  # KCMP_FILE
    print(f"fd {n} = fd {m}" if r == 0 else f"DIFFERENT fd {n} and fd {m} (kcmp {r}, errno {ctypes.get_errno()})")
PY
)
    grep -q DIFFERENT <<<"$out" && fail "fds that were one open file description are not: $(paste -sd';' <<<"$out")" ||
        pass "fds that were one open file description are one again (kcmp): $(paste -sd';' <<<"$out")"
}

# limits_rows FILE: "NAME SOFT HARD" per row of a /proc/PID/limits, unlimited
# as RLIM_INFINITY (the name is the first 25 columns).
limits_rows() {
    awk 'NR > 1 { name = substr($0, 1, 25); sub(/ +$/, "", name); gsub(/ /, "_", name); split(substr($0, 27), f, " ")
                  for (i = 1; i <= 2; i++) if (f[i] == "unlimited") f[i] = "18446744073709551615"
                  print name, f[1], f[2] }' "$1"
}
# capture_limits: the same rows from the capture's rlimit lines.
capture_limits() {
    awk '$1 == "rlimit" { delete v; for (i = 2; i <= NF; i++) { j = index($i, "="); v[substr($i, 1, j - 1)] = substr($i, j + 1) }
                          gsub(/%20/, "_", v["name"]); print v["name"], v["cur"], v["max"] }' "$CORE.necro/capture.txt"
}

# creds_of_capture: "KEY VALUE" per word of the capture's creds line
# (uid=R,E,S,FS ... cap_bnd=0x..), capabilities in decimal.
creds_of_capture() {
    local w
    for w in $(awk '$1 == "creds" { $1 = ""; print }' "$CORE.necro/capture.txt"); do
        case $w in
            cap_*) echo "${w%%=*} $((${w#*=}))" ;;
            *) echo "${w%%=*} ${w#*=}" ;;
        esac
    done
}
# creds_of_status PID: the same words from /proc/PID/status.
creds_of_status() {
    local k rest
    while read -r k rest; do
        case $k in
            Uid: | Gid:) echo "$(tr UG ug <<<"${k%:}") $(tr -s ' \t' ',' <<<"$rest")" ;;
            Groups:) rest=$(tr -s ' \t' ',' <<<"$rest"); rest=${rest%,}; echo "groups ${rest:--}" ;;
            CapInh: | CapPrm: | CapEff: | CapBnd: | CapAmb:) echo "cap_$(tr A-Z a-z <<<"${k:3:3}") $((16#$rest))" ;;
            NoNewPrivs:) echo "no_new_privs $rest" ;;
        esac
    done <"/proc/$1/status"
}

# check_creds_restored: uids, gids, groups, capabilities of the restored
# VPID are the captured ones.
check_creds_restored() {
    local diffs
    diffs=$(diff <(creds_of_capture | sort) <(creds_of_status "$VPID" | sort) || true)
    [ -z "$diffs" ] && [ "$(creds_of_capture | wc -l)" -ge 8 ] &&
        pass "creds are the victim's: $(grep -E '^(uid|gid|groups) ' <(creds_of_capture) | paste -sd' '), CapBnd $(sed -n 's/^CapBnd:\s*//p' "/proc/$VPID/status")" ||
        fail "the restored creds differ from the capture (< capture, > live): $(paste -sd';' <<<"$diffs")"
}

# check_capture_restored: the stopped restored VPID against the capture: fds,
# cwd (the victim's, $WORK), root, umask, ignored signals, creds, every rlimit.
check_capture_restored() {
    check_fds_restored
    check_shared_descriptions
    check_creds_restored
    local cwd root want got diffs
    cwd=$(readlink "/proc/$VPID/cwd" || true)
    want=$(unescape "$(capture_line cwd)")
    [ "$cwd" = "$WORK" ] && [ "$cwd" = "$want" ] && pass "cwd is the victim's: $cwd" ||
        fail "cwd is '$cwd'; the victim's was '$want' (launched in $WORK)"
    root=$(readlink "/proc/$VPID/root" || true)
    want=$(unescape "$(capture_line root)")
    [ "$root" = "$want" ] && pass "root is the victim's: $root" || fail "root is '$root', the victim's was '$want'"
    got=$(sed -n 's/^Umask:\s*//p' "/proc/$VPID/status")
    want=$(capture_line umask)
    [ "$(octal "$got")" = "$(octal "$want")" ] && pass "umask is the victim's: $got" || fail "umask is $got, the victim's was $want"
    got=$(sed -n 's/^SigIgn:\s*//p' "/proc/$VPID/status")
    want=$(capture_value signals ignored)
    [ "$((16#$got))" = "$((want))" ] && pass "ignored signals are the victim's: SigIgn $got" ||
        fail "SigIgn is $got, the victim ignored $want"
    diffs=$(diff <(capture_limits | sort) <(limits_rows "/proc/$VPID/limits" | sort) || true)
    [ -z "$diffs" ] && [ "$(capture_limits | wc -l)" -ge 16 ] &&
        pass "/proc/$VPID/limits equals the captured rlimits, all $(capture_limits | wc -l) rows ($(capture_limits | grep '^Max_open_files ' | tr _ ' '))" ||
        fail "/proc/$VPID/limits differs from the captured rlimits (< capture, > live): $(paste -sd';' <<<"$diffs")"
}

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

# ---------------------------------------------------------------- modes
case $MODE in
counter | segv | segv-thread | heapsig | pool | pool-fewer | handshake | shmem | shmem-new | manymaps)
    start_victim
    if [ "$MODE" = manymaps ]; then check_no_nt_file; fi
    dump_donor
    if [ "$MODE" = manymaps ]; then check_rebuild_explained; fi
    if [ "$MODE" = counter ]; then check_rebuilt_refused; fi
    if [ "$MODE" = shmem ]; then check_filter_refused; fi
    if [ "$MODE" = shmem-new ]; then check_new_objects_planned; fi
    DONOR_SUM=$(cd "$WORK/donor" && sha256sum -- * | sha256sum)
    IMG="$WORK/resurrected"
    log "criu-necromancer -c $CORE -i $WORK/donor -o $IMG"
    if ! timeout 90 "$NECRO" -c "$CORE" -i "$WORK/donor" -o "$IMG" >"$WORK/necro.log" 2>&1 {LOCKFD}>&-; then
        show_log "$WORK/necro.log"
        fatal "criu-necromancer failed"
    fi
    [ -f "$IMG/inventory.img" ] || fatal "criu-necromancer exited 0 but wrote no $IMG/inventory.img"
    pass "criu-necromancer wrote $(ls "$IMG" | wc -l) files into $(basename "$IMG")"
    [ "$(cd "$WORK/donor" && sha256sum -- * | sha256sum)" = "$DONOR_SUM" ] &&
        pass "donor images untouched" || fail "criu-necromancer modified the donor images"
    if command -v crit >/dev/null; then
        # Structure check with the system crit (an older CRIU: see
        # docs/pitfalls.md#pagemap-page-counts). Only image kinds it decodes in
        # the donor count.
        bad=
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
        [ -z "$bad" ] && pass "crit decodes every image it can decode in the donor" ||
            fail "crit cannot decode:$bad"
    fi
    check_stopped_restore "$IMG"
    if [ "$KIND" = crashed ]; then
        check_gdb_live "$BIN" "$CORE" "$VPID"
        check_recrash
    else
        check_runs_on "$IMG"
    fi
    ;;

restore-rpc)
    start_victim
    dump_donor
    check_restore_rpc
    ;;

nodonor-*)
    start_victim
    if [ "$MODE" = nodonor-manymaps ]; then check_no_nt_file; fi
    resurrect_without_donor
    if [ "$MODE" = nodonor-manymaps ]; then check_rebuilt_without_donor; fi
    check_stopped_restore "$IMG"
    if [ "$KIND" = crashed ]; then
        check_gdb_live "$BIN" "$CORE" "$VPID"
        check_recrash
    elif [ -n "${LAUNCH_STDOUT:-}" ]; then
        check_runs_on "$IMG"
    else
        kill_tracked "$VPID"
        log "not run on: $BIN_BASE writes through a file it opened and needs its SIGUSR1 handler, neither in a core"
    fi
    ;;

catch-donor)
    start_victim
    dump_donor
    resurrect_with_donor_and_capture
    check_stopped_restore "$IMG"
    check_victim_file_replaces_donors
    check_runs_on "$IMG"
    check_donor_file_idle
    ;;

catch-*)
    start_victim
    if [ "$MODE" = catch-manymaps ]; then check_no_nt_file; fi
    resurrect_from_capture
    if [ "$MODE" = catch-manymaps ]; then check_rebuilt_without_donor; fi
    if [ "$BIN_BASE" = catchme ]; then check_catchme_dead; fi
    check_stopped_restore "$IMG"
    check_capture_restored
    if [ "$MODE" = catch-counter ]; then check_fifo_stdin_closed; fi
    if [ "$KIND" = crashed ]; then
        check_gdb_live "$BIN" "$CORE" "$VPID"
        check_recrash
    else
        check_runs_on "$IMG"
    fi
    ;;

reflink)
    start_victim
    dump_donor
    check_reflink
    ;;

lazy)
    start_victim
    dump_donor
    check_lazy
    ;;

oracle-criu | oracle-criu-thread)
    launch "$BIN" "${VICTIM_ARGS[@]}"
    VPID=$LAUNCHED
    VICTIM_EXPECTED_CMDLINE="$BIN${VICTIM_ARGS[*]:+ ${VICTIM_ARGS[*]}}"
    log "victim: $BIN ${VICTIM_ARGS[*]} (pid $VPID)"
    wait_for 10 progress_ok || fatal "victim made no progress"
    # A gcore of the stopped victim first: its registers are raw (a thread in
    # clock_nanosleep has ax = -516, one in a futex -512), while CRIU's images,
    # the restored process and even the later kernel core carry CRIU's rewound
    # values. Comparing the gcore with CRIU's restore checks the oracle's
    # rewind rule against CRIU's own. The stop is retried until every thread
    # is caught inside an interrupted system call.
    GCORE=
    for attempt in 1 2 3 4 5 6 7 8; do
        stop_in_syscall "$VPID" || fatal "could not stop pid $VPID with all its threads inside a system call"
        command -v gdb >/dev/null || break
        rm -f "$WORK/before-dump.core"
        timeout 60 gdb -nx -p "$VPID" -batch -ex "gcore $WORK/before-dump.core" {LOCKFD}>&- >"$WORK/gdb.log" 2>&1 || true
        if ! [ -s "$WORK/before-dump.core" ] || ! wait_for 5 is_stopped "$VPID"; then
            show_log "$WORK/gdb.log"
            fatal "gcore of the stopped victim failed"
        fi
        if ! "$ORACLE" --info "$WORK/before-dump.core" | grep '^thread[0-9]' |
            grep -vqE ' rax=0xfffffffffffff(dfc|e00|dff|dfe) '; then
            GCORE="$WORK/before-dump.core"
            break
        fi
        log "attempt $attempt: a thread was not inside an interrupted system call; again"
        kill -CONT "$VPID"
        sleep 0.0$((RANDOM % 9 + 1))
    done
    if [ -z "$GCORE" ]; then
        command -v gdb >/dev/null && fatal "could not catch the victim inside interrupted system calls"
        log "gdb not found: the rewind rule is not cross-checked"
    fi
    mkdir -p "$WORK/img"
    if ! criu dump -R -t "$VPID" -D "$WORK/img" -v4 -o dump.log; then
        show_log "$WORK/img/dump.log"
        fatal "criu dump -R of the stopped victim failed"
    fi
    wait_for 5 is_stopped "$VPID" && pass "CRIU dumped pid $VPID and left it stopped" || fatal "pid $VPID not stopped after dump -R"
    # Death by SIGQUIT without running a user instruction: memory and
    # registers at the core are those CRIU dumped.
    kill -QUIT "$VPID"
    kill -CONT "$VPID"
    st=0
    { wait "$VPID"; } 2>/dev/null || st=$?
    unset "TRACKED[$VPID]"
    [ "$st" -eq 131 ] && pass "victim died of SIGQUIT (status $st)" || fatal "victim status $st, expected 131"
    finish_victim_death
    check_stopped_restore "$WORK/img"
    if [ -n "$GCORE" ]; then
        # Registers only: gcore writes zeros for a whole file mapping when a
        # page of it (here the one past EOF) cannot be read.
        run_oracle "$GCORE" "$VPID" --regs-only --gdb-core
        if [ "$ORACLE_RC" = 0 ] && grep -Eq 'rewind: (eintr|restart)' "$ORACLE_LOG"; then
            pass "oracle: registers of the gcore taken before the dump, rewound ($(grep -Eo 'rewind: [a-z]+' "$ORACLE_LOG" | sort | uniq -c | paste -sd, | tr -s ' ')), equals CRIU's restore"
        else
            fail "oracle: the gcore taken before the dump differs from CRIU's restore, or no rewind was exercised (exit $ORACLE_RC)"
        fi
    fi
    if [ "$BIN_BASE" = heapsig ]; then
        check_runs_on "$WORK/img" cont
    fi
    ;;

oracle-gcore)
    launch "$BIN" "${VICTIM_ARGS[@]}"
    VPID=$LAUNCHED
    disown "$VPID"
    wait_for 10 progress_ok || fatal "victim made no progress"
    kill -STOP "$VPID"
    wait_for 5 is_stopped "$VPID" || fatal "victim did not stop"
    CORE="$WORK/live.core"
    timeout 60 gdb -nx -p "$VPID" -batch -ex "gcore $CORE" {LOCKFD}>&- >"$WORK/gdb.log" 2>&1 || true
    [ -s "$CORE" ] && pass "gcore wrote $(file_size "$CORE") bytes" || { show_log "$WORK/gdb.log"; fatal "gcore failed"; }
    wait_for 5 is_stopped "$VPID" || fatal "pid $VPID no longer stopped after gcore"
    # gcore leaves out some mappings (read-only file pages), lists PROT_NONE ones
    # as r-- (--gdb-core), and writes registers as they are (no dump-time
    # syscall rewind: --raw-regs).
    run_oracle "$CORE" "$VPID" --raw-regs --gdb-core
    [ "$ORACLE_RC" = 0 ] && pass "oracle: gcore of the stopped process compares SAME" ||
        fail "oracle: gcore of the stopped process differs (exit $ORACLE_RC)"
    # Flip one byte of the heap (inside the counter's pattern buffer).
    heap=$(awk '$6 == "[heap]" { split($1, a, "-"); print a[1]; exit }' "/proc/$VPID/maps")
    addr=$((0x$heap + 0x1000 + 123))
    byte=$(dd if="/proc/$VPID/mem" bs=1 skip="$addr" count=1 iflag=skip_bytes status=none | od -An -tu1 | tr -d ' ')
    printf "\\$(printf '%03o' $((byte ^ 0xa5)))" | dd of="/proc/$VPID/mem" bs=1 seek="$addr" oflag=seek_bytes conv=notrunc status=none
    log "flipped the byte at $(printf '%#x' "$addr"): $byte -> $((byte ^ 0xa5))"
    run_oracle "$CORE" "$VPID" --raw-regs --gdb-core
    if [ "$ORACLE_RC" = 1 ] && grep -q ' mem_mismatch=1 ' "$ORACLE_LOG" && grep -q ' regs_mismatch=0 ' "$ORACLE_LOG" &&
        grep -q "MISMATCH memory \[$(printf '%#x' "$addr"), " "$ORACLE_LOG"; then
        pass "oracle: one flipped byte gives exactly one mismatched byte, at its address"
    else
        fail "oracle did not report exactly the flipped byte (exit $ORACLE_RC)"
    fi
    printf "\\$(printf '%03o' "$byte")" | dd of="/proc/$VPID/mem" bs=1 seek="$addr" oflag=seek_bytes conv=notrunc status=none
    # Change one register (r12) with gdb.
    timeout 60 gdb -nx -p "$VPID" -batch -ex 'set $r12 = $r12 ^ 0x10' {LOCKFD}>&- >"$WORK/gdb2.log" 2>&1 || true
    wait_for 5 is_stopped "$VPID" || fatal "pid $VPID no longer stopped after gdb"
    run_oracle "$CORE" "$VPID" --raw-regs --gdb-core
    if [ "$ORACLE_RC" = 1 ] && grep -q ' regs_mismatch=1 ' "$ORACLE_LOG" && grep -q ' mem_mismatch=0 ' "$ORACLE_LOG" &&
        grep -q 'MISMATCH r12:' "$ORACLE_LOG"; then
        pass "oracle: one changed register gives exactly one register mismatch (r12)"
    else
        fail "oracle did not report exactly the changed register (exit $ORACLE_RC)"
    fi
    kill_tracked "$VPID"
    ;;
esac

exit 0
