#!/usr/bin/env bash
# catch.sh - the victim dies under necro-catch, the core_pattern helper, and
# comes back from its core and capture alone. The victim of the mode without
# "catch-" runs as in that mode (writing to its own OUT file, not stdout) and
# dies under `core_pattern = |necro-catch --dir WORK/caught %P` (--catch
# PATH; core_pipe_limit >= 1; both put back on exit). The core must be
# complete (no .partial, no .incomplete, capture.log says so) with its capture
# (core.PID.necro/, capture.txt ending in its `end` line) beside it; both are
# moved to victim.core and victim.core.necro. No donor: `criu-necromancer -c
# CORE --explain` must show the "from the capture" section (with its `closed
# fd N:` lines), then `-c CORE -o OUT` (no --stdio, no --cwd) writes the set;
# crit decodes it; restored stopped: the oracle, and the process against the
# capture (check_capture_restored below, README "The restored process against
# its capture"): every fd not listed as closed has its path (files), kind
# (pipes, sockets, anon inodes; the two ends of a pipe one inode; fds that were
# one open file description one again, by kcmp), and for files its pos and
# flags; cwd, root, umask, ignored signals, creds and all rlimits are the
# victim's (launch makes them differ from criu-necromancer's defaults).
# Killed ones then run on into their own OUT from the dead value + 1 (pool:
# every thread; handshake: main and sleeper, and its pipe is a pipe with both
# ends open; heapsig: ticks and memory self-checks; manymaps: the count and
# its pattern checks), survive SIGHUP (ignored by the victim), and get no
# SIGUSR1: a core holds no handler address, so a caught signal is SIG_DFL
# after the resurrection. Crashed ones: gdb checks, then the re-crash, whose
# core necro-catch writes into WORK/caught (same ip, same thread).
#   catch-counter   its stdin is a named FIFO (a queue it never reads, not
#                   reopened by path): --explain must list fd 0 as closed, and
#                   the restored fd 0 is /dev/null.
#   catch-manymaps  70 000 VMAs: its core has no NT_FILE and uses PN_XNUM;
#                   --explain says the file mappings were rebuilt.
#   catch-shmem     the shmem victim: shared anonymous memory, a memfd and a
#                   deleted file, each mapped shared and (memfd, file)
#                   privately too. The core has no share mode; the capture
#                   records it (format 2, `shared` lines from /proc/PID/maps),
#                   so the private copies come back private and each object
#                   holds its shared mapping's bytes: oracle SAME, every region
#                   goes on.
#   catch-catchme   tests/data/src/catchme.c, an fd of every kind: a file at an
#                   offset, a pipe, eventfd, timerfd, signalfd, epoll, TCP and
#                   UDP on 127.0.0.1, a unix listener. Restored stopped, the
#                   eventfd's count, the timerfd's clock and interval, the
#                   signalfd's mask and the epoll's registrations are the
#                   captured ones; its TCP port refuses connections while it is
#                   dead and takes them again once it runs, and so does its
#                   unix socket.
#@test catch-counter       dies under necro-catch, no donor: fds/cwd/rlimits as captured, counts on into its own file
#@test catch-segv          the same for the NULL store in main: oracle, capture, gdb frames, re-crash caught again
#@test catch-segv-thread   the same in a worker thread
#@test catch-heapsig       heap/mmap/file mapping: capture checks, ticks on into its own file (no SIGUSR1)
#@test catch-pool          8 counting threads: capture checks, every thread counts on into its own file
#@test catch-handshake     futex/pipe/nanosleep threads: its pipe back with both ends, main and sleeper go on
#@test catch-manymaps timeout=900   70 000 VMAs, no NT_FILE: capture checks, counts on into its own file
#@test catch-shmem         shared anonymous, memfd and deleted-file mappings: share modes from the capture, bytes back
#@test catch-catchme       every fd kind (file, pipe, eventfd, timerfd, signalfd, epoll, tcp/udp/unix): settings back, listens again
# shellcheck source=../lib.sh disable=SC2034 # lib.sh reads BIN, CMD, KILLSIG, LAUNCH_*
. "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
e2e_args e2e. "$@"
victims_begin --catch
victim_setup "${MODE#catch-}"
# Its stdin a named FIFO (a queue it never reads): what cannot come back.
if [ "$MODE" = catch-counter ]; then
    mkfifo -m 0600 "$WORK/queue"
    LAUNCH_STDIN_FIFO=$WORK/queue
