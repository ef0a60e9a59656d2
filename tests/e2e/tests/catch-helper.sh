#!/usr/bin/env bash
# catch-helper.sh - necro-catch as the real core_pattern helper, no CRIU:
#   1. catchme (tests/data/src/catchme.c, ASLR off so layouts repeat) dies of
#      SIGQUIT with core_pattern = WORK/direct/core.%p: the reference core;
#   2. a second run dies under `|necro-catch -d WORK/caught %P -s %s -t %t -e
#      %e` (core_pipe_limit 1): its core must be complete (no .partial, no
#      .incomplete), its ELF and program headers equal the reference's
#      (readelf -h, -lW), its notes the same types, its zero blocks holes
#      (allocated < apparent size), the %s %t %e arguments passed, and the
#      capture must list exactly the fds the victim listed itself (fds.txt)
#      with the same links, and its listening TCP port;
#   3. with core_pipe_limit 0 (the kernel does not wait), the capture (taken
#      before the core is drained) still lists every fd;
#   4. a run under `necro-catch --zstd`: core.PID.zst decompresses (zstd -t),
#      its headers equal the reference's, and `criu-necromancer -c
#      core.PID.zst --inspect` reads it (when the CLI is built).
# core_pattern and core_pipe_limit are put back on exit.
#@test catch   necro-catch as core_pattern helper: complete sparse core, exact capture, --zstd
# shellcheck source=../lib.sh disable=SC2034 # lib.sh reads BIN, CMD, KILLSIG, LAUNCH_*
. "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
e2e_args e2e. "$@"
need_root "core_pattern"
need_built "$CATCH" necro-catch skip
BIN=$VICTIMS/catchme
[ -x "$BIN" ] || fatal "victim '$BIN' is not built"
for t in readelf zstd setarch; do command -v $t >/dev/null || skip "$t not found"; done
e2e_begin
# No ASLR (layouts repeat: headers comparable), a clean environment.
LAUNCH_WRAP=(setarch "$(uname -m)" -R env -i PATH=/usr/bin:/bin)

# run_victim NAME: runs catchme in WORK/NAME.run until ready, kills it with
# SIGQUIT, waits until the kernel (and the helper) are done; sets VPID.
run_victim() {
    LAUNCH_DIR=$WORK/$1.run
    mkdir -p "$LAUNCH_DIR"
    launch "$BIN"
    VPID=$LAUNCHED
    wait_for 10 test -e "$LAUNCH_DIR/ready" || fatal "$1: catchme did not get ready"
    kill -QUIT "$VPID"
    reap_victim 131
}

# headers CORE: the ELF header and program headers, without the file name.
headers() { readelf -hW "$1"; readelf -lW "$1" | sed '/^Elf file type/d'; }
note_types() { readelf -nW "$1" | awk '$2 ~ /^0x/ { print $1, $3 }'; }
# shown_fds CAPTURE: "N LINK" per fd that necro-catch --show lists.
shown_fds() {
    "$CATCH" --show "$1" "$VPID" | sed -n 's/^fd \([0-9]*\) [a-z]* flags [0-7o]* pos [0-9]* \([^ ]*\).*/\1 \2/p' | sort -n
}

mkdir -m 0700 "$WORK/direct"
set_sysctl kernel/core_pattern "$WORK/direct/core.%p"
run_victim direct
REF=$WORK/direct/core.$VPID
[ -s "$REF" ] || fatal "no reference core $REF"
pass "reference core: $(stat -c %s "$REF") bytes"

