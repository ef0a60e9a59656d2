#!/usr/bin/env bash
# nodonor.sh - no donor: the victim of the mode without "nodonor-" dies the
# same way, but no donor is run or dumped: `criu-necromancer -c CORE -o OUT`
# synthesizes the whole image set from the core (--explain must list what was
# "not in the core"); crit decodes every image; restored stopped, the oracle
# compares it with the core. Crashed ones: gdb -p sees the core's threads and
# full backtraces, and `call necro_probe(14)` returns 43 (gdbcheck.sh);
# continued, they die again at the same ip. nodonor-counter, nodonor-pool and
# nodonor-manymaps write to stdout (their only external state) and are
# resurrected with --stdio OUTFILE (and --cwd WORK): restored running, they
# go on from the dead value + 1 into that file (pool: every thread; manymaps:
# its core has no NT_FILE and uses PN_XNUM, --explain says the file mappings
# were rebuilt, no CORRUPT; nodonor-manymaps-static: the same program linked
# -static, no dynamic linker's list either: --explain says the executable was
# found by AT_EXECFN and the mappings rebuilt from its headers). heapsig and handshake write through a file they
# opened themselves, which a donor-less set does not reopen, and need their
# SIGUSR1 handler, which a core does not hold: they are only compared stopped.
#@test nodonor-counter       no donor: a counter on stdout, --stdio FILE: oracle, then it counts on into FILE
#@test nodonor-segv          no donor: NULL store in main: oracle, gdb frames, re-crash at the same ip
#@test nodonor-segv-thread   no donor: the same in a worker thread
#@test nodonor-heapsig       no donor: heap/mmap/file mapping/vDSO: oracle on the stopped restore
#@test nodonor-pool          no donor: 8 counting threads: oracle on every thread
#@test nodonor-handshake     no donor: threads in futex, pipe read, nanosleep: oracle
#@test nodonor-manymaps timeout=900   no donor: 70 000 VMAs, no NT_FILE: mappings rebuilt from link_map, oracle, counts on
#@test nodonor-manymaps-static timeout=900   no donor: a static program, no NT_FILE: mappings rebuilt from the executable found by AT_EXECFN, oracle, counts on
# shellcheck source=../lib.sh disable=SC2034 # lib.sh reads BIN, CMD, KILLSIG, LAUNCH_*
. "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
e2e_args e2e. "$@"
victims_begin
victim_setup "${MODE#nodonor-}"
# The donor-less counter, pool and manymaps write to stdout, appending to
# $OUT (their only external state): resurrected with --stdio $OUT, they run on.
case $MODE in
    nodonor-counter) VICTIM_ARGS=(-); LAUNCH_STDOUT=$OUT ;;
    nodonor-pool | nodonor-manymaps | nodonor-manymaps-static) VICTIM_ARGS=(- "${VICTIM_ARGS[@]:1}"); LAUNCH_STDOUT=$OUT ;;
esac

# resurrect_without_donor: criu-necromancer -c CORE -o $IMG, no donor; the
# stdio goes to $OUT (--stdio) for the victims writing there, the cwd is
# $WORK (--cwd), the rlimits (criu-necromancer's own) allow cores. Sets IMG.
resurrect_without_donor() {
    local stdio=()
    [ -z "${LAUNCH_STDOUT:-}" ] || stdio=(--stdio "$OUT")
    IMG="$WORK/resurrected"
    if ! run_necro -c "$CORE" --explain "${stdio[@]}" --cwd "$WORK" >"$WORK/explain.log" 2>&1; then
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

# check_executable_found: the static program's executable was found by its
# AT_EXECFN and its mappings rebuilt from its headers alone.
check_executable_found() {
    grep -q "^executable: $(realpath "$BIN") (from AT_EXECFN), load bias 0x0: its ELF headers on disk fit the core" \
        "$WORK/explain.log" && pass "--explain: the executable found by AT_EXECFN and checked against the core" ||
        fail "--explain does not name the executable's source: $(grep -m1 '^executable' "$WORK/explain.log")"
    grep -q "rebuilt from the executable's program headers (no dynamic linker's list: a static program)" \
        "$WORK/explain.log" && pass "--explain: the mappings were rebuilt from the executable alone" ||
        fail "--explain does not say the mappings were rebuilt from the executable"
}

start_victim
case $MODE in nodonor-manymaps | nodonor-manymaps-static) check_no_nt_file ;; esac
resurrect_without_donor
case $MODE in nodonor-manymaps | nodonor-manymaps-static) check_rebuilt_without_donor ;; esac
[ "$MODE" != nodonor-manymaps-static ] || check_executable_found
check_stopped_restore "$IMG"
if [ "$KIND" = killed ] && [ -z "${LAUNCH_STDOUT:-}" ]; then
    kill_tracked "$VPID"
    log "not run on: $BIN_BASE writes through a file it opened and needs its SIGUSR1 handler, neither in a core"
else
    then_crash_or_run "$IMG"
fi
exit 0
