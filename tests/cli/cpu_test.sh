#!/usr/bin/env bash
# The CPU check on a real fixture (issue 23's done-when): the counter core,
# copied by tests/data/claim_cpu.py so that it claims an XSAVE component
# (XCR0 and XSTATE_BV) and a HWCAP2 bit this CPU lacks, chosen at run time
# from what this machine has (necro_cpu_facts), so that it holds on any
# x86-64 CPU. The set is refused, naming both; --force-cpu writes it, with a
# warning, and the xsave state in core-PID.img (decoded by crit) holds only
# components this CPU has, with a donor and without. On an x86-64 machine an
# aarch64 core's CPU is not checked; --offline compares nothing.
#
#   cpu_test.sh NECROMANCER CPU_FACTS DATA_DIR BUILD_DATA_DIR
set -euo pipefail
tool=$1 facts_tool=$2 data=$3 build_data=$4
work=$(mktemp -d "${TMPDIR:-/tmp}/necro-cpu.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v python3 >/dev/null || fail "python3 is not installed"
command -v crit >/dev/null || fail "crit (Debian package criu) is not installed"

core=$data/x86_64/counter.core
donor=$data/x86_64/counter.donor
pid=$(grep '^victim_pid=' "$data/x86_64/facts.txt" | cut -d= -f2)
# The fixture's program, where its core names it, under a sysroot: the runs
# that read this machine find it there (not found, the set would be refused).
exe=$(grep '^binary=' "$data/x86_64/facts.txt" | cut -d= -f2)
mkdir -p "$work/root$(dirname "$exe")"
cp "$data/bin/counter" "$work/root$exe"
read -r arch xcr0 _ hwcap2 < <("$facts_tool" | sed -E 's/[a-z0-9]+=//g')
echo "this machine: $arch XCR0 $xcr0 HWCAP2 $hwcap2"

if [[ $arch != x86_64 ]]; then
  # The x86-64 fixture on another machine is not compared; the edit needs this CPU's XCR0.
  out=$("$tool" -c "$core" --sysroot "$work/root" -i "$donor" --explain)
  grep -q "^cpu: not checked (the core is x86_64, this machine $arch)" <<<"$out" || fail "no 'not checked' line: $out"
  echo "not an x86-64 machine: the x86-64 core's CPU is not checked"
  exit 0
fi

# An XSAVE component this CPU lacks: a known user component first, else a
# bit nobody has named yet. AMX (17, 18) is left out: unused at death it is
# only a warning.
xname() {
  case $1 in
    2) echo avx ;; 3) echo "mpx bndregs" ;; 4) echo "mpx bndcsr" ;; 5) echo "avx512 opmask" ;;
    6) echo zmm_hi256 ;; 7) echo hi16_zmm ;; 9) echo pkru ;; 19) echo apx ;; *) echo "xfeature bit $1" ;;
  esac
}
xbit=
for b in 2 5 6 7 9 3 4 19 $(seq 20 62); do
  if (((xcr0 >> b) & 1)); then continue; fi
  xbit=$b
  break
done
[[ -n $xbit ]] || fail "this CPU has every XSAVE bit ($xcr0)"
hbit=
for b in $(seq 0 62); do
  if (((hwcap2 >> b) & 1)); then continue; fi
  hbit=$b
  break
done
case $hbit in 0) hname=ring3mwait ;; 1) hname=fsgsbase ;; *) hname="bit $hbit" ;; esac
echo "claimed: XSAVE bit $xbit ($(xname "$xbit")), HWCAP2 bit $hbit ($hname)"

python3 "$data/claim_cpu.py" "$core" "$work/claims.core" --xfeature "$xbit" --hwcap2 "$hbit"

