#!/usr/bin/env bash
# test_born_faults_certset.sh - kmc cert set with a CRL and a config
# file: each file-system step failing, then killed at each step
# (born_faults.sh).
. "$(dirname "${BASH_SOURCE[0]}")/born_faults.sh"

STEP_STRIDE=3
step_sweep "cert set" born "${CERTSET[@]}"

done_testing
