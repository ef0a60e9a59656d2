#!/usr/bin/env bash
# necro-catch's safety rules, run by hand (stdin from a real core, the pid of
# a live process of ours) — no core_pattern needed:
#   plain      core.PID complete and equal to the input, holes, capture.txt of PID,
#              the CRIU images decode with crit (when installed)
#   zstd       core.PID.zst decompresses to the input
#   reused     core.PID and core.PID.necro taken: core.PID.1 and core.PID.1.necro, nothing replaced
#   symlink    DIR a symlink: refused (exit 1), nothing written through it
#   timeout    --timeout 0ms: the capture stops at once and says so; the core is complete
#   enospc     (root) a 1 MiB tmpfs: core.PID.partial and core.PID.incomplete
#              (naming ENOSPC), no core.PID; the helper still exits 0
#
#   catch_test.sh NECRO_CATCH CORE CASE
set -euo pipefail
catch=$1 core=$2 case=$3
work=$(mktemp -d "${TMPDIR:-/tmp}/necro-catch-test.XXXXXX")
mounted=
cleanup() { [ -n "$mounted" ] && umount "$work/small"; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
sleep 60 & victim=$!
trap 'kill $victim 2>/dev/null || true; cleanup' EXIT
mkdir -m 0700 "$work/out"
out=$work/out

case $case in
plain)
  "$catch" --dir "$out" "$victim" <"$core" || fail "exit $?"
  cmp "$out/core.$victim" "$core" || fail "core differs from its input"
  [ ! -e "$out/core.$victim.incomplete" ] && [ ! -e "$out/core.$victim.partial" ] || fail "marker or .partial left"
  [ $(($(stat -c %b "$out/core.$victim") * 512)) -lt "$(stat -c %s "$core")" ] || fail "no holes"
  [ "$(stat -c %a "$out/core.$victim")" = 600 ] && [ "$(stat -c %a "$out/core.$victim.necro")" = 700 ] || fail "modes"
  # Into a file: `| grep -q` under pipefail fails when grep quits before --show
  # has written all (SIGPIPE), as the longer format 3 listing made happen.
  "$catch" --show "$out/core.$victim.necro" "$victim" >"$work/show" || fail "--show: exit $?"
  grep -q "^pid $victim " "$work/show" || fail "capture does not read back: $(head -n 3 "$work/show")"
  if command -v crit >/dev/null; then # CRIU's own schema decodes the images
    for img in "$out/core.$victim.necro"/*.img; do crit decode -i "$img" >/dev/null || fail "crit cannot decode $img"; done
  fi
  ;;
zstd)
  "$catch" --dir "$out" --zstd "$victim" <"$core" || fail "exit $?"
  zstd -q -d -c "$out/core.$victim.zst" | cmp - "$core" || fail "zstd core differs from its input"
  ;;
reused)
  echo old >"$out/core.$victim"
  mkdir "$out/core.$victim.necro"
  "$catch" --dir "$out" "$victim" <"$core" || fail "exit $?"
  [ "$(cat "$out/core.$victim")" = old ] || fail "replaced an existing core"
  cmp "$out/core.$victim.1" "$core" || fail "no core.$victim.1"
  [ -f "$out/core.$victim.1.necro/capture.txt" ] || fail "no core.$victim.1.necro/capture.txt"
  ;;
symlink)
  ln -s "$out" "$work/link"
  rc=0
  "$catch" --dir "$work/link" "$victim" <"$core" 2>"$work/err" || rc=$?
  [ $rc -eq 1 ] || fail "exit $rc, expected 1"
  grep -q "cannot open the directory" "$work/err" || fail "error: $(cat "$work/err")"
  [ -z "$(ls -A "$out")" ] || fail "wrote through the symlink: $(ls "$out")"
  ;;
timeout)
  # An unknown argument (a mistyped pattern) is logged, never a lost core.
  "$catch" --dir "$out" --timeout 0ms "$victim" --bogus x <"$core" || fail "exit $?"
  grep -q "ignored argument --bogus" "$out/core.$victim.necro/capture.log" || fail "unknown argument not logged"
  cmp "$out/core.$victim" "$core" || fail "core differs from its input"
  grep -q "time limit" "$out/core.$victim.necro/capture.log" || fail "log: $(cat "$out/core.$victim.necro/capture.log")"
  ;;
enospc)
  [ "$(id -u)" -eq 0 ] || { echo "SKIPPED: needs root to mount a tmpfs"; exit 77; }
  mkdir "$work/small"
  mount -t tmpfs -o size=1m,mode=0700 necro-catch-test "$work/small" && mounted=1
  "$catch" --dir "$work/small" "$victim" <"$core" || fail "exit $?"
  [ ! -e "$work/small/core.$victim" ] || fail "a half-written core looks complete"
  [ -f "$work/small/core.$victim.partial" ] || fail "no .partial"
  # The marker was made before the first byte; the reason is appended if it still fits.
  grep -q "while this file exists, it is not complete" "$work/small/core.$victim.incomplete" ||
    fail "marker: $(cat "$work/small/core.$victim.incomplete" 2>&1)"
  echo "marker: $(cat "$work/small/core.$victim.incomplete")"
  ;;
*) fail "unknown case $case" ;;
esac
echo "PASS: $case"