fi

# resurrect_from_capture: criu-necromancer -c CORE -o $IMG with no donor and
# no --stdio or --cwd: the capture beside the core ($CORE.necro) gives the
# victim's own files, cwd, root, rlimits and creds. Sets IMG.
resurrect_from_capture() {
    IMG="$WORK/resurrected"
    [ -d "$CORE.necro" ] || fatal "no capture $CORE.necro beside the core"
    if ! run_necro -c "$CORE" --explain >"$WORK/explain.log" 2>&1; then
        show_log "$WORK/explain.log"
        fatal "criu-necromancer -c $CORE --explain failed"
    fi
    grep -q '^from the capture ' "$WORK/explain.log" &&
        pass "--explain: '$(grep -m1 '^from the capture ' "$WORK/explain.log")', $(grep -c '^  closed fd [0-9]*:' "$WORK/explain.log" || true) fds closed" ||
        fail "--explain has no 'from the capture' section"
    { sed -n '/^from the capture /,/^$/p' "$WORK/explain.log"; grep '^  closed fd [0-9]*:' "$WORK/explain.log" || true; } |
        awk '!seen[$0]++' | sed 's/^/  /'
    log "criu-necromancer -c $CORE -o $IMG (no donor, the capture $CORE.necro)"
    if ! run_necro -c "$CORE" -o "$IMG" >"$WORK/necro.log" 2>&1; then
        show_log "$WORK/necro.log"
        fatal "criu-necromancer -c $CORE -o $IMG failed"
    fi
    [ -f "$IMG/inventory.img" ] || fatal "criu-necromancer exited 0 but wrote no $IMG/inventory.img"
    pass "criu-necromancer wrote $(ls "$IMG" | wc -l) files into $(basename "$IMG") from the core and its capture"
    crit_decodes "$IMG"
}

# tcp_answers PORT: something takes a connection on 127.0.0.1:PORT.
tcp_answers() { timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null; }

# check_catchme_dead: once catchme is dead nothing listens on its TCP port
# (so a connection later is the resurrected one's).
check_catchme_dead() {
    local port
    port=$(sed -n 's/^tcp //p' "$WORK/ports.txt")
    tcp_answers "$port" && fail "something still listens on the dead catchme's port $port" ||
        pass "the dead catchme's TCP port $port refuses connections"
}

# check_catchme_on: the running resurrected catchme, which never accepts,
# listens again on the victim's own TCP port and unix socket WORK/sock (a
# connection lands in the backlog), survives SIGHUP, and lives on.
check_catchme_on() {
    local port
    port=$(sed -n 's/^tcp //p' "$WORK/ports.txt")
    tcp_answers "$port" && pass "its own listening TCP socket takes a connection on 127.0.0.1:$port again" ||
        fail "nothing takes a connection on 127.0.0.1:$port, the victim's listening port"
    if command -v python3 >/dev/null; then
        timeout 5 python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])' "$WORK/sock" 2>/dev/null &&
            pass "its own listening unix socket takes a connection at $WORK/sock again" ||
            fail "nothing takes a connection at $WORK/sock, the victim's listening unix socket"
    fi
    kill -HUP "$VPID"
    sleep 0.2
    is_running "$VPID" && pass "pid $VPID survived SIGHUP (ignored) and still runs" ||
        fail "pid $VPID is not running any more (state '$(state_of "$VPID")')"
    kill_tracked "$VPID"
}

