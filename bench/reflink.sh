#!/usr/bin/env bash
# reflink.sh - criu-necromancer on a file system that shares extents (XFS with
# reflink=1), side by side with `cp --reflink=always` of the same core: wall
# time (fsync included), disk space used, and their ratio.
#
#   sudo NECRO_CRIU=/path/to/criu bench/reflink.sh [--necro PATH] [--runs N] [--fs xfs|ext4] [SIZE_GIB]   (default 4)
#
# --fs ext4 does the same on ext4, which shares no extents: there the patch
# copies (and elides) the pages, `cp` stands in for `cp --reflink`, and the
# time to a running process is the patch's copy plus a lazy restore.
#
# Needs root: it makes an XFS file system (mkfs.xfs -m reflink=1, package
# xfsprogs) in a sparse loop file under $NECRO_BENCH_DIR (default
# /tmp/necro-bench), mounts it, and writes the core there with
# bench/make-large-core.sh (so the core itself is on XFS). Everything is
# unmounted and deleted at the end.
#
# Each run, in turn, after `sync`:
#   necro   criu-necromancer -c CORE -i DONOR -o OUT -q     (fsyncs the set)
#   cp      cp --reflink=always CORE COPY && sync COPY
#   necro-read criu-necromancer ... --no-reflink            (reads and elides every page, once per run)
# Then the time to a running process: criu-necromancer --restore --lazy
# (patch, lazy-pages daemon, restore through the RPC) until it returns; until
# the process answers (SIGUSR1: it sums a page of its data, which the daemon
# serves on that touch); until the daemon has pushed all memory and exited.
# Times are taken with nanosecond clocks around each command; the space is
# the file system's used blocks before and after (df, after sync).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
necro=$here/../build-release/examples/resurrect/criu-necromancer
runs=5 size=4 fs_type=xfs
while [ $# -gt 0 ]; do
    case $1 in
        --necro) necro=$2; shift 2 ;;
        --fs) fs_type=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "reflink.sh: unknown option $1" >&2; exit 2 ;;
        *) size=$1; shift ;;
    esac
done
BENCH=reflink.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
case $fs_type in
    xfs) command -v mkfs.xfs >/dev/null || die "mkfs.xfs not found (apt-get install xfsprogs)"
         mkfs=(mkfs.xfs -q -m reflink=1) cp_cmd=(cp --reflink=always) ;;
    ext4) mkfs=(mkfs.ext4 -q -F) cp_cmd=(cp) ;;
    *) die "--fs takes xfs or ext4" ;;
esac
bench_begin
# Room for the core (size + 512 MiB of zero and file pages), its donor, and a
# copy of it where extents are not shared (ext4). The loop file is sparse.
bench_mount "$fs_type" "${mkfs[@]}"
echo "== $fs_type on a loop file (${mkfs[*]}), mounted at $mnt"
bench_core
used_kib() { sync; df -k --output=used "$mnt" | tail -n 1; }
echo "== core $(human "$(stat -c %s "$core")") ($(human $(( $(stat -c %b "$core") * 512 ))) on disk), $runs runs"

# One run with the summary: what was cloned.
"$necro" -c "$core" -i "$donor" -o "$mnt/out" | sed -n 's/^  \(cloned.*\)/  necro: \1/p; s/^  \(.*pages written.*\)/  necro: \1/p'
rm -rf "$mnt/out"
: >"$mnt/times"
for ((r = 1; r <= runs; r++)); do
    rm -rf "$mnt/out" "$mnt/copy"
    u0=$(used_kib); t0=$(now)
    "$necro" -c "$core" -i "$donor" -o "$mnt/out" -q
    t1=$(now); u1=$(used_kib)
    rm -rf "$mnt/out"
    u2=$(used_kib); t2=$(now)
    "${cp_cmd[@]}" "$core" "$mnt/copy" && sync "$mnt/copy"
    t3=$(now); u3=$(used_kib)
    rm -rf "$mnt/copy"
    sync; t4=$(now)
    "$necro" -c "$core" -i "$donor" -o "$mnt/out" -q --no-reflink
    t5=$(now)
    rm -rf "$mnt/out"
    necro_s=$(secs "$t0" "$t1") cp_s=$(secs "$t2" "$t3") read_s=$(secs "$t4" "$t5")
    echo "$necro_s $cp_s $((u1 - u0)) $((u3 - u2)) $read_s" >>"$mnt/times"
    printf '  run %d: necro %.3f s (%d KiB used)  %s %.3f s (%d KiB used)  necro --no-reflink %.3f s\n' \
        "$r" "$necro_s" "$((u1 - u0))" "${cp_cmd[*]}" "$cp_s" "$((u3 - u2))" "$read_s"
