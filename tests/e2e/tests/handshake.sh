#!/usr/bin/env bash
# handshake.sh - threads asleep in a condition variable (futex), a pipe read
# and nanosleep, killed; a donor is dumped; oracle; restored running, main and
# sleeper go on from their dead values, and SIGUSR1 makes the threads complete
# a handshake among themselves (pipe -> reader -> condition variable -> waiter
# -> sleeper).
#@test handshake   threads in futex, pipe read, nanosleep: they complete a handshake
# shellcheck source=../lib.sh disable=SC2034 # lib.sh reads BIN, CMD, KILLSIG, LAUNCH_*
. "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
e2e_args e2e. "$@"
victims_begin
donor_story handshake
exit 0