# check_fifo_stdin_closed: catch-counter's fd 0 was a named FIFO, which is
# not reopened by path (opening one blocks): --explain lists fd 0 as closed
# and the restored process has the default there, /dev/null.
check_fifo_stdin_closed() {
    local live
    live=$(readlink "/proc/$VPID/fd/0" || true)
    if grep -q "^  closed fd 0: .*$WORK/queue" "$WORK/explain.log" && [ "$live" = /dev/null ]; then
        pass "fd 0, the FIFO $WORK/queue, is closed and listed ('$(grep -m1 '^  closed fd 0: ' "$WORK/explain.log" | sed 's/^ *//')'); /dev/null is there instead"
    else
        fail "fd 0 (the FIFO $WORK/queue) is '$live' in the restored process; --explain: '$(grep '^  closed fd 0: ' "$WORK/explain.log")'"
    fi
}

# capture_value KEY WORD: the value of WORD=... on the capture's KEY line.
capture_value() {
    awk -v k="$1" -v w="$2=" '$1 == k { for (i = 2; i <= NF; i++) if (index($i, w) == 1) { print substr($i, length(w) + 1); exit } }' \
        "$CORE.necro/capture.txt"
}
# capture_line KEY: the rest of the capture's KEY line (cwd, root, umask).
capture_line() { awk -v k="$1" '$1 == k { print $2; exit }' "$CORE.necro/capture.txt"; }
# unescape VALUE: capture.txt's %XX escapes back to bytes, "-" to empty.
unescape() { [ "$1" = - ] || printf '%b' "${1//%/\\x}"; }
# capture_fds: "N KIND FLAGS POS INO LINK" per fd of the capture (LINK escaped).
capture_fds() {
    awk '$1 == "fd" { delete v; for (i = 3; i <= NF; i++) { j = index($i, "="); v[substr($i, 1, j - 1)] = substr($i, j + 1) }
                      print $2, v["kind"], v["flags"], v["pos"], v["ino"], v["link"] }' "$CORE.necro/capture.txt"
}
# capture_fd_word N WORD: the value of WORD=... on the capture's line of fd N.
capture_fd_word() {
    awk -v n="$1" -v w="$2=" '$1 == "fd" && $2 == n { for (i = 3; i <= NF; i++) if (index($i, w) == 1) { print substr($i, length(w) + 1); exit } }' \
        "$CORE.necro/capture.txt"
}
# epoll_captured N / epoll_live PID N: "TFD EVENTS DATA" (hex) per registration of epoll fd N.
epoll_captured() {
    awk -v n="$1" '$1 == "tfd" && $2 == n { delete v; for (i = 3; i <= NF; i++) { j = index($i, "="); v[substr($i, 1, j - 1)] = substr($i, j + 1) }
                                          print v["tfd"], v["events"], v["data"] }' "$CORE.necro/capture.txt" | sed 's/0x//g' | sort
}
epoll_live() { sed -n 's/^tfd: *\([0-9]*\) *events: *\([0-9a-f]*\) *data: *\([0-9a-f]*\).*/\1 \2 \3/p' "/proc/$1/fdinfo/$2" | sort; }

# hex_field N NAME: a hex field of the restored VPID's fdinfo of fd N, in
# decimal ("missing" if it is not there).
hex_field() {
    local v
    v=$(fdinfo_field "$VPID" "$1" "$2")
    [[ $v =~ ^[0-9a-f]+$ ]] && echo $((16#$v)) || echo "missing"
}

# check_anon_restored N KIND: an eventfd's count, a timerfd's clock and
# interval, a signalfd's mask, an epoll's registrations (target fd, events,
# data) of fd N of the restored VPID are the captured ones; appends what
# differs to FD_BAD. (A timerfd's it_value runs on: not compared.)
check_anon_restored() {
    local n=$1 kind=$2 want got
    case $kind in
        eventfd) want=$(capture_fd_word "$n" count); got=$(hex_field "$n" eventfd-count) ;;
        signalfd) want=$(($(capture_fd_word "$n" sigmask))); got=$(hex_field "$n" sigmask) ;;
        timerfd)
            want="clock $(capture_fd_word "$n" clockid) interval ($(capture_fd_word "$n" interval_sec), $(capture_fd_word "$n" interval_nsec))"
            got="clock $(fdinfo_field "$VPID" "$n" clockid) interval $(sed -n 's/^it_interval: *//p' "/proc/$VPID/fdinfo/$n")" ;;
        epoll) want=$(epoll_captured "$n" | paste -sd,); got=$(epoll_live "$VPID" "$n" | paste -sd,) ;;
        *) return 0 ;;
    esac
    [ "$got" = "$want" ] && FD_SETTINGS+=("$kind") || FD_BAD+=("fd $n ($kind) has '$got', the victim's had '$want'")
}


