#!/usr/bin/env bash
# test_promote_faults_previous.sh - kmc promote --previous after a promote: each file-system step failing,
# then killed at each step (promote_faults.sh).
. "$(dirname "${BASH_SOURCE[0]}")/promote_faults.sh"

step_sweep "promote --previous" promoted "${PREVIOUS[@]}"

done_testing
