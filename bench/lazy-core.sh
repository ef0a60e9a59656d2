#!/usr/bin/env bash
# lazy-core.sh - time to a running process when its memory is served straight
# from the core (criu-necromancer --restore --lazy --lazy-source=core: necro's
# lazy-pages daemon copies it in; with --lazy-daemon=criu necro's page server
# answers `criu lazy-pages --page-server`), beside today's lazy restore from a
# copied image set (--lazy-source=images) and beside `cp`, on one file
# system, in one run.
#
#   sudo NECRO_CRIU=/path/to/criu bench/lazy-core.sh [--necro PATH] [--runs N] [--fs ext4|tmpfs]
#        [--paths "core core-criu images gdb"] [SIZE_GIB]   (default 4, all four paths)
#
# Makes the file system (ext4 in a sparse loop file under $NECRO_BENCH_DIR,
# default /tmp/necro-bench, or a tmpfs), writes the core there with
# bench/make-large-core.sh, and measures, each from a cold page cache
# (drop_caches; on tmpfs the core is in memory anyway):
#   core    --restore --lazy --lazy-source=core: command returns (running),
#           the process answers SIGUSR1 (sums a page of its data, served on
#           that touch), all memory in (the daemon exits), the set's disk
#           space, the daemon's peak RSS (VmHWM)
#   core-criu  the same through criu lazy-pages and necro's page server
#           (--lazy-daemon=criu; the RSS is the page server's)
#   images  the same with --lazy-source=images (pages copied into the set)
#   gdb     --restore --gdb --lazy --lazy-source=core with gdb reading `bt`
#           from its stdin: the time until gdb has printed the backtrace of
#           the restored process and exited
#   cp      cp CORE COPY && sync
#   cat     cat CORE > /dev/null
# Everything is unmounted and deleted at the end. On a virtual disk the first
# run after the core is written may read it at a third of the speed of the
# later ones (the disk is still taking the new core in; untimed reads of the
# core before it do not wait that out): take the medians of 3 runs or more.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
necro=$here/../build-release/examples/resurrect/criu-necromancer
runs=3 size=4 fs_type=ext4 paths="core core-criu images gdb"
while [ $# -gt 0 ]; do
    case $1 in
        --necro) necro=$2; shift 2 ;;
        --fs) fs_type=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        --paths) paths=$2; shift 2 ;;
        -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "lazy-core.sh: unknown option $1" >&2; exit 2 ;;
        *) size=$1; shift ;;
    esac
done
BENCH=lazy-core.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
bench_begin
[ -n "${NECRO_CRIU:-}" ] || die "set NECRO_CRIU to a CRIU >= 4.1"
case $fs_type in
    ext4) bench_mount ext4 mkfs.ext4 -q -F ;;
    tmpfs) bench_mount tmpfs ;;
    *) die "--fs takes ext4 or tmpfs" ;;
esac
echo "== $fs_type at $mnt"
bench_core
answer=$mnt/core/ready.victim.answer
echo "== core $(human "$(stat -c %s "$core")"), $runs runs"

# gdb_run: one --restore --gdb --lazy --lazy-source=core, gdb printing the
# backtrace; appends "seconds" to $mnt/gdb.times.
gdb_run() {
    local t0 t1
    rm -rf "$mnt/out"
    cold
    t0=$(now)
    printf 'bt\nkill\nquit\n' | "$necro" -c "$core" -i "$donor" -o "$mnt/out" --restore --gdb --lazy --lazy-source=core \
        --criu "$NECRO_CRIU" >"$mnt/gdb.log" 2>&1 || true
    t1=$(now)
    restored=$(sed -n 's/^restored pid \([0-9]*\) .*/\1/p' "$mnt/gdb.log")
    grep -qE '^(\(gdb\) )?#[0-9]' "$mnt/gdb.log" || { cat "$mnt/gdb.log" >&2; die "gdb printed no backtrace"; }
    ! grep -q 'Cannot access memory' "$mnt/gdb.log" || { cat "$mnt/gdb.log" >&2; die "gdb could not read the stack"; }
    echo "$(secs "$t0" "$t1")" >>"$mnt/gdb.times"
    printf '  gdb       restored, attached, backtrace printed (%d frames) and gone: %.3f s\n' \
        "$(grep -cE '^(\(gdb\) )?#[0-9]' "$mnt/gdb.log")" "$(secs "$t0" "$t1")"
    [ -z "$restored" ] || while [ -e "/proc/$restored" ]; do kill -KILL "$restored" 2>/dev/null || true; sleep 0.01; done
    rm -rf "$mnt/out"
}

