#!/usr/bin/env bash
# counter.sh - the counter victim is killed (SIGQUIT); a donor run is dumped;
# with the executable's build-id changed on disk, criu-necromancer must
# refuse; put back, it writes an image set from core + donor; it is restored
# stopped (-s) and compared with the core by the oracle, then restored again
# running: the counter must continue from the dead value + 1.
#@test counter   SIGQUIT-killed counter: oracle on -s restore, then it counts on
# shellcheck source=../lib.sh disable=SC2034 # lib.sh reads BIN, CMD, KILLSIG, LAUNCH_*
. "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
e2e_args e2e. "$@"
victims_begin

# after_donor, check_rebuilt_refused: the executable is rebuilt after the crash (same
# size, another build-id): criu-necromancer must refuse, naming the file and
# writing nothing. The original bytes are put back afterwards.
after_donor() { check_rebuilt_refused; }
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
    out=$(run_necro -c "$CORE" -i "$WORK/donor" -o "$WORK/refused" 2>&1) || rc=$?
    cp -p "$WORK/exe.orig" "$BIN"
    if [ "$rc" -ne 0 ] && grep -q "^criu-necromancer: $CORE: .*$BIN (build-id $id), the executable (CRIU must open it): $BIN: build-id [0-9a-f]* (the process ran $id)" <<<"$out" &&
        [ ! -e "$WORK/refused" ]; then
        pass "a rebuilt executable (same size, other build-id) is refused, nothing written: exit $rc"
    else
        fail "a rebuilt executable was not refused as expected (exit $rc): $out"
    fi
}

donor_story counter
exit 0
