#!/usr/bin/env bash
# Faults while writing: whatever happens, the donor's images are never
# modified, the output is either complete (equal to an undisturbed patch) or
# absent, no staging directory (.OUT.necro-PID) is left, and the one-line
# message says what happened.
#
#   fault_test.sh MAKE_CORPUS NECROMANCER CORE DONOR_DIR CASE
#
# CASE:
#   enospc     the output on a small tmpfs, at sizes that run out of space at
#              every step of the write (and in place, the donor on it)
#   readonly   the output's parent on a read-only filesystem (and in place)
#   interrupt  SIGINT, SIGTERM and SIGHUP while a 768 MiB core is written (as
#              the staging directory appears, and while the pages are copied),
#              with -o and in place; SIGKILL, which cannot be handled
#
# enospc and readonly mount tmpfs filesystems: they need root (and a kernel
# that lets us mount). Without, readonly falls back to a chmod 555 directory
# and enospc exits 77 (ctest's SKIP_RETURN_CODE) saying why.
set -euo pipefail
gen=$1 tool=$2 core=$3 donor=$4 case=$5
work=$(mktemp -d "${TMPDIR:-/tmp}/necro-fault.XXXXXX")
mounts=()
cleanup() {
  local m
  for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  chmod -R u+w "$work" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

failures=0
fail() {
  echo "FAIL $case${step:+ ($step)}: $*" >&2
  failures=$((failures + 1))
}
skip() {
  echo "SKIP $case: $*"
  exit 77
}

state() {
  (cd "$1" && find . -mindepth 1 -printf '%P %y %m %s\n' | LC_ALL=C sort &&
    find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum)
}

# mount_tmpfs DIR SIZE: a fresh tmpfs at DIR; false if we may not mount.
mount_tmpfs() {
  mkdir -p "$1"
  [[ $(id -u) -eq 0 ]] || return 1
  mount -t tmpfs -o "size=$2,mode=0755" necro-fault "$1" 2>/dev/null || return 1
  mounts+=("$1")
}
unmount() {
  umount "$1"
  local m kept=()
  for m in "${mounts[@]}"; do [[ $m == "$1" ]] || kept+=("$m"); done
  mounts=("${kept[@]}")
}

# run CORE DONOR [ARGS...]: sets rc, err.
run() {
  local c=$1 d=$2
  shift 2
  rc=0
  timeout -k 5 120 "$tool" -c "$c" -i "$d" --offline -q "$@" </dev/null >"$work/stdout" 2>"$work/stderr" || rc=$?
  err=$(cat "$work/stderr")
}

one_line() {
  [[ $(wc -l <"$work/stderr") -eq 1 && $(wc -c <"$work/stderr") -eq $((${#err} + 1)) ]] ||
    fail "stderr is not exactly one line: $err"
}

# No staging directory anywhere in $1.
no_staging() {
  local left
  left=$(find "$1" -maxdepth 1 -name '.*.necro-*' 2>/dev/null || true)
  [[ -z $left ]] || fail "a staging directory was left behind: $left"
}

baseline=
baseline_core=
# The undisturbed patch of core $1, as state().
make_baseline() {
  [[ $baseline_core == "$1" ]] && return 0
  rm -rf "$work/baseline"
  mkdir -p "$work/baseline"
  cp -a "$donor" "$work/baseline/donor"
  "$tool" -c "$1" -i "$work/baseline/donor" -o "$work/baseline/out" --offline -q
  baseline=$(state "$work/baseline/out")
  baseline_core=$1
  rm -rf "$work/baseline"
}

# The output $1 is complete, or absent after a failure.
complete_or_absent() {
  local out=$1
  if [[ -e $out ]]; then
    [[ $(state "$out") == "$baseline" ]] || fail "the output exists but differs from an undisturbed patch (rc $rc)"
  elif ((rc == 0)); then
    fail "exit code 0 but no output"
  fi
}

case $case in
  enospc)
    make_baseline "$core"
    pristine=$(state "$donor")
    mount_tmpfs "$work/probe" 64k || skip "cannot mount a tmpfs (needs root, and a kernel that lets us mount)"
    unmount "$work/probe"
    need=$(du -sk "$donor" | cut -f1)
    # Sizes from nothing to more than the whole set (about 2.2 MiB on tmpfs),
    # so that each step runs out: core-, mm-, pstree, files, pages, pagemap, carried.
    clean=0 complete=0
    for kib in 4 8 12 16 64 1024 2048 2160 2170 2180 2184 2188 2192 2196 2200 2204 2208 2400 4096; do
      step="-o OUT, ${kib} KiB"
      mount_tmpfs "$work/small" "${kib}k"
      run "$core" "$donor" -o "$work/small/out"
      if ((rc == 0)); then
        complete_or_absent "$work/small/out"
        complete=$((complete + 1))
      else
        ((rc == 1)) || fail "exit code $rc: $err"
        one_line
        [[ $err == *"No space left on device"* ]] || fail "does not say the disk is full: $err"
        [[ ! -e $work/small/out ]] || fail "a partial output was left"
        clean=$((clean + 1))
      fi
      no_staging "$work/small"
      [[ -z $(ls -A "$work/small") || $rc -eq 0 ]] || fail "left behind: $(ls -A "$work/small")"
      unmount "$work/small"
    done
    # In place, the donor on the small filesystem: it must come out untouched.
    for kib in $((need + 16)) $((need + 512)) $((need + 2600)); do
      step="in place, ${kib} KiB"
      mount_tmpfs "$work/small" "${kib}k"
      cp -a "$donor" "$work/small/donor"
      before=$(state "$work/small/donor")
      run "$core" "$work/small/donor"
      if ((rc == 0)); then
        [[ $(state "$work/small/donor.donor") == "$before" ]] || fail "the originals in DIR.donor differ"
        [[ $(state "$work/small/donor") == "$baseline" ]] || fail "the patched set differs from an undisturbed patch"
        complete=$((complete + 1))
      else
        ((rc == 1)) || fail "exit code $rc: $err"
        one_line
        [[ $err == *"No space left on device"* ]] || fail "does not say the disk is full: $err"
        [[ $(state "$work/small/donor") == "$before" ]] || fail "the donor directory changed"
        [[ ! -e $work/small/donor.donor ]] || fail "DIR.donor was left"
        clean=$((clean + 1))
      fi
      no_staging "$work/small"
      unmount "$work/small"
    done
    step=
    [[ $(state "$donor") == "$pristine" ]] || fail "the fixture donor changed"
    ((clean >= 8)) || fail "only $clean runs ran out of space: the sizes no longer cover the write"
    echo "enospc: $clean clean failures, $complete complete sets"
    ;;

  readonly)
    make_baseline "$core"
    if mount_tmpfs "$work/ro" 4m; then
      cp -a "$donor" "$work/ro/donor"
      mount -o remount,ro "$work/ro"
      how="read-only tmpfs"
      says="Read-only file system"
    else
      # Without root (or mount): permission bits, which root would bypass.
      [[ $(id -u) -ne 0 ]] || skip "root, but cannot mount a tmpfs: no read-only filesystem to test"
      mkdir -p "$work/ro"
      cp -a "$donor" "$work/ro/donor"
      chmod 555 "$work/ro"
      how="chmod 555 directory"
      says="Permission denied"
    fi
    before=$(state "$work/ro/donor")
    step="-o OUT"
    run "$core" "$work/ro/donor" -o "$work/ro/out"
    ((rc == 1)) || fail "exit code $rc: $err"
    one_line
    [[ $err == "criu-necromancer: $work/ro/.out.necro-"*": cannot create the staging directory: $says" ]] ||
      fail "unexpected message: $err"
    [[ ! -e $work/ro/out ]] || fail "output written"
    step="in place"
    run "$core" "$work/ro/donor"
    ((rc == 1)) || fail "exit code $rc: $err"
    one_line
    [[ $err == *": cannot create the staging directory: $says" ]] || fail "unexpected message: $err"
    [[ $(state "$work/ro/donor") == "$before" ]] || fail "the donor directory changed"
    [[ ! -e $work/ro/donor.donor ]] || fail "DIR.donor was made"
    step=
    echo "readonly: refused cleanly on a $how"
    ;;

  interrupt)
    big=$work/big.core
    "$gen" grow "$core" "$big" 768
    make_baseline "$big"
    interrupted=0 finished=0
    # When: as soon as the staging directory exists, or once pages-*.img has
    # bytes (the page engine is copying). Background jobs of a script start
    # with SIGINT ignored: `env --default-signal` gives the tool the default
    # dispositions a terminal would. Last, SIGINT left ignored: it must stay
    # ignored (nohup), and the set must be written whole.
    for when in INT:staging TERM:staging HUP:staging TERM:pages INT:pages INT:ignored; do
      sig=${when%%:*} at=${when#*:}
      launch=(env --default-signal=INT,TERM,HUP)
      [[ $at == ignored ]] && launch=(env)
      for mode in out in-place; do
        step="SIG$sig at $at, $mode"
        d=$work/run/donor
        rm -rf "$work/run"
        mkdir -p "$work/run"
        cp -a "$donor" "$d"
        before=$(state "$d")
        if [[ $mode == out ]]; then
          target=$work/run/out
          "${launch[@]}" "$tool" -c "$big" -i "$d" -o "$target" --offline -q </dev/null >"$work/stdout" 2>"$work/stderr" &
        else
          target=$d
          "${launch[@]}" "$tool" -c "$big" -i "$d" --offline -q </dev/null >"$work/stdout" 2>"$work/stderr" &
        fi
        pid=$!
        staging=$(dirname "$target")/.$(basename "$target").necro-$pid
        for _ in $(seq 6000); do
          if [[ $at != pages ]]; then
            [[ -e $staging ]] && break
          else
            [[ -s $staging/pages-1.img ]] && break
          fi
          kill -0 "$pid" 2>/dev/null || break
          sleep 0.005
        done
        kill -s "$sig" "$pid" 2>/dev/null || true
        rc=0
        wait "$pid" || rc=$?
        err=$(cat "$work/stderr")
        sig_rc=$((128 + $(kill -l "$sig")))
        if [[ $mode == out && -e $target ]] || [[ $mode == in-place && -e $d.donor ]]; then
          # Too late to stop (or ignored): the set must be whole.
          if [[ $at == ignored ]]; then
            ((rc == 0)) || fail "exit code $rc with SIGINT ignored: $err"
          else
            ((rc == 0 || rc == sig_rc)) || fail "exit code $rc: $err"
          fi
          if [[ $mode == out ]]; then
            [[ $(state "$target") == "$baseline" ]] || fail "the output is not complete"
          else
            [[ $(state "$d") == "$baseline" ]] || fail "the patched set is not complete"
            [[ $(state "$d.donor") == "$before" ]] || fail "the originals in DIR.donor differ"
          fi
          finished=$((finished + 1))
          echo "$step: finished before the signal"
        elif [[ $at == ignored ]]; then
          fail "an ignored SIGINT stopped the write (exit code $rc): $err"
        else
          ((rc == sig_rc)) || fail "exit code $rc, expected $sig_rc (killed by SIG$sig): $err"
          one_line
          # One line that names the run's file and says it was interrupted, by which signal.
          [[ $err == "criu-necromancer: "*"interrupted"*"(SIG$sig)" && $err == *"$(basename "$target")"* ]] ||
            fail "unexpected message: $err"
          [[ $(state "$d") == "$before" ]] || fail "the donor directory changed"
          [[ ! -e $d.donor ]] || fail "DIR.donor was left"
          interrupted=$((interrupted + 1))
          echo "$step: stopped"
        fi
        no_staging "$work/run"
      done
    done
    # SIGKILL cannot be handled: the output must still be absent (or whole),
    # the donor untouched; the staging directory stays (docs/limits.md).
    step="SIGKILL"
    rm -rf "$work/run"
    mkdir -p "$work/run"
    cp -a "$donor" "$work/run/donor"
    before=$(state "$work/run/donor")
    "$tool" -c "$big" -i "$work/run/donor" -o "$work/run/out" --offline -q </dev/null >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 6000); do
      [[ -e $work/run/.out.necro-$pid/pages-1.img ]] && break
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.005
    done
    kill -KILL "$pid" 2>/dev/null || true
    rc=0
    wait "$pid" || rc=$?
    if [[ -e $work/run/out ]]; then
      [[ $(state "$work/run/out") == "$baseline" ]] || fail "the output is not complete"
    fi
    [[ $(state "$work/run/donor") == "$before" ]] || fail "the donor directory changed"
    step=
    ((interrupted >= 5)) || fail "only $interrupted runs were interrupted mid-write ($finished finished first): the core is too small for this machine"
    echo "interrupt: $interrupted runs stopped mid-write and cleaned up, $finished finished before the signal"
    ;;

  *)
    echo "usage: fault_test.sh MAKE_CORPUS NECROMANCER CORE DONOR_DIR enospc|readonly|interrupt" >&2
    exit 2
    ;;
esac

if ((failures > 0)); then
  echo "FAIL $case: $failures failure(s)" >&2
  exit 1
fi
echo "PASS $case"
