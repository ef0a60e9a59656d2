#!/usr/bin/env bash
# make-fixtures.sh - regenerate necro's real test fixtures under tests/data/.
#
# Produces:
#   bin/counter                  x86-64 dynamic build of src/counter.c
#   bin/crash_aarch64            aarch64 static build of src/crash_aarch64.c
#   x86_64/counter.core          ELF core of a VICTIM run (SIGQUIT, filter 0xff)
#   x86_64/counter.donor/*.img   CRIU 4.x images of a separate DONOR run
#   x86_64/facts.txt             facts the tests can assert
#   aarch64/crash.core           aarch64 ELF core written by qemu-aarch64
#   aarch64/facts.txt            facts the tests can assert
#
# Requirements: root (core_pattern, CRIU), NECRO_CRIU=/path/to/criu (4.x),
# gcc, aarch64-linux-gnu-gcc, qemu-aarch64, readelf. Optional: llvm-readelf
# (NT_FILE entry counts), gdb (counter value cross-check), crit (image check).
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
# (machine-wide); the old value is restored on exit. Creates/overwrites
# /tmp/necro-fixture (kept). Only processes started by this script are ever
# signalled, by PID.
set -euo pipefail

log() { printf '==> %s\n' "$*" >&2; }
run() { printf '+ %s\n' "$*" >&2; "$@"; }
die() { printf 'make-fixtures.sh: error: %s\n' "$*" >&2; exit 1; }

DATA=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# ---------------------------------------------------------------- checks
[ "$(id -u)" -eq 0 ] || die "must run as root (core_pattern + CRIU dump)"
[ -n "${NECRO_CRIU:-}" ] ||
    die "NECRO_CRIU is not set; point it at a CRIU 4.x binary, e.g. NECRO_CRIU=/path/to/criu $0"
[ -x "$NECRO_CRIU" ] || die "NECRO_CRIU=$NECRO_CRIU is not an executable file"
for tool in gcc aarch64-linux-gnu-gcc qemu-aarch64 readelf setsid; do
    command -v "$tool" >/dev/null || die "required tool '$tool' not found in PATH"
done
CRIU_VERSION=$("$NECRO_CRIU" --version | sed -n 's/^Version: *//p')
log "using CRIU $CRIU_VERSION at $NECRO_CRIU"

# ---------------------------------------------------------------- state
SCRATCH=$(mktemp -d /tmp/necro-fixtures.XXXXXX)
OLD_CORE_PATTERN=$(cat /proc/sys/kernel/core_pattern)
STARTED_PIDS=()
BIN="$DATA/bin/counter"
FIX=/tmp/necro-fixture
XBIN="$FIX/counter"     # what victim and donor actually run (copy of $BIN)
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
        # Only our own children that are still running our binary.
        if [ -e "/proc/$pid" ] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$XBIN" ]; then
            kill -KILL "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    printf '%s\n' "$OLD_CORE_PATTERN" > /proc/sys/kernel/core_pattern
    rm -rf "$SCRATCH"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "core_pattern was '$OLD_CORE_PATTERN'; setting it to $SCRATCH/core.%p (restored on exit)"
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
        echo 0xff > /proc/self/coredump_filter
        close_stray_fds
        exec setsid "${CLEAN_ENV[@]}" "$@" </dev/null >/dev/null 2>&1
    ) &
    LAUNCHED_PID=$!
    STARTED_PIDS+=("$LAUNCHED_PID")
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

# ================================================================ x86_64
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

log "DONOR: starting a separate run of counter"
launch "$FIX" "$XBIN"
DONOR_PID=$LAUNCHED_PID
log "DONOR pid=$DONOR_PID; letting it run 0.3 s"
sleep 0.3
DONOR_DIR="$DATA/x86_64/counter.donor"
run mkdir -p "$DONOR_DIR"
if ! run "$NECRO_CRIU" dump -t "$DONOR_PID" -D "$DONOR_DIR" -v4 -o dump.log; then
    tail -n 40 "$DONOR_DIR/dump.log" >&2 || true
    die "CRIU dump of donor $DONOR_PID failed"
fi
reap "$DONOR_PID"
# Keep the images; drop the -v4 log (large, machine-specific).
mv "$DONOR_DIR/dump.log" "$SCRATCH/dump.log"
chmod 0644 "$DONOR_DIR"/*
if command -v crit >/dev/null; then
    log "sanity-decoding donor images with $(command -v crit)"
    for img in "$DONOR_DIR"/*.img; do
        case ${img##*/} in pages-*.img) continue ;; esac # raw page data
        crit show "$img" >/dev/null || die "crit cannot decode $img"
    done
fi

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
    echo "donor_pages_img_pages=$(( $(stat -c %s "$DONOR_DIR/pages-1.img") / 4096 ))"
    if command -v crit >/dev/null; then
        echo "donor_pagemap_entries=$(crit show "$DONOR_DIR/pagemap-$DONOR_PID.img" | grep -c '"vaddr"' || true)"
        echo "donor_vma_count=$(crit show "$DONOR_DIR/mm-$DONOR_PID.img" | grep -c '"start"' || true)"
    fi
    echo "donor_images=$(cd "$DONOR_DIR" && printf '%s\n' ./*.img | sed 's|^\./||' | paste -sd' ')"
} > "$DATA/x86_64/facts.txt"

# ================================================================ aarch64
log "building aarch64 crash (static, -O1 -g)"
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

# ================================================================ summary
log "done; fixtures:"
(cd "$DATA" && find bin x86_64 aarch64 -type f -printf '%10s  %p\n' | sort -k2) >&2
log "total: $(du -sh --exclude=.git "$DATA" | cut -f1)"
