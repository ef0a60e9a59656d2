#!/usr/bin/env bash
# oracle-gcore.sh - oracle self-test, no CRIU: gdb's gcore of a stopped live
# counter must compare SAME with it; one flipped heap byte must give exactly
# one mismatched byte, at its address; one register changed with gdb exactly
# one register mismatch. gcore leaves out some mappings (read-only file
# pages), lists PROT_NONE ones as r-- and writes XSAVE state in gdb's own
# layout (--gdb-core), and writes registers as they are (no dump-time syscall
# rewind: --raw-regs).
#@test oracle-gcore   oracle self-test: gcore of a stopped live process (needs gdb, no CRIU)
# shellcheck source=../lib.sh disable=SC2034 # lib.sh reads BIN, CMD, KILLSIG, LAUNCH_*
. "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
e2e_args e2e. "$@"
command -v gdb >/dev/null || skip "gdb not found (needed for gcore)"
victims_begin --no-criu --no-necro --no-cores
victim_setup oracle-gcore

launch_victim
disown "$VPID"
wait_for 10 progress_ok || fatal "victim made no progress"
kill -STOP "$VPID"
wait_for 5 is_stopped "$VPID" || fatal "victim did not stop"
CORE="$WORK/live.core"
gcore_stopped "$VPID" "$CORE"
run_oracle "$CORE" "$VPID" --raw-regs --gdb-core
[ "$ORACLE_RC" = 0 ] && pass "oracle: gcore of the stopped process compares SAME" ||
    fail "oracle: gcore of the stopped process differs (exit $ORACLE_RC)"
# Flip one byte of the heap (inside the counter's pattern buffer).
heap=$(awk '$6 == "[heap]" { split($1, a, "-"); print a[1]; exit }' "/proc/$VPID/maps")
addr=$((0x$heap + 0x1000 + 123))
byte=$(mem_byte "$VPID" "$addr")
set_mem_byte "$VPID" "$addr" $((byte ^ 0xa5))
log "flipped the byte at $(printf '%#x' "$addr"): $byte -> $((byte ^ 0xa5))"
run_oracle "$CORE" "$VPID" --raw-regs --gdb-core
if [ "$ORACLE_RC" = 1 ] && grep -q ' mem_mismatch=1 ' "$ORACLE_LOG" && grep -q ' regs_mismatch=0 ' "$ORACLE_LOG" &&
    grep -q "MISMATCH memory \[$(printf '%#x' "$addr"), " "$ORACLE_LOG"; then
    pass "oracle: one flipped byte gives exactly one mismatched byte, at its address"
else
    fail "oracle did not report exactly the flipped byte (exit $ORACLE_RC)"
fi
set_mem_byte "$VPID" "$addr" "$byte"
# Change one register (r12) with gdb.
timeout 60 gdb -nx -p "$VPID" -batch -ex 'set $r12 = $r12 ^ 0x10' {LOCKFD}>&- >"$WORK/gdb2.log" 2>&1 || true
wait_for 5 is_stopped "$VPID" || fatal "pid $VPID no longer stopped after gdb"
run_oracle "$CORE" "$VPID" --raw-regs --gdb-core
oracle_found_only_reg r12 && pass "oracle: one changed register gives exactly one register mismatch (r12)" ||
    fail "oracle did not report exactly the changed register (exit $ORACLE_RC)"
kill_tracked "$VPID"
exit 0
