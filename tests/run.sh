#!/usr/bin/env bash
# necro's one entry point for set-up, the bundled sample, the tests and the benchmarks.
#
#   tests/run.sh sample   install packages, build, patch the bundled sample core
#   tests/run.sh test     install packages, build (warnings are errors), run every test
#   tests/run.sh bench    install packages, build Release, run the benchmarks
#
# Environment: BUILD_DIR (default: build), NECRO_CRIU=/path/to/criu (>= 4.1) to
# run the end-to-end tests for real (they report themselves skipped otherwise),
# NECRO_SKIP_APT=1 to skip the package step.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$here/build}
cmd=${1:-test}

packages=(
  cmake g++ make pkg-config
  libprotobuf-dev protobuf-compiler
  libboost1.81-dev catch2 libcli11-dev libfmt-dev libbenchmark-dev libzstd-dev
  criu            # only for its `crit` image decoder (the tests check our images with it)
  clang-14 libclang-rt-14-dev   # fuzzing and sanitizers
  gdb
)

install_packages() {
  [[ ${NECRO_SKIP_APT:-0} == 1 ]] && return 0
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  local sudo=()
  [[ $(id -u) -ne 0 ]] && sudo=(sudo)
  echo "== installing: ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

configure_build() {
  local type=$1
  shift
  cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE="$type" -DNECRO_WERROR=ON "$@" >/dev/null
  cmake --build "$build" -j"$(nproc)"
}

case $cmd in
  sample)
    install_packages
    configure_build RelWithDebInfo
    out=$(mktemp -d "${TMPDIR:-/tmp}/necro-sample.XXXXXX")
    rmdir "$out"
    data=$here/tests/data/x86_64
    # The sample was recorded on another machine: --offline skips the on-disk file checks.
    "$build/examples/resurrect/criu-necromancer" -c "$data/counter.core" -i "$data/counter.donor" --explain --offline
    echo
    "$build/examples/resurrect/criu-necromancer" -c "$data/counter.core" -i "$data/counter.donor" -o "$out" --offline
    echo "patched image set: $out"
    ls -l "$out"
    ;;
  test)
    install_packages
    configure_build RelWithDebInfo
    ctest --test-dir "$build" --output-on-failure -j"$(nproc)"
    ;;
  bench)
    install_packages
    BUILD_DIR=${BUILD_DIR:-$here/build-release}
    build=$BUILD_DIR
    configure_build Release -DNECRO_BUILD_TESTS=OFF
    for b in "$build"/bench/*_bench; do
      [[ -x $b ]] && "$b" --benchmark_min_time=0.2
    done
    ;;
  *)
    echo "usage: tests/run.sh sample|test|bench" >&2
    exit 2
    ;;
esac
