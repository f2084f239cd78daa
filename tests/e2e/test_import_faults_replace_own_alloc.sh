#!/usr/bin/env bash
# test_import_faults_replace_own_alloc.sh - kmc import --replace, each
# allocation of kmc's own code failing in turn (import_faults.sh).
. "$(dirname "${BASH_SOURCE[0]}")/import_faults.sh"

own_alloc_sweep "import --replace" imported "${REPLACE[@]}"

done_testing
