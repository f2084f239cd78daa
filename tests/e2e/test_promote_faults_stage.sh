#!/usr/bin/env bash
# test_promote_faults_stage.sh - kmc import --stage over an imported
# bundle: each file-system step failing, then killed at each step; then
# allocations of kmc's own code failing, sampled (promote_faults.sh).
# OpenSSL's and libc's inside it are the import's
# (test_import_faults_*_alloc.sh).
. "$(dirname "${BASH_SOURCE[0]}")/promote_faults.sh"

STEP_STRIDE=1	# its 6 steps, each
step_sweep "import --stage" imported "${STAGE[@]}"
OWN_ALLOC_STRIDE=30
own_alloc_sweep "import --stage" imported "${STAGE[@]}"

done_testing
