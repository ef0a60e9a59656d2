#!/usr/bin/env bash
# make-fixtures.sh - regenerate necro's real test fixtures under tests/data/.
#
# Produces:
#   bin/counter                  x86-64 dynamic build of src/counter.c
#   bin/crash_aarch64            aarch64 static build of src/crash_aarch64.c
#   x86_64/counter.core          ELF core of a VICTIM run (SIGQUIT, filter 0xff)
#   x86_64/counter.donor/*.img   CRIU 4.x images of a separate DONOR run
#   x86_64/facts.txt             facts the tests can assert
#   bin/pool                     x86-64 dynamic -pthread build of src/pool.c
#   x86_64/pool.core[.zst]       ELF core of a 4-worker VICTIM run (5 threads)
#   x86_64/pool.donor/*.img      CRIU 4.x images of a 2-worker DONOR run
#   x86_64/pool.facts.txt        facts the tests can assert (tids, syscalls)
#   bin/shmem                    x86-64 dynamic build of ../e2e/victims/shmem.c
#   x86_64/shmem.core.zst        ELF core of a VICTIM run: shared anonymous
#                                memory, a memfd and a deleted file, mapped
#                                shared and private (SIGQUIT, filter 0xff)
#   x86_64/shmem.donor/*.img     CRIU 4.x images of a DONOR run (memfd.img,
#                                pagemap-shmem-*, remap-fpath, ghost-file-*)
#   x86_64/shmem.facts.txt       facts the tests can assert (victim maps)
#   bin/epoll                    x86-64 dynamic build of src/epoll.c
#   x86_64/epoll.core.zst        ELF core of a VICTIM run: one epoll instance
#                                whose data are a heap pointer, a tagged .data
#                                pointer and an fd (SIGQUIT, filter 0xff)
#   x86_64/epoll.donor/*.img     CRIU 4.x images of a DONOR run (files.img EVENTPOLL)
#   x86_64/epoll.facts.txt       the data values the victim registered
#   aarch64/crash.core           aarch64 ELF core written by qemu-aarch64
#   aarch64/facts.txt            facts the tests can assert
#   x86_64/title-MODE.core.zst   ELF core of `title MODE ...` after it rewrote its
#                                process title in MODE's way (filter 0x13)
#   x86_64/title.facts.txt       the kernel's start_stack, arg/env ranges (from
#                                /proc/self/stat before the rewrite) per MODE
#   x86_64/norandom.core.zst     counter run without ASLR (setarch -R): its brk
#   x86_64/norandom.donor/*.img  heap is glued to the executable; and a donor
#   x86_64/norandom.facts.txt    run the same way; the kernel's start_brk
#   bin/manymaps                 x86-64 dynamic build of ../e2e/victims/manymaps.c
#   x86_64/manymaps.core.zst     ELF core of a VICTIM run with 65 600 one-page
#                                regions (65 635 VMAs): no NT_FILE note (the
#                                kernel leaves it out at 64 bytes a VMA past
#                                core_file_note_size_limit, whose minimum is
#                                its 4 MiB default) and PN_XNUM (filter 0x33)
#   x86_64/manymaps.donor/*.img  CRIU 4.x images of a DONOR run with 64 regions
#   x86_64/manymaps.facts.txt    the victim's /proc/PID/maps file mappings and
#                                each mapped object's PT_LOADs and build-id
#   bin/manymaps-static          x86-64 static build of ../e2e/victims/manymaps.c
#                                (-DMANYMAPS_STATIC: it loads no library)
#   x86_64/manymaps-static.core.zst  ELF core of it with 65 600 regions: no
#                                NT_FILE, no dynamic linker's list, and (filter
#                                0x33) of the executable only its first page
#   x86_64/manymaps-static.facts.txt  the program's path, its PT_LOADs, entry,
#                                build-id and the victim's maps lines of it
#   bin/catchme                  x86-64 dynamic build of src/catchme.c
#   x86_64/catch.capture/        what necro-catch (the core_pattern helper; path
#                                in NECRO_CATCH) wrote beside the core of a
#                                catchme VICTIM killed by SIGQUIT: capture.txt,
#                                files.img, fdinfo-, fs-, creds-PID.img, capture.log
#   x86_64/catch.core.zst        that core (zstd)
#   x86_64/catch.facts.txt       the victim's own fd listing, ports, pid
#
# Usage: make-fixtures.sh [counter] [pool] [shmem] [epoll] [aarch64] [titles] [norandom] [manymaps]
#                         [manymaps-static] [capture]
# With no argument every fixture set is regenerated; otherwise only the named
# ones (the others are left untouched), e.g. `make-fixtures.sh pool`.
#
# Requirements: root (core_pattern, CRIU), NECRO_CRIU=/path/to/criu (4.x)
# for counter and pool, gcc, readelf, setsid, flock; aarch64-linux-gnu-gcc and
# qemu-aarch64 for aarch64; python3 (core thread notes) and zstd (a core over
# 4 MiB is stored as <name>.core.zst) for pool. Optional: llvm-readelf
# (NT_FILE entry counts), gdb (value cross-checks), crit (image check).
#
# Neutral paths: the cores and CRIU images record the program's path, its
# cwd, its environment and the compile directory (DWARF). So that none of
# them names the checkout, both programs are built in, and run from, the
# fixed directory /tmp/necro-fixture (FIX below): sources are copied to
# FIX/src, built there with relative paths, and the results copied into bin/;
# victim and donor run FIX/counter with cwd FIX, qemu runs FIX/crash_aarch64
# with cwd FIX/qemu, all with the minimal environment in CLEAN_ENV (nothing
# inherited from the caller). FIX is left in place after the run.
#
# Side effects: temporarily rewrites /proc/sys/kernel/core_pattern
# (machine-wide); the old value is restored on exit. core_pattern is shared
# with the e2e tests, so the script first takes /tmp/necro-e2e.lock (flock,
# the lock the tests of tests/e2e take) and waits for it. Creates/overwrites
# /tmp/necro-fixture (kept). Only processes started by this script are ever
# signalled, by PID.
set -euo pipefail

log() { printf '==> %s\n' "$*" >&2; }
run() { printf '+ %s\n' "$*" >&2; "$@"; }
die() { printf 'make-fixtures.sh: error: %s\n' "$*" >&2; exit 1; }

DATA=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# ---------------------------------------------------------------- selection
ALL_SETS=(counter pool shmem epoll aarch64 titles norandom manymaps manymaps-static capture)
SETS=()
if [ "$#" -eq 0 ]; then
    SETS=("${ALL_SETS[@]}")
else
    for arg in "$@"; do
        case $arg in
        counter | pool | shmem | epoll | aarch64 | titles | norandom | manymaps | manymaps-static | capture) SETS+=("$arg") ;;
        all) SETS=("${ALL_SETS[@]}") ;;
        -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d'; exit 0 ;;
        *) die "unknown fixture set '$arg' (expected: ${ALL_SETS[*]} or all)" ;;
        esac
    done
