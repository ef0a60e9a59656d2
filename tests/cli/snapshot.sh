#!/usr/bin/env bash
# The image-set snapshot: criu-necromancer run on every fixture in every mode
# (donor, donor patched in place, donor-less, capture, zstd, aarch64,
# --explain, --inspect, refusals), every file it writes and everything it
# prints hashed into one manifest. A restructuring of the library must leave
# the manifest as it is: the test compares it with the committed one.
#
#   snapshot.sh check  NECROMANCER DATA_DIR BUILD_DATA_DIR MANIFEST   (the test)
#   snapshot.sh update NECROMANCER DATA_DIR BUILD_DATA_DIR MANIFEST   (rewrite it)
#   snapshot.sh keep   NECROMANCER DATA_DIR BUILD_DATA_DIR OUT_DIR    (the outputs, to diff by hand)
#
# What a donor-less set takes from this machine is held fixed, so the manifest
# is the same on every machine: each run is in a new pid namespace (no pid of
# a fixture's victim is taken there), with an empty /tmp/necro-fixture (where
# tests/data/make-fixtures.sh ran the victims: no path a capture names exists;
# for a core that names its program only by AT_EXECFN, that program alone),
# as root with no capabilities (CapEff and CapBnd empty; root, so the clone
# may sit in a directory only root reads), with the same rlimits.
# That needs root; as another user the test reports itself skipped (77).
set -euo pipefail
action=$1 tool=$2 data=$3 build_data=$4 target=$5

if [[ $(id -u) -ne 0 ]]; then
  echo "snapshot: needs root (a pid namespace, an empty /tmp/necro-fixture and no capabilities keep the donor-less sets the same on every machine)"
  exit 77
