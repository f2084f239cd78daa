#!/usr/bin/env bash
# test_promote_faults_stage.sh - kmc import --stage over an imported bundle: each file-system step failing,
# then killed at each step (promote_faults.sh).
. "$(dirname "${BASH_SOURCE[0]}")/promote_faults.sh"

STEP_STRIDE=1	# its 6 steps, each
step_sweep "import --stage" imported "${STAGE[@]}"

done_testing