fi
want() { local s; for s in "${SETS[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }
log "fixture sets: ${SETS[*]}"

# ---------------------------------------------------------------- checks
[ "$(id -u)" -eq 0 ] || die "must run as root (core_pattern + CRIU dump)"
TOOLS=(gcc readelf setsid flock)
want aarch64 && TOOLS+=(aarch64-linux-gnu-gcc qemu-aarch64)
want pool && TOOLS+=(python3 zstd)
want titles && TOOLS+=(zstd)
want shmem && TOOLS+=(zstd)
want epoll && TOOLS+=(zstd)
want norandom && TOOLS+=(zstd setarch)
want manymaps && TOOLS+=(zstd)
want manymaps-static && TOOLS+=(zstd)
want capture && TOOLS+=(zstd)
for tool in "${TOOLS[@]}"; do
    command -v "$tool" >/dev/null || die "required tool '$tool' not found in PATH"
done
CRIU_VERSION=
if want counter || want pool || want shmem || want epoll || want norandom || want manymaps; then
    [ -n "${NECRO_CRIU:-}" ] ||
        die "NECRO_CRIU is not set; point it at a CRIU 4.x binary, e.g. NECRO_CRIU=/path/to/criu $0"
    [ -x "$NECRO_CRIU" ] || die "NECRO_CRIU=$NECRO_CRIU is not an executable file"
    CRIU_VERSION=$("$NECRO_CRIU" --version | sed -n 's/^Version: *//p')
    log "using CRIU $CRIU_VERSION at $NECRO_CRIU"
fi

# ---------------------------------------------------------------- state
SCRATCH=$(mktemp -d /tmp/necro-fixtures.XXXXXX)
OLD_CORE_PATTERN=       # read once the lock is held (an e2e run may have changed it)
CORE_PATTERN_SET=0
OLD_MAX_MAP_COUNT=      # set while the manymaps set has vm.max_map_count raised
STARTED_PIDS=()
declare -A STARTED_EXE=()  # pid -> the program launch() started there
BIN="$DATA/bin/counter"
FIX=/tmp/necro-fixture
XBIN="$FIX/counter"     # what victim and donor actually run (copy of $BIN)
PBIN="$DATA/bin/pool"
XPBIN="$FIX/pool"       # what the pool victim and donor run (copy of $PBIN)
CLEAN_ENV=(env -i PATH=/usr/bin:/bin LANG=C)

# FIX is a fixed name in a world-writable directory and we are root: refuse
# anything that is not a plain root-owned directory (or absent).
if [ -e "$FIX" ] || [ -L "$FIX" ]; then
    [ -d "$FIX" ] && [ ! -L "$FIX" ] && [ "$(stat -c %u "$FIX")" -eq 0 ] ||
        die "$FIX exists but is not a root-owned directory"
fi
mkdir -p "$FIX/src" "$FIX/qemu"

cleanup() {
    local rc=$? pid
    for pid in "${STARTED_PIDS[@]}"; do
        # Only our own children that are still running the program we started.
        if [ -e "/proc/$pid" ] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "${STARTED_EXE[$pid]}" ]; then
            kill -KILL "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    if [ "$CORE_PATTERN_SET" = 1 ]; then
        printf '%s\n' "$OLD_CORE_PATTERN" > /proc/sys/kernel/core_pattern
    fi
    if [ -n "$OLD_MAX_MAP_COUNT" ]; then
        printf '%s\n' "$OLD_MAX_MAP_COUNT" > /proc/sys/vm/max_map_count
    fi
    if [ -n "${OLD_PIPE_LIMIT:-}" ]; then
        printf '%s\n' "$OLD_PIPE_LIMIT" > /proc/sys/kernel/core_pipe_limit
    fi
    rm -rf "$SCRATCH"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# core_pattern is machine-wide and the e2e tests set it too: serialise with
# them. The lock fd is closed in every program launch() starts, so nothing
# outlives the script holding it; it is released when the script exits.
exec {LOCKFD}>/tmp/necro-e2e.lock
if ! flock -n "$LOCKFD"; then
    log "waiting for /tmp/necro-e2e.lock (an e2e run or another make-fixtures.sh holds it)"
    flock "$LOCKFD"
fi

OLD_CORE_PATTERN=$(cat /proc/sys/kernel/core_pattern)
log "core_pattern was '$OLD_CORE_PATTERN'; setting it to $SCRATCH/core.%p (restored on exit)"
CORE_PATTERN_SET=1
printf '%s\n' "$SCRATCH/core.%p" > /proc/sys/kernel/core_pattern

# Close every fd above 2 in the current (sub)shell.
close_stray_fds() {
    local p fd
    for p in "/proc/$BASHPID/fd"/*; do
        fd=${p##*/}
        [ "$fd" -gt 2 ] 2>/dev/null || continue
        eval "exec $fd>&-" 2>/dev/null || true
    done
}

# launch DIR PROG [ARGS...]: start PROG detached (own session, no tty, fds 0-2
# on /dev/null, nothing else open, cwd DIR, environment CLEAN_ENV only), with
# core dumps fully enabled. Sets
# LAUNCHED_PID. The subshell is not a process-group leader (no job control
# in scripts), so `setsid` execs in place and $! is the program's own PID.
launch() {
    local dir=$1; shift
    (
        cd "$dir"
        ulimit -c unlimited
        echo "${LAUNCH_FILTER:-0xff}" > /proc/self/coredump_filter
        close_stray_fds
        if [ -n "${LAUNCH_NORANDOM:-}" ]; then # no ASLR: personality ADDR_NO_RANDOMIZE, inherited by exec
            exec setarch "$(uname -m)" -R setsid "${CLEAN_ENV[@]}" "$@" </dev/null >/dev/null 2>&1
        fi
        exec setsid "${CLEAN_ENV[@]}" "$@" </dev/null >/dev/null 2>&1
    ) &
    LAUNCHED_PID=$!
    STARTED_PIDS+=("$LAUNCHED_PID")
    STARTED_EXE[$LAUNCHED_PID]=$1
    local _
    for _ in $(seq 50); do
        [ "$(readlink "/proc/$LAUNCHED_PID/exe" 2>/dev/null)" = "$1" ] && return 0
        sleep 0.02
    done
    die "launched PID $LAUNCHED_PID is not running $1"
}

# Wait for our child PID to be gone; returns its exit status in WAIT_STATUS.
reap() {
    WAIT_STATUS=0
    wait "$1" 2>/dev/null || WAIT_STATUS=$?
    while [ -e "/proc/$1" ]; do sleep 0.1; done
}

# Counts for a core file, from binutils readelf (program headers, note
# types) and llvm-readelf (NT_FILE entries: binutils 2.40 on Debian 12 prints
# "Cannot decode 64-bit note in 32-bit build" for NT_FILE). Prints key=value.
core_counts() {
    local core=$1 notes types
    notes=$(readelf -nW "$core")
    # One note per line: "  CORE  0x00000150  NT_PRSTATUS (...)" or
    # "  LINUX  0x00000060  Unknown note type: (0x00000205)".
    types=$(awk '$2 ~ /^0x[0-9a-f]+$/ && NF >= 3 {
                 if ($3 == "Unknown") {
                     match($0, /Unknown note type: \(0x[0-9a-f]+\)/)
                     t = substr($0, RSTART + 20, RLENGTH - 21); sub(/^0x0*/, "0x", t)
                 }
                 else t = $3
                 print t }' <<<"$notes")
    count() { grep -cx "$1" <<<"$types" || true; }
    printf 'pt_load_count=%s\n' "$(readelf -lW "$core" | grep -c '^ *LOAD ' || true)"
    printf 'pt_note_count=%s\n' "$(readelf -lW "$core" | grep -c '^ *NOTE ' || true)"
    printf 'note_types=%s\n' "$(paste -sd, <<<"$types")"
    printf 'thread_count=%s\n' "$(count NT_PRSTATUS)"
    local t
    for t in NT_PRSTATUS NT_PRPSINFO NT_SIGINFO NT_AUXV NT_FILE NT_FPREGSET NT_X86_XSTATE; do
        printf '%s_count=%s\n' "$(tr '[:upper:]' '[:lower:]' <<<"$t")" "$(count "$t")"
    done
    if [ "$(count NT_FILE)" -gt 0 ]; then
        if command -v llvm-readelf >/dev/null; then
            local fnotes
            fnotes=$(llvm-readelf --notes "$core")
            # One "start end page_offset" line per entry, file name on the next.
            printf 'nt_file_entry_count=%s\n' \
                "$(grep -Ec '^ +0x[0-9a-f]+ +0x[0-9a-f]+ +0x[0-9a-f]+ *$' <<<"$fnotes" || true)"
            printf 'nt_file_page_size=%s\n' \
                "$(sed -n 's/^ *Page size: *\([0-9]*\).*/\1/p' <<<"$fnotes" | head -n1)"
            printf 'nt_file_distinct_paths=%s\n' \
                "$(grep -A1 -E '^ +0x[0-9a-f]+ +0x[0-9a-f]+ +0x[0-9a-f]+ *$' <<<"$fnotes" |
                   grep -E '^ +/' | sed 's/^ *//' | awk '!seen[$0]++' | paste -sd,)"
        else
            echo "# llvm-readelf not found: NT_FILE entries not counted"
        fi
    fi
    printf 'size_bytes=%s\n' "$(stat -c %s "$core")"
    printf 'sha256=%s\n' "$(sha256sum "$core" | cut -d' ' -f1)"
}

