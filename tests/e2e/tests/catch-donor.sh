#!/usr/bin/env bash
# catch-donor.sh - the capture with a donor: a counter dies under necro-catch
# (as in catch.sh), a donor run writing another file (out.donor) is dumped,
# and `criu-necromancer -c CORE -i DONOR` takes the victim's regular files
# from the capture beside the core, in place of the donor's at the same fds:
# --explain says fd 3 comes from the capture; the stopped restore has the
# victim's file at fd 3 (its offset, O_WRONLY|O_APPEND), and running, it
# counts on in the victim's file while the donor's file gets nothing.
#@test catch-donor   with a donor writing another file: the victim's own file replaces the donor's at fd 3
# shellcheck source=../lib.sh disable=SC2034 # lib.sh reads BIN, CMD, KILLSIG, LAUNCH_*
. "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
e2e_args e2e. "$@"
victims_begin --catch

# resurrect_with_donor_and_capture: criu-necromancer -c CORE -i DONOR -o
# $IMG; the capture beside the core gives the victim's regular files, which
# replace the donor's at the same fds (the rest is the donor's). Sets IMG.
resurrect_with_donor_and_capture() {
    IMG="$WORK/resurrected"
    if ! run_necro -c "$CORE" -i "$WORK/donor" --explain >"$WORK/explain.log" 2>&1; then
        show_log "$WORK/explain.log"
        fatal "criu-necromancer -c $CORE -i $WORK/donor --explain failed"
    fi
    sed -n '/^from the capture /,/^$/p' "$WORK/explain.log" | sed 's/^/  /'
    grep -q "^  fd 3: $OUT (write-only, appending, .*offset [0-9]*)" "$WORK/explain.log" &&
        pass "--explain with a donor: the victim's fd 3 comes from the capture: '$(grep -m1 '^  fd 3: ' "$WORK/explain.log" | sed 's/^ *//')'" ||
        fail "--explain with a donor does not take the victim's fd 3 ($OUT) from the capture"
    necro_with_donor
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

victim_and_donor donor
resurrect_with_donor_and_capture
check_stopped_restore "$IMG"
check_victim_file_replaces_donors
check_runs_on "$IMG"
check_donor_file_idle
exit 0
