#!/usr/bin/env bash
# test_promote_faults_promote.sh - kmc promote of a staged version: each file-system step failing,
# then killed at each step (promote_faults.sh).
. "$(dirname "${BASH_SOURCE[0]}")/promote_faults.sh"

step_sweep "promote" staged "${PROMOTE[@]}"

done_testing
