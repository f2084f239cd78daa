#!/usr/bin/env bash
# test_import_faults_import.sh - kmc import into a fresh vault,
# each file-system step failing, then killed at each step (import_faults.sh).
. "$(dirname "${BASH_SOURCE[0]}")/import_faults.sh"

step_sweep "import into a fresh vault" fresh "${IMPORT[@]}"

done_testing
