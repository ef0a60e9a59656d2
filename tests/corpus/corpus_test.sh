#!/usr/bin/env bash
# Hostile inputs through the CLI. For each case of GROUP (see make_corpus.cpp)
# criu-necromancer runs twice, with -o OUT and in place (no -o), on a fresh
# copy of the donor:
#   a bad input:  exit code 1, stdout empty, stderr exactly one line
#                 `criu-necromancer: FILE: MESSAGE` naming the file (and the
#                 offset where one applies), nothing written (no OUT, no
#                 DIR.donor, no staging directory), the donor byte-identical;
#   a tolerated input: exit code 0, the output equal to the baseline patch
#                 (or, where the input differs in substance, an image set that
#                 necro reads back), the donor's originals byte-identical.
# A core with hostile names (print-core) runs with --inspect and --explain
# instead: exit code 0, stdout valid UTF-8, free of control bytes (but
# newlines) and holding the escaped name, nothing written, the donor byte-identical.
# Every case whose input is a core also runs without a donor (-o OUT, images
# synthesized from the core): a clean one-line refusal with nothing written,
# or a complete set; never a crash or a hang.
# Every run is killed after NECRO_CORPUS_TIMEOUT seconds (default 30): a hang
# fails (the slowest case takes about a second).
#
#   corpus_test.sh MAKE_CORPUS NECROMANCER CORE AARCH64_CORE DONOR_DIR GROUP
set -euo pipefail
gen=$1 tool=$2 core=$3 aarch64=$4 donor=$5 group=$6
limit=${NECRO_CORPUS_TIMEOUT:-30}
work=$(mktemp -d "${TMPDIR:-/tmp}/necro-corpus.XXXXXX")
trap 'rm -rf "$work"' EXIT

failures=0
fail() {
  echo "FAIL $name: $*" >&2
  failures=$((failures + 1))
}

# Names, types, modes, sizes and contents of everything under $1.
state() {
  (cd "$1" && find . -mindepth 1 -printf '%P %y %m %s\n' | LC_ALL=C sort &&
    find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum)
}

# run OUT_ARGS...: runs the tool on $case_core and $w/donor; sets rc, out, err.
run() {
  rc=0
  timeout -k 5 "$limit" "$tool" -c "$case_core" -i "$w/donor" --offline "$@" </dev/null >"$w/stdout" 2>"$w/stderr" || rc=$?
  out=$(cat "$w/stdout")
  err=$(cat "$w/stderr")
}