fi
[[ -x $tool ]] || { echo "snapshot: $tool is not an executable" >&2; exit 1; }
tool=$(realpath "$tool") data=$(realpath "$data") build_data=$(realpath "$build_data")
for cmd in unshare setpriv prlimit sha256sum; do
  command -v "$cmd" >/dev/null || { echo "snapshot: $cmd is not installed" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/necro-snapshot.XXXXXX")
trap 'rm -rf "$work"' EXIT
chmod 0755 "$work"
out=$work/out
mkdir -m 1777 "$out"

# Every rlimit set to the same value, at or below the usual hard limits. The
# sizes stay unlimited: a sanitizer build maps terabytes of shadow memory.
limits=(--cpu=unlimited --fsize=unlimited --data=unlimited --stack=8388608 --core=0
        --rss=unlimited --nproc=4096 --nofile=1024 --memlock=65536 --as=unlimited
        --locks=4096 --sigpending=4096 --msgqueue=819200 --nice=0 --rtprio=0 --rttime=unlimited)

# Only lowering is allowed without CAP_SYS_RESOURCE: a hard limit below one
# of these would change the sets, so say so at once.
prlimit "${limits[@]}" true ||
  { echo "snapshot: cannot set the fixed rlimits (a hard limit below them here?): ${limits[*]}" >&2; exit 1; }

# What the fixed environment has at /tmp/necro-fixture: an empty tmpfs or,
# with PLACE=SRC:NAME, one holding the program SRC as NAME, where its core's
# AT_EXECFN says it ran. The directory is made here when it is missing (and
# removed at the end): the tmpfs is mounted only in each run's namespace.
# shellcheck disable=SC2016
place_fixture='f=/tmp/necro-fixture
mount -t tmpfs tmpfs "$f"
if [[ -n ${PLACE:-} ]]; then cp "${PLACE%%:*}" "$f/${PLACE#*:}" && chmod 0755 "$f/${PLACE#*:}"; fi'
made_fixture_dir=
if [[ ! -e /tmp/necro-fixture ]]; then
  mkdir -m 0755 /tmp/necro-fixture
  made_fixture_dir=/tmp/necro-fixture
fi
trap 'rm -rf "$work"; [[ -z $made_fixture_dir ]] || rmdir "$made_fixture_dir"' EXIT

# run CASE ARGS...: criu-necromancer ARGS in the fixed environment, from
# inside $out/CASE (so -o takes a relative path); its stdout, stderr and exit
# status are kept beside what it wrote.
run() {
  local name=$1 place=$place_fixture
  shift
  mkdir -m 1777 "$out/$name"
  local rc=0
  (cd "$out/$name" &&
    unshare --pid --fork --mount --mount-proc --propagation private \
      bash -c "$place"'; exec "$@"' snapshot \
      prlimit "${limits[@]}" -- \
      setpriv --inh-caps=-all --ambient-caps=-all --bounding-set=-all \
      "$tool" "$@" >stdout 2>stderr) || rc=$?
  echo "$rc" >"$out/$name/exit"
  # The fixtures' and the work directory's paths are this machine's.
  sed -i -e "s|$build_data|@BUILD_DATA@|g" -e "s|$data|@DATA@|g" -e "s|$out|@OUT@|g" \
    "$out/$name/stdout" "$out/$name/stderr"
}

x=$data/x86_64
bx=$build_data/x86_64
common=(--offline --no-reflink --no-sync --progress never)

# donor, explain, inspect and donor-less for each x86-64 fixture; the .zst
# ones are given compressed (the zstd path), counter plain.
for f in counter epoll manymaps norandom pool shmem; do
  core=$x/$f.core
  [[ -f $core ]] || core=$x/$f.core.zst
  run "$f-donor" -c "$core" -i "$x/$f.donor" -o images "${common[@]}"
  run "$f-explain" -c "$core" -i "$x/$f.donor" --explain -v --offline
  run "$f-inspect" -c "$core" -i "$x/$f.donor" --inspect --offline
  run "$f-nodonor" -c "$core" -o images --no-capture "${common[@]}"
  run "$f-nodonor-explain" -c "$core" --explain -v --offline --no-capture
done

# The same core decompressed: the same sets as from the .zst (also checked by cli/zstd).
run pool-plain-donor -c "$bx/pool.core" -i "$x/pool.donor" -o images "${common[@]}"

# The donor patched in place: the new set in the donor's directory, the
# originals in DIR.donor.
run_in_place() {
  local name=counter-in-place
  local keep=$work/in-place
  mkdir -m 0777 "$keep"
  cp -r "$x/counter.donor" "$keep/donor"
  run "$name" -c "$x/counter.core" -i "$keep/donor" "${common[@]}"
  mv "$keep/donor" "$out/$name/donor"
  [[ -d $keep/donor.donor ]] && mv "$keep/donor.donor" "$out/$name/donor.donor"
  sed -i "s|$keep|@IN_PLACE@|g" "$out/$name/stdout" "$out/$name/stderr"
}
run_in_place

# The capture at death (necro-catch's directory), and the same core without it.
run catch-capture -c "$x/catch.core.zst" --capture "$x/catch.capture" -o images "${common[@]}"
run catch-capture-explain -c "$x/catch.core.zst" --capture "$x/catch.capture" --explain -v --offline
run catch-nocapture -c "$x/catch.core.zst" --no-capture -o images "${common[@]}"

# aarch64: qemu-user's core as written: no NT_FILE, and the static program's
# headers are not in it. Refused with --offline (no file is read), and where
# no candidate for the program is found (each one named); with the program
# where AT_EXECFN says it ran, or given by --exe, its mappings are rebuilt from
# its headers on disk. Without --offline: the program is the one file read.
a=$data/aarch64
own=(--no-reflink --no-sync --progress never)
run aarch64-inspect -c "$a/crash.core" --inspect --offline
run aarch64-raw-nodonor -c "$a/crash.core" -o images "${common[@]}"
run aarch64-raw-notfound -c "$a/crash.core" -o images "${own[@]}"
PLACE=$data/bin/crash_aarch64:crash_aarch64 run aarch64-nodonor -c "$a/crash.core" -o images "${own[@]}"
PLACE=$data/bin/crash_aarch64:crash_aarch64 run aarch64-nodonor-explain -c "$a/crash.core" --explain -v
run aarch64-exe-explain -c "$a/crash.core" --exe "$data/bin/crash_aarch64" --explain
run aarch64-wrong-exe -c "$a/crash.core" --exe "$data/bin/counter" -o images "${own[@]}"

# A static x86-64 program's core without NT_FILE (too many VMAs) and without
# a dynamic linker's list: the program where AT_EXECFN says it ran.
PLACE=$data/bin/manymaps-static:manymaps-static \
  run manymaps-static-nodonor -c "$x/manymaps-static.core.zst" -o images --no-capture "${own[@]}"
PLACE=$data/bin/manymaps-static:manymaps-static \
  run manymaps-static-nodonor-explain -c "$x/manymaps-static.core.zst" --explain --no-capture

# Refusals: a donor of another program, one of another architecture.
run wrong-donor -c "$x/counter.core" -i "$x/pool.donor" -o images "${common[@]}"
run aarch64-with-x86-donor -c "$a/crash.core" -i "$x/counter.donor" -o images "${common[@]}"

manifest() { (cd "$out" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sed 's|  \./|  |'); }

case $action in
  update)
    manifest >"$target"
    echo "snapshot: $(wc -l <"$target") files hashed into $target"
    ;;
  check)
    if ! diff -u "$target" <(manifest) >"$work/diff"; then
      echo "snapshot: the outputs differ from $target (- committed, + now):" >&2
      grep -E '^[-+][0-9a-f]' "$work/diff" >&2 || true
      echo "snapshot: keep both with 'snapshot.sh keep' on each build and diff them; if the change is meant," >&2
      echo "snapshot: rewrite the manifest with 'snapshot.sh update' and say why in the commit" >&2
      exit 1
    fi
    echo "snapshot: $(wc -l <"$target") files as committed"
    ;;
  keep)
    rm -rf "$target"
    cp -r "$out" "$target"
    echo "snapshot: outputs in $target"
    ;;
  *)
    echo "snapshot.sh: unknown action $action (check, update, keep)" >&2
    exit 2
    ;;
esac
