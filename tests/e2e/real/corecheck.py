#!/usr/bin/env python3
"""corecheck.py CORE SMAPS - is a kernel core complete?

SMAPS is /proc/PID/smaps of the victim, saved just before it was killed.
Complete means: the file holds every byte its PT_LOAD headers promise (not
truncated by RLIMIT_CORE or a full disk), and every PT_LOAD was dumped whole
(p_filesz == p_memsz) unless nothing was lost by leaving it out: the kernel's
own pages ([vvar], [vvar_vclock], [vsyscall]) or a mapping that held no page
at all (Rss and Swap 0: never touched, e.g. a thread stack's PROT_NONE guard;
the kernel skips private anonymous memory without pages). A mapping with
pages that was left out (coredump_filter without the bit of its kind,
MADV_DONTDUMP: "dd" in VmFlags) makes the core incomplete.
Prints one summary line; exit 0 complete, 1 incomplete, 2 unreadable.
"""
import os
import struct
import sys

KERNEL_ONLY = {"[vvar]", "[vvar_vclock]", "[vsyscall]"}


def read_smaps(path):
    """[(lo, hi, name, rss_kb + swap_kb, dontdump)] of an smaps file."""
    out = []
    with open(path) as f:
        for line in f:
            head = line.split(None, 5)
            if head and "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
                lo, hi = (int(x, 16) for x in head[0].split("-"))
                out.append([lo, hi, head[5].strip() if len(head) > 5 else "", 0, False])
            elif head and head[0] in ("Rss:", "Swap:") and out:
                out[-1][3] += int(head[1])
            elif head and head[0] == "VmFlags:" and out:
                out[-1][4] = "dd" in line.split()[1:]
    return out


def find(maps, vaddr):
    for m in maps:
        if m[0] <= vaddr < m[1]:
            return m
    return None


def main(core, smaps_path):
    size = os.path.getsize(core)
    with open(core, "rb") as f:
        ehdr = f.read(64)
        if len(ehdr) < 64 or ehdr[:4] != b"\x7fELF" or ehdr[4] != 2:
            print(f"{core}: not an ELF64 file")
            return 2
        e_type, = struct.unpack_from("<H", ehdr, 16)
        e_phoff, = struct.unpack_from("<Q", ehdr, 32)
        e_phentsize, e_phnum = struct.unpack_from("<HH", ehdr, 54)
        if e_type != 4:
            print(f"{core}: ELF type {e_type}, not ET_CORE")
            return 2
        f.seek(e_phoff)
        phdrs = f.read(e_phentsize * e_phnum)
    maps = read_smaps(smaps_path)
    loads = dumped = 0
    end = 0
    partial, kernel, empty = [], 0, 0
    for i in range(e_phnum):
        p_type, _, p_offset, p_vaddr, _, p_filesz, p_memsz, _ = struct.unpack_from(
            "<IIQQQQQQ", phdrs, i * e_phentsize)
        if p_type != 1:
            continue
        loads += 1
        dumped += p_filesz
        end = max(end, p_offset + p_filesz)
        if p_filesz < p_memsz:
            m = find(maps, p_vaddr)
            name = (m[2] or "[anon]") if m else "?"
            if name in KERNEL_ONLY:
                kernel += 1
            elif m and m[3] == 0:
                empty += 1
            else:
                why = "" if not m else f", {m[3]} kB resident/swapped" + (", MADV_DONTDUMP" if m[4] else "")
                partial.append(f"{p_vaddr:#x} {name} ({p_filesz} of {p_memsz} bytes{why})")
    ok = end <= size and not partial
    print(f"{'complete' if ok else 'INCOMPLETE'}: {loads} PT_LOADs, {dumped} bytes dumped, "
          f"file {size} bytes (segments end at {end}); left out, nothing lost: {kernel} kernel-only, "
          f"{empty} that held no page"
          + ("" if end <= size else "; TRUNCATED")
          + ("" if not partial else "; not dumped whole: " + ", ".join(partial)))
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.stderr.write(__doc__)
        sys.exit(2)
    try:
        sys.exit(main(sys.argv[1], sys.argv[2]))
    except (OSError, ValueError, struct.error) as e:
        print(f"corecheck: {e}")
        sys.exit(2)
