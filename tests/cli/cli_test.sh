#!/usr/bin/env bash
# CLI tests of criu-necromancer on the bundled fixture:
#   cli_test.sh NECROMANCER DATA_DIR CASE
# CASE: patch (patch, then decode every written image with CRIU's own crit),
#       inspect, explain, bad-core, wrong-program, keeps-donor.
set -euo pipefail
tool=$1 data=$2 case=$3
core=$data/x86_64/counter.core
donor=$data/x86_64/counter.donor
work=$(mktemp -d "${TMPDIR:-/tmp}/necro-cli.XXXXXX")
trap 'rm -rf "$work"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
checksum() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }

case $case in
  patch)
    command -v crit >/dev/null || fail "crit (Debian package criu) is not installed"
    "$tool" -c "$core" -i "$donor" -o "$work/out" --offline
    n=0
    for img in "$work"/out/*.img; do
      name=$(basename "$img")
      [[ $name == pages-* ]] && continue
      crit decode -i "$img" -o "$work/decoded.json" || fail "crit cannot decode $name"
      n=$((n + 1))
    done
    ((n >= 8)) || fail "only $n images decoded"
    pid=$(grep '^victim_pid=' "$data/x86_64/facts.txt" | cut -d= -f2)
    crit decode -i "$work/out/pstree.img" | grep -q "\"pid\": $pid" || fail "pstree does not name pid $pid"
    crit decode -i "$work/out/core-$pid.img" | grep -q '"ax": 18446744073709551612,' || fail "core-$pid.img lacks the -EINTR rewind"
    echo "crit decoded $n images"
    ;;
  inspect)
    out=$("$tool" -c "$core" -i "$donor" --inspect)
    grep -q 'killed by SIGQUIT' <<<"$out" || fail "no signal in: $out"
    grep -q 'libc.so.6' <<<"$out" || fail "no NT_FILE paths"
    grep -q 'AT_EXECFN /tmp/necro-fixture/counter' <<<"$out" || fail "no AT_EXECFN"
    grep -q 'donor .*1 thread' <<<"$out" || fail "no donor summary"
    ;;
  explain)
    out=$("$tool" -c "$core" -i "$donor" --explain --offline)
    for want in '\[vvar\]' '\[vdso\]' '\[heap\]' '\[stack\]' 'rseq area' 'thread-pointer delta' 'interrupted syscall'; do
      grep -q "$want" <<<"$out" || fail "--explain lacks $want"
    done
    [[ ! -e $work/out ]] || fail "--explain wrote something"
    ;;
  bad-core)
    head -c 100 "$core" >"$work/short.core"
    if "$tool" -c "$work/short.core" -i "$donor" -o "$work/out" 2>"$work/err"; then fail "a truncated core was accepted"; fi
    grep -q "short.core: offset 0x40: program header table truncated" "$work/err" || fail "unexpected message: $(cat "$work/err")"
    [[ $(wc -l <"$work/err") -eq 1 ]] || fail "the error is not one line"
    [[ ! -e $work/out ]] || fail "output written for a bad core"
    ;;
  wrong-program)
    cp -r "$donor" "$work/donor"
    before=$(checksum "$work/donor")
    # A donor whose executable differs: edit the path recorded in files.img (same length).
    sed -i 's|/tmp/necro-fixture/counter|/tmp/necro-fixture/counteX|' "$work/donor/files.img"
    if "$tool" -c "$core" -i "$work/donor" --offline 2>"$work/err"; then fail "a donor of another program was accepted"; fi
    grep -q "dump a donor of the same program" "$work/err" || fail "unexpected message: $(cat "$work/err")"
    [[ ! -e $work/donor.donor ]] || fail "the donor was moved aside"
    ;;
  keeps-donor)
    cp -r "$donor" "$work/donor"
    before=$(checksum "$work/donor")
    "$tool" -c "$core" -i "$work/donor" --offline -q
    [[ $(checksum "$work/donor.donor") == "$before" ]] || fail "the donor's originals changed"
    [[ -e $work/donor/pstree.img ]] || fail "no patched set in place"
    ;;
  *) fail "unknown case $case" ;;
esac
echo "PASS $case"