# dump_donor LABEL DIR PROGRAM [ARGS...]: runs PROGRAM (from FIX) as a donor for
# 0.3 s, dumps it with CRIU into DIR (created), reaps it, keeps the images
# world-readable without the -v4 log (large, machine-specific), and decodes
# every image with crit when it is there. Sets DONOR_PID.
dump_donor() {
    local label=$1 dir=$2
    shift 2
    log "$label: starting a separate run of ${*##*/}"
    launch "$FIX" "$@"
    DONOR_PID=$LAUNCHED_PID
    log "$label pid=$DONOR_PID; letting it run 0.3 s"
    sleep 0.3
    run mkdir -p "$dir"
    if ! run "$NECRO_CRIU" dump -t "$DONOR_PID" -D "$dir" -v4 -o dump.log; then
        tail -n 40 "$dir/dump.log" >&2 || true
        die "CRIU dump of $label $DONOR_PID failed"
    fi
    reap "$DONOR_PID"
    mv "$dir/dump.log" "$SCRATCH/$(basename "$dir").dump.log"
    chmod 0644 "$dir"/*
    if command -v crit >/dev/null; then
        log "sanity-decoding the $label images with $(command -v crit)"
        local img
        for img in "$dir"/*.img; do
            case ${img##*/} in pages-*.img) continue ;; esac # raw page data
            crit show "$img" >/dev/null || die "crit cannot decode $img"
        done
    fi
}

# donor_facts DIR PID: the facts lines about a donor's images (page count,
# and with crit the pagemap entries and VMAs; the image names).
donor_facts() {
    local dir=$1 pid=$2
    echo "donor_pages_img_pages=$(( $(stat -c %s "$dir/pages-1.img") / 4096 ))"
    if command -v crit >/dev/null; then
        echo "donor_pagemap_entries=$(crit show "$dir/pagemap-$pid.img" | grep -c '"vaddr"' || true)"
        echo "donor_vma_count=$(crit show "$dir/mm-$pid.img" | grep -c '"start"' || true)"
    fi
    echo "donor_images=$(cd "$dir" && printf '%s\n' ./*.img | sed 's|^\./||' | paste -sd' ')"
}

# One line per NT_PRSTATUS note of an x86-64 ELF core, in note (core) order:
#   tid orig_rax rax rip rsp
# (orig_rax and rax as signed decimals: orig_rax is the system call a thread
# was in, -1 for none; rax its pending return value, e.g. -512 ERESTARTSYS).
# Parsed here because readelf and llvm-readelf print neither pr_pid nor pr_reg.
core_threads() {
    python3 - "$1" <<'PY'
import struct, sys

def signed(v):
    return v - (1 << 64) if v >= 1 << 63 else v

with open(sys.argv[1], "rb") as f:
    eh = f.read(64)
    if eh[:4] != b"\x7fELF" or eh[4] != 2 or eh[5] != 1:
        sys.exit("not a little-endian ELF64 file")
    (phoff,) = struct.unpack_from("<Q", eh, 32)
    phentsize, phnum = struct.unpack_from("<HH", eh, 54)
    if phnum == 0xFFFF:
        sys.exit("PN_XNUM cores are not supported")
    for i in range(phnum):
        f.seek(phoff + i * phentsize)
        p_type, _, p_offset, _, _, p_filesz = struct.unpack("<IIQQQQ", f.read(40))
        if p_type != 4:  # PT_NOTE
            continue
        f.seek(p_offset)
        notes = f.read(p_filesz)
        off = 0
        while off + 12 <= len(notes):
            namesz, descsz, ntype = struct.unpack_from("<III", notes, off)
            off += 12
            name = notes[off:off + namesz].rstrip(b"\0")
            off += (namesz + 3) & ~3
            desc = notes[off:off + descsz]
            off += (descsz + 3) & ~3
            if name != b"CORE" or ntype != 1:  # NT_PRSTATUS
                continue
            if descsz != 336:
                sys.exit("NT_PRSTATUS of %d bytes, expected 336 (x86-64)" % descsz)
            (pid,) = struct.unpack_from("<i", desc, 32)        # pr_pid
            regs = struct.unpack_from("<27Q", desc, 112)       # pr_reg
            # user_regs_struct: rax is [10], orig_rax [15], rip [16], rsp [19].
            print(pid, signed(regs[15]), signed(regs[10]),
                  "0x%x" % regs[16], "0x%x" % regs[19])
PY
}

# Names for the system calls and restart codes the pool threads sleep in.
syscall_name() {
    case $1 in
    -1) echo none ;; 0) echo read ;; 35) echo nanosleep ;; 202) echo futex ;;
    230) echo clock_nanosleep ;; *) echo "nr$1" ;;
    esac
}
errno_name() {
    case $1 in
    -4) echo EINTR ;; -512) echo ERESTARTSYS ;; -513) echo ERESTARTNOINTR ;;
    -514) echo ERESTARTNOHAND ;; -516) echo ERESTART_RESTARTBLOCK ;;
    *) echo "$1" ;;
    esac
}

# ================================================================ x86_64 counter
if want counter; then
    log "building x86-64 counter (dynamic, -O1 -g)"
    run mkdir -p "$DATA/bin" "$DATA/x86_64" "$DATA/aarch64"
    run cp "$DATA/src/counter.c" "$FIX/src/counter.c"
    (cd "$FIX" && run gcc -O1 -g -Wall -Wextra -o counter src/counter.c)
    run cp "$XBIN" "$BIN"

    rm -f "$DATA/x86_64/counter.core" "$DATA/x86_64/counter.core.zst" "$DATA/x86_64/facts.txt"
    rm -rf "$DATA/x86_64/counter.donor"

    log "VICTIM: starting counter with coredump_filter=0xff"
    launch "$FIX" "$XBIN"
    VICTIM_PID=$LAUNCHED_PID
    log "VICTIM pid=$VICTIM_PID; letting it run 0.3 s"
    sleep 0.3
    run kill -QUIT "$VICTIM_PID"
    reap "$VICTIM_PID"
    [ "$WAIT_STATUS" -eq $((128 + 3)) ] ||
        die "victim exit status $WAIT_STATUS, expected 131 (SIGQUIT)"
    [ -s "$SCRATCH/core.$VICTIM_PID" ] || die "no core at $SCRATCH/core.$VICTIM_PID"
    run cp "$SCRATCH/core.$VICTIM_PID" "$DATA/x86_64/counter.core"
    chmod 0644 "$DATA/x86_64/counter.core"
    CORE_SIZE=$(stat -c %s "$DATA/x86_64/counter.core")
    log "victim core: $CORE_SIZE bytes"
    CORE_FILE="counter.core"
    if [ "$CORE_SIZE" -gt $((4 * 1024 * 1024)) ]; then
        command -v zstd >/dev/null || die "core is $CORE_SIZE bytes (> 4 MiB) and zstd is missing"
        log "core > 4 MiB: compressing to counter.core.zst"
        run zstd -q -19 --rm "$DATA/x86_64/counter.core" -o "$DATA/x86_64/counter.core.zst"
        CORE_FILE="counter.core.zst"
    fi

    DONOR_DIR="$DATA/x86_64/counter.donor"
    dump_donor DONOR "$DONOR_DIR" "$XBIN"

    {
        echo "# Generated by tests/data/make-fixtures.sh - do not edit."
        echo "# Facts about x86_64/$CORE_FILE (victim) and x86_64/counter.donor/ (donor)."
        echo "arch=x86_64"
        echo "kernel=$(uname -r)"
        echo "criu_version=$CRIU_VERSION"
        echo "binary=$XBIN"
        echo "binary_copy=bin/counter"
        echo "binary_build_id=$(readelf -nW "$BIN" | sed -n 's/.*Build ID: *//p')"
        echo "cwd=$FIX"
        echo "victim_pid=$VICTIM_PID"
        echo "victim_signal=3"
        echo "victim_coredump_filter=0xff"
        echo "donor_pid=$DONOR_PID"
        echo "core_file=$CORE_FILE"
        if [ "$CORE_FILE" = counter.core ]; then
            core_counts "$DATA/x86_64/counter.core" | sed 's/^/core_/'
        fi
        if command -v gdb >/dev/null && [ "$CORE_FILE" = counter.core ]; then
            # Values as seen by an independent tool (gdb), for cross-checks.
            gdb -nx -batch -ex 'printf "counter_value=%lu\n", counter' \
                -ex 'printf "counter_addr=0x%lx\n", &counter' \
                -ex 'printf "pattern_buf_addr=0x%lx\n", pattern_buf' \
                "$XBIN" "$DATA/x86_64/counter.core" 2>/dev/null |
                grep -E '^(counter_value|counter_addr|pattern_buf_addr)=' | sed 's/^/gdb_/' || true
        fi
        donor_facts "$DONOR_DIR" "$DONOR_PID"
    } > "$DATA/x86_64/facts.txt"