# check_fd_restored N KIND FLAGS POS INO LINK: fd N of the restored VPID is
# what the capture says; appends what differs to FD_BAD, records pipe inodes.
check_fd_restored() {
    local n=$1 kind=$2 flags=$3 pos=$4 ino=$5 link live want got
    link=$(unescape "$6")
    live=$(readlink "/proc/$VPID/fd/$n" 2>/dev/null) || { FD_BAD+=("fd $n ($kind $link) is not open"); return 0; }
    case $kind in
        reg)
            [ "$live" = "$link" ] || FD_BAD+=("fd $n is $live, the victim's was $link")
            got=$(fdinfo_field "$VPID" "$n" pos)
            [ "$got" = "$pos" ] || FD_BAD+=("fd $n ($link) at pos $got, the victim's at $pos")
            # CRIU reopens with the recorded flags; O_LARGEFILE (0100000) is
            # forced by the kernel on every 64-bit open, so it would say
            # nothing of the victim: masked out should it ever differ.
            want=$(( $(octal "$flags") & ~8#100000 ))
            got=$(( $(octal "$(fdinfo_field "$VPID" "$n" flags)") & ~8#100000 ))
            [ "$got" = "$want" ] || FD_BAD+=("fd $n ($link) has flags 0$(printf %o "$got"), the victim's 0$(printf %o "$want")") ;;
        pipe)
            [[ $live == pipe:\[*\] ]] || FD_BAD+=("fd $n is $live, the victim's was a pipe")
            PIPE_OF[$ino]="${PIPE_OF[$ino]:-} $live" ;;
        inet | unix | socket)
            [[ $live == socket:\[*\] ]] || FD_BAD+=("fd $n is $live, the victim's was a $kind socket") ;;
        *)
            [ "$live" = "$link" ] || FD_BAD+=("fd $n is $live, the victim's was $link")
            check_anon_restored "$n" "$kind" ;;
    esac
    FD_SEEN+=("$n $live")
}

