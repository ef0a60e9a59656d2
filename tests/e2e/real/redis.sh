#!/usr/bin/env bash
# redis.sh - redis-server (5 threads) with its own redis.conf, no persistence.
#   redis        50 000 `SET key:N val:N:...` through `redis-cli --pipe`, a
#                1000-element list, a 100-field hash, then a marker key just
#                before SIGQUIT. After: DBSIZE, 13 sampled values, list and
#                hash, the marker, INFO's run_id equals the victim's (the
#                donor's differs) and process_id the victim's pid, a write
#                (SET, GET, DBSIZE). Redis rewrites its process title (argv
#                and environ strings copied to the heap).
#   redis-catch  Redis killed under necro-catch (core_pattern `|necro-catch
#                --dir WORK/caught %P`, core_pipe_limit 1) and resurrected
#                WITHOUT a donor: criu-necromancer takes the victim's own fds
#                from the capture beside the core (core.PID.necro/). The
#                capture must list the listening TCP socket on the port (state
#                10), the epoll fd watching it and the cwd; --explain must
#                show what it took from the capture and keep the listener and
#                the epoll (the fds it closed are logged). After: the redis
#                checks (run_id and process_id the victim's, no donor to
#                differ from), the victim's cwd, umask, ignored signals and
#                open-files limit (its own: umask 027, RLIMIT_NOFILE
#                12345/19999, which only the capture knows), the restored pid
#                listening on the port with the victim's fd, and two clients
#                at once (one kept open through bash's /dev/tcp, a second sees
#                both in CLIENT LIST, then the first reads the marker).
#   redis-catch-conn  redis-catch with a client connected through the kill
#                (bash's /dev/tcp): --explain must list its fd as closed; the
#                first new client gets that fd number and must be answered
#                within 5 s, and Redis must drop the dead client from CLIENT
#                LIST. The fd comes back as an unconnected TCP socket still
#                registered in the epoll (EPOLLHUP: Redis frees the client
#                itself); were it simply closed, Redis's event loop would still
#                hold it as registered, EPOLL_CTL_MOD for the new client would
#                fail with ENOENT, and that client would never be answered.
#   redis-catch-term  redis-catch, then SIGTERM (issue 21): with the kernel's
#                sigactions from necro-catch's BPF step Redis's own handler
#                runs ("Received SIGTERM scheduling shutdown..." in its log),
#                it saves its final RDB snapshot (this mode sets `save 3600
#                1`: "Saving the final RDB snapshot before exiting."), logs
#                "Redis is now ready to exit, bye bye..." and exits with
#                status 0 (read by real/reaper.py, the restored process's
#                adoptive parent); a fresh redis-server on that dump.rdb then
#                holds the resurrected one's keys, marker and later write.
#   redis-catch-term-nobpf  the same with necro-catch --no-bpf: the documented
#                degraded path. Redis comes back and answers, but SIGTERM is
#                SIG_DFL: it dies of it at once (signal 15), logs nothing
#                and saves nothing.
#   redis-lazy-core  redis, resurrected with criu-necromancer --restore --lazy
#                --lazy-source=core: its memory is not copied into the image
#                set but served from the core by necro's page server while the
#                checks run (GET of the sampled keys faults their pages in);
#                then the daemon and the server exit cleanly.
#   redis-fork-lazy-core  redis-lazy-core with --lazy-push=no (a page only when
#                touched), then BGSAVE: the resurrected Redis forks its
#                snapshot child while most of its pages are still in the core
#                only. The child has a userfaultfd of its own (the daemon logs
#                the fork and the pages the child gets pending) and reads every
#                key through it; the snapshot must be saved, the daemon must end
#                with `done:` once Redis is killed, and a fresh redis-server on
#                the snapshot must hold the keys, the marker and the later write.
#@test redis              redis-server: 50 000 keys, marker, run_id; rewrites its title
#@test redis-lazy-core    the same, its memory served from the core (--lazy --lazy-source=core): GETs answered with the victim's data
#@test redis-fork-lazy-core  redis-lazy-core with pages only on touch, then BGSAVE: the forked child reads every key through its own userfaultfd; the snapshot loads
#@test redis-catch        redis killed under necro-catch, no donor: its own listener, epoll, cwd from the capture
#@test redis-catch-conn   the same with a client connected at death: a stand-in socket hangs up, Redis frees it
#@test redis-catch-term   redis-catch, then SIGTERM: its handler from the BPF capture, a clean shutdown, exit 0, the final RDB
#@test redis-catch-term-nobpf  the same with necro-catch --no-bpf: it answers, then dies of SIGTERM at once (SIG_DFL)
# shellcheck source=../lib.sh disable=SC2034 # lib.sh reads BIN, CMD, KILLSIG, LAUNCH_*
. "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
e2e_args e2e.real. "$@"
real_begin
need redis-server redis-server
need redis-cli redis-tools

