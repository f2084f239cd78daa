#!/usr/bin/env bash
# test_protector_faults_add.sh - kmc protector add passphrase: each step
# failing, killed at each step, each allocation failing
# (protector_faults.sh).
. "$(dirname "${BASH_SOURCE[0]}")/protector_faults.sh"

run_faults "protector add passphrase" "$HOST_ONLY" "$SET_HOST" "$SET_TWO" 0 "${ADD[@]}"
run_kills "protector add passphrase" "$HOST_ONLY" "$SET_HOST" "$SET_TWO" "${ADD[@]}"
run_allocs "protector add passphrase" "$HOST_ONLY" "$SET_HOST" "$SET_TWO" \
	protector add passphrase --passphrase-file "$PP" --argon2-ops 1 --argon2-mem 8

done_testing
