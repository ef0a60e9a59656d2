#!/usr/bin/env bash
# run_real.sh - necro on real programs nobody here wrote, installed from Debian.
#
#   run_real.sh MODE --necro PATH [--catch PATH]
#
# For each MODE (one ctest test each, e2e.real.MODE) the program is started
# detached on 127.0.0.1 with a configuration this script writes into its work
# directory (never the system's service), given state through its own client,
# and killed for real with a complete core (coredump_filter 0xff). A second,
# fresh run with the same configuration (the donor; none in the -catch modes)
# is dumped by `criu dump`,
# criu-necromancer turns core + donor into an image set, `criu restore -d`
# brings the victim back running, and the program is checked through its own
# client again: its state must be the victim's, not the donor's.
#
#   redis        redis-server: 50 000 string keys, a list, a hash, a marker
#                set just before SIGQUIT; after: DBSIZE, sampled values, the
#                marker, a write (SET then GET), INFO's run_id and process_id
#                are the victim's (the donor's run_id differs). Redis rewrites
#                its process title (argv/environ strings moved to the heap).
#   nginx        nginx as one process (master_process off, daemon off) with
#                stub_status (its counters are in .bss without a master
#                process) and a limit_req zone: MAP_SHARED|MAP_ANONYMOUS memory
#                holding each client's request budget. Requests until the
#                budget is spent (503), then SIGABRT (nginx takes SIGQUIT as a
#                graceful stop); after: the shared zone holds the core's bytes,
#                the counters go on from the victim's, the budget is still
#                spent (a fresh nginx answers 200), and it serves pages again.
#                ngx_init_setproctitle repointed the initial stack's envp array
#                to heap copies.
#   nginx-many   the same with worker_connections 1024: malloc takes the
#                connection array from its own mmap (not the brk heap), and the
#                epoll registration of the listening socket points into it.
#                Not in ctest: passes only when necro can pair that mmap with
#                the victim's (docs/limits.md: epoll data); run it by hand.
#   python       CPython (kvserver.py): 20 000 keys in a dict behind a TCP
#                socket; SIGQUIT; after: count, sampled values, marker, a
#                write, the random run id chosen at start is the victim's.
#   python-title the same, with the process title set by python3-setproctitle
#                (PostgreSQL-style: argv and environ strings overwritten with
#                the title, environ moved to the heap).
#   python-shm   the same, with a request counter in mmap.mmap(-1, 4096)
#                (MAP_SHARED|MAP_ANONYMOUS) that must go on from the victim's.
#   memcached    memcached (several threads): 20 000 keys and a marker through
#                its text protocol (nc); SIGQUIT; after: curr_items, stats pid,
#                total_connections go on from the victim's, sampled values, the
#                marker, a write.
#   redis-catch  Redis as in redis, killed under necro-catch (--catch PATH:
#                core_pattern `|PATH --dir WORK/caught %P`, core_pipe_limit 1)
#                and resurrected WITHOUT a donor: criu-necromancer takes the
#                victim's own fds from the capture beside the core
#                (core.PID.necro/). The capture must list the listening TCP
#                socket on the port and the epoll fd watching it; --explain
#                must show what it took from the capture and which fds it
#                closed. After: the redis checks (run_id and process_id the
#                victim's), a second client connected at the same time, the
#                victim's cwd, umask, ignored signals and open-files limit
#                (its own: umask 027, RLIMIT_NOFILE 12345/19999), and the
#                restored pid listening on the port.
#   python-catch the same for kvserver.py (a listening socket, no epoll).
#   redis-catch-conn  redis-catch with a client connected through the kill
#                (bash's /dev/tcp): --explain must list its fd as closed; the
#                first new client gets that fd number and must be answered,
#                and Redis must drop the dead client. The fd comes back as an
#                unconnected TCP socket still registered in the epoll
#                (EPOLLHUP: Redis frees the client itself); were it simply
#                closed, Redis's event loop would still hold it as registered,
#                EPOLL_CTL_MOD for the new client would fail with ENOENT, and
#                that client would never be answered.
#
# NECRO_REAL_CONTROL=1: a control run that checks the checks: the victim is
# dumped by CRIU itself instead of killed, and restored from CRIU's images.
#
# Requirements: root and NECRO_CRIU naming a CRIU >= 4.1 whose `check` passes;
# otherwise exit 77 (ctest SKIP) with the reason. Everything else missing (the
# program, criu-necromancer not built) is a FAILURE: install the programs with
# tests/run.sh (its package list has them).
#
# Side effects: /proc/sys/kernel/core_pattern (and in the -catch modes
# core_pipe_limit) is rewritten for the duration (restored on exit); runs are serialised with flock on /tmp/necro-e2e.lock
# (shared with run_e2e.sh). Only processes this script started (or restored)
# are signalled, by PID, after checking /proc/PID/exe. The work directory is
# removed on success and kept on failure (NECRO_E2E_KEEP=1 keeps it always).
set -eEuo pipefail

SKIP=77
MODE=${1:-}
[ -n "$MODE" ] && shift
NECRO=''
CATCH=''
while [ $# -gt 0 ]; do
    case $1 in
        --necro) NECRO=$2; shift 2 ;;
        --catch) CATCH=$2; shift 2 ;;
        *) echo "run_real.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ -z "$NECRO" ] || NECRO=$(realpath -m -- "$NECRO")
[ -z "$CATCH" ] || CATCH=$(realpath -m -- "$CATCH")
# The -catch modes: the core comes through necro-catch, no donor.
CAUGHT=0
case $MODE in *-catch | *-catch-conn) CAUGHT=1 ;; esac
# -catch-conn: a client connection is open when the victim dies.
HELD_CONN=0
case $MODE in *-conn) HELD_CONN=1 ;; esac
HELD=

NAME="e2e.real.$MODE"
PASSES=0
FAILS=0
WORK=
OLD_CORE_PATTERN=
OLD_PIPE_LIMIT=
declare -A TRACKED=() # pid -> binary it must be running for us to kill it
# shellcheck source=../lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
TIMES=()

show_log() {
    [ -f "$1" ] || return 0
    printf -- '----- %s: errors -----\n' "$1"
    grep -E 'Error|error|Warn' "$1" | grep -v 'RLIMIT_NOFILE' | tail -n 15 || true
    printf -- '----- %s: last 30 lines -----\n' "$1"
    tail -n 30 "$1"
    printf -- '-----\n'
}
now_ms() { date +%s%3N; }
# timed LABEL CMD...: run CMD, record how long it took.
timed() {
    local label=$1 t0 rc=0
    shift
    t0=$(now_ms)
    "$@" || rc=$?
    TIMES+=("$label $(( $(now_ms) - t0 )) ms")
    return "$rc"
}

case $MODE in
    redis | nginx | nginx-many | python | python-title | python-shm | memcached) ;;
    redis-catch | python-catch | redis-catch-conn) ;;
    *) echo "run_real.sh: unknown mode '$MODE'" >&2; exit 2 ;;
