#!/usr/bin/env bash
# test_token_rotation_faults.sh - a token key's rotation (import --replace
# and --stage --on-token, promote, rm --old, rm) broken at its file-system
# steps, SoftHSM2's own counting too, failing and then killed at each
# sampled step (token_rotation_faults.sh says what is checked).
. "$(dirname "${BASH_SOURCE[0]}")/token_rotation_faults.sh"

sweeps

done_testing
