#!/usr/bin/env bash
# remote.sh - a core resurrected on "another machine", simulated on this one.
# The victim, libcounter (victims/libcounter.c), runs from a directory of its
# own, WORK/opt/necro-remote/{bin/libcounter,lib/libnecrostep.so} (the library
# found through $ORIGIN/../lib; both with a build-id), and dies under
# necro-catch (SIGQUIT). Then that directory is taken away, as on a machine
# that never had it, and what the mode says stands in for it:
#   remote-sysroot     both files under WORK/sysroot, at their old paths:
#                      `--sysroot WORK/sysroot` finds them; --explain says so;
#                      the stopped restore equals the core (oracle), gdb
#                      `call step_value()` answers the dead count, and the
#                      process counts on from where it died; then
#                      `--restore --gdb` in one command, and the same call.
#   remote-debuginfod  no sysroot: a debuginfod server, started here on a free
#                      127.0.0.1 port over a directory holding the two files,
#                      serves them by build-id (DEBUGINFOD_URLS); --explain
#                      names the URL; oracle; counts on.
#   remote-anonymous   the executable under the sysroot, the library gone
#                      everywhere; the core is full (coredump_filter 0xff), so
#                      the library's mappings come back as anonymous memory
#                      holding the core's bytes, with a warning; oracle; the
#                      process counts on (its library's code and data from the
#                      core).
#   remote-missing     the same with the default coredump_filter (0x33): the
#                      library's code is not in the core, and criu-necromancer
#                      refuses, naming the object and its build-id; nothing
#                      is written.
#   remote-bundle      the core and its capture, tarred, untarred under
#                      another directory and the originals removed: resurrected
#                      from there (with --sysroot), oracle, counts on.
#@test remote-sysroot      the victim's own directory gone, its files under --sysroot: back, oracle equal, gdb call, runs on
#@test remote-debuginfod   the same with no sysroot: a local debuginfod server serves the files by build-id
#@test remote-anonymous    the library gone everywhere, a full core: its pages come back as anonymous memory, runs on
#@test remote-missing      the library gone everywhere, the default filter: a refusal naming it and its build-id
#@test remote-bundle       core + capture tarred, untarred elsewhere: resurrected from there
# shellcheck source=../lib.sh disable=SC2034 # lib.sh reads BIN, KIND, LAUNCH_*
. "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
e2e_args e2e. "$@"
victims_begin --catch
[ -x "$VICTIMS/libcounter" ] && [ -f "$VICTIMS/lib/libnecrostep.so" ] ||
    fatal "victim libcounter or its lib/libnecrostep.so is not built in $VICTIMS"
[ "$MODE" != remote-missing ] || COREDUMP_FILTER=0x33
PY=$(command -v python3) || fatal "python3 not found"

# The victim's own directory, as an install under /opt would be.
OPT=$WORK/opt/necro-remote
mkdir -p "$OPT/bin" "$OPT/lib"
cp "$VICTIMS/libcounter" "$OPT/bin/libcounter"
cp "$VICTIMS/lib/libnecrostep.so" "$OPT/lib/libnecrostep.so"
LIB=$OPT/lib/libnecrostep.so
LIB_ID=$(readelf -n "$LIB" | sed -n 's/^ *Build ID: *//p')
victim_setup libcounter
start_victim

# The other machine: the victim's directory is gone.
SYSROOT=$WORK/sysroot
mkdir -p "$SYSROOT$WORK"
mv "$WORK/opt" "$SYSROOT$WORK/opt"
[ ! -e "$OPT" ] && pass "$OPT taken away (now under $SYSROOT)" || fatal "$OPT is still there"
NECRO_ARGS=()
case $MODE in
    remote-sysroot | remote-bundle)
        NECRO_ARGS=(--sysroot "$SYSROOT") ;;
    remote-anonymous | remote-missing)
        rm "$SYSROOT$LIB"
        NECRO_ARGS=(--sysroot "$SYSROOT") ;;
    remote-debuginfod)
        need debuginfod debuginfod
        SERVED=$WORK/served
        mv "$SYSROOT$WORK/opt" "$SERVED"
        PORT=$(free_port)
        # Detached (not a process-group leader: setsid execs in place), tracked for cleanup.
        setsid debuginfod -F -d "$WORK/debuginfod.sqlite" -p "$PORT" "$SERVED" \
            </dev/null >"$WORK/debuginfod.log" 2>&1 {LOCKFD}>&- &
        DPID=$!
        TRACKED[$DPID]=$(readlink -f "$(command -v debuginfod)")
        export DEBUGINFOD_URLS="http://127.0.0.1:$PORT/" DEBUGINFOD_CACHE_PATH="$WORK/debuginfod-cache"
        wait_for 60 curl -sf -o /dev/null "${DEBUGINFOD_URLS}buildid/$LIB_ID/executable" ||
            { show_log "$WORK/debuginfod.log"; fatal "debuginfod (pid $DPID) on port $PORT does not serve build-id $LIB_ID"; }
        pass "debuginfod (pid $DPID) serves $SERVED on $DEBUGINFOD_URLS" ;;
esac