esac

# ---------------------------------------------------------------- prerequisites
[ "$(id -u)" -eq 0 ] || skip "needs root (core_pattern, CRIU)"
[ -n "${NECRO_CRIU:-}" ] ||
    skip "NECRO_CRIU is not set; set it to a CRIU >= 4.1 binary, e.g. NECRO_CRIU=/path/to/criu ctest -L e2e"
[ -x "$NECRO_CRIU" ] || skip "NECRO_CRIU=$NECRO_CRIU is not an executable file"
CRIU_VERSION=$("$NECRO_CRIU" --version 2>/dev/null | sed -n 's/^Version: *//p' | head -n1)
IFS=. read -r cmaj cmin _ <<<"${CRIU_VERSION:-0.0}"
if ! [[ "$cmaj" =~ ^[0-9]+$ && "${cmin:-0}" =~ ^[0-9]+$ ]] || [ "$cmaj" -lt 4 ] ||
    { [ "$cmaj" -eq 4 ] && [ "${cmin:-0}" -lt 1 ]; }; then
    skip "NECRO_CRIU=$NECRO_CRIU is CRIU '${CRIU_VERSION:-unknown}', need >= 4.1"
fi
if ! CHECK_OUT=$(timeout 120 "$NECRO_CRIU" check 2>&1); then
    printf '%s\n' "$CHECK_OUT" | tail -n 10
    skip "'$NECRO_CRIU check' fails on this machine (output above)"
fi
[ -n "$NECRO" ] || fatal "this build has no criu-necromancer target (examples not built?)"
[ -x "$NECRO" ] || fatal "criu-necromancer '$NECRO' is part of the build but not built"
if [ "$CAUGHT" = 1 ]; then
    [ -n "$CATCH" ] || fatal "mode $MODE needs --catch PATH (this build has no necro-catch target?)"
    [ -x "$CATCH" ] || fatal "necro-catch '$CATCH' is part of the build but not built"
fi
# need CMD PACKAGE: a program the test needs, installed by tests/run.sh.
need() { command -v "$1" >/dev/null || fatal "$1 not found: install the Debian package $2 (tests/run.sh installs it)"; }
# Debian's own python3 (a python3 earlier on PATH, e.g. pyenv's, is not the
# packaged program and has no python3-setproctitle).
PY=/usr/bin/python3
[ -x "$PY" ] || fatal "$PY not found: install the Debian package python3"
need ss iproute2

# ---------------------------------------------------------------- state, cleanup
exec {LOCKFD}>/tmp/necro-e2e.lock
flock -w 900 "$LOCKFD" || fatal "another e2e run holds /tmp/necro-e2e.lock"
WORK=$(mktemp -d "/tmp/necro-e2e.real-$MODE.XXXXXX")
START_MS=$(now_ms)
log "$NAME: work directory $WORK"



cleanup() {
    local rc=$? pid
    set +e
    for pid in "${!TRACKED[@]}"; do kill_tracked "$pid"; done
    if [ -n "$OLD_CORE_PATTERN" ]; then
        printf '%s\n' "$OLD_CORE_PATTERN" >/proc/sys/kernel/core_pattern
    fi
    if [ -n "$OLD_PIPE_LIMIT" ]; then
        printf '%s\n' "$OLD_PIPE_LIMIT" >/proc/sys/kernel/core_pipe_limit
    fi
    if [ "$rc" -ne "$SKIP" ] && [ -n "$WORK" ]; then
        TIMES+=("total $(( $(now_ms) - START_MS )) ms")
        printf 'TIMES: %s: %s\n' "$NAME" "$(IFS=,; echo "${TIMES[*]}" | sed 's/,/, /g')"
    fi
    report_and_exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# shellcheck disable=SC2154 # rc_ is assigned inside the trap string
trap 'rc_=$?; [ "$BASHPID" != "$$" ] || fail "unexpected failure (status $rc_) at line $LINENO: $BASH_COMMAND"' ERR

# Where the cores go: $WORK/core.PID, or in the -catch modes
# $WORK/caught/core.PID with its capture core.PID.necro/ beside it.
CORE_DIR=$WORK
set_core_pattern() {
    OLD_CORE_PATTERN=$(cat /proc/sys/kernel/core_pattern)
    if [ "$CAUGHT" = 0 ]; then
        printf '%s\n' "$WORK/core.%p" >/proc/sys/kernel/core_pattern
        log "core_pattern was '$OLD_CORE_PATTERN'; now $WORK/core.%p (restored on exit)"
        return 0
    fi
    CORE_DIR=$WORK/caught
    mkdir -m 0700 "$CORE_DIR"
    # The kernel waits for the helper (and keeps /proc/PID) only with >= 1.
    OLD_PIPE_LIMIT=$(cat /proc/sys/kernel/core_pipe_limit)
    [ "$OLD_PIPE_LIMIT" -ge 1 ] || echo 1 >/proc/sys/kernel/core_pipe_limit
    local pattern="|$CATCH --dir $CORE_DIR %P"
    printf '%s\n' "$pattern" >/proc/sys/kernel/core_pattern
    # At most 127 bytes are kept, without an error.
    [ "$(cat /proc/sys/kernel/core_pattern)" = "$pattern" ] ||
        fatal "core_pattern '$pattern' was cut to '$(cat /proc/sys/kernel/core_pattern)' (127 bytes at most): build in a shorter path"
    log "core_pattern was '$OLD_CORE_PATTERN'; now '$pattern', core_pipe_limit $(cat /proc/sys/kernel/core_pipe_limit) (was $OLD_PIPE_LIMIT; both restored on exit)"
}
set_core_pattern

# Every external step that could hang is bounded, so ctest's TIMEOUT (which
# kills without cleanup) is never what stops a run.
criu() { timeout 90 "$NECRO_CRIU" "$@" {LOCKFD}>&-; }


# launch CMD...: start CMD detached (own session, fds 0-2 on /dev/null, nothing
# else open, cwd $WORK, SIGINT/SIGQUIT at their defaults: a script's background
# jobs start with them ignored), cores enabled and complete. $EXE is the binary
# it must end up running. Sets LAUNCHED; $! is the program's own pid (setsid
# and env exec in place).
launch() {
    (
        cd "$WORK"
        ulimit -c unlimited
        echo 0xff >/proc/self/coredump_filter
        # -catch: limits and a umask of its own, that only the capture knows.
        if [ "$CAUGHT" = 1 ]; then
            ulimit -Sn 12345
            ulimit -Hn 19999
            umask 0027
        fi
        close_stray_fds
        exec env --default-signal=INT,QUIT setsid "$@" </dev/null >/dev/null 2>&1
    ) &
    LAUNCHED=$!
    TRACKED[$LAUNCHED]=$EXE
    local i
    for i in $(seq 200); do
        [ "$(readlink "/proc/$LAUNCHED/exe" 2>/dev/null)" = "$EXE" ] && return 0
        sleep 0.02
    done
    # Still our unreaped child, so the pid cannot have been reused.
    kill -KILL "$LAUNCHED" 2>/dev/null || true
    wait_gone "$LAUNCHED" 10 || true
    unset "TRACKED[$LAUNCHED]"
    fatal "launched pid $LAUNCHED is not running $EXE"
}


# no_connections PID: PID holds no TCP socket but its listener on $PORT
# (clients' connections closed on its side too: CRIU would need
# --tcp-established for a live one, and a dead victim's client would still be
# in the program's memory after the resurrection).
no_connections() {
    ! ss -Htanp 2>/dev/null | grep -v '^LISTEN' | grep -q "pid=$1,"
}

# free_port: a TCP port on 127.0.0.1 nobody listens on now.
free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# other_instances: processes running $EXE that this script did not start
# (e.g. the package's own service): reported, never touched. Ours use their
# own port and files.
other_instances() {
    local p pids=''
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/exe" 2>/dev/null)" = "$EXE" ] || continue
        [ -n "${TRACKED[${p#/proc/}]:-}" ] || pids="$pids ${p#/proc/}"
    done
    if [ -n "$pids" ]; then
        log "note: pid(s)$pids run $EXE too (not started here, e.g. the package's service): left alone"
    else
        log "no other process runs $EXE (the package's own service is not running)"
    fi
}