fi

# ================================================================ x86_64 pool
# A multi-threaded victim and a donor with FEWER threads (on purpose: the
# donor's thread images must serve as templates for more victim threads).
if want pool; then
    POOL_VICTIM_WORKERS=4   # + the main thread: 5 threads
    POOL_DONOR_WORKERS=2    # + the main thread: 3 threads (all counting)
    log "building x86-64 pool (dynamic, -O1 -g -pthread)"
    run mkdir -p "$DATA/bin" "$DATA/x86_64"
    run cp "$DATA/src/pool.c" "$FIX/src/pool.c"
    (cd "$FIX" && run gcc -O1 -g -Wall -Wextra -pthread -o pool src/pool.c)
    run cp "$XPBIN" "$PBIN"

    rm -f "$DATA/x86_64/pool.core" "$DATA/x86_64/pool.core.zst" "$DATA/x86_64/pool.facts.txt"
    rm -rf "$DATA/x86_64/pool.donor"

    # Every thread must be asleep in its system call when the core is written:
    # main and the cond-waiter in futex, the reader in read (-ERESTARTSYS), the
    # counters in clock_nanosleep (-ERESTART_RESTARTBLOCK). A counter caught
    # between two sleeps (rare) would spoil that, so the run is repeated.
    POOL_EXPECTED_STATES=$({
        echo "202 -512"; echo "202 -512"; echo "0 -512"
        for ((i = 0; i < POOL_VICTIM_WORKERS - 2; i++)); do echo "230 -516"; done
    } | sort)
    POOL_CORE=
    for attempt in 1 2 3 4 5; do
        log "POOL VICTIM (attempt $attempt): starting pool $POOL_VICTIM_WORKERS with coredump_filter=0xff"
        launch "$FIX" "$XPBIN" "$POOL_VICTIM_WORKERS"
        POOL_VICTIM_PID=$LAUNCHED_PID
        log "POOL VICTIM pid=$POOL_VICTIM_PID; letting it run 0.3 s"
        sleep 0.3
        run kill -QUIT "$POOL_VICTIM_PID"
        reap "$POOL_VICTIM_PID"
        [ "$WAIT_STATUS" -eq $((128 + 3)) ] ||
            die "pool victim exit status $WAIT_STATUS, expected 131 (SIGQUIT)"
        [ -s "$SCRATCH/core.$POOL_VICTIM_PID" ] || die "no core at $SCRATCH/core.$POOL_VICTIM_PID"
        core_threads "$SCRATCH/core.$POOL_VICTIM_PID" > "$SCRATCH/pool.threads"
        [ "$(wc -l < "$SCRATCH/pool.threads")" -eq $((POOL_VICTIM_WORKERS + 1)) ] ||
            die "pool core has $(wc -l < "$SCRATCH/pool.threads") threads, expected $((POOL_VICTIM_WORKERS + 1))"
        if [ "$(awk '{ print $2, $3 }' "$SCRATCH/pool.threads" | sort)" = "$POOL_EXPECTED_STATES" ]; then
            POOL_CORE="$SCRATCH/core.$POOL_VICTIM_PID"
            break
        fi
        log "not every thread was asleep in its system call (tid orig_rax rax rip rsp):"
        sed 's/^/    /' "$SCRATCH/pool.threads" >&2
        rm -f "$SCRATCH/core.$POOL_VICTIM_PID"
    done
    [ -n "$POOL_CORE" ] || die "no pool core with every thread asleep in a system call after $attempt attempts"

    # Worker stacks are 8 MiB mappings, mostly never touched: the kernel leaves
    # those pages as holes, so the core is sparse (see core_size_bytes vs.
    # core_disk_bytes); git would store the zeros, hence zstd over 4 MiB.
    POOL_CORE_SIZE=$(stat -c %s "$POOL_CORE")
    log "pool victim core: $POOL_CORE_SIZE bytes ($(du -k "$POOL_CORE" | cut -f1) KiB on disk)"
    if [ "$POOL_CORE_SIZE" -gt $((4 * 1024 * 1024)) ]; then
        log "core > 4 MiB: compressing to pool.core.zst"
        run zstd -q -19 "$POOL_CORE" -o "$DATA/x86_64/pool.core.zst"
        chmod 0644 "$DATA/x86_64/pool.core.zst"
        POOL_CORE_FILE="pool.core.zst"
    else
        run cp --sparse=always "$POOL_CORE" "$DATA/x86_64/pool.core"
        chmod 0644 "$DATA/x86_64/pool.core"
        POOL_CORE_FILE="pool.core"
    fi

    POOL_DONOR_DIR="$DATA/x86_64/pool.donor"
    dump_donor "POOL DONOR" "$POOL_DONOR_DIR" "$XPBIN" "$POOL_DONOR_WORKERS"
    POOL_DONOR_PID=$DONOR_PID
    # The donor's threads: one core-<tid>.img each; pstree.img lists them.
    POOL_DONOR_TIDS=$(cd "$POOL_DONOR_DIR" && printf '%s\n' core-*.img |
                      sed 's/^core-\([0-9]*\)\.img$/\1/' | sort -n | paste -sd,)

    # gdb's view (independent of necro): addresses of the globals, each
    # worker's tid (tids[i]), counts[i] and, per thread, its TLS my_count.
    POOL_GDB=
    if command -v gdb >/dev/null; then
        GDB_ARGS=(-ex 'printf "counts_addr=0x%lx\n", &counts'
                  -ex 'printf "tids_addr=0x%lx\n", &tids')
        for ((i = 0; i < POOL_VICTIM_WORKERS; i++)); do
            GDB_ARGS+=(-ex "printf \"counts_$i=%lu\\n\", counts[$i]"
                       -ex "printf \"tids_$i=%d\\n\", tids[$i]")
        done
        GDB_ARGS+=(-ex 'python
for t in gdb.selected_inferior().threads():
    t.switch()
    print("my_count_tid_%d=%d" % (t.ptid[1], int(gdb.parse_and_eval("my_count"))))
')
        POOL_GDB=$(gdb -nx -batch "${GDB_ARGS[@]}" "$XPBIN" "$POOL_CORE" 2>/dev/null |
                   grep -E '^(counts_addr|tids_addr|counts_[0-9]+|tids_[0-9]+|my_count_tid_[0-9]+)=' || true)
    fi
    gdbval() { sed -n "s/^$1=//p" <<<"$POOL_GDB"; }

    {
        echo "# Generated by tests/data/make-fixtures.sh - do not edit."
        echo "# Facts about x86_64/$POOL_CORE_FILE (victim) and x86_64/pool.donor/ (donor)."
        echo "# Victim: pool $POOL_VICTIM_WORKERS (main + $POOL_VICTIM_WORKERS workers); donor: pool $POOL_DONOR_WORKERS (fewer threads, on purpose)."
        echo "# Worker roles (src/pool.c): with N workers and N >= 3, worker N-1 waits in"
        echo "# pthread_cond_wait, worker N-2 in read() on a pipe, the others count; the"
        echo "# main thread is in pthread_join. victim_thread<k>_* is the k-th NT_PRSTATUS."
        echo "arch=x86_64"
        echo "kernel=$(uname -r)"
        echo "criu_version=$CRIU_VERSION"
        echo "binary=$XPBIN"
        echo "binary_copy=bin/pool"
        echo "binary_build_id=$(readelf -nW "$PBIN" | sed -n 's/.*Build ID: *//p')"
        echo "cwd=$FIX"
        echo "victim_args=$POOL_VICTIM_WORKERS"
        echo "victim_pid=$POOL_VICTIM_PID"
        echo "victim_leader_tid=$POOL_VICTIM_PID"
        echo "victim_signal=3"
        echo "victim_coredump_filter=0xff"
        echo "victim_workers=$POOL_VICTIM_WORKERS"
        echo "thread_count=$(wc -l < "$SCRATCH/pool.threads")"
        echo "victim_tids=$(cut -d' ' -f1 "$SCRATCH/pool.threads" | paste -sd,)"
        k=0
        while read -r tid orig_rax rax rip rsp; do
            role=main worker=-1
            if [ "$tid" != "$POOL_VICTIM_PID" ] && [ -n "$POOL_GDB" ]; then
                for ((i = 0; i < POOL_VICTIM_WORKERS; i++)); do
                    [ "$(gdbval "tids_$i")" = "$tid" ] && worker=$i
                done
                if [ "$worker" -eq $((POOL_VICTIM_WORKERS - 1)) ]; then role=condwait
                elif [ "$worker" -eq $((POOL_VICTIM_WORKERS - 2)) ]; then role=reader
                elif [ "$worker" -ge 0 ]; then role=counter
                else role=unknown
                fi
            elif [ "$tid" != "$POOL_VICTIM_PID" ]; then
                role=unknown   # no gdb: tids[] not read
            fi
            echo "victim_thread${k}_tid=$tid"
            echo "victim_thread${k}_role=$role"
            echo "victim_thread${k}_worker=$worker"
            echo "victim_thread${k}_syscall_nr=$orig_rax"
            echo "victim_thread${k}_syscall=$(syscall_name "$orig_rax")"
            echo "victim_thread${k}_rax=$rax"
            echo "victim_thread${k}_rax_name=$(errno_name "$rax")"
            echo "victim_thread${k}_rip=$rip"
            echo "victim_thread${k}_rsp=$rsp"
            if [ -n "$POOL_GDB" ]; then
                echo "victim_thread${k}_gdb_my_count=$(gdbval "my_count_tid_$tid")"
            fi
            k=$((k + 1))
        done < "$SCRATCH/pool.threads"
        echo "donor_args=$POOL_DONOR_WORKERS"
        echo "donor_pid=$POOL_DONOR_PID"
        echo "donor_workers=$POOL_DONOR_WORKERS"
        echo "donor_thread_count=$(tr ',' '\n' <<<"$POOL_DONOR_TIDS" | grep -c .)"
        echo "donor_tids=$POOL_DONOR_TIDS"
        echo "core_file=$POOL_CORE_FILE"
        core_counts "$POOL_CORE" | sed 's/^/core_/'
        echo "core_disk_bytes=$(( $(stat -c %b "$POOL_CORE") * $(stat -c %B "$POOL_CORE") ))"
        if [ "$POOL_CORE_FILE" = pool.core.zst ]; then
            echo "core_zst_size_bytes=$(stat -c %s "$DATA/x86_64/pool.core.zst")"
        fi
        if [ -n "$POOL_GDB" ]; then
            echo "gdb_counts_addr=$(gdbval counts_addr)"
            echo "gdb_tids_addr=$(gdbval tids_addr)"
            for ((i = 0; i < POOL_VICTIM_WORKERS; i++)); do
                echo "gdb_counts_$i=$(gdbval "counts_$i")"
            done
            for ((i = 0; i < POOL_VICTIM_WORKERS; i++)); do
                echo "gdb_tids_$i=$(gdbval "tids_$i")"
            done
        fi
        donor_facts "$POOL_DONOR_DIR" "$POOL_DONOR_PID"
    } > "$DATA/x86_64/pool.facts.txt"
fi

# ================================================================ x86_64 shmem
# Memory that lived only in the process (tests/e2e/victims/shmem.c): each
# region holds a pattern seeded by the run's pid and a tick counter.
if want shmem; then
    SBIN="$DATA/bin/shmem"
    XSBIN="$FIX/shmem"
    log "building x86-64 shmem (dynamic, -O1 -g)"
    run mkdir -p "$DATA/bin" "$DATA/x86_64" "$FIX/shm"
    run cp "$DATA/../e2e/victims/shmem.c" "$FIX/src/shmem.c"
    (cd "$FIX" && run gcc -O1 -g -Wall -Wextra -o shmem src/shmem.c)
    run cp "$XSBIN" "$SBIN"
    rm -f "$DATA/x86_64/shmem.core.zst" "$DATA/x86_64/shmem.facts.txt"
    rm -rf "$DATA/x86_64/shmem.donor"

    log "SHMEM VICTIM: starting shmem with coredump_filter=0xff"
    launch "$FIX" "$XSBIN" "$FIX/shmem.out" "$FIX/shm"
    SHMEM_VICTIM_PID=$LAUNCHED_PID
    sleep 0.3
    # The victim's own view of its mappings, for tests independent of necro.
    SHMEM_MAPS=$(grep -E ' (/dev/zero|/memfd:.*|/.*) \(deleted\)$' "/proc/$SHMEM_VICTIM_PID/maps" || true)
    run kill -QUIT "$SHMEM_VICTIM_PID"
    reap "$SHMEM_VICTIM_PID"
    [ "$WAIT_STATUS" -eq $((128 + 3)) ] || die "shmem victim exit status $WAIT_STATUS, expected 131 (SIGQUIT)"
    SHMEM_CORE="$SCRATCH/core.$SHMEM_VICTIM_PID"
    [ -s "$SHMEM_CORE" ] || die "no core at $SHMEM_CORE"
    run zstd -q -19 "$SHMEM_CORE" -o "$DATA/x86_64/shmem.core.zst"
    chmod 0644 "$DATA/x86_64/shmem.core.zst"
    SHMEM_TICK=$(grep '^tick ' "$FIX/shmem.out" | tail -n 1 | cut -d' ' -f2)

    SHMEM_DONOR_DIR="$DATA/x86_64/shmem.donor"
    dump_donor "SHMEM DONOR" "$SHMEM_DONOR_DIR" "$XSBIN" "$FIX/shmem.out" "$FIX/shm"
    {
        echo "# Generated by tests/data/make-fixtures.sh - do not edit."
        echo "# Facts about x86_64/shmem.core.zst (victim) and x86_64/shmem.donor/ (donor)."
        echo "# victim_map_<k>: the victim's /proc/PID/maps lines of shared memory and deleted files."
        echo "arch=x86_64"
        echo "kernel=$(uname -r)"
        echo "criu_version=$CRIU_VERSION"
        echo "binary=$XSBIN"
        echo "binary_copy=bin/shmem"
        echo "victim_pid=$SHMEM_VICTIM_PID"
        echo "victim_seed=$SHMEM_VICTIM_PID"
        echo "victim_last_tick_written=$SHMEM_TICK"
        echo "victim_coredump_filter=0xff"
        echo "ghost_path=$FIX/shm/ghost-data"
        k=0
        while read -r line; do
            echo "victim_map_$k=$line"
            k=$((k + 1))
        done <<<"$SHMEM_MAPS"
        echo "victim_map_count=$k"
        echo "donor_pid=$DONOR_PID"
        core_counts "$SHMEM_CORE" | sed 's/^/core_/'
        donor_facts "$SHMEM_DONOR_DIR" "$DONOR_PID"
    } > "$DATA/x86_64/shmem.facts.txt"
fi

# ================================================================ x86_64 epoll
# epoll registrations whose data are pointers (src/epoll.c): the victim writes
# the values it registered; the donor's are its own (other load addresses).
if want epoll; then
    EBIN="$DATA/bin/epoll"
    XEBIN="$FIX/epoll"
    log "building x86-64 epoll (dynamic, -O1 -g)"
    run mkdir -p "$DATA/bin" "$DATA/x86_64"
    run cp "$DATA/src/epoll.c" "$FIX/src/epoll.c"
    (cd "$FIX" && run gcc -O1 -g -Wall -Wextra -o epoll src/epoll.c)
    run cp "$XEBIN" "$EBIN"
    rm -f "$DATA/x86_64/epoll.core.zst" "$DATA/x86_64/epoll.facts.txt"
    rm -rf "$DATA/x86_64/epoll.donor"

    log "EPOLL VICTIM: starting epoll with coredump_filter=0xff"
    rm -f "$FIX/epoll.out"
    launch "$FIX" "$XEBIN" "$FIX/epoll.out"
    EPOLL_VICTIM_PID=$LAUNCHED_PID
    sleep 0.3
    [ -s "$FIX/epoll.out" ] || die "the epoll victim wrote no $FIX/epoll.out"
    EPOLL_VICTIM_OUT=$(cat "$FIX/epoll.out")
    run kill -QUIT "$EPOLL_VICTIM_PID"
    reap "$EPOLL_VICTIM_PID"
    [ "$WAIT_STATUS" -eq $((128 + 3)) ] || die "epoll victim exit status $WAIT_STATUS, expected 131 (SIGQUIT)"
    EPOLL_CORE="$SCRATCH/core.$EPOLL_VICTIM_PID"
    [ -s "$EPOLL_CORE" ] || die "no core at $EPOLL_CORE"
    run zstd -q -19 "$EPOLL_CORE" -o "$DATA/x86_64/epoll.core.zst"
    chmod 0644 "$DATA/x86_64/epoll.core.zst"

    EPOLL_DONOR_DIR="$DATA/x86_64/epoll.donor"
    dump_donor "EPOLL DONOR" "$EPOLL_DONOR_DIR" "$XEBIN" "$FIX/epoll.out"
    {
        echo "# Generated by tests/data/make-fixtures.sh - do not edit."
        echo "# Facts about x86_64/epoll.core.zst (victim) and x86_64/epoll.donor/ (donor)."
        echo "# victim_*: what the victim registered with epoll_ctl (its own report);"
        echo "# donor_*: the same of the donor run."
        echo "arch=x86_64"
        echo "kernel=$(uname -r)"
        echo "criu_version=$CRIU_VERSION"
        echo "binary=$XEBIN"
        echo "binary_copy=bin/epoll"
        echo "victim_pid=$EPOLL_VICTIM_PID"
        sed 's/^/victim_/' <<<"$EPOLL_VICTIM_OUT"
        echo "donor_pid=$DONOR_PID"
        sed 's/^/donor_/' "$FIX/epoll.out"
        core_counts "$EPOLL_CORE" | sed 's/^/core_/'
        donor_facts "$EPOLL_DONOR_DIR" "$DONOR_PID"
    } > "$DATA/x86_64/epoll.facts.txt"
fi

# ================================================================ aarch64
if want aarch64; then
    log "building aarch64 crash (static, -O1 -g)"
    run mkdir -p "$DATA/bin" "$DATA/aarch64"
    ABIN="$DATA/bin/crash_aarch64"
    XABIN="$FIX/crash_aarch64"
    run cp "$DATA/src/crash_aarch64.c" "$FIX/src/crash_aarch64.c"
    (cd "$FIX" && run aarch64-linux-gnu-gcc -static -O1 -g -Wall -Wextra -o crash_aarch64 src/crash_aarch64.c)
    run cp "$XABIN" "$ABIN"
    rm -f "$DATA/aarch64/crash.core" "$DATA/aarch64/facts.txt"
    QDIR="$FIX/qemu"
    rm -f "$QDIR"/qemu_crash_aarch64_*.core   # earlier runs' guest cores only
    # qemu-user (7.2) writes the guest core itself, ignoring core_pattern, as
    #   qemu_<basename>_<YYYYMMDD-HHMMSS>_<pid>.core  in its cwd
    # (e.g. qemu_crash_aarch64_20261126-231753_10724.core);
    # ignoring core_pattern; it then dies of the same signal, so the host kernel
    # also dumps qemu itself via core_pattern (into $SCRATCH, discarded; filter 0
    # keeps it small). -s shrinks the guest stack from 8 MiB (dumped in full) to
    # 128 KiB so the guest core stays small.
    log "running crash under qemu-aarch64 (expect SIGSEGV)"
    QEMU_STATUS=0
    (
        cd "$QDIR"
        ulimit -c unlimited
        echo 0 > /proc/self/coredump_filter
        close_stray_fds
        printf '+ (cd %s; %s qemu-aarch64 -s 131072 %s)\n' "$QDIR" "${CLEAN_ENV[*]}" "$XABIN" >&2
        exec "${CLEAN_ENV[@]}" qemu-aarch64 -s 131072 "$XABIN" </dev/null >/dev/null 2>&1
    ) || QEMU_STATUS=$?
    [ "$QEMU_STATUS" -eq $((128 + 11)) ] || die "qemu exit status $QEMU_STATUS, expected 139 (SIGSEGV)"
    shopt -s nullglob
    QCORES=("$QDIR"/qemu_crash_aarch64_*.core)
    shopt -u nullglob
    [ "${#QCORES[@]}" -eq 1 ] || die "expected exactly one qemu_crash_aarch64_*.core in $QDIR, found ${#QCORES[@]}"
    log "qemu wrote $(basename "${QCORES[0]}")"
    run cp "${QCORES[0]}" "$DATA/aarch64/crash.core"
    chmod 0644 "$DATA/aarch64/crash.core"
    {
        echo "# Generated by tests/data/make-fixtures.sh - do not edit."
        echo "# Facts about aarch64/crash.core, written by qemu-aarch64 (not the kernel)."
        echo "arch=aarch64"
        echo "qemu_version=$(qemu-aarch64 --version | head -n1 | sed 's/^qemu-aarch64 version //')"
        echo "qemu_core_name=$(basename "${QCORES[0]}")"
        QNAME=$(basename "${QCORES[0]}" .core)
        echo "qemu_pid=${QNAME##*_}"
        echo "binary=$XABIN"
        echo "binary_copy=bin/crash_aarch64"
        echo "cwd=$QDIR"
        echo "binary_build_id=$(readelf -nW "$ABIN" | sed -n 's/.*Build ID: *//p')"
        echo "crash_signal=11"
        core_counts "$DATA/aarch64/crash.core" | sed 's/^/core_/'
    } > "$DATA/aarch64/facts.txt"
fi

# ================================================================ x86_64 titles
# One victim per way of rewriting a process title (src/title.c). Each records
# the kernel's mm fields before the rewrite, so tests can check that necro
# recovers them from the core. coredump_filter 0x13 (anonymous private memory
# and ELF headers): the stack and the heap are all the tests read, and the
# cores stay small.
if want titles; then
    TITLE_MODES=(intact redis nginx ps_status argv0 argv1null zeroed wiped)
    TITLE_ARGS=(alpha "beta gamma" --delta=4)
    log "building x86-64 title (static, -O1 -g)"
    run mkdir -p "$DATA/x86_64"
    run cp "$DATA/src/title.c" "$FIX/src/title.c"
    (cd "$FIX" && run gcc -static -O1 -g -Wall -Wextra -o title src/title.c)
    rm -f "$DATA"/x86_64/title-*.core.zst "$DATA/x86_64/title.facts.txt" "$FIX"/*.kernel
    TITLE_FACTS="$SCRATCH/title.facts.txt"
    {
        echo "# Generated by tests/data/make-fixtures.sh - do not edit."
        echo "# Per MODE: the kernel's mm fields of \`title MODE ${TITLE_ARGS[*]}\` read from"
        echo "# /proc/self/stat (fields 28, 48-51) before it rewrote its title, and its core."
        echo "arch=x86_64"
        echo "kernel=$(uname -r)"
        echo "binary=$FIX/title"
        echo "modes=$(IFS=,; echo "${TITLE_MODES[*]}")"
    } > "$TITLE_FACTS"
    for mode in "${TITLE_MODES[@]}"; do
        LAUNCH_FILTER=0x13 launch "$FIX" "$FIX/title" "$mode" "${TITLE_ARGS[@]}"
        pid=$LAUNCHED_PID
        for _ in $(seq 50); do [ -s "$FIX/$mode.kernel" ] && break; sleep 0.02; done
        sleep 0.1
        run kill -QUIT "$pid"
        reap "$pid"
        [ "$WAIT_STATUS" -eq $((128 + 3)) ] || die "title $mode exit status $WAIT_STATUS, expected 131 (SIGQUIT)"
        [ -s "$SCRATCH/core.$pid" ] || die "no core at $SCRATCH/core.$pid"
        run zstd -q -19 "$SCRATCH/core.$pid" -o "$DATA/x86_64/title-$mode.core.zst"
        chmod 0644 "$DATA/x86_64/title-$mode.core.zst"
        {
            echo "${mode}_pid=$pid"
            echo "${mode}_core=title-$mode.core.zst"
            echo "${mode}_core_size_bytes=$(stat -c %s "$SCRATCH/core.$pid")"
            sed "s/^/${mode}_/" "$FIX/$mode.kernel"
        } >> "$TITLE_FACTS"
    done
    cp "$TITLE_FACTS" "$DATA/x86_64/title.facts.txt"
    chmod 0644 "$DATA/x86_64/title.facts.txt"
fi

# ================================================================ x86_64 norandom
# The counter without address randomisation (setarch -R, as under gdb or with
# randomize_va_space < 2): its brk heap starts right where the executable
# ends. Victim and donor both run that way.
if want norandom; then
    [ -x "$BIN" ] || die "bin/counter is missing: make the counter set first"
    cp "$BIN" "$XBIN"
    rm -f "$DATA/x86_64/norandom.core.zst" "$DATA/x86_64/norandom.facts.txt"
    rm -rf "$DATA/x86_64/norandom.donor"
    LAUNCH_NORANDOM=1 launch "$FIX" "$XBIN"
    NR_PID=$LAUNCHED_PID
    sleep 0.3
    NR_STAT=$(sed 's/^.*) //' "/proc/$NR_PID/stat")
    NR_HEAP=$(awk '$6 == "[heap]" { print $1 }' "/proc/$NR_PID/maps")
    run kill -QUIT "$NR_PID"
    reap "$NR_PID"
    [ "$WAIT_STATUS" -eq $((128 + 3)) ] || die "norandom victim exit status $WAIT_STATUS, expected 131"
    [ -s "$SCRATCH/core.$NR_PID" ] || die "no core at $SCRATCH/core.$NR_PID"
    run zstd -q -19 "$SCRATCH/core.$NR_PID" -o "$DATA/x86_64/norandom.core.zst"
    chmod 0644 "$DATA/x86_64/norandom.core.zst"
    LAUNCH_NORANDOM=1 dump_donor "NORANDOM DONOR" "$DATA/x86_64/norandom.donor" "$XBIN"
    read -r -a NR_F <<<"$NR_STAT"   # NR_F[k] is field k+3 of /proc/PID/stat
    {
        echo "# Generated by tests/data/make-fixtures.sh - do not edit."
        echo "# x86_64/norandom.core.zst and norandom.donor/: bin/counter run under setarch -R."
        echo "binary=$XBIN"
        echo "victim_pid=$NR_PID"
        echo "donor_pid=$DONOR_PID"
        echo "victim_heap=$NR_HEAP"
        printf 'victim_end_data=%#x\nvictim_start_brk=%#x\n' "${NR_F[43]}" "${NR_F[44]}"
        donor_facts "$DATA/x86_64/norandom.donor" "$DONOR_PID"
    } > "$DATA/x86_64/norandom.facts.txt"
fi

# ================================================================ x86_64 manymaps
# A core without NT_FILE: more VMAs than the kernel's NT_FILE note may
# describe (64 bytes each must stay below kernel.core_file_note_size_limit,
# whose smallest allowed value is its 4 MiB default: 65 536 VMAs). The one-page
# regions are untouched (not dumped) but every 32nd: the core stays small.
if want manymaps; then
    MBIN="$DATA/bin/manymaps"
    XMBIN="$FIX/manymaps"
    log "building x86-64 manymaps (dynamic, -O1 -g)"
    run mkdir -p "$DATA/bin" "$DATA/x86_64"
    run cp "$DATA/../e2e/victims/manymaps.c" "$FIX/src/manymaps.c"
    (cd "$FIX" && run gcc -O1 -g -Wall -Wextra -o manymaps src/manymaps.c)
    run cp "$XMBIN" "$MBIN"
    rm -f "$DATA/x86_64/manymaps.core.zst" "$DATA/x86_64/manymaps.facts.txt" "$FIX/manymaps.out"
    rm -rf "$DATA/x86_64/manymaps.donor"
    seq 1 1000 > "$FIX/manymaps.data"
    OLD_MAX_MAP_COUNT=$(cat /proc/sys/vm/max_map_count)
    log "vm.max_map_count was $OLD_MAX_MAP_COUNT; raising it to 200000 (restored on exit)"
    printf '%s\n' 200000 > /proc/sys/vm/max_map_count

    log "MANYMAPS VICTIM: 65600 regions, coredump_filter=0x33"
    LAUNCH_FILTER=0x33 launch "$FIX" "$XMBIN" "$FIX/manymaps.out" 65600 "$FIX/manymaps.data"
    MM_PID=$LAUNCHED_PID
    for _ in $(seq 100); do grep -q '^ready ' "$FIX/manymaps.out" 2>/dev/null && break; sleep 0.05; done
    grep -q '^ready ' "$FIX/manymaps.out" || die "the manymaps victim did not get ready"
    MM_MAPS=$(cat "/proc/$MM_PID/maps")
    run kill -QUIT "$MM_PID"
    reap "$MM_PID"
    [ "$WAIT_STATUS" -eq $((128 + 3)) ] || die "manymaps victim exit status $WAIT_STATUS, expected 131 (SIGQUIT)"
    MM_CORE="$SCRATCH/core.$MM_PID"
    [ -s "$MM_CORE" ] || die "no core at $MM_CORE"
    readelf -nW "$MM_CORE" | grep -q NT_FILE && die "the manymaps core has an NT_FILE note: too few VMAs?"
    run zstd -q -19 "$MM_CORE" -o "$DATA/x86_64/manymaps.core.zst"
    chmod 0644 "$DATA/x86_64/manymaps.core.zst"
    # A small donor: the plan takes the VMAs from the core, the donor lends flags.
    dump_donor "MANYMAPS DONOR" "$DATA/x86_64/manymaps.donor" "$XMBIN" "$FIX/manymaps.out" 64 "$FIX/manymaps.data"
    {
        echo "# Generated by tests/data/make-fixtures.sh - do not edit."
        echo "# x86_64/manymaps.core.zst (victim, no NT_FILE) and manymaps.donor/ (64-region donor)."
        echo "# victim_map_<k>: the victim's /proc/PID/maps lines that name a file;"
        echo "# object_<k>_*: each such file but the data file: build-id and PT_LOADs"
        echo "# (readelf -lW: offset vaddr filesz memsz flags, hex)."
        echo "binary=$XMBIN"
        echo "binary_copy=bin/manymaps"
        echo "data_file=$FIX/manymaps.data"
        echo "victim_pid=$MM_PID"
        echo "victim_maps_lines=$(wc -l <<<"$MM_MAPS")"
        echo "donor_pid=$DONOR_PID"
        k=0
        while read -r line; do
            echo "victim_map_$k=$line"
            k=$((k + 1))
        done < <(awk '$6 ~ /^\// { print $1, $2, $3, $6 }' <<<"$MM_MAPS")
        echo "victim_map_count=$k"
        k=0
        for obj in $(awk '$6 ~ /^\// { print $6 }' <<<"$MM_MAPS" | awk '!seen[$0]++'); do
            [ "$obj" = "$FIX/manymaps.data" ] && continue
            echo "object_${k}_path=$obj"
            echo "object_${k}_build_id=$(readelf -nW "$obj" | sed -n 's/.*Build ID: *\([0-9a-f]*\).*/\1/p' | head -n1)"
            j=0
            while read -r off vaddr filesz memsz flags; do
                echo "object_${k}_load_${j}=$off $vaddr $filesz $memsz $flags"
                j=$((j + 1))
            done < <(readelf -lW "$obj" | awk '$1 == "LOAD" { f = $7; if ($8 != "" && $8 !~ /^0x/) f = f $8; print $2, $3, $5, $6, f }')
            echo "object_${k}_load_count=$j"
            k=$((k + 1))
        done
        echo "object_count=$k"
        core_counts "$MM_CORE" | sed 's/^/core_/'
        donor_facts "$DATA/x86_64/manymaps.donor" "$DONOR_PID"
    } > "$DATA/x86_64/manymaps.facts.txt"
    printf '%s\n' "$OLD_MAX_MAP_COUNT" > /proc/sys/vm/max_map_count
    OLD_MAX_MAP_COUNT=
