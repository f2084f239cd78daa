#!/usr/bin/env bash
# test_import_faults_crl.sh - kmc crl update, each file-system
# step failing, then killed at each step (import_faults.sh).
. "$(dirname "${BASH_SOURCE[0]}")/import_faults.sh"

step_sweep "crl update" imported "${CRL[@]}"

done_testing
