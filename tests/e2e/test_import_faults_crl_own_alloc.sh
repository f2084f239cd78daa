#!/usr/bin/env bash
# test_import_faults_crl_own_alloc.sh - kmc crl update, each allocation
# of kmc's own code failing in turn (import_faults.sh).
. "$(dirname "${BASH_SOURCE[0]}")/import_faults.sh"

own_alloc_sweep "crl update" imported "${CRL[@]}"

done_testing
