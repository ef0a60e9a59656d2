#!/usr/bin/env bash
# shmem.sh - memory that lived only in the process, resurrected with a donor.
#   shmem        the shmem victim (shared anonymous memory, a memfd mapped
#                shared and private, a deleted file mapped shared and private,
#                each with its run's own bytes and a counter) is killed; first a
#                run with coredump_filter 0x31 (no bit 1) must be refused naming
#                the bit; necro rebuilds the memfds (shared anonymous memory as
#                CRIU's memfd "/dev/zero") and the ghost file from the core;
#                oracle; restored running, every region holds the dead run's
#                bytes and counters, the ticks go on from the dead value + 1
#                with the dead run's seed, and /proc/PID/maps shows the 3
#                shared mappings.
#   shmem-new    the same victim with its memfd and deleted file mapped shared
#                only (`shmem OUT DIR shared`), and a donor that has neither
#                (`bare`: only shared anonymous memory): --explain lists all
#                three objects as new; necro creates the memfd inode, the file
#                entries, the remap and the ghost file; restored running, the
#                same checks.
#@test shmem       shared anonymous memory, memfds, deleted files: their bytes come back, counters go on
#@test shmem-new   the same, with a donor that has no memfd and no deleted file: necro creates them
# shellcheck source=../lib.sh disable=SC2034 # lib.sh reads BIN, CMD, KILLSIG, LAUNCH_*
. "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
e2e_args e2e. "$@"
victims_begin

after_donor() {
    if [ "$MODE" = shmem ]; then check_filter_refused; else check_new_objects_planned; fi
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
    out=$(run_necro -c "$core" -i "$WORK/donor" -o "$WORK/refused" 2>&1) || rc=$?
    if [ "$rc" -ne 0 ] && grep -q "coredump_filter lacked bit 1" <<<"$out" && [ ! -e "$WORK/refused" ]; then
        pass "a core without shared memory (coredump_filter 0x31) is refused, nothing written: $out"
    else
        fail "a core without shared memory was not refused as expected (exit $rc): $out"
    fi
    rm -f "$core"
}

# check_new_objects_planned: --explain says the memfd and the deleted file are
# new (the donor has neither) and the shared anonymous memory too.
check_new_objects_planned() {
    local out n
    out=$(run_necro -c "$CORE" -i "$WORK/donor" --explain 2>&1) || true
    n=$(grep -cE '^  (memfd necro-shm|deleted file .*/dir/ghost-data|shared anonymous memory /dev/zero): .*candidate pages.*new: the donor has none' <<<"$out" || true)
    [ "$n" = 3 ] && pass "--explain: memfd, deleted file and shared anonymous memory are new objects (the donor has none)" ||
        fail "--explain does not list the 3 new objects: $(grep -A4 '^shared memory' <<<"$out" | paste -sd';')"
}

donor_story "$MODE"
exit 0
