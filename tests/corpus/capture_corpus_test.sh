#!/usr/bin/env bash
# Hostile captures through `necro-catch --show`: each case is a copy of the
# real fixture capture (tests/data/x86_64/catch.capture) broken one way. A bad
# capture must give exit code 1, nothing on stdout and exactly one stderr line
# `necro-catch: DIR/capture.txt: ...` with the expected message; never a
# crash or a hang. A hostile but valid one (escaped terminal escapes in a
# path) must print, exit 0, with no control byte in the output.
#
#   capture_corpus_test.sh NECRO_CATCH FIXTURE_CAPTURE_DIR
set -euo pipefail
tool=$1 fixture=$2
limit=${NECRO_CORPUS_TIMEOUT:-30}
work=$(mktemp -d "${TMPDIR:-/tmp}/necro-capture-corpus.XXXXXX")
trap 'rm -rf "$work"' EXIT
pid=$(sed -n 's/^pid //p' "$fixture/capture.txt")
failures=0 cases=0
fail() { echo "FAIL $name: $*" >&2; failures=$((failures + 1)); }

# new_case NAME: a fresh copy of the fixture in $dir.
new_case() {
  name=$1 dir=$work/$1
  cases=$((cases + 1))
  cp -r "$fixture" "$dir"
  txt=$dir/capture.txt
}

# refused EXPECT [PID]: --show must refuse with one line ending in EXPECT (a glob).
refused() {
  local expect=$1 rc=0
  timeout -k 5 "$limit" "$tool" --show "$dir" ${2:+"$2"} >"$work/out" 2>"$work/err" </dev/null || rc=$?
  local err
  err=$(cat "$work/err")
  if ((rc == 124 || rc == 137)); then fail "hung"; return; fi
  ((rc > 128)) && { fail "died of signal $((rc - 128))"; return; }
  ((rc == 1)) || fail "exit code $rc, expected 1: $err"
  [[ ! -s $work/out ]] || fail "wrote to stdout"
  [[ $(wc -l <"$work/err") -eq 1 ]] || fail "stderr is not one line: $err"
  # shellcheck disable=SC2053  # a glob on purpose
  [[ $err == "necro-catch: $dir/capture.txt: "$expect ]] || fail "says \"$err\", expected \"necro-catch: $dir/capture.txt: $expect\""
}

new_case truncated-half
head -c $(($(stat -c %s "$txt") / 2)) "$fixture/capture.txt" >"$txt"
refused "offset 0x*: line *: no newline at its end: truncated"
new_case truncated-no-end
grep -v '^end ' "$fixture/capture.txt" >"$txt"
refused "offset 0x*: no \`end\` line: the capture is truncated*"
new_case empty
: >"$txt"
refused "offset 0x0: no \`end\` line: the capture is truncated*"
new_case wrong-pid
refused "offset 0x*: capture of pid $pid, expected pid $((pid + 1))" $((pid + 1))
new_case control-byte-path
sed -i '0,/link=\/dev\/null/s//link=\/dev\/\x01null/' "$txt"
refused "offset 0x*: line *: control byte 0x01 at column * (values are %-escaped)"
new_case newline-in-path
sed -i '0,/link=\/dev\/null/s//link=\/dev\/\nnull/' "$txt"
refused "offset 0x*: line *: unknown key null"
new_case bad-escape
sed -i '0,/link=\/dev\/null/s//link=\/dev\/%zznull/' "$txt"
refused "offset 0x*: line *: fd: link= has a bad %-escape"
new_case huge-groups
awk '$1 == "creds" { g = "0"; for (i = 1; i <= 70000; i++) g = g "," i; sub(/groups=[^ ]*/, "groups=" g) } { print }' \
  "$fixture/capture.txt" >"$txt"