# core_pattern holds at most 127 bytes (longer is cut): short options.
set_sysctl kernel/core_pipe_limit 1
cores_through_catch "|$CATCH -d $WORK/caught %P -s %s -t %t -e %e"
run_victim caught
CORE=$WORK/caught/core.$VPID CAP=$WORK/caught/core.$VPID.necro
[ -f "$CORE" ] || fatal "no $CORE: $(ls "$WORK/caught")"
check_caught "$CORE"
pass "core.$VPID complete ($(stat -c %s "$CORE") bytes), capture.log: $(grep -c . "$CAP/capture.log") lines"
grep -q "necro-catch pid $VPID signal 3 time [0-9]* comm catchme core core.$VPID" "$CAP/capture.log" || fatal "%s %t %e not passed: $(head -1 "$CAP/capture.log")"
pass "%P %s %t %e arguments: $(head -1 "$CAP/capture.log" | cut -d' ' -f2-)"
[ "$(headers "$CORE")" = "$(headers "$REF")" ] || fatal "ELF/program headers differ from the directly written core: $(diff <(headers "$REF") <(headers "$CORE") | head -20)"
pass "readelf -h and -lW equal the directly written core's ($(readelf -lW "$CORE" | grep -c ' LOAD ') PT_LOAD)"
[ "$(note_types "$CORE")" = "$(note_types "$REF")" ] || fatal "note types differ"
pass "same notes: $(note_types "$CORE" | awk '{print $2}' | paste -sd,)"
APPARENT=$(stat -c %s "$CORE") ALLOC=$(($(stat -c %b "$CORE") * $(stat -c %B "$CORE")))
[ "$ALLOC" -lt "$APPARENT" ] || fatal "no holes: $ALLOC bytes allocated for $APPARENT"
pass "holes: ls $APPARENT bytes, du $ALLOC bytes"
want=$(sort -n "$WORK/caught.run/fds.txt")
got=$(shown_fds "$CAP")
[ "$want" = "$got" ] || fatal "capture fds differ from the victim's own list: $(diff <(echo "$want") <(echo "$got"))"
pass "capture lists the victim's $(wc -l <<<"$want") fds exactly: $(cut -d' ' -f1 <<<"$want" | paste -sd,)"
grep -q "^fd [0-9]* inet .* proto 6 state 10 port $(sed -n 's/^tcp //p' "$WORK/caught.run/ports.txt")" <("$CATCH" --show "$CAP") || fatal "listening TCP port not captured"
pass "listening TCP socket on port $(sed -n 's/^tcp //p' "$WORK/caught.run/ports.txt") captured"

# core_pipe_limit 0: the kernel does not wait for the helper; necro-catch
# captures before it drains the core, and must still see every fd.
set_sysctl kernel/core_pipe_limit 0
set_sysctl kernel/core_pattern "|$CATCH -d $WORK/caught %P"
run_victim nowait
wait_for 10 eval '[ -f "$WORK/caught/core.$VPID" ] && grep -q "capture finished" "$WORK/caught/core.$VPID.necro/capture.log" 2>/dev/null' || true
grep -q "core_pipe_limit is 0" "$WORK/caught/core.$VPID.necro/capture.log" || fatal "core_pipe_limit 0 not noticed"
want=$(sort -n "$WORK/nowait.run/fds.txt")
got=$(shown_fds "$WORK/caught/core.$VPID.necro")
[ "$want" = "$got" ] || fatal "core_pipe_limit 0: capture fds differ: $(diff <(echo "$want") <(echo "$got"))"
pass "core_pipe_limit 0: captured before the core, all $(wc -l <<<"$want") fds; core.$VPID complete: $(test -f "$WORK/caught/core.$VPID" && echo yes)"
set_sysctl kernel/core_pipe_limit 1

cores_through_catch "|$CATCH --dir $WORK/caught --zstd --timeout 10s %P"
run_victim zstd
ZCORE=$WORK/caught/core.$VPID.zst
[ -f "$ZCORE" ] && [ ! -e "$ZCORE.incomplete" ] || fatal "no complete $ZCORE: $(ls "$WORK/caught")"
zstd -q -t "$ZCORE" || fatal "$ZCORE does not decompress"
zstd -q -d -c "$ZCORE" >"$WORK/zstd.plain"
[ "$(headers "$WORK/zstd.plain")" = "$(headers "$REF")" ] || fatal "zstd core headers differ"
pass "core.$VPID.zst: $(stat -c %s "$ZCORE") bytes for $(stat -c %s "$WORK/zstd.plain"), headers equal the reference's"
if [ -n "$NECRO" ]; then
    need_built "$NECRO" criu-necromancer
    out=$(run_necro -c "$ZCORE" --inspect 2>&1) || fatal "criu-necromancer --inspect on $ZCORE failed: $out"
    grep -q "$VPID" <<<"$out" || fatal "--inspect does not show pid $VPID: $out"
    pass "criu-necromancer -c core.$VPID.zst --inspect: $(grep -m1 -i thread <<<"$out")"
fi
exit 0
