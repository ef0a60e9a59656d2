#!/usr/bin/env bash
# necro's one entry point for set-up, the bundled sample, the tests and the benchmarks.
#
#   tests/run.sh sample      install packages, build, patch the bundled sample core
#   tests/run.sh test        install packages, build (warnings are errors), run every test
#   tests/run.sh sanitize    build everything with ASan + UBSan (build-sanitize) and run
#                            the tests but the package, compile-fail and e2e ones;
#                            any sanitizer report fails the stage
#   tests/run.sh fuzz-smoke  build the libFuzzer targets with clang-14 (build-fuzz),
#                            replay tests/fuzz/regressions, fuzz each target (core
#                            view, image entries, planner, capture) for NECRO_FUZZ_SECONDS
#                            (default 45) from the fixtures
#   tests/run.sh bench       install packages, build Release, run the benchmarks
#   tests/run.sh criu        build CRIU (>= 4.2, Debian testing's source package) into
#                            the build tree (once; cached) and print its path as the last
#                            line. `test` runs it first when NECRO_CRIU is not given
#                            and we are root, so the end-to-end tests restore for real
#
# Environment: BUILD_DIR (default: build), SANITIZE_BUILD_DIR (build-sanitize),
# FUZZ_BUILD_DIR (build-fuzz), NECRO_CRIU=/path/to/criu (>= 4.1) to run the
# end-to-end tests for real (they report themselves skipped otherwise),
# NECRO_NO_CRIU=1 not to build CRIU for `test`, NECRO_SKIP_APT=1 to skip the
# package step.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$here/build}
cmd=${1:-test}