refused "offset 0x*: line *: * bytes, more than the cap of 65536"
new_case lying-end
sed -i 's/^end fds=[0-9]*/end fds=4294967295/' "$txt"
refused "offset 0x*: line *: end: says 4294967295 fds and * maps, the file has * and *"
new_case huge-number
sed -i '0,/pos=7/s//pos=99999999999999999999999/' "$txt"
refused "offset 0x*: line *: fd: pos=99999999999999999999999 is not a number that fits"
new_case binary
cp "$fixture/files.img" "$txt"
refused "offset 0x0: line 1: control byte 0x* at column *"
new_case version-99
sed -i '1s/.*/necro-capture 99/' "$txt"
refused "offset 0x0: line 1: capture format version 99; this reader knows 1 to 4"
# Format 3's kernel state: the fixture made a format 3 capture with one action
# and one thread line, then each broken (kernel_case NAME LINES...).
kernel_case() {
  new_case "$1"
  shift
  local lines
  lines=$(printf '%s\n' "$@")
  awk -v k="$lines" '$1 == "end" { print k } { print }' "$fixture/capture.txt" | sed '1s/.*/necro-capture 3/' >"$txt"
}
kernel_case kernel-sig-out-of-range 'kernel-state read actions=1 threads=0' 'action sig=99 handler=0x1 flags=0x0 restorer=0x0 mask=0x0'
refused "offset 0x*: line *: action: sig=99 is not 1..64"
kernel_case kernel-truncated-action 'kernel-state read actions=1 threads=0' 'action sig=10 handler=0x5555'
refused "offset 0x*: line *: action: no flags="
kernel_case kernel-lying-count 'kernel-state read actions=2 threads=0' 'action sig=10 handler=0x1 flags=0x0 restorer=0x0 mask=0x0'
refused "offset 0x*: kernel-state says 2 actions and 0 threads, the file has 1 and 0"
kernel_case kernel-stray-thread 'thread tid=5 comm=x'
refused "offset 0x*: line *: thread: not after a \`kernel-state read\` line"
kernel_case kernel-bad-nice 'kernel-state read actions=0 threads=1' \
  'thread tid=5 comm=x sas_sp=0x0 sas_size=0 sas_flags=0x2 clear_child_tid=0x0 robust_list=0x0 rseq=0x0 rseq_len=0 rseq_sig=0x0 policy=0 rt_priority=0 static_prio=120 normal_prio=120 nice=-99 timer_slack=50000'
refused "offset 0x*: line *: thread: nice=-99 static_prio=120: nice must be -20..19 and static_prio 120 + nice"
# Format 4's process and madvise lines (kernel4_case NAME LINES...).
kernel4_case() {
  kernel_case "$@"
  sed -i '1s/.*/necro-capture 4/' "$txt"
}
kernel4_case kernel4-no-vmas-count 'kernel-state read actions=0 threads=0'
refused "offset 0x*: line *: kernel-state: no vmas="
kernel4_case kernel4-bad-seccomp 'kernel-state read actions=0 threads=0 vmas=0' \
  'process personality=0x0 securebits=0x0 no_new_privs=0 seccomp=7 seccomp_filters=0 mm_flags=0x0'
refused "offset 0x*: line *: process: seccomp=7 is not 0 (disabled), 1 (strict) or 2 (filter)"
kernel4_case kernel4-overlapping-vmas 'kernel-state read actions=0 threads=0 vmas=2' \
  'madvise start=0x10000 end=0x20000 madv=0x400 locked=0' 'madvise start=0x18000 end=0x30000 madv=0x0 locked=1'
refused "offset 0x*: line *: madvise: 0x18000-0x30000 after 0x10000-0x20000: ascending and not overlapping"
kernel4_case kernel4-unknown-advice 'kernel-state read actions=0 threads=0 vmas=1' \
  'madvise start=0x10000 end=0x20000 madv=0x8 locked=0'
refused "offset 0x*: line *: madvise: madv=0x8 holds unknown advice bits"
kernel4_case kernel4-truncated-process 'kernel-state read actions=0 threads=0 vmas=0' 'process personality=0x0 securebits'
refused "offset 0x*: line *: process: *"
kernel4_case kernel4-process-in-format-3 'kernel-state read actions=0 threads=0 vmas=0' \
  'process personality=0x0 securebits=0x0 no_new_privs=0 seccomp=0 seccomp_filters=0 mm_flags=0x0'
sed -i '1s/.*/necro-capture 3/' "$txt"
refused "offset 0x*: line *: process: not in a format 3 capture"
# Format 4's timers (timers_case NAME LINES...: after an empty kernel state read).
timers_case() { kernel4_case "$@"; }
itimers=('itimer which=real value_ns=0 interval_ns=100000000' 'itimer which=virtual value_ns=0 interval_ns=0' 'itimer which=prof value_ns=0 interval_ns=0')
timers_case timers-bad-clock-word 'kernel-state read actions=0 threads=0 vmas=0' 'timers read itimers=3 posix=1' "${itimers[@]}" \
  'posix-timer id=0 clock=monotonic signo=34 notify=4 tid=5 sigev_value=0x0 value_ns=0 interval_ns=0 overrun=0'
