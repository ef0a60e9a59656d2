#!/usr/bin/env bash
# make-large-core.sh - a real core of a large process, and the donor images
# criu-necromancer needs to patch it, for the benchmarks.
#
#   sudo NECRO_CRIU=/path/to/criu bench/make-large-core.sh [options] SIZE_GIB
#
# Runs bench/victim/filler (built with the benchmarks) filling SIZE_GIB GiB with
# data, plus ZERO_MIB MiB of zero pages (half written, half never touched) and a
# private mapping of a FILE_MIB MiB file; kills it with SIGQUIT for a core; then
# dumps a small run of the same program with CRIU as the donor. Writes:
#
#   DIR/core       the victim's core (about SIZE_GIB GiB + FILE_MIB + ZERO_MIB/2)
#   DIR/donor/     the donor's `criu dump` images
#   DIR/data       the file both processes map (keep it: the patch compares with it)
#   DIR/info.txt   what was made
#
# DIR is $NECRO_BENCH_DIR/core-<SIZE_GIB>g (NECRO_BENCH_DIR defaults to
# /tmp/necro-bench), or -o DIR. Options:
#   -o DIR             where to write
#   --filler PATH      the victim program (default: the Release build's bench/filler)
#   --zero-mib N       zero pages, MiB (default 256)
#   --file-mib N       mapped file, MiB (default 256)
#
# Needs root: the core goes where /proc/sys/kernel/core_pattern says, which is
# machine-wide. It is changed under flock /tmp/necro-e2e.lock (the e2e tests
# change it too) and put back on exit. Delete DIR when done: it is large.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out='' filler='' zero_mib=256 file_mib=256 size=''
while [ $# -gt 0 ]; do
    case $1 in
        -o) out=$2; shift 2 ;;
        --filler) filler=$2; shift 2 ;;
        --zero-mib) zero_mib=$2; shift 2 ;;
        --file-mib) file_mib=$2; shift 2 ;;
        -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "make-large-core.sh: unknown option $1" >&2; exit 2 ;;
        *) size=$1; shift ;;
    esac
done
[[ $size =~ ^[0-9]+$ && $size -gt 0 ]] || { echo "usage: make-large-core.sh [options] SIZE_GIB (see --help)" >&2; exit 2; }
filler=${filler:-$here/../build-release/bench/filler}
out=${out:-${NECRO_BENCH_DIR:-/tmp/necro-bench}/core-${size}g}

die() { echo "make-large-core.sh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (core_pattern, criu dump)"
[ -n "${NECRO_CRIU:-}" ] && [ -x "$NECRO_CRIU" ] || die "set NECRO_CRIU to a CRIU >= 4.1 binary"
[ -x "$filler" ] || die "no victim program at $filler (build the benchmarks, or give --filler)"
filler=$(realpath "$filler")
mkdir -p "$out"
out=$(realpath "$out")
need_kib=$(( (size * 1024 + zero_mib + 2 * file_mib + 512) * 1024 ))
avail_kib=$(df --output=avail -k "$out" | tail -n 1)
[ "$avail_kib" -gt "$need_kib" ] || die "$out: $((avail_kib / 1024)) MiB free, need about $((need_kib / 1024)) MiB"
rm -rf "$out/core" "$out/donor" "$out"/core.* "$out"/ready.*

# The mapped file: random bytes, so its pages are neither zero nor alike.
if [ ! -f "$out/data" ] || [ "$(stat -c %s "$out/data")" -ne $((file_mib << 20)) ]; then
    head -c $((file_mib << 20)) /dev/urandom >"$out/data"
fi

old_pattern=''
victim='' donor=''
cleanup() {
    set +e
    [ -n "$old_pattern" ] && printf '%s\n' "$old_pattern" >/proc/sys/kernel/core_pattern
    for p in $victim $donor; do
        [ -e "/proc/$p" ] && [ "$(readlink "/proc/$p/exe")" = "$filler" ] && kill -KILL "$p"
    done
}
trap cleanup EXIT

# launch ARGS...: filler in its own session, stdio on /dev/null, no inherited
# fds (the lock's included), cores on and complete. Prints its pid.
launch() {
    (
        cd "$out"
        ulimit -c unlimited
        echo 0xff >/proc/self/coredump_filter
        exec {LOCK}>&- 2>/dev/null || true
        exec setsid "$filler" "$@" </dev/null >/dev/null 2>&1
    ) &
    echo $!
}
wait_file() { # FILE SECONDS
    local i
    for ((i = 0; i < $2 * 10; i++)); do [ -e "$1" ] && return 0; sleep 0.1; done
    return 1
}
wait_gone() { # PID SECONDS
    local i
    for ((i = 0; i < $2 * 10; i++)); do [ -e "/proc/$1" ] || return 0; sleep 0.1; done
    return 1
}

exec {LOCK}>/tmp/necro-e2e.lock
flock -w 600 "$LOCK" || die "cannot take /tmp/necro-e2e.lock"
old_pattern=$(cat /proc/sys/kernel/core_pattern)
printf '%s\n' "$out/core.%p" >/proc/sys/kernel/core_pattern

echo "victim: filling $size GiB (+ $zero_mib MiB zero pages, $file_mib MiB mapped file)"
t0=$(date +%s.%N)
victim=$(launch $((size * 1024)) "$zero_mib" "$out/data" "$out/ready.victim")
wait_file "$out/ready.victim" $((60 + 30 * size)) || die "victim pid $victim never got ready"
kill -QUIT "$victim"
wait "$victim" 2>/dev/null || true
wait_gone "$victim" $((60 + 30 * size)) || die "victim pid $victim did not die"
[ -s "$out/core.$victim" ] || die "no core $out/core.$victim (core_pattern piped elsewhere? ulimit?)"
mv "$out/core.$victim" "$out/core"
printf '%s\n' "$old_pattern" >/proc/sys/kernel/core_pattern
old_pattern=''
flock -u "$LOCK"
exec {LOCK}>&-
t1=$(date +%s.%N)
echo "core: $out/core, $(du -h --apparent-size "$out/core" | cut -f1) ($(du -h "$out/core" | cut -f1) on disk), $(echo "$t1 - $t0" | bc) s"

# The donor: the same program, small, dumped by CRIU (its own pages are not used).
donor=$(launch 1 1 "$out/data" "$out/ready.donor")
wait_file "$out/ready.donor" 60 || die "donor pid $donor never got ready"
mkdir -p "$out/donor"
"$NECRO_CRIU" dump -t "$donor" -D "$out/donor" -o dump.log || die "criu dump of donor pid $donor failed (see $out/donor/dump.log)"
wait "$donor" 2>/dev/null || true
wait_gone "$donor" 60 || die "donor pid $donor still exists after the dump"
rm -f "$out"/ready.*
{
    echo "size_gib=$size"
    echo "zero_mib=$zero_mib"
    echo "file_mib=$file_mib"
    echo "core_bytes=$(stat -c %s "$out/core")"
    echo "core_disk_bytes=$(( $(stat -c %b "$out/core") * $(stat -c %B "$out/core") ))"
    echo "victim_pid=$victim"
    echo "donor_pid=$donor"
    echo "filler=$filler"
} >"$out/info.txt"
echo "donor: $out/donor (pid $donor)"
echo "made $out: core, donor/, data, info.txt"