REDIS_KEYS=50000
redis_val() { printf 'val:%d:%d' "$1" $(( ($1 * 7919) % 100003 )); }
rcli() { timeout 30 redis-cli -h 127.0.0.1 -p "$PORT" "$@" {LOCKFD}>&-; }
# redis_info FIELD [SECTION]: FIELD of INFO SECTION (default server).
redis_info() { rcli INFO "${2:-server}" | tr -d '\r' | sed -n "s/^$1://p"; }

BIN=$(readlink -f "$(command -v redis-server)")
mkdir -p "$WORK/redis"
cat >"$WORK/redis.conf" <<CONF
port $PORT
bind 127.0.0.1
protected-mode yes
daemonize no
supervised no
save ""
appendonly no
dir $WORK/redis
logfile $WORK/redis.log
loglevel notice
databases 4
CONF
CMD=("$(command -v redis-server)" "$WORK/redis.conf")
KILLSIG=QUIT
case $MODE in
    redis-catch-term*)
        # A save point that never fires in the run (an hour), so that the
        # shutdown saves the final snapshot.
        echo 'save 3600 1' >>"$WORK/redis.conf"
        RESTORE_REAPER="$WORK/reaper.status"
        prog_finish() { redis_term; } ;;
    redis-fork-lazy-core)
        LAZY_PUSH=no
        prog_finish() { redis_bgsave_lazy; } ;;
esac

prog_ready() { [ "$(rcli PING 2>/dev/null)" = PONG ]; }
prog_load() {
    local out
    awk -v n="$REDIS_KEYS" 'BEGIN {
        for (i = 1; i <= n; i++) {
            k = "key:" i; v = "val:" i ":" (i * 7919) % 100003
            printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, length(v), v
        }
        for (i = 1; i <= 1000; i++) { v = "item" i; printf "*3\r\n$5\r\nRPUSH\r\n$4\r\nlist\r\n$%d\r\n%s\r\n", length(v), v }
        for (i = 1; i <= 100; i++) { f = "f" i; v = "h" i * i
            printf "*4\r\n$4\r\nHSET\r\n$4\r\nhash\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(f), f, length(v), v }
    }' >"$WORK/load.resp"
    out=$(timeout 60 redis-cli -h 127.0.0.1 -p "$PORT" --pipe <"$WORK/load.resp" {LOCKFD}>&- 2>&1) ||
        fatal "redis-cli --pipe failed: $out"
    log "redis-cli --pipe: $(tail -n 1 <<<"$out")"
    grep -q 'errors: 0, replies: 51100' <<<"$out" || fatal "redis-cli --pipe: $out"
    VICTIM_DBSIZE=$(rcli DBSIZE)
    [ "$VICTIM_DBSIZE" = $((REDIS_KEYS + 2)) ] && pass "victim holds $VICTIM_DBSIZE keys" ||
        fatal "victim DBSIZE is $VICTIM_DBSIZE, expected $((REDIS_KEYS + 2))"
    VICTIM_RUNID=$(redis_info run_id)
    log "victim run_id $VICTIM_RUNID; $(rcli INFO memory | tr -d '\r' | grep -E '^used_memory_human:' || true)"
}
prog_before_kill() {
    MARKER="marker-$RANDOM-$RANDOM-$(date +%s%N)"
    [ "$(rcli SET necro:marker "$MARKER")" = OK ] || fatal "could not set the marker"
    log "marker necro:marker = $MARKER"
}
prog_donor() {
    DONOR_RUNID=$(redis_info run_id)
    log "donor run_id $DONOR_RUNID"
    [ -n "$DONOR_RUNID" ] && [ "$DONOR_RUNID" != "$VICTIM_RUNID" ] ||
        fatal "the donor's run_id '$DONOR_RUNID' does not differ from the victim's"
}
prog_check() {
    local n i bad=0 got want
    n=$(rcli DBSIZE)
    [ "$n" = $((REDIS_KEYS + 3)) ] && pass "DBSIZE is $n: the victim's keys and the marker" ||
        fail "DBSIZE is '$n', expected $((REDIS_KEYS + 3))"
    for i in 1 2 3 17 99 1000 4242 12345 25000 33333 49999 "$REDIS_KEYS" $((RANDOM % REDIS_KEYS + 1)); do
        got=$(rcli GET "key:$i")
        want=$(redis_val "$i")
        [ "$got" = "$want" ] || { fail "GET key:$i is '$got', expected '$want'"; bad=1; }
    done
    [ "$bad" = 0 ] && pass "13 sampled keys have the victim's values"
    got=$(rcli LLEN list)/$(rcli LINDEX list 499)/$(rcli HGET hash f77)/$(rcli HLEN hash)
    [ "$got" = "1000/item500/h5929/100" ] && pass "list and hash intact (LLEN/LINDEX/HGET/HLEN: $got)" ||
        fail "list/hash: '$got', expected '1000/item500/h5929/100'"
    got=$(rcli GET necro:marker)
    [ "$got" = "$MARKER" ] && pass "the marker set just before the kill is there: $got" ||
        fail "the marker is '$got', expected '$MARKER'"
    got=$(redis_info run_id)
    [ "$got" = "$VICTIM_RUNID" ] && pass "INFO run_id is the victim's ($got; the donor's was $DONOR_RUNID)" ||
        fail "INFO run_id is '$got'; the victim's was $VICTIM_RUNID, the donor's $DONOR_RUNID"
    got=$(redis_info process_id)
    [ "$got" = "$VPID" ] && pass "INFO process_id is the victim's pid $got" ||
        fail "INFO process_id is '$got', expected $VPID"
    want="after-$RANDOM"
    got=$(rcli SET necro:after "$want")/$(rcli GET necro:after)/$(rcli DBSIZE)
    [ "$got" = "OK/$want/$((REDIS_KEYS + 4))" ] && pass "a write works: SET, GET, DBSIZE -> $got" ||
        fail "write after resurrection: '$got', expected 'OK/$want/$((REDIS_KEYS + 4))'"
}

