#!/usr/bin/env bash
# segv.sh - a crash, resurrected with a donor.
#   segv         the segv victim dereferences NULL in its main thread; a donor
#                (long delay) is dumped before it crashes; restored stopped,
#                oracle; gdb -p shows the core's threads and full backtraces,
#                and `call necro_probe(14)` returns 43 in it (the core refuses
#                the call; gdbcheck.sh); then SIGCONT: it must die of SIGSEGV
#                again, at the same ip, in the same thread.
#   segv-thread  the same, the NULL store in a worker thread while the main
#                thread waits in pthread_join (2 threads; the core's first thread
#                is not the leader; the leader sleeps in a futex: -ERESTARTSYS).
#@test segv          NULL store in the main thread: oracle, then it re-crashes at the same ip
#@test segv-thread   same, in a worker thread while main waits in pthread_join
# shellcheck source=../lib.sh disable=SC2034 # lib.sh reads BIN, CMD, KILLSIG, LAUNCH_*
. "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
e2e_args e2e. "$@"
victims_begin
donor_story "$MODE"
exit 0