packages=(
  cmake g++ make pkg-config
  libprotobuf-dev protobuf-compiler
  libboost1.81-dev catch2 libcli11-dev libfmt-dev libbenchmark-dev libzstd-dev zstd
  time            # GNU time: peak RSS in bench/compare.sh
  criu            # only for its `crit` image decoder (the tests check our images with it)
  clang-14 libclang-rt-14-dev   # fuzzing and sanitizers
  libbpf-dev bpftool llvm-14    # necro-catch's BPF task iterator (clang-14 -target bpf, llvm-strip-14, the skeleton)
  gdb
  libdebuginfod1 libdebuginfod-dev debuginfod   # --debuginfod (dlopen'ed), and e2e.remote-debuginfod's local server
  xfsprogs        # e2e.reflink: an XFS loop file system whose extents the patch shares with the core
  # tests/e2e/real: real programs and their clients. The tests start their own
  # instances on free 127.0.0.1 ports with their own files; the packages' own
  # services are not used (in a container without systemd apt does not start
  # them; where systemd runs they may run alongside, untouched).
  redis-server redis-tools nginx python3 python3-setproctitle curl iproute2 memcached netcat-openbsd
  nodejs openjdk-17-jdk-headless   # real/node.sh (ticker.js), real/java.sh (javac at test time)
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

# CRIU >= 4.1 restores on this kernel; Debian 12's 3.17 does not (its vDSO check
# fails). CRIU 4.1.1 (trixie) cannot dump a TCP socket on kernels >= 6.16
# (`Can't get 1:16 opt: Operation not supported`: SO_PASSCRED on an inet
# socket, CRIU issue 2705, fixed in 4.2), so every server donor fails to dump.
# Debian testing's source package of CRIU 4.2.x builds against Debian 12's
# libraries: a deb-src line (never a deb line: that would move the whole system
# to another release) on the mirror this machine already uses.
criu_suite=forky
criu_min=4.2
criu_build_deps=(
  libprotobuf-c-dev protobuf-c-compiler libprotobuf-dev protobuf-compiler python3-protobuf
  libnl-3-dev libnet1-dev libcap-dev pkg-config libbsd-dev libaio-dev libgnutls28-dev
  uuid-dev libnftables-dev libdrm-dev gcc make xz-utils
)

debian_mirror() {
  local uri
  uri=$(awk '/^URIs:/ && !seen { print $2; seen = 1 }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [[ -z $uri ]] && uri=$(awk '$1 == "deb" && $3 ~ /^bookworm$/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
  [[ -n $uri ]] || { echo "tests/run.sh criu: no Debian mirror found in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list" >&2; return 1; }
  echo "$uri"
}

# criu_ok BIN: it runs and is at least $criu_min.
criu_ok() {
  local v
  v=$("$1" --version 2>/dev/null | sed -n 's/^Version: *//p' | head -n1)
  [[ -n $v ]] && [[ $(printf '%s\n%s\n' "$criu_min" "$v" | sort -V | head -n1) == "$criu_min" ]]
}

build_criu() {
  local dir=$build/criu-$criu_suite
  local bin=$dir/criu/criu
  if [[ -x $bin ]] && criu_ok "$bin"; then
    echo "$bin"
    return 0
  fi
  [[ $(id -u) -eq 0 ]] || { echo "tests/run.sh criu: needs root (apt-get, and CRIU itself runs as root)" >&2; return 1; }
  local list=/etc/apt/sources.list.d/necro-$criu_suite-src.sources
  if [[ ! -f $list ]]; then
    local mirror
    mirror=$(debian_mirror) || return 1
    printf 'Types: deb-src\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$mirror" "$criu_suite" >"$list"
    echo "== added $list (deb-src only)" >&2
    apt-get update -qq >&2
  fi
  local missing=()
  for p in "${criu_build_deps[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "== installing CRIU's build dependencies: ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  local src
  mkdir -p "$build"   # a fresh clone has no build tree yet
  src=$(mktemp -d "$build/criu-src.XXXXXX")
  echo "== fetching criu/$criu_suite's source tarball" >&2
  (cd "$src" && apt-get source -qq --tar-only "criu/$criu_suite" >&2)
  local tarball
  tarball=$(compgen -G "$src/criu_*.orig.tar.*" | head -n1) ||
    { echo "tests/run.sh criu: apt-get source gave no criu_*.orig.tar.* in $src" >&2; return 1; }
  rm -rf "$dir"
  mkdir -p "$dir"
  tar -xf "$tarball" -C "$dir" --strip-components=1
  rm -rf "$src"
  echo "== building CRIU (${tarball##*/}) in $dir (make criu, a few minutes)" >&2
  make -C "$dir" -j"$(nproc)" criu >"$dir/necro-build.log" 2>&1 ||
    { tail -n 40 "$dir/necro-build.log" >&2; echo "tests/run.sh criu: the build failed; log: $dir/necro-build.log" >&2; return 1; }
  criu_ok "$bin" || { echo "tests/run.sh criu: $bin is not CRIU >= $criu_min" >&2; return 1; }
  "$bin" --version >&2
  echo "$bin"
}

# Targets to build (all when empty): `sample` needs only the CLI.
build_targets=()

configure_build() {
  local type=$1
  shift
  cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE="$type" -DNECRO_WERROR=ON "$@" >/dev/null
  cmake --build "$build" -j"$(nproc)" ${build_targets[@]+--target "${build_targets[@]}"}
}

case $cmd in
  sample)
    install_packages
    build_targets=(criu-necromancer)  # not the test suite: a fresh clone builds in a fraction of the time
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
    # The end-to-end tests restore real processes: with no NECRO_CRIU given,
    # use (and build once) CRIU 4.2 when we are root; otherwise they skip.
    if [[ -z ${NECRO_CRIU:-} && $(id -u) -eq 0 && ${NECRO_NO_CRIU:-0} != 1 ]]; then
      NECRO_CRIU=$(build_criu | tail -n 1)
      export NECRO_CRIU
      echo "== end-to-end tests with $NECRO_CRIU"
    fi
    # The e2e tests are RUN_SERIAL (core_pattern is machine-wide).
    set +e
    ctest --test-dir "$build" --output-on-failure -j"$(nproc)" 2>&1 | tee "$build/ctest.log"
    status=${PIPESTATUS[0]}
    set -e
    # With a CRIU at hand, a skipped end-to-end test is a failure: it would
    # hide that nothing was restored.
    if [[ -n ${NECRO_CRIU:-} && $(id -u) -eq 0 ]] && grep -E '^[[:space:]]*[0-9]+ - e2e\.[^ ]+ \(Skipped\)' "$build/ctest.log"; then
      echo "tests/run.sh: the end-to-end tests above were skipped although NECRO_CRIU=$NECRO_CRIU is set" >&2
      status=1
    fi
    exit "$status"
    ;;
  sanitize)
    install_packages
    build=${SANITIZE_BUILD_DIR:-$here/build-sanitize}
    # -fno-sanitize-recover: the first report ends the process. Not -Werror:
    # instrumentation makes GCC warn falsely (the test stage checks warnings).
    flags="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
    # -O1 -g1 (line tables: enough for the reports' stack traces): a test
    # file under ASan builds in half the time of -O2 -g (70 s against 135 s
    # measured for tests/unit/plan/capture_test.cpp), and CI has 2 cores.
    cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNECRO_BUILD_BENCH=OFF \
          -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
          -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" -DCMAKE_SHARED_LINKER_FLAGS="$flags" >/dev/null
    cmake --build "$build" -j"$(nproc)"
    # Reports go to files too: a test that expects a failing exit code must
    # not hide one. abort_on_error turns a report into SIGABRT, not exit 1.
    reports=$build/sanitizer-reports
    rm -rf "$reports"
    mkdir -p "$reports"
    export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_string_checks=1:log_path=$reports/asan"
    export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:log_path=$reports/ubsan"
    status=0
    # Not package/compile-fail (they build consumers and check diagnostics:
    # nothing of necro runs) and not e2e (sanitized victims and CRIU do not mix:
    # a gcore of an ASan process maps terabytes of shadow).
    ctest --test-dir "$build" --output-on-failure -j"$(nproc)" -LE '^(package|compile_fail|e2e)$' || status=$?
    if compgen -G "$reports/*" >/dev/null; then
      echo "== sanitizer reports:" >&2
      for r in "$reports"/*; do
        echo "-- $r" >&2
        cat "$r" >&2
      done
      status=1
    fi
    exit $status
    ;;
  fuzz-smoke)
    install_packages
    build=${FUZZ_BUILD_DIR:-$here/build-fuzz}
    cmake -S "$here" -B "$build" -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo \
          -DNECRO_WERROR=ON -DNECRO_BUILD_FUZZ=ON -DNECRO_BUILD_BENCH=OFF >/dev/null
    targets=(core_view criu_image plan capture)
    cmake --build "$build" -j"$(nproc)" --target necro_fuzz_seed_corpus "${targets[@]/#/necro_fuzz_}"
    fuzz=$build/tests/fuzz
    seconds=${NECRO_FUZZ_SECONDS:-45}
    # The fixtures are seeds: a real core of each architecture, every donor
    # image, and for the planner the fixture core trimmed to what it reads.
    rm -rf "$fuzz/fixture-cores"
    mkdir -p "$fuzz/fixture-cores" "$fuzz/artifacts"
    cp "$here"/tests/data/x86_64/*.core "$here"/tests/data/aarch64/*.core "$fuzz/fixture-cores/"
    declare -A seeds=(
      [core_view]="$fuzz/fixture-cores $fuzz/seeds/core"
      [criu_image]="$here/tests/data/x86_64/counter.donor $here/tests/data/x86_64/pool.donor $fuzz/seeds/image"
      [plan]="$fuzz/seeds/plan"
      [capture]="$here/tests/data/x86_64/catch.capture"
    )
    pids=()
    for t in "${targets[@]}"; do
      regressions=$here/tests/fuzz/regressions/$t
      mkdir -p "$fuzz/corpus/$t"
      read -r -a dirs <<<"${seeds[$t]}"
      (
        # Every input that ever crashed runs once, then the campaign.
        if compgen -G "$regressions/*" >/dev/null; then "$fuzz/necro_fuzz_$t" "$regressions"/*; fi
        "$fuzz/necro_fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
          -artifact_prefix="$fuzz/artifacts/$t-" "$fuzz/corpus/$t" "${dirs[@]}"
      ) >"$fuzz/$t.log" 2>&1 &
      pids+=($!)
    done
    status=0
    for i in "${!targets[@]}"; do
      t=${targets[$i]}
      if wait "${pids[$i]}"; then
        echo "== fuzz $t: $(grep -h 'stat::number_of_executed_units' "$fuzz/$t.log" | awk '{print $2}') executions, no crash"
      else
        status=1
        echo "== fuzz $t FAILED (crash inputs in $fuzz/artifacts; add them to tests/fuzz/regressions/$t):" >&2
        tail -n 60 "$fuzz/$t.log" >&2
      fi
    done
    exit $status
    ;;
  criu)
    build_criu
    ;;
  bench)
    install_packages
    BUILD_DIR=${BUILD_DIR:-$here/build-release}
    build=$BUILD_DIR
    configure_build Release -DNECRO_BUILD_TESTS=OFF
    for b in "$build"/bench/*_bench; do
      [[ -x $b ]] && "$b" --benchmark_min_time=0.2
    done
    # The side-by-side against cp on real 1 and 4 GiB cores needs CRIU to make
    # their donors (bench/make-large-core.sh); the cores are removed afterwards.
    if [[ -n ${NECRO_CRIU:-} ]]; then
      NECRO_CRIU=$NECRO_CRIU bash "$here/bench/compare.sh" --necro "$build/examples/resurrect/criu-necromancer" --runs 5 1 4
      # The same 4 GiB patch on XFS with reflink, against cp --reflink (root: a loop mount).
      NECRO_CRIU=$NECRO_CRIU bash "$here/bench/reflink.sh" --necro "$build/examples/resurrect/criu-necromancer" --runs 5 4
    else
      echo "tests/run.sh: bench/compare.sh (necro against cp on 1 and 4 GiB cores) skipped: set NECRO_CRIU=/path/to/criu (>= 4.1) to run it"
    fi
    ;;
  *)
    echo "usage: tests/run.sh sample|test|sanitize|fuzz-smoke|bench|criu" >&2
    exit 2
    ;;
esac