# prog_two_clients: one connection stays open (bash's /dev/tcp, Redis's
# inline protocol) while a second one comes and goes: the listener accepts
# again and the epoll serves both.
prog_two_clients() {
    local h a a2 b n
    exec {h}<>"/dev/tcp/127.0.0.1/$PORT"
    printf 'CLIENT SETNAME necro-first\r\n' >&"$h"
    IFS= read -r -t 10 a <&"$h" || a='(no answer)'
    n=$(rcli CLIENT LIST | grep -c '^id=' || true)
    b=$(rcli CLIENT LIST | grep -c 'name=necro-first' || true)
    printf 'GET necro:marker\r\n' >&"$h"
    IFS= read -r -t 10 _ <&"$h" || true
    IFS= read -r -t 10 a2 <&"$h" || a2='(no answer)'
    exec {h}>&-
    a=${a%$'\r'} a2=${a2%$'\r'}
    [ "$a" = +OK ] && [ "$n" -ge 2 ] && [ "$b" = 1 ] && [ "$a2" = "$MARKER" ] &&
        pass "two clients at once: the first named itself ($a), a second saw $n clients, then the first read the marker ($a2)" ||
        fail "two clients: first '$a', the second saw $n clients ($b named necro-first), the first then read '$a2' (marker $MARKER)"
}

# prog_hold_connection (-conn): a client (bash's /dev/tcp, named necro-held)
# stays connected through the kill; VICTIM_HELD_FD is its fd in the victim.
prog_hold_connection() {
    local a
    exec {HELD}<>"/dev/tcp/127.0.0.1/$PORT"
    printf 'CLIENT SETNAME necro-held\r\n' >&"$HELD"
    IFS= read -r -t 10 a <&"$HELD" || a='(no answer)'
    [ "${a%$'\r'}" = +OK ] || fatal "the held connection: CLIENT SETNAME answered '$a'"
    VICTIM_HELD_FD=$(ss -Htnp state established "sport = :$PORT" | grep -o "pid=$VPID,fd=[0-9]*" | head -n1 | sed 's/.*fd=//')
    [ -n "$VICTIM_HELD_FD" ] || fatal "the victim shows no established connection: $(ss -Htanp | grep "pid=$VPID," || true)"
    log "a client stays connected through the kill: fd $VICTIM_HELD_FD in the victim"
}

# prog_after_held (-conn): the dead connection's fd number is free again, so
# the first new client gets it. Redis's event loop still believes that fd is
# registered (EPOLL_CTL_MOD then fails with ENOENT when the registration is
# gone): that client is never answered unless the resurrection lets Redis see
# the old connection end (EPOLLHUP) and close it itself.
prog_after_held() {
    local got t0
    wait_for 10 test -e "/proc/$VPID" || return 0
    t0=$(now_ms)
    got=$(timeout 5 redis-cli -h 127.0.0.1 -p "$PORT" PING {LOCKFD}>&- 2>&1) || got="(no answer: exit $?)"
    [ "$got" = PONG ] && pass "the first client after the resurrection is answered: PING -> $got in $(( $(now_ms) - t0 )) ms" ||
        fail "the first client after the resurrection (on the dead connection's fd $VICTIM_HELD_FD) is not answered in 5 s: '$got'"
    wait_for 5 held_client_gone && pass "Redis dropped the client that was connected at its death" ||
        fail "CLIENT LIST still shows the client connected at death: $(rcli CLIENT LIST | grep -E 'necro-held|fd='"$VICTIM_HELD_FD"' ' | paste -sd'|')"
}
held_client_gone() { ! rcli CLIENT LIST | grep -q 'name=necro-held'; }

