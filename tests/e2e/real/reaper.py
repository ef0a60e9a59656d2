#!/usr/bin/env python3
"""reaper.py STATUS CMD...: runs CMD as a child subreaper
(PR_SET_CHILD_SUBREAPER), so that what CMD leaves behind is adopted here
rather than by init: `criu restore -d` exits once the restored process runs,
and that process becomes this one's child, whose exit status only a parent
can read. Writes "criu RC" (CMD's exit status) to STATUS, then, for each
adopted child as it ends, "PID exit N" or "PID signal N"; exits when no child
is left. lib.sh's restore() uses it when RESTORE_REAPER names STATUS."""
import ctypes
import os
import subprocess
import sys

PR_SET_CHILD_SUBREAPER = 36


def put(path, line):
    with open(path, "a") as f:
        f.write(line + "\n")


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: reaper.py STATUS CMD...")
    status, cmd = sys.argv[1], sys.argv[2:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit("prctl(PR_SET_CHILD_SUBREAPER): " + os.strerror(ctypes.get_errno()))
    rc = subprocess.call(cmd)
    put(status, "criu %d" % rc)
    while True:
        try:
            pid, st = os.wait()
        except ChildProcessError:
            return
        if os.WIFSIGNALED(st):
            put(status, "%d signal %d" % (pid, os.WTERMSIG(st)))
        else:
            put(status, "%d exit %d" % (pid, os.WEXITSTATUS(st)))


main()
