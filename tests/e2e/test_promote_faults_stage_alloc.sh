#!/usr/bin/env bash
# test_promote_faults_stage_alloc.sh - kmc import --stage over an imported
# bundle: each allocation of kmc's own code failing in turn, sampled
# (promote_faults.sh). OpenSSL's and libc's inside it are the import's
# (test_import_faults_*_alloc.sh).
. "$(dirname "${BASH_SOURCE[0]}")/promote_faults.sh"

own_alloc_sweep "import --stage" imported "${STAGE[@]}"

done_testing
