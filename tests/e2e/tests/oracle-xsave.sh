#!/usr/bin/env bash
# oracle-xsave.sh - the oracle's XSAVE layouts on any CPU, no root: the
# oracle's own check (necro-e2e-oracle --self-test-xsave, xsave_selftest.cpp)
# of its offset resolution and comparison on synthetic images in AMD Zen 4's
# standard format (no MPX gap: opmask at 832, ZMM_Hi256 at 896) and Intel's
# (1088, 1152). A kernel core is read at its NT_X86_XSAVE_LAYOUT's offsets
# (by the library's reader), a gdb 13 gcore at Intel's whatever the CPU, the
# live state at the CPU's (CPUID leaf 0xD); equal states compare SAME across
# layouts, one changed byte is exactly one mismatched component, and a core
# whose layout cannot be told, a differing XCR0, a missing or truncated
# component are mismatches. It also shows that comparing a gdb core at one
# layout on both sides fails on AMD (component 6, 512 bytes at 1152), as the
# oracle did before.
#@test oracle-xsave   oracle self-test: XSAVE offsets of AMD and Intel layouts, kernel and gdb cores
# shellcheck source=../lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
e2e_args e2e. "$@"
[ -x "$ORACLE" ] || fatal "oracle '$ORACLE' is not built"
rc=0
out=$("$ORACLE" --self-test-xsave 2>&1) || rc=$?
while IFS= read -r line; do
    case $line in
        PASS:*) pass "${line#PASS: }" ;;
        FAIL:*) fail "${line#FAIL: }" ;;
        *) printf '%s\n' "$line" ;;
    esac
done <<<"$out"
[ "$rc" = 0 ] || fail "necro-e2e-oracle --self-test-xsave exited $rc"
report_and_exit 0
