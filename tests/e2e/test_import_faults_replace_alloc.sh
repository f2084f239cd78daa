#!/usr/bin/env bash
# test_import_faults_replace_alloc.sh - kmc import --replace, its
# allocations, OpenSSL's and libc's included, sampled, failing (import_faults.sh).
. "$(dirname "${BASH_SOURCE[0]}")/import_faults.sh"

alloc_sweep "import --replace" imported "${REPLACE[@]}"

done_testing
