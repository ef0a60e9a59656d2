#!/usr/bin/env bash
# pool.sh - threads counting on their own, a donor with another thread count.
#   pool         8 worker threads each counting on its own (TLS counters),
#                killed; the donor runs only 3, so donor thread images serve as
#                templates for the others. Oracle on every thread; restored
#                running, every worker goes on from its own dead value + 1.
#   pool-fewer   the same with 4 victim workers and a donor of 12: the donor's
#                surplus threads are dropped.
#@test pool         8 counting threads, donor of 3: every thread goes on from its own value
#@test pool-fewer   4 counting threads, donor of 12: surplus donor threads dropped
# shellcheck source=../lib.sh disable=SC2034 # lib.sh reads BIN, CMD, KILLSIG, LAUNCH_*
. "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
e2e_args e2e. "$@"
victims_begin
donor_story "$MODE"
exit 0