# ================================================================ programs
# Each program defines:
#   EXE, CMD (argv), KILLSIG, and the functions
#   prog_ready PID         the program answers its client
#   prog_load              give the victim its state (may record facts)
#   prog_before_kill       the last write (marker) just before the kill
#   prog_donor             record what identifies the donor
#   prog_check             the resurrected program, through its client
PORT=$(free_port)

# ---------------------------------------------------------------- redis
REDIS_KEYS=50000
redis_val() { printf 'val:%d:%d' "$1" $(( ($1 * 7919) % 100003 )); }
rcli() { timeout 30 redis-cli -h 127.0.0.1 -p "$PORT" "$@" {LOCKFD}>&-; }
redis_info() { rcli INFO server | tr -d '\r' | sed -n "s/^$1://p"; }
setup_redis() {
    need redis-server redis-server
    need redis-cli redis-tools
    EXE=$(readlink -f "$(command -v redis-server)")
    mkdir -p "$WORK/redis"
    cat >"$WORK/redis.conf" <<EOF
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
EOF
    CMD=("$(command -v redis-server)" "$WORK/redis.conf")
    KILLSIG=QUIT
}
prog_ready_redis() { [ "$(rcli PING 2>/dev/null)" = PONG ]; }
prog_load_redis() {
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
prog_before_kill_redis() {
    MARKER="marker-$RANDOM-$RANDOM-$(date +%s%N)"
    [ "$(rcli SET necro:marker "$MARKER")" = OK ] || fatal "could not set the marker"
    log "marker necro:marker = $MARKER"
}
prog_donor_redis() {
    DONOR_RUNID=$(redis_info run_id)
    log "donor run_id $DONOR_RUNID"
    [ -n "$DONOR_RUNID" ] && [ "$DONOR_RUNID" != "$VICTIM_RUNID" ] ||
        fatal "the donor's run_id '$DONOR_RUNID' does not differ from the victim's"
}
prog_check_redis() {
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

# prog_two_clients_redis: one connection stays open (bash's /dev/tcp, Redis's
# inline protocol) while a second one comes and goes: the listener accepts
# again and the epoll serves both.
prog_two_clients_redis() {
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

# ---------------------------------------------------------------- nginx
NGINX_REQUESTS=50
NGINX_BURST=5
http() { timeout 20 curl -sS --max-time 10 "$@" {LOCKFD}>&-; }
# nginx_status: "accepts handled requests" from stub_status.
nginx_status() { http "http://127.0.0.1:$PORT/status" | sed -n '3p' | awk '{print $1, $2, $3}'; }
setup_nginx() {
    need nginx nginx
    need curl curl
    EXE=$(readlink -f "$(command -v nginx)")
    # 64 connections fit the brk heap; 1024 (nginx-many) take malloc's mmap.
    local connections=64
    [ "$MODE" = nginx-many ] && connections=1024
    mkdir -p "$WORK/nginx/tmp" "$WORK/nginx/logs" "$WORK/nginx/html"
    # A static file: limit_req acts before the content phase (not on "return").
    echo "within budget" >"$WORK/nginx/html/limited"
    cat >"$WORK/nginx/nginx.conf" <<EOF
master_process off;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log info;
events { worker_connections $connections; }
http {
    access_log $WORK/nginx/logs/access.log;
    # A shared memory zone (MAP_SHARED|MAP_ANONYMOUS, also without a master
    # process): per-client request budgets. 1 request a minute, burst 5.
    limit_req_zone \$binary_remote_addr zone=budget:1m rate=1r/m;
    client_body_temp_path $WORK/nginx/tmp/body;
    proxy_temp_path $WORK/nginx/tmp/proxy;
    fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
    scgi_temp_path $WORK/nginx/tmp/scgi;
    server {
        listen 127.0.0.1:$PORT;
        location = /status { stub_status; }
        location = /limited { limit_req zone=budget burst=$NGINX_BURST nodelay; limit_req_status 503; default_type text/plain; root $WORK/nginx/html; }
        location / { default_type text/plain; return 200 "necro-nginx-ok \$request_uri\n"; }
    }
}
EOF
    CMD=("$(command -v nginx)" -p "$WORK/nginx/" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/logs/error.log")
    KILLSIG=ABRT
}
prog_ready_nginx() { [ "$(http "http://127.0.0.1:$PORT/ready" 2>/dev/null)" = "necro-nginx-ok /ready" ]; }
prog_load_nginx() {
    local i urls=()
    for i in $(seq 10); do urls+=("http://127.0.0.1:$PORT/page$i"); done
    # 5 connections with 10 keep-alive requests each.
    for i in $(seq 5); do http "${urls[@]}" >/dev/null || fatal "curl failed"; done
    # Spend the budget in the shared zone: 1 + burst requests pass, then 503.
    local codes
    codes=$(for i in $(seq $((NGINX_BURST + 3))); do http -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$PORT/limited"; done | paste -sd' ')
    log "GET /limited x$((NGINX_BURST + 3)): $codes"
    [ "$codes" = "$(printf '200 %.0s' $(seq $((NGINX_BURST + 1))))503 503" ] ||
        fatal "limit_req did not limit as configured: $codes"
}
limited_code() { http -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/limited"; }
prog_before_kill_nginx() {
    VICTIM_STATUS=$(nginx_status)
    log "victim stub_status (accepts handled requests): $VICTIM_STATUS"
    read -r VA VH VR <<<"$VICTIM_STATUS"
    [ "${VR:-0}" -ge "$NGINX_REQUESTS" ] || fatal "victim served only '$VR' requests"
}
prog_donor_nginx() {
    DONOR_STATUS=$(nginx_status)
    # Not /limited: its budget must stay whole in the donor.
    log "donor stub_status (accepts handled requests): $DONOR_STATUS"
}
prog_check_nginx() {
    local got want
    # +2: the readiness probe after the restore, then this status request.
    got=$(nginx_status)
    want="$((VA + 2)) $((VH + 2)) $((VR + 2))"
    [ "$got" = "$want" ] &&
        pass "stub_status counters go on from the victim's: $VICTIM_STATUS -> $got (the donor's were $DONOR_STATUS)" ||
        fail "stub_status counters are '$got', expected '$want' (victim: $VICTIM_STATUS; donor: $DONOR_STATUS)"
    got=$(limited_code)
    [ "$got" = 503 ] &&
        pass "the request budget in the shared zone is the victim's, spent: GET /limited -> $got (a fresh nginx answers 200)" ||
        fail "GET /limited -> $got, expected 503: the limit_req zone (shared memory) is not the victim's"
    got=$(http "http://127.0.0.1:$PORT/after" 2>&1)
    [ "$got" = "necro-nginx-ok /after" ] && pass "it serves again: GET /after -> '$got'" ||
        fail "GET /after -> '$got'"
}

# ---------------------------------------------------------------- python
PY_KEYS=20000
kv() { timeout 30 "$PY" "$HERE/kvserver.py" client "$PORT" {LOCKFD}>&-; }
py_val() { printf 'v%d-%d' "$1" $(( ($1 * 7919) % 100003 )); }
setup_python() {
    EXE=$(readlink -f "$PY")
    CMD=("$PY" "$HERE/kvserver.py" serve "$PORT")
    case $MODE in
        python-title)
            "$PY" -c 'import setproctitle' 2>/dev/null ||
                fatal "python3's setproctitle module not found: install the Debian package python3-setproctitle"
            PY_TITLE="necro-kv: serving on 127.0.0.1:$PORT"
            CMD+=(--title "$PY_TITLE") ;;
        python-shm) CMD+=(--shm) ;;
    esac
    KILLSIG=QUIT
}
prog_ready_python() { [ "$(echo COUNT | kv 2>/dev/null)" != "" ]; }
prog_load_python() {
    local out
    out=$(awk -v n="$PY_KEYS" 'BEGIN { for (i = 1; i <= n; i++) printf "SET k%d v%d-%d\n", i, i, (i * 7919) % 100003 }' |
        kv | sort | uniq -c | awk '{print $2 " x" $1}' | paste -sd' ')
    [ "$out" = "OK x$PY_KEYS" ] || fatal "loading $PY_KEYS keys: '$out'"
    VICTIM_RUNID=$(echo RUNID | kv)
    VICTIM_COUNT=$(echo COUNT | kv)
    [ "$VICTIM_COUNT" = "$PY_KEYS" ] && pass "victim holds $VICTIM_COUNT keys (run id $VICTIM_RUNID)" ||
        fatal "victim COUNT is '$VICTIM_COUNT'"
}
prog_before_kill_python() {
    MARKER="marker-$RANDOM-$(date +%s%N)"
    local out
    out=$(printf 'SET marker %s\nSHM\n' "$MARKER" | kv | paste -sd' ')
    VICTIM_SHM=${out#OK }
    [ "${out%% *}" = OK ] || fatal "setting the marker: '$out'"
    log "marker = $MARKER; shared-memory request counter: $VICTIM_SHM"
    [ "$MODE" != python-shm ] || [ "$VICTIM_SHM" -gt "$PY_KEYS" ] ||
        fatal "the shared-memory counter is '$VICTIM_SHM', expected more than $PY_KEYS"
}
prog_donor_python() {
    DONOR_RUNID=$(echo RUNID | kv)
    DONOR_SHM=$(echo SHM | kv)
    log "donor run id $DONOR_RUNID, shared-memory counter $DONOR_SHM"
    [ -n "$DONOR_RUNID" ] && [ "$DONOR_RUNID" != "$VICTIM_RUNID" ] ||
        fatal "the donor's run id '$DONOR_RUNID' does not differ from the victim's"
}
prog_check_python() {
    local got want i bad=0
    if [ "$MODE" = python-shm ]; then
        # +2: the readiness probe after the restore, then this request.
        got=$(echo SHM | kv)
        [ "$got" = $((VICTIM_SHM + 2)) ] &&
            pass "the MAP_SHARED|MAP_ANONYMOUS counter goes on from the victim's: $VICTIM_SHM -> $got (the donor's was $DONOR_SHM)" ||
            fail "the shared-memory counter is '$got', expected $((VICTIM_SHM + 2)) (victim $VICTIM_SHM, donor $DONOR_SHM)"
    fi
    got=$(echo COUNT | kv)
    [ "$got" = $((PY_KEYS + 1)) ] && pass "COUNT is $got: the victim's keys and the marker" ||
        fail "COUNT is '$got', expected $((PY_KEYS + 1))"
    for i in 1 2 3 17 99 1000 4242 12345 19999 "$PY_KEYS" $((RANDOM % PY_KEYS + 1)); do
        got=$(echo "GET k$i" | kv)
        want=$(py_val "$i")
        [ "$got" = "$want" ] || { fail "GET k$i is '$got', expected '$want'"; bad=1; }
    done
    [ "$bad" = 0 ] && pass "11 sampled keys have the victim's values"
    got=$(echo "GET marker" | kv)
    [ "$got" = "$MARKER" ] && pass "the marker set just before the kill is there: $got" ||
        fail "the marker is '$got', expected '$MARKER'"
    got=$(echo RUNID | kv)
    [ "$got" = "$VICTIM_RUNID" ] && pass "the run id is the victim's ($got; the donor's was $DONOR_RUNID)" ||
        fail "the run id is '$got'; the victim's was $VICTIM_RUNID, the donor's $DONOR_RUNID"
    if [ "$MODE" = python-title ]; then
        got=$(echo TITLE | kv)
        [ "$got" = "$PY_TITLE" ] && pass "the title the program set is in its memory: '$got'" ||
            fail "TITLE is '$got', expected '$PY_TITLE'"
    fi
    want="after-$RANDOM"
    got=$(printf 'SET after %s\nGET after\nCOUNT\n' "$want" | kv | paste -sd/)
    [ "$got" = "OK/$want/$((PY_KEYS + 2))" ] && pass "a write works: SET, GET, COUNT -> $got" ||
        fail "write after resurrection: '$got', expected 'OK/$want/$((PY_KEYS + 2))'"
}

# ---------------------------------------------------------------- memcached
MC_KEYS=20000
# mc: memcached's text protocol over nc; the server closes on "quit".
mc() { { cat; printf 'quit\r\n'; } | timeout 30 nc -N 127.0.0.1 "$PORT" {LOCKFD}>&- | tr -d '\r'; }
mc_val() { printf 'mv%d-%d' "$1" $(( ($1 * 7919) % 100003 )); }
mc_get() { printf 'get %s\r\n' "$1" | mc | sed -n '2{/^END$/d;p}'; }
mc_stat() { printf 'stats\r\n' | mc | awk -v k="$1" '$1 == "STAT" && $2 == k { print $3 }'; }
setup_memcached() {
    need memcached memcached
    need nc netcat-openbsd
    EXE=$(readlink -f "$(command -v memcached)")
    # -u root: memcached refuses to run as root without it; -U 0: no UDP.
    CMD=("$(command -v memcached)" -l 127.0.0.1 -p "$PORT" -U 0 -m 64 -c 64 -t 2 -u root)
    KILLSIG=QUIT
}
prog_ready_memcached() { [ "$(printf 'version\r\n' | mc 2>/dev/null | cut -c1-7)" = VERSION ]; }
prog_load_memcached() {
    local out
    out=$(awk -v n="$MC_KEYS" 'BEGIN { for (i = 1; i <= n; i++) { v = "mv" i "-" (i * 7919) % 100003
        printf "set k%d 0 0 %d\r\n%s\r\n", i, length(v), v } }' | mc | sort | uniq -c | awk '{print $2 " x" $1}' | paste -sd' ')
    [ "$out" = "STORED x$MC_KEYS" ] || fatal "loading $MC_KEYS keys: '$out'"
    VICTIM_ITEMS=$(mc_stat curr_items)
    [ "$VICTIM_ITEMS" = "$MC_KEYS" ] && pass "victim holds $VICTIM_ITEMS items" ||
        fatal "victim curr_items is '$VICTIM_ITEMS'"
    # Many connections, so that the victim's total_connections stands out.
    local i
    for i in $(seq 100); do printf 'version\r\n' | mc >/dev/null; done
}
prog_before_kill_memcached() {
    MARKER="marker-$RANDOM-$(date +%s%N)"
    local out
    out=$(printf 'set marker 0 0 %d\r\n%s\r\n' "${#MARKER}" "$MARKER" | mc)
    [ "$out" = STORED ] || fatal "setting the marker: '$out'"
    VICTIM_CONNS=$(mc_stat total_connections)
    log "marker = $MARKER; victim threads $(mc_stat threads), total_connections $VICTIM_CONNS"
}
prog_donor_memcached() {
    DONOR_ITEMS=$(mc_stat curr_items)
    DONOR_CONNS=$(mc_stat total_connections)
    log "donor: curr_items $DONOR_ITEMS, total_connections $DONOR_CONNS"
}
prog_check_memcached() {
    local got want i bad=0
    got=$(mc_stat curr_items)
    [ "$got" = $((MC_KEYS + 1)) ] && pass "curr_items is $got: the victim's keys and the marker (the donor had $DONOR_ITEMS)" ||
        fail "curr_items is '$got', expected $((MC_KEYS + 1))"
    got=$(mc_stat pid)
    [ "$got" = "$VPID" ] && pass "stats pid is the victim's pid $got" || fail "stats pid is '$got', expected $VPID"
    got=$(mc_stat total_connections)
    [ "${got:-0}" -gt "$VICTIM_CONNS" ] && [ "$got" -lt $((VICTIM_CONNS + 20)) ] && pass "total_connections goes on from the victim's: $VICTIM_CONNS -> $got (the donor's was $DONOR_CONNS)" ||
        fail "total_connections is '$got', the victim's was $VICTIM_CONNS"
    for i in 1 2 3 17 99 1000 4242 12345 19999 "$MC_KEYS" $((RANDOM % MC_KEYS + 1)); do
        got=$(mc_get "k$i")
        want=$(mc_val "$i")
        [ "$got" = "$want" ] || { fail "get k$i is '$got', expected '$want'"; bad=1; }
    done
    [ "$bad" = 0 ] && pass "11 sampled keys have the victim's values"
    got=$(mc_get marker)
    [ "$got" = "$MARKER" ] && pass "the marker set just before the kill is there: $got" ||
        fail "the marker is '$got', expected '$MARKER'"
    want="after-$RANDOM"
    got=$(printf 'set after 0 0 %d\r\n%s\r\nget after\r\n' "${#want}" "$want" | mc | paste -sd/)
    [ "$got" = "STORED/VALUE after 0 ${#want}/$want/END" ] && pass "a write works: set, get -> $got" ||
        fail "write after resurrection: '$got'"
}

case $MODE in
    redis*) P=redis ;;
    memcached) P=memcached ;;
    nginx*) P=nginx ;;
    python*) P=python ;;
esac
"setup_$P"
prog_ready() { "prog_ready_$P"; }
log "program: ${CMD[*]} (binary $EXE), port $PORT, killed with SIG$KILLSIG"
other_instances

# ================================================================ the story
# environ_sum PID: size and digest of /proc/PID/environ (the bytes between the
# kernel's env_start and env_end, whatever the program wrote there since).
environ_sum() { local f="/proc/$1/environ"; printf '%s bytes, sha256 %.16s' "$(wc -c <"$f")" "$(sha256sum <"$f")"; }

# start_victim: run, load, mark, kill for real; check the core. Sets VPID, CORE.
start_victim() {
    launch "${CMD[@]}"
    VPID=$LAUNCHED
    log "victim pid $VPID"
    timed victim-start wait_for 30 prog_ready || fatal "the victim does not answer on port $PORT"
    timed load "prog_load_$P"
    "prog_before_kill_$P"
    if [ "$HELD_CONN" = 1 ]; then
        hold_connection
    else
        wait_for 10 no_connections "$VPID" || fatal "the victim still has client connections: $(ss -Htanp | grep "pid=$VPID,")"
    fi
    VICTIM_CMDLINE=$(cmdline_of "$VPID")
    VICTIM_ENVIRON=$(environ_sum "$VPID")
    cp "/proc/$VPID/smaps" "$WORK/victim.smaps"
    local filter threads
    filter=$(cat "/proc/$VPID/coredump_filter")
    threads=$(ls "/proc/$VPID/task" | wc -l)
    log "victim: cmdline '$VICTIM_CMDLINE', $threads thread(s), coredump_filter $filter, $(wc -l <"/proc/$VPID/maps") mappings, VmRSS $(sed -n 's/^VmRSS:\s*//p' "/proc/$VPID/status")"
    [ "$filter" = 000000ff ] || fatal "victim's coredump_filter is $filter, not 000000ff"
    [ "$CAUGHT" = 0 ] || record_victim_world
    if [ "${NECRO_REAL_CONTROL:-0}" = 1 ]; then
        dump_victim_control
        return 0
    fi
    kill_victim
    if [ "$CAUGHT" = 1 ]; then
        check_caught_core
    else
        CORE="$WORK/victim.core"
        mv "$WORK/core.$VPID" "$CORE"
    fi
    check_core_complete
}

# kill_victim: SIGKILLSIG, for real; the core is in $CORE_DIR/core.$VPID.
kill_victim() {
    local t0 st=0 want
    t0=$(now_ms)
    kill "-$KILLSIG" "$VPID"
    { wait "$VPID"; } 2>/dev/null || st=$?
    want=$((128 + $(kill -l "$KILLSIG")))
    unset "TRACKED[$VPID]"
    [ "$st" -eq "$want" ] && pass "victim pid $VPID died of SIG$KILLSIG (status $st)" ||
        fatal "victim pid $VPID exit status $st, expected $want (SIG$KILLSIG)"
    [ -z "$HELD" ] || exec {HELD}>&-
    wait_for 30 test -s "$CORE_DIR/core.$VPID" || fatal "no core file $CORE_DIR/core.$VPID: $(ls "$CORE_DIR")"
    wait_gone "$VPID" 30 || fatal "victim pid $VPID did not vanish"
    TIMES+=("kill+core $(( $(now_ms) - t0 )) ms")
}

# check_core_complete: $CORE holds every page of the victim's mappings.
check_core_complete() {
    local verdict rc=0
    verdict=$("$PY" "$HERE/corecheck.py" "$CORE" "$WORK/victim.smaps") || rc=$?
    [ "$rc" -eq 0 ] && pass "core is complete: $verdict" || fatal "core: $verdict"
    # The check can fail: the same core one page short is refused.
    cp --sparse=always "$CORE" "$WORK/short.core"
    truncate -s -4096 "$WORK/short.core"
    rc=0
    verdict=$("$PY" "$HERE/corecheck.py" "$WORK/short.core" "$WORK/victim.smaps") || rc=$?
    rm -f "$WORK/short.core"
    [ "$rc" -eq 1 ] && pass "the core cut one page short is found incomplete" ||
        fail "corecheck accepted a truncated core (exit $rc): $verdict"
}

# ---------------------------------------------------------------- -catch modes
# limits_line PID NAME: the soft and hard value of one of /proc/PID/limits.
limits_line() { awk -v n="$2" 'index($0, n) == 1 { print $(NF - 2), $(NF - 1) }' "/proc/$1/limits"; }
sig_ignored() { sed -n 's/^SigIgn:\s*//p' "/proc/$1/status"; }
umask_of() { sed -n 's/^Umask:\s*//p' "/proc/$1/status"; }
# listen_fd PID: the fd of PID's TCP socket listening on $PORT (from ss).
listen_fd() { ss -Hltnp "sport = :$PORT" | grep -o "pid=$1,fd=[0-9]*" | head -n1 | sed 's/.*fd=//'; }

# record_victim_world: what the capture must hold, as the victim sees it.
record_victim_world() {
    local p
    VICTIM_CWD=$(readlink "/proc/$VPID/cwd")
    VICTIM_SIGIGN=$(sig_ignored "$VPID")
    VICTIM_NOFILE=$(limits_line "$VPID" 'Max open files')
    VICTIM_UMASK=$(umask_of "$VPID")
    VICTIM_LISTEN_FD=$(listen_fd "$VPID")
    [ -n "$VICTIM_LISTEN_FD" ] || fatal "the victim pid $VPID has no fd listening on port $PORT: $(ss -Hltnp)"
    VICTIM_EPOLL_FDS=''
    for p in /proc/$VPID/fd/*; do
        [ "$(readlink "$p")" = 'anon_inode:[eventpoll]' ] && VICTIM_EPOLL_FDS="$VICTIM_EPOLL_FDS ${p##*/}"
    done
    VICTIM_EPOLL_FDS=${VICTIM_EPOLL_FDS# }
    log "victim: cwd $VICTIM_CWD, umask $VICTIM_UMASK, SigIgn $VICTIM_SIGIGN, open files $VICTIM_NOFILE, listening fd $VICTIM_LISTEN_FD, epoll fd(s) '${VICTIM_EPOLL_FDS:-none}', $(ls "/proc/$VPID/fd" | wc -l) fds"
    ls -l "/proc/$VPID/fd" >"$WORK/victim.fds" 2>&1 || true
}

# check_caught_core: necro-catch wrote a complete core.$VPID and a capture
# beside it that holds the victim's listener, epoll and cwd. Sets CORE, CAP.
check_caught_core() {
    CORE=$CORE_DIR/core.$VPID
    CAP=$CORE.necro
    [ ! -e "$CORE.partial" ] && [ ! -e "$CORE.incomplete" ] ||
        fatal "necro-catch marked the core incomplete: $(cat "$CORE.incomplete" 2>/dev/null)"
    grep -q "core complete: core.$VPID" "$CAP/capture.log" ||
        fatal "capture.log does not say the core is complete: $(tail -n 5 "$CAP/capture.log")"
    [ -f "$CAP/capture.txt" ] || fatal "no $CAP/capture.txt: $(ls "$CAP")"
    pass "necro-catch wrote core.$VPID ($(stat -c %s "$CORE") bytes, $(du -h "$CORE" | cut -f1) on disk) and core.$VPID.necro/ ($(ls "$CAP" | paste -sd' '))"
    "$CATCH" --show "$CAP" "$VPID" >"$WORK/capture.show" 2>&1 || fatal "necro-catch --show $CAP: $(cat "$WORK/capture.show")"
    sed 's/^/  | /' "$WORK/capture.show" | grep -v '^  | map ' || true
    grep -q "^fd $VICTIM_LISTEN_FD inet .* proto 6 state 10 port $PORT\$" "$WORK/capture.show" &&
        pass "the capture lists fd $VICTIM_LISTEN_FD: TCP, LISTEN, port $PORT" ||
        fail "the capture does not list fd $VICTIM_LISTEN_FD as a TCP socket listening on port $PORT"
    [ "$(sed -n 's/^cwd //p' "$WORK/capture.show")" = "$VICTIM_CWD" ] && pass "the capture's cwd is the victim's: $VICTIM_CWD" ||
        fail "the capture's cwd is '$(sed -n 's/^cwd //p' "$WORK/capture.show")', the victim's $VICTIM_CWD"
    [ -z "$VICTIM_EPOLL_FDS" ] || check_captured_epoll
}

# epoll_watches EPFD: the fds the capture says epoll EPFD watches.
epoll_watches() {
    awk -v e="$1" '/^fd / { in_e = ($2 == e && $3 == "epoll") } in_e && $1 == "watches" { print $3 }' "$WORK/capture.show" | paste -sd' '
}
check_captured_epoll() {
    local e w
    for e in $VICTIM_EPOLL_FDS; do
        w=$(epoll_watches "$e")
        grep -q "^fd $e epoll " "$WORK/capture.show" || { fail "the capture does not list epoll fd $e"; continue; }
        [[ " $w " == *" $VICTIM_LISTEN_FD "* ]] &&
            pass "the capture lists epoll fd $e watching fds $w (the listener $VICTIM_LISTEN_FD among them)" ||
            fail "the capture's epoll fd $e watches '$w', not the listener $VICTIM_LISTEN_FD"
    done
}

# necromance_caught: no donor; the image set from the core and its capture.
necromance_caught() {
    [ ! -e "$WORK/donor" ] || fatal "a donor directory $WORK/donor exists in a no-donor run"
    DONOR_RUNID='(no donor)' DONOR_SHM='(no donor)'
    log "criu-necromancer -c $CORE --explain"
    if ! timed explain timeout 90 "$NECRO" -c "$CORE" --explain >"$WORK/explain.log" 2>&1 {LOCKFD}>&-; then
        show_log "$WORK/explain.log"
        fatal "criu-necromancer --explain failed: $(grep -m1 '^criu-necromancer:' "$WORK/explain.log" || tail -n 1 "$WORK/explain.log")"
    fi
    check_explain
    IMG="$WORK/out"
    log "criu-necromancer -c $CORE -o $IMG (no donor, capture $CAP)"
    if ! timed necro timeout 90 "$NECRO" -c "$CORE" -o "$IMG" >"$WORK/necro.log" 2>&1 {LOCKFD}>&-; then
        show_log "$WORK/necro.log"
        fatal "criu-necromancer failed: $(grep -m1 '^criu-necromancer:' "$WORK/necro.log" || tail -n 1 "$WORK/necro.log")"
    fi
    [ -f "$IMG/inventory.img" ] || fatal "criu-necromancer exited 0 but wrote no $IMG/inventory.img"
    pass "criu-necromancer without a donor wrote $(ls "$IMG" | wc -l) files ($(du -sh "$IMG" | cut -f1))"
    [ ! -e "$WORK/donor" ] && pass "no donor was started or dumped" || fail "a donor directory appeared"
}

# check_explain: --explain used the capture, and names what it closed.
check_explain() {
    local section closed e
    section=$(awk '/^from the capture/ { on = 1 } on && /^[^ ]/ && !/^from the capture/ { exit } on' "$WORK/explain.log")
    [ -n "$section" ] || { fail "--explain has no 'from the capture' section (log: $WORK/explain.log)"; return 0; }
    printf '%s\n' "$section" | sed 's/^/  | /'
    pass "--explain: $(head -n1 <<<"$section")"
    closed=$(sed -n 's/^  closed fd \([0-9]*\):.*/\1/p' <<<"$section" | paste -sd' ')
    log "--explain: fds closed: ${closed:-none}"
    for e in "$VICTIM_LISTEN_FD" $VICTIM_EPOLL_FDS; do
        [[ " $closed " != *" $e "* ]] || fail "--explain closes fd $e (the listener or the epoll)"
    done
    if [ "$HELD_CONN" = 1 ]; then
        [[ " $closed " == *" $VICTIM_HELD_FD "* ]] &&
            pass "--explain lists the client connection open at death, fd $VICTIM_HELD_FD, as closed" ||
            fail "--explain does not list fd $VICTIM_HELD_FD (the client connection open at death) as closed"
    fi
    pass "--explain closes ${closed:-no fd}, keeps the listener fd $VICTIM_LISTEN_FD and epoll '${VICTIM_EPOLL_FDS:-none}'"
}

# hold_connection: a client (bash's /dev/tcp, named necro-held) stays
# connected through the kill; VICTIM_HELD_FD is its fd in the victim.
hold_connection() {
    local a
    exec {HELD}<>"/dev/tcp/127.0.0.1/$PORT"
    printf 'CLIENT SETNAME necro-held\r\n' >&"$HELD"
    IFS= read -r -t 10 a <&"$HELD" || a='(no answer)'
    [ "${a%$'\r'}" = +OK ] || fatal "the held connection: CLIENT SETNAME answered '$a'"
    VICTIM_HELD_FD=$(ss -Htnp state established "sport = :$PORT" | grep -o "pid=$VPID,fd=[0-9]*" | head -n1 | sed 's/.*fd=//')
    [ -n "$VICTIM_HELD_FD" ] || fatal "the victim shows no established connection: $(ss -Htanp | grep "pid=$VPID," || true)"
    log "a client stays connected through the kill: fd $VICTIM_HELD_FD in the victim"
}

# first_client_after_held: the dead connection's fd number is free again, so
# the first new client gets it. Redis's event loop still believes that fd is
# registered (EPOLL_CTL_MOD then fails with ENOENT when the registration is
# gone): that client is never answered unless the resurrection lets Redis see
# the old connection end (EPOLLHUP) and close it itself.
first_client_after_held() {
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

# check_caught_world: the resurrected process has the victim's own world.
check_caught_world() {
    local got
    got=$(readlink "/proc/$VPID/cwd")
    [ "$got" = "$VICTIM_CWD" ] && pass "/proc/$VPID/cwd is the victim's: $got" ||
        fail "/proc/$VPID/cwd is '$got', the victim's was $VICTIM_CWD"
    got=$(listen_fd "$VPID")
    [ "$got" = "$VICTIM_LISTEN_FD" ] && pass "pid $VPID listens on 127.0.0.1:$PORT with fd $got, as the victim did" ||
        fail "pid $VPID listens on port $PORT with fd '$got', the victim with fd $VICTIM_LISTEN_FD: $(ss -Hltnp "sport = :$PORT")"
    got=$(sig_ignored "$VPID")
    [ "$got" = "$VICTIM_SIGIGN" ] && pass "ignored signals are the victim's: SigIgn $got" ||
        fail "SigIgn is $got, the victim's was $VICTIM_SIGIGN"
    got=$(limits_line "$VPID" 'Max open files')
    [ "$got" = "$VICTIM_NOFILE" ] && pass "open files limit is the victim's: $got" ||
        fail "open files limit is '$got', the victim's was '$VICTIM_NOFILE'"
    got=$(umask_of "$VPID")
    [ "$got" = "$VICTIM_UMASK" ] && pass "umask is the victim's: $got" ||
        fail "umask is '$got', the victim's was '$VICTIM_UMASK'"
    if declare -F "prog_two_clients_$P" >/dev/null; then "prog_two_clients_$P"; fi
    ls -l "/proc/$VPID/fd" >"$WORK/restored.fds" 2>&1 || true
    log "fds: victim $(grep -c ' -> ' "$WORK/victim.fds"), restored $(grep -c ' -> ' "$WORK/restored.fds")"
}

# dump_donor: a fresh run with the same configuration, dumped by CRIU.
dump_donor() {
    launch "${CMD[@]}"
    DPID=$LAUNCHED
    disown "$DPID"
    log "donor pid $DPID"
    wait_for 30 prog_ready || fatal "the donor does not answer on port $PORT"
    "prog_donor_$P"
    wait_for 10 no_connections "$DPID" || fatal "the donor still has client connections"
    mkdir -p "$WORK/donor"
    if ! timed donor-dump criu dump -t "$DPID" -D "$WORK/donor" -v4 -o dump.log; then
        show_log "$WORK/donor/dump.log"
        if grep -q "Can't get 1:16 opt: Operation not supported" "$WORK/donor/dump.log"; then
            fail "this CRIU cannot dump a TCP socket on Linux >= 6.16 (getsockopt SO_PASSCRED on an inet socket is EOPNOTSUPP since 6.16; CRIU issue #2705, fixed in CRIU 4.2): use a CRIU with that fix as NECRO_CRIU"
        fi
        fatal "criu dump of donor pid $DPID failed"
    fi
    unset "TRACKED[$DPID]"
    wait_gone "$DPID" 30 || fatal "donor pid $DPID did not vanish after dump"
    pass "donor pid $DPID dumped by CRIU ($(ls "$WORK/donor" | wc -l) files, $(du -sh "$WORK/donor" | cut -f1))"
}

necromance() {
    local donor_sum
    donor_sum=$(cd "$WORK/donor" && sha256sum -- * | sha256sum)
    IMG="$WORK/out"
    log "criu-necromancer -c $CORE -i $WORK/donor -o $IMG"
    if ! timed necro timeout 90 "$NECRO" -c "$CORE" -i "$WORK/donor" -o "$IMG" >"$WORK/necro.log" 2>&1 {LOCKFD}>&-; then
        show_log "$WORK/necro.log"
        fatal "criu-necromancer failed: $(grep -m1 '^criu-necromancer:' "$WORK/necro.log" || tail -n 1 "$WORK/necro.log")"
    fi
    [ -f "$IMG/inventory.img" ] || fatal "criu-necromancer exited 0 but wrote no $IMG/inventory.img"
    pass "criu-necromancer wrote $(ls "$IMG" | wc -l) files ($(du -sh "$IMG" | cut -f1))"
    [ "$(cd "$WORK/donor" && sha256sum -- * | sha256sum)" = "$donor_sum" ] &&
        pass "donor images untouched" || fail "criu-necromancer modified the donor images"
}

restore_live() {
    local rpid exe cmd
    rm -f "$WORK/restored.pid"
    log "criu restore -D $IMG -d"
    if ! timed restore criu restore -D "$IMG" -d -v4 -o restore.log --pidfile "$WORK/restored.pid"; then
        show_log "$IMG/restore.log"
        wait_gone "$VPID" 30 || true
        fatal "criu restore -D $IMG -d failed: $(grep -m1 'Error' "$IMG/restore.log" || true)"
    fi
    rpid=$(cat "$WORK/restored.pid" 2>/dev/null || true)
    [ -z "$rpid" ] || TRACKED[$rpid]=$EXE
    [ "$rpid" = "$VPID" ] && pass "restored as the victim's pid $VPID" ||
        fatal "criu restore restored pid '$rpid', not the victim's $VPID"
    exe=$(readlink "/proc/$VPID/exe" || true)
    [ "$exe" = "$EXE" ] && pass "restored exe is $EXE" || fail "restored exe is '$exe', expected $EXE"
    cmd=$(cmdline_of "$VPID")
    [ "$cmd" = "$VICTIM_CMDLINE" ] && pass "restored /proc/$VPID/cmdline is the victim's: '$cmd'" ||
        fail "restored /proc/$VPID/cmdline is '$cmd', expected '$VICTIM_CMDLINE'"
    cmd=$(environ_sum "$VPID")
    [ "$cmd" = "$VICTIM_ENVIRON" ] && pass "restored /proc/$VPID/environ is the victim's ($cmd)" ||
        fail "restored /proc/$VPID/environ is $cmd, the victim's was $VICTIM_ENVIRON"
    [ -z "${CORE:-}" ] || check_shared_memory
    [ "$HELD_CONN" = 0 ] || first_client_after_held
    if timed answers answers_while_alive 20; then
        pass "the resurrected program answers its client on port $PORT"
    else
        show_log "$IMG/restore.log"
        why_dead
        fatal "the resurrected pid $VPID does not answer on port $PORT (state '$(state_of "$VPID")')"
    fi
}

# check_shared_memory: right after the restore, before any client talks to
# it, the victim's memory-only shared mappings hold the core's bytes.
check_shared_memory() {
    local verdict rc=0
    verdict=$("$PY" "$HERE/sharedcheck.py" "$CORE" "$WORK/victim.smaps" "$VPID") || rc=$?
    case $rc in
        0) pass "shared memory: $verdict" ;;
        3) log "shared memory: $verdict" ;;
        *) fail "shared memory: $verdict" ;;
    esac
}

