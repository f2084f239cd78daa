#!/usr/bin/env bash
# test_import_faults_replace.sh - kmc import --replace over an
# imported bundle, each file-system step failing, then killed at each step (import_faults.sh).
. "$(dirname "${BASH_SOURCE[0]}")/import_faults.sh"

step_sweep "import --replace" imported "${REPLACE[@]}"

done_testing