fi

# ================================================================ x86_64 manymaps-static
# The same program linked -static: a core without NT_FILE (too many VMAs)
# and without a dynamic linker's list, so that only the executable's own
# headers, found on disk by AT_EXECFN, prpsinfo or --exe, name its mappings.
# Filter 0x33 dumps of the executable only the page with its ELF header.
# No donor: the tests resurrect it donor-less.
if want manymaps-static; then
    SBIN="$DATA/bin/manymaps-static"
    XSBIN="$FIX/manymaps-static"
    log "building x86-64 manymaps-static (-static, -O1 -g)"
    run mkdir -p "$DATA/bin" "$DATA/x86_64"
    run cp "$DATA/../e2e/victims/manymaps.c" "$FIX/src/manymaps.c"
    (cd "$FIX" && run gcc -O1 -g -Wall -Wextra -static -DMANYMAPS_STATIC -o manymaps-static src/manymaps.c)
    run cp "$XSBIN" "$SBIN"
    rm -f "$DATA/x86_64/manymaps-static.core.zst" "$DATA/x86_64/manymaps-static.facts.txt" "$FIX/manymaps-static.out"
    OLD_MAX_MAP_COUNT=$(cat /proc/sys/vm/max_map_count)
    log "vm.max_map_count was $OLD_MAX_MAP_COUNT; raising it to 200000 (restored on exit)"
    printf '%s\n' 200000 > /proc/sys/vm/max_map_count

    log "MANYMAPS-STATIC VICTIM: 65600 regions, coredump_filter=0x33"
    LAUNCH_FILTER=0x33 launch "$FIX" "$XSBIN" "$FIX/manymaps-static.out" 65600
    MS_PID=$LAUNCHED_PID
    for _ in $(seq 100); do grep -q '^ready ' "$FIX/manymaps-static.out" 2>/dev/null && break; sleep 0.05; done
    grep -q '^ready ' "$FIX/manymaps-static.out" || die "the manymaps-static victim did not get ready"
    MS_MAPS=$(cat "/proc/$MS_PID/maps")
    sleep 0.2 # a few ticks: counter > 0
    run kill -QUIT "$MS_PID"
    reap "$MS_PID"
    [ "$WAIT_STATUS" -eq $((128 + 3)) ] || die "manymaps-static victim exit status $WAIT_STATUS, expected 131 (SIGQUIT)"
    MS_CORE="$SCRATCH/core.$MS_PID"
    [ -s "$MS_CORE" ] || die "no core at $MS_CORE"
    readelf -nW "$MS_CORE" | grep -q NT_FILE && die "the manymaps-static core has an NT_FILE note: too few VMAs?"
    run zstd -q -19 "$MS_CORE" -o "$DATA/x86_64/manymaps-static.core.zst"
    chmod 0644 "$DATA/x86_64/manymaps-static.core.zst"
    {
        echo "# Generated by tests/data/make-fixtures.sh - do not edit."
        echo "# x86_64/manymaps-static.core.zst: a static program's core without NT_FILE."
        echo "# victim_map_<k>: the victim's /proc/PID/maps lines that name a file;"
        echo "# load_<k>: the program's PT_LOADs (readelf -lW: offset vaddr filesz memsz flags, hex)."
        echo "binary=$XSBIN"
        echo "binary_copy=bin/manymaps-static"
        echo "build_id=$(readelf -nW "$SBIN" | sed -n 's/.*Build ID: *\([0-9a-f]*\).*/\1/p' | head -n1)"
        echo "entry=$(readelf -hW "$SBIN" | sed -n 's/^ *Entry point address: *//p')"
        echo "victim_pid=$MS_PID"
        echo "victim_maps_lines=$(wc -l <<<"$MS_MAPS")"
        echo "last_counter=$(grep -v '^ready' "$FIX/manymaps-static.out" | tail -n1)"
        k=0
        while read -r line; do
            echo "victim_map_$k=$line"
            k=$((k + 1))
        done < <(awk '$6 ~ /^\// { print $1, $2, $3, $6 }' <<<"$MS_MAPS")
        echo "victim_map_count=$k"
        j=0
        while read -r off vaddr filesz memsz flags; do
            echo "load_${j}=$off $vaddr $filesz $memsz $flags"
            j=$((j + 1))
        done < <(readelf -lW "$SBIN" | awk '$1 == "LOAD" { f = $7; if ($8 != "" && $8 !~ /^0x/) f = f $8; print $2, $3, $5, $6, f }')
        echo "load_count=$j"
        core_counts "$MS_CORE" | sed 's/^/core_/'
    } > "$DATA/x86_64/manymaps-static.facts.txt"
    printf '%s\n' "$OLD_MAX_MAP_COUNT" > /proc/sys/vm/max_map_count
    OLD_MAX_MAP_COUNT=
