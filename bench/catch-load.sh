#!/usr/bin/env bash
# catch-load.sh - necro-catch under load (issue 21): VICTIMS processes of MIB
# MiB each (default 16 x 256 MiB: ~4 GiB of memory and ~4 GiB of disk under
# /tmp) crash at once under the helper with core_pipe_limit >= VICTIMS; every
# core must hold its victim's pattern page by page and every capture be
# complete. It is e2e.catch-load's script (tests/e2e/tests/catch-load.sh, 16 x
# 16 MiB in ctest) in its catch-load-256 mode; see there for what is checked.
#
#   sudo bench/catch-load.sh [--build DIR] [VICTIMS [MIB]]       (default: build, 16 256)
#
# Builds what it needs in DIR (cmake --build DIR -j2), takes the e2e lock
# (/tmp/necro-e2e.lock) and puts core_pattern and core_pipe_limit back on
# exit. The last lines: the summary (kill to the last reap, the BPF step and
# the whole helper: median and max over the victims), then RESULT.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$here/../build victims=16 mib=256
while [ $# -gt 0 ]; do
    case $1 in
        --build) build=$2; shift 2 ;;
        -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "catch-load.sh: unknown option $1" >&2; exit 2 ;;
        *) victims=$1; mib=${2:-$mib}; shift $(($# >= 2 ? 2 : 1)) ;;
    esac
done
[ "$(id -u)" -eq 0 ] || { echo "catch-load.sh: needs root (core_pattern)" >&2; exit 1; }
build=$(realpath "$build")
cmake --build "$build" -j2 --target necro-catch necro_e2e_pattern necro-e2e-pattern-check >/dev/null
NECRO_LOAD_VICTIMS=$victims NECRO_LOAD_MIB=$mib exec bash "$here/../tests/e2e/tests/catch-load.sh" catch-load-256 \
    --victims "$build/tests/e2e/victims" --oracle "$build/tests/e2e/necro-e2e-oracle" --catch "$build/examples/catch/necro-catch"
