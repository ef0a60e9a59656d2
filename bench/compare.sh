#!/usr/bin/env bash
# compare.sh - criu-necromancer side by side with `cp` on the same core, in
# one run: wall time and its ratio, peak RSS (/usr/bin/time -v) and output
# size against core size.
#
#   bench/compare.sh [--necro PATH] [--runs N] [SIZE_GIB ...]     (default: 1 4)
#
# For each SIZE_GIB it uses $NECRO_BENCH_DIR/core-<SIZE_GIB>g (core, donor/,
# data), made by bench/make-large-core.sh when missing (root and NECRO_CRIU
# needed then; the core is deleted again at the end unless it was there
# before or --keep is given). NECRO_BENCH_CORE (+ NECRO_BENCH_DONOR) compares
# one given core instead.
#
# Each run times, in turn and on the same core:
#   cp           cp CORE COPY                                 (the page cache takes it)
#   necro        criu-necromancer -c CORE -i DONOR -o OUT -q --no-sync
#   cp+sync      cp CORE COPY && sync COPY                    (on disk when it returns)
#   necro-sync   criu-necromancer -c CORE -i DONOR -o OUT -q  (the default: fsyncs)
# with the outputs removed and `sync` run before each command, so that no
# command pays for the previous one's writeback. The core is read once first,
# so every command starts with it in the page cache. Ratios are the medians of
# the per-run ratios (necro / cp, necro-sync / cp+sync). CPU time (user + sys)
# is printed too: on a busy machine it moves less than wall time.
#
# Options: --necro PATH (default: the Release build's criu-necromancer),
# --runs N (default 5), --keep (keep cores this script made).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
necro=$here/../build-release/examples/resurrect/criu-necromancer
runs=5 keep=0 sizes=()
while [ $# -gt 0 ]; do
    case $1 in
        --necro) necro=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        --keep) keep=1; shift ;;
        -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
        *) sizes+=("$1"); shift ;;
    esac
