#!/usr/bin/env bash
# test_promote_faults_promote.sh - kmc promote of a staged version, then
# of a bundle staged before it was ever live (the keys folder made, the
# config file's entries added): each file-system step failing, then
# killed at each step (promote_faults.sh).
. "$(dirname "${BASH_SOURCE[0]}")/promote_faults.sh"

step_sweep "promote" staged "${PROMOTE[@]}"
step_sweep "promote of a bundle not live yet" staged_new "${PROMOTE[@]}"

done_testing
