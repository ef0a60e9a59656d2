#!/usr/bin/env bash
# heapsig.sh - the heapsig victim (brk heap, 8 MiB mmap, file mapping with a
# page past EOF, vDSO, SIGUSR1 handler, blocked+pending SIGUSR2) is killed; a
# donor is dumped; oracle on the restore -s; restored running: it must tick on
# from the dead value + 1 with its memory intact, run its SIGUSR1 handler and
# survive it.
#@test heapsig   heap/mmap/file mapping/vDSO/SIGUSR1 handler: oracle, then runs on
# shellcheck source=../lib.sh disable=SC2034 # lib.sh reads BIN, CMD, KILLSIG, LAUNCH_*
. "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
e2e_args e2e. "$@"
victims_begin
donor_story heapsig
exit 0
