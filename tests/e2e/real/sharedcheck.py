#!/usr/bin/env python3
"""sharedcheck.py CORE SMAPS PID - does PID's memory-only shared memory hold the core's bytes?

SMAPS is /proc/PID/smaps of the victim, saved just before it was killed; CORE
its kernel core; PID the resurrected process (run right after the restore,
before anyone talks to it). Every shared mapping of the victim that lives only
in memory (shared anonymous memory: "/dev/zero (deleted)"; memfds; SysV
segments; files deleted since they were mapped) must be mapped in PID at the
same address and hold exactly the bytes the core has for it.
Prints one summary line; exit 0 equal, 1 different or missing, 2 unreadable,
3 the victim had no such mapping.
"""
import struct
import sys


def memory_only_shared(smaps_path):
    out = []
    with open(smaps_path) as f:
        for line in f:
            head = line.split(None, 5)
            if len(head) < 5 or head[0].endswith(":") or "-" not in head[0]:
                continue
            name = head[5].strip() if len(head) > 5 else ""
            if head[1][3] != "s":
                continue
            if name.startswith(("/dev/zero", "/SYSV", "/memfd:")) or name.endswith("(deleted)"):
                lo, hi = (int(x, 16) for x in head[0].split("-"))
                out.append((lo, hi, name))
    return out


def core_loads(core):
    with open(core, "rb") as f:
        ehdr = f.read(64)
        e_phoff, = struct.unpack_from("<Q", ehdr, 32)
        e_phentsize, e_phnum = struct.unpack_from("<HH", ehdr, 54)
        f.seek(e_phoff)
        phdrs = f.read(e_phentsize * e_phnum)
    loads = {}
    for i in range(e_phnum):
        p_type, _, p_offset, p_vaddr, _, p_filesz, p_memsz, _ = struct.unpack_from(
            "<IIQQQQQQ", phdrs, i * e_phentsize)
        if p_type == 1:
            loads[p_vaddr] = (p_offset, p_filesz, p_memsz)
    return loads


def main(core, smaps_path, pid):
    wanted = memory_only_shared(smaps_path)
    if not wanted:
        print("the victim had no memory-only shared mapping")
        return 3
    loads = core_loads(core)
    live = {}
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            rng = line.split()[0]
            lo, hi = (int(x, 16) for x in rng.split("-"))
            live[lo] = (hi, line.split(None, 5)[1])
    bad, total = [], 0
    with open(core, "rb") as cf, open(f"/proc/{pid}/mem", "rb", buffering=0) as mf:
        for lo, hi, name in wanted:
            if lo not in loads or loads[lo][1] != hi - lo:
                bad.append(f"{lo:#x} {name}: not dumped whole in the core")
                continue
            if lo not in live or live[lo][0] != hi or live[lo][1][3] != "s":
                bad.append(f"{lo:#x}-{hi:#x} {name}: not mapped shared at the same place in pid {pid}")
                continue
            cf.seek(loads[lo][0])
            want = cf.read(hi - lo)
            mf.seek(lo)
            got = mf.read(hi - lo)
            total += hi - lo
            if got != want:
                pages = sum(1 for p in range(0, hi - lo, 4096) if got[p:p + 4096] != want[p:p + 4096])
                first = next(i for i in range(min(len(got), len(want))) if got[i] != want[i]) \
                    if len(got) == len(want) else 0
                bad.append(f"{lo:#x} {name}: {pages} of {(hi - lo) // 4096} pages differ "
                           f"(first at {lo + first:#x})")
    if bad:
        print("DIFFERENT: " + "; ".join(bad))
        return 1
    print(f"{len(wanted)} memory-only shared mapping(s), {total} bytes, equal to the core: "
          + ", ".join(f"{lo:#x} {name}" for lo, _, name in wanted))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.stderr.write(__doc__)
        sys.exit(2)
    try:
        sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    except (OSError, ValueError, struct.error) as e:
        print(f"sharedcheck: {e}")
        sys.exit(2)
