#!/usr/bin/env bash
# title_e2e.sh - end to end: a program that rewrote its process title comes
# back with the kernel's mm fields and its title.
#
#   title_e2e.sh STYLE --title BIN --necro CLI
#
# STYLE is one of tests/data/src/title.c's modes (redis, nginx, ps_status,
# wiped, ...). The victim runs `BIN STYLE alpha "beta gamma" --delta=4`,
# rewrites its title, and dies of SIGQUIT with a core; a second run is dumped
# by CRIU as the donor; criu-necromancer patches; `criu restore -d` brings the
# victim back, and its /proc/PID/stat fields 28 and 48-51 (start_stack,
# arg_start, arg_end, env_start, env_end) and /proc/PID/cmdline must be the
# ones the victim had. For `wiped` (argv/envp pointers and strings gone) only
# start_stack and env_end are checked, and the patch must warn.
#
# Needs root and NECRO_CRIU (CRIU >= 4.1); exits 77 (skipped) otherwise.
# Takes /tmp/necro-e2e.lock like run_e2e.sh (core_pattern is machine-wide) and
# restores core_pattern on exit. Only processes it started are signalled.
set -uo pipefail

SKIP=77
STYLE=${1:?usage: title_e2e.sh STYLE --title BIN --necro CLI}
shift
TITLE= NECRO=
while [ $# -gt 0 ]; do
    case $1 in
    --title) TITLE=$2; shift 2 ;;
    --necro) NECRO=$2; shift 2 ;;
    *) echo "title_e2e.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
NAME="e2e.title-$STYLE"
FAILS=0
log() { printf '[%s] %s\n' "$(date +%H:%M:%S.%3N)" "$*"; }
skip() { printf 'SKIPPED: %s: %s\n' "$NAME" "$*"; exit "$SKIP"; }
pass() { printf 'PASS: %s: %s\n' "$NAME" "$*"; }
fail() { printf 'FAIL: %s: %s\n' "$NAME" "$*"; FAILS=$((FAILS + 1)); }
fatal() { fail "$*"; exit 1; }

[ -x "$TITLE" ] || fatal "victim '$TITLE' is not built"
[ "$(id -u)" -eq 0 ] || skip "needs root (core_pattern, CRIU)"
[ -n "${NECRO_CRIU:-}" ] && [ -x "$NECRO_CRIU" ] || skip "NECRO_CRIU is not set to a CRIU >= 4.1 binary"
[ -n "$NECRO" ] && [ -x "$NECRO" ] || skip "this build has no criu-necromancer"
timeout 120 "$NECRO_CRIU" check >/dev/null 2>&1 || skip "'$NECRO_CRIU check' fails on this machine"

