#!/usr/bin/env bash
# catch-bpf.sh - what necro-catch's BPF step (the kernel's state of the dying
# task through its task iterator, docs/capture.md) costs per crash, on the
# e2e victims and on a 257-thread process, crashed for real under the helper.
#
#   sudo bench/catch-bpf.sh [--build DIR] [--runs N]      (default: build, 10 runs)
#
# It builds what it needs in DIR (necro-catch and the victims of
# tests/e2e/victims; `cmake --build DIR -j2 --target ...`), takes the e2e lock
# (/tmp/necro-e2e.lock: core_pattern is machine-wide) and sets core_pattern to
# `|necro-catch -d WORK/caught %P` with core_pipe_limit >= 1, both put back on
# exit (tests/e2e/lib.sh). Victims:
#   counter      1 thread                  sigalt     1 thread, a SIGUSR1 handler on a sigaltstack
#   pool-64      65 threads                pattern-257  257 threads, 16 MiB of data
# Each is started, waited for (all its threads up), and killed with SIGQUIT,
# N times with the BPF step and N times with `--no-bpf`. Per victim, from each
# capture.log: the BPF step (`through BPF in X ms (load Y ms)`), the whole
# helper (`necro-catch done in Z ms`); from this script: kill to reap (the
# kernel's dump plus the helper, which the dying task waits for). Printed as
# median and max; "added" is the whole helper's median with BPF less without.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$here/../build runs=10
while [ $# -gt 0 ]; do
    case $1 in
        --build) build=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "catch-bpf.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" -eq 0 ] || { echo "catch-bpf.sh: needs root (core_pattern, BPF)" >&2; exit 1; }
build=$(realpath "$build")
cmake --build "$build" -j2 --target necro-catch necro_e2e_counter necro_e2e_sigalt necro_e2e_pool necro_e2e_pattern >/dev/null

# shellcheck source=../tests/e2e/lib.sh disable=SC2034 # lib.sh reads NAME
. "$here/../tests/e2e/lib.sh"
NAME=bench.catch-bpf
CATCH=$build/examples/catch/necro-catch
VICTIMS=$build/tests/e2e/victims
e2e_begin
cores_through_catch

# stats V...: "median max" of the numbers.
stats() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "%.1f %.1f", v[int((NR + 1) / 2)], v[NR]; else printf "- -" }'; }

# one_crash THREADS PROG ARGS...: start, wait for THREADS threads (and a
# first line of output), kill -QUIT, reap; appends to the arrays of the mode.
one_crash() {
    local threads=$1 pid t0 reaped log
    shift
    rm -f "$WORK/out" "$WORK/ready"
    launch "$@"
    pid=$LAUNCHED
    wait_for 20 eval "[ \"\$(awk '/^Threads:/ { print \$2 }' /proc/$pid/status 2>/dev/null)\" = $threads ] && { [ -s '$WORK/out' ] || [ -e '$WORK/ready' ]; }" ||
        fatal "$* did not get ready ($threads threads)"
    t0=$(date +%s%N)
    kill -QUIT "$pid"
    { wait "$pid"; } 2>/dev/null || true
    reaped=$(( ($(date +%s%N) - t0) / 1000 ))
    unset "TRACKED[$pid]"
    log=$COREDIR/core.$pid.necro/capture.log
    wait_for 10 grep -q 'necro-catch done in' "$log" || fatal "$log has no 'necro-catch done' line"
    REAP+=("$(awk -v u="$reaped" 'BEGIN { printf "%.1f", u / 1000 }')")
    HELPER+=("$(sed -n 's/.*necro-catch done in \([0-9.]*\) ms.*/\1/p' "$log")")
    if [ "$MODE_BPF" = 1 ]; then
        grep -q 'through BPF in' "$log" || fatal "no kernel state read: $(grep 'kernel state' "$log")"
        STEP+=("$(sed -n 's/.*through BPF in \([0-9.]*\) ms.*/\1/p' "$log")")
        LOAD+=("$(sed -n 's/.*through BPF in .* (load \([0-9.]*\) ms).*/\1/p' "$log")")
    fi
    rm -rf "$COREDIR/core.$pid" "$COREDIR/core.$pid.necro"
}

printf '%-12s %7s | %-13s %-13s %-13s %-13s | %-13s %-13s | %s\n' victim threads "BPF step" "(load)" helper "kill->reap" \
    "helper" "kill->reap" "added"
printf '%-12s %7s | %-13s %-13s %-13s %-13s | %-13s %-13s | %s\n' "" "" "med max ms" "med max ms" "med max ms" "med max ms" \
    "--no-bpf" "--no-bpf" "helper med"
row() {
    local name=$1 threads=$2 bpf_step bpf_load bpf_helper bpf_reap i
    shift 2
    for MODE_BPF in 1 0; do
        STEP=() LOAD=() HELPER=() REAP=()
        if [ "$MODE_BPF" = 1 ]; then cores_through_catch "|$CATCH -d $WORK/caught %P" >/dev/null
        else cores_through_catch "|$CATCH -d $WORK/caught --no-bpf %P" >/dev/null; fi
        for ((i = 0; i < runs; i++)); do one_crash "$threads" "$@"; done
        if [ "$MODE_BPF" = 1 ]; then
            bpf_step=$(stats "${STEP[@]}") bpf_load=$(stats "${LOAD[@]}")
            bpf_helper=$(stats "${HELPER[@]}") bpf_reap=$(stats "${REAP[@]}")
        fi
    done
    printf '%-12s %7s | %-13s %-13s %-13s %-13s | %-13s %-13s | %+.1f ms\n' "$name" "$threads" "$bpf_step" "$bpf_load" \
        "$bpf_helper" "$bpf_reap" "$(stats "${HELPER[@]}")" "$(stats "${REAP[@]}")" \
        "$(awk -v a="${bpf_helper%% *}" -v b="$(stats "${HELPER[@]}" | cut -d' ' -f1)" 'BEGIN { print a - b }')"
    pass "$name: $runs crashes with the BPF step, $runs without"
}
row counter 1 "$VICTIMS/counter" "$WORK/out"
row sigalt 1 "$VICTIMS/sigalt" "$WORK/out"
row pool-64 65 "$VICTIMS/pool" "$WORK/out" 64
row pattern-257 257 "$VICTIMS/pattern" "$WORK/ready" 16 257
log "machine: $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)), kernel $(uname -r), $(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo); libbpf $(dpkg-query -W -f='${Version}' libbpf1 2>/dev/null || echo '?'); necro-catch $CATCH"
exit 0