# redis_term (-term modes): SIGTERM to the resurrected Redis, which must end
# as its handler says (BPF) or die of the signal (--no-bpf).
redis_term() {
    local st log_from want
    log_from=$(file_size "$WORK/redis.log")
    AFTER_KEYS=$(rcli DBSIZE)
    kill -TERM "$VPID"
    wait_gone "$VPID" 30 || { fail "pid $VPID did not end within 30 s of SIGTERM (state '$(state_of "$VPID")')"; return 0; }
    wait_for 10 test -n "$(reaper_status "$VPID")" || true
    st=$(reaper_status "$VPID")
    since "$WORK/redis.log" "$log_from" >"$WORK/redis.term.log"
    sed 's/^/  redis.log: /' "$WORK/redis.term.log"
    if [ "$NOBPF" = 1 ]; then
        [ "$st" = 'signal 15' ] && pass "without the kernel state SIGTERM is SIG_DFL: the resurrected Redis died of it at once ($st), as documented" ||
            fail "the resurrected Redis without a SIGTERM handler ended with '$st', expected 'signal 15'"
        ! grep -q 'Received SIGTERM' "$WORK/redis.term.log" && pass "no handler ran: its log has no 'Received SIGTERM'" ||
            fail "a SIGTERM handler ran without the kernel state"
        return 0
    fi
    for want in 'Received SIGTERM scheduling shutdown' 'Saving the final RDB snapshot before exiting' 'DB saved on disk' 'Redis is now ready to exit, bye bye'; do
        grep -q "$want" "$WORK/redis.term.log" && pass "its log: $(grep -m1 "$want" "$WORK/redis.term.log" | sed 's/^[0-9]*:[A-Z] //')" ||
            fail "its log after SIGTERM has no '$want'"
    done
    [ "$st" = 'exit 0' ] && pass "the resurrected Redis shut down cleanly on SIGTERM: $st" ||
        fail "the resurrected Redis ended with '${st:-(unknown)}' after SIGTERM, not 'exit 0'"
    redis_reload
}

# redis_bgsave_lazy (redis-fork-lazy-core): BGSAVE while most pages are
# still missing; the child (a fork of the restored Redis) must save every key
# it reads through its own userfaultfd. Then Redis is killed, the daemon must
# end, and the snapshot must load.
redis_bgsave_lazy() {
    local got pending
    AFTER_KEYS=$(rcli DBSIZE)
    got=$(rcli BGSAVE)
    [ "$got" = "Background saving started" ] || { fail "BGSAVE answered '$got'"; return 0; }
    if wait_for 60 bgsave_done; then
        got=$(redis_info rdb_last_bgsave_status persistence)
        [ "$got" = ok ] && pass "BGSAVE's child saved the snapshot ($(file_size "$WORK/redis/dump.rdb") bytes)" ||
            fail "BGSAVE ended with rdb_last_bgsave_status '$got'"
    else
        fail "BGSAVE did not end within 60 s"
    fi
    pending=$(sed -n 's/^pid [0-9]* forked: its child gets the \([0-9]*\) pending pages too$/\1/p' "$LAZY_LOG" | head -n 1)
    [ "${pending:-0}" -gt 1000 ] &&
        pass "the daemon saw the fork: the child started with $pending pages still in the core only" ||
        fail "the daemon logged no fork with pages pending ('$pending'): $(grep -m1 forked "$LAZY_LOG" || echo none)"
    kill_tracked "$VPID"
    lazy_core_ends "$IMG" "the lazy restore (pages on touch only)"
    redis_reload
}
bgsave_done() { [ "$(redis_info rdb_bgsave_in_progress persistence)" = 0 ]; }

# redis_reload: a fresh redis-server with the same configuration loads the
# resurrected one's final snapshot: its keys, the marker and the later write.
redis_reload() {
    local got
    [ -s "$WORK/redis/dump.rdb" ] || { fail "no final snapshot $WORK/redis/dump.rdb"; return 0; }
    launch "${CMD[@]}"
    local fresh=$LAUNCHED
    wait_for 30 prog_ready || { fail "a fresh redis-server on the final snapshot does not answer"; kill_tracked "$fresh"; return 0; }
    got=$(rcli DBSIZE)/$(rcli GET necro:marker)/$(rcli GET necro:after | cut -c1-6)
    [ "$got" = "$AFTER_KEYS/$MARKER/after-" ] &&
        pass "a fresh redis-server loads the final snapshot ($(file_size "$WORK/redis/dump.rdb") bytes): DBSIZE, marker, later write: $got" ||
        fail "the final snapshot loaded into a fresh redis-server gives '$got', expected '$AFTER_KEYS/$MARKER/after-'"
    kill_tracked "$fresh"
}

real_story
exit 0