done
[ ${#sizes[@]} -gt 0 ] || sizes=(1 4)
[ -x "$necro" ] || { echo "compare.sh: no criu-necromancer at $necro (build Release, or --necro PATH)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "compare.sh: needs GNU time at /usr/bin/time (apt-get install time)" >&2; exit 1; }
bench_dir=${NECRO_BENCH_DIR:-/tmp/necro-bench}
mkdir -p "$bench_dir"
work=$(mktemp -d "$bench_dir/compare.XXXXXX")
made=()
cleanup() {
    rm -rf "$work"
    if [ "$keep" = 0 ]; then for d in "${made[@]}"; do rm -rf "$d"; done; fi
}
trap cleanup EXIT

# timed NAME CMD...: runs CMD under /usr/bin/time -v; appends "NAME wall_s rss_kib cpu_s" to $work/times.
timed() {
    local name=$1
    shift
    /usr/bin/time -v -o "$work/time.txt" "$@" >/dev/null 2>"$work/stderr.txt" ||
        { echo "compare.sh: $name failed:" >&2; cat "$work/stderr.txt" "$work/time.txt" >&2; exit 1; }
    local wall rss cpu
    wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/time.txt" |
        awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }')
    rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time.txt")
    cpu=$(awk -F': ' '/User time \(seconds\)|System time \(seconds\)/ { s += $2 } END { print s }' "$work/time.txt")
    echo "$name $wall $rss $cpu" >>"$work/times"
}
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { awk -v n="$1" -v c="$2" '$1 == n { print $c }' "$work/times"; }
# ratios A B: per-run A/B, median.
ratios() { paste <(col "$1" 2) <(col "$2" 2) | awk '{ print $1 / $2 }' | median; }
human() { numfmt --to=iec-i --suffix=B --format=%.2f "$1"; }

inputs=()
if [ -n "${NECRO_BENCH_CORE:-}" ]; then
    inputs=("$NECRO_BENCH_CORE|${NECRO_BENCH_DONOR:-$(dirname "$NECRO_BENCH_CORE")/donor}")
else
    for s in "${sizes[@]}"; do
        d=$bench_dir/core-${s}g
        if [ ! -f "$d/core" ] || [ ! -d "$d/donor" ]; then
            bash "$here/make-large-core.sh" --filler "$(dirname "$necro")/../../bench/filler" -o "$d" "$s"
            made+=("$d")
        fi
        inputs+=("$d/core|$d/donor")
    done
fi

table=()
for in in "${inputs[@]}"; do
    core=${in%%|*} donor=${in#*|}
    : >"$work/times"
    echo "== $core ($(human "$(stat -c %s "$core")"), donor $donor), $runs runs"
    cat "$core" >/dev/null
    # One verbose run for what was written and elided.
    "$necro" -c "$core" -i "$donor" -o "$work/out" --no-sync | sed -n 's/^  \(.*elided.*\)/  necro: \1/p; s/^  \(.*pages written.*\)/  necro: \1/p'
    out_pages=$(stat -c %s "$work"/out/pages-*.img)
    out_total=$(du -sb "$work/out" | cut -f1)
    out_disk=$(du -sB1 "$work/out" | cut -f1)
    rm -rf "$work/out"
    for ((r = 1; r <= runs; r++)); do
        rm -rf "$work/out" "$work/copy"; sync; timed cp cp "$core" "$work/copy"
        rm -rf "$work/out" "$work/copy"; sync; timed necro "$necro" -c "$core" -i "$donor" -o "$work/out" -q --no-sync
        rm -rf "$work/out" "$work/copy"; sync; timed cp+sync sh -c 'cp "$1" "$2" && sync "$2"' sh "$core" "$work/copy"
        rm -rf "$work/out" "$work/copy"; sync; timed necro-sync "$necro" -c "$core" -i "$donor" -o "$work/out" -q
        printf '  run %d: cp %ss  necro %ss  cp+sync %ss  necro-sync %ss\n' "$r" \
            "$(col cp 2 | tail -n1)" "$(col necro 2 | tail -n1)" "$(col cp+sync 2 | tail -n1)" "$(col necro-sync 2 | tail -n1)"
    done
    rm -rf "$work/out" "$work/copy"
    core_size=$(stat -c %s "$core")
    core_disk=$(( $(stat -c %b "$core") * $(stat -c %B "$core") ))
    r1=$(ratios necro cp) r2=$(ratios necro-sync cp+sync)
    printf '  median wall: cp %ss, necro %ss (ratio %.2f); cp+sync %ss, necro-sync %ss (ratio %.2f)\n' \
        "$(col cp 2 | median)" "$(col necro 2 | median)" "$r1" "$(col cp+sync 2 | median)" "$(col necro-sync 2 | median)" "$r2"
    printf '  median CPU (user + sys): cp %ss, necro %ss; cp+sync %ss, necro-sync %ss\n' \
        "$(col cp 4 | median)" "$(col necro 4 | median)" "$(col cp+sync 4 | median)" "$(col necro-sync 4 | median)"
    printf '  peak RSS: necro %s MiB, necro-sync %s MiB, cp %s MiB\n' "$(( $(col necro 3 | sort -n | tail -n1) / 1024 ))" \
        "$(( $(col necro-sync 3 | sort -n | tail -n1) / 1024 ))" "$(( $(col cp 3 | sort -n | tail -n1) / 1024 ))"
    printf '  output: pages image %s, whole set %s (%s on disk) for a core of %s (%s on disk): %.2f of the core\n' \
        "$(human "$out_pages")" "$(human "$out_total")" "$(human "$out_disk")" "$(human "$core_size")" "$(human "$core_disk")" \
        "$(echo "$out_total / $core_size" | bc -l)"
    table+=("$(printf '| %s | %s | %ss | %ss | **%.2f** | %ss | %ss | **%.2f** | %s MiB | %.2f |' \
        "$(basename "$(dirname "$core")")" "$(human "$core_size")" "$(col cp 2 | median)" "$(col necro 2 | median)" "$r1" \
        "$(col cp+sync 2 | median)" "$(col necro-sync 2 | median)" "$r2" \
        "$(( $(cat <(col necro 3) <(col necro-sync 3) | sort -n | tail -n1) / 1024 ))" "$(echo "$out_total / $core_size" | bc -l)")")
done

echo
echo "| core | size | cp | necro --no-sync | ratio | cp + sync | necro (fsync) | ratio | peak RSS | output / core |"
echo "|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${table[@]}"