# lazy_run PATH: one --restore --lazy (PATH: core, core-criu or images);
# appends "running answering all_in space_kib server_hwm_kib" to $mnt/PATH.times.
lazy_run() {
    local path=$1 t0 t1 t2 t3 got hwm=0 h space watch args
    case $path in
        core) args=(--lazy-source=core) ;;
        core-criu) args=(--lazy-source=core --lazy-daemon=criu) ;;
        images) args=(--lazy-source=images) ;;
        *) die "no path $path" ;;
    esac
    rm -rf "$mnt/out" "$answer"
    cold
    t0=$(now)
    "$necro" -c "$core" -i "$donor" -o "$mnt/out" --restore --lazy "${args[@]}" --criu "$NECRO_CRIU" \
        >"$mnt/lazy.log" 2>&1 || { cat "$mnt/lazy.log" >&2; die "--lazy ${args[*]} failed"; }
    t1=$(now)
    restored=$(sed -n 's/^restored pid \([0-9]*\) .*/\1/p' "$mnt/lazy.log")
    daemon=$(sed -n -e 's/^memory loads on first touch: criu lazy-pages pid \([0-9]*\) .*/\1/p' \
        -e 's/^memory is served from the core .*: necro lazy-pages daemon pid \([0-9]*\) .*/\1/p' "$mnt/lazy.log")
    server=$(sed -n 's/^memory is served from the core .*: necro page server pid \([0-9]*\) .*/\1/p' "$mnt/lazy.log")
    watch=${server:-}
    [ "$path" != core ] || watch=$daemon
    kill -USR1 "$restored"
    until [ -s "$answer" ]; do
        [ -e "/proc/$restored" ] || { tail -n 5 "$mnt/out/restore.log" >&2; die "the restored pid $restored died before answering"; }
        (( $(now) - t0 < 60000000000 )) || die "the restored pid $restored did not answer in 60 s"
        sleep 0.001
    done
    t2=$(now)
    got=$(cat "$answer")
    [ "$got" != "answer 0000000000000000" ] || die "the restored process answered from zeros"
    # All in: the daemon and the server have exited (a zombie counts as
    # gone: its parent may be slow to reap it).
    while { alive "$daemon" || alive "$server"; } && (( $(now) - t0 < 300000000000 )); do
        if [ -n "$watch" ]; then
            h=$(awk '/^VmHWM/ { print $2 }' "/proc/$watch/status" 2>/dev/null || echo 0)
            [ "${h:-0}" -le "$hwm" ] || hwm=$h
        fi
        sleep 0.01
    done
    t3=$(now)
    space=$(du -sk "$mnt/out" | awk '{ print $1 }')
    kill -KILL "$restored"
    while [ -e "/proc/$restored" ]; do sleep 0.01; done
    echo "$(secs "$t0" "$t1") $(secs "$t0" "$t2") $(secs "$t0" "$t3") $space $hwm" >>"$mnt/$path.times"
    printf '  %-9s running %.3f s, answered (%s) %.3f s, all memory in %.3f s, set %d KiB, server peak RSS %d KiB\n' \
        "$path" "$(secs "$t0" "$t1")" "$got" "$(secs "$t0" "$t2")" "$(secs "$t0" "$t3")" "$space" "$hwm"
    [ -z "$server" ] || tail -n 1 "$mnt/out/page-server.log" | sed 's/^/            page server: /'
    [ "$path" != core ] || tail -n 1 "$mnt/out/necro-lazy.log" | sed 's/^/            daemon: /'
    rm -rf "$mnt/out"
}

for p in $paths cp cat; do : >"$mnt/$p.times"; done
for ((r = 1; r <= runs; r++)); do
    echo "-- run $r"
    for p in $paths; do if [ "$p" = gdb ]; then gdb_run; else lazy_run "$p"; fi; done
    rm -f "$mnt/copy"; cold; t0=$(now); cp "$core" "$mnt/copy" && sync "$mnt/copy"; t1=$(now); rm -f "$mnt/copy"
    echo "$(secs "$t0" "$t1")" >>"$mnt/cp.times"
    cold; t0=$(now); cat "$core" >/dev/null; t1=$(now)
    echo "$(secs "$t0" "$t1")" >>"$mnt/cat.times"
    printf '  cp + sync %.3f s, cat > /dev/null (cold) %.3f s\n' "$(tail -n 1 "$mnt/cp.times")" "$(tail -n 1 "$mnt/cat.times")"
done
col() { awk -v c="$2" '{ print $c }' "$mnt/$1.times" | median; }
echo
echo "| core | fs | path | running | answering | all memory in | set on disk | server peak RSS |"
echo "|---|---|---|---|---|---|---|---|"
for p in $paths; do
    [ "$p" != gdb ] || continue
    printf '| %s | %s | %s | %.3f s | %.3f s | %.3f s | %d KiB | %s |\n' "$(human "$(stat -c %s "$core")")" "$fs_type" "$p" \
        "$(col "$p" 1)" "$(col "$p" 2)" "$(col "$p" 3)" "$(col "$p" 4)" \
        "$([ "$p" != images ] && printf '%d KiB' "$(col "$p" 5)" || echo -)"
done
printf '| | | cp + sync | | | %.3f s | | |\n| | | cat (cold) | | | %.3f s | | |\n' "$(col cp 1)" "$(col cat 1)"
case " $paths " in *" gdb "*) printf '\n--restore --gdb --lazy, backtrace printed: %.3f s (median)\n' "$(col gdb 1)" ;; esac