done
col() { awk -v c="$1" '{ print $c }' "$mnt/times" | median; }
ratio=$(awk '{ print $1 / $2 }' "$mnt/times" | median)
printf '  median: necro %.3f s, %s %.3f s, ratio %.2f; space used: necro %d KiB, cp %d KiB; necro --no-reflink %.3f s\n' \
    "$(col 1)" "${cp_cmd[*]}" "$(col 2)" "$ratio" "$(col 3)" "$(col 4)" "$(col 5)"

# Time to a running process: the patch plus a lazy restore, in one command;
# then to its first answer: SIGUSR1 makes the filler sum its data's last page
# (served on that touch by the lazy-pages daemon) into ready.victim.answer.
: >"$mnt/lazy-times"
answer=$mnt/core/ready.victim.answer
for ((r = 1; r <= runs; r++)); do
    rm -rf "$mnt/out" "$answer"
    sync
    t0=$(now)
    "$necro" -c "$core" -i "$donor" -o "$mnt/out" --restore --lazy --criu "$NECRO_CRIU" >"$mnt/lazy.log" 2>&1 ||
        { cat "$mnt/lazy.log" >&2; die "criu-necromancer --restore --lazy failed"; }
    t1=$(now)
    restored=$(sed -n 's/^restored pid \([0-9]*\) .*/\1/p' "$mnt/lazy.log")
    # CRIU's lazy-pages daemon after a patch, necro's where pages are served from the core (ext4).
    daemon=$(sed -n -e 's/^memory loads on first touch: criu lazy-pages pid \([0-9]*\) .*/\1/p' \
        -e 's/^memory is served from the core .*: necro lazy-pages daemon pid \([0-9]*\) .*/\1/p' "$mnt/lazy.log")
    [ -n "$daemon" ] || { cat "$mnt/lazy.log" >&2; die "no lazy-pages daemon named in the output"; }
    kill -USR1 "$restored"
    until [ -s "$answer" ]; do
        if [ ! -e "/proc/$restored" ]; then
            tail -n 5 "$mnt/out/restore.log" >&2
            grep -E 'Error|error' "$mnt/out/lazy-pages.log" | head -n 5 >&2
            die "the restored pid $restored died before answering"
        fi
        (( $(now) - t0 < 60000000000 )) || die "the restored pid $restored did not answer in 60 s"
        sleep 0.001
    done
    t2=$(now)
    got=$(cat "$answer")
    [ "$got" != "answer 0000000000000000" ] || die "the restored process answered from zeros: its data did not come back"
    if [ -n "${first_answer:-}" ] && [ "$got" != "$first_answer" ]; then die "answers differ: '$got', then '$first_answer'"; fi
    first_answer=$got
    # The daemon pushes the rest in the background: its time to finish.
    while alive "$daemon" && (( $(now) - t0 < 120000000000 )); do sleep 0.01; done
    t3=$(now)
    kill -KILL "$restored"
    while [ -e "/proc/$restored" ]; do sleep 0.01; done
    echo "$(secs "$t0" "$t1") $(secs "$t0" "$t2") $(secs "$t0" "$t3")" >>"$mnt/lazy-times"
    printf '  lazy run %d: running after %.3f s, answered (%s) after %.3f s, all memory in after %.3f s\n' "$r" \
        "$(secs "$t0" "$t1")" "$got" "$(secs "$t0" "$t2")" "$(secs "$t0" "$t3")"
done
lazy_col() { awk -v c="$1" '{ print $c }' "$mnt/lazy-times" | median; }
printf '  median: criu-necromancer --restore --lazy returns after %.3f s; the process answers after %.3f s; all its memory is in after %.3f s\n' \
    "$(lazy_col 1)" "$(lazy_col 2)" "$(lazy_col 3)"

echo
echo "| core | fs | necro (fsync) | ${cp_cmd[*]} + sync | ratio | space used by necro | by cp | necro --no-reflink | --restore --lazy: running | answering | all memory in |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
printf '| %s | %s | %.3f s | %.3f s | %.2f | %d KiB | %d KiB | %.3f s | %.3f s | %.3f s | %.3f s |\n' "$(human "$(stat -c %s "$core")")" "$fs_type" \
    "$(col 1)" "$(col 2)" "$ratio" "$(col 3)" "$(col 4)" "$(col 5)" "$(lazy_col 1)" "$(lazy_col 2)" "$(lazy_col 3)"