fi

# ================================================================ x86_64 capture
# catchme killed under necro-catch (core_pattern = |NECRO_CATCH ... %P, with
# core_pipe_limit 1 so the kernel keeps /proc/PID until the helper exits).
if want capture; then
    [ -n "${NECRO_CATCH:-}" ] && [ -x "$NECRO_CATCH" ] ||
        die "NECRO_CATCH must name the built necro-catch (build/examples/catch/necro-catch)"
    log "building x86-64 catchme (dynamic, -O1 -g)"
    run mkdir -p "$DATA/bin" "$DATA/x86_64" "$FIX/catch"
    run cp "$DATA/src/catchme.c" "$FIX/src/catchme.c"
    (cd "$FIX" && run gcc -O1 -g -Wall -Wextra -o catchme src/catchme.c)
    run cp "$FIX/catchme" "$DATA/bin/catchme"
    CATCH_OUT="$SCRATCH/catch"
    run mkdir -m 0700 "$CATCH_OUT"
    OLD_PIPE_LIMIT=$(cat /proc/sys/kernel/core_pipe_limit)
    echo 1 > /proc/sys/kernel/core_pipe_limit
    printf '|%s --dir %s --timeout 10s %%P\n' "$NECRO_CATCH" "$CATCH_OUT" > /proc/sys/kernel/core_pattern
    rm -f "$FIX/catch/ready"
    launch "$FIX/catch" "$FIX/catchme"
    VICTIM_PID=$LAUNCHED_PID
    for _ in $(seq 100); do [ -e "$FIX/catch/ready" ] && break; sleep 0.05; done
    [ -e "$FIX/catch/ready" ] || die "catchme did not get ready"
    run kill -QUIT "$VICTIM_PID"
    reap "$VICTIM_PID"
    printf '%s\n' "$SCRATCH/core.%p" > /proc/sys/kernel/core_pattern
    [ -s "$CATCH_OUT/core.$VICTIM_PID" ] || die "necro-catch wrote no complete core.$VICTIM_PID: $(ls "$CATCH_OUT")"
    rm -rf "$DATA/x86_64/catch.capture"
    run cp -r "$CATCH_OUT/core.$VICTIM_PID.necro" "$DATA/x86_64/catch.capture"
    chmod 0755 "$DATA/x86_64/catch.capture"; chmod 0644 "$DATA/x86_64/catch.capture"/*
    run zstd -q -19 -f "$CATCH_OUT/core.$VICTIM_PID" -o "$DATA/x86_64/catch.core.zst"
    {
        echo "# Generated by tests/data/make-fixtures.sh - do not edit."
        echo "# Facts about x86_64/catch.capture/ and catch.core.zst (catchme killed under necro-catch)."
        echo "kernel=$(uname -r)"
        echo "victim_pid=$VICTIM_PID"
        echo "cwd=$FIX/catch"
        echo "binary=$FIX/catchme"
        sed 's/^/port_/; s/ /=/' "$FIX/catch/ports.txt"
        echo "victim_fd_count=$(wc -l < "$FIX/catch/fds.txt")"
        echo "victim_fds=$(cut -d' ' -f1 "$FIX/catch/fds.txt" | sort -n | paste -sd,)"
        while read -r fd link; do echo "victim_fd_$fd=$link"; done < "$FIX/catch/fds.txt"
        echo "core_size_bytes=$(stat -c %s "$CATCH_OUT/core.$VICTIM_PID")"
        echo "core_disk_bytes=$(( $(stat -c %b "$CATCH_OUT/core.$VICTIM_PID") * $(stat -c %B "$CATCH_OUT/core.$VICTIM_PID") ))"
        echo "core_sha256=$(sha256sum "$CATCH_OUT/core.$VICTIM_PID" | cut -d' ' -f1)"
    } > "$DATA/x86_64/catch.facts.txt"
fi

# ================================================================ summary
log "done; fixtures:"
(cd "$DATA" && find bin x86_64 aarch64 -type f -printf '%10s  %p\n' | sort -k2) >&2
log "total: $(du -sh --exclude=.git "$DATA" | cut -f1)"
