#!/usr/bin/env bash
# manymaps.sh - manymaps with 70 000 one-page regions (vm.max_map_count
# raised for the run, put back on exit) killed by SIGQUIT: its core must use
# PN_XNUM and have no NT_FILE (readelf); a donor is dumped; --explain must say
# the file mappings were rebuilt (5 objects) and name `sysctl
# kernel.core_file_note_size_limit=N`, and warn about the data file mapping it
# cannot name; necro; restore -s + oracle; restored running: the count goes on
# from the dead value + 1, no CORRUPT.
#@test manymaps timeout=900   70 000 VMAs: no NT_FILE in the core (PN_XNUM too); mappings rebuilt from link_map
# shellcheck source=../lib.sh disable=SC2034 # lib.sh reads BIN, CMD, KILLSIG, LAUNCH_*
. "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
e2e_args e2e. "$@"
victims_begin

after_death() { check_no_nt_file; }
after_donor() { check_rebuild_explained; }

# check_rebuild_explained: --explain says the mappings were rebuilt and which
# sysctl would have kept NT_FILE; the plan's time is logged.
check_rebuild_explained() {
    local t0 t1
    t0=$(date +%s%N)
    if ! NECRO_TIMEOUT=120 run_necro -c "$CORE" -i "$WORK/donor" --explain >"$WORK/explain.log" 2>&1; then
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

donor_story manymaps
exit 0
