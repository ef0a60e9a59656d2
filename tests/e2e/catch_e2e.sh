#!/usr/bin/env bash
# e2e.catch: necro-catch as the real core_pattern helper. As root, under the
# e2e lock (/tmp/necro-e2e.lock), with core_pattern and core_pipe_limit put
# back on exit:
#   1. catchme (tests/data/src/catchme.c, ASLR off so layouts repeat) dies of
#      SIGQUIT with core_pattern = WORK/direct/core.%p: the reference core;
#   2. a second run dies under `|necro-catch --dir WORK/caught %P`
#      (core_pipe_limit 1): its core must be complete (no .partial, no
#      .incomplete), its ELF and program headers equal the reference's
#      (readelf -h, -lW), its notes the same types, its zero blocks holes
#      (allocated < apparent size), and the capture must list exactly the fds
#      the victim listed itself (fds.txt) with the same links;
#   3. with core_pipe_limit 0 (the kernel does not wait), the capture (taken
#      before the core is drained) still lists every fd;
#   4. a run under `necro-catch --zstd`: core.PID.zst decompresses (zstd
#      -t), its headers equal the reference's, and `criu-necromancer -c
#      core.PID.zst --inspect` reads it (when the CLI is given).
#
#   catch_e2e.sh NECRO_CATCH VICTIM_SOURCE [CRIU_NECROMANCER]
set -euo pipefail
catch=$(realpath "$1") src=$2 cli=${3:-}
skip() { echo "SKIPPED: e2e.catch: $*"; exit 77; }
die() { echo "FAIL: $*"; echo "RESULT: FAIL"; exit 1; }
pass() { echo "PASS: $*"; }
[ "$(id -u)" -eq 0 ] || skip "needs root (core_pattern)"
[ -x "$catch" ] || die "$catch is not built"
for t in gcc readelf zstd setarch flock; do command -v $t >/dev/null || skip "$t not found"; done

WORK=$(mktemp -d /tmp/necro-e2e.catch.XXXXXX)
chmod 0700 "$WORK"
OLD_PATTERN= OLD_LIMIT= VICTIMS=()
cleanup() {
  local rc=$? p
  for p in "${VICTIMS[@]}"; do
    [ "$(readlink "/proc/$p/exe" 2>/dev/null)" = "$WORK/catchme" ] && kill -KILL "$p" 2>/dev/null || true
  done
  [ -n "$OLD_PATTERN" ] && printf '%s\n' "$OLD_PATTERN" >/proc/sys/kernel/core_pattern
  [ -n "$OLD_LIMIT" ] && printf '%s\n' "$OLD_LIMIT" >/proc/sys/kernel/core_pipe_limit
  if [ $rc -eq 0 ] && [ -z "${NECRO_E2E_KEEP:-}" ]; then rm -rf "$WORK"; else echo "work directory kept: $WORK"; fi
  exit $rc
}
trap cleanup EXIT
exec {LOCK}>/tmp/necro-e2e.lock
flock -w 900 "$LOCK" || die "could not take /tmp/necro-e2e.lock"
OLD_PATTERN=$(cat /proc/sys/kernel/core_pattern)
OLD_LIMIT=$(cat /proc/sys/kernel/core_pipe_limit)

gcc -O1 -g -o "$WORK/catchme" "$src"
mkdir -m 0700 "$WORK/direct" "$WORK/caught"

# run_victim NAME: runs catchme in WORK/NAME.run until ready, kills it with
# SIGQUIT, waits until the kernel (and the helper) are done; sets VPID.
run_victim() {
  local cwd=$WORK/$1.run
  mkdir -p "$cwd"
  (
    cd "$cwd"
    ulimit -c unlimited
    echo 0xff >/proc/self/coredump_filter
    trap - QUIT
    for p in /proc/$BASHPID/fd/*; do # nothing of ours stays open in the victim
      n=${p##*/}
      [ "$n" -gt 2 ] 2>/dev/null && eval "exec $n>&-" 2>/dev/null || true
    done
    exec setarch "$(uname -m)" -R setsid env -i PATH=/usr/bin:/bin "$WORK/catchme" </dev/null >/dev/null 2>&1
  ) &
  VPID=$!
  VICTIMS+=("$VPID")
  for _ in $(seq 200); do [ -e "$cwd/ready" ] && break; sleep 0.05; done
  [ -e "$cwd/ready" ] || die "$1: catchme did not get ready"
  kill -QUIT "$VPID"
  local st=0
  wait "$VPID" 2>/dev/null || st=$?
  [ "$st" -eq 131 ] || die "$1: victim exit status $st, expected 131 (SIGQUIT)"
}

# headers CORE: the ELF header and program headers, without the file name.
headers() { readelf -hW "$1"; readelf -lW "$1" | sed '/^Elf file type/d'; }
note_types() { readelf -nW "$1" | awk '$2 ~ /^0x/ { print $1, $3 }'; }

printf '%s\n' "$WORK/direct/core.%p" >/proc/sys/kernel/core_pattern
run_victim direct
REF=$WORK/direct/core.$VPID
[ -s "$REF" ] || die "no reference core $REF"
pass "reference core: $(stat -c %s "$REF") bytes"

echo 1 >/proc/sys/kernel/core_pipe_limit
# core_pattern holds at most 127 bytes (longer is cut): short options.
printf '|%s -d %s %%P -s %%s -t %%t -e %%e\n' "$catch" "$WORK/caught" >/proc/sys/kernel/core_pattern
[ "$(cat /proc/sys/kernel/core_pattern)" = "$(printf '|%s -d %s %%P -s %%s -t %%t -e %%e' "$catch" "$WORK/caught")" ] ||
  skip "the helper's path is too long for core_pattern (127 bytes): $(cat /proc/sys/kernel/core_pattern)"
