#!/usr/bin/env bash
# title.sh - a program that rewrote its process title comes back with the
# kernel's mm fields and its title. tests/data/src/title.c (the title victim)
# runs `title STYLE alpha "beta gamma" --delta=4` with a fixed environment,
# rewrites its title the way STYLE does (Redis, nginx and PostgreSQL's
# ps_status, or wipes its argv/envp), and dies of SIGQUIT with a core; a
# second run is dumped by CRIU as the donor; criu-necromancer patches (no
# value of the initial stack estimated; for `wiped` it must warn that
# arg_start is); `criu restore -d` brings the victim back, and its
# /proc/PID/stat fields 28 and 48-51 (start_stack, arg_start, arg_end,
# env_start, env_end) and /proc/PID/cmdline must be the ones the victim had
# (for `wiped`, argv/envp pointers and strings gone, only start_stack and
# env_end); it runs on, asleep in pause.
#@test title-redis       title rewritten the way Redis does (argv/environ strings moved to the heap)
#@test title-nginx       the way nginx does (envp repointed to heap copies)
#@test title-ps_status   the way PostgreSQL's ps_status does
#@test title-wiped       argv/envp pointers and strings wiped: start_stack and env_end, with a warning
# shellcheck source=../lib.sh disable=SC2034 # lib.sh reads BIN, CMD, KILLSIG, LAUNCH_*
. "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
e2e_args e2e. "$@"
STYLE=${MODE#title-}
BIN=$VICTIMS/title
[ -x "$BIN" ] || fatal "victim '$BIN' is not built"
need_root "core_pattern, CRIU"
need_criu
need_built "$NECRO" criu-necromancer skip
e2e_begin
cores_in_work
LAUNCH_WRAP=(env -i PATH=/usr/bin:/bin LANG=C TERM=dumb)
TITLE_ARGS=("$STYLE" alpha "beta gamma" --delta=4)

# title_ready: the program wrote STYLE.kernel (its mm fields before the
# rewrite) and had a moment to rewrite its title.
title_ready() {
    wait_for 2 test -s "$WORK/$STYLE.kernel" || fatal "pid $LAUNCHED wrote no $STYLE.kernel"
    sleep 0.1
}
# mm_of PID: "start_stack arg_start arg_end env_start env_end" from /proc/PID/stat.
mm_of() {
    local rest f
    rest=$(sed 's/^.*) //' "/proc/$1/stat") || return 1
    read -r -a f <<<"$rest"
    # f[0] is field 3: field N is f[N-3].
    printf '%#x %#x %#x %#x %#x\n' "${f[25]}" "${f[45]}" "${f[46]}" "${f[47]}" "${f[48]}"
}

launch "$BIN" "${TITLE_ARGS[@]}"
VPID=$LAUNCHED
title_ready
VICTIM_MM=$(mm_of "$VPID")
VICTIM_CMDLINE=$(tr '\0' '|' <"/proc/$VPID/cmdline")
log "victim $VPID: mm $VICTIM_MM, cmdline '$VICTIM_CMDLINE'"
kill -QUIT "$VPID"
reap_victim 131
wait_gone "$VPID" 30 || fatal "victim pid $VPID did not vanish"
[ -s "$WORK/core.$VPID" ] && pass "victim $VPID died with a core" || fatal "no core of victim $VPID"

rm -f "$WORK/$STYLE.kernel"
start_donor "$BIN" "${TITLE_ARGS[@]}"
title_ready
dump_donor

run_necro -c "$WORK/core.$VPID" -i "$WORK/donor" -o "$WORK/out" >"$WORK/patch.log" 2>&1 ||
    { cat "$WORK/patch.log"; fatal "criu-necromancer failed"; }
sed 's/^/  /' "$WORK/patch.log"
if [ "$STYLE" = wiped ]; then
    grep -q 'warning: initial stack: arg_start' "$WORK/patch.log" && pass "the patch warns that arg_start is estimated" ||
        fail "no warning about the estimated arg_start"
else
    grep -q 'warning: initial stack' "$WORK/patch.log" && fail "the patch estimated a value it should recover" ||
        pass "no value of the initial stack was estimated"
fi

restore "$WORK/out" restore.log || fatal "criu restore failed (see $WORK/out/restore.log)"
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
[ "$(state_of "$VPID")" = S ] && pass "the restored process runs (asleep in pause)" ||
    fail "the restored process is not asleep in pause"
kill_tracked "$VPID"
exit 0
