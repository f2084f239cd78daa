#!/usr/bin/env bash
# test_import_faults_import_own_alloc.sh - kmc import into a fresh
# vault, each allocation of kmc's own code failing in turn (import_faults.sh).
. "$(dirname "${BASH_SOURCE[0]}")/import_faults.sh"

own_alloc_sweep "import into a fresh vault" fresh "${IMPORT[@]}"

done_testing
