#!/usr/bin/env bash
# CLI tests of criu-necromancer on the bundled fixture:
#   cli_test.sh NECROMANCER DATA_DIR CASE [BUILD_DATA_DIR]
# CASE: patch (patch, then decode every written image with CRIU's own crit),
#       inspect, explain, explain-counts (--explain's page counts are the
#       patch's, on the counter and the pool fixtures), bad-core, wrong-program,
#       keeps-donor, nodonor (no -i: a synthesized set, every image decoded by
#       crit), progress (--progress into a file), progress-tty (on a
#       pseudo-terminal), zstd (a zstd-compressed core patches to the same
#       image set as the plain one), aarch64-inspect (--inspect of an aarch64
#       core), aarch64-nodonor (a donor-less set of an aarch64 core,
#       crit-decoded; its program given by --exe), exe-wrong (--exe naming
#       another architecture's program, a text file, nothing, a directory, a
#       doctored program: each refused with its reason), exe-found (the
#       program found without --exe, by pr_fname and by AT_EXECFN), static-x86
#       (a static x86-64 program's core without NT_FILE), unknown-machine (a
#       core of a machine necro does not read), sysroot (the executable looked
#       up under --sysroot first; another build there passed over; found
#       nowhere, a refusal naming it and its build-id, and why debuginfod was
#       not asked). BUILD_DATA_DIR holds the fixtures unpacked from .zst.
set -euo pipefail
tool=$1 data=$2 case=$3 build_data=${4:-$2}
core=$data/x86_64/counter.core
donor=$data/x86_64/counter.donor
work=$(mktemp -d "${TMPDIR:-/tmp}/necro-cli.XXXXXX")
trap 'rm -rf "$work"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
checksum() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
# decode_all DIR: CRIU's own crit decodes every image of DIR but pages-*
# into $work/NAME.json; n is how many.
decode_all() {
  local img name
  n=0
  for img in "$1"/*.img; do
    name=$(basename "$img")
    [[ $name == pages-* ]] && continue
    crit decode -i "$img" -o "$work/$name.json" || fail "crit cannot decode $name"
    n=$((n + 1))
  done
}

case $case in
  zstd)
    # systemd-coredump keeps cores as core.*.zst: -c takes them as they are.
    command -v zstd >/dev/null || fail "zstd is not installed"
    zstd -q -3 "$core" -o "$work/counter.core.zst"
    "$tool" -c "$core" -i "$donor" -o "$work/plain" --offline -q
    "$tool" -c "$work/counter.core.zst" -i "$donor" -o "$work/packed" --offline --progress always \
      >"$work/std" 2>"$work/err" || fail "the .zst core was refused: $(cat "$work/err")"
    diff <(checksum "$work/plain") <(checksum "$work/packed") || fail "counter: the .zst core gives another image set"
    grep -q '^decompressing .*counter.core.zst: ' "$work/err" || fail "no decompression progress: $(cat "$work/err")"
    ls -A "$work" | grep -qv -e '^counter.core.zst$' -e '^plain$' -e '^packed$' -e '^std$' -e '^err$' &&
      fail "the decompressed core was left behind: $(ls -A "$work")"
    # The committed pool fixture is stored compressed: patch it as it is.
    "$tool" -c "$data/x86_64/pool.core.zst" -i "$data/x86_64/pool.donor" -o "$work/pool-packed" --offline -q
    "$tool" -c "$build_data/x86_64/pool.core" -i "$data/x86_64/pool.donor" -o "$work/pool-plain" --offline -q
    diff <(checksum "$work/pool-plain") <(checksum "$work/pool-packed") || fail "pool: the .zst core gives another image set"
    # A cut stream: one error naming the file, nothing written.
    head -c 20000 "$work/counter.core.zst" >"$work/cut.zst"
    if "$tool" -c "$work/cut.zst" -i "$donor" -o "$work/cut-out" --offline 2>"$work/err"; then fail "a cut .zst was accepted"; fi
    grep -q "cut.zst.*cut short" "$work/err" || fail "unexpected error for a cut .zst: $(cat "$work/err")"
    [[ ! -e $work/cut-out ]] || fail "a cut .zst left an output directory"
    echo "zstd: counter and pool image sets equal to the plain cores'; a cut stream refused"
    ;;
  sysroot)
    # A core from another machine: its executable (/tmp/necro-fixture/counter)
    # under --sysroot, taken there before its own path, named there in files.img.
    command -v crit >/dev/null || fail "crit (Debian package criu) is not installed"
    exe=$(grep '^binary=' "$data/x86_64/facts.txt" | cut -d= -f2)
    id=$(grep '^binary_build_id=' "$data/x86_64/facts.txt" | cut -d= -f2)
    mkdir -p "$work/root$(dirname "$exe")"
    cp "$data/bin/counter" "$work/root$exe"
    "$tool" -c "$core" --force-cpu --sysroot "$work/root" --explain >"$work/explain.txt" 2>&1 || fail "--sysroot --explain: $(cat "$work/explain.txt")"
    grep -qF "  $exe: under the sysroot: $work/root$exe" "$work/explain.txt" ||
      fail "--explain does not say the executable is under the sysroot: $(sed -n '/^mapped files/,/^$/p' "$work/explain.txt")"
    "$tool" -c "$core" --force-cpu --sysroot "$work/root" -o "$work/out" -q 2>"$work/err" || fail "--sysroot: $(cat "$work/err")"
    grep -q "\"name\": \"$work/root$exe\"" <(crit decode -i "$work/out/files.img") || fail "files.img does not name $work/root$exe"
    # Another build under the sysroot is passed over, with why.
    cp "$data/bin/pool" "$work/root$exe"
    if [[ ! -e $exe ]]; then
      if "$tool" -c "$core" --force-cpu --sysroot "$work/root" -o "$work/out2" 2>"$work/err"; then fail "a wrong executable was taken"; fi
      grep -qF "$exe (build-id $id), the executable (CRIU must open it): $work/root$exe: build-id " "$work/err" ||
        fail "unexpected refusal: $(cat "$work/err")"
      [[ ! -e $work/out2 ]] || fail "the refusal left $work/out2"
    fi
    # Asked for, debuginfod needs servers: the refusal says why none was asked.
    if [[ ! -e $exe ]]; then
      env -u DEBUGINFOD_URLS "$tool" -c "$core" --force-cpu --sysroot "$work/root" --debuginfod --explain >"$work/err" 2>&1 || true
      grep -qF 'debuginfod not asked: DEBUGINFOD_URLS: is not set' "$work/err" ||
        fail "--debuginfod without DEBUGINFOD_URLS: $(cat "$work/err")"
    fi
    echo "sysroot: $exe found under it, named there; another build passed over"
    ;;
  patch)
    command -v crit >/dev/null || fail "crit (Debian package criu) is not installed"
    "$tool" -c "$core" -i "$donor" -o "$work/out" --offline
    decode_all "$work/out"
    ((n >= 8)) || fail "only $n images decoded"
    pid=$(grep '^victim_pid=' "$data/x86_64/facts.txt" | cut -d= -f2)
    grep -q "\"pid\": $pid" <(crit decode -i "$work/out/pstree.img") || fail "pstree does not name pid $pid"
    grep -q '"ax": 18446744073709551612,' <(crit decode -i "$work/out/core-$pid.img") || fail "core-$pid.img lacks the -EINTR rewind"
    echo "crit decoded $n images"
    ;;
  nodonor)
    # No -i: every image synthesized from the core (the pool fixture: 5
    # threads), each one decoded by CRIU's own crit; --stdio/--cwd land in
    # files.img; --inspect and --explain need no donor; no -o is refused.
    command -v crit >/dev/null || fail "crit (Debian package criu) is not installed"
    pcore=$build_data/x86_64/pool.core
    [[ -e $pcore ]] || pcore=$data/x86_64/pool.core
    pid=$(grep '^victim_pid=' "$data/x86_64/pool.facts.txt" | cut -d= -f2)
    touch "$work/stdio.log"
    "$tool" -c "$pcore" -o "$work/out" --offline --stdio "$work/stdio.log" --cwd "$work" -q
    decode_all "$work/out"
    for want in inventory.img pstree.img files.img fdinfo-2.img "fs-$pid.img" "ids-$pid.img" "mm-$pid.img" \
                "pagemap-$pid.img" pages-1.img; do
      [[ -e $work/out/$want ]] || fail "no $want in the donor-less set"
    done
    ((n == $(ls "$work"/out/core-*.img | wc -l) + 8)) || fail "$n images decoded"
    threads=$(grep '^thread_count=' "$data/x86_64/pool.facts.txt" | cut -d= -f2)
    [[ $(ls "$work"/out/core-*.img | wc -l) -eq $threads ]] || fail "not one core image per thread ($threads)"
    grep -q "\"name\": \"$work/stdio.log\"" <(crit decode -i "$work/out/files.img") || fail "files.img lacks --stdio"
    grep -q "\"name\": \"$work\"" <(crit decode -i "$work/out/files.img") || fail "files.img lacks --cwd"
    "$tool" -c "$pcore" --inspect >"$work/inspect.txt" || fail "--inspect without a donor failed"
    grep -q "pid $pid" "$work/inspect.txt" || fail "--inspect does not name pid $pid"
    "$tool" -c "$pcore" --explain --offline >"$work/explain.txt" || fail "--explain without a donor failed"
    grep -q '^not in the core' "$work/explain.txt" || fail "--explain has no 'not in the core' section"
    grep -q 'signal handlers: SIG_DFL' "$work/explain.txt" || fail "--explain does not say the handlers are lost"
    # No donor: no donor threads or donor addresses to speak of.
    grep -q '^threads (5, each from its own notes):' "$work/explain.txt" || fail "--explain: $(grep '^threads' "$work/explain.txt")"
    ! grep -q 'donor thread\|relocated donor addresses' "$work/explain.txt" || fail "--explain speaks of a donor"
    grep -q "^addresses: the victim's own ([0-9]* pointers checked, none moved: no donor)" "$work/explain.txt" ||
      fail "--explain: no 'addresses: the victim's own' line"
    if "$tool" -c "$pcore" --offline 2>"$work/err"; then fail "no -i and no -o was accepted"; fi
    grep -q -- '-o OUT_DIR' "$work/err" || fail "no -i and no -o: $(cat "$work/err")"
    echo "crit decoded $n donor-less images"
    ;;
  progress)
    # Not a terminal: auto (the default) and never print no progress; always
    # prints one line per update, the last one complete; -q silences it all.
    run() { rm -rf "$work/out"; "$tool" -c "$core" -i "$donor" -o "$work/out" --offline "$@" 2>"$work/err" >"$work/std"; }
    run
    ! grep -q 'pages:' "$work/err" || fail "progress without a terminal: $(cat "$work/err")"
    run --progress never
    ! grep -q 'pages:' "$work/err" || fail "--progress never printed: $(cat "$work/err")"
    run --progress always -q
    [[ ! -s $work/err && ! -s $work/std ]] || fail "-q printed: $(cat "$work/err" "$work/std")"
    run --progress always
    grep -q 'pages: ' "$work/err" || fail "--progress always printed nothing"
    ! grep -q $'\r' "$work/err" || fail "carriage returns in a file"
    last=$(grep 'pages: ' "$work/err" | tail -n 1)
    [[ $last =~ ^pages:\ ([0-9.]+)\ /\ ([0-9.]+)\ MiB\ .*ETA ]] || fail "unexpected progress line: $last"
    [[ ${BASH_REMATCH[1]} == "${BASH_REMATCH[2]}" ]] || fail "the last progress line is not complete: $last"
    grep -q '^resurrected pid' "$work/std" || fail "no summary on stdout"
    if "$tool" -c "$core" -i "$donor" -o "$work/out2" --offline --progress sometimes 2>"$work/err"; then
      fail "--progress sometimes was accepted"
    fi
    echo "progress: always: $last"
    ;;
  progress-tty)
    # On a terminal (script(1) gives a pseudo-terminal): always redraws one line
    # in place with CR + erase-line, and ends it before the summary.
    command -v script >/dev/null || fail "script(1) (util-linux/bsdutils) is not installed"
    script -qec "'$tool' -c '$core' -i '$donor' -o '$work/out' --offline --progress always" /dev/null >"$work/tty" </dev/null
    grep -q $'\r\e\[Kpages: ' "$work/tty" || fail "no in-place progress line on a terminal: $(cat -A "$work/tty")"
    grep -q '^resurrected pid' <(tr -d '\r' <"$work/tty" | sed 's/.*\x1b\[K.*//') || fail "no summary after the progress line"
    ;;
  inspect)
    out=$("$tool" -c "$core" -i "$donor" --inspect)
    grep -q 'killed by SIGQUIT' <<<"$out" || fail "no signal in: $out"
    grep -q 'libc.so.6' <<<"$out" || fail "no NT_FILE paths"
    grep -q 'AT_EXECFN /tmp/necro-fixture/counter' <<<"$out" || fail "no AT_EXECFN"
    grep -q 'donor .*1 thread' <<<"$out" || fail "no donor summary"
    ;;
  explain)
    out=$("$tool" -c "$core" -i "$donor" --explain --offline)
    for want in '\[vvar\]' '\[vdso\]' '\[heap\]' '\[stack\]' 'rseq area' 'thread-pointer delta' 'interrupted syscall'; do
      grep -q "$want" <<<"$out" || fail "--explain lacks $want"
    done
    [[ ! -e $work/out ]] || fail "--explain wrote something"
    ;;
  explain-counts)
    # --explain says what the patch will do: the pages it writes and elides.
    counts_of() { # CORE DONOR: "explain: ..." and "patch: ..." lines, same shape
      local core=$1 donor=$2 out ex
      ex=$("$tool" -c "$core" -i "$donor" --explain --offline)
      out=$(sed -nE 's/^pages: ([0-9]+) written in [0-9]+ runs; elided: ([0-9]+) zero pages \(([0-9]+) of them holes in the core\), ([0-9]+) equal to their file.*/written \1 zero \2 holes \3 file \4/p' <<<"$ex")
      echo "explain: ${out:-$(grep '^pages' <<<"$ex")}"
      rm -rf "$work/out"
      ex=$("$tool" -c "$core" -i "$donor" -o "$work/out" --offline)
      local written zero
      written=$(sed -nE 's/^  [0-9]+ VMAs, ([0-9]+) pages written.*/\1/p' <<<"$ex")
      zero=$(sed -nE 's/^  elided [0-9]+ MiB: ([0-9]+) zero pages \(([0-9]+) of them holes in the core\), ([0-9]+) pages equal to their file$/zero \1 holes \2 file \3/p' <<<"$ex")
      echo "patch: written $written $zero"
    }
    pool=$data/x86_64/pool.core
    [[ -e $pool ]] || pool=$build_data/x86_64/pool.core
    for pair in "$core $donor" "$pool $data/x86_64/pool.donor"; do
      read -r c d <<<"$pair"
      counts=$(counts_of "$c" "$d")
      echo "$(basename "$c"): $counts"
      [[ $(sed -n 's/^explain: //p' <<<"$counts") == "$(sed -n 's/^patch: //p' <<<"$counts")" ]] ||
        fail "$(basename "$c"): --explain's page counts are not the patch's: $counts"
    done
    ;;
  bad-core)
    head -c 100 "$core" >"$work/short.core"
    if "$tool" -c "$work/short.core" -i "$donor" -o "$work/out" 2>"$work/err"; then fail "a truncated core was accepted"; fi
    grep -q "short.core: offset 0x40: program header table truncated" "$work/err" || fail "unexpected message: $(cat "$work/err")"
    [[ $(wc -l <"$work/err") -eq 1 ]] || fail "the error is not one line"
    [[ ! -e $work/out ]] || fail "output written for a bad core"
    ;;
  wrong-program)
    cp -r "$donor" "$work/donor"
    before=$(checksum "$work/donor")
    # A donor whose executable differs: edit the path recorded in files.img (same length).
    sed -i 's|/tmp/necro-fixture/counter|/tmp/necro-fixture/counteX|' "$work/donor/files.img"
    if "$tool" -c "$core" -i "$work/donor" --offline 2>"$work/err"; then fail "a donor of another program was accepted"; fi
    grep -q "dump a donor of the same program" "$work/err" || fail "unexpected message: $(cat "$work/err")"
    [[ ! -e $work/donor.donor ]] || fail "the donor was moved aside"
    ;;
  keeps-donor)
    cp -r "$donor" "$work/donor"
    before=$(checksum "$work/donor")
    "$tool" -c "$core" -i "$work/donor" --offline -q
    [[ $(checksum "$work/donor.donor") == "$before" ]] || fail "the donor's originals changed"
    [[ -e $work/donor/pstree.img ]] || fail "no patched set in place"
    ;;
  aarch64-inspect)
    # An aarch64 core: the ELF header's e_machine picks the architecture.
    acore=$data/aarch64/crash.core
    out=$("$tool" -c "$acore" --inspect)
    qpid=$(grep '^qemu_pid=' "$data/aarch64/facts.txt" | cut -d= -f2)
    grep -q "^core .*: aarch64, pid $qpid" <<<"$out" || fail "not read as aarch64: $out"
    grep -q 'killed by SIGSEGV (11)' <<<"$out" || fail "no signal in: $out"
    grep -Eq "tid $qpid +pc 0x[0-9a-f]+ sp 0x[0-9a-f]+ tpidr_el0 " <<<"$out" || fail "no aarch64 registers in: $out"
    nload=$(grep '^core_pt_load_count=' "$data/aarch64/facts.txt" | cut -d= -f2)
    grep -q "segments: $nload PT_LOADs" <<<"$out" || fail "not $nload segments in: $out"
    grep -q 'AT_EXECFN /tmp/necro-fixture/crash_aarch64' <<<"$out" || fail "no AT_EXECFN in: $out"
    ;;
  aarch64-nodonor)
    # An aarch64 core without a donor: a complete image set, every image
    # decoded by crit, the registers those of the core. qemu-user writes no
    # NT_FILE, and the static program's headers are not in the core: --exe
    # names the program, whose headers on disk rebuild its mappings.
    command -v crit >/dev/null || fail "crit (Debian package criu) is not installed"
    acore=$data/aarch64/crash.core
    aexe=$data/bin/crash_aarch64
    qpid=$(grep '^qemu_pid=' "$data/aarch64/facts.txt" | cut -d= -f2)
    "$tool" -c "$acore" --exe "$aexe" -o "$work/out" >"$work/std"
    grep -q "no NT_ARM_TLS in the core" "$work/std" || fail "no warning about the missing TLS: $(cat "$work/std")"
    decode_all "$work/out"
    for want in inventory.img pstree.img files.img "core-$qpid.img" "fs-$qpid.img" "ids-$qpid.img" "mm-$qpid.img" \
                "pagemap-$qpid.img" pages-1.img; do
      [[ -e $work/out/$want ]] || fail "no $want in the donor-less set"
    done
    grep -q '"mtype": "AARCH64"' "$work/core-$qpid.img.json" || fail "core-$qpid.img is not an AARCH64 core_entry"
    grep -q '"ti_aarch64"' "$work/core-$qpid.img.json" || fail "core-$qpid.img has no ti_aarch64"
    ! grep -q '"thread_info"' "$work/core-$qpid.img.json" || fail "core-$qpid.img has an x86 thread_info"
    # pc and sp as --inspect reads them from NT_PRSTATUS.
    read -r pc sp < <("$tool" -c "$acore" --inspect | sed -nE "s/^ +tid $qpid +pc (0x[0-9a-f]+) sp (0x[0-9a-f]+) .*/\1 \2/p")
    [[ -n $pc ]] || fail "--inspect shows no registers"
    grep -q "\"pc\": $((pc))," "$work/core-$qpid.img.json" || fail "core image pc is not the core's $pc"
    grep -q "\"sp\": $((sp))," "$work/core-$qpid.img.json" || fail "core image sp is not the core's $sp"
    grep -q "\"name\": \"$(realpath "$aexe")\"" <(crit decode -i "$work/out/files.img") ||
      fail "files.img does not name the program"
    "$tool" -c "$acore" --exe "$aexe" --explain >"$work/explain.txt" || fail "--explain without a donor failed"
    grep -q '^not in the core' "$work/explain.txt" || fail "--explain has no 'not in the core' section"
    grep -q "thread $qpid" "$work/explain.txt" || fail "--explain does not list thread $qpid"
    grep -q "^executable: $(realpath "$aexe") (from --exe), load bias 0x0: its ELF headers on disk fit the core" \
      "$work/explain.txt" || fail "--explain does not say where the executable came from"
    grep -q "^file mappings rebuilt: .*3 mappings of 1 objects were rebuilt from the executable's program headers" \
      "$work/explain.txt" || fail "--explain does not say the mappings were rebuilt"
    [[ ! -e $work/explain-out ]] || fail "--explain wrote something"
    echo "crit decoded $n images of the aarch64 set; pc $pc sp $sp"
    ;;
  exe-wrong)
    # --exe naming what is not the core's program: one line naming the file
    # and why, exit 1, nothing written; never a crash.
    acore=$data/aarch64/crash.core
    refused() { # refused NAME EXPECTED ARGS...: the CLI refuses, saying EXPECTED
      local name=$1 want=$2 rc=0
      shift 2
      "$tool" -c "$acore" -o "$work/out-$name" "$@" >"$work/std" 2>"$work/err" || rc=$?
      ((rc == 1)) || fail "$name: exit status $rc, not 1: $(cat "$work/err")"
      grep -qF -- "$want" "$work/err" || fail "$name: unexpected message: $(cat "$work/err")"
      [[ $(wc -l <"$work/err") -eq 1 ]] || fail "$name: the error is not one line: $(cat "$work/err")"
      [[ ! -e $work/out-$name ]] || fail "$name: a refused core left $work/out-$name"
    }
    # Another architecture's program.
    refused x86 "$data/bin/counter (--exe): an x86_64 program (e_machine 62), the core is aarch64's (183)" \
      --exe "$data/bin/counter"
    # Not ELF, missing, a directory, empty.
    refused text "facts.txt (--exe): " --exe "$data/aarch64/facts.txt"
    grep -q "bad ELF magic\|not an ELF\|ELF magic" "$work/err" || fail "text: $(cat "$work/err")"
    refused missing "$work/no-such-program (--exe): not found on this machine" --exe "$work/no-such-program"
    refused directory "$data/bin (--exe): not a regular file" --exe "$data/bin"
    : >"$work/empty"
    refused empty "$work/empty (--exe): " --exe "$work/empty"
    # The right program with its headers changed (entry point moved): rejected, saying which check failed.
    cp "$data/bin/crash_aarch64" "$work/crash_aarch64"
    printf '\x90' | dd of="$work/crash_aarch64" bs=1 seek=24 conv=notrunc status=none
    refused entry "$work/crash_aarch64 (--exe): its entry point 0x400590 is not AT_ENTRY 0x400580" \
      --exe "$work/crash_aarch64"
    # Without --exe, every candidate is named with its reason, and --exe suggested
    # (AT_EXECFN's program is not here, unless make-fixtures.sh left it).
    if [[ ! -e /tmp/necro-fixture/crash_aarch64 ]]; then
      mkdir "$work/nothing"
      (cd "$work/nothing" && refused none "/tmp/necro-fixture/crash_aarch64 (AT_EXECFN): not found on this machine; crash_aarch64 (NT_PRPSINFO pr_fname): not found on this machine; name the program with --exe PATH")
    fi
    echo "exe-wrong: every wrong --exe refused with its reason"
    ;;
  exe-found)
    # Without --exe: the program is found by its name in the core. pr_fname
    # (a bare name) from the working directory; AT_EXECFN
    # (/tmp/necro-fixture/crash_aarch64) in a mount namespace with a /tmp of
    # its own, which needs root (else that half is skipped).
    command -v crit >/dev/null || fail "crit (Debian package criu) is not installed"
    acore=$(realpath "$data/aarch64/crash.core")
    mkdir "$work/cwd"
    cp "$data/bin/crash_aarch64" "$work/cwd/crash_aarch64"
    if [[ ! -e /tmp/necro-fixture/crash_aarch64 ]]; then
      (cd "$work/cwd" && "$tool" -c "$acore" --explain >"$work/fname.txt") || fail "not found from pr_fname"
      grep -q "^executable: $work/cwd/crash_aarch64 (from NT_PRPSINFO pr_fname), load bias 0x0" "$work/fname.txt" ||
        fail "--explain: $(head -n 3 "$work/fname.txt")"
      grep -q "^  rejected /tmp/necro-fixture/crash_aarch64 (AT_EXECFN): not found on this machine" "$work/fname.txt" ||
        fail "--explain does not name the rejected AT_EXECFN"
    fi
    if ! unshare --mount --propagation private true 2>/dev/null; then
      echo "exe-found: pr_fname checked; AT_EXECFN skipped (no mount namespace: not root)"
      exit 0
    fi
    case $(realpath "$tool")/$acore/$(realpath "$data")/ in /tmp/*) echo "exe-found: the build or the data are under /tmp: AT_EXECFN skipped"; exit 0 ;; esac
    # shellcheck disable=SC2016
    unshare --mount --propagation private bash -c '
      set -e
      mount -t tmpfs tmpfs /tmp
      mkdir /tmp/necro-fixture
      cp "$2" /tmp/necro-fixture/crash_aarch64
      "$1" -c "$3" --explain
      "$1" -c "$3" -o /tmp/set --no-sync -q
      for img in /tmp/set/*.img; do
        case $img in */pages-*) continue ;; esac
        crit decode -i "$img" -o /dev/null
        echo "decoded $img"
      done
      crit decode -i /tmp/set/files.img
    ' execfn "$(realpath "$tool")" "$(realpath "$data/bin/crash_aarch64")" "$acore" >"$work/std" 2>"$work/err" ||
      fail "AT_EXECFN: $(cat "$work/err")"
    grep -q "^executable: /tmp/necro-fixture/crash_aarch64 (from AT_EXECFN), load bias 0x0" "$work/std" ||
      fail "--explain: $(head -n 3 "$work/std")"
    [[ $(grep -c '^decoded ' "$work/std") -ge 8 ]] || fail "crit decoded $(grep -c '^decoded ' "$work/std") images"
    grep -q '"name": "/tmp/necro-fixture/crash_aarch64"' "$work/std" || fail "files.img does not name the program"
    echo "exe-found: the program found by pr_fname and by AT_EXECFN; crit decoded the set"
    ;;
  static-x86)
    # A static x86-64 program's core without NT_FILE (too many VMAs) and
    # without a dynamic linker's list: a donor-less set, crit-decoded, its
    # mappings rebuilt from the program named by --exe.
    command -v crit >/dev/null || fail "crit (Debian package criu) is not installed"
    score=$data/x86_64/manymaps-static.core.zst
    sexe=$(realpath "$data/bin/manymaps-static")
    facts=$data/x86_64/manymaps-static.facts.txt
    pid=$(grep '^victim_pid=' "$facts" | cut -d= -f2)
    "$tool" -c "$score" --exe "$sexe" --no-capture --explain >"$work/explain.txt" || fail "--explain failed"
    grep -q "^executable: $sexe (from --exe), load bias 0x0: its ELF headers on disk fit the core" "$work/explain.txt" ||
      fail "--explain: $(head -n 3 "$work/explain.txt")"
    grep -q "^file mappings rebuilt: .*5 mappings of 1 objects were rebuilt from the executable's program headers (no dynamic linker's list: a static program)" \
      "$work/explain.txt" || fail "--explain does not say the mappings were rebuilt from the program"
    grep -q "^  $sexe at bias 0x0: 5 mappings, build-id $(grep '^build_id=' "$facts" | cut -d= -f2)" "$work/explain.txt" ||
      fail "--explain: $(grep ' at bias ' "$work/explain.txt")"
    # The victim's maps lines of the program, as the set has them.
    for k in $(seq 0 $(($(grep '^victim_map_count=' "$facts" | cut -d= -f2) - 1))); do
      read -r range perms off _ < <(grep "^victim_map_$k=" "$facts" | cut -d= -f2)
      start=$((16#${range%-*})) end=$((16#${range#*-}))
      grep -Eq "^  0x0*$(printf '%x' $start)-0x0*$(printf '%x' $end) ${perms%p} $sexe( \+0x$(printf '%x' $((16#$off))))?\$" \
        "$work/explain.txt" || fail "no VMA for the maps line $range $perms $off"
    done
    "$tool" -c "$score" --exe "$sexe" --no-capture -o "$work/out" --no-sync -q || fail "the set was not written"
    decode_all "$work/out"
    ((n >= 9)) || fail "only $n images"
    grep -q "\"name\": \"$sexe\"" <(crit decode -i "$work/out/files.img") || fail "files.img does not name the program"
    [[ -e $work/out/core-$pid.img ]] || fail "no core-$pid.img"
    # The wrong program: the dynamic manymaps is refused, naming why.
    if "$tool" -c "$score" --exe "$data/bin/manymaps" --no-capture --explain >/dev/null 2>"$work/err"; then
      fail "the dynamic manymaps was taken for the static one"
    fi
    grep -q "(--exe): " "$work/err" || fail "unexpected message: $(cat "$work/err")"
    echo "static-x86: crit decoded $n images; $(grep -c "$sexe" "$work/explain.txt") lines name the program"
    ;;
  unknown-machine)
    # Another machine (EM_ARM, 40): one line naming the value and what necro reads.
    cp "$data/aarch64/crash.core" "$work/arm.core"
    printf '\x28\x00' | dd of="$work/arm.core" bs=1 seek=18 conv=notrunc status=none
    if "$tool" -c "$work/arm.core" --inspect 2>"$work/err"; then fail "an EM_ARM core was accepted"; fi
    grep -q "arm.core: offset 0x12: ELF machine 40 (e_machine) is not an architecture necro reads; it reads x86_64 (62), aarch64 (183)" "$work/err" ||
      fail "unexpected message: $(cat "$work/err")"
    [[ $(wc -l <"$work/err") -eq 1 ]] || fail "the error is not one line"
    ;;
  *) fail "unknown case $case" ;;
esac
echo "PASS $case"