# Checks a refused run: exit 1, one line naming $want_file, $expect after it.
check_refused() {
  local mode=$1
  if ((rc == 0)); then
    fail "$mode: accepted"
  elif ((rc == 124 || rc == 137)); then
    fail "$mode: hung (killed after ${limit}s)"
  elif ((rc > 128)); then
    fail "$mode: died of signal $((rc - 128)): $err"
  elif ((rc != 1)); then
    fail "$mode: exit code $rc, expected 1: $err"
  fi
  [[ -z $out ]] || fail "$mode: wrote to stdout: $out"
  local lines
  lines=$(wc -l <"$w/stderr")
  if [[ $lines -ne 1 || $(wc -c <"$w/stderr") -ne $((${#err} + 1)) ]]; then
    fail "$mode: stderr is not exactly one line: $err"
  fi
  local head="criu-necromancer: $want_file: "
  if [[ $err != "$head"* ]]; then
    fail "$mode: does not name $want_file: $err"
  else
    local rest=${err#"$head"}
    # shellcheck disable=SC2053  # $expect is a glob on purpose
    [[ $rest == $expect* ]] || fail "$mode: says \"$rest\", expected \"$expect...\""
  fi
}

# Nothing but the donor copy may be left in $w (and the files of this script).
check_nothing_written() {
  local mode=$1 extra
  extra=$(cd "$w" && ls -A | grep -vxE 'donor|stdout|stderr|case\.core|case\.donor' || true)
  [[ -z $extra ]] || fail "$mode: left behind: $extra"
  [[ $(state "$w/donor") == "$before" ]] || fail "$mode: the donor directory changed"
}

# The baseline: the pristine inputs, patched.
# check_donorless: the case's core without a donor (images synthesized from
# the core): a clean refusal (exit 1, one line on stderr naming criu-necromancer,
# nothing written) or a complete set; never a crash or a hang.
check_donorless() {
  rc=0
  timeout -k 5 "$limit" "$tool" -c "$case_core" -o "$w/nodonor" --offline -q </dev/null >"$w/stdout" 2>"$w/stderr" || rc=$?
  err=$(cat "$w/stderr")
  if ((rc == 124 || rc == 137)); then
    fail "no donor: hung (killed after ${limit}s)"
  elif ((rc > 128)); then
    fail "no donor: died of signal $((rc - 128)): $err"
  elif ((rc == 1)); then
    [[ $(wc -l <"$w/stderr") -eq 1 && $err == "criu-necromancer: "* ]] || fail "no donor: not one clear line: $err"
    [[ ! -e $w/nodonor ]] || fail "no donor: refused but wrote $w/nodonor"
  elif ((rc != 0)); then
    fail "no donor: exit code $rc: $err"
  else
    [[ -s $w/nodonor/inventory.img && -s $w/nodonor/pstree.img ]] || fail "no donor: accepted but the set is incomplete"
  fi
  rm -rf "$w/nodonor"
  nodonor_cases=$((nodonor_cases + 1))
}
nodonor_cases=0

baseline=
make_baseline() {
  local b=$work/baseline
  mkdir -p "$b"
  cp -a "$donor" "$b/donor"
  timeout -k 5 "$limit" "$tool" -c "$core" -i "$b/donor" -o "$b/out" --offline -q
  baseline=$(state "$b/out")
}

"$gen" list "$core" "$aarch64" "$donor" >"$work/cases.tsv"
ncases=0
while IFS=$'\t' read -r grp name kind file expect; do
  [[ $grp == "$group" ]] || continue
  ncases=$((ncases + 1))
  w=$work/$name
  mkdir -p "$w"
  "$gen" make "$core" "$aarch64" "$donor" "$w" "$name"
  case_core=$core
  [[ -e $w/case.core ]] && case_core=$w/case.core
  if [[ -d $w/case.donor ]]; then cp -a "$w/case.donor" "$w/donor"; else cp -a "$donor" "$w/donor"; fi
  before=$(state "$w/donor")
  case $file in
    core) want_file=$case_core ;;
    zcore) want_file="$case_core (decompressed)" ;;
    .) want_file=$w/donor ;;
    *) want_file=$w/donor/$file ;;
  esac

  case $kind in core | ok-core | print-core) check_donorless ;; esac
  case $kind in
    core | donor)
      run -o "$w/out"
      check_refused "-o OUT"
      check_nothing_written "-o OUT"
      run
      check_refused "in place"
      check_nothing_written "in place"
      ;;
    ok-core | ok-donor)
      [[ -n $baseline ]] || make_baseline
      run -o "$w/out" -q
      if ((rc != 0)); then
        fail "-o OUT: exit code $rc: $err"
      else
        [[ $(state "$w/donor") == "$before" ]] || fail "-o OUT: the donor directory changed"
        if [[ $expect == same ]]; then
          [[ $(state "$w/out") == "$baseline" ]] || fail "-o OUT: the output differs from the baseline patch"
        else
          # A different but valid set: necro reads it back as a donor.
          timeout -k 5 "$limit" "$tool" -c "$case_core" -i "$w/out" --explain --offline >/dev/null 2>"$w/stderr" ||
            fail "-o OUT: the output does not read back: $(cat "$w/stderr")"
        fi
      fi
      rm -rf "$w/out"
      run -q
      if ((rc != 0)); then
        fail "in place: exit code $rc: $err"
      else
        [[ -d $w/donor.donor && $(state "$w/donor.donor") == "$before" ]] || fail "in place: the originals in DIR.donor differ"
        if [[ $expect == same ]]; then
          [[ $(state "$w/donor") == "$baseline" ]] || fail "in place: the patched set differs from the baseline patch"
        fi
      fi
      ;;
    print-core)
      for mode in --inspect --explain; do
        run "$mode"
        if ((rc != 0)); then
          fail "$mode: exit code $rc: $err"
          continue
        fi
        # Bytes a terminal acts on: C0 controls but newline, and DEL.
        ctl=$(tr -d '\n' <"$w/stdout" | LC_ALL=C tr -d '\040-\176\200-\377' | wc -c)
        ((ctl == 0)) || fail "$mode: $ctl control byte(s) on stdout"
        iconv -f UTF-8 -t UTF-8 <"$w/stdout" >/dev/null 2>&1 || fail "$mode: stdout is not UTF-8"
        grep -qF -- "$expect" "$w/stdout" || fail "$mode: does not print $expect"
        check_nothing_written "$mode"
      done
      ;;
    *) fail "unknown kind $kind" ;;
  esac
  rm -rf "$w"
done <"$work/cases.tsv"

((ncases > 0)) || { echo "FAIL: no cases in group $group" >&2; exit 1; }
if ((failures > 0)); then
  echo "FAIL $group: $failures failure(s) in $ncases cases" >&2
  exit 1
fi
echo "PASS $group: $ncases cases ($nodonor_cases of them also without a donor)"