exec {LOCKFD}>/tmp/necro-e2e.lock
flock -w 900 "$LOCKFD" || fatal "another e2e run holds /tmp/necro-e2e.lock"
WORK=$(mktemp -d "/tmp/necro-e2e.title-$STYLE.XXXXXX")
OLD_PATTERN=$(cat /proc/sys/kernel/core_pattern)
declare -A TRACKED=()
cleanup() {
    local pid
    for pid in "${!TRACKED[@]}"; do
        [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$TITLE" ] && kill -KILL "$pid" 2>/dev/null
    done
    printf '%s\n' "$OLD_PATTERN" >/proc/sys/kernel/core_pattern
    [ "$FAILS" -eq 0 ] && rm -rf "$WORK"
}
trap cleanup EXIT
printf '%s\n' "$WORK/core.%p" >/proc/sys/kernel/core_pattern
log "$NAME: work directory $WORK"

# launch: the victim program, detached, in WORK, with a fixed environment.
launch() {
    (
        cd "$WORK" || exit 1
        ulimit -c unlimited
        echo 0xff >/proc/self/coredump_filter
        trap - QUIT
        exec {LOCKFD}>&-
        exec setsid env -i PATH=/usr/bin:/bin LANG=C TERM=dumb "$TITLE" "$STYLE" alpha "beta gamma" --delta=4 \
            </dev/null >/dev/null 2>&1
    ) &
    LAUNCHED=$!
    TRACKED[$LAUNCHED]=1
    local _
    for _ in $(seq 100); do
        [ -s "$WORK/$STYLE.kernel" ] && { sleep 0.1; return 0; }
        sleep 0.02
    done
    fatal "pid $LAUNCHED wrote no $STYLE.kernel"
}
# mm_of PID: "start_stack arg_start arg_end env_start env_end" from /proc/PID/stat.
mm_of() {
    local rest
    rest=$(sed 's/^.*) //' "/proc/$1/stat") || return 1
    read -r -a f <<<"$rest"
    # f[0] is field 3: field N is f[N-3].
    printf '%#x %#x %#x %#x %#x\n' "${f[25]}" "${f[45]}" "${f[46]}" "${f[47]}" "${f[48]}"
}
gone() { while [ -e "/proc/$1" ]; do sleep 0.05; done; }

launch
VPID=$LAUNCHED
VICTIM_MM=$(mm_of "$VPID")
VICTIM_CMDLINE=$(tr '\0' '|' <"/proc/$VPID/cmdline")
log "victim $VPID: mm $VICTIM_MM, cmdline '$VICTIM_CMDLINE'"
kill -QUIT "$VPID"
{ wait "$VPID"; } 2>/dev/null
unset "TRACKED[$VPID]"
gone "$VPID"
[ -s "$WORK/core.$VPID" ] && pass "victim $VPID died with a core" || fatal "no core of victim $VPID"

rm -f "$WORK/$STYLE.kernel"
launch
DPID=$LAUNCHED
disown "$DPID"
mkdir "$WORK/donor"
timeout 90 "$NECRO_CRIU" dump -t "$DPID" -D "$WORK/donor" -v4 -o dump.log {LOCKFD}>&- ||
    fatal "criu dump of donor $DPID failed (see $WORK/donor/dump.log)"
unset "TRACKED[$DPID]"
gone "$DPID"
pass "donor $DPID dumped"

"$NECRO" -c "$WORK/core.$VPID" -i "$WORK/donor" -o "$WORK/out" >"$WORK/patch.log" 2>&1 ||
    { cat "$WORK/patch.log"; fatal "criu-necromancer failed"; }
sed 's/^/  /' "$WORK/patch.log"
if [ "$STYLE" = wiped ]; then
    grep -q 'warning: initial stack: arg_start' "$WORK/patch.log" && pass "the patch warns that arg_start is estimated" ||
        fail "no warning about the estimated arg_start"
else
    grep -q 'warning: initial stack' "$WORK/patch.log" && fail "the patch estimated a value it should recover" ||
        pass "no value of the initial stack was estimated"
fi

timeout 90 "$NECRO_CRIU" restore -D "$WORK/out" -d -v4 -o restore.log --pidfile "$WORK/restored.pid" {LOCKFD}>&- ||
    fatal "criu restore failed (see $WORK/out/restore.log)"
TRACKED[$VPID]=1
RESTORED_MM=$(mm_of "$VPID")
RESTORED_CMDLINE=$(tr '\0' '|' <"/proc/$VPID/cmdline")
log "restored $VPID: mm $RESTORED_MM, cmdline '$RESTORED_CMDLINE'"
read -r v_ss _ _ _ v_ee <<<"$VICTIM_MM"
read -r r_ss _ _ _ r_ee <<<"$RESTORED_MM"
if [ "$STYLE" = wiped ]; then
    [ "$v_ss $v_ee" = "$r_ss $r_ee" ] && pass "start_stack and env_end are the victim's ($r_ss, $r_ee)" ||
        fail "start_stack/env_end $r_ss $r_ee, the victim had $v_ss $v_ee"
else
    [ "$RESTORED_MM" = "$VICTIM_MM" ] && pass "start_stack, arg and env ranges are the victim's ($RESTORED_MM)" ||
        fail "mm $RESTORED_MM, the victim had $VICTIM_MM"
    [ "$RESTORED_CMDLINE" = "$VICTIM_CMDLINE" ] && pass "cmdline is the victim's title" ||
        fail "cmdline '$RESTORED_CMDLINE', the victim's was '$VICTIM_CMDLINE'"
fi
[ "$(sed -n 's/^State:\s*\(.\).*/\1/p' "/proc/$VPID/status")" = S ] && pass "the restored process runs (asleep in pause)" ||
    fail "the restored process is not asleep in pause"
kill -KILL "$VPID"
unset "TRACKED[$VPID]"
[ "$FAILS" -eq 0 ] || exit 1
exit 0