# answers_while_alive SECONDS: until the program answers; gives up at once
# when the resurrected process is gone.
answers_while_alive() {
    local deadline=$((SECONDS + $1))
    until prog_ready; do
        is_running "$VPID" || return 1
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.05
    done
}

# why_dead: when the resurrected process died with a core (core_pattern still
# points into $WORK), say of what and where, with gdb's backtrace.
why_dead() {
    local core="$CORE_DIR/core.$VPID"
    # necro-catch does not overwrite the victim's own core.PID: core.PID.1.
    [ "${CORE:-}" != "$core" ] || core=$core.1
    is_running "$VPID" && return 0
    wait_for 5 test -s "$core" || { log "pid $VPID is gone and left no core"; return 0; }
    log "the resurrected pid $VPID died and left $core:"
    if command -v gdb >/dev/null; then
        timeout 60 gdb -nx -batch -ex 'p $_siginfo.si_signo' -ex 'p $_siginfo._sifields._sigfault.si_addr' \
            -ex 'info registers rip' -ex 'bt 8' "$EXE" "$core" {LOCKFD}>&- 2>/dev/null |
            grep -E '^(\$[0-9]|rip|#[0-9])' | awk '!seen[$0]++ { print "  " $0 }' || true
    fi
}

# NECRO_REAL_CONTROL=1: a control run without necro, to check the checks. The
# victim is not killed but dumped by CRIU itself and restored from CRIU's own
# images: every check after the restore must pass (a failure there is the
# test's, or CRIU's, never necro's).
dump_victim_control() {
    disown "$VPID" # no "Killed" notice when CRIU kills it
    mkdir -p "$WORK/img"
    if ! timed victim-dump criu dump -t "$VPID" -D "$WORK/img" -v4 -o dump.log; then
        show_log "$WORK/img/dump.log"
        fatal "control: criu dump of the victim pid $VPID failed"
    fi
    unset "TRACKED[$VPID]"
    wait_gone "$VPID" 30 || fatal "victim pid $VPID did not vanish after dump"
    pass "control: the victim pid $VPID dumped by CRIU itself (no core, no donor, no necro)"
    IMG="$WORK/img"
    DONOR_RUNID='(no donor)' DONOR_STATUS='(no donor)' DONOR_SHM='(no donor)' DONOR_ITEMS='(no donor)' DONOR_CONNS='(no donor)'
}

start_victim
if [ "${NECRO_REAL_CONTROL:-0}" = 1 ]; then
    :
elif [ "$CAUGHT" = 1 ]; then
    necromance_caught
else
    dump_donor
    necromance
fi
restore_live
timed checks "prog_check_$P"
[ "$CAUGHT" = 0 ] || timed world check_caught_world
if is_running "$VPID"; then
    pass "pid $VPID still alive and running"
else
    fail "pid $VPID is not running any more (state '$(state_of "$VPID")')"
    why_dead
fi
kill_tracked "$VPID"
exit 0