# check_fds_restored: every fd of the capture that --explain does not list
# as closed is open in the restored VPID as it was; the two ends of each
# captured pipe share one inode again; no fd is open that the capture lacks.
check_fds_restored() {
    local closed n kind flags pos ino link extra=
    local -A PIPE_OF=()
    local FD_BAD=() FD_SEEN=() FD_SETTINGS=()
    closed=" $(sed -n 's/^  closed fd \([0-9]*\):.*/\1/p' "$WORK/explain.log" | paste -sd' ') "
    while read -r n kind flags pos ino link; do
        [[ $closed == *" $n "* ]] && continue
        check_fd_restored "$n" "$kind" "$flags" "$pos" "$ino" "$link"
    done < <(capture_fds)
    for ino in "${!PIPE_OF[@]}"; do
        [ "$(tr ' ' '\n' <<<"${PIPE_OF[$ino]}" | sort -u | grep -c .)" = 1 ] ||
            FD_BAD+=("the ends of the victim's pipe $ino are now different pipes:${PIPE_OF[$ino]}")
    done
    for n in /proc/"$VPID"/fd/*; do
        grep -q "^fd ${n##*/} " "$CORE.necro/capture.txt" || extra="$extra ${n##*/} ($(readlink "$n"))"
    done
    [ -z "$extra" ] || FD_BAD+=("fds the victim did not have:$extra")
    if [ "${#FD_BAD[@]}" -eq 0 ] && [ "${#FD_SEEN[@]}" -gt 0 ]; then
        pass "the victim's fds are back as captured (file paths, pos, flags; pipes paired$([ "${#FD_SETTINGS[@]}" -eq 0 ] || echo "; settings of ${FD_SETTINGS[*]}")): $(printf '%s, ' "${FD_SEEN[@]}" | sed 's/, $//')"
    else
        fail "the restored fds differ from the capture: $(printf '%s; ' "${FD_BAD[@]}")"
    fi
}

# check_shared_descriptions: fds the capture says were one open file
# description (shares=M: dup, `>log 2>&1`) are one again in the restored VPID
# (kcmp KCMP_FILE, through python3's ctypes), unless --explain closed one.
check_shared_descriptions() {
    local closed pairs out
    closed=" $(sed -n 's/^  closed fd \([0-9]*\):.*/\1/p' "$WORK/explain.log" | paste -sd' ') "
    pairs=$(awk -v closed="$closed" '$1 == "fd" { for (i = 3; i <= NF; i++) if (index($i, "shares=") == 1) {
                m = substr($i, 8); if (index(closed, " " $2 " ") == 0 && index(closed, " " m " ") == 0) print $2, m } }' \
        "$CORE.necro/capture.txt")
    [ -n "$pairs" ] || { log "no two fds of the victim shared an open file description"; return 0; }
    command -v python3 >/dev/null || { log "python3 not found: shared open file descriptions not checked"; return 0; }
    # shellcheck disable=SC2086 # the pairs are words
    out=$(python3 - "$VPID" $pairs <<'PY'
import ctypes, platform, sys
nr = {"x86_64": 312, "aarch64": 272}[platform.machine()]  # kcmp
libc = ctypes.CDLL(None, use_errno=True)
pid, a = int(sys.argv[1]), sys.argv[2:]
for n, m in zip(a[0::2], a[1::2]):
    r = libc.syscall(nr, pid, pid, 0, int(n), int(m))  # KCMP_FILE
    print(f"fd {n} = fd {m}" if r == 0 else f"DIFFERENT fd {n} and fd {m} (kcmp {r}, errno {ctypes.get_errno()})")
PY
)
    grep -q DIFFERENT <<<"$out" && fail "fds that were one open file description are not: $(paste -sd';' <<<"$out")" ||
        pass "fds that were one open file description are one again (kcmp): $(paste -sd';' <<<"$out")"
}

# limits_rows FILE: "NAME SOFT HARD" per row of a /proc/PID/limits, unlimited
# as RLIM_INFINITY (the name is the first 25 columns).
limits_rows() {
    awk 'NR > 1 { name = substr($0, 1, 25); sub(/ +$/, "", name); gsub(/ /, "_", name); split(substr($0, 27), f, " ")
                  for (i = 1; i <= 2; i++) if (f[i] == "unlimited") f[i] = "18446744073709551615"
                  print name, f[1], f[2] }' "$1"
}
# capture_limits: the same rows from the capture's rlimit lines.
capture_limits() {
    awk '$1 == "rlimit" { delete v; for (i = 2; i <= NF; i++) { j = index($i, "="); v[substr($i, 1, j - 1)] = substr($i, j + 1) }
                          gsub(/%20/, "_", v["name"]); print v["name"], v["cur"], v["max"] }' "$CORE.necro/capture.txt"
}

