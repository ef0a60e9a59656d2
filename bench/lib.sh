# lib.sh - what bench/lazy-core.sh and bench/reflink.sh share, sourced after
# their option parsing (which sets necro, size, and BENCH, the script's name):
#   bench_begin          root checked, necro and the filler beside it resolved
#   bench_mount FS [MKFS...]  a fresh file system for the core at $mnt: a
#                        loop file under $NECRO_BENCH_DIR (default
#                        /tmp/necro-bench) made with MKFS, or with FS tmpfs a
#                        tmpfs; room for 2 x size + 4 GiB (the core, its donor,
#                        a copy). Unmounted and deleted on exit, after the
#                        restored filler, the lazy-pages daemon and the page
#                        server (pids in restored, daemon, server) are killed.
#   bench_core           bench/make-large-core.sh writes a core of `size` GiB
#                        there: sets core, donor
#   human BYTES, now, secs T0 T1, median (stdin), cold, alive PID
# shellcheck shell=bash disable=SC2154 # necro, size and BENCH come from the script

die() { echo "$BENCH: $*" >&2; exit 1; }

bench_begin() {
    [ "$(id -u)" -eq 0 ] || die "needs root (mkfs, mount, drop_caches, core_pattern)"
    [ -x "$necro" ] || die "no criu-necromancer at $necro (build Release, or --necro PATH)"
    necro=$(realpath "$necro")
    filler=$(realpath "$(dirname "$necro")/../../bench/filler")
    bench_dir=${NECRO_BENCH_DIR:-/tmp/necro-bench}
    mkdir -p "$bench_dir"
    img='' mnt='' mounted=0 restored='' daemon='' server=''
    trap bench_cleanup EXIT
}

bench_cleanup() {
    [ -z "$restored" ] || [ "$(readlink "/proc/$restored/exe" 2>/dev/null)" != "$filler" ] || kill -KILL "$restored"
    [ -z "$daemon" ] || ! grep -q -e lazy-pages -e criu-necromancer "/proc/$daemon/cmdline" 2>/dev/null || kill -KILL "$daemon"
    [ -z "$server" ] || [ "$(readlink "/proc/$server/exe" 2>/dev/null)" != "$necro" ] || kill -KILL "$server"
    sleep 0.2
    [ "$mounted" = 0 ] || umount "$mnt" || umount -l "$mnt"
    [ -z "$mnt" ] || mountpoint -q "$mnt" || rm -rf "$mnt" ${img:+"$img"}
}

bench_mount() {
    local fs=$1
    shift
    mnt=$(mktemp -d "$bench_dir/$fs.XXXXXX")
    if [ "$fs" = tmpfs ]; then
        mount -t tmpfs -o "size=$((2 * size + 4))G" tmpfs "$mnt"
    else
        img=$(mktemp "$bench_dir/$fs.XXXXXX.img")
        truncate -s "$((2 * size + 4))G" "$img"
        "$@" "$img"
        mount -o loop "$img" "$mnt"
    fi
    mounted=1
}

bench_core() {
    bash "$(dirname "${BASH_SOURCE[0]}")/make-large-core.sh" --filler "$filler" -o "$mnt/core" "$size" >/dev/null
    core=$mnt/core/core donor=$mnt/core/donor
}

human() { numfmt --to=iec-i --suffix=B --format=%.2f "$1"; }
now() { date +%s%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", (b - a) / 1e9 }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# Twice: the loop file system's writeback lands in its backing file's cache.
cold() { sync; sync; echo 3 >/proc/sys/vm/drop_caches; }
# alive PID: it runs (not a zombie); false for an empty PID.
alive() { [ -n "$1" ] && [ -e "/proc/$1" ] && [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
