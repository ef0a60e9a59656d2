#!/usr/bin/env python3
"""Copy an x86-64 core, making it claim CPU features: the CPU check's test input.

    claim_cpu.py CORE OUT --xfeature BIT [--hwcap2 BIT]

Sets XSAVE component BIT in the XCR0 the kernel wrote into every
NT_X86_XSTATE note (the first u64 of the software-reserved bytes, offset
464) and in its XSTATE_BV (offset 512: the component was in use at death),
and HWCAP2 bit BIT in NT_AUXV. Everything else is copied as it is; no
committed core is changed (the tests write OUT into their scratch directory).
"""
import argparse
import struct

NT_AUXV = 6
NT_X86_XSTATE = 0x202
AT_HWCAP2 = 26


def notes(core):
    """(type, desc offset, desc size) of every note of every PT_NOTE."""
    if core[:4] != b"\x7fELF" or core[4] != 2 or core[5] != 1:
        raise SystemExit("not a little-endian ELF64 core")
    phoff, = struct.unpack_from("<Q", core, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", core, 0x36)
    for i in range(phnum):
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", core, phoff + i * phentsize)
        if p_type != 4:
            continue
        at, end = p_offset, p_offset + p_filesz
        while at + 12 <= end:
            namesz, descsz, n_type = struct.unpack_from("<III", core, at)
            desc = at + 12 + ((namesz + 3) & ~3)
            yield n_type, desc, descsz
            at = desc + ((descsz + 3) & ~3)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("core")
    ap.add_argument("out")
    ap.add_argument("--xfeature", type=int, required=True)
    ap.add_argument("--hwcap2", type=int)
    a = ap.parse_args()
    core = bytearray(open(a.core, "rb").read())
    xstates = auxv = 0
    for n_type, desc, size in notes(core):
        if n_type == NT_X86_XSTATE and size >= 576:
            for off in (464, 512):
                v, = struct.unpack_from("<Q", core, desc + off)
                struct.pack_into("<Q", core, desc + off, v | (1 << a.xfeature))
            xstates += 1
        elif n_type == NT_AUXV and a.hwcap2 is not None:
            for at in range(desc, desc + size - 15, 16):
                key, value = struct.unpack_from("<QQ", core, at)
                if key == AT_HWCAP2:
                    struct.pack_into("<Q", core, at + 8, value | (1 << a.hwcap2))
                    auxv += 1
    if not xstates or (a.hwcap2 is not None and not auxv):
        raise SystemExit(f"{a.core}: {xstates} NT_X86_XSTATE notes, {auxv} AT_HWCAP2 entries changed")
    open(a.out, "wb").write(core)


if __name__ == "__main__":
    main()
