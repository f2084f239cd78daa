#!/usr/bin/env bash
# test_protector_faults_remove.sh - kmc protector remove: each step
# failing, killed at each step, each allocation failing
# (protector_faults.sh).
. "$(dirname "${BASH_SOURCE[0]}")/protector_faults.sh"

run_faults "protector remove 2" "$TWO" "$SET_TWO" "$SET_HOST" 0 "${REMOVE[@]}"
run_kills "protector remove 2" "$TWO" "$SET_TWO" "$SET_HOST" "${REMOVE[@]}"
run_allocs "protector remove 2" "$TWO" "$SET_TWO" "$SET_HOST" protector remove 2

done_testing
