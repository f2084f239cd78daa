#!/usr/bin/env bash
# test_token_rotation_faults_alloc.sh - a token key's rotation (import
# --replace and --stage --on-token, promote, rm --old, rm) with an
# allocation of kmc's own code failing at each sampled step
# (token_rotation_faults.sh says what is checked). Among them: those after
# the commit, where what is left on the token must still be said.
FAULT_OPS=alloc
FAULT_NEAR=3
MODES=fail
SAMPLES=10
. "$(dirname "${BASH_SOURCE[0]}")/token_rotation_faults.sh"
FAULT_MSG='out of memory|Cannot allocate memory'

sweeps

done_testing