if [ "$MODE" = remote-bundle ]; then
    tar -C "$WORK" -cf "$WORK/bundle.tar" victim.core victim.core.necro
    rm -rf "$CORE" "$CORE.necro"
    mkdir "$WORK/elsewhere"
    tar -C "$WORK/elsewhere" -xf "$WORK/bundle.tar"
    CORE=$WORK/elsewhere/victim.core
    pass "core and capture tarred ($(file_size "$WORK/bundle.tar") bytes) and untarred in $WORK/elsewhere; the originals removed"
fi

IMG=$WORK/resurrected
run_necro -c "$CORE" "${NECRO_ARGS[@]}" --explain >"$WORK/explain.log" 2>&1 || true
if [ "$MODE" = remote-missing ]; then
    if run_necro -c "$CORE" "${NECRO_ARGS[@]}" -o "$IMG" >"$WORK/necro.log" 2>&1; then
        fail "criu-necromancer wrote a set without the library's code"
    elif grep -q "$LIB (build-id $LIB_ID)" "$WORK/necro.log"; then
        pass "refused, naming the library and its build-id: $(head -c 300 "$WORK/necro.log")"
    else
        fail "the refusal does not name $LIB (build-id $LIB_ID): $(cat "$WORK/necro.log")"
    fi
    [ ! -e "$IMG" ] && pass "nothing written" || fail "$IMG exists after the refusal"
    exit 0
fi
sed -n '/^mapped files on this machine:/,/^$/p' "$WORK/explain.log" | sed 's/^/  /'
case $MODE in
    remote-sysroot | remote-bundle) want="$LIB: under the sysroot: $SYSROOT$LIB" ;;
    remote-debuginfod) want="$LIB: from debuginfod $DEBUGINFOD_URLS" ;;
    remote-anonymous) want="$LIB: nowhere: its pages come from the core, as anonymous memory" ;;
esac
grep -qF "  $want" "$WORK/explain.log" && pass "--explain: '$want'" || { show_log "$WORK/explain.log"; fail "--explain lacks '$want'"; }
if [ "$MODE" = remote-anonymous ]; then
    grep -q "^  $LIB (build-id $LIB_ID) is not on this machine .*anonymous memory" "$WORK/explain.log" &&
        pass "warned: the library is no longer file-backed" || fail "no warning that $LIB comes back as anonymous memory"
fi
if ! run_necro -c "$CORE" "${NECRO_ARGS[@]}" -o "$IMG" >"$WORK/necro.log" 2>&1; then
    show_log "$WORK/necro.log"
    fatal "criu-necromancer -c $CORE ${NECRO_ARGS[*]} -o $IMG failed"
fi
pass "criu-necromancer wrote $(ls "$IMG" | wc -l) files from the core and its capture"
crit_decodes "$IMG"

# Where the restored process's files are now: BIN is its exe there.
case $MODE in
    remote-debuginfod) BIN=$(crit show "$IMG/files.img" | "$PY" -c '
import json, sys
for e in json.load(sys.stdin)["entries"]:
    n = e.get("reg", {}).get("name", "")
    if n.endswith("/executable") and "debuginfod-cache" in n:
        print(n)
        break') ;;
    *) BIN=$SYSROOT$BIN ;;
esac
check_stopped_restore "$IMG"
if [ "$MODE" != remote-anonymous ]; then
    grep -q " $( [ "$MODE" = remote-debuginfod ] && echo "$DEBUGINFOD_CACHE_PATH/$LIB_ID/executable" || echo "$SYSROOT$LIB")\$" "/proc/$VPID/maps" &&
        pass "the library is mapped from where it was found" || fail "the library is not mapped from where it was found: $(grep -i necro "/proc/$VPID/maps" | head -n 3)"
fi
# gdb on the restored, stopped process: a function of the victim's library
# answers with the dead count.
if command -v gdb >/dev/null && [ "$MODE" != remote-anonymous ]; then
    got=$(timeout 60 gdb -nx -batch -p "$VPID" -ex 'print (unsigned long) step_value()' 2>/dev/null |
        sed -n 's/^\$1 = //p')
    [ "$got" = "$DEAD" ] && pass "gdb: call step_value() in the restored process = $got, the dead count" ||
        fail "gdb: step_value() returned '$got', the dead count is $DEAD"
    wait_for 5 is_stopped "$VPID" || kill -STOP "$VPID"
fi
check_runs_on "$IMG"
# The worked example of docs/resurrect.md: one command restores it stopped and
# becomes gdb on the program where it was found; a call answers the dead count.
if [ "$MODE" = remote-sysroot ] && command -v gdb >/dev/null; then
    necro_gdb "$WORK/necro-gdb.log" $'print (unsigned long) step_value()\nkill\nquit' "${NECRO_ARGS[@]}" -o "$WORK/gdb-set"
    if [ "$RPID" = "$VPID" ] && grep -q "Attaching to program: $BIN, process $VPID" "$WORK/necro-gdb.log" &&
        grep -q "\$1 = $DEAD\$" "$WORK/necro-gdb.log"; then
        pass "--restore --gdb: gdb on $BIN, pid $VPID: step_value() = $DEAD, the dead count"
    else
        fail "--restore --gdb: no answer $DEAD from step_value(): $(tail -n 20 "$WORK/necro-gdb.log")"
    fi
    wait_gone "$VPID" 10 && unset "TRACKED[$VPID]" || kill_tracked "$VPID"
fi
exit 0
