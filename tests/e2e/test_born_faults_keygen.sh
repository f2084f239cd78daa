#!/usr/bin/env bash
# test_born_faults_keygen.sh - kmc key gen: each file-system step failing,
# then killed at each step, then each own allocation failing, sampled
# (born_faults.sh).
. "$(dirname "${BASH_SOURCE[0]}")/born_faults.sh"

STEP_STRIDE=1
OWN_ALLOC_STRIDE=4
step_sweep "key gen" fresh "${KEYGEN[@]}"
own_alloc_sweep "key gen" fresh "${KEYGEN[@]}"

done_testing
