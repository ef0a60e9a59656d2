#!/usr/bin/env bash
# catch-load.sh - necro-catch under load (issue 21): N victims
# (victims/pattern.c, 4 threads each) fill MIB MiB each with a pattern of
# their pid and the address, then all die of one `kill -QUIT` at once under
# `|necro-catch --dir WORK/caught %P` with core_pipe_limit >= N (the kernel
# skips a dump past the limit). Checked for every victim:
#   - it died of SIGQUIT and was let go (the helper drained its core);
#   - its core is complete (no .partial, no .incomplete marker, capture.log
#     says `core complete`), and holds exactly its pattern, page by page over
#     the whole buffer (necro-e2e-pattern-check on the PT_LOAD contents: a
#     page of another victim, a page missing or a byte wrong fails);
#   - its capture is complete: capture.txt ends with its `end` line,
#     capture.log says `capture finished, status 0`, the kernel state was
#     read through BPF (or its reason is one where BPF cannot run here at
#     all), and no line says INCOMPLETE, killed, failed or skipped.
# The times (kill to the last reap; per helper: the BPF step, the whole
# helper) are printed as a TIMES: line and a summary.
#   catch-load      16 x 16 MiB (ctest)
#   catch-load-256  16 x 256 MiB, ~4 GiB of memory and of disk (by hand, or
#                   bench/catch-load.sh); NECRO_LOAD_VICTIMS and NECRO_LOAD_MIB
#                   override the count and the size of either mode.
#@test catch-load timeout=180   16 victims of 16 MiB crash at once under necro-catch: every core holds its pattern, every capture complete
#@manual catch-load-256         the same with 256 MiB each (bench/catch-load.sh)
# shellcheck source=../lib.sh disable=SC2034 # lib.sh reads E2E_TIMES
. "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
e2e_args e2e. "$@"
need_root "core_pattern"
need_built "$CATCH" necro-catch skip
BIN=$VICTIMS/pattern
CHECK=$(dirname -- "$ORACLE")/necro-e2e-pattern-check
[ -x "$BIN" ] || fatal "victim '$BIN' is not built"
[ -x "$CHECK" ] || fatal "'$CHECK' is not built"
N=${NECRO_LOAD_VICTIMS:-16}
MIB=${NECRO_LOAD_MIB:-$([ "$MODE" = catch-load-256 ] && echo 256 || echo 16)}
THREADS=4

# Room: the victims' memory plus their cores in the page cache; the cores on disk.
need_kib=$((N * MIB * 1024))
avail_kib=$(awk '$1 == "MemAvailable:" { print $2 }' /proc/meminfo)
[ "$avail_kib" -ge $((2 * need_kib + 512 * 1024)) ] ||
    skip "$N x $MIB MiB needs $((2 * need_kib / 1024 + 512)) MiB of available memory, have $((avail_kib / 1024)) MiB"
e2e_begin
E2E_TIMES=1
disk_kib=$(df -k --output=avail "$WORK" | tail -n 1)
[ "$disk_kib" -ge $((need_kib + 256 * 1024)) ] ||
    skip "$N x $MIB MiB of cores need $((need_kib / 1024 + 256)) MiB free under $WORK, have $((disk_kib / 1024)) MiB"
cores_through_catch
[ "$(cat /proc/sys/kernel/core_pipe_limit)" -ge "$N" ] || set_sysctl kernel/core_pipe_limit "$N"
log "$N victims x $MIB MiB x $THREADS threads; core_pipe_limit $(cat /proc/sys/kernel/core_pipe_limit)"

PIDS=()
declare -A BUF=() LEN=()
t0=$(now_ms)
for ((i = 0; i < N; i++)); do
    LAUNCH_DIR=$WORK/v$i
    mkdir -p "$LAUNCH_DIR"
    launch "$BIN" "$LAUNCH_DIR/ready" "$MIB" "$THREADS"
    PIDS+=("$LAUNCHED")