# Refused, naming both, with a donor and without; nothing written.
for args in "-i $donor -o $work/refused" "-o $work/refused --no-capture"; do
  # shellcheck disable=SC2086
  if "$tool" -c "$work/claims.core" --sysroot "$work/root" $args 2>"$work/err"; then fail "a core claiming XSAVE bit $xbit was accepted ($args)"; fi
  grep -q "this CPU lacks: .*$(xname "$xbit") (in use at death)" "$work/err" || fail "the refusal does not name $(xname "$xbit"): $(cat "$work/err")"
  grep -q "hwcap2 $hname" "$work/err" || fail "the refusal does not name hwcap2 $hname: $(cat "$work/err")"
  grep -q -- "--force-cpu" "$work/err" || fail "the refusal does not say --force-cpu: $(cat "$work/err")"
  [[ $(wc -l <"$work/err") -eq 1 ]] || fail "the refusal is not one line: $(cat "$work/err")"
  [[ ! -e $work/refused ]] || fail "a refused set was written"
done
echo "refused: $(cat "$work/err")"

# --explain --force-cpu: the cpu line says what is missing.
"$tool" -c "$work/claims.core" --sysroot "$work/root" -i "$donor" --explain --force-cpu >"$work/explain"
grep -q "^cpu: the core's XSAVE features (.*$(xname "$xbit").* compared with this machine's: this CPU lacks .*$(xname "$xbit").*; --force-cpu: going on$" "$work/explain" ||
  fail "no forced cpu line: $(grep '^cpu' "$work/explain")"

# check_xsave DIR: every thread image's xstate_bv within this CPU's XCR0, and
# no field of the claimed component.
check_xsave() {
  local img n=0
  for img in "$1"/core-*.img; do
    crit decode -i "$img" -o "$work/core.json" || fail "crit cannot decode $img"
    python3 - "$work/core.json" "$xcr0" "$xbit" <<'PY' || fail "$img: xsave state beyond this CPU's"
import json, sys
entry = json.load(open(sys.argv[1]))["entries"][0]
xcr0, bit = int(sys.argv[2], 16), int(sys.argv[3])
xs = entry["thread_info"]["fpregs"]["xsave"]
bv = xs["xstate_bv"]
field = {2: "ymmh_space", 3: "bndreg_state", 4: "bndcsr_state", 5: "opmask_reg", 6: "zmm_upper", 7: "hi16_zmm", 9: "pkru"}.get(bit)
if bv & ~xcr0:
    sys.exit(f"xstate_bv {bv:#x} has bits beyond XCR0 {xcr0:#x}")
if field and xs.get(field):
    sys.exit(f"{field} written ({len(xs[field])} elements) though this CPU lacks component {bit}")
PY
    n=$((n + 1))
  done
  ((n > 0)) || fail "no core-*.img in $1"
}

# --force-cpu writes the set, with a warning, with a donor and without.
"$tool" -c "$work/claims.core" --sysroot "$work/root" -i "$donor" -o "$work/forced" --force-cpu --no-sync >"$work/out"
grep -q "warning: --force-cpu: .*$(xname "$xbit")" "$work/out" || fail "no --force-cpu warning: $(cat "$work/out")"
[[ -f $work/forced/core-$pid.img ]] || fail "no core-$pid.img written"
check_xsave "$work/forced"
"$tool" -c "$work/claims.core" --sysroot "$work/root" -o "$work/forced-nodonor" --no-capture --force-cpu --no-sync >"$work/out"
grep -q "warning: --force-cpu: " "$work/out" || fail "no --force-cpu warning without a donor: $(cat "$work/out")"
check_xsave "$work/forced-nodonor"
echo "--force-cpu: written, xstate_bv within $xcr0, no $(xname "$xbit") state"

# --offline compares nothing; the unedited fixture is not refused for what it claims.
"$tool" -c "$work/claims.core" -i "$donor" --explain --offline >"$work/explain"
grep -q "^cpu: not compared with this machine's (--offline)" "$work/explain" || fail "--offline compared: $(grep '^cpu' "$work/explain")"

# An aarch64 core on this x86-64 machine: an explain line, not a refusal.
acore=$data/aarch64/crash.core
if [[ -f $acore ]]; then
  "$tool" -c "$acore" --exe "$data/bin/crash_aarch64" --explain >"$work/explain" || fail "the aarch64 core was refused: $(cat "$work/explain")"
  grep -q '^cpu: not checked (the core is aarch64, this machine x86_64)$' "$work/explain" ||
    fail "no 'not checked' line for the aarch64 core: $(grep '^cpu' "$work/explain")"
  echo "aarch64 core: $(grep '^cpu' "$work/explain")"
fi
