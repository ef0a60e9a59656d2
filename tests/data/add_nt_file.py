#!/usr/bin/env python3
"""add_nt_file.py CORE BINARY PATH OUT: CORE again with the NT_FILE note the
Linux kernel would have written for a static BINARY run from PATH.

qemu-user writes aarch64 cores with NT_PRSTATUS, NT_PRPSINFO and NT_AUXV only
(tests/data/aarch64/facts.txt); the kernel also lists the file-backed VMAs in
NT_FILE. For a static executable those are the PT_LOADs of BINARY, each from
its page-aligned vaddr to the page-aligned end of its file bytes, at the
page-aligned file offset: a core PT_LOAD inside such a range is file-backed
(its NT_FILE entry starts at the segment), the rest is anonymous. The notes
are copied to the end of the file with NT_FILE appended, and the PT_NOTE
program header is pointed there; every other byte stays as qemu wrote it.
"""
import struct
import sys

PAGE = 4096
NT_FILE = 0x46494C45
PT_LOAD, PT_NOTE = 1, 4


def phdrs(b):
    phoff, = struct.unpack_from("<Q", b, 32)
    phnum, = struct.unpack_from("<H", b, 56)
    for i in range(phnum):
        at = phoff + i * 56
        t, flags, off, vaddr, _paddr, filesz, memsz = struct.unpack_from("<IIQQQQQ", b, at)
        yield at, t, off, vaddr, filesz, memsz


def file_ranges(binary):
    """(start, end, file offset) of each PT_LOAD's file-backed pages."""
    for _at, t, off, vaddr, filesz, _memsz in phdrs(binary):
        if t != PT_LOAD or filesz == 0:
            continue
        start = vaddr & ~(PAGE - 1)
        end = (vaddr + filesz + PAGE - 1) & ~(PAGE - 1)
        yield start, end, off & ~(PAGE - 1)


def nt_file_entries(core, binary):
    entries = []
    for _at, t, _off, vaddr, _filesz, memsz in phdrs(core):
        if t != PT_LOAD:
            continue
        for start, end, off in file_ranges(binary):
            if start <= vaddr < end:
                entries.append((vaddr, min(vaddr + memsz, end), (off + vaddr - start) // PAGE))
    return entries


def note(owner, ntype, desc):
    pad = lambda x: x + b"\0" * (-len(x) % 4)
    name = owner.encode() + b"\0"
    return struct.pack("<III", len(name), len(desc), ntype) + pad(name) + pad(desc)


def main():
    core_path, binary_path, exe, out = sys.argv[1:5]
    core = bytearray(open(core_path, "rb").read())
    binary = open(binary_path, "rb").read()
    entries = nt_file_entries(core, binary)
    if not entries:
        sys.exit("add_nt_file.py: no PT_LOAD of the core lies in the binary's file-backed pages")
    desc = struct.pack("<QQ", len(entries), PAGE)
    desc += b"".join(struct.pack("<QQQ", *e) for e in entries)
    desc += b"".join(exe.encode() + b"\0" for _ in entries)
    notes = [(at, off, filesz) for at, t, off, _v, filesz, _m in phdrs(core) if t == PT_NOTE]
    if len(notes) != 1:
        sys.exit("add_nt_file.py: expected one PT_NOTE")
    at, off, filesz = notes[0]
    core += b"\0" * (-len(core) % 4)
    moved = len(core)
    core += core[off:off + filesz] + note("CORE", NT_FILE, desc)
    struct.pack_into("<Q", core, at + 8, moved)
    struct.pack_into("<Q", core, at + 32, len(core) - moved)
    open(out, "wb").write(core)


if __name__ == "__main__":
    main()
