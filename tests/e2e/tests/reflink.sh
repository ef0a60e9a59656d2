#!/usr/bin/env bash
# reflink.sh - heapsig, patched on an XFS file system with reflink (a loop
# mount in the work directory, 512 MiB): the core and the donor are copied
# there; the page runs are cloned from the core (`cloned N MiB`: no page read)
# and the new set takes next to no disk (a few dozen KiB for MiBs of pages);
# oracle on the restore -s, then it runs on (the heapsig checks).
#@test reflink   heapsig patched on XFS with reflink: runs cloned, no space; oracle, runs on
# shellcheck source=../lib.sh disable=SC2034 # lib.sh reads BIN, CMD, KILLSIG, LAUNCH_*
. "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
e2e_args e2e. "$@"
victims_begin

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
    CLEANUPS+=("umount '$fs' || umount -l '$fs'")
    cp "$CORE" "$fs/victim.core"
    cp -r "$WORK/donor" "$fs/donor"
    sync
    used_before=$(df -k --output=used "$fs" | tail -n 1)
    log "criu-necromancer -c $fs/victim.core -i $fs/donor -o $fs/out"
    if ! run_necro -c "$fs/victim.core" -i "$fs/donor" -o "$fs/out" >"$WORK/necro.log" 2>&1; then
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

victim_and_donor reflink
check_reflink
exit 0