run_victim caught
CORE=$WORK/caught/core.$VPID CAP=$WORK/caught/core.$VPID.necro
[ -f "$CORE" ] || die "no $CORE: $(ls "$WORK/caught")"
[ ! -e "$CORE.partial" ] && [ ! -e "$CORE.incomplete" ] || die "core marked incomplete: $(cat "$CORE.incomplete" 2>/dev/null)"
grep -q "core complete: core.$VPID" "$CAP/capture.log" || die "capture.log does not say the core is complete: $(cat "$CAP/capture.log")"
pass "core.$VPID complete ($(stat -c %s "$CORE") bytes), capture.log: $(grep -c . "$CAP/capture.log") lines"
grep -q "necro-catch pid $VPID signal 3 time [0-9]* comm catchme core core.$VPID" "$CAP/capture.log" || die "%s %t %e not passed: $(head -1 "$CAP/capture.log")"
pass "%P %s %t %e arguments: $(head -1 "$CAP/capture.log" | cut -d' ' -f2-)"
[ "$(headers "$CORE")" = "$(headers "$REF")" ] || die "ELF/program headers differ from the directly written core: $(diff <(headers "$REF") <(headers "$CORE") | head -20)"
pass "readelf -h and -lW equal the directly written core's ($(readelf -lW "$CORE" | grep -c ' LOAD ') PT_LOAD)"
[ "$(note_types "$CORE")" = "$(note_types "$REF")" ] || die "note types differ"
pass "same notes: $(note_types "$CORE" | awk '{print $2}' | paste -sd,)"
APPARENT=$(stat -c %s "$CORE") ALLOC=$(($(stat -c %b "$CORE") * $(stat -c %B "$CORE")))
[ "$ALLOC" -lt "$APPARENT" ] || die "no holes: $ALLOC bytes allocated for $APPARENT"
pass "holes: ls $APPARENT bytes, du $ALLOC bytes"
want=$(sort -n "$WORK/caught.run/fds.txt")
got=$("$catch" --show "$CAP" "$VPID" | sed -n 's/^fd \([0-9]*\) [a-z]* flags [0-7o]* pos [0-9]* \([^ ]*\).*/\1 \2/p' | sort -n)
[ "$want" = "$got" ] || die "capture fds differ from the victim's own list: $(diff <(echo "$want") <(echo "$got"))"
pass "capture lists the victim's $(wc -l <<<"$want") fds exactly: $(cut -d' ' -f1 <<<"$want" | paste -sd,)"
grep -q "^fd [0-9]* inet .* proto 6 state 10 port $(sed -n 's/^tcp //p' "$WORK/caught.run/ports.txt")" <("$catch" --show "$CAP") || die "listening TCP port not captured"
pass "listening TCP socket on port $(sed -n 's/^tcp //p' "$WORK/caught.run/ports.txt") captured"

# core_pipe_limit 0: the kernel does not wait for the helper; necro-catch
# captures before it drains the core, and must still see every fd.
echo 0 >/proc/sys/kernel/core_pipe_limit
printf '|%s -d %s %%P\n' "$catch" "$WORK/caught" >/proc/sys/kernel/core_pattern
run_victim nowait
for _ in $(seq 100); do [ -f "$WORK/caught/core.$VPID" ] && grep -q "capture finished" "$WORK/caught/core.$VPID.necro/capture.log" 2>/dev/null && break; sleep 0.1; done
grep -q "core_pipe_limit is 0" "$WORK/caught/core.$VPID.necro/capture.log" || die "core_pipe_limit 0 not noticed"
want=$(sort -n "$WORK/nowait.run/fds.txt")
got=$("$catch" --show "$WORK/caught/core.$VPID.necro" "$VPID" | sed -n 's/^fd \([0-9]*\) [a-z]* flags [0-7o]* pos [0-9]* \([^ ]*\).*/\1 \2/p' | sort -n)
[ "$want" = "$got" ] || die "core_pipe_limit 0: capture fds differ: $(diff <(echo "$want") <(echo "$got"))"
pass "core_pipe_limit 0: captured before the core, all $(wc -l <<<"$want") fds; core.$VPID complete: $(test -f "$WORK/caught/core.$VPID" && echo yes)"
echo 1 >/proc/sys/kernel/core_pipe_limit

printf '|%s --dir %s --zstd --timeout 10s %%P\n' "$catch" "$WORK/caught" >/proc/sys/kernel/core_pattern
run_victim zstd
ZCORE=$WORK/caught/core.$VPID.zst
[ -f "$ZCORE" ] && [ ! -e "$ZCORE.incomplete" ] || die "no complete $ZCORE: $(ls "$WORK/caught")"
zstd -q -t "$ZCORE" || die "$ZCORE does not decompress"
zstd -q -d -c "$ZCORE" >"$WORK/zstd.plain"
[ "$(headers "$WORK/zstd.plain")" = "$(headers "$REF")" ] || die "zstd core headers differ"
pass "core.$VPID.zst: $(stat -c %s "$ZCORE") bytes for $(stat -c %s "$WORK/zstd.plain"), headers equal the reference's"
if [ -n "$cli" ]; then
  [ -x "$cli" ] || die "$cli is not built"
  out=$("$cli" -c "$ZCORE" --inspect 2>&1) || die "criu-necromancer --inspect on $ZCORE failed: $out"
  grep -q "$VPID" <<<"$out" || die "--inspect does not show pid $VPID: $out"
  pass "criu-necromancer -c core.$VPID.zst --inspect: $(grep -m1 -i thread <<<"$out")"
fi
echo "RESULT: PASS"