refused "offset 0x*: line *: posix-timer: clock=monotonic is not a number that fits"
timers_case timers-out-of-order 'kernel-state read actions=0 threads=0 vmas=0' 'timers read itimers=3 posix=0' "${itimers[1]}" "${itimers[0]}" "${itimers[2]}"
refused "offset 0x*: line *: itimer: which=virtual where real was due*"
timers_case timers-lying-count 'kernel-state read actions=0 threads=0 vmas=0' 'timers read itimers=3 posix=2' "${itimers[@]}" \
  'posix-timer id=0 clock=1 signo=34 notify=4 tid=5 sigev_value=0x0 value_ns=0 interval_ns=0 overrun=0'
refused "offset 0x*: timers says 3 itimers and 2 POSIX timers, the file has 3 and 1"
timers_case timers-bad-notify 'kernel-state read actions=0 threads=0 vmas=0' 'timers read itimers=3 posix=1' "${itimers[@]}" \
  'posix-timer id=0 clock=1 signo=34 notify=9 tid=5 sigev_value=0x0 value_ns=0 interval_ns=0 overrun=0'
refused "offset 0x*: line *: posix-timer id=0: notify=9 is not SIGEV_SIGNAL 0*"
timers_case timers-huge-time 'kernel-state read actions=0 threads=0 vmas=0' 'timers read itimers=3 posix=0' \
  'itimer which=real value_ns=18446744073709551615 interval_ns=0' "${itimers[1]}" "${itimers[2]}"
refused "offset 0x*: line *: itimer: value_ns=18446744073709551615 interval_ns=0: above 2^63"
timers_case timers-stray 'itimer which=real value_ns=0 interval_ns=0'
refused "offset 0x*: line *: itimer: not after a \`timers read\` line"
new_case kernel-in-format-2
awk '$1 == "end" { print "kernel-state missing why=x" } { print }' "$fixture/capture.txt" >"$txt"
refused "offset 0x*: line *: kernel-state: not in a format 2 capture"
new_case shared-count
sed -i 's/^shared-vmas 0$/shared-vmas 2/' "$txt"
refused "*shared-vmas says 2, the file has 0 shared lines"
new_case missing
rm "$txt"
refused "cannot open: No such file or directory"

# Valid format 3: the kernel state missing, and why; --show says so.
kernel_case kernel-missing 'kernel-state missing why=disabled%20by%20--no-bpf'
rc=0
timeout -k 5 "$limit" "$tool" --show "$dir" "$pid" >"$work/out" 2>"$work/err" </dev/null || rc=$?
((rc == 0)) || fail "exit code $rc: $(cat "$work/err")"
grep -qF 'kernel state missing: disabled by --no-bpf' "$work/out" || fail "the reason is not shown: $(tail -3 "$work/out")"

# Valid format 4: --show prints the process line and each advised VMA.
kernel4_case kernel4-valid 'kernel-state read actions=0 threads=0 vmas=1' \
  'process personality=0x40000 securebits=0x10 no_new_privs=1 seccomp=2 seccomp_filters=1 mm_flags=0x10000cd' \
  'madvise start=0x10000 end=0x20000 madv=0x4400 locked=1'
rc=0
timeout -k 5 "$limit" "$tool" --show "$dir" "$pid" >"$work/out" 2>"$work/err" </dev/null || rc=$?
((rc == 0)) || fail "exit code $rc: $(cat "$work/err")"
grep -qF 'process personality 0x40000 securebits 0x10 no_new_privs 1 seccomp 2 (1 filters)' "$work/out" || fail "no process line: $(tail -3 "$work/out")"
grep -qF 'advice 0x10000-0x20000 madv 0x4400 mlock' "$work/out" || fail "no advice line: $(tail -3 "$work/out")"

# Hostile but valid: a path holding an escaped terminal escape and a newline.
new_case escaped-escapes
sed -i '0,/link=\/dev\/null/s//link=\/dev\/%1B[31mred%0Aline/' "$txt"
rc=0
timeout -k 5 "$limit" "$tool" --show "$dir" "$pid" >"$work/out" 2>"$work/err" </dev/null || rc=$?
((rc == 0)) || fail "exit code $rc: $(cat "$work/err")"
! LC_ALL=C grep -q $'[\x01-\x09\x0b-\x1f\x7f]' "$work/out" || fail "control bytes in the output"
grep -qF 'fd 0 reg flags 0o100000 pos 0 /dev/\x1b[31mred\x0aline' "$work/out" || fail "escaped path not shown: $(head -5 "$work/out")"

echo "$cases cases, $failures failures"
((failures == 0))
