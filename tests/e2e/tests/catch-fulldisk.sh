#!/usr/bin/env bash
# catch-fulldisk.sh - necro-catch writing onto a file system that fills up
# (issue 21): a 64 MiB ext4 in a loop file (`mount -o loop`; a 64 MiB tmpfs
# where loop devices cannot be had), core_pattern `|necro-catch -d FS/caught
# %P`. Three crashes of victims/pattern.c (incompressible memory):
#   1. mid-core: 128 MiB, the disk fills while the core is written;
#   2. already full: 16 MiB more onto the full file system;
#   3. zstd mid-core: the file system emptied, 128 MiB under `--zstd`.
# Each time: the victim dies of SIGQUIT and is let go (the helper drains its
# core to the end); no file has a complete core's name (core.PID,
# core.PID.zst); what was written is core.PID[.zst].partial beside its
# core.PID[.zst].incomplete marker, and capture.log (where it could be written)
# says `core INCOMPLETE (... No space left on device)`; a capture.txt that
# exists ends with its `end` line (a cut one stays capture.txt.partial).
# Skipped (77) only when neither a loop mount nor a tmpfs can be mounted.
#@test catch-fulldisk timeout=180   necro-catch on a 64 MiB file system that fills up mid-core: no half-written core looks complete
# shellcheck source=../lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
e2e_args e2e. "$@"
need_root "core_pattern, mount"
need_built "$CATCH" necro-catch skip
BIN=$VICTIMS/pattern
[ -x "$BIN" ] || fatal "victim '$BIN' is not built"
e2e_begin

FS=$WORK/fs
mkdir "$FS"
why_not=
if command -v mkfs.ext4 >/dev/null && truncate -s 64M "$WORK/fs.img" && mkfs.ext4 -q -F "$WORK/fs.img" 2>"$WORK/mkfs.err" &&
    mount -o loop "$WORK/fs.img" "$FS" 2>"$WORK/mount.err"; then
    KIND="64 MiB ext4 on a loop device"
else
    why_not="ext4 on a loop device: $(cat "$WORK/mkfs.err" "$WORK/mount.err" 2>/dev/null | tail -n 1)"
    mount -t tmpfs -o size=64m,mode=0700 necro-fulldisk "$FS" 2>"$WORK/tmpfs.err" ||
        skip "no small file system to fill: $why_not; tmpfs: $(cat "$WORK/tmpfs.err")"
    KIND="64 MiB tmpfs ($why_not)"
fi
CLEANUPS+=("umount '$FS' || umount -l '$FS'")
log "$KIND at $FS: $(df -h --output=size,avail "$FS" | tail -n 1)"
OUT=$FS/caught
mkdir -m 0700 "$OUT"

# crash NAME MIB: a pattern victim of MIB MiB dies of SIGQUIT; sets VPID.
crash() {
    local t0
    LAUNCH_DIR=$WORK/$1
    mkdir -p "$LAUNCH_DIR"
    launch "$BIN" "$LAUNCH_DIR/ready" "$2" 1
    VPID=$LAUNCHED
    wait_for 30 test -e "$LAUNCH_DIR/ready" || fatal "$1: the victim did not fill its $2 MiB"
    t0=$(now_ms)
    kill -QUIT "$VPID"
    reap_victim 131
    log "$1: let go $(( $(now_ms) - t0 )) ms after the kill; $FS: $(df -k --output=avail "$FS" | tail -n 1) KiB left"
}

# nothing_looks_complete NAME CORE: CORE (core.PID or core.PID.zst) was cut by
# the full disk and nothing says otherwise.
nothing_looks_complete() {
    local name=$1 core=$OUT/$2 cap=$OUT/${2%.zst}.necro listing
    listing=$(cd "$OUT" && ls -d "core.$VPID"* 2>/dev/null | paste -sd' ')
    # Every name that a complete core would have: core.PID, core.PID.zst, a reused pid's core.PID.N.
    if compgen -G "$OUT/core.$VPID" >/dev/null || compgen -G "$OUT/core.$VPID.zst" >/dev/null ||
        compgen -G "$OUT/core.$VPID.[0-9]*" >/dev/null; then
        fail "$name: a half-written core has a complete core's name: $listing"
        return
    fi
    pass "$name: no file has a complete core's name ($listing)"
    if [ -e "$core.partial" ]; then
        [ -e "$core.incomplete" ] && pass "$name: $2.partial ($(file_size "$core.partial") bytes) has its marker $2.incomplete" ||
            fail "$name: $2.partial is there without its $2.incomplete marker"
    else
        # Not even the .partial could be created: the helper wrote nothing (exit 1).
        pass "$name: the full disk took not even $2.partial: nothing was written ($listing)"
        return
    fi
    if [ -f "$cap/capture.log" ]; then
        grep -q "core INCOMPLETE (.*No space left on device.*): $2.partial stays" "$cap/capture.log" &&
            pass "$name: capture.log: $(grep -o 'core INCOMPLETE.*' "$cap/capture.log")" ||
            fail "$name: capture.log does not say the core is incomplete for want of space: $(tail -n 3 "$cap/capture.log" | paste -sd'|')"
    fi
    if [ -e "$cap/capture.txt" ]; then
        tail -n 1 "$cap/capture.txt" | grep -q '^end fds=' && pass "$name: capture.txt is whole (its end line)" ||
            fail "$name: capture.txt has no end line: a cut capture looks complete"
    else
        pass "$name: no capture.txt ($(cd "$cap" 2>/dev/null && ls | paste -sd' '))"
    fi
}

cores_through_catch "|$CATCH -d $OUT %P"
crash mid-core 128
nothing_looks_complete mid-core "core.$VPID"
read_bytes=$(sed -n 's/.*core: \([0-9]*\) bytes read.*/\1/p' "$OUT/core.$VPID.necro/capture.log")
partial=$(file_size "$OUT/core.$VPID.partial")
[ -n "$read_bytes" ] && [ "$partial" -gt 0 ] && [ "$partial" -lt "$read_bytes" ] &&
    pass "mid-core: the disk filled mid-core: $partial of $read_bytes bytes written" ||
    fail "mid-core: expected a .partial cut short of the core: $partial of '${read_bytes:-?}' bytes"

crash already-full 16
nothing_looks_complete already-full "core.$VPID"

find "$OUT" -mindepth 1 -delete
cores_through_catch "|$CATCH -d $OUT --zstd %P"
crash zstd-mid-core 128
nothing_looks_complete zstd-mid-core "core.$VPID.zst"
exit 0