done
for ((i = 0; i < N; i++)); do
    pid=${PIDS[i]}
    wait_for $((30 + MIB / 4)) test -e "$WORK/v$i/ready" || fatal "victim $pid did not fill its $MIB MiB (state '$(state_of "$pid")')"
    read -r _ "BUF[$pid]" "LEN[$pid]" <"$WORK/v$i/ready"
done
TIMES+=("fill $(( $(now_ms) - t0 )) ms")
pass "$N victims filled $MIB MiB each with their pattern: ${PIDS[*]}"

t0=$(now_ms)
kill -QUIT "${PIDS[@]}"
bad=
for pid in "${PIDS[@]}"; do
    st=0
    { wait "$pid"; } 2>/dev/null || st=$?
    unset "TRACKED[$pid]"
    [ "$st" -eq 131 ] || bad="$bad $pid:$st"
done
reaped_ms=$(( $(now_ms) - t0 ))
TIMES+=("kill to the last reap $reaped_ms ms")
[ -z "$bad" ] && pass "all $N died of SIGQUIT and were let go $reaped_ms ms after the kill" ||
    fatal "victims with another exit status than 131 (SIGQUIT):$bad"

# capture_ok CAP: capture.log of a complete capture with no failure line.
capture_ok() {
    local cap=$1 why
    tail -n 1 "$cap/capture.txt" | grep -q '^end fds=' || { echo "capture.txt has no 'end' line"; return 1; }
    grep -q 'capture finished, status 0$' "$cap/capture.log" || { echo "no 'capture finished, status 0'"; return 1; }
    if grep -q 'kernel state missing' "$cap/capture.log"; then
        why=$(sed -n 's/.*kernel state missing ([^)]*): //p' "$cap/capture.log")
        case $why in
            *"built without BPF support"* | *"has no BTF"* | *"needs CAP_BPF"*) ;;
            *) echo "kernel state missing: $why"; return 1 ;;
        esac
    fi
    if grep -E 'INCOMPLETE|killed|failed|skipped:|cannot' "$cap/capture.log" >"$cap.bad"; then
        echo "capture.log: $(head -n 3 "$cap.bad")"
        return 1
    fi
}

bpf=() helper=()
for pid in "${PIDS[@]}"; do
    core=$COREDIR/core.$pid
    [ -f "$core" ] || { fail "no core $core: $(ls "$COREDIR" | grep "core.$pid" | paste -sd' ')"; continue; }
    check_caught "$core"
    if "$CHECK" "$core" "$pid" "${BUF[$pid]}" "${LEN[$pid]}" >"$WORK/check.$pid" 2>&1; then
        pass "$(tail -n 1 "$WORK/check.$pid")"
    else
        fail "core.$pid does not hold its pattern: $(tail -n 4 "$WORK/check.$pid" | paste -sd'|')"
    fi
    if why=$(capture_ok "$core.necro"); then
        pass "core.$pid.necro: capture complete, no failure in capture.log"
    else
        fail "core.$pid.necro: $why"
        show_log "$core.necro/capture.log"
    fi
    b=$(sed -n 's/.*through BPF in \([0-9.]*\) ms.*/\1/p' "$core.necro/capture.log")
    h=$(sed -n 's/.*necro-catch done in \([0-9.]*\) ms.*/\1/p' "$core.necro/capture.log")
    [ -z "$b" ] || bpf+=("$b")
    [ -z "$h" ] || helper+=("$h")
done

# stats V...: "median M max X" of the numbers.
stats() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "median %.1f max %.1f ms (n=%d)", v[int((NR + 1) / 2)], v[NR], NR }'; }
log "summary: $N x $MIB MiB: kill to the last reap $reaped_ms ms; BPF step $(stats "${bpf[@]}"); whole helper $(stats "${helper[@]}")"
TIMES+=("BPF step $(stats "${bpf[@]}")" "helper $(stats "${helper[@]}")")
exit 0
