#!/usr/bin/env bash
# nginx.sh - nginx as one process (master_process off; daemon off;).
#   nginx        with stub_status (its counters are in .bss without a master
#                process) and a limit_req zone: MAP_SHARED|MAP_ANONYMOUS memory
#                (1 MiB) holding each client's request budget (1 a minute,
#                burst 5). 51 requests on 6 connections, then /limited until
#                it answers 503 (the budget spent), then SIGABRT (nginx takes
#                SIGQUIT as a graceful stop). After: the shared zone holds the
#                core's bytes; stub_status's accepts/handled/requests are the
#                victim's + 2 (the readiness probe after the restore and the
#                status request itself; the donor's were 2 2 2); /limited
#                still answers 503 (a fresh nginx answers 200); it serves a
#                page. ngx_init_setproctitle repointed the initial stack's envp
#                array to heap copies.
#   nginx-many   the same with worker_connections 1024: malloc takes the
#                connection array from its own mmap (not the brk heap), and the
#                epoll registration of the listening socket points into it.
#                Not in ctest: passes only when necro can pair that mmap with
#                the victim's (about 4 runs in 10 here; docs/limits.md: epoll
#                data); run it by hand.
#@test nginx        one nginx process: a limit_req zone in MAP_SHARED|MAP_ANONYMOUS memory
#@manual nginx-many
# shellcheck source=../lib.sh disable=SC2034 # lib.sh reads BIN, CMD, KILLSIG, LAUNCH_*
. "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
e2e_args e2e.real. "$@"
real_begin
need nginx nginx
need curl curl

NGINX_REQUESTS=50
NGINX_BURST=5
http() { timeout 20 curl -sS --max-time 10 "$@" {LOCKFD}>&-; }
# nginx_status: "accepts handled requests" from stub_status.
nginx_status() { http "http://127.0.0.1:$PORT/status" | sed -n '3p' | awk '{print $1, $2, $3}'; }

BIN=$(readlink -f "$(command -v nginx)")
# 64 connections fit the brk heap; 1024 (nginx-many) take malloc's mmap.
connections=64
[ "$MODE" = nginx-many ] && connections=1024
mkdir -p "$WORK/nginx/tmp" "$WORK/nginx/logs" "$WORK/nginx/html"
# A static file: limit_req acts before the content phase (not on "return").
echo "within budget" >"$WORK/nginx/html/limited"
cat >"$WORK/nginx/nginx.conf" <<CONF
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
CONF
CMD=("$(command -v nginx)" -p "$WORK/nginx/" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/logs/error.log")
KILLSIG=ABRT

prog_ready() { [ "$(http "http://127.0.0.1:$PORT/ready" 2>/dev/null)" = "necro-nginx-ok /ready" ]; }
prog_load() {
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
prog_before_kill() {
    VICTIM_STATUS=$(nginx_status)
    log "victim stub_status (accepts handled requests): $VICTIM_STATUS"
    read -r VA VH VR <<<"$VICTIM_STATUS"
    [ "${VR:-0}" -ge "$NGINX_REQUESTS" ] || fatal "victim served only '$VR' requests"
}
prog_donor() {
    DONOR_STATUS=$(nginx_status)
    # Not /limited: its budget must stay whole in the donor.
    log "donor stub_status (accepts handled requests): $DONOR_STATUS"
}
prog_check() {
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

real_story
exit 0