# creds_of_capture: "KEY VALUE" per word of the capture's creds line
# (uid=R,E,S,FS ... cap_bnd=0x..), capabilities in decimal.
creds_of_capture() {
    local w
    for w in $(awk '$1 == "creds" { $1 = ""; print }' "$CORE.necro/capture.txt"); do
        case $w in
            cap_*) echo "${w%%=*} $((${w#*=}))" ;;
            *) echo "${w%%=*} ${w#*=}" ;;
        esac
    done
}
# creds_of_status PID: the same words from /proc/PID/status.
creds_of_status() {
    local k rest
    while read -r k rest; do
        case $k in
            Uid: | Gid:) echo "$(tr UG ug <<<"${k%:}") $(tr -s ' \t' ',' <<<"$rest")" ;;
            Groups:) rest=$(tr -s ' \t' ',' <<<"$rest"); rest=${rest%,}; echo "groups ${rest:--}" ;;
            CapInh: | CapPrm: | CapEff: | CapBnd: | CapAmb:) echo "cap_$(tr A-Z a-z <<<"${k:3:3}") $((16#$rest))" ;;
            NoNewPrivs:) echo "no_new_privs $rest" ;;
        esac
    done <"/proc/$1/status"
}

# check_creds_restored: uids, gids, groups, capabilities of the restored
# VPID are the captured ones.
check_creds_restored() {
    local diffs
    diffs=$(diff <(creds_of_capture | sort) <(creds_of_status "$VPID" | sort) || true)
    [ -z "$diffs" ] && [ "$(creds_of_capture | wc -l)" -ge 8 ] &&
        pass "creds are the victim's: $(grep -E '^(uid|gid|groups) ' <(creds_of_capture) | paste -sd' '), CapBnd $(sed -n 's/^CapBnd:\s*//p' "/proc/$VPID/status")" ||
        fail "the restored creds differ from the capture (< capture, > live): $(paste -sd';' <<<"$diffs")"
}

# check_capture_restored: the stopped restored VPID against the capture: fds,
# cwd (the victim's, $WORK), root, umask, ignored signals, creds, every rlimit.
check_capture_restored() {
    check_fds_restored
    check_shared_descriptions
    check_creds_restored
    local cwd root want got diffs
    cwd=$(readlink "/proc/$VPID/cwd" || true)
    want=$(unescape "$(capture_line cwd)")
    [ "$cwd" = "$WORK" ] && [ "$cwd" = "$want" ] && pass "cwd is the victim's: $cwd" ||
        fail "cwd is '$cwd'; the victim's was '$want' (launched in $WORK)"
    root=$(readlink "/proc/$VPID/root" || true)
    want=$(unescape "$(capture_line root)")
    [ "$root" = "$want" ] && pass "root is the victim's: $root" || fail "root is '$root', the victim's was '$want'"
    got=$(sed -n 's/^Umask:\s*//p' "/proc/$VPID/status")
    want=$(capture_line umask)
    [ "$(octal "$got")" = "$(octal "$want")" ] && pass "umask is the victim's: $got" || fail "umask is $got, the victim's was $want"
    got=$(sed -n 's/^SigIgn:\s*//p' "/proc/$VPID/status")
    want=$(capture_value signals ignored)
    [ "$((16#$got))" = "$((want))" ] && pass "ignored signals are the victim's: SigIgn $got" ||
        fail "SigIgn is $got, the victim ignored $want"
    diffs=$(diff <(capture_limits | sort) <(limits_rows "/proc/$VPID/limits" | sort) || true)
    [ -z "$diffs" ] && [ "$(capture_limits | wc -l)" -ge 16 ] &&
        pass "/proc/$VPID/limits equals the captured rlimits, all $(capture_limits | wc -l) rows ($(capture_limits | grep '^Max_open_files ' | tr _ ' '))" ||
        fail "/proc/$VPID/limits differs from the captured rlimits (< capture, > live): $(paste -sd';' <<<"$diffs")"
}

start_victim
[ "$MODE" != catch-manymaps ] || check_no_nt_file
resurrect_from_capture
[ "$MODE" != catch-manymaps ] || check_rebuilt_without_donor
[ "$BIN_BASE" != catchme ] || check_catchme_dead
check_stopped_restore "$IMG"
check_capture_restored
[ "$MODE" != catch-counter ] || check_fifo_stdin_closed
if [ "$BIN_BASE" = catchme ]; then
    restore_running "$IMG"
    check_catchme_on
else
    then_crash_or_run "$IMG"
fi
exit 0
